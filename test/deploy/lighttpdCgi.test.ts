/**
 * `CGIHandler` under a real CGI server: Debian's lighttpd (mod_cgi) runs
 * test/deploy/fixtures/cgiApp.mjs, which is `new CGIHandler().run(app)` as docs/guide.md
 * shows, and the tests talk to lighttpd over HTTP (node's fetch, a raw socket, and curl).
 * They check the CGI variables the app sees (a query string, a path with %-escapes, a header
 * that is not UTF-8), a POST body echoed byte for byte, a response of several delayed chunks
 * (buffered by lighttpd by default, streamed where `server.stream-response-body = 2`), an app
 * that fails before its headers (a 500 from CGIHandler's error page, the exception on the
 * script's stderr, which lighttpd writes to its `server.breakagelog`) and HEAD.
 *
 * lighttpd gives a CGI script no PATH and no arguments, so the test writes one small shell
 * wrapper per app that execs node, with absolute paths, on the fixture. The fixture loads
 * dist/ as built (npm test builds it), or src/ through tsx when there is no build.
 *
 * Skipped, with the reason printed, only when there is no lighttpd binary
 * (`apt-get install -y lighttpd`), and the curl checks when there is no curl; with CI set,
 * a missing binary is a failing test instead (.ci/run installs both).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, beforeAll, describe, it } from "vitest"
import { accepting, findBinary, freePort, reportMissing, waitExit } from "../support/tools.js"

const root = join(import.meta.dirname, "..", "..")
const fixture = join(import.meta.dirname, "fixtures", "cgiApp.mjs")
const file = "test/deploy/lighttpdCgi.test.ts"

const lighttpd = findBinary("lighttpd", ["/usr/sbin/lighttpd", "/usr/local/sbin/lighttpd"])
const curl = findBinary("curl", ["/usr/bin/curl", "/usr/local/bin/curl"])
const noLighttpd = "no lighttpd binary (on PATH or in /usr/sbin); install it with `apt-get install -y lighttpd`"
const noCurl = "no curl binary (on PATH or in /usr/bin); install it with `apt-get install -y curl`"

/** A shell string literal. */
const quote = (text: string): string => `'${text.split("'").join(`'\\''`)}'`

/** The whole exchange as bytes: send `request` and read until lighttpd closes. */
const rawExchange = (port: number, request: string): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.once("end", () => resolve(Buffer.concat(chunks)))
    socket.once("error", reject)
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer within 10s")))
    socket.write(request, "latin1")
  })

/** Split a raw response into its header block (lower-cased names) and what followed it. */
const parseRaw = (raw: Buffer) => {
  const end = raw.indexOf("\r\n\r\n")
  if (end === -1) throw new Error(`no end of headers in ${JSON.stringify(raw.toString("latin1"))}`)
  const [statusLine, ...lines] = raw.subarray(0, end).toString("latin1").split("\r\n")
  const headers = new Map<string, string>()
  for (const line of lines) {
    const colon = line.indexOf(":")
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  return { statusLine: statusLine!, headers, rest: raw.subarray(end + 4) }
}

/** Run curl; resolve with stdout as bytes (curl's own failures reject). */
const runCurl = (args: ReadonlyArray<string>): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    execFile(curl!, ["-sS", "--max-time", "15", ...args], { encoding: "buffer", maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`curl ${args.join(" ")}: ${error.message} ${stderr.toString()}`))
      else resolve(stdout)
    })
  })

const APPS = ["env", "echo", "stream", "fail", "hello"] as const
const FAILURE = "lighttpd-cgi-fixture: the app failed before its headers"
const ERROR_PAGE = "A server error occurred.  Please contact the administrator."

reportMissing(lighttpd === null, file, noLighttpd, it)
reportMissing(lighttpd !== null && curl === null, file, `${noCurl} (the curl checks)`, it)

describe.skipIf(lighttpd === null)("CGIHandler under lighttpd (mod_cgi)", { concurrent: true }, () => {
  let dir: string
  let server: ChildProcess
  let port = 0
  let serverLog = ""
  let base = ""

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "effect-wsgi-lighttpd-"))
    const cgiBin = join(dir, "cgi-bin")
    for (const sub of ["cgi-bin", "docroot", "upload"]) mkdirSync(join(dir, sub))
    // The library as built (npm test builds it); from source through tsx when there is no build.
    const built = join(root, "dist", "index.js")
    const node = existsSync(built)
      ? [process.execPath, fixture, built]
      : [process.execPath, "--import", pathToFileURL(join(root, "node_modules", "tsx", "dist", "loader.mjs")).href, fixture, join(root, "src", "index.ts")]
    for (const app of APPS) {
      const script = join(cgiBin, `${app}.cgi`)
      writeFileSync(script, `#!/bin/sh\nexec ${[...node, app].map(quote).join(" ")}\n`)
      chmodSync(script, 0o755)
    }

    port = await freePort()
    base = `http://127.0.0.1:${port}`
    // /cgi-bin/ as lighttpd does it by default (it buffers a CGI response whole, then sends it
    // with a Content-Length); /cgi-stream/ the same scripts with the response streamed.
    writeFileSync(
      join(dir, "lighttpd.conf"),
      `
server.modules = ( "mod_alias", "mod_cgi" )
server.document-root = "${dir}/docroot"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${dir}/error.log"
server.breakagelog = "${dir}/cgi-stderr.log"
server.upload-dirs = ( "${dir}/upload" )
alias.url = ( "/cgi-bin/" => "${cgiBin}/", "/cgi-stream/" => "${cgiBin}/" )
$HTTP["url"] =~ "^/cgi-(bin|stream)/" {
  cgi.assign = ( ".cgi" => "" )
}
$HTTP["url"] =~ "^/cgi-stream/" {
  server.stream-response-body = 2
}
`
    )
    server = spawn(lighttpd!, ["-D", "-f", join(dir, "lighttpd.conf")], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    server.stdout!.on("data", (chunk: Buffer) => (serverLog += chunk.toString()))
    server.stderr!.on("data", (chunk: Buffer) => (serverLog += chunk.toString()))
    const failed = new Promise<never>((_resolve, reject) => {
      server.once("exit", (code) => {
        const errorLog = existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8") : ""
        reject(new Error(`lighttpd exited (${code}): ${serverLog}${errorLog}`))
      })
    })
    failed.catch(() => {})
    await Promise.race([accepting(port), failed])
  }, 30_000)

  afterAll(async () => {
    if (server !== undefined) {
      server.kill("SIGTERM")
      await waitExit(server, 5_000)
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }, 15_000)

  it("GET with a query string and a path: the CGI variables lighttpd set reach the app as native strings", async ({ expect }) => {
    // caf%C3%A9 is é in UTF-8: PATH_INFO holds its two bytes as latin-1 characters (PEP 3333),
    // and a header value that is not UTF-8 at all (0xFF) arrives byte for byte too.
    const res = await fetch(`${base}/cgi-bin/env.cgi/a%20b/caf%C3%A9?x=1&y=%2F&z=caf%C3%A9`, {
      headers: { "X-Test": "caf\u00c3\u00a9 \u00ff" }
    })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("application/json")
    expect(await res.json()).toEqual({
      REQUEST_METHOD: "GET",
      QUERY_STRING: "x=1&y=%2F&z=caf%C3%A9",
      PATH_INFO: "/a b/caf\u00c3\u00a9",
      SCRIPT_NAME: "/cgi-bin/env.cgi",
      CONTENT_LENGTH: "0", // lighttpd sets it on every request
      SERVER_PROTOCOL: "HTTP/1.1",
      GATEWAY_INTERFACE: "CGI/1.1",
      HTTP_HOST: `127.0.0.1:${port}`,
      HTTP_X_TEST: "caf\u00c3\u00a9 \u00ff",
      "wsgi.url_scheme": "http",
      "wsgi.run_once": true,
      "wsgi.multithread": false,
      "wsgi.multiprocess": true
    })
  })

  it("GET with no path info and no query: PATH_INFO is absent, QUERY_STRING empty", async ({ expect }) => {
    const res = await fetch(`${base}/cgi-bin/env.cgi`)
    expect(res.status).toBe(200)
    const seen = (await res.json()) as Record<string, unknown>
    expect(seen).toMatchObject({ REQUEST_METHOD: "GET", QUERY_STRING: "", PATH_INFO: null, SCRIPT_NAME: "/cgi-bin/env.cgi" })
  })

  it("POST: the body comes back byte for byte, with the CONTENT_LENGTH and Status the CGI script used", async ({ expect }) => {
    // Every byte value, then random bytes: 256 KiB, more than one pipe buffer.
    const body = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes((256 << 10) - 256)])
    const res = await fetch(`${base}/cgi-bin/echo.cgi/upload?kind=binary`, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body
    })
    expect(res.status).toBe(201) // from the script's "Status: 201 Created"
    expect(res.headers.get("x-request-method")).toBe("POST")
    expect(res.headers.get("x-content-length")).toBe(String(body.length))
    expect(res.headers.get("x-content-type")).toBe("application/octet-stream")
    expect(res.headers.get("x-read")).toBe(String(body.length))
    expect(res.headers.get("content-length")).toBe(String(body.length))
    expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true)
  })

  it("POST with a chunked request body: lighttpd buffers it and the app sees its CONTENT_LENGTH", async ({ expect }) => {
    const parts = [Buffer.from("first part\r\n"), randomBytes(70_000), Buffer.from("\0last part")]
    const whole = Buffer.concat(parts)
    const res = await fetch(`${base}/cgi-bin/echo.cgi`, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          for (const part of parts) controller.enqueue(part)
          controller.close()
        }
      }),
      duplex: "half"
    } as RequestInit)
    expect(res.status).toBe(201)
    expect(res.headers.get("x-content-length")).toBe(String(whole.length))
    expect(res.headers.get("x-read")).toBe(String(whole.length))
    expect(Buffer.from(await res.arrayBuffer()).equals(whole)).toBe(true)
  })

  const streamBody = [1, 2, 3, 4, 5].map((i) => `chunk ${i} of 5\n`).join("")

  it("chunks yielded with pauses: lighttpd's default buffers them into one response with a Content-Length", async ({ expect }) => {
    const res = await fetch(`${base}/cgi-bin/stream.cgi`)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("text/plain")
    expect(res.headers.get("content-length")).toBe(String(Buffer.byteLength(streamBody)))
    expect(await res.text()).toBe(streamBody)
  })

  it("chunks yielded with pauses, streamed (stream-response-body = 2): each reaches the client as it is written", async ({ expect }) => {
    const res = await fetch(`${base}/cgi-stream/stream.cgi`)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-length")).toBeNull()
    expect(res.headers.get("transfer-encoding")).toBe("chunked")
    const arrivals: Array<{ at: number; bytes: Buffer }> = []
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      arrivals.push({ at: performance.now(), bytes: Buffer.from(chunk) })
    }
    expect(Buffer.concat(arrivals.map((a) => a.bytes)).toString()).toBe(streamBody)
    // The app pauses 150 ms before each of chunks 2..5: had CGIHandler held the output back,
    // everything would arrive at once. Half the 600 ms leaves room for a busy machine.
    expect(arrivals.length).toBeGreaterThanOrEqual(2)
    expect(arrivals.at(-1)!.at - arrivals[0]!.at).toBeGreaterThanOrEqual(300)
    expect(arrivals[0]!.bytes.toString()).toBe("chunk 1 of 5\n")
  })

  it("an app that fails before its headers: the client gets CGIHandler's 500 page, the exception goes to stderr (lighttpd's breakage log)", async ({ expect }) => {
    const res = await fetch(`${base}/cgi-bin/fail.cgi/x?y=1`)
    expect(res.status).toBe(500)
    expect(res.headers.get("content-type")).toBe("text/plain")
    expect(await res.text()).toBe(ERROR_PAGE)
    const log = join(dir, "cgi-stderr.log")
    let text = ""
    for (const deadline = Date.now() + 5_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
      text = existsSync(log) ? readFileSync(log, "utf8") : ""
      if (text.includes(FAILURE)) break
    }
    expect(text).toContain(`Error: ${FAILURE}`)
    expect(text).toContain("cgiApp.mjs") // the stack, down to the app's frame
  })

  it("HEAD: the app sees HEAD, the client gets the status and the headers GET would have, and no body", async ({ expect }) => {
    const get = await fetch(`${base}/cgi-bin/hello.cgi`)
    const getBody = Buffer.from(await get.arrayBuffer())
    expect(getBody.toString()).toBe("hello from CGIHandler\n")
    expect(get.headers.get("x-request-method")).toBe("GET")

    const head = await fetch(`${base}/cgi-bin/hello.cgi`, { method: "HEAD" })
    expect(head.status).toBe(200)
    expect(head.headers.get("x-request-method")).toBe("HEAD")
    expect(head.headers.get("content-type")).toBe("text/plain; charset=utf-8")
    expect(head.headers.get("content-length")).toBe(String(getBody.length))

    // fetch never reads a HEAD body, so look at the bytes on the wire too.
    const raw = parseRaw(await rawExchange(port, `HEAD /cgi-bin/hello.cgi HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`))
    expect(raw.statusLine).toBe("HTTP/1.1 200 OK")
    expect(raw.headers.get("x-request-method")).toBe("HEAD")
    expect(raw.headers.get("content-length")).toBe(String(getBody.length))
    expect(raw.rest.length).toBe(0)
  })

  it("HEAD of a streamed response: no body on the wire either", async ({ expect }) => {
    const raw = parseRaw(await rawExchange(port, `HEAD /cgi-stream/stream.cgi HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`))
    expect(raw.statusLine).toBe("HTTP/1.1 200 OK")
    expect(raw.headers.get("content-type")).toBe("text/plain")
    expect(raw.rest.length).toBe(0)
  })

  describe.skipIf(curl === null)("with curl", () => {
    it("GET with a query string", async ({ expect }) => {
      const out = await runCurl([`${base}/cgi-bin/env.cgi/p/q?a=b&c=%20d`])
      expect(JSON.parse(out.toString("utf8"))).toMatchObject({
        REQUEST_METHOD: "GET",
        QUERY_STRING: "a=b&c=%20d",
        PATH_INFO: "/p/q",
        SCRIPT_NAME: "/cgi-bin/env.cgi"
      })
    })

    it("POST --data-binary from a file: echoed byte for byte", async ({ expect }) => {
      const body = randomBytes(100_000)
      const upload = join(dir, "upload.bin")
      writeFileSync(upload, body)
      const out = await runCurl([
        "-D",
        "-",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        `@${upload}`,
        `${base}/cgi-bin/echo.cgi`
      ])
      const { statusLine, headers, rest } = parseRaw(out)
      expect(statusLine).toBe("HTTP/1.1 201 Created")
      expect(headers.get("x-content-length")).toBe(String(body.length))
      expect(rest.equals(body)).toBe(true)
    })

    it("HEAD (curl -I): status and headers, no body", async ({ expect }) => {
      const out = await runCurl(["-I", `${base}/cgi-bin/hello.cgi`])
      const { statusLine, headers, rest } = parseRaw(out)
      expect(statusLine).toBe("HTTP/1.1 200 OK")
      expect(headers.get("x-request-method")).toBe("HEAD")
      expect(headers.get("content-length")).toBe("22")
      expect(rest.length).toBe(0)
    })

    it("the error page: 500", async ({ expect }) => {
      const out = await runCurl(["-D", "-", `${base}/cgi-bin/fail.cgi`])
      const { statusLine, rest } = parseRaw(out)
      expect(statusLine).toBe("HTTP/1.1 500 Internal Server Error")
      expect(rest.toString()).toBe(ERROR_PAGE)
    })
  })
})
