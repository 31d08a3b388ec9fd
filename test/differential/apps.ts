/**
 * The TypeScript half of the differential CGI tests: each app here has a twin of the same
 * name in `apps.py`, and the two must produce the same bytes on stdout when run under
 * `CGIHandler` (ours in a Node child, CPython's `wsgiref.handlers.CGIHandler` in python3).
 *
 * Keep every app byte-for-byte equivalent to its Python twin; a comment says where the
 * two languages need a different spelling of the same thing.
 */
import type { Application, Environ, FileLike, FileWrapper, InputStream } from "../../src/index.js"

/** A native string (one char per byte) as bytes: Python's `s.encode("latin-1")`. */
const b = (text: string): Buffer => Buffer.from(text, "latin1")

const TEXT: Array<[string, string]> = [["Content-Type", "text/plain"]]

const input = (environ: Environ): InputStream => environ["wsgi.input"] as InputStream

/** Python's `int(environ.get("CONTENT_LENGTH") or 0)`. */
const contentLength = (environ: Environ): number => Number(environ["CONTENT_LENGTH"] || 0)

/** Python's `repr()` of a bytes object, for the input-reading apps. */
const bytesRepr = (data: Uint8Array): string => {
  const hasSingle = data.includes(0x27)
  const hasDouble = data.includes(0x22)
  const quote = hasSingle && !hasDouble ? "\"" : "'"
  let out = "b" + quote
  for (const byte of data) {
    if (byte === 0x5c) out += "\\\\"
    else if (byte === 0x09) out += "\\t"
    else if (byte === 0x0a) out += "\\n"
    else if (byte === 0x0d) out += "\\r"
    else if (byte === quote.charCodeAt(0)) out += "\\" + quote
    else if (byte < 0x20 || byte >= 0x7f) out += "\\x" + byte.toString(16).padStart(2, "0")
    else out += String.fromCharCode(byte)
  }
  return out + quote
}

/** Python's `repr()` of a bool, str or tuple, as the environ echo prints them. */
const valueRepr = (value: unknown): string => {
  if (value === true) return "True"
  if (value === false) return "False"
  if (Array.isArray(value)) return `(${value.join(", ")})`
  if (value === undefined) return "None"
  return String(value)
}

class Boom extends Error {
  override readonly name = "RuntimeError"
}

export const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]])
  return [b("Hello, world!\n")]
}

/** Three chunks in a list: no Content-Length (len(result) != 1). */
export const chunks: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return [b("Hello, "), b("chunked "), b("world!\n")]
}

/** A one-element list holding an empty chunk: Content-Length: 0 from set_content_length. */
export const one_empty_chunk: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return [b("")]
}

/** A generator (no len()), with an empty chunk first and one in the middle. */
export const generator: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return (function* () {
    yield b("")
    yield b("first\n")
    yield b("")
    yield b("second\n")
  })()
}

/** An async generator here, a plain generator in Python: same bytes. */
export const async_generator: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return (async function* () {
    yield b("async ")
    await new Promise((resolve) => setTimeout(resolve, 5))
    yield b("body\n")
  })()
}

/** A Promise of a one-chunk list here, a plain list in Python. */
export const async_app: Application = async (_environ, startResponse) => {
  await new Promise((resolve) => setTimeout(resolve, 5))
  startResponse("200 OK", TEXT)
  return [b("from a promise\n")]
}

/** The write() callable, then one more chunk from the result. */
export const write_callable: Application = (_environ, startResponse) => {
  const write = startResponse("200 OK", TEXT)
  void write(b("one\n"))
  void write(b("two\n"))
  return [b("three\n")]
}

/** Only write(), then an empty list. */
export const write_then_empty: Application = async (_environ, startResponse) => {
  const write = startResponse("200 OK", TEXT)
  await write(b("written\n"))
  return []
}

/** The app's own Content-Length is kept and not recomputed. */
export const content_length: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "5"]])
  return [b("hel"), b("lo")]
}

export const error_before_output: Application = () => {
  throw new Boom("boom before output")
}

/** startResponse was called, but nothing was sent yet: still the 500 page. */
export const error_after_start: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  throw new Boom("boom after start_response")
}

/** Headers and some body are out: the response is cut short, nothing else is written. */
export const error_after_output: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return (function* () {
    yield b("partial output\n")
    throw new Boom("boom after output")
  })()
}

/** The app catches its own error and restarts the response with excInfo. */
export const exc_info_restart: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/html"], ["X-Dropped", "yes"]])
  try {
    throw new Boom("boom, caught by the app")
  } catch (error) {
    startResponse("500 Oops", [["Content-Type", "text/plain"]], error)
    return [b("the app's own error page\n")]
  }
}

/** excInfo after output: startResponse re-raises, the response is cut short. */
export const exc_info_after_output: Application = async (_environ, startResponse) => {
  const write = startResponse("200 OK", TEXT)
  await write(b("already sent\n"))
  try {
    throw new Boom("boom after write")
  } catch (error) {
    startResponse("500 Oops", TEXT, error)
    return [b("never sent\n")]
  }
}

/** A second startResponse without excInfo is a protocol error (before output: 500 page). */
export const double_start: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  startResponse("201 Created", TEXT)
  return [b("unreachable\n")]
}

/** A non-bytes chunk is a protocol error (before output: 500 page). */
export const non_bytes_chunk: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return ["not bytes"] as unknown as Array<Uint8Array>
}

/** A malformed status is refused (500 page). */
export const bad_status: Application = (_environ, startResponse) => {
  startResponse("200OK", TEXT)
  return [b("unreachable\n")]
}

/** A hop-by-hop header is refused (500 page). */
export const hop_by_hop: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"], ["Connection", "close"]])
  return [b("unreachable\n")]
}

export const empty_body: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return []
}

export const no_content_204: Application = (_environ, startResponse) => {
  startResponse("204 No Content", [])
  return []
}

export const not_modified_304: Application = (_environ, startResponse) => {
  startResponse("304 Not Modified", [["ETag", "\"abc\""]])
  return []
}

export const not_found: Application = (_environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/html"]])
  return [b("<h1>Not Found</h1>\n")]
}

/** Repeated and mixed-case headers go out as given, in order. */
export const multi_headers: Application = (_environ, startResponse) => {
  startResponse("200 OK", [
    ["Set-Cookie", "a=1; Path=/"],
    ["content-type", "text/plain"],
    ["Set-Cookie", "b=2"],
    ["X-Empty", ""],
    ["x-lower", "value with  spaces\tand a tab"]
  ])
  return [b("cookies\n")]
}

/** Latin-1 native strings in the status and header values go out as latin-1 bytes. */
export const latin1_header: Application = (_environ, startResponse) => {
  startResponse("200 \u00c7a va", [
    ["Content-Type", "text/plain; charset=iso-8859-1"],
    ["X-Name", "caf\u00e9"],
    ["X-High", "\u00a0\u00ff\u0080\u00e9"]
  ])
  return [b("caf\u00e9\n")]
}

/** Reads exactly CONTENT_LENGTH bytes and sends them back. */
export const echo_input: Application = async (environ, startResponse) => {
  const body = await input(environ).read(contentLength(environ))
  startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
  return [body]
}

/** read(3) until an empty read, each piece sent as it came. */
export const echo_input_pieces: Application = async (environ, startResponse) => {
  const stream = input(environ)
  const pieces: Array<Uint8Array> = []
  for (let piece = await stream.read(3); piece.length > 0; piece = await stream.read(3)) pieces.push(piece)
  startResponse("200 OK", TEXT)
  return [b(pieces.map(bytesRepr).join("\n") + "\n")]
}

/** read() with no size: to the end of the body. */
export const read_all: Application = async (environ, startResponse) => {
  const body = await input(environ).read()
  const again = await input(environ).read()
  startResponse("200 OK", TEXT)
  return [b(`${bytesRepr(body)}\n${bytesRepr(again)}\n`)]
}

/** readline(), readline(size) and readlines() on wsgi.input. */
export const readlines: Application = async (environ, startResponse) => {
  const stream = input(environ)
  const first = await stream.readline()
  const short = await stream.readline(3)
  const restOfLine = await stream.readline()
  const rest = await stream.readlines()
  const after = await stream.readline()
  startResponse("200 OK", TEXT)
  const text = [
    `first=${bytesRepr(first)}`,
    `short=${bytesRepr(short)}`,
    `rest_of_line=${bytesRepr(restOfLine)}`,
    `rest=[${rest.map(bytesRepr).join(", ")}]`,
    `after=${bytesRepr(after)}`
  ].join("\n")
  return [b(text + "\n")]
}

/** Iterating wsgi.input: line by line. */
export const iterate_input: Application = async (environ, startResponse) => {
  const lines: Array<string> = []
  for await (const line of input(environ)) lines.push(bytesRepr(line))
  startResponse("200 OK", TEXT)
  return [b(lines.join("\n") + "\n")]
}

const ECHOED_KEYS = [
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
  "wsgi.version"
]

/** Selected environ keys, `KEY=value` per line, encoded as latin-1. */
export const echo_environ: Application = (environ, startResponse) => {
  const lines = ECHOED_KEYS.map((key) => `${key}=${valueRepr(environ[key])}`)
  startResponse("200 OK", TEXT)
  return [b(lines.join("\n") + "\n")]
}

/** The environ keys that are neither wsgi.* nor from the CGI environment: none expected. */
export const environ_keys: Application = (environ, startResponse) => {
  const keys = Object.keys(environ).filter((key) => !key.startsWith("wsgi.")).sort()
  startResponse("200 OK", TEXT)
  return [b(keys.join("\n") + "\n")]
}

/** Echo the request method and body: a HEAD under CGI still passes the body through. */
export const head_body: Application = (environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return [b(`method=${String(environ["REQUEST_METHOD"])}\n`)]
}

/** Writes to wsgi.errors (stderr), which must not reach stdout. */
export const uses_errors: Application = (environ, startResponse) => {
  const errors = environ["wsgi.errors"] as { write(text: string): void; flush(): void }
  errors.write("a line for the error log\n")
  errors.flush()
  startResponse("200 OK", TEXT)
  return [b("see stderr\n")]
}

/** A result with close(): close() writes to stderr, stdout is unaffected. */
export const closing_result: Application = (environ, startResponse) => {
  const errors = environ["wsgi.errors"] as { write(text: string): void }
  startResponse("200 OK", TEXT)
  return Object.assign([b("closing\n")], { close: () => errors.write("close() called\n") })
}

/** wsgi.file_wrapper over an in-memory file, 4-byte blocks: iterated (no len, no Content-Length). */
export const file_wrapper: Application = (environ, startResponse) => {
  const Wrapper = environ["wsgi.file_wrapper"] as typeof FileWrapper
  const data = b("0123456789abcdefghij\n")
  let position = 0
  const file: FileLike = {
    read: (size) => data.subarray(position, (position = Math.min(data.length, position + size)))
  }
  startResponse("200 OK", TEXT)
  return new Wrapper(file, 4)
}

/** Reads only the first 4 bytes of the body. */
export const read_part: Application = async (environ, startResponse) => {
  const head = await input(environ).read(4)
  startResponse("200 OK", TEXT)
  return [b(`${bytesRepr(head)}\n`)]
}

/** 5000 write() calls, none awaited: they still go out in call order. */
export const many_writes: Application = (_environ, startResponse) => {
  const write = startResponse("200 OK", TEXT)
  for (let i = 0; i < 5000; i++) void write(b(`line ${i} ${"x".repeat(i % 17)}\n`))
  return []
}

/** The result's close() raises after the whole response was sent. */
export const close_raises: Application = (_environ, startResponse) => {
  startResponse("200 OK", TEXT)
  return Object.assign([b("body\n")], {
    close: () => {
      throw new Boom("close failed")
    }
  })
}

/** Everything the child can run, by name (the same names as `APPS` in apps.py). */
export const apps: Record<string, Application> = {
  hello,
  chunks,
  one_empty_chunk,
  generator,
  async_generator,
  async_app,
  write_callable,
  write_then_empty,
  content_length,
  error_before_output,
  error_after_start,
  error_after_output,
  exc_info_restart,
  exc_info_after_output,
  double_start,
  non_bytes_chunk,
  bad_status,
  hop_by_hop,
  empty_body,
  no_content_204,
  not_modified_304,
  not_found,
  multi_headers,
  latin1_header,
  echo_input,
  echo_input_pieces,
  read_all,
  readlines,
  iterate_input,
  echo_environ,
  environ_keys,
  head_body,
  uses_errors,
  closing_result,
  file_wrapper,
  read_part,
  many_writes,
  close_raises
}
