/**
 * Debian's nginx in front of `effect-wsgi serve --workers 2 --forwarded-allow-ips 127.0.0.1`
 * on loopback, configured with the very block docs/deploy.md shows (ports and certificate
 * swapped): the app sees the client's address and
 * scheme (plain and TLS-terminated) from X-Forwarded-For / X-Forwarded-Proto and from
 * Forwarded, a client's own forwarded headers are not believed, the same headers sent
 * straight to the workers from an untrusted address change nothing, and both workers serve.
 *
 * The client connects from 127.0.0.5 (all of 127/8 is loopback), nginx from 127.0.0.1, so
 * the trusted proxy and the client are told apart. Skipped, with the reason printed, only
 * when there is no nginx binary (`apt-get install -y nginx`); with CI set, that fails instead.
 *
 * Then nginx's stream module with `proxy_protocol on` in front of `makeServer` with
 * `proxyProtocol`: the app sees the client's address and port from nginx's PROXY header
 * (nginx's http proxy cannot send one; its stream proxy can). Debian builds that module
 * dynamically (`libnginx-mod-stream`): without it the case is skipped, or fails with CI set.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { connect } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ErrorLog, type MemoryErrorLog } from "../../src/ErrorLog.js"
import type { Application } from "../../src/Protocol.js"
import { makeServer, type WSGIServer } from "../../src/Server.js"
import { accepting, findBinary, freePort, reportMissing, waitExit } from "../support/tools.js"

const root = join(import.meta.dirname, "..", "..")
const fixtures = join(import.meta.dirname, "fixtures")
const CLIENT = "127.0.0.5"

const nginx = findBinary("nginx", ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"])
const noNginx = "no nginx binary (on PATH or in /usr/sbin); install it with `apt-get install -y nginx`"
reportMissing(nginx === null, "test/deploy/nginx.test.ts", noNginx, it)

/** The block of docs/deploy.md marked `<!-- tested: test/deploy/nginx.test.ts -->`. */
const documentedBlock = (): string => {
  const doc = readFileSync(join(root, "docs", "deploy.md"), "utf8")
  const match = /<!-- tested: test\/deploy\/nginx\.test\.ts -->\n```nginx\n([\s\S]*?)```/.exec(doc)
  if (match === null) throw new Error("docs/deploy.md has no tested nginx block")
  return match[1]!
}

/** Replace `from` (which must be there) with `to`. */
const swap = (text: string, from: string, to: string): string => {
  if (!text.includes(from)) throw new Error(`docs/deploy.md's nginx block no longer has ${JSON.stringify(from)}`)
  return text.split(from).join(to)
}

/**
 * The nginx configuration of docs/deploy.md as tested: its block as written, with the test's
 * ports and certificate, plus a location that sends RFC 7239 Forwarded (the doc's
 * alternative), inside a top level that lets nginx run unprivileged from a temporary prefix.
 */
const nginxConfig = (options: {
  readonly dir: string
  readonly appPort: number
  readonly httpPort: number
  readonly httpsPort: number
}): string => {
  const { dir, appPort, httpPort, httpsPort } = options
  let block = documentedBlock()
  block = swap(block, "server 127.0.0.1:8000;", `server 127.0.0.1:${appPort};`)
  block = swap(block, "listen 80;", `listen 127.0.0.1:${httpPort};`)
  block = swap(block, "listen 443 ssl;", `listen 127.0.0.1:${httpsPort} ssl;`)
  block = swap(block, "/etc/ssl/certs/example.com.pem", join(fixtures, "localhost.crt"))
  block = swap(block, "/etc/ssl/private/example.com.key", join(fixtures, "localhost.key"))
  const rfc7239 = `
    location /rfc7239/ {
        proxy_pass http://effect_wsgi;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header Forwarded "for=$remote_addr;proto=$scheme";
    }
}
`
  block = block.replace(/}\s*$/, rfc7239)
  const asRoot = process.getuid?.() === 0
  return `
daemon off;
worker_processes 1;
${asRoot ? `user ${userInfo().username};` : ""}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

${block}
}
`
}

interface Seen {
  readonly pid: number
  readonly REMOTE_ADDR: string
  readonly "wsgi.url_scheme": string
  readonly HTTP_HOST: string
  readonly HTTP_X_FORWARDED_FOR: string | null
  readonly HTTP_X_FORWARDED_PROTO: string | null
  readonly HTTP_FORWARDED: string | null
  readonly PATH_INFO: string
  readonly QUERY_STRING: string
  readonly requestUri: string
}

/** GET `path` from `port` (https when asked), connecting from `CLIENT`. */
const get = (port: number, path: string, options: { readonly https?: boolean; readonly headers?: Record<string, string> } = {}): Promise<Seen> =>
  new Promise((resolve, reject) => {
    const request = options.https === true ? httpsRequest : httpRequest
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        localAddress: CLIENT,
        headers: options.headers ?? {},
        agent: false,
        rejectUnauthorized: false
      },
      (res) => {
        let body = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (body += chunk))
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`${res.statusCode}: ${body}`))
          else resolve(JSON.parse(body) as Seen)
        })
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end()
  })

/**
 * `effect-wsgi serve test/deploy/fixtures/proxiedApp.ts --workers 2 --port 0 --quiet` with
 * `args`, once both workers listen: the CLI as built (npm test builds it), from source
 * when there is no build.
 */
const startWorkers = async (args: ReadonlyArray<string>): Promise<{ child: ChildProcess; port: number; log: () => string }> => {
  const cli = existsSync(join(root, "dist", "cli.js")) ? [join(root, "dist", "cli.js")] : ["--import", "tsx", join(root, "src", "cli.ts")]
  const child = spawn(
    process.execPath,
    [...cli, "serve", "test/deploy/fixtures/proxiedApp.ts", "--workers", "2", "--port", "0", "--quiet", ...args],
    { cwd: root, stdio: ["ignore", "ignore", "pipe"] }
  )
  let log = ""
  const workers = new Set<string>()
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (chunk: string) => {
      log += chunk
      for (const match of log.matchAll(/on http:\/\/127\.0\.0\.1:(\d+)\/ \(worker (\d+)\)/g)) {
        workers.add(match[2]!)
        if (workers.size === 2) resolve(Number(match[1]))
      }
    })
    child.once("exit", (code) => reject(new Error(`effect-wsgi exited (${code}): ${log}`)))
    setTimeout(() => reject(new Error(`effect-wsgi did not start two workers: ${log}`)), 15_000)
  })
  return { child, port, log: () => log }
}

describe.skipIf(nginx === null)("nginx in front of effect-wsgi --workers 2", () => {
  let dir: string
  let app: ChildProcess
  let proxy: ChildProcess
  let appPort = 0
  let httpPort = 0
  let httpsPort = 0
  let proxyLog = ""

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "effect-wsgi-nginx-"))
    ;({ child: app, port: appPort } = await startWorkers(["--forwarded-allow-ips", "127.0.0.1"]))

    httpPort = await freePort()
    httpsPort = await freePort()
    for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) rmSync(join(dir, sub), { recursive: true, force: true })
    writeFileSync(join(dir, "nginx.conf"), nginxConfig({ dir, appPort, httpPort, httpsPort }))
    proxy = spawn(nginx!, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], { stdio: ["ignore", "pipe", "pipe"] })
    proxy.stderr!.on("data", (chunk: Buffer) => (proxyLog += chunk.toString()))
    proxy.stdout!.on("data", (chunk: Buffer) => (proxyLog += chunk.toString()))
    const failed = new Promise<never>((_resolve, reject) => {
      proxy.once("exit", (code) => reject(new Error(`nginx exited (${code}): ${proxyLog}`)))
    })
    await Promise.race([Promise.all([accepting(httpPort), accepting(httpsPort)]), failed])
  }, 30_000)

  afterAll(async () => {
    if (proxy !== undefined) {
      proxy.kill("SIGQUIT")
      await waitExit(proxy, 5_000)
    }
    if (app !== undefined) {
      app.kill("SIGTERM")
      await waitExit(app, 5_000)
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }, 15_000)

  it("plain HTTP: the app sees the client's address, the scheme, the host and the path", async () => {
    const seen = await get(httpPort, "/a%20b/c?x=1&y=%2F")
    expect(seen).toMatchObject({
      REMOTE_ADDR: CLIENT,
      "wsgi.url_scheme": "http",
      HTTP_HOST: `127.0.0.1:${httpPort}`,
      HTTP_X_FORWARDED_FOR: CLIENT,
      HTTP_X_FORWARDED_PROTO: "http",
      PATH_INFO: "/a b/c",
      QUERY_STRING: "x=1&y=%2F",
      requestUri: `http://127.0.0.1:${httpPort}/a%20b/c?x=1&y=%2F`
    })
  })

  it("TLS terminated by nginx: wsgi.url_scheme is https", async () => {
    const seen = await get(httpsPort, "/secure", { https: true })
    expect(seen).toMatchObject({
      REMOTE_ADDR: CLIENT,
      "wsgi.url_scheme": "https",
      HTTP_X_FORWARDED_PROTO: "https",
      requestUri: `https://127.0.0.1:${httpsPort}/secure`
    })
  })

  it("a client's own X-Forwarded-For and X-Forwarded-Proto are not believed", async () => {
    const seen = await get(httpPort, "/spoof", { headers: { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https" } })
    // nginx appends the real peer; the nearest untrusted hop is the client itself.
    expect(seen.HTTP_X_FORWARDED_FOR).toBe(`203.0.113.9, ${CLIENT}`)
    expect(seen.REMOTE_ADDR).toBe(CLIENT)
    // nginx replaces X-Forwarded-Proto with its own $scheme.
    expect(seen["wsgi.url_scheme"]).toBe("http")
  })

  it("Forwarded (RFC 7239) set by nginx works the same", async () => {
    const plain = await get(httpPort, "/rfc7239/x")
    expect(plain).toMatchObject({ REMOTE_ADDR: CLIENT, "wsgi.url_scheme": "http", HTTP_FORWARDED: `for=${CLIENT};proto=http` })
    const secure = await get(httpsPort, "/rfc7239/x", { https: true })
    expect(secure).toMatchObject({ REMOTE_ADDR: CLIENT, "wsgi.url_scheme": "https" })
  })

  it("straight to the workers from an untrusted address, the same headers change nothing", async () => {
    const seen = await get(appPort, "/direct", {
      headers: { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", Forwarded: "for=203.0.113.9;proto=https" }
    })
    expect(seen).toMatchObject({
      REMOTE_ADDR: CLIENT,
      "wsgi.url_scheme": "http",
      HTTP_X_FORWARDED_FOR: "203.0.113.9",
      HTTP_X_FORWARDED_PROTO: "https",
      HTTP_FORWARDED: "for=203.0.113.9;proto=https"
    })
  })

  it("both workers serve (two pids behind one nginx upstream)", async () => {
    const pids = new Set<number>()
    for (let batch = 0; batch < 20 && pids.size < 2; batch++) {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => get(httpPort, `/who?${batch}-${i}`)))
      for (const seen of answers) pids.add(seen.pid)
    }
    expect(pids.size).toBe(2)
    expect(pids.has(process.pid)).toBe(false)
  })
})

// --- The PROXY protocol: nginx's stream module in front of makeServer ---------------------------

/**
 * How to have nginx's stream module: "" when built in, a `load_module` line for Debian's
 * dynamic one, null when there is none.
 */
const streamModule = (binary: string): string | null => {
  // nginx -V writes to stderr.
  const built = execFileSync("sh", ["-c", "\"$0\" -V 2>&1", binary], { encoding: "utf8" })
  if (/--with-stream(?=\s)/.test(built)) return ""
  if (!built.includes("--with-stream=dynamic")) return null
  const modules = /--modules-path=(\S+)/.exec(built)?.[1] ?? "/usr/lib/nginx/modules"
  const module = join(modules, "ngx_stream_module.so")
  return existsSync(module) ? `load_module ${module};` : null
}

const stream = nginx === null ? null : streamModule(nginx)
const noStream = "no nginx stream module; install it with `apt-get install -y libnginx-mod-stream`"
reportMissing(nginx !== null && stream === null, "test/deploy/nginx.test.ts", `${noStream} (the PROXY protocol case)`, it)

/** An nginx that relays TCP from `listenPort` to `appPort`, a PROXY v1 header first. */
const streamConfig = (dir: string, load: string, routes: ReadonlyArray<readonly [listenPort: number, appPort: number]>): string => `
daemon off;
worker_processes 1;
${process.getuid?.() === 0 ? `user ${userInfo().username};` : ""}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${load}
events { worker_connections 64; }
stream {
${routes.map(([listenPort, appPort]) => `  server {
    listen 127.0.0.1:${listenPort};
    proxy_pass 127.0.0.1:${appPort};
    proxy_protocol on;
  }`).join("\n")}
}
`

/** What the app behind the stream proxy saw. */
const peerApp: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/json"]])
  return [Buffer.from(JSON.stringify({ REMOTE_ADDR: environ["REMOTE_ADDR"], REMOTE_PORT: environ["REMOTE_PORT"] ?? null }))]
}

/**
 * A GET over a raw connection from `CLIENT` to `port`: the body the server sent before it
 * closed (null when it closed without answering), and the client's own port.
 */
const rawGet = (port: number): Promise<{ readonly body: string | null; readonly localPort: number }> =>
  new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress: CLIENT })
    let data = ""
    let localPort = 0
    socket.once("connect", () => {
      localPort = socket.localPort!
      socket.write("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    })
    socket.on("data", (chunk: Buffer) => (data += chunk.toString("latin1")))
    socket.once("close", () => resolve({ body: data === "" ? null : data.slice(data.indexOf("\r\n\r\n") + 4), localPort }))
    socket.once("error", (error: Error & { code?: string }) => {
      if (error.code !== "ECONNRESET") reject(error)
    })
  })

describe.skipIf(nginx === null || stream === null)("nginx stream proxy_protocol on in front of makeServer proxyProtocol, and of effect-wsgi --workers 2 --proxy-protocol", () => {
  let dir: string
  let server: WSGIServer
  let workers: ChildProcess
  let workersPort = 0
  let proxy: ChildProcess
  let listenPort = 0
  let workersListenPort = 0
  let proxyLog = ""
  let errors: MemoryErrorLog

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "effect-wsgi-nginx-stream-"))
    errors = ErrorLog.memory()
    // nginx connects from 127.0.0.1: the default proxyAllowIps.
    server = await makeServer("127.0.0.1", 0, peerApp, { proxyProtocol: true, errorLog: errors, closeTimeout: 2_000 })
    ;({ child: workers, port: workersPort } = await startWorkers(["--proxy-protocol"]))
    listenPort = await freePort()
    workersListenPort = await freePort()
    writeFileSync(join(dir, "nginx.conf"), streamConfig(dir, stream!, [[listenPort, server.port], [workersListenPort, workersPort]]))
    proxy = spawn(nginx!, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], { stdio: ["ignore", "pipe", "pipe"] })
    proxy.stderr!.on("data", (chunk: Buffer) => (proxyLog += chunk.toString()))
    proxy.stdout!.on("data", (chunk: Buffer) => (proxyLog += chunk.toString()))
    const failed = new Promise<never>((_resolve, reject) => {
      proxy.once("exit", (code) => reject(new Error(`nginx exited (${code}): ${proxyLog}`)))
    })
    await Promise.race([Promise.all([accepting(listenPort), accepting(workersListenPort)]), failed])
  }, 30_000)

  afterAll(async () => {
    if (proxy !== undefined) {
      proxy.kill("SIGQUIT")
      await waitExit(proxy, 5_000)
    }
    if (workers !== undefined) {
      workers.kill("SIGTERM")
      await waitExit(workers, 5_000)
    }
    if (server !== undefined) await server.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }, 15_000)

  it("the app sees the client's address and its own port, as nginx saw them", async () => {
    for (let i = 0; i < 3; i++) {
      const { body, localPort } = await rawGet(listenPort)
      expect(body).not.toBeNull()
      expect(JSON.parse(body!)).toEqual({ REMOTE_ADDR: CLIENT, REMOTE_PORT: String(localPort) })
    }
    expect(errors.text()).toBe("")
  })

  it("effect-wsgi --workers 2 --proxy-protocol behind it: both workers see the client's address and port", async () => {
    const pids = new Set<number>()
    for (let i = 0; i < 12 && pids.size < 2; i++) {
      const { body, localPort } = await rawGet(workersListenPort)
      expect(body).not.toBeNull()
      const seen = JSON.parse(body!) as { pid: number; REMOTE_ADDR: string; REMOTE_PORT: string | null }
      expect([seen.REMOTE_ADDR, seen.REMOTE_PORT]).toEqual([CLIENT, String(localPort)])
      pids.add(seen.pid)
    }
    expect(pids.size).toBe(2)
    // Straight to the workers, with no header: closed before any app sees it.
    expect((await rawGet(workersPort)).body).toBeNull()
  })

  it("straight to the server, without nginx's header (and from a peer not allowed), the connection is closed", async () => {
    const { body } = await rawGet(server.port)
    expect(body).toBeNull()
    expect(errors.text()).toMatch(new RegExp(`^${CLIENT.replace(/\./g, "\\.")} - - \\[.*\\] PROXY protocol: connection closed \\(not in proxyAllowIps\\)\n$`))
  })
})
