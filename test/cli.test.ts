import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { type IncomingHttpHeaders, request as httpRequest } from "node:http"
import { type AddressInfo, connect as netConnect, createServer } from "node:net"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { freePort } from "./support/tools.js"

const root = join(import.meta.dirname, "..")
const cli = join(root, "dist", "cli.js")
const fixture = "test/fixtures/cliApp.ts"

interface Running {
  readonly child: ChildProcess
  readonly url: Promise<string>
  readonly exit: Promise<number | null>
  stderr(): string
}

const running: Array<ChildProcess> = []
const tempDirs: Array<string> = []
afterEach(async () => {
  const children = running.splice(0).filter((child) => child.exitCode === null && child.signalCode === null)
  const gone = children.map((child) => new Promise((resolve) => child.once("exit", resolve)))
  for (const child of children) child.kill("SIGKILL")
  await Promise.all(gone)
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const start = (...args: Array<string>): Running => {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  running.push(child)
  let stderr = ""
  const url = new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
      const match = /serving .* on (\S+) \(/.exec(stderr)
      if (match) resolve(match[1]!)
    })
    child.on("exit", () => reject(new Error(`exited before serving:\n${stderr}`)))
  })
  url.catch(() => undefined)
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, url, exit, stderr: () => stderr }
}

describe("effect-wsgi serve", () => {
  it("serves a .ts app file and logs each request", async () => {
    const server = start("serve", fixture, "--port", "0")
    const url = await server.url
    const response = await fetch(`${url}hello`)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe(`pid=${server.child.pid} path=/hello multiprocess=false`)
    await expect.poll(() => server.stderr()).toMatch(/127\.0\.0\.1 - - \[[^\]]+\] "GET \/hello HTTP\/1\.1" 200 \d+/)
    server.child.kill("SIGTERM")
    expect(await server.exit).toBe(0)
  })

  it("lets a request in flight finish on SIGTERM, then exits 0", async () => {
    const server = start("serve", `${fixture}:slow`, "--port", "0", "--quiet")
    const url = await server.url
    const pending = fetch(url).then(async (response) => [response.status, await response.text()])
    await new Promise((resolve) => setTimeout(resolve, 100))
    server.child.kill("SIGTERM")
    expect(await pending).toEqual([200, "slow but complete"])
    expect(await server.exit).toBe(0)
    expect(server.stderr()).not.toMatch(/"GET/)
  })

  it("answers from two worker processes with --workers 2", async () => {
    const server = start("serve", fixture, "--port", "0", "--workers", "2", "--quiet")
    const url = await server.url
    const pids = new Set<string>()
    for (let i = 0; i < 200 && pids.size < 2; i++) {
      const body = await (await fetch(url, { headers: { Connection: "close" } })).text()
      expect(body).toMatch(/multiprocess=true$/)
      pids.add(/pid=(\d+)/.exec(body)![1]!)
    }
    expect(pids.size).toBe(2)
    expect(pids.has(String(server.child.pid))).toBe(false)
    server.child.kill("SIGTERM")
    expect(await server.exit).toBe(0)
  })

  it("replaces a worker that dies", async () => {
    // A fixed port, as in production: with port 0 a replacement worker may get another one.
    const port = await freePort()
    const server = start("serve", fixture, "--port", String(port), "--workers", "2", "--quiet")
    const url = await server.url
    const pidOf = async (): Promise<string> =>
      /pid=(\d+)/.exec(await (await fetch(url, { headers: { Connection: "close" } })).text())![1]!
    const victim = await pidOf()
    process.kill(Number(victim), "SIGKILL")
    await expect.poll(() => server.stderr(), { timeout: 10_000 }).toMatch(
      new RegExp(`worker ${victim} was killed by SIGKILL from outside effect-wsgi( \\([^)]*\\))?; starting another`)
    )
    // The replacement says it is serving (the first two did too) …
    await expect.poll(() => server.stderr().match(/\(worker \d+\)/g)?.length ?? 0, { timeout: 10_000 }).toBe(3)
    // … and two live workers answer again, neither of them the one that died.
    const seen = new Set<string>()
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(await pidOf())
    expect(seen.size).toBe(2)
    expect(seen.has(victim)).toBe(false)
    server.child.kill("SIGTERM")
    expect(await server.exit).toBe(0)
  })

  it.each([
    [["serve", "test/fixtures/missing.ts"], "effect-wsgi: cannot find app file test/fixtures/missing.ts\n"],
    [["serve", `${fixture}:nope`], `effect-wsgi: ${fixture} has no export "nope"; it exports: app, default, notAFunction, slow\n`],
    [["serve", `${fixture}:notAFunction`], `effect-wsgi: ${fixture}:notAFunction is number, not an application function\n`]
  ])("%j prints one line and exits 2", async (argv, line) => {
    const server = start(...argv)
    expect(await server.exit).toBe(2)
    expect(server.stderr()).toBe(line)
  })
})

// Every option of `effect-wsgi serve`, observed over a real socket: each case serves with
// the option and checks what it changes (against serving without it, where that is cheap).

const options = "test/fixtures/cliOptionsApp.mjs"

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A TCP address, or a unix socket. */
type Where = { readonly host: string; readonly port: number } | { readonly socketPath: string }

interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** One GET on a connection of its own. */
const get = (where: Where, path = "/", headers: Record<string, string> = {}): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const request = httpRequest({ ...where, path, headers, agent: false }, (response) => {
      let body = ""
      response.setEncoding("latin1")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body }))
      response.on("error", reject)
    })
    request.on("error", reject)
    request.end()
  })

/** The environ the `environ` fixture app saw (see test/fixtures/cliOptionsApp.mjs). */
const environOf = async (where: Where, headers: Record<string, string> = {}): Promise<Record<string, unknown>> => {
  const reply = await get(where, "/", headers)
  expect(reply.status, reply.body).toBe(200)
  return JSON.parse(reply.body) as Record<string, unknown>
}

/** Host and port of a served `http://` URL. */
const at = (url: string): { host: string; port: number } => {
  const parsed = new URL(url)
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(parsed.port) }
}

/** How a TCP connection to `host:port` goes: "connected" or the error code. */
const connecting = (host: string, port: number): Promise<string> =>
  new Promise((resolve) => {
    const socket = netConnect(port, host)
    socket.once("connect", () => {
      socket.destroy()
      resolve("connected")
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })

/** True when this process can listen on `host:port` right now. */
const canListen = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const probe = createServer()
    probe.once("error", () => resolve(false))
    probe.listen(port, host, () => probe.close(() => resolve(true)))
  })

/** Send `bytes`, and everything the server sent until it closed (or `ms` passed: an error). */
const exchange = (port: number, bytes: string, ms = 3_000): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = netConnect(port, "127.0.0.1", () => socket.write(bytes))
    let received = ""
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`still open after ${ms} ms; received ${JSON.stringify(received)}`))
    }, ms)
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => (received += chunk))
    socket.on("error", () => undefined) // a cut connection is what some cases expect
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(received)
    })
  })

/** Its exit code, or "still running" after `ms`. */
const exitWithin = (server: Running, ms = 8_000): Promise<number | null | string> =>
  Promise.race([server.exit, sleep(ms).then(() => `still running after ${ms} ms`)])

/** Signal the server to stop; its exit code. */
const stop = (server: Running, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> => {
  server.child.kill(signal)
  return server.exit
}

const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "effect-wsgi-cli-"))
  tempDirs.push(dir)
  return dir
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** An access log line (Common Log Format, as CPython's server prints it). */
const accessLine = (peer: string, requestLine: string, status: number, size: number): RegExp =>
  new RegExp(`^${escapeRegExp(peer)} - - \\[[^\\]]+\\] "${escapeRegExp(requestLine)}" ${status} ${size}$`, "m")

describe("effect-wsgi serve: each option, observed over a socket", () => {
  it("--host HOST: listens on that address only, and the default (127.0.0.1) on that one only", async () => {
    const other = start("serve", `${options}:environ`, "--host", "127.0.0.2", "--port", "0", "--quiet")
    const plain = start("serve", `${options}:environ`, "--port", "0", "--quiet")
    const [otherUrl, plainUrl] = await Promise.all([other.url, plain.url])
    const [otherAt, plainAt] = [at(otherUrl), at(plainUrl)]
    expect(otherUrl).toBe(`http://127.0.0.2:${otherAt.port}/`)
    expect(plainUrl).toBe(`http://127.0.0.1:${plainAt.port}/`)
    expect(await environOf(otherAt)).toMatchObject({ SERVER_NAME: "127.0.0.2", SERVER_PORT: String(otherAt.port) })
    expect(await connecting("127.0.0.1", otherAt.port)).toBe("ECONNREFUSED")
    expect(await environOf(plainAt)).toMatchObject({ SERVER_NAME: "127.0.0.1", REMOTE_ADDR: "127.0.0.1" })
    expect(await connecting("127.0.0.2", plainAt.port)).toBe("ECONNREFUSED")
  })

  it("--host 0.0.0.0 listens on every interface; --host ::1 on IPv6 only", async () => {
    const ipv6 = await canListen("::1", 0)
    const any = start("serve", `${options}:environ`, "--host", "0.0.0.0", "--port", "0", "--quiet")
    const v6 = ipv6 ? start("serve", `${options}:environ`, "--host", "::1", "--port", "0", "--quiet") : null
    const anyUrl = await any.url
    const { port } = at(anyUrl)
    expect(anyUrl).toBe(`http://0.0.0.0:${port}/`)
    // SERVER_NAME is the host as given (see makeServer).
    expect(await environOf({ host: "127.0.0.1", port })).toMatchObject({ SERVER_NAME: "0.0.0.0", SERVER_PORT: String(port) })
    expect(await environOf({ host: "127.0.0.2", port })).toMatchObject({ SERVER_NAME: "0.0.0.0", REMOTE_ADDR: expect.stringMatching(/^127\./) })
    if (v6 !== null) {
      const v6Url = await v6.url
      const v6At = at(v6Url)
      expect(v6Url).toBe(`http://[::1]:${v6At.port}/`)
      expect(await environOf(v6At)).toMatchObject({ SERVER_NAME: "::1", REMOTE_ADDR: "::1" })
      expect(await connecting("127.0.0.1", v6At.port)).toBe("ECONNREFUSED")
    }
  })

  it("--port N: listens on N (SERVER_PORT), also written --port=N", async () => {
    const port = await freePort()
    const server = start("serve", `${options}:environ`, `--port=${port}`, "--quiet")
    expect(await server.url).toBe(`http://127.0.0.1:${port}/`)
    expect(await environOf({ host: "127.0.0.1", port })).toMatchObject({ SERVER_PORT: String(port), pid: server.child.pid })
  })

  it("without --port: port 8000", async (context) => {
    if (!(await canListen("127.0.0.1", 8000))) context.skip()
    const server = start("serve", `${options}:environ`, "--quiet")
    expect(await server.url).toBe("http://127.0.0.1:8000/")
    expect(await environOf({ host: "127.0.0.1", port: 8000 })).toMatchObject({ SERVER_PORT: "8000", pid: server.child.pid })
  })

  it("a port in use: one line and exit 3, from one process and from --workers 2 (which used to restart its workers forever)", async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve))
    const { port } = holder.address() as AddressInfo
    try {
      const single = start("serve", options, "--port", String(port))
      const workers = start("serve", options, "--port", String(port), "--workers", "2")
      expect(await exitWithin(single)).toBe(3)
      expect(single.stderr()).toBe(
        `effect-wsgi: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`
      )
      expect(await exitWithin(workers)).toBe(3)
      expect(workers.stderr()).toMatch(new RegExp(`^effect-wsgi: cannot listen on 127\\.0\\.0\\.1:${port}: bind EADDRINUSE`, "m"))
      expect(workers.stderr()).toMatch(/^effect-wsgi: worker \d+ cannot listen; stopping$/m)
      expect(workers.stderr()).not.toMatch(/starting another|^\s+at /m)
    } finally {
      holder.close()
    }
  })

  it("--bind unix:PATH: serves on the socket, REMOTE_ADDR empty and no proxy header believed; the file goes on exit", async () => {
    const path = join(tempDir(), "app.sock")
    const server = start("serve", `${options}:environ`, "--bind", `unix:${path}`)
    expect(await server.url).toBe(`http+unix://${encodeURIComponent(path)}/`)
    expect(statSync(path).isSocket()).toBe(true)
    const reply = await get({ socketPath: path }, "/", { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https" })
    expect(reply.status).toBe(200)
    expect(JSON.parse(reply.body)).toEqual({
      pid: server.child.pid,
      REMOTE_ADDR: "",
      SERVER_NAME: "localhost",
      SERVER_PORT: "80",
      HTTP_X_FORWARDED_FOR: "203.0.113.9",
      HTTP_X_FORWARDED_PROTO: "https",
      "wsgi.url_scheme": "http",
      "wsgi.multiprocess": false
    })
    // The peer has no address: the access log says "-".
    await expect.poll(() => server.stderr()).toMatch(accessLine("-", "GET / HTTP/1.1", 200, Buffer.byteLength(reply.body)))
    expect(await stop(server)).toBe(0)
    expect(existsSync(path)).toBe(false)
  })

  it("docs/deploy.md's unix socket line: --bind unix:PATH --workers 2 --forwarded-allow-ips 127.0.0.1", async () => {
    const path = join(tempDir(), "app.sock")
    const server = start("serve", `${options}:environ`, "--bind", `unix:${path}`, "--workers", "2", "--forwarded-allow-ips", "127.0.0.1", "--quiet")
    await server.url
    const pids = new Set<unknown>()
    for (let i = 0; i < 200 && pids.size < 2; i++) {
      const environ = await environOf({ socketPath: path }, { "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https" })
      // A peer on the socket is trusted once the list is not empty: the client is the hop
      // the proxy appended.
      expect(environ).toMatchObject({ REMOTE_ADDR: "203.0.113.9", HTTPS: "on", "wsgi.url_scheme": "https", "wsgi.multiprocess": true })
      pids.add(environ["pid"])
    }
    expect(pids.size).toBe(2)
    expect(pids.has(server.child.pid)).toBe(false)
    expect(await stop(server)).toBe(0)
    expect(existsSync(path)).toBe(false)
  })

  it("--bind unix:PATH over the socket file of a killed server: replaced and served; over a live server's: one line, exit 3", async () => {
    const path = join(tempDir(), "app.sock")
    // A server killed without closing leaves its socket file behind (a crash, an OOM kill).
    spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`])
    expect(statSync(path).isSocket()).toBe(true)
    const first = start("serve", options, "--bind", `unix:${path}`, "--quiet")
    await first.url
    expect(await environOf({ socketPath: path })).toMatchObject({ pid: first.child.pid })
    const second = start("serve", options, "--bind", `unix:${path}`, "--quiet")
    expect(await exitWithin(second)).toBe(3)
    expect(second.stderr()).toBe(`effect-wsgi: cannot listen on unix:${path}: listen EADDRINUSE: address already in use ${path}\n`)
    expect(await environOf({ socketPath: path })).toMatchObject({ pid: first.child.pid })
  })

  it("--workers 0: one worker process per core", async (context) => {
    const cores = availableParallelism()
    if (cores < 2 || cores > 8) context.skip() // one core: no cluster; many: too slow to start here
    const server = start("serve", `${options}:environ`, "--port", "0", "--workers", "0", "--quiet")
    const where = at(await server.url)
    await expect.poll(() => server.stderr().match(/\(worker \d+\)/g)?.length ?? 0, { timeout: 10_000 }).toBe(cores)
    expect(server.stderr()).toContain(`effect-wsgi: primary ${server.child.pid} started ${cores} workers\n`)
    const pids = new Set<unknown>()
    for (let i = 0; i < 400 && pids.size < cores; i++) {
      const environ = await environOf(where)
      expect(environ["wsgi.multiprocess"]).toBe(true)
      pids.add(environ["pid"])
    }
    expect(pids.size).toBe(cores)
    expect(pids.has(server.child.pid)).toBe(false)
    expect(await stop(server)).toBe(0)
  })

  it("SIGTERM while the workers of --workers 2 are still starting: exit 0 (the primary used to wait forever)", async () => {
    const server = start("serve", fixture, "--port", "0", "--workers", "2", "--quiet")
    await expect.poll(() => server.stderr(), { timeout: 10_000, interval: 5 }).toMatch(/primary \d+ started 2 workers/)
    server.child.kill("SIGTERM")
    expect(await exitWithin(server, 5_000)).toBe(0)
  })

  it("--validate: an app that breaks PEP 3333 gets the validator's 500 and report, a good one is served as before", async () => {
    const checked = start("serve", `${options}:pep3333`, "--port", "0", "--validate")
    const plain = start("serve", `${options}:pep3333`, "--port", "0")
    const [checkedAt, plainAt] = (await Promise.all([checked.url, plain.url])).map(at) as [Where, Where]
    const good = await get(checkedAt, "/good")
    expect([good.status, good.body]).toEqual([200, "good"])
    const bad = await get(checkedAt, "/bad")
    expect([bad.status, bad.body]).toEqual([500, "A server error occurred.  Please contact the administrator."])
    // Without --validate the same breach goes out as the app wrote it.
    const unchecked = await get(plainAt, "/bad")
    expect([unchecked.status, unchecked.body, unchecked.headers["content-type"]]).toEqual([200, "no content type", undefined])
    expect(await stop(checked)).toBe(0)
    expect(await stop(plain)).toBe(0)
    expect(checked.stderr()).toMatch(/^ValidationError: No Content-Type header found in headers \(\[\]\)$/m)
    expect(checked.stderr().match(/ValidationError/g)).toHaveLength(1)
    expect(checked.stderr()).toMatch(accessLine("127.0.0.1", "GET /good HTTP/1.1", 200, 4))
    expect(checked.stderr()).toMatch(accessLine("127.0.0.1", "GET /bad HTTP/1.1", 500, 59))
    expect(plain.stderr()).not.toMatch(/Error|Warning/)
    expect(plain.stderr()).toMatch(accessLine("127.0.0.1", "GET /bad HTTP/1.1", 200, 15))
  })

  it("--quiet: no access log line; without it one per request (and SIGINT stops as SIGTERM does)", async () => {
    const logging = start("serve", `${options}:delayed`, "--port", "0")
    const quiet = start("serve", `${options}:delayed`, "--port", "0", "--quiet")
    const [loggingUrl, quietUrl] = await Promise.all([logging.url, quiet.url])
    expect((await get(at(loggingUrl), "/logged?ms=0")).body).toBe("after 0 ms")
    expect((await get(at(quietUrl), "/logged?ms=0")).body).toBe("after 0 ms")
    // Stopped, so every line is in.
    expect(await stop(logging, "SIGINT")).toBe(0)
    expect(await stop(quiet)).toBe(0)
    expect(logging.stderr()).toMatch(accessLine("127.0.0.1", "GET /logged?ms=0 HTTP/1.1", 200, 10))
    expect(quiet.stderr()).toBe(`effect-wsgi: serving ${options} on ${quietUrl} (pid ${quiet.child.pid})\n`)
  })

  it("--forwarded-allow-ips: X-Forwarded-For and -Proto set REMOTE_ADDR and the scheme only from a listed peer", async () => {
    const trusting = start("serve", `${options}:environ`, "--port", "0", "--quiet", "--forwarded-allow-ips=10.0.0.1, 127.0.0.1")
    const others = start("serve", `${options}:environ`, "--port", "0", "--quiet", "--forwarded-allow-ips", "10.0.0.0/8")
    const plain = start("serve", `${options}:environ`, "--port", "0", "--quiet")
    const [trustingAt, othersAt, plainAt] = (await Promise.all([trusting.url, others.url, plain.url])).map(at) as [Where, Where, Where]
    const headers = { "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https" }
    expect(await environOf(trustingAt, headers)).toMatchObject({
      REMOTE_ADDR: "203.0.113.9",
      HTTPS: "on",
      "wsgi.url_scheme": "https",
      HTTP_X_FORWARDED_FOR: "198.51.100.1, 203.0.113.9"
    })
    for (const where of [othersAt, plainAt]) {
      const environ = await environOf(where, headers)
      expect(environ).toMatchObject({ REMOTE_ADDR: "127.0.0.1", "wsgi.url_scheme": "http", HTTP_X_FORWARDED_FOR: "198.51.100.1, 203.0.113.9" })
      expect(environ).not.toHaveProperty("HTTPS")
    }
  })

  it("--response-timeout MS: an app slower than MS gets 503 at MS and one log line; a faster one, and any without the option, is answered", async () => {
    const bounded = start("serve", `${options}:delayed`, "--port", "0", "--response-timeout", "200")
    const unbounded = start("serve", `${options}:delayed`, "--port", "0", "--quiet")
    const [boundedAt, unboundedAt] = (await Promise.all([bounded.url, unbounded.url])).map(at) as [Where, Where]
    expect((await get(boundedAt, "/?ms=0")).body).toBe("after 0 ms")
    const started = Date.now()
    const late = await get(boundedAt, "/?ms=1500")
    const took = Date.now() - started
    expect(late.status).toBe(503)
    expect(late.headers["connection"]).toBe("close")
    expect(late.headers["content-length"]).toBe("0")
    expect(took).toBeGreaterThanOrEqual(190)
    expect(took).toBeLessThan(1_400) // the app itself takes 1 500 ms
    expect((await get(unboundedAt, "/?ms=600")).body).toBe("after 600 ms")
    expect(await stop(bounded)).toBe(0)
    const log = bounded.stderr()
    expect(log).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] code 503, message Service Unavailable \(no response after 200 ms\)$/m)
    // That one line is all the log says of it (no access line besides).
    expect(log.match(/code 503/g)).toHaveLength(1)
    expect(log).not.toContain("ms=1500")
    expect(log).toMatch(accessLine("127.0.0.1", "GET /?ms=0 HTTP/1.1", 200, 10))
  })

  it("--response-timeout MS: a response still streaming at MS is cut, never ended as if whole", async () => {
    const server = start("serve", `${options}:endless`, "--port", "0", "--response-timeout", "200", "--quiet")
    const { port } = at(await server.url)
    const started = Date.now()
    const received = await exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n5\r\nfirst\r\n$/)
    await expect.poll(() => server.stderr()).toMatch(
      /^127\.0\.0\.1 - - \[[^\]]+\] code 503, message Service Unavailable \(response cut after 200 ms\)$/m
    )
  })

  it("FILE without :export (and no `app` export) serves a .mjs module's default export", async () => {
    const server = start("serve", options, "--port", "0", "--quiet")
    expect(await environOf(at(await server.url))).toMatchObject({ pid: server.child.pid, REMOTE_ADDR: "127.0.0.1" })
  })

  it("-h and --help print the usage, naming every option, and exit 0; an option that does not exist exits 2", async () => {
    const run = (...args: Array<string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
        running.push(child)
        let stdout = ""
        let stderr = ""
        child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.on("close", (code) => resolve({ code, stdout, stderr }))
      })
    const [short, long, unknown] = await Promise.all([run("-h"), run("serve", options, "--help"), run("serve", options, "--max-body-size", "1")])
    for (const help of [short, long]) {
      expect(help.code).toBe(0)
      expect(help.stderr).toBe("")
      expect(help.stdout).toMatch(/^usage: effect-wsgi serve FILE\[:export\] \[options\]\n/)
      for (const option of [
        "--host HOST", "--port PORT", "--bind ADDRESS", "--workers N", "--validate", "--quiet", "--forwarded-allow-ips IPS",
        "--response-timeout MS", "--timeout S", "--graceful-timeout S", "--max-requests N", "--max-requests-jitter J",
        "--max-rss MIB", "--reload", "--reload-include GLOB", "--reload-exclude GLOB", "--certfile FILE", "--keyfile FILE",
        "--ca-certs FILE", "--cert-reqs MODE", "--http2", "--h2c", "--proxy-protocol", "--proxy-allow-ips IPS", "--config FILE",
        "--check-config", "--print-config"
      ]) {
        expect(help.stdout).toContain(`  ${option} `)
      }
    }
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^effect-wsgi: unknown option --max-body-size\nusage: /)
  })
})
