"""The Python half of the differential CGI tests.

Each app here has a twin of the same name in apps.ts; run one under CPython's
wsgiref.handlers.CGIHandler with:

    python3 -I -X utf8 apps.py NAME

The test compares its stdout, byte for byte, with the TypeScript twin run under our
CGIHandler, with the same environment and the same stdin.
"""
import io
import sys
import time
from wsgiref.handlers import CGIHandler

TEXT = [("Content-Type", "text/plain")]


def b(text):
    """A native string (one char per byte) as bytes."""
    return text.encode("latin-1")


def content_length(environ):
    return int(environ.get("CONTENT_LENGTH") or 0)


def value_repr(value):
    return str(value)


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"Hello, world!\n"]


def chunks(environ, start_response):
    start_response("200 OK", TEXT)
    return [b"Hello, ", b"chunked ", b"world!\n"]


def one_empty_chunk(environ, start_response):
    start_response("200 OK", TEXT)
    return [b""]


def generator(environ, start_response):
    start_response("200 OK", TEXT)

    def body():
        yield b""
        yield b"first\n"
        yield b""
        yield b"second\n"

    return body()


def async_generator(environ, start_response):
    # The TypeScript twin is an async generator; a plain generator is its equivalent.
    start_response("200 OK", TEXT)

    def body():
        yield b"async "
        time.sleep(0.005)
        yield b"body\n"

    return body()


def async_app(environ, start_response):
    # The TypeScript twin returns a Promise.
    time.sleep(0.005)
    start_response("200 OK", TEXT)
    return [b"from a promise\n"]


def write_callable(environ, start_response):
    write = start_response("200 OK", TEXT)
    write(b"one\n")
    write(b"two\n")
    return [b"three\n"]


def write_then_empty(environ, start_response):
    write = start_response("200 OK", TEXT)
    write(b"written\n")
    return []


def content_length_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hel", b"lo"]


def error_before_output(environ, start_response):
    raise RuntimeError("boom before output")


def error_after_start(environ, start_response):
    start_response("200 OK", TEXT)
    raise RuntimeError("boom after start_response")


def error_after_output(environ, start_response):
    start_response("200 OK", TEXT)

    def body():
        yield b"partial output\n"
        raise RuntimeError("boom after output")

    return body()


def exc_info_restart(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html"), ("X-Dropped", "yes")])
    try:
        raise RuntimeError("boom, caught by the app")
    except RuntimeError:
        start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"the app's own error page\n"]


def exc_info_after_output(environ, start_response):
    write = start_response("200 OK", TEXT)
    write(b"already sent\n")
    try:
        raise RuntimeError("boom after write")
    except RuntimeError:
        start_response("500 Oops", TEXT, sys.exc_info())
        return [b"never sent\n"]


def double_start(environ, start_response):
    start_response("200 OK", TEXT)
    start_response("201 Created", TEXT)
    return [b"unreachable\n"]


def non_bytes_chunk(environ, start_response):
    start_response("200 OK", TEXT)
    return ["not bytes"]


def bad_status(environ, start_response):
    start_response("200OK", TEXT)
    return [b"unreachable\n"]


def hop_by_hop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [b"unreachable\n"]


def empty_body(environ, start_response):
    start_response("200 OK", TEXT)
    return []


def no_content_204(environ, start_response):
    start_response("204 No Content", [])
    return []


def not_modified_304(environ, start_response):
    start_response("304 Not Modified", [("ETag", '"abc"')])
    return []


def not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/html")])
    return [b"<h1>Not Found</h1>\n"]


def multi_headers(environ, start_response):
    start_response("200 OK", [
        ("Set-Cookie", "a=1; Path=/"),
        ("content-type", "text/plain"),
        ("Set-Cookie", "b=2"),
        ("X-Empty", ""),
        ("x-lower", "value with  spaces\tand a tab"),
    ])
    return [b"cookies\n"]


def latin1_header(environ, start_response):
    start_response("200 \u00c7a va", [
        ("Content-Type", "text/plain; charset=iso-8859-1"),
        ("X-Name", "caf\xe9"),
        ("X-High", "\xa0\xff\x80\xe9"),
    ])
    return [b("caf\xe9\n")]


def echo_input(environ, start_response):
    body = environ["wsgi.input"].read(content_length(environ))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


def echo_input_pieces(environ, start_response):
    stream = environ["wsgi.input"]
    pieces = []
    piece = stream.read(3)
    while piece:
        pieces.append(piece)
        piece = stream.read(3)
    start_response("200 OK", TEXT)
    return [b("\n".join(repr(p) for p in pieces) + "\n")]


def read_all(environ, start_response):
    body = environ["wsgi.input"].read()
    again = environ["wsgi.input"].read()
    start_response("200 OK", TEXT)
    return [b("%r\n%r\n" % (body, again))]


def readlines(environ, start_response):
    stream = environ["wsgi.input"]
    first = stream.readline()
    short = stream.readline(3)
    rest_of_line = stream.readline()
    rest = stream.readlines()
    after = stream.readline()
    start_response("200 OK", TEXT)
    text = "\n".join([
        "first=%r" % (first,),
        "short=%r" % (short,),
        "rest_of_line=%r" % (rest_of_line,),
        "rest=[%s]" % ", ".join(repr(line) for line in rest),
        "after=%r" % (after,),
    ])
    return [b(text + "\n")]


def iterate_input(environ, start_response):
    lines = [repr(line) for line in environ["wsgi.input"]]
    start_response("200 OK", TEXT)
    return [b("\n".join(lines) + "\n")]


ECHOED_KEYS = [
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "HTTP_X_TEST",
    "HTTP_HOST",
    "HTTPS",
    "wsgi.url_scheme",
    "wsgi.run_once",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.version",
]


def echo_environ(environ, start_response):
    lines = ["%s=%s" % (key, value_repr(environ.get(key))) for key in ECHOED_KEYS]
    start_response("200 OK", TEXT)
    return [b("\n".join(lines) + "\n")]


def environ_keys(environ, start_response):
    keys = sorted(key for key in environ if not key.startswith("wsgi."))
    start_response("200 OK", TEXT)
    return [b("\n".join(keys) + "\n")]


def head_body(environ, start_response):
    start_response("200 OK", TEXT)
    return [b("method=%s\n" % environ["REQUEST_METHOD"])]


def uses_errors(environ, start_response):
    errors = environ["wsgi.errors"]
    errors.write("a line for the error log\n")
    errors.flush()
    start_response("200 OK", TEXT)
    return [b"see stderr\n"]


class ClosingList(list):
    def __init__(self, items, errors):
        super().__init__(items)
        self.errors = errors

    def close(self):
        self.errors.write("close() called\n")


def closing_result(environ, start_response):
    start_response("200 OK", TEXT)
    return ClosingList([b"closing\n"], environ["wsgi.errors"])


def file_wrapper(environ, start_response):
    start_response("200 OK", TEXT)
    return environ["wsgi.file_wrapper"](io.BytesIO(b"0123456789abcdefghij\n"), 4)


def read_part(environ, start_response):
    head = environ["wsgi.input"].read(4)
    start_response("200 OK", TEXT)
    return [b("%r\n" % (head,))]


def many_writes(environ, start_response):
    write = start_response("200 OK", TEXT)
    for i in range(5000):
        write(b("line %d %s\n" % (i, "x" * (i % 17))))
    return []


class RaisingClose(list):
    def close(self):
        raise RuntimeError("close failed")


def close_raises(environ, start_response):
    start_response("200 OK", TEXT)
    return RaisingClose([b"body\n"])


APPS = {
    "hello": hello,
    "chunks": chunks,
    "one_empty_chunk": one_empty_chunk,
    "generator": generator,
    "async_generator": async_generator,
    "async_app": async_app,
    "write_callable": write_callable,
    "write_then_empty": write_then_empty,
    "content_length": content_length_app,
    "error_before_output": error_before_output,
    "error_after_start": error_after_start,
    "error_after_output": error_after_output,
    "exc_info_restart": exc_info_restart,
    "exc_info_after_output": exc_info_after_output,
    "double_start": double_start,
    "non_bytes_chunk": non_bytes_chunk,
    "bad_status": bad_status,
    "hop_by_hop": hop_by_hop,
    "empty_body": empty_body,
    "no_content_204": no_content_204,
    "not_modified_304": not_modified_304,
    "not_found": not_found,
    "multi_headers": multi_headers,
    "latin1_header": latin1_header,
    "echo_input": echo_input,
    "echo_input_pieces": echo_input_pieces,
    "read_all": read_all,
    "readlines": readlines,
    "iterate_input": iterate_input,
    "echo_environ": echo_environ,
    "environ_keys": environ_keys,
    "head_body": head_body,
    "uses_errors": uses_errors,
    "closing_result": closing_result,
    "file_wrapper": file_wrapper,
    "read_part": read_part,
    "many_writes": many_writes,
    "close_raises": close_raises,
}


if __name__ == "__main__":
    CGIHandler().run(APPS[sys.argv[1]])
