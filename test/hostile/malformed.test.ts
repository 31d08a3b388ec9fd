/**
 * Malformed and smuggling requests over real sockets (node:net raw writes to `makeServer`
 * on 127.0.0.1). Each one: the exact status line, `Connection: close` and an empty body,
 * the connection closed by the server, exactly one line in the error log (CPython's
 * `code N, message …`) and none in the access log, no stack trace, the app never called,
 * and the same server answering a normal request afterwards.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import type { Application } from "../../src/Protocol.js"
import { header, sendInPieces } from "../support/rawHttp.js"
import {
  eventually,
  expectNoStackTrace,
  expectStillServing,
  type Harness,
  RawClient,
  rawRequest,
  refusalLine,
  serverIdle,
  startHarness,
  tcpHandles,
  watchUnhandledRejections
} from "./harness.js"

const unhandled = watchUnhandledRejections()

const H = "Host: x\r\n"
/** A request whose line is longer than the header limit (16 KiB), and one whose headers are. */
const LONG_LINE = `GET /${"a".repeat(20_000)} HTTP/1.1\r\n${H}\r\n`
const BIG_HEADER = `GET /s HTTP/1.1\r\n${H}X-Big: ${"b".repeat(20_000)}\r\n\r\n`

interface Refused {
  /** What the case is. */
  readonly name: string
  /** The bytes sent, in one write (unless `pieces`). */
  readonly send: string
  /** Send them in pieces of these sizes instead, each its own packet (the last size repeats). */
  readonly pieces?: ReadonlyArray<number>
  /** The status line of the refusal. */
  readonly status: string
  /** Requests before the bad one that are answered first, in order (their paths). */
  readonly answeredFirst?: ReadonlyArray<string>
}

const refused: ReadonlyArray<Refused> = [
  // Framing: Content-Length and Transfer-Encoding.
  { name: "Content-Length with Transfer-Encoding", send: `POST /s HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "Transfer-Encoding with Content-Length", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "two different Content-Lengths", send: `POST /s HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, status: "HTTP/1.1 400 Bad Request" },
  { name: "two equal Content-Lengths", send: `POST /s HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a Content-Length list", send: `POST /s HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a negative Content-Length", send: `POST /s HTTP/1.1\r\n${H}Content-Length: -5\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a signed Content-Length", send: `POST /s HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a non-numeric Content-Length", send: `POST /s HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a hex Content-Length", send: `POST /s HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, status: "HTTP/1.1 400 Bad Request" },
  { name: "an overflowing Content-Length", send: `POST /s HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a chunk size that is not hex", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a negative chunk size", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "an overflowing chunk size", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "chunk data longer than its size", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello, world\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a chunk extension with a stray quote", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;"\r\nhello\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a chunk extension with a bare CR", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a chunk size line ended by a bare LF", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  // Transfer-Encoding other than one final chunked.
  { name: "Transfer-Encoding: gzip, chunked (a coding node:http lets through)", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, status: "HTTP/1.1 501 Not Implemented" },
  { name: "Transfer-Encoding: chunked, gzip", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "Transfer-Encoding: gzip", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "Transfer-Encoding: identity", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "Transfer-Encoding: xchunked", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "chunked twice, in two headers", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "Transfer-Encoding on HTTP/1.0", send: `POST /s HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a space before the colon of Transfer-Encoding", send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  // Line ends and header syntax.
  { name: "bare LF line ends", send: "GET /s HTTP/1.1\nHost: x\n\n", status: "HTTP/1.1 400 Bad Request" },
  { name: "a bare LF after a header", send: `GET /s HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "an obs-folded header", send: `GET /s HTTP/1.1\r\n${H}X-A: one\r\n two\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a NUL in a header value", send: `GET /s HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a CR in a header value", send: `GET /s HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a DEL in a header value", send: `GET /s HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a DEL in a header name", send: `GET /s HTTP/1.1\r\n${H}X\x7fA: b\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a NUL in a header name", send: `GET /s HTTP/1.1\r\n${H}X\0A: b\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a space before a header's colon", send: `GET /s HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a header line without a colon", send: `GET /s HTTP/1.1\r\n${H}nonsense\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  // Sizes.
  { name: "an over-long request line", send: `GET /${"a".repeat(20_000)} HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 414 URI Too Long" },
  { name: "over-large headers", send: `GET /s HTTP/1.1\r\n${H}X-Big: ${"b".repeat(20_000)}\r\n\r\n`, status: "HTTP/1.1 431 Request Header Fields Too Large" },
  { name: "too many headers", send: `GET /s HTTP/1.1\r\n${H}${"X-A: b\r\n".repeat(5_000)}\r\n`, status: "HTTP/1.1 431 Request Header Fields Too Large" },
  // Split across packets, node:http reports both as a header overflow of the last packet:
  // 414 when the request line is what overflows, 431 when its line end had come.
  { name: "an over-long request line in 1 KiB packets", send: LONG_LINE, pieces: [1024], status: "HTTP/1.1 414 URI Too Long" },
  { name: "an over-long request line split inside its method, then in 1-4 KiB packets", send: LONG_LINE, pieces: [1, 1, 1, 1, 1024, 4096, 2048, 3000], status: "HTTP/1.1 414 URI Too Long" },
  { name: "over-large headers in 1 KiB packets", send: BIG_HEADER, pieces: [1024], status: "HTTP/1.1 431 Request Header Fields Too Large" },
  { name: "over-large headers, the request line alone in the first packet", send: BIG_HEADER, pieces: ["GET /s HTTP/1.1\r\n".length, 1024], status: "HTTP/1.1 431 Request Header Fields Too Large" },
  { name: "over-large headers, the request line's CR and LF in different packets", send: BIG_HEADER, pieces: ["GET /s HTTP/1.1\r".length, 1, 1024], status: "HTTP/1.1 431 Request Header Fields Too Large" },
  { name: "too many headers in 1 KiB packets", send: `GET /s HTTP/1.1\r\n${H}${"X-A: b\r\n".repeat(5_000)}\r\n`, pieces: [1024], status: "HTTP/1.1 431 Request Header Fields Too Large" },
  // node:http would drop the headers past its count limit (2 000): a second Host behind them is still seen.
  { name: "a second Host behind 2 500 headers", send: `GET /s HTTP/1.1\r\n${H}${"X-A: b\r\n".repeat(2_500)}Host: evil\r\n\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "Transfer-Encoding: gzip, chunked behind 2 500 headers", send: `POST /s HTTP/1.1\r\n${H}${"X-A: b\r\n".repeat(2_500)}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, status: "HTTP/1.1 501 Not Implemented" },
  // Methods, targets, versions, Host.
  // RFC 9110 §9.1: any token is a method; one this server does not implement gets 501.
  { name: "an unknown method", send: `FOO /s HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 501 Not Implemented" },
  { name: "BREW (a token node:http does not list)", send: `BREW /pot HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 501 Not Implemented" },
  { name: "-BLARGH (a token starting with a dash)", send: `-BLARGH /s HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 501 Not Implemented" },
  { name: "a lower-case method (a token, case matters)", send: `get /s HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 501 Not Implemented" },
  { name: "a method that is not a token", send: `GE(T /s HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a method with a control character", send: `GE\x01T /s HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "CONNECT (no tunnels)", send: `CONNECT x:443 HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 501 Not Implemented" },
  { name: "asterisk-form on GET", send: `GET * HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "absolute-form with a scheme other than http(s)", send: `GET ftp://x/s HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "absolute-form with user info", send: `GET http://user@x/s HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a target that is neither a path nor a URL", send: `GET s HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a control character in the target", send: `GET /a\x01b HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "a tab in the target", send: `GET /a\tb HTTP/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "an HTTP/0.9 request", send: "GET /s\r\n\r\n", status: "HTTP/1.1 400 Bad Request" },
  { name: "HTTP/0.9 as a version", send: `GET /s HTTP/0.9\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "HTTP/1.2", send: `GET /s HTTP/1.2\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "HTTP/2.0 in an HTTP/1 request line", send: `GET /s HTTP/2.0\r\n${H}\r\n`, status: "HTTP/1.1 505 HTTP Version Not Supported" },
  { name: "a protocol that is not HTTP", send: `GET /s HTTX/1.1\r\n${H}\r\n`, status: "HTTP/1.1 400 Bad Request" },
  { name: "HTTP/1.1 without Host", send: "GET /s HTTP/1.1\r\n\r\n", status: "HTTP/1.1 400 Bad Request" },
  { name: "two Host headers", send: "GET /s HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: "HTTP/1.1 400 Bad Request" },
  { name: "an invalid Host value", send: "GET /s HTTP/1.1\r\nHost: a b\r\n\r\n", status: "HTTP/1.1 400 Bad Request" },
  { name: "a Host with a path", send: "GET /s HTTP/1.1\r\nHost: a/b\r\n\r\n", status: "HTTP/1.1 400 Bad Request" },
  // In order behind valid requests of the same packet.
  {
    name: "a valid request followed by garbage in the same packet",
    send: `GET /first HTTP/1.1\r\n${H}\r\nGARBAGE\r\n\r\n`,
    status: "HTTP/1.1 400 Bad Request",
    answeredFirst: ["/first"]
  },
  {
    name: "three pipelined requests, then binary garbage",
    send: `GET /a HTTP/1.1\r\n${H}\r\nGET /b HTTP/1.1\r\n${H}\r\nGET /c HTTP/1.1\r\n${H}\r\n\x01\x02\x03\xff\r\n\r\n`,
    status: "HTTP/1.1 400 Bad Request",
    answeredFirst: ["/a", "/b", "/c"]
  },
  {
    name: "a whole chunked request followed by garbage",
    send: `POST /chunked HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nJUNK\r\n\r\n`,
    status: "HTTP/1.1 400 Bad Request",
    answeredFirst: ["/chunked"]
  },
  {
    name: "a valid request, then one with two Hosts",
    send: `GET /ok HTTP/1.1\r\n${H}\r\nGET /s HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`,
    status: "HTTP/1.1 400 Bad Request",
    answeredFirst: ["/ok"]
  },
  {
    name: "a valid request, then an over-long request line in the same packet",
    send: `GET /first HTTP/1.1\r\n${H}\r\n${LONG_LINE}`,
    status: "HTTP/1.1 414 URI Too Long",
    answeredFirst: ["/first"]
  },
  {
    name: "a valid request, then an over-long request line, in 1 KiB packets",
    send: `GET /first HTTP/1.1\r\n${H}\r\n${LONG_LINE}`,
    pieces: [1024],
    status: "HTTP/1.1 414 URI Too Long",
    answeredFirst: ["/first"]
  },
  {
    name: "a valid request, then over-large headers, in 1 KiB packets",
    send: `GET /first HTTP/1.1\r\n${H}\r\n${BIG_HEADER}`,
    pieces: [1024],
    status: "HTTP/1.1 431 Request Header Fields Too Large",
    answeredFirst: ["/first"]
  },
  // Nothing after a malformed request reaches the app.
  {
    name: "a malformed request followed by a valid one",
    send: `GET /s HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\nGET /after HTTP/1.1\r\n${H}\r\n`,
    status: "HTTP/1.1 400 Bad Request"
  },
  {
    name: "a refused request followed by a valid one",
    send: `GET /s HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /after HTTP/1.1\r\n${H}\r\n`,
    status: "HTTP/1.1 400 Bad Request"
  },
  {
    name: "a bad chunk, then a request in the same packet",
    send: `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\nGET /after HTTP/1.1\r\n${H}\r\n`,
    status: "HTTP/1.1 400 Bad Request"
  }
]

describe("malformed and smuggling requests", () => {
  let harness: Harness
  beforeAll(async () => {
    harness = await startHarness()
  })
  afterAll(async () => {
    await harness.server.close()
    expect(unhandled()).toEqual([])
  })
  beforeEach(() => harness.reset())

  it.each(refused)("$name: $status", async ({ send, pieces, status, answeredFirst = [] }) => {
    await serverIdle(harness.server)
    const handlesBefore = tcpHandles()
    const client = await RawClient.connect(harness.server.port)
    if (pieces === undefined) client.send(send)
    else await sendInPieces(client, send, pieces)
    // The requests before the bad one, answered first and in order.
    for (const path of answeredFirst) {
      const response = await client.response()
      expect(response.statusLine).toBe("HTTP/1.1 200 OK")
      expect(response.body.toString("latin1")).toBe(path)
    }
    const response = await client.response()
    expect(response.statusLine).toBe(status)
    expect(header(response, "connection")).toBe("close")
    expect(response.body.length).toBe(0)
    // The server closes the connection, and sends nothing more.
    expect((await client.end()).length).toBe(0)
    await serverIdle(harness.server)
    // Only the requests before the bad one reached the app; nothing after it did.
    expect(harness.calls.map((call) => call.split(" ")[1])).toEqual(answeredFirst)
    // One line in the error log, the refusal; the access log has the answered ones only.
    const lines = harness.errorLines()
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(refusalLine(Number(status.split(" ")[1])))
    expectNoStackTrace(harness.errorText())
    expect(harness.access).toHaveLength(answeredFirst.length)
    // No socket left behind, on either side.
    await eventually(() => tcpHandles() <= handlesBefore, 3_000, "sockets to close")
    await expectStillServing(harness)
  })

  it("a request line that never ends (HTTP/0.9 style, no blank line) gets 408 after headersTimeout", async () => {
    const slow = await startHarness(undefined, { headersTimeout: 200, requestTimeout: 400 })
    try {
      const client = await RawClient.connect(slow.server.port)
      client.send("GET /s\r\n")
      const response = await client.response()
      expect(response.statusLine).toBe("HTTP/1.1 408 Request Timeout")
      await client.end()
      expect(slow.calls).toEqual([])
      expect(slow.errorLines()).toHaveLength(1)
      expect(slow.errorLines()[0]).toMatch(refusalLine(408))
      await expectStillServing(slow)
    } finally {
      await slow.server.close()
    }
  })

  it("a bad chunk after the app started reading cuts the connection: the read fails quietly, one log line", async () => {
    let readError: unknown
    const reading = await startHarness(async (environ, startResponse) => {
      try {
        await (environ["wsgi.input"] as { read(): Promise<Uint8Array> }).read()
      } catch (error) {
        readError = error
        throw error
      }
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [Buffer.from("read it")]
    })
    try {
      const client = await RawClient.connect(reading.server.port)
      client.send(`POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`)
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(reading.calls).toEqual(["POST /s"])
      client.send("zz\r\n\r\n")
      expect((await client.end()).toString("latin1")).not.toContain("read it")
      await serverIdle(reading.server)
      expect((readError as { _tag?: string })._tag).toBe("ClientDisconnected")
      expect(reading.errorLines()).toHaveLength(1)
      expect(reading.errorLines()[0]).toMatch(refusalLine(400))
      expectNoStackTrace(reading.errorText())
      await expectStillServing(reading)
    } finally {
      await reading.server.close()
    }
  })
})

describe("accepted forms (RFC 9112 §3.2) that are never handed to the app as a path", () => {
  let harness: Harness
  const environKeys: Application = (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]])
    return [Buffer.from(`${String(environ["PATH_INFO"])} ${String(environ["QUERY_STRING"])} ${String(environ["HTTP_HOST"])}`, "latin1")]
  }
  beforeAll(async () => {
    harness = await startHarness(environKeys)
  })
  afterAll(async () => {
    await harness.server.close()
  })
  beforeEach(() => harness.reset())

  it("absolute-form: the app gets the URL's path and query, and its authority as the host", async () => {
    const response = await rawRequest(harness.server.port, "GET http://example.com:8080/a%20b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")
    expect(response.statusLine).toBe("HTTP/1.1 200 OK")
    expect(response.body.toString("latin1")).toBe("/a b q=1 example.com:8080")
    expect(harness.calls).toEqual(["GET /a b"])
    expect(harness.errorLines()).toEqual([])
  })

  it("absolute-form without a path is the root", async () => {
    const response = await rawRequest(harness.server.port, "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")
    expect(response.body.toString("latin1")).toBe("/  example.com")
  })

  it("asterisk-form: OPTIONS * is answered by the server itself, and the connection stays open", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send(`OPTIONS * HTTP/1.1\r\n${H}\r\n`)
    const response = await client.response()
    expect(response.statusLine).toBe("HTTP/1.1 200 OK")
    expect(header(response, "content-length")).toBe("0")
    expect(harness.calls).toEqual([])
    // Same connection, next request: served.
    client.send(`GET /next HTTP/1.1\r\n${H}\r\n`)
    expect((await client.response()).body.toString("latin1")).toBe("/next  x")
    client.destroy()
    expect(harness.calls).toEqual(["GET /next"])
    expect(harness.errorLines()).toEqual([])
    expect(harness.access[0]).toMatch(/"OPTIONS \* HTTP\/1\.1" 200 0$/)
  })
})

describe("bodies are never parsed as requests", () => {
  let harness: Harness
  beforeAll(async () => {
    // The app never reads its input.
    harness = await startHarness()
  })
  afterAll(async () => {
    await harness.server.close()
  })
  beforeEach(() => harness.reset())

  const smuggled = `GET /smuggled HTTP/1.1\r\n${H}\r\n`

  it("a Content-Length body the app does not read, holding a request", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send(`POST /outer HTTP/1.1\r\n${H}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`)
    expect((await client.response()).body.toString("latin1")).toBe("/outer")
    client.send(`GET /next HTTP/1.1\r\n${H}\r\n`)
    expect((await client.response()).body.toString("latin1")).toBe("/next")
    client.destroy()
    expect(harness.calls).toEqual(["POST /outer", "GET /next"])
  })

  it("a chunked body the app does not read, holding a request", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send(`POST /outer HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`)
    expect((await client.response()).body.toString("latin1")).toBe("/outer")
    client.send(`GET /next HTTP/1.1\r\n${H}\r\n`)
    expect((await client.response()).body.toString("latin1")).toBe("/next")
    client.destroy()
    expect(harness.calls).toEqual(["POST /outer", "GET /next"])
  })

  it("a large unread body holding requests: the connection is closed, the requests never run", async () => {
    const body = smuggled.repeat(Math.ceil((128 * 1024) / smuggled.length))
    const client = await RawClient.connect(harness.server.port)
    client.send(`POST /outer HTTP/1.1\r\n${H}Content-Length: ${body.length}\r\n\r\n${body}`)
    const response = await client.response()
    expect(response.body.toString("latin1")).toBe("/outer")
    expect(header(response, "connection")).toBe("close")
    await client.end()
    await serverIdle(harness.server)
    expect(harness.calls).toEqual(["POST /outer"])
  })
})
