/**
 * `makeServer` serving HTTP/2 (issue 15): `h2c` (cleartext, prior knowledge) and `http2`
 * with `tls` (h2 by ALPN, HTTP/1.1 beside it on the same port), through the one gateway.
 * Clients: node's `http2.connect`, raw frames over node:net for what no polite client
 * sends (test/support/h2frames.ts), and curl and nghttp when they are installed (skipped
 * with the reason printed when they are not; with CI set, that fails instead).
 */
import { execFile, execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { type ClientHttp2Session, connect as http2Connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2"
import { createServer as createH2cServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2"
import { request as httpsRequest } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { ErrorLog, type MemoryErrorLog } from "../src/ErrorLog.js"
import type { Application, Environ, InputStream } from "../src/Protocol.js"
import { type Http2ServerOptions, makeServer, type WSGIServer } from "../src/Server.js"
import { validator } from "../src/Validate.js"
import { headerListSize, requestHeaders, StreamResponse } from "../src/internal/node/http2Exchange.js"
import * as F from "./support/h2frames.js"
import { underTest } from "./support/underTest.js"

// --- Fixtures -------------------------------------------------------------------------

let dir = ""
let cert: Buffer = Buffer.alloc(0)
let key: Buffer = Buffer.alloc(0)

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "effect-wsgi-h2-"))
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", "server.key", "-out", "server.pem", "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"
  ], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
  cert = readFileSync(join(dir, "server.pem"))
  key = readFileSync(join(dir, "server.key"))
})

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
})

const servers: Array<WSGIServer<NodeServer>> = []
const clients: Array<ClientHttp2Session> = []
const raws: Array<F.RawH2> = []
let errors: MemoryErrorLog
let access: Array<string>

type NodeServer = WSGIServer["server"] | import("node:http2").Http2Server | import("node:http2").Http2SecureServer

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy()
  for (const raw of raws.splice(0)) raw.destroy()
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

/**
 * `app` served by makeServer with HTTP/2 (`h2c` unless told otherwise); errors go to
 * `errors`. `validate: false` for an app that breaks PEP 3333 on purpose (see underTest).
 */
const serve = async (app: Application, options: Http2ServerOptions = {}, validate = true): Promise<WSGIServer<NodeServer>> => {
  errors = ErrorLog.memory()
  access = []
  const server = await makeServer("127.0.0.1", 0, underTest(app, { validate }), {
    errorLog: errors,
    accessLog: (line) => access.push(line),
    closeTimeout: 2_000,
    ...(options.http2 === true ? {} : { h2c: true }),
    ...options
  })
  servers.push(server)
  return server
}

/** `serve` over TLS: h2 by ALPN, and HTTP/1.1 on the same port. */
const serveTls = (app: Application, options: Http2ServerOptions = {}) => serve(app, { http2: true, tls: { cert, key }, ...options })

/** A node:http2 client session (closed after the test). */
const connect = (url: string, tls = false): ClientHttp2Session => {
  const session = http2Connect(url, tls ? { ca: cert } : {})
  session.on("error", () => {})
  clients.push(session)
  return session
}

/** A raw-frame connection (closed after the test). */
const raw = async (port: number): Promise<F.RawH2> => {
  const connection = await F.RawH2.connect(port)
  raws.push(connection)
  return connection
}

/** What a client stream got: the head, the body bytes, and how it ended. */
interface Got {
  readonly status: number | undefined
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** The RST_STREAM code, when the stream was reset (0 when it ended normally). */
  readonly rstCode: number
  /** The stream's error code, when it failed (ERR_HTTP2_STREAM_ERROR, …). */
  readonly error: string | undefined
}

/** Send one request on `session`; resolves when its stream closes, however it ends. */
const request = (session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<Got> =>
  new Promise((resolve) => {
    const stream = session.request({ ":path": "/", ...headers }, { endStream: body === undefined })
    let head: IncomingHttpHeaders = {}
    const chunks: Array<Buffer> = []
    let error: string | undefined
    stream.on("response", (received) => {
      head = received
    })
    stream.on("data", (chunk: Buffer) => chunks.push(chunk))
    stream.on("error", (failure: Error & { code?: string }) => {
      error = failure.code ?? failure.message
    })
    stream.on("close", () => {
      const status = head[":status"]
      resolve({ status: typeof status === "number" ? status : undefined, headers: head, body: Buffer.concat(chunks), rstCode: stream.rstCode ?? 0, error })
    })
    if (body !== undefined) stream.end(body)
  })

const bytes = (text: string): Buffer => Buffer.from(text, "latin1")

/** A promise and the function that resolves it. */
const deferred = <A = void>() => {
  let resolve!: (value: A) => void
  const promise = new Promise<A>((done) => {
    resolve = done
  })
  return { promise, resolve }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Wait until `done()` holds, polling (at most `ms`). */
const until = async (done: () => boolean, ms = 5_000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!done()) {
    if (Date.now() > deadline) throw new Error("timed out waiting")
    await sleep(5)
  }
}

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [bytes("Hello world!\n")]
}

/** The CGI variables (strings) and wsgi.* scalars of the environ, as JSON. */
const environDump: Application = (environ, startResponse) => {
  const dumped: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(environ)) {
    if (typeof value === "string" || typeof value === "boolean" || Array.isArray(value)) dumped[name] = value
  }
  startResponse("200 OK", [["Content-Type", "application/json"]])
  return [Buffer.from(JSON.stringify(dumped), "utf8")]
}

const environOf = (got: Got): Record<string, unknown> => {
  expect(got.status).toBe(200)
  return JSON.parse(got.body.toString("utf8")) as Record<string, unknown>
}

/** Reads its whole body and answers with it. */
const echo: Application = async (environ, startResponse) => {
  const body = await (environ["wsgi.input"] as InputStream).read()
  startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["X-Terminated", String(environ["wsgi.input_terminated"] === true)]])
  return [body]
}

/** The error log's lines. */
const logLines = (): Array<string> => errors.text().split("\n").filter((line) => line !== "")

const ciSet = !["", "0", "false"].includes((process.env["CI"] ?? "").trim().toLowerCase())

/** The path of `name` on PATH, or null. */
const which = (name: string): string | null => {
  try {
    const found = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim()
    return found === "" ? null : found
  } catch {
    return null
  }
}

const run = (file: string, args: ReadonlyArray<string>): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(file, [...args], { encoding: "utf8", timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 1
      resolve({ code, stdout, stderr })
    })
  })

// --- 1. makeServer({ h2c }) / makeServer({ http2, tls }) -------------------------------

describe("HTTP/2: the environ", () => {
  it("h2c: pseudo-headers become the CGI variables, never HTTP_ ones; SERVER_PROTOCOL is HTTP/2.0", async () => {
    const server = await serve(environDump)
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`)
    const session = connect(server.url)
    const environ = environOf(await request(session, { ":path": "/a%20b/c?x=1&y=%41", "user-agent": "t", "x-many": "1" }))
    expect(environ).toMatchObject({
      REQUEST_METHOD: "GET",
      PATH_INFO: "/a b/c",
      QUERY_STRING: "x=1&y=%41",
      SCRIPT_NAME: "",
      SERVER_PROTOCOL: "HTTP/2.0",
      SERVER_NAME: "127.0.0.1",
      SERVER_PORT: String(server.port),
      HTTP_HOST: `127.0.0.1:${server.port}`,
      HTTP_USER_AGENT: "t",
      HTTP_X_MANY: "1",
      REMOTE_ADDR: "127.0.0.1",
      "wsgi.url_scheme": "http",
      "wsgi.version": [1, 0]
    })
    expect(environ["HTTPS"]).toBeUndefined()
    expect(Object.keys(environ).filter((name) => name.includes(":"))).toEqual([])
    expect(environ["wsgi.input_terminated"]).toBeUndefined()
  })

  it("a host header is HTTP_HOST (the same authority as :authority), cookie crumbs are joined with '; '", async () => {
    const server = await serve(environDump)
    const session = connect(server.url)
    const environ = environOf(await request(session, { host: `LOCALHOST:${server.port}`, ":authority": `localhost:${server.port}`, cookie: ["a=1", "b=2", "c=3"] }))
    expect(environ["HTTP_HOST"]).toBe(`LOCALHOST:${server.port}`)
    expect(environ["HTTP_COOKIE"]).toBe("a=1; b=2; c=3")
  })

  it("refuses a host header that names another authority than :authority (400, one line), and the session goes on", async () => {
    let calls = 0
    const server = await serve((environ, startResponse) => {
      calls++
      return environDump(environ, startResponse)
    })
    const session = connect(server.url)
    const got = await request(session, { host: "evil.example", ":authority": "127.0.0.1" })
    expect(got.status).toBe(400)
    expect(got.body.length).toBe(0)
    expect(calls).toBe(0)
    expect(logLines()).toEqual([expect.stringMatching(/code 400, message Bad Request \(a Host header that differs from :authority\)$/)])
    expect((await request(session, {})).status).toBe(200)
  })

  it("a body with a content-length is read to its end; one without is read to the end of the stream (wsgi.input_terminated)", async () => {
    const server = await serve(echo)
    const session = connect(server.url)
    const sized = await request(session, { ":method": "POST", "content-length": "11" }, "hello there")
    expect(sized.status).toBe(200)
    expect(sized.body.toString()).toBe("hello there")
    expect(sized.headers["x-terminated"]).toBe("false")
    const big = Buffer.alloc(300_000, 7)
    const streamed = await request(session, { ":method": "PUT" }, big)
    expect(streamed.status).toBe(200)
    expect(streamed.body.equals(big)).toBe(true)
    expect(streamed.headers["x-terminated"]).toBe("true")
  })

  it("maxBodySize: a content-length over it gets 413 without the app; a body without one fails the read past it (413)", async () => {
    let calls = 0
    const server = await serve((environ, startResponse) => {
      calls++
      return echo(environ, startResponse)
    }, { maxBodySize: 1000 })
    const session = connect(server.url)
    const declared = await request(session, { ":method": "POST", "content-length": "2000" }, Buffer.alloc(2000))
    expect(declared.status).toBe(413)
    expect(calls).toBe(0)
    const streamed = await request(session, { ":method": "POST" }, Buffer.alloc(5000))
    expect(streamed.status).toBe(413)
    expect(calls).toBe(1)
    expect(errors.text()).toMatch(/code 413, message the request body is larger than the server's limit of 1000 bytes/)
    expect((await request(session, {})).status).toBe(200)
  })

  it("a body nobody reads does not hold the stream: a small one is drained, a large one stopped (RST_STREAM NO_ERROR) once the response is complete", async () => {
    const server = await serve(hello)
    const session = connect(server.url)
    const stream = session.request({ ":path": "/", ":method": "POST" }, { endStream: false })
    const chunks: Array<Buffer> = []
    stream.on("data", (chunk: Buffer) => chunks.push(chunk))
    stream.on("error", () => {})
    let status: unknown
    stream.on("response", (head) => {
      status = head[":status"]
    })
    // More than the stream's flow-control window: it could never all be sent.
    stream.end(Buffer.alloc(1024 * 1024))
    await new Promise((resolve) => stream.on("close", resolve))
    expect(status).toBe(200)
    expect(Buffer.concat(chunks).toString()).toBe("Hello world!\n")
    expect(stream.rstCode).toBe(0)
    // The frames: the response, its END_STREAM, then RST_STREAM(NO_ERROR); a small body is
    // drained instead, so its stream ends normally.
    // drainLimit (64 KiB by default) is what may be dropped after the response: past it, the
    // stream is reset. In frames: the response and its END_STREAM, then RST_STREAM(NO_ERROR).
    const frames = await raw(server.port)
    await frames.send(Buffer.concat([
      F.frame(F.HEADERS, F.END_HEADERS, 1, F.requestBlock("/", "POST")),
      F.frame(F.DATA, 0, 1, Buffer.alloc(16_000)),
      F.frame(F.HEADERS, F.END_HEADERS, 3, F.requestBlock("/", "POST")),
      F.frame(F.DATA, 0, 3, Buffer.alloc(100))
    ]))
    const ended = (id: number) => frames.frames.some((f) => f.streamId === id && (f.type === F.DATA || f.type === F.HEADERS) && (f.flags & F.END_STREAM) !== 0)
    expect(await frames.until(() => ended(1) && ended(3))).toBe(true)
    // Stream 1 goes on past the limit (the window lets 64 KiB through): reset.
    for (let i = 0; i < 4; i++) await frames.send(F.frame(F.DATA, 0, 1, Buffer.alloc(16_000)))
    expect(await frames.until(() => frames.reset(1) !== null)).toBe(true)
    expect(frames.reset(1)).toBe(F.NO_ERROR)
    // Stream 3 ends its small body: drained, its stream closed without a reset.
    for (let i = 0; i < 5; i++) await frames.send(F.frame(F.DATA, i === 4 ? F.END_STREAM : 0, 3, Buffer.alloc(1_000)))
    await sleep(50)
    expect(frames.reset(3)).toBeNull()
    // Every stream closed: close() does not wait.
    const started = Date.now()
    await servers.pop()!.close()
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it("Expect: 100-continue: 100 when the app first reads, none when it answers without reading", async () => {
    const server = await serve((environ, startResponse) =>
      environ["PATH_INFO"] === "/read" ? echo(environ, startResponse) : hello(environ, startResponse)
    )
    const session = connect(server.url)
    const continued = await new Promise<{ continued: boolean; body: string }>((resolve) => {
      const stream = session.request({ ":path": "/read", ":method": "POST", expect: "100-continue" }, { endStream: false })
      let continued = false
      stream.on("continue", () => {
        continued = true
        stream.end("the body")
      })
      let body = ""
      stream.setEncoding("utf8")
      stream.on("data", (chunk: string) => (body += chunk))
      stream.on("close", () => resolve({ continued, body }))
    })
    expect(continued).toEqual({ continued: true, body: "the body" })
    const unread = await new Promise<{ continued: boolean; status: unknown }>((resolve) => {
      const stream = session.request({ ":path": "/skip", ":method": "POST", expect: "100-continue" }, { endStream: false })
      let continued = false
      let status: unknown
      stream.on("continue", () => (continued = true))
      stream.on("response", (head) => (status = head[":status"]))
      stream.on("error", () => {})
      stream.resume()
      stream.on("close", () => resolve({ continued, status }))
    })
    expect(unread).toEqual({ continued: false, status: 200 })
  })

  it("an expectation other than 100-continue gets 417 and no app runs; the session goes on", async () => {
    let calls = 0
    const server = await serve((environ, startResponse) => {
      calls++
      return hello(environ, startResponse)
    })
    const session = connect(server.url)
    const refused = await request(session, { ":path": "/", ":method": "POST", expect: "something-else" })
    expect(refused.status).toBe(417)
    expect(calls).toBe(0)
    const next = await request(session, { ":path": "/" })
    expect({ status: next.status, body: next.body.toString("latin1") }).toEqual({ status: 200, body: "Hello world!\n" })
    expect(calls).toBe(1)
  })

  it("OPTIONS * is answered by the server; CONNECT gets 501 (one line)", async () => {
    let calls = 0
    const server = await serve((environ, startResponse) => {
      calls++
      return hello(environ, startResponse)
    })
    const session = connect(server.url)
    const asterisk = await request(session, { ":method": "OPTIONS", ":path": "*" })
    expect(asterisk.status).toBe(200)
    const tunnel = await new Promise<number | undefined>((resolve) => {
      const stream = session.request({ ":method": "CONNECT", ":authority": "example.com:443" })
      let status: number | undefined
      stream.on("response", (head) => (status = head[":status"] as number))
      stream.on("error", () => {})
      stream.resume()
      stream.on("close", () => resolve(status))
    })
    expect(tunnel).toBe(501)
    expect(calls).toBe(0)
    expect(logLines()).toEqual([expect.stringMatching(/code 501, message Not Implemented \(CONNECT example\.com:443\)$/)])
  })
})

describe("HTTP/2: the response", () => {
  it("the app's headers go out in lower case, several Set-Cookie stay several; no reason phrase, and no warning about it", async () => {
    const warnings: Array<string> = []
    const onWarning = (warning: Error): void => {
      warnings.push(warning.message)
    }
    process.on("warning", onWarning)
    try {
      const server = await serve((_environ, startResponse) => {
        startResponse("299 Quite Fine Thanks", [["Content-Type", "text/plain"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["X-Mixed-Case", "V"]])
        return [bytes("ok")]
      })
      const got = await request(connect(server.url), {})
      expect(got.status).toBe(299)
      expect(got.headers["set-cookie"]).toEqual(["a=1", "b=2"])
      expect(got.headers["x-mixed-case"]).toBe("V")
      expect(got.headers["content-length"]).toBe("2")
      expect(got.headers["server"]).toMatch(/^effect-wsgi\/0\.1\.0 Node\.js\//)
      expect(got.headers["date"]).toMatch(/GMT$/)
      expect(got.body.toString()).toBe("ok")
      await sleep(10)
      expect(warnings.filter((text) => /HTTP\/2|status message/i.test(text))).toEqual([])
    } finally {
      process.off("warning", onWarning)
    }
  })

  it("HEAD gets the head and no body; 204 and 304 get no content-length", async () => {
    const server = await serve((environ, startResponse) => {
      const path = environ["PATH_INFO"]
      startResponse(path === "/204" ? "204 No Content" : path === "/304" ? "304 Not Modified" : "200 OK", path === "/" ? [["Content-Type", "text/plain"]] : [])
      return path === "/" ? [bytes("body bytes")] : []
    })
    const session = connect(server.url)
    const head = await request(session, { ":method": "HEAD" })
    expect(head.status).toBe(200)
    expect(head.body.length).toBe(0)
    const empty = await request(session, { ":path": "/204" })
    expect(empty.status).toBe(204)
    expect(empty.headers["content-length"]).toBeUndefined()
    expect((await request(session, { ":path": "/304" })).headers["content-length"]).toBeUndefined()
  })

  it("a hop-by-hop header from the app is refused by startResponse (500, as over HTTP/1.1); the session goes on", async () => {
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", environ["PATH_INFO"] === "/bad" ? [["Connection", "close"]] : [["Content-Type", "text/plain"]])
      return [bytes("x")]
    }, {}, false)
    const session = connect(server.url)
    expect((await request(session, { ":path": "/bad" })).status).toBe(500)
    expect(errors.text()).toMatch(/Hop-by-hop header, 'Connection: close', not allowed/)
    expect((await request(session, { ":path": "/ok" })).status).toBe(200)
  })

  it("a body shorter than its Content-Length is not taken for a whole response; a longer one is cut to it", async () => {
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "10"]])
      return [bytes(environ["PATH_INFO"] === "/short" ? "12345" : "1234567890abc")]
    }, {}, false)
    const session = connect(server.url)
    const short = await request(session, { ":path": "/short" })
    expect(short.error ?? short.rstCode).toBeTruthy()
    const long = await request(session, { ":path": "/long" })
    expect(long.status).toBe(200)
    expect(long.body.toString()).toBe("1234567890")
    expect(long.error).toBeUndefined()
    expect(errors.text()).toMatch(/GET \/short: .*5/)
    expect((await request(session, { ":path": "/long" })).status).toBe(200)
  })

  it("an app that fails after its headers: what it wrote, then RST_STREAM (INTERNAL_ERROR); the other streams go on", async () => {
    const server = await serve((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return (async function*() {
        yield bytes("first part;")
        await sleep(20)
        throw new Error("boom after the head")
      })()
    })
    const session = connect(server.url)
    const got = await request(session, {})
    expect(got.status).toBe(200)
    expect(got.body.toString()).toBe("first part;")
    expect(got.rstCode).toBe(2)
    expect(errors.text()).toMatch(/boom after the head/)
    expect(session.destroyed).toBe(false)
  })

  it("connection-specific headers are dropped before node:http2 sees them (it would throw)", async () => {
    // A bare node:http2 server with the gateway's response class: the core never lets an
    // app send these, only a replaced step could, so they are tested on the class itself.
    const bare = createH2cServer({ Http2ServerResponse: StreamResponse as unknown as typeof Http2ServerResponse })
    bare.on("request", (_request: Http2ServerRequest, response: Http2ServerResponse) => {
      ;(response as unknown as StreamResponse).writeHead(200, "OK", [
        "Connection", "close", "Keep-Alive", "5", "Transfer-Encoding", "chunked", "Upgrade", "h2c",
        "Proxy-Connection", "x", "TE", "gzip", "X-Kept", "1"
      ])
      response.end("fine")
    })
    await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve))
    try {
      const port = (bare.address() as { port: number }).port
      const got = await request(connect(`http://127.0.0.1:${port}`), {})
      expect(got.status).toBe(200)
      expect(got.body.toString()).toBe("fine")
      expect(Object.keys(got.headers).filter((name) => !name.startsWith(":")).sort()).toEqual(["date", "x-kept"])
    } finally {
      for (const client of clients.splice(0)) client.destroy()
      await new Promise((resolve) => bare.close(resolve))
    }
  })

  it("the access log line names HTTP/2.0", async () => {
    const server = await serve(hello)
    await request(connect(server.url), { ":path": "/x?y=1" })
    await until(() => access.length === 1)
    expect(access[0]).toMatch(/^127\.0\.0\.1 - - \[.+\] "GET \/x\?y=1 HTTP\/2\.0" 200 13$/)
  })

  it("the validator finds nothing to say about an HTTP/2 environ or response", async () => {
    const server = await serve(validator(async (environ, startResponse) => {
      const body = await (environ["wsgi.input"] as InputStream).read()
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [body.length === 0 ? bytes("empty") : body]
    }))
    const session = connect(server.url)
    expect((await request(session, {})).body.toString()).toBe("empty")
    expect((await request(session, { ":method": "POST" }, "posted")).body.toString()).toBe("posted")
    expect(errors.text()).toBe("")
  })
})

describe("HTTP/2 over TLS: h2 by ALPN, HTTP/1.1 on the same port", () => {
  it("serves h2 to an h2 client and HTTP/1.1 to one that does not ask for it, with the same environ rules", async () => {
    const server = await serveTls(environDump)
    expect(server.url).toBe(`https://127.0.0.1:${server.port}/`)
    const session = connect(server.url, true)
    const h2 = environOf(await request(session, { ":path": "/two" }))
    expect((session.socket as unknown as { alpnProtocol: string }).alpnProtocol).toBe("h2")
    expect(h2).toMatchObject({ SERVER_PROTOCOL: "HTTP/2.0", HTTPS: "on", "wsgi.url_scheme": "https", PATH_INFO: "/two" })
    const h1 = await new Promise<{ status: number | undefined; body: string; protocol: string | false | null }>((resolve, reject) => {
      const req = httpsRequest({ host: "127.0.0.1", port: server.port, path: "/one", ca: cert }, (response) => {
        const protocol = (response.socket as unknown as { alpnProtocol: string | false | null }).alpnProtocol
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => (body += chunk))
        response.on("end", () => resolve({ status: response.statusCode, body, protocol }))
      })
      req.on("error", reject)
      req.end()
    })
    expect(h1.status).toBe(200)
    expect(h1.protocol).toBe(false)
    expect(JSON.parse(h1.body)).toMatchObject({ SERVER_PROTOCOL: "HTTP/1.1", HTTPS: "on", "wsgi.url_scheme": "https", PATH_INFO: "/one" })
    expect(errors.text()).toBe("")
  })

  it("HTTP/1.1 beside h2 keeps its own rules: a request without Host is refused (400)", async () => {
    const server = await serveTls(hello)
    const { connect: tlsConnect } = await import("node:tls")
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: "127.0.0.1", port: server.port, ca: cert, ALPNProtocols: ["http/1.1"] }, () => {
        socket.write("GET / HTTP/1.1\r\n\r\n")
      })
      let text = ""
      socket.setEncoding("latin1")
      socket.on("data", (chunk: string) => {
        text += chunk
        if (text.includes("\r\n\r\n")) {
          socket.destroy()
          resolve(text)
        }
      })
      socket.on("error", reject)
    })
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
  })

  it("close(): an idle HTTP/1.1 keep-alive connection beside h2 is closed at once, a plain-HTTP request gets the TLS port's 400", async () => {
    const server = await serveTls(hello)
    const { Agent } = await import("node:https")
    const agent = new Agent({ keepAlive: true, ca: cert })
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpsRequest({ host: "127.0.0.1", port: server.port, path: "/", agent }, (response) => {
        response.resume()
        response.on("end", () => resolve(response.statusCode))
      })
      req.on("error", reject)
      req.end()
    })
    expect(status).toBe(200)
    const { connect: netConnect } = await import("node:net")
    const plain = await new Promise<string>((resolve) => {
      const socket = netConnect(server.port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
      let text = ""
      socket.setEncoding("latin1")
      socket.on("data", (chunk: string) => (text += chunk))
      socket.on("close", () => resolve(text))
      socket.on("error", () => {})
    })
    expect(plain).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    const started = Date.now()
    await servers.pop()!.close()
    expect(Date.now() - started).toBeLessThan(1_000)
    agent.destroy()
  })

  it("refuses contradictory options", async () => {
    await expect(makeServer("127.0.0.1", 0, hello, { http2: true })).rejects.toThrow(/needs `tls`/)
    await expect(makeServer("127.0.0.1", 0, hello, { h2c: true, tls: { cert, key } })).rejects.toThrow(/h2c/)
    await expect(makeServer("127.0.0.1", 0, hello, { h2c: true, http2: true } as Http2ServerOptions)).rejects.toThrow(/exclude/)
  })
})

describe("HTTP/2: timeouts and graceful close", () => {
  it("close(): GOAWAY to the session, the stream in flight finishes, no new stream is served, then close resolves", async () => {
    const gate = deferred()
    let calls = 0
    const server = await serve(async (environ, startResponse) => {
      calls++
      if (environ["PATH_INFO"] === "/slow") await gate.promise
      return hello(environ, startResponse)
    })
    const session = connect(server.url)
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)))
    const slow = request(session, { ":path": "/slow" })
    await until(() => calls === 1)
    const closed = servers.pop()!.close()
    expect(await goaway).toBe(0)
    const later = await request(session, { ":path": "/later" }).catch((error: Error) => ({ status: undefined, error: error.message }))
    expect(later.status).toBeUndefined()
    let done = false
    void closed.then(() => (done = true))
    await sleep(50)
    expect(done).toBe(false)
    gate.resolve()
    const got = await slow
    expect(got.status).toBe(200)
    expect(got.body.toString()).toBe("Hello world!\n")
    await closed
    expect(calls).toBe(1)
  })

  it("close(): a stream that will not finish is cut after closeTimeout", async () => {
    let closes = 0
    const server = await serve((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return Object.assign(
        (async function*() {
          yield bytes("x")
          // Long past closeTimeout: the next write finds the stream cut.
          await sleep(1_000)
          yield bytes("y")
        })(),
        { close: () => void closes++ }
      )
    }, { closeTimeout: 200 })
    const session = connect(server.url)
    const got = request(session, {})
    await sleep(50)
    const started = Date.now()
    await servers.pop()!.close()
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect((await got).body.toString()).toBe("x")
    await until(() => closes === 1)
  })

  it("keepAliveTimeout closes an idle session (GOAWAY), not one whose stream waits on its app", async () => {
    const server = await serve(async (environ, startResponse) => {
      if (environ["PATH_INFO"] === "/slow") await sleep(600)
      return hello(environ, startResponse)
    }, { keepAliveTimeout: 200 })
    const busy = connect(server.url)
    const slow = request(busy, { ":path": "/slow" })
    const idle = connect(server.url)
    expect((await request(idle, {})).status).toBe(200)
    const started = Date.now()
    await new Promise((resolve) => idle.once("close", resolve))
    expect(Date.now() - started).toBeLessThan(1_500)
    expect((await slow).status).toBe(200)
  })

  it("requestTimeout cuts a stream whose body does not come in time; the app sees a client gone; the session goes on", async () => {
    const failures: Array<string> = []
    const server = await serve(async (environ, startResponse) => {
      try {
        const body = await (environ["wsgi.input"] as InputStream).read()
        startResponse("200 OK", [["Content-Type", "text/plain"]])
        return [body]
      } catch (error) {
        failures.push((error as { _tag?: string })._tag ?? String(error))
        throw error
      }
    }, { requestTimeout: 200 })
    const session = connect(server.url)
    const stream = session.request({ ":path": "/", ":method": "POST" }, { endStream: false })
    stream.write("a little, then nothing")
    stream.on("error", () => {})
    stream.resume()
    await new Promise((resolve) => stream.on("close", resolve))
    expect(stream.rstCode).toBe(2)
    await until(() => failures.length === 1)
    expect(failures).toEqual(["ClientDisconnected"])
    expect((await request(session, { ":method": "POST" }, "quick")).body.toString()).toBe("quick")
    // A client that left is not an error of the app's: nothing logged.
    expect(errors.text()).toBe("")
  })

  it("responseTimeout: 503 when nothing went out, the stream cut when the response had started", async () => {
    const server = await serve(async (environ, startResponse) => {
      if (environ["PATH_INFO"] === "/nothing") await sleep(2_000)
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return (async function*() {
        yield bytes("started")
        await sleep(2_000)
      })()
    }, { responseTimeout: 200 })
    const session = connect(server.url)
    const [nothing, started] = await Promise.all([request(session, { ":path": "/nothing" }), request(session, { ":path": "/started" })])
    expect(nothing.status).toBe(503)
    expect(started.status).toBe(200)
    expect(started.body.toString()).toBe("started")
    expect(started.rstCode).toBe(2)
    expect(logLines().filter((line) => /code 503/.test(line))).toHaveLength(2)
    expect((await request(session, { ":path": "/x" })).body.toString()).toBe("started")
  })
})

// --- 2. Independent streams, flow control -----------------------------------------------

describe("HTTP/2: streams are independent", () => {
  it("a stream whose app waits, and one whose app fails, do not hold another on the same session", async () => {
    const gate = deferred()
    const server = await serve(async (environ, startResponse) => {
      const path = environ["PATH_INFO"]
      if (path === "/wait") await gate.promise
      if (path === "/fail") throw new Error("this app fails")
      return hello(environ, startResponse)
    })
    const session = connect(server.url)
    const waiting = request(session, { ":path": "/wait" })
    const failing = await request(session, { ":path": "/fail" })
    expect(failing.status).toBe(500)
    const quick = await request(session, { ":path": "/quick" })
    expect(quick.status).toBe(200)
    let waited = false
    void waiting.then(() => (waited = true))
    await sleep(20)
    expect(waited).toBe(false)
    gate.resolve()
    expect((await waiting).status).toBe(200)
  })

  it("flow control holds a 256 MiB response to a reader that stops, and to one that reads slowly", async () => {
    const total = 256 * 1024 * 1024
    const chunk = Buffer.alloc(64 * 1024, 120)
    let produced = 0
    const server = await serve((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(total)]])
      return (async function*() {
        while (produced < total) {
          produced += chunk.length
          yield chunk
        }
      })()
    })
    const rssBefore = process.memoryUsage().rss
    let rssPeak = rssBefore
    const session = connect(server.url)
    const stream = session.request({ ":path": "/" })
    let received = 0
    let widest = 0
    stream.pause()
    stream.on("data", (data: Buffer) => {
      received += data.length
      widest = Math.max(widest, produced - received)
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss())
    })
    // Stopped: the app gets as far as the flow-control windows and a chunk or two.
    await sleep(300)
    const whileStopped = produced
    expect(whileStopped).toBeLessThan(1024 * 1024)
    // Slow: a little at a time.
    for (let i = 0; i < 20; i++) {
      stream.resume()
      await sleep(5)
      stream.pause()
      await sleep(5)
    }
    // Then all of it.
    stream.resume()
    await new Promise((resolve) => stream.on("end", resolve))
    expect(received).toBe(total)
    expect(widest).toBeLessThan(4 * 1024 * 1024)
    const growth = (rssPeak - rssBefore) / 1024 / 1024
    console.info(`[Http2.test.ts] 256 MiB to a slow reader: ${(whileStopped / 1024).toFixed(0)} KiB produced while it read nothing, at most ${(widest / 1024).toFixed(0)} KiB ahead of it, RSS growth ${growth.toFixed(1)} MiB (server and client in this process)`)
    expect(growth).toBeLessThan(64)
  }, 60_000)
})

// --- 3. Hardening ------------------------------------------------------------------------

describe("HTTP/2: hostile clients", () => {
  it("rapid reset (CVE-2023-44487): the session is shut (GOAWAY) past nghttp2's limit, every app called is closed once, the server serves on", async () => {
    let calls = 0
    let closes = 0
    const server = await serve((_environ, startResponse) => {
      calls++
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return Object.assign(
        (async function*() {
          await sleep(5)
          yield bytes("x")
        })(),
        { close: () => void closes++ }
      )
    }, { keepAliveTimeout: 300 })
    const attack = await raw(server.port)
    const streams = 5_000
    const frames: Array<Buffer> = []
    for (let i = 0; i < streams; i++) {
      const id = 1 + 2 * i
      frames.push(F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, id, F.requestBlock("/")), F.frame(F.RST_STREAM, 0, id, Buffer.from([0, 0, 0, F.CANCEL])))
    }
    const all = Buffer.concat(frames)
    for (let at = 0; at < all.length && !attack.closed; at += 64 * 1024) {
      await attack.send(all.subarray(at, at + 64 * 1024))
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await attack.until(() => attack.goaway() !== null)).toBe(true)
    // nghttp2's GOAWAY for this is INTERNAL_ERROR; it then reads nothing more, and the
    // idle session is closed by keepAliveTimeout.
    expect(attack.goaway()).toBe(F.INTERNAL_ERROR)
    expect(await attack.until(() => attack.closed, 3_000)).toBe(true)
    expect(calls).toBeLessThan(streams / 2)
    await until(() => closes === calls)
    await sleep(50)
    expect(closes).toBe(calls)
    console.info(`[Http2.test.ts] rapid reset: ${streams} streams opened and reset, ${calls} reached the app (each closed once)`)
    expect((await request(connect(server.url), {})).body.toString()).toBe("x")
  })

  it("a CONTINUATION flood closes the session at once (nghttp2's cap), the server serves on", async () => {
    let calls = 0
    const server = await serve((environ, startResponse) => {
      calls++
      return hello(environ, startResponse)
    })
    const sessionErrors: Array<string> = []
    server.server.on("sessionError", (error: Error) => sessionErrors.push(error.message))
    const flood = await raw(server.port)
    await flood.send(F.frame(F.HEADERS, 0, 1, F.requestBlock("/")))
    const batch = Buffer.concat(Array.from({ length: 100 }, (_, i) => F.frame(F.CONTINUATION, 0, 1, F.literal(`x-h${i}`, "v".repeat(40)))))
    let sent = 0
    while (!flood.closed && sent < 64 * 1024 * 1024) {
      if (!(await flood.send(batch))) break
      sent += batch.length
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await flood.until(() => flood.closed)).toBe(true)
    expect(sent).toBeLessThan(1024 * 1024)
    expect(sessionErrors.join("\n")).toMatch(/CONTINUATION/)
    expect(calls).toBe(0)
    console.info(`[Http2.test.ts] CONTINUATION flood: the session closed after ${sent} bytes were sent`)
    expect((await request(connect(server.url), {})).status).toBe(200)
  })

  it("maxConcurrentStreams: a client never has more apps running than the setting; one that opens more loses its session", async () => {
    let running = 0
    let most = 0
    let closes = 0
    const gate = deferred()
    const server = await serve(async (environ, startResponse) => {
      running++
      most = Math.max(most, running)
      await (environ["PATH_INFO"] === "/gate" ? gate.promise : sleep(30))
      running--
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return Object.assign([bytes("ok")], { close: () => void closes++ })
    }, { maxConcurrentStreams: 5 })
    // node's client keeps to the setting: it queues the streams past it.
    const session = connect(server.url)
    await new Promise((resolve) => session.once("remoteSettings", resolve))
    expect(session.remoteSettings.maxConcurrentStreams).toBe(5)
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => request(session, { ":path": `/${i}` })))
    expect(all.map((got) => got.status)).toEqual(Array(12).fill(200))
    expect(most).toBe(5)
    // A client that opens more than it acknowledged breaks the protocol: nghttp2 ends the
    // session (GOAWAY); the streams it had are reset, their apps closed.
    most = 0
    const closesBefore = closes
    const rude = await raw(server.port)
    await rude.until(() => rude.frames.some((f) => f.type === F.SETTINGS && (f.flags & F.ACK) === 0))
    await sleep(20)
    for (let i = 0; i < 8; i++) await rude.send(F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, 1 + 2 * i, F.requestBlock("/gate")))
    expect(await rude.until(() => rude.goaway() !== null)).toBe(true)
    expect(most).toBeLessThanOrEqual(5)
    gate.resolve()
    await until(() => closes - closesBefore === most)
    expect((await request(connect(server.url), {})).status).toBe(200)
  })

  it("header lists over maxHeaderSize: the stream is refused (ENHANCE_YOUR_CALM), or 431 before the client acknowledged the setting; the session goes on", async () => {
    let calls = 0
    const server = await serve((environ, startResponse) => {
      calls++
      return hello(environ, startResponse)
    })
    const session = connect(server.url)
    await new Promise((resolve) => session.once("remoteSettings", resolve))
    expect(session.remoteSettings.maxHeaderListSize).toBe(16 * 1024)
    const refused = await request(session, { "x-big": "a".repeat(20_000) })
    expect(refused.status).toBeUndefined()
    expect(refused.rstCode).toBe(F.ENHANCE_YOUR_CALM)
    expect((await request(session, {})).status).toBe(200)
    expect(calls).toBe(1)
    // Before the SETTINGS are acknowledged nghttp2 holds to its default (64 KiB): the server
    // measures the list itself.
    const early = await raw(server.port)
    const block = F.requestBlock("/", "GET", [["x-big", "a".repeat(20_000)]])
    await early.send(Buffer.concat([
      F.frame(F.HEADERS, F.END_STREAM, 1, block.subarray(0, 16_000)),
      F.frame(F.CONTINUATION, F.END_HEADERS, 1, block.subarray(16_000))
    ]))
    expect(await early.until(() => early.answered(1))).toBe(true)
    expect(early.reset(1)).toBeNull()
    expect(calls).toBe(1)
    expect(logLines()).toEqual([expect.stringMatching(/code 431, message Request Header Fields Too Large \(\d+ bytes of headers\)$/)])
  })
})

// --- Units --------------------------------------------------------------------------------

// Compile time only (tsc checks this file): `server` is typed by the options given.
const typing = (dynamic: Http2ServerOptions): void => {
  const plain: Promise<WSGIServer<import("node:http").Server>> = makeServer("", 0, hello, { maxBodySize: 1 })
  const cleartext: Promise<WSGIServer<import("node:http2").Http2Server>> = makeServer("", 0, hello, { h2c: true })
  const secure: Promise<WSGIServer<import("node:http2").Http2SecureServer>> = makeServer("", 0, hello, { http2: true, tls: { cert, key } })
  const either: Promise<WSGIServer<NodeServer>> = makeServer("", 0, hello, dynamic)
  // @ts-expect-error: options decided at run time do not promise a node:http server
  const wrong: Promise<WSGIServer<import("node:http").Server>> = makeServer("", 0, hello, dynamic)
  void [plain, cleartext, secure, either, wrong]
}
void typing

describe("http2Exchange: the request headers the environ is built from", () => {
  it("drops pseudo-headers, joins cookie crumbs, puts :authority as host when there is none", () => {
    expect(requestHeaders([":method", "GET", ":path", "/", ":authority", "a.example", "cookie", "a=1", "x", "1", "cookie", "b=2"])).toEqual([
      "host", "a.example", "cookie", "a=1; b=2", "x", "1"
    ])
    expect(requestHeaders([":authority", "a.example", "host", "b.example"])).toEqual(["host", "b.example"])
    expect(requestHeaders([":method", "GET"])).toEqual([])
    expect(headerListSize([":path", "/", "ab", "cd"])).toBe(5 + 1 + 32 + 4 + 32)
  })
})

// --- 4. Real clients ----------------------------------------------------------------------

const curl = which("curl")
const curlHttp2 = curl !== null && /\bHTTP2\b/.test(execFileSync(curl, ["-V"], { encoding: "utf8" }))
const nghttp = which("nghttp")
const missing = [
  ...(curlHttp2 ? [] : [curl === null ? "no curl binary" : "curl without HTTP/2 (`curl -V` lists no HTTP2)"]),
  ...(nghttp === null ? ["no nghttp binary (`apt-get install -y nghttp2-client`)"] : [])
]
if (missing.length > 0) {
  if (ciSet) {
    it("needs curl with HTTP/2 and nghttp, which CI must provide", () => {
      throw new Error(`CI is set but: ${missing.join("; ")}`)
    })
  } else console.warn(`[test/Http2.test.ts] real-client tests skipped: ${missing.join("; ")}`)
}

describe.skipIf(!curlHttp2)("HTTP/2 with curl", () => {
  it("curl --http2-prior-knowledge (h2c)", async () => {
    const server = await serve(environDump)
    const result = await run(curl!, ["-s", "-i", "--http2-prior-knowledge", `${server.url}p?q=1`])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^HTTP\/2 200 ?\r\n/)
    const environ = JSON.parse(result.stdout.slice(result.stdout.indexOf("\r\n\r\n") + 4)) as Environ
    expect(environ).toMatchObject({ SERVER_PROTOCOL: "HTTP/2.0", PATH_INFO: "/p", QUERY_STRING: "q=1", HTTP_HOST: `127.0.0.1:${server.port}` })
  })

  it("curl --http2 over TLS gets h2, --http1.1 gets HTTP/1.1 on the same port; an upload goes through", async () => {
    const server = await serveTls((environ, startResponse) =>
      environ["REQUEST_METHOD"] === "POST" ? echo(environ, startResponse) : environDump(environ, startResponse)
    )
    const ca = join(dir, "server.pem")
    const h2 = await run(curl!, ["-s", "-i", "--http2", "--cacert", ca, server.url])
    expect(h2.stdout).toMatch(/^HTTP\/2 200 ?\r\n/)
    expect(h2.stdout).toMatch(/"SERVER_PROTOCOL":"HTTP\/2\.0"/)
    expect(h2.stdout).toMatch(/"HTTPS":"on"/)
    const h1 = await run(curl!, ["-s", "-i", "--http1.1", "--cacert", ca, server.url])
    expect(h1.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(h1.stdout).toMatch(/"SERVER_PROTOCOL":"HTTP\/1\.1"/)
    const upload = await run(curl!, ["-s", "--http2", "--cacert", ca, "--data-binary", "posted over h2", server.url])
    expect(upload.stdout).toBe("posted over h2")
  })
})

describe.skipIf(nghttp === null)("HTTP/2 with nghttp", () => {
  it("nghttp over h2c and over TLS", async () => {
    const plain = await serve(environDump)
    const overH2c = await run(nghttp!, [`${plain.url}n?x=1`])
    expect(overH2c.code).toBe(0)
    expect(JSON.parse(overH2c.stdout)).toMatchObject({ SERVER_PROTOCOL: "HTTP/2.0", PATH_INFO: "/n", QUERY_STRING: "x=1" })
    const secure = await serveTls(environDump)
    const overTls = await run(nghttp!, [`${secure.url}s`])
    expect(overTls.code).toBe(0)
    expect(JSON.parse(overTls.stdout)).toMatchObject({ SERVER_PROTOCOL: "HTTP/2.0", PATH_INFO: "/s", HTTPS: "on" })
    const file = join(dir, "upload.bin")
    writeFileSync(file, Buffer.alloc(100_000, 1))
    const posting = await serve(echo)
    const upload = await run(nghttp!, ["-d", file, posting.url])
    expect(upload.code).toBe(0)
    expect(upload.stdout.length).toBe(100_000)
  })
})
