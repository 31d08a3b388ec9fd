/**
 * Differential server tests: python3's `wsgiref.simple_server` (simple_server_app.py) and
 * `makeServer` serve twin apps; each case sends both the same raw request and compares
 * what comes back.
 *
 * Compared: the status code and reason phrase, the headers in order (name, case and
 * value) except Date, Server, Connection, Keep-Alive and Transfer-Encoding, and the body
 * (de-chunked). Not compared: the HTTP version of the status line (CPython's simple
 * server answers HTTP/1.0, ours HTTP/1.1), and the body of a HEAD response (CPython 3.11
 * sends one; PEP 3333 gateways here never do, spec §3).
 *
 * The environ-dumping app returns the CGI variables; all must be equal except
 * SERVER_SOFTWARE (a different product), SERVER_NAME (CPython resolves the bound host with
 * `getfqdn`, "localhost"; ours is the host as given) and SERVER_PORT (each server has its
 * own port). HTTP_HOST is equal because the requests send the same Host header.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ErrorLog } from "../../src/ErrorLog.js"
import type { Application, InputStream } from "../../src/Protocol.js"
import { makeServer, type WSGIServer } from "../../src/Server.js"
import { RawClient } from "../support/rawHttp.js"
import { underTest } from "../support/underTest.js"

const script = fileURLToPath(new URL("./simple_server_app.py", import.meta.url))

// ---------------------------------------------------------------------------------------
// The TypeScript twins of simple_server_app.py

const bytes = (text: string): Buffer => Buffer.from(text, "latin1")
const TEXT: Array<[string, string]> = [["Content-Type", "text/plain"]]

const routes: Record<string, Application> = {
  "/hello": (_environ, startResponse) => {
    startResponse("200 OK", [
      ["Content-Type", "text/plain"],
      ["X-Custom", "A b"],
      ["Set-Cookie", "a=1; Path=/"],
      ["set-cookie", "b=2"]
    ])
    return [bytes("Hello world!\n")]
  },
  "/status": (_environ, startResponse) => {
    startResponse("299 Quite Fine Thanks", TEXT.map(([name, value]) => [name, value]))
    return [bytes("fine")]
  },
  "/echo": async (environ, startResponse) => {
    const length = Number(environ["CONTENT_LENGTH"] || 0)
    const body = await (environ["wsgi.input"] as InputStream).read(length)
    startResponse("201 Created", [["Content-Type", "application/octet-stream"]])
    return [bytes(`${environ["REQUEST_METHOD"] as string} `), body]
  },
  "/stream": (_environ, startResponse) => {
    startResponse("200 OK", TEXT.map(([name, value]) => [name, value]))
    return (function*() {
      yield bytes("one, ")
      yield bytes("two, ")
      yield bytes("three")
    })()
  },
  "/error": () => {
    throw new RangeError("deliberate")
  }
}

/** The CGI variables: string values, not the wsgi.* keys (our servers copy no process environment). */
const dump: Application = (environ, startResponse) => {
  const cgi: Record<string, string> = {}
  for (const key of Object.keys(environ).sort()) {
    const value = environ[key]
    if (typeof value === "string" && !key.startsWith("wsgi.")) cgi[key] = value
  }
  startResponse("200 OK", [["Content-Type", "application/json"]])
  // ASCII only, as Python's json.dumps: characters past 0x7e as \u escapes.
  const json = JSON.stringify(cgi).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
  return [Buffer.from(json, "latin1")]
}

const app: Application = (environ, startResponse) => {
  const path = environ["PATH_INFO"] as string
  if (path.startsWith("/environ")) return dump(environ, startResponse)
  return (routes[path] ?? routes["/hello"]!)(environ, startResponse)
}

// ---------------------------------------------------------------------------------------
// The two servers

let python: ChildProcess | undefined
let pythonPort = 0
let ours: WSGIServer | undefined

const startPython = (): Promise<number> =>
  new Promise((resolve, reject) => {
    // The interpreter itself, not a version-manager shim that needs HOME and friends.
    const executable = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim()
    const child = spawn(executable, ["-I", "-X", "utf8", script], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LC_ALL: "C.UTF-8" }
    })
    python = child
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`python3 exited (${code}) before printing its port`)))
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(Number(line)))
  })

beforeAll(async () => {
  const [port, server] = await Promise.all([
    startPython(),
    makeServer("127.0.0.1", 0, underTest(app), { errorLog: ErrorLog.memory() })
  ])
  pythonPort = port
  ours = server
})

afterAll(async () => {
  python?.kill()
  await ours?.close()
})

// ---------------------------------------------------------------------------------------
// Sending and comparing

interface Exchange {
  readonly code: number
  readonly reason: string
  readonly headers: Array<[string, string]>
  readonly body: string
}

const IGNORED = new Set(["date", "server", "connection", "keep-alive", "transfer-encoding"])

/** Send `request` on a new connection, read to the close, parse the one response. */
const exchange = async (port: number, request: string): Promise<Exchange> => {
  const client = await RawClient.connect(port)
  client.send(request)
  const raw = await client.end()
  const headEnd = raw.indexOf("\r\n\r\n")
  expect(headEnd).toBeGreaterThan(0)
  const [statusLine, ...lines] = raw.subarray(0, headEnd).toString("latin1").split("\r\n")
  const match = /^HTTP\/1\.[01] (\d{3}) (.*)$/.exec(statusLine!)!
  const headers = lines.map((line): [string, string] => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()])
  let body = raw.subarray(headEnd + 4)
  if (headers.some(([name, value]) => name.toLowerCase() === "transfer-encoding" && value === "chunked")) {
    const parts: Array<Buffer> = []
    let offset = 0
    for (;;) {
      const lineEnd = body.indexOf("\r\n", offset)
      const size = parseInt(body.subarray(offset, lineEnd).toString("latin1"), 16)
      if (size === 0) break
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size))
      offset = lineEnd + 2 + size + 2
    }
    body = Buffer.concat(parts)
  }
  return {
    code: Number(match[1]),
    reason: match[2]!,
    headers: headers.filter(([name]) => !IGNORED.has(name.toLowerCase())),
    body: body.toString("latin1")
  }
}

/** The same request to both servers. */
const both = async (request: string): Promise<{ python: Exchange; ours: Exchange }> => {
  const [fromPython, fromOurs] = await Promise.all([exchange(pythonPort, request), exchange(ours!.port, request)])
  return { python: fromPython, ours: fromOurs }
}

const request = (method: string, target: string, extra = "", body = ""): string =>
  `${method} ${target} HTTP/1.1\r\nHost: example.test\r\nUser-Agent: differential\r\nConnection: close\r\n${extra}\r\n${body}`

describe("makeServer against python3's wsgiref.simple_server", () => {
  it.each([
    ["GET with repeated Set-Cookie headers", request("GET", "/hello")],
    ["a status with its own reason phrase", request("GET", "/status")],
    ["POST with a body", request("POST", "/echo", "Content-Type: application/x-test\r\nContent-Length: 11\r\n", "hello world")],
    ["a body of several chunks and no Content-Length", request("GET", "/stream")],
    ["an app error before the headers", request("GET", "/error")],
    ["an escaped path and a query string", request("GET", "/hello/caf%C3%A9%20x?q=%41&r=1")]
  ])("%s: same status, headers and body", async (_name, raw) => {
    const { python: expected, ours: actual } = await both(raw)
    expect(actual).toEqual(expected)
  })

  it("HEAD: same status and headers; no body from us (CPython 3.11 sends one)", async () => {
    const { python: expected, ours: actual } = await both(request("HEAD", "/hello"))
    expect({ ...actual, body: undefined }).toEqual({ ...expected, body: undefined })
    expect(expected.body).toBe("Hello world!\n")
    expect(actual.body).toBe("")
  })

  it.each([
    ["a plain GET", request("GET", "/environ")],
    ["an escaped path and a query string", request("GET", "/environ/caf%E9/%C3%A9/%7Euser%20x/%zz;p?q=%41&r=%2F&s")],
    ["POST with a body and repeated headers", request(
      "POST",
      "/environ/post",
      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\nX-Many: one\r\nx-many:  two \r\nAccept: */*\r\n",
      "a=b"
    )]
  ])("the environ of %s: same CGI variables", async (_name, raw) => {
    const { python: fromPython, ours: fromOurs } = await both(raw)
    const cgi = (exchanged: Exchange): Record<string, string> => {
      const variables = JSON.parse(exchanged.body) as Record<string, string>
      for (const key of ["SERVER_SOFTWARE", "SERVER_NAME", "SERVER_PORT"]) {
        expect(variables[key]).toBeTypeOf("string")
        delete variables[key]
      }
      return variables
    }
    const expected = cgi(fromPython)
    expect(cgi(fromOurs)).toEqual(expected)
    // The comparison covers the request's own variables, not only the constant ones.
    expect(Object.keys(expected)).toContain("HTTP_USER_AGENT")
  })
})
