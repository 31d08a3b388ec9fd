"""The Python half of the differential server tests (simpleServer.test.ts).

Serves the apps below with CPython's wsgiref.simple_server on 127.0.0.1 and a free port,
prints the port on the first line of stdout, then serves until killed:

    python3 -I -X utf8 simple_server_app.py

Each path has a twin in simpleServer.test.ts, served by makeServer; the test sends both
the same raw request and compares the responses.
"""
import json
import os
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

TEXT = [("Content-Type", "text/plain")]


def b(text):
    return text.encode("latin-1")


def hello(environ, start_response):
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("X-Custom", "A b"),
        ("Set-Cookie", "a=1; Path=/"),
        ("set-cookie", "b=2"),
    ])
    return [b"Hello world!\n"]


def status(environ, start_response):
    # A copy: wsgiref's Headers adds Content-Length to the very list it is given.
    start_response("299 Quite Fine Thanks", list(TEXT))
    return [b"fine"]


def echo(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("201 Created", [("Content-Type", "application/octet-stream")])
    return [b(environ["REQUEST_METHOD"] + " "), body]


def stream(environ, start_response):
    start_response("200 OK", list(TEXT))
    yield b"one, "
    yield b"two, "
    yield b"three"


def error(environ, start_response):
    raise ValueError("deliberate")


def dump(environ, start_response):
    # The CGI variables: not the wsgi.* keys, not the process environment CPython copies in.
    cgi = {key: value for key, value in environ.items()
           if isinstance(value, str) and not key.startswith("wsgi.") and key not in os.environ}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(cgi, sort_keys=True).encode("ascii")]


ROUTES = {"/hello": hello, "/status": status, "/echo": echo, "/stream": stream, "/error": error}


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/environ"):
        return dump(environ, start_response)
    return ROUTES.get(path, hello)(environ, start_response)


class QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the test reads stdout only)."""

    def log_message(self, format, *args):
        pass


def main():
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    # Tracebacks of the deliberate error go to stderr; keep the test output clean.
    server.handle_error = lambda request, client_address: None
    print(server.server_port, flush=True)
    sys.stderr = open(os.devnull, "w")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
