#!/usr/bin/env python3
"""CPython's wsgiref.handlers.SimpleHandler running the three bench apps in process.

The same apps, requests, warm-up, rounds and checks as bench/inprocess.mjs: every request
gets a fresh handler, a fresh BytesIO stdin and a fresh BytesIO stdout, and is timed on its
own with time.perf_counter_ns; its response is then checked (status line, Date,
Content-Length, body bytes) outside the timed part. (Keeping a batch of responses to check
later would make CPython's allocator give 64 KiB buffers back to the OS and fault them in
again, tripling the 64 KiB case: not a fair baseline.)

Usage: python3 bench/python_baseline.py [--warmup N] [--rounds R] [--requests N] [--cases a,b]
prints one JSON object: {"python": ..., "cases": {name: {"median_us": ..., "rounds_us": [...]}}}.
With --serve (how bench/run.mjs uses it) it reads one JSON command a line,
{"cmd": "round", "case": "hello", "requests": 2000}, and answers {"us": <mean µs per request>},
so the parent can interleave CPython's rounds with Node's.
"""
import argparse
import json
import platform
import statistics
import sys
import time
from io import BytesIO, StringIO
from wsgiref.handlers import SimpleHandler

HELLO_BODY = b"Hello, world!"
BIG_CHUNKS = [bytes([i + 1]) * 4096 for i in range(16)]
BIG_BODY = b"".join(BIG_CHUNKS)
INPUT_SIZE = 16384
INPUT_BODY = bytes(((i * 7 + 3) & 0xFF) for i in range(INPUT_SIZE))
INPUT_ANSWER = f"{INPUT_SIZE} {INPUT_BODY[0]} {INPUT_BODY[-1]}".encode("latin-1")

BASE_ENVIRON = {
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.0",
    "HTTP_HOST": "127.0.0.1",
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
}


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [HELLO_BODY]


def big(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", "65536")])
    return BIG_CHUNKS


def read_input(environ, start_response):
    length = int(environ["CONTENT_LENGTH"])
    data = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{len(data)} {data[0]} {data[-1]}".encode("latin-1")]


CASES = {
    "hello": (hello, BASE_ENVIRON, b"", HELLO_BODY),
    "big": (big, BASE_ENVIRON, b"", BIG_BODY),
    "input": (
        read_input,
        dict(BASE_ENVIRON, REQUEST_METHOD="POST", CONTENT_TYPE="application/octet-stream", CONTENT_LENGTH=str(INPUT_SIZE)),
        INPUT_BODY,
        INPUT_ANSWER,
    ),
}


def verify(raw, expect, what):
    split = raw.find(b"\r\n\r\n")
    if split < 0:
        raise AssertionError(f"{what}: no end of headers in {raw[:200]!r}")
    head = raw[:split].decode("latin-1").split("\r\n")
    body = raw[split + 4:]
    if head[0] != "HTTP/1.0 200 OK":
        raise AssertionError(f"{what}: status line {head[0]!r}")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.lower(), value.strip())
    if "date" not in headers:
        raise AssertionError(f"{what}: no Date header")
    if headers.get("content-length") != str(len(expect)):
        raise AssertionError(f"{what}: Content-Length {headers.get('content-length')}, expected {len(expect)}")
    if body != expect:
        raise AssertionError(f"{what}: wrong body ({len(body)} bytes, expected {len(expect)})")


def make_request(name):
    """One timed request of case `name`: returns its µs; its response is checked after."""
    app, environ, request_body, expect = CASES[name]
    clock = time.perf_counter_ns

    def one():
        # Timed: everything one request needs (its stdin, stdout, handler) and the run.
        # Untimed: checking the response, right after.
        start = clock()
        out = BytesIO()
        SimpleHandler(BytesIO(request_body), out, ERRORS, environ, multithread=True, multiprocess=False).run(app)
        elapsed = clock() - start
        verify(out.getvalue(), expect, f"python {name}")
        return elapsed

    return one


# One wsgi.errors for every request (it must stay empty).
ERRORS = StringIO()
REQUESTS = {}


def run_round(name, requests):
    """Mean µs per request over `requests` requests of case `name`."""
    one = REQUESTS.get(name) or REQUESTS.setdefault(name, make_request(name))
    total = 0
    for _ in range(requests):
        total += one()
    if ERRORS.getvalue():
        raise AssertionError(f"python {name}: wsgi.errors got {ERRORS.getvalue()[:500]!r}")
    return total / requests / 1000


def measure(name, warmup, rounds, requests):
    run_round(name, warmup)
    per_round = [run_round(name, requests) for _ in range(rounds)]
    return {"median_us": statistics.median(per_round), "rounds_us": per_round, "requests": requests * rounds}


def serve():
    """Worker mode for bench/run.mjs: one JSON command a line, one JSON answer a line."""
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "hello":
                answer = {"python": f"{platform.python_implementation()} {platform.python_version()}"}
            else:
                answer = {"us": run_round(command["case"], command["requests"])}
        except Exception as error:  # reported to the parent, which fails the bench
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--serve", action="store_true", help="worker mode for bench/run.mjs")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    results = {}
    for name in args.cases.split(","):
        results[name] = measure(name, args.warmup, args.rounds, args.requests)
    json.dump({"python": f"{platform.python_implementation()} {platform.python_version()}", "cases": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
