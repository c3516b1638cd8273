"""Serves a built Python function with gunicorn: plain HTTP and CloudEvents (binary and
structured, parsed by the CloudEvents SDK) on $PORT, /health/liveness and /health/readiness,
JSON logs, and a graceful stop on SIGTERM (requests in flight finish first).

Two styles of function:
- AWS Lambda style, `handler(event, context)`: `event` is an API Gateway HTTP API (2.0)
  event for a plain request, or the CloudEvent as a dict (attributes and `data`).
- plain, `handle(event)`: `event` is the CloudEvent's data, or the request's JSON body
  (its query parameters when it has no body).
Either may return an API Gateway proxy response (`statusCode`, `headers`, `body`), anything
JSON can encode (answered as JSON), or None (204). Coroutine functions are awaited.

`--check` resolves the handler for the build step and records it in runtime/build.json.
"""

import asyncio
import base64
import importlib
import inspect
import json
import logging
import logging.config
import os
import sys
import time
import uuid
from datetime import datetime
from http import HTTPStatus
from urllib.parse import parse_qsl

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from gunicorn.app.base import BaseApplication
from pythonjsonlogger.json import JsonFormatter

ROOT = os.getcwd()
FUNCTION_DIR = os.path.join(ROOT, "function")
MANIFEST = os.path.join(ROOT, "runtime", "function.json")
BUILD_RECORD = os.path.join(ROOT, "runtime", "build.json")
ENTRY_CANDIDATES = ("main.py", "index.py", "lambda_function.py", "handler.py")
HANDLER_CANDIDATES = ("handle", "handler", "lambda_handler")
HEALTH_PATHS = ("/health/liveness", "/health/readiness")
JSON_TYPE = "application/json"
THREADS = 8
GRACEFUL_TIMEOUT_SECONDS = 25
FUNCTION_NAME = os.environ.get("K_SERVICE", "function")
TIMEOUT_SECONDS = float(os.environ.get("FUNCTION_TIMEOUT_SECONDS", "300"))

LOG_FORMAT = {
    "()": JsonFormatter,
    "fmt": "{levelname}{name}{message}",
    "style": "{",
    "timestamp": "time",
    "rename_fields": {"levelname": "level", "name": "logger"},
    "static_fields": {"function": FUNCTION_NAME},
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": LOG_FORMAT},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "root": {"level": os.environ.get("FUNC_LOG_LEVEL", "WARNING").upper(), "handlers": ["stdout"]},
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False}},
}
log = logging.getLogger("function")


def fail(message):
    print(f"build failed: {message}", flush=True)
    sys.exit(1)


def entry_module(handler_file):
    if handler_file:
        relative = handler_file + ".py"
        if not os.path.exists(os.path.join(FUNCTION_DIR, relative)):
            fail(f'handler module "{handler_file}" not found: there is no {relative}')
        return relative
    found = next((c for c in ENTRY_CANDIDATES if os.path.exists(os.path.join(FUNCTION_DIR, c))), None)
    if not found:
        fail(f"no handler module: add one of {', '.join(ENTRY_CANDIDATES)} or set handler (module.function)")
    return found


def import_entry(relative):
    name = relative[: -len(".py")].replace("/", ".")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        top = (error.name or "").split(".")[0]
        if top and not os.path.exists(os.path.join(FUNCTION_DIR, top)) and not os.path.exists(os.path.join(FUNCTION_DIR, top + ".py")):
            fail(f'{relative} imports "{error.name}", which is not installed: add it to requirements.txt (or the dependencies of pyproject.toml)')
        raise


def style_of(function, label):
    """Two positional parameters make a Lambda handler, one a plain one."""
    positional = [
        p for p in inspect.signature(function).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) == 2:
        return "lambda"
    if len(positional) == 1:
        return "plain"
    fail(f"{label} takes {len(positional)} parameters; a handler is handler(event, context) or handle(event)")


def resolve_handler():
    with open(MANIFEST, encoding="utf-8") as file:
        manifest = json.load(file)
    relative = entry_module(manifest.get("handlerFile"))
    try:
        module = import_entry(relative)
    except Exception as error:
        logging.exception("importing %s failed", relative)
        fail(f"importing {relative} raised {type(error).__name__}: {error}")
    wanted = [manifest["exportName"]] if manifest.get("exportName") else list(HANDLER_CANDIDATES)
    name = next((n for n in wanted if callable(getattr(module, n, None))), None)
    if name is None:
        functions = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__ and not n.startswith("_"))
        wanted_text = f'"{wanted[0]}"' if len(wanted) == 1 else " or ".join(f'"{n}"' for n in wanted)
        fail(f"{relative} has no function {wanted_text}; it defines: {', '.join(functions) or '(nothing)'}")
    return {"module": module.__name__, "function": name, "style": style_of(getattr(module, name), f"{relative} {name}"), "entry": relative}


class BadRequest(Exception):
    pass


class LambdaContext:
    """The attributes of the AWS Lambda context object that mean something here."""

    def __init__(self, request_id):
        self.aws_request_id = request_id
        self.function_name = FUNCTION_NAME
        self.function_version = os.environ.get("K_REVISION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("FUNCTION_MEMORY_MB", "")
        self._deadline = time.monotonic() + TIMEOUT_SECONDS

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def request_headers(environ):
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def is_cloudevent(headers):
    return "ce-specversion" in headers or headers.get("content-type", "").startswith("application/cloudevents")


def event_dict(cloudevent):
    attributes = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in cloudevent.get_attributes().items()}
    data = cloudevent.get_data()
    if isinstance(data, bytes):
        return {**attributes, "data_base64": base64.b64encode(data).decode()}
    return {**attributes, "data": data}


def http_event(environ, headers, body):
    binary = False
    text = None
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, binary = base64.b64encode(body).decode(), True
    query = environ.get("QUERY_STRING", "")
    path = environ.get("PATH_INFO", "/")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": dict(parse_qsl(query)) or None,
        "requestContext": {
            "http": {"method": environ["REQUEST_METHOD"], "path": path, "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1")},
            "requestId": str(uuid.uuid4()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": text,
        "isBase64Encoded": binary,
    }


def plain_event(environ, headers, body):
    if not body:
        return dict(parse_qsl(environ.get("QUERY_STRING", "")))
    if headers.get("content-type", JSON_TYPE).startswith(JSON_TYPE):
        try:
            return json.loads(body)
        except ValueError as error:
            raise BadRequest(f"the body is not valid JSON: {error}") from error
    return body.decode("utf-8", errors="replace")


def to_response(result):
    """An API Gateway proxy response is answered as it says; anything else as JSON."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body", "")
        if result.get("isBase64Encoded") and isinstance(body, str):
            body = base64.b64decode(body)
        elif not isinstance(body, (str, bytes)):
            body = json.dumps(body)
            headers.setdefault("content-type", JSON_TYPE)
        return int(result["statusCode"]), headers, body.encode() if isinstance(body, str) else body
    if result is None:
        return 204, {}, b""
    return 200, {"content-type": JSON_TYPE}, json.dumps(result).encode()


def invoke(function, *args):
    result = function(*args)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def make_application(function, style):
    def application(environ, start_response):
        def answer(status, headers, body):
            phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
            start_response(f"{status} {phrase}", [*((k, v) for k, v in headers.items() if k != "content-length"), ("content-length", str(len(body)))])
            return [body]

        path = environ.get("PATH_INFO", "/")
        if path in HEALTH_PATHS:
            return answer(200, {"content-type": "text/plain"}, b"OK")
        started = time.monotonic()
        headers = request_headers(environ)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request_id, kind = str(uuid.uuid4()), "http"
        try:
            if is_cloudevent(headers):
                try:
                    cloudevent = from_http_event(HTTPMessage(headers=headers, body=body))
                except Exception as error:
                    raise BadRequest(f"invalid CloudEvent: {error}") from error
                request_id, kind = cloudevent.get_id(), f"cloudevent {cloudevent.get_type()}"
                event = event_dict(cloudevent) if style == "lambda" else cloudevent.get_data()
            else:
                event = http_event(environ, headers, body) if style == "lambda" else plain_event(environ, headers, body)
            args = (event, LambdaContext(request_id)) if style == "lambda" else (event,)
            status, response_headers, response_body = to_response(invoke(function, *args))
        except BadRequest as error:
            status, response_headers, response_body = 400, {"content-type": JSON_TYPE}, json.dumps({"error": str(error)}).encode()
        except Exception as error:
            log.exception("the function raised", extra={"request_id": request_id})
            status, response_headers, response_body = 500, {"content-type": JSON_TYPE}, json.dumps({"error": f"{type(error).__name__}: {error}"}).encode()
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        log.info("invoked", extra={"request_id": request_id, "via": kind, "method": environ["REQUEST_METHOD"], "path": path, "status": status, "duration_ms": duration_ms})
        return answer(status, response_headers, response_body)

    return application


class Server(BaseApplication):
    """gunicorn, configured here rather than by a file: one process, threads for concurrency."""

    def __init__(self, application):
        self.application = application
        super().__init__()

    def load_config(self):
        settings = {
            "bind": f"0.0.0.0:{os.environ.get('PORT', '8080')}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": THREADS,
            "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
            "logconfig_dict": LOGGING,
            "control_socket_disable": True,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def main():
    # In place of this script's folder: the function imports its own modules, never the wrapper's files.
    sys.path[0] = FUNCTION_DIR
    if "--check" in sys.argv[1:]:
        record = resolve_handler()
        with open(BUILD_RECORD, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=2)
        print(f'handler: {record["entry"]} function "{record["function"]}" ({"AWS Lambda" if record["style"] == "lambda" else "plain"} style)', flush=True)
        return
    logging.config.dictConfig(LOGGING)
    with open(BUILD_RECORD, encoding="utf-8") as file:
        record = json.load(file)
    function = getattr(importlib.import_module(record["module"]), record["function"])
    Server(make_application(function, record["style"])).run()


if __name__ == "__main__":
    main()
