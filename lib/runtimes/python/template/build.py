"""Build step of a Python function, run from the build context root: on the host by the
embedded platform, and by `RUN` in the image build. Makes an isolated virtual environment
(`venv/`), installs the wrapper's pinned dependencies and the function's own, checks every
module's syntax and that the handler exists. A failure ends with one `build failed: <cause>`
line: the platform reports that line.

`--wrapper` stops after the wrapper's dependencies, and `--dependencies` installs only the
function's own, with only its requirements.txt (or pyproject.toml) there: the Dockerfile runs
each in a layer of its own, before the function's code is copied, and the full step then finds
them installed from the same files.
"""

import ast
import hashlib
import json
import os
import subprocess
import sys
import tomllib

ROOT = os.getcwd()
FUNCTION_DIR = os.path.join(ROOT, "function")
VENV_DIR = os.path.join(ROOT, "venv")
VENV_PYTHON = os.path.join(VENV_DIR, "bin", "python")
WRAPPER_REQUIREMENTS = os.path.join("runtime", "requirements.txt")
PIP = [sys.executable, "-m", "pip", "--python", VENV_PYTHON, "install", "--no-input", "--disable-pip-version-check", "--progress-bar", "off"]
SKIPPED_DIRS = {"venv", ".venv", "__pycache__", "node_modules", ".knative-lambda"}
# Left by the earlier steps: which files each installation was made from.
INSTALLED_FILE = os.path.join("runtime", "installed.json")
# In the order lib/runtimes/python/index.ts picks the one the Dockerfile copies before the dependencies step.
MANIFESTS = ("requirements.txt", "pyproject.toml")


def fail(message):
    print(f"build failed: {message}", flush=True)
    sys.exit(1)


def run(command, what):
    """Runs a command with its output in the build log; on failure names its last error line."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last_error = None
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.startswith("ERROR:"):
            last_error = line.strip()
    if process.wait() != 0:
        fail(f"{what}: {last_error or f'exit status {process.returncode}'}")


def digest(paths):
    """Identifies the files an installation was made from (a missing one counts as empty)."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.encode() + b"\0")
        if os.path.exists(path):
            with open(path, "rb") as file:
                sha.update(file.read())
        sha.update(b"\0")
    return sha.hexdigest()


def installed():
    if not os.path.exists(INSTALLED_FILE):
        return {}
    with open(INSTALLED_FILE) as file:
        return json.load(file)


def mark_installed(kind, paths):
    marks = installed()
    marks[kind] = digest(paths)
    with open(INSTALLED_FILE, "w") as file:
        json.dump(marks, file, indent=2)


def installed_from(kind, paths):
    return installed().get(kind) == digest(paths)


def make_environment():
    """The venv gets no pip of its own: the interpreter's pip installs into it, and the image stays smaller."""
    if not os.path.exists(VENV_PYTHON):
        run([sys.executable, "-m", "venv", "--without-pip", VENV_DIR], "could not create the virtual environment")
    if installed_from("wrapper", [WRAPPER_REQUIREMENTS]):
        return
    run([*PIP, "--require-hashes", "--no-deps", "--only-binary=:all:", "-r", WRAPPER_REQUIREMENTS], "could not install the wrapper's dependencies")
    mark_installed("wrapper", [WRAPPER_REQUIREMENTS])


def project_dependencies():
    """`[project].dependencies` of pyproject.toml: the function's dependencies, without building it as a package."""
    try:
        with open(os.path.join(FUNCTION_DIR, "pyproject.toml"), "rb") as file:
            project = tomllib.load(file).get("project", {})
    except tomllib.TOMLDecodeError as error:
        fail(f"pyproject.toml is not valid TOML: {error}")
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        fail("pyproject.toml [project].dependencies must be a list of requirement strings")
    return dependencies


def function_manifests():
    """The file the function's dependencies come from: the first of MANIFESTS there is."""
    paths = [os.path.join(FUNCTION_DIR, name) for name in MANIFESTS]
    return [path for path in paths if os.path.exists(path)][:1]


def install_dependencies():
    if installed_from("function", function_manifests()):
        print("dependencies installed by the dependencies step", flush=True)
        return
    install_function_dependencies()
    mark_installed("function", function_manifests())


def install_function_dependencies():
    if os.path.exists(os.path.join(FUNCTION_DIR, "requirements.txt")):
        print("installing requirements.txt", flush=True)
        run([*PIP, "-r", os.path.join(FUNCTION_DIR, "requirements.txt")], "pip could not install requirements.txt")
    elif os.path.exists(os.path.join(FUNCTION_DIR, "pyproject.toml")) and (dependencies := project_dependencies()):
        print(f"installing {len(dependencies)} dependencies of pyproject.toml", flush=True)
        run([*PIP, *dependencies], "pip could not install the dependencies of pyproject.toml")
    else:
        print("no dependencies to install", flush=True)


def python_files():
    for directory, subdirectories, files in os.walk(FUNCTION_DIR):
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(directory, name)


def check_syntax():
    for path in python_files():
        relative = os.path.relpath(path, FUNCTION_DIR)
        with open(path, "rb") as file:
            source = file.read()
        try:
            ast.parse(source, filename=relative)
        except SyntaxError as error:
            fail(f"syntax error at {relative}:{error.lineno}:{error.offset or 0}: {error.msg}")


def compile_bytecode():
    """Compiled once here, since the function's files are read-only to it in the image."""
    run([VENV_PYTHON, "-m", "compileall", "-q", FUNCTION_DIR], "could not compile the function")


def check_handler():
    """The wrapper itself resolves the handler, in the environment it will serve from."""
    result = subprocess.run([VENV_PYTHON, os.path.join("runtime", "serve.py"), "--check"])
    if result.returncode != 0:
        sys.exit(result.returncode)


make_environment()
if "--dependencies" in sys.argv[1:]:
    install_dependencies()
elif "--wrapper" not in sys.argv[1:]:
    check_syntax()
    install_dependencies()
    check_handler()
    compile_bytecode()
