// The three in-process benchmark apps and their requests, shared by every JS variant.
// bench/python_baseline.py defines the same apps, requests and checks for CPython.

const bytes = (text) => Buffer.from(text, "latin1")

export const HELLO_BODY = bytes("Hello, world!")

// (b) 64 KiB in 16 chunks of 4 KiB; chunk i is filled with the byte i + 1.
export const CHUNK_SIZE = 4096
export const CHUNK_COUNT = 16
export const BIG_CHUNKS = Array.from({ length: CHUNK_COUNT }, (_, i) => Buffer.alloc(CHUNK_SIZE, i + 1))
export const BIG_BODY = Buffer.concat(BIG_CHUNKS)

// (c) a 16 KiB request body; the app answers "<length> <first byte> <last byte>".
export const INPUT_SIZE = 16384
export const INPUT_BODY = Buffer.from(Array.from({ length: INPUT_SIZE }, (_, i) => (i * 7 + 3) & 0xff))
export const INPUT_ANSWER = bytes(`${INPUT_SIZE} ${INPUT_BODY[0]} ${INPUT_BODY[INPUT_SIZE - 1]}`)

/** The CGI variables of a request (the same in python_baseline.py). */
const baseEnviron = {
  SERVER_NAME: "127.0.0.1",
  SERVER_PORT: "80",
  SERVER_PROTOCOL: "HTTP/1.0",
  HTTP_HOST: "127.0.0.1",
  REQUEST_METHOD: "GET",
  SCRIPT_NAME: "",
  PATH_INFO: "/",
  QUERY_STRING: ""
}

export const hello = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [HELLO_BODY]
}

export const big = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", "65536"]])
  return BIG_CHUNKS
}

export const readInput = async (environ, startResponse) => {
  const length = Number(environ["CONTENT_LENGTH"])
  const data = await environ["wsgi.input"].read(length)
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [bytes(`${data.length} ${data[0]} ${data[data.length - 1]}`)]
}

/** name → app, the request it gets, the body it must answer, whether the app is async. */
export const cases = {
  hello: { label: "hello world", app: hello, environ: baseEnviron, body: undefined, expect: HELLO_BODY, async: false },
  big: { label: "64 KiB in 16 × 4 KiB", app: big, environ: baseEnviron, body: undefined, expect: BIG_BODY, async: false },
  input: {
    label: "read 16 KiB wsgi.input",
    app: readInput,
    environ: {
      ...baseEnviron,
      REQUEST_METHOD: "POST",
      CONTENT_TYPE: "application/octet-stream",
      CONTENT_LENGTH: String(INPUT_SIZE)
    },
    body: INPUT_BODY,
    expect: INPUT_ANSWER,
    async: true
  }
}

const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1")

/**
 * Check one raw response (status line, headers, body): throws unless it is
 * `HTTP/1.0 200 OK` with a Date header, a Content-Length equal to the body's length, and
 * exactly the expected body bytes.
 */
export const verifyResponse = (bytes, expect, what) => {
  const split = bytes.indexOf(CRLFCRLF)
  if (split < 0) throw new Error(`${what}: no end of headers in ${JSON.stringify(bytes.subarray(0, 200).toString("latin1"))}`)
  const head = bytes.subarray(0, split).toString("latin1").split("\r\n")
  const body = bytes.subarray(split + 4)
  if (head[0] !== "HTTP/1.0 200 OK") throw new Error(`${what}: status line ${JSON.stringify(head[0])}`)
  const headers = new Map(head.slice(1).map((line) => {
    const colon = line.indexOf(":")
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
  }))
  if (!headers.has("date")) throw new Error(`${what}: no Date header`)
  if (headers.get("content-length") !== String(expect.length)) {
    throw new Error(`${what}: Content-Length ${headers.get("content-length")}, expected ${expect.length}`)
  }
  if (!body.equals(expect)) throw new Error(`${what}: wrong body (${body.length} bytes, expected ${expect.length})`)
}

// The memory section's stream: 1 GiB as 16 384 chunks of 64 KiB; chunk i is filled with
// streamFill(i), so the client can tell where it is.
export const STREAM_CHUNK = 64 * 1024
export const STREAM_CHUNKS = 16 * 1024
export const streamFill = (i) => (i * 31 + 7) & 0xff
