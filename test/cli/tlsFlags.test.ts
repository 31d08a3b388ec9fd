// `effect-wsgi serve` with --certfile/--keyfile/--ca-certs/--cert-reqs, --http2, --h2c and
// --proxy-protocol, over real connections to `dist/cli.js` (run `npm run build` first):
// certificates made with openssl, fetched with node's https and http2 clients and curl,
// a certificate renewed on disk served without a restart, and the usage errors.
import { execFile } from "node:child_process"
import { copyFileSync, renameSync } from "node:fs"
import { request as httpsRequest, type RequestOptions } from "node:https"
import { connect as http2Connect, type ClientHttp2Session } from "node:http2"
import { connect as netConnect } from "node:net"
import { join } from "node:path"
import { connect as tlsConnect } from "node:tls"
import { X509Certificate } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type CertDir, certDir, hasCurl } from "../support/certs.js"
import { type Cli, logged, start, tempDir } from "./harness.js"

const app = "test/fixtures/cliTlsApp.mjs"
let certs: CertDir

beforeAll(() => {
  certs = certDir("effect-wsgi-cli-tls-")
  certs.certificate("ca", "/O=Example/CN=Test CA")
  certs.certificate("server", "/CN=localhost", { ca: "ca", san: "IP:127.0.0.1,DNS:localhost" })
  certs.certificate("renewed", "/CN=localhost", { ca: "ca", san: "IP:127.0.0.1,DNS:localhost" })
  certs.certificate("client", "/O=Example/CN=client", { ca: "ca" })
})

afterAll(() => certs.remove())

const tlsArgs = (): Array<string> => ["--certfile", certs.file("server.pem"), "--keyfile", certs.file("server.key")]

/** Start the CLI on a free port; its scheme and port, from the line that says where it serves. */
const serve = async (...args: Array<string>): Promise<{ cli: Cli; scheme: string; port: number }> => {
  const cli = start("serve", app, "--port", "0", "--quiet", ...args)
  const match = await logged(cli, /serving \S+ on (https?):\/\/127\.0\.0\.1:(\d+)\//)
  return { cli, scheme: match[1]!, port: Number(match[2]) }
}

type Reply = { status: number; body: Record<string, unknown> } | { error: string }

const httpsGet = (port: number, options: RequestOptions = {}): Promise<Reply> =>
  new Promise((resolve) => {
    const request = httpsRequest({ host: "127.0.0.1", port, path: "/", agent: false, ca: certs.pem["ca.pem"], ...options }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resolve({ status: response.statusCode!, body: JSON.parse(body) as Record<string, unknown> }))
    })
    request.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    request.end()
  })

/** One GET over HTTP/2: `:status` and the body. */
const h2Get = async (session: ClientHttp2Session): Promise<{ status: number; body: Record<string, unknown> }> => {
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ":path": "/", ":method": "GET" })
      let status = 0
      let body = ""
      stream.on("response", (headers) => (status = Number(headers[":status"])))
      stream.setEncoding("utf8")
      stream.on("data", (chunk: string) => (body += chunk))
      stream.on("end", () => resolve({ status, body: JSON.parse(body) as Record<string, unknown> }))
      stream.on("error", reject)
    })
  } finally {
    session.close()
  }
}

const curl = (...args: Array<string>): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile("curl", ["-sS", "--max-time", "5", ...args], (error, stdout) => (error === null ? resolve(stdout) : reject(error)))
  )

/** The SHA-256 fingerprint of the certificate a new TLS connection is served. */
const servedFingerprint = (port: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca: certs.pem["ca.pem"] }, () => {
      const fingerprint = socket.getPeerX509Certificate()!.fingerprint256
      socket.destroy()
      resolve(fingerprint)
    })
    socket.on("error", reject)
  })

const fingerprintOf = (name: string): string => new X509Certificate(certs.pem[name]!).fingerprint256


/** A copy of the server's certificate and key in a fresh directory, to renew in place. */
const serverPairOnDisk = (): { cert: string; key: string } => {
  const dir = tempDir()
  const cert = join(dir, "cert.pem")
  const key = join(dir, "key.pem")
  copyFileSync(certs.file("server.pem"), cert)
  copyFileSync(certs.file("server.key"), key)
  return { cert, key }
}

describe("effect-wsgi serve over TLS", () => {
  it("--certfile/--keyfile: serves HTTPS (node's https with the CA, curl --cacert); the URL line says https://", async () => {
    const { scheme, port } = await serve(...tlsArgs())
    expect(scheme).toBe("https")
    expect(await httpsGet(port)).toMatchObject({ status: 200, body: { HTTPS: "on", "wsgi.url_scheme": "https", SERVER_PROTOCOL: "HTTP/1.1" } })
    if (hasCurl) {
      const body = JSON.parse(await curl("--cacert", certs.file("ca.pem"), `https://localhost:${port}/`)) as Record<string, unknown>
      expect(body).toMatchObject({ HTTPS: "on" })
    }
  })

  it("--http2: h2 by ALPN for node's http2.connect and curl --http2, HTTP/1.1 still on the port", async () => {
    const { port } = await serve(...tlsArgs(), "--http2")
    const reply = await h2Get(http2Connect(`https://127.0.0.1:${port}`, { ca: certs.pem["ca.pem"], servername: "localhost" }))
    expect(reply).toMatchObject({ status: 200, body: { SERVER_PROTOCOL: "HTTP/2.0", HTTPS: "on" } })
    expect(await httpsGet(port)).toMatchObject({ status: 200, body: { SERVER_PROTOCOL: "HTTP/1.1" } })
    if (hasCurl) {
      const version = await curl("--http2", "--cacert", certs.file("ca.pem"), "-o", "/dev/null", "-w", "%{http_version}", `https://localhost:${port}/`)
      expect(version).toBe("2")
    }
  })

  it("--h2c: cleartext HTTP/2 with prior knowledge", async () => {
    const { scheme, port } = await serve("--h2c")
    expect(scheme).toBe("http")
    expect(await h2Get(http2Connect(`http://127.0.0.1:${port}`))).toMatchObject({ status: 200, body: { SERVER_PROTOCOL: "HTTP/2.0" } })
  })

  it("--cert-reqs required refuses a client without a certificate and serves one with; optional lets both in", async () => {
    const { port } = await serve(...tlsArgs(), "--ca-certs", certs.file("ca.pem"), "--cert-reqs", "required")
    expect(await httpsGet(port)).toHaveProperty("error")
    expect(await httpsGet(port, { cert: certs.pem["client.pem"], key: certs.pem["client.key"] })).toMatchObject({
      status: 200,
      body: { SSL_CLIENT_VERIFY: "SUCCESS", SSL_CLIENT_S_DN: "CN=client,O=Example" }
    })
    const optional = await serve(...tlsArgs(), "--ca-certs", certs.file("ca.pem"), "--cert-reqs", "optional")
    expect(await httpsGet(optional.port)).toMatchObject({ status: 200, body: { SSL_CLIENT_VERIFY: "NONE" } })
  })

  it("a certificate renewed on disk (renamed over) is served to new connections within 2 s, without a restart; a mismatched pair keeps the old one; SIGHUP re-reads", async () => {
    const { cert, key } = serverPairOnDisk()
    const { cli, port } = await serve("--certfile", cert, "--keyfile", key)
    expect(await servedFingerprint(port)).toBe(fingerprintOf("server.pem"))
    const started = Date.now()
    copyFileSync(certs.file("renewed.pem"), `${cert}.tmp`)
    copyFileSync(certs.file("renewed.key"), `${key}.tmp`)
    renameSync(`${key}.tmp`, key)
    renameSync(`${cert}.tmp`, cert)
    await expect.poll(() => servedFingerprint(port), { timeout: 2_000, interval: 50 }).toBe(fingerprintOf("renewed.pem"))
    expect(Date.now() - started).toBeLessThan(2_000)
    await logged(cli, new RegExp(`certificates reloaded from ${cert.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\n`))
    // The old certificate with the new key: refused, one line, the renewed one still served.
    copyFileSync(certs.file("server.pem"), `${cert}.tmp`)
    renameSync(`${cert}.tmp`, cert)
    await logged(cli, /not reloaded, the old ones are served: .*\n/)
    expect(await servedFingerprint(port)).toBe(fingerprintOf("renewed.pem"))
    // Fixed by SIGHUP after the matching certificate is back: the process lives on.
    copyFileSync(certs.file("renewed.pem"), `${cert}.tmp`)
    renameSync(`${cert}.tmp`, cert)
    cli.child.kill("SIGHUP")
    await logged(cli, /certificates reloaded from \S+ \(SIGHUP\)\n/)
    expect(await servedFingerprint(port)).toBe(fingerprintOf("renewed.pem"))
    expect(cli.child.exitCode).toBeNull()
  })

  it("a renewed certificate reaches the workers under a supervisor too", async () => {
    const { cert, key } = serverPairOnDisk()
    const { cli, port } = await serve("--certfile", cert, "--keyfile", key, "--workers", "2")
    await expect.poll(() => [...cli.stderr().matchAll(/serving .* \(worker \d+\)/g)].length, { timeout: 10_000 }).toBe(2)
    copyFileSync(certs.file("renewed.pem"), `${cert}.tmp`)
    copyFileSync(certs.file("renewed.key"), `${key}.tmp`)
    renameSync(`${key}.tmp`, key)
    renameSync(`${cert}.tmp`, cert)
    await expect.poll(() => [...cli.stderr().matchAll(/certificates reloaded from/g)].length, { timeout: 2_000, interval: 50 }).toBe(2)
    for (let i = 0; i < 4; i++) expect(await servedFingerprint(port)).toBe(fingerprintOf("renewed.pem"))
  })

  it("--http2 under a supervisor: workers serve h2 and drain on SIGTERM (exit 0)", async () => {
    const { cli, port } = await serve(...tlsArgs(), "--http2", "--workers", "2")
    const reply = await h2Get(http2Connect(`https://127.0.0.1:${port}`, { ca: certs.pem["ca.pem"], servername: "localhost" }))
    expect(reply).toMatchObject({ status: 200, body: { SERVER_PROTOCOL: "HTTP/2.0" } })
    cli.child.kill("SIGTERM")
    expect(await cli.exit).toEqual({ code: 0, signal: null })
  })

  it("--proxy-protocol: REMOTE_ADDR and REMOTE_PORT from a v1 header sent from 127.0.0.1", async () => {
    const { port } = await serve("--proxy-protocol", "--proxy-allow-ips", "127.0.0.1,::1")
    const received = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(port, "127.0.0.1", () => {
        socket.write("PROXY TCP4 203.0.113.7 127.0.0.1 51000 80\r\nGET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n")
      })
      let data = ""
      socket.setEncoding("latin1")
      socket.on("data", (chunk: string) => (data += chunk))
      socket.on("end", () => resolve(data))
      socket.on("error", reject)
    })
    expect(received).toMatch(/^HTTP\/1\.1 200 /)
    expect(JSON.parse(received.slice(received.indexOf("\r\n\r\n") + 4))).toMatchObject({ REMOTE_ADDR: "203.0.113.7", REMOTE_PORT: "51000" })
  })
})

describe("effect-wsgi serve's TLS usage errors", () => {
  const exits = async (args: Array<string>, message: RegExp): Promise<void> => {
    const cli = start("serve", app, "--port", "0", ...args)
    expect(await cli.exit).toEqual({ code: 2, signal: null })
    expect(cli.stderr()).toMatch(message)
  }

  it.each([
    [["--keyfile", "k.pem"], /^effect-wsgi: --keyfile needs --certfile\n/],
    [["--certfile", "c.pem"], /^effect-wsgi: --certfile needs --keyfile\n/],
    [["--http2"], /^effect-wsgi: --http2 needs --certfile and --keyfile/],
    [["--h2c", "--certfile", "c.pem", "--keyfile", "k.pem"], /^effect-wsgi: --h2c is cleartext: not with --certfile/],
    [["--http2", "--h2c"], /^effect-wsgi: --http2 and --h2c exclude each other/],
    [["--cert-reqs", "maybe"], /^effect-wsgi: --cert-reqs takes none, optional or required \(got maybe\)\n/]
  ])("%j exits 2 with its message", async (args, message) => {
    await exits(args, message)
  })

  it("an unreadable certificate file exits 2 with one line", async () => {
    const cli = start("serve", app, "--port", "0", "--certfile", "/nonexistent/cert.pem", "--keyfile", certs.file("server.key"))
    expect(await cli.exit).toEqual({ code: 2, signal: null })
    expect(cli.stderr()).toMatch(/^effect-wsgi: cannot read \/nonexistent\/cert\.pem: ENOENT[^\n]*\n$/)
  })

  it("under a supervisor too: the primary exits 2 before starting a worker", async () => {
    const cli = start("serve", app, "--port", "0", "--workers", "2", "--certfile", "/nonexistent/cert.pem", "--keyfile", certs.file("server.key"))
    expect(await cli.exit).toEqual({ code: 2, signal: null })
    expect(cli.stderr()).toMatch(/^effect-wsgi: cannot read \/nonexistent\/cert\.pem: ENOENT[^\n]*\n$/)
  })

  it("a certificate and a key that do not match exit 2 with one line", async () => {
    const cli = start("serve", app, "--port", "0", "--certfile", certs.file("server.pem"), "--keyfile", certs.file("renewed.key"))
    expect(await cli.exit).toEqual({ code: 2, signal: null })
    expect(cli.stderr()).toMatch(/^effect-wsgi: cannot use [^\n]*\n$/)
  })
})
