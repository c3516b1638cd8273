"""Build step of a Python function, run from the build context root: on the host by the
embedded platform, and by `RUN` in the image build. Makes an isolated virtual environment
(`venv/`), installs the wrapper's pinned dependencies and the function's own, checks every
module's syntax and that the handler exists. A failure ends with one `build failed: <cause>`
line: the platform reports that line.

`--wrapper` stops after the wrapper's dependencies: the Dockerfile caches that layer.
"""

import ast
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


def make_environment():
    """The venv gets no pip of its own: the interpreter's pip installs into it, and the image stays smaller."""
    if not os.path.exists(VENV_PYTHON):
        run([sys.executable, "-m", "venv", "--without-pip", VENV_DIR], "could not create the virtual environment")
    run([*PIP, "--require-hashes", "--no-deps", "--only-binary=:all:", "-r", WRAPPER_REQUIREMENTS], "could not install the wrapper's dependencies")


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


def install_dependencies():
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
if "--wrapper" not in sys.argv[1:]:
    check_syntax()
    install_dependencies()
    check_handler()
    compile_bytecode()
