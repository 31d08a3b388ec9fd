/**
 * `makeServer` with `tls`, over real TLS connections on 127.0.0.1: certificates made with
 * `openssl` in a temp dir (a CA, a server certificate for 127.0.0.1/localhost, a renewed
 * one, a client certificate the CA signed, and a self-signed one it did not), node's https
 * client and curl, client certificates, reloading, the handshakes that fail, and the
 * certificate file watcher.
 */
import { execFile, execFileSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs"
import { Agent, request as httpsRequest, type RequestOptions } from "node:https"
import { connect as netConnect, type Socket } from "node:net"
import { join } from "node:path"
import { connect as tlsConnect, TLSSocket } from "node:tls"
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest"
import { ErrorLog, type MemoryErrorLog } from "../src/ErrorLog.js"
import type { Application } from "../src/Protocol.js"
import { makeServer, type ServerOptions, type TlsOptions, type WSGIServer } from "../src/Server.js"
import { distinguishedName } from "../src/internal/node/connectionVariables.js"
import { watchCertificates } from "../src/internal/node/tls.js"
import { type CertDir, certDir, hasCurl } from "./support/certs.js"
import { underTest } from "./support/underTest.js"

let certs: CertDir | null = null
let dir = ""
let pem: Record<string, Buffer> = {}
const file = (name: string): string => join(dir, name)

beforeAll(() => {
  certs = certDir()
  dir = certs.dir
  pem = certs.pem
  certs.certificate("ca", "/O=Example/CN=Test CA")
  certs.certificate("server", "/CN=localhost", { ca: "ca", san: "IP:127.0.0.1,DNS:localhost" })
  certs.certificate("renewed", "/CN=localhost", { ca: "ca", san: "IP:127.0.0.1,DNS:localhost" })
  certs.certificate("client", "/C=US/O=Example, Inc./OU=a+OU=b/CN=client", { ca: "ca" })
  certs.certificate("rogue", "/CN=rogue")
})

afterAll(() => {
  certs?.remove()
})

const servers: Array<WSGIServer> = []
const sockets: Array<Socket> = []
const cleanups: Array<() => void> = []
let errors: MemoryErrorLog

afterEach(async () => {
  vi.restoreAllMocks()
  for (const cleanup of cleanups.splice(0)) cleanup()
  for (const socket of sockets.splice(0)) socket.destroy()
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

/** The CGI variables of the environ, as JSON. */
const environDump: Application = (environ, startResponse) => {
  const dumped: Record<string, string> = {}
  for (const [key, value] of Object.entries(environ)) if (typeof value === "string") dumped[key] = value
  startResponse("200 OK", [["Content-Type", "application/json"]])
  return [Buffer.from(JSON.stringify(dumped), "utf8")]
}

const serverTls = (more: Partial<TlsOptions> = {}): TlsOptions => ({ cert: pem["server.pem"]!, key: pem["server.key"]!, ...more })

/** A TLS server of `environDump` on a free port; errors go to `errors`; closed after the test. */
const serve = async (tls: TlsOptions, options: ServerOptions = {}): Promise<WSGIServer> => {
  errors = ErrorLog.memory()
  const server = await makeServer("127.0.0.1", 0, underTest(environDump), { errorLog: errors, closeTimeout: 1_000, tls, ...options })
  servers.push(server)
  return server
}

/** The error log's lines. */
const logLines = (): Array<string> => errors.text().split("\n").filter((line) => line !== "")

/** Wait until `done()` holds (at most `limit` ms), then a little more, for a second line that should not come. */
const settle = async (done: () => boolean, limit = 1_000): Promise<void> => {
  for (let waited = 0; !done() && waited < limit; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
  await new Promise((resolve) => setTimeout(resolve, 50))
}

interface Reply {
  readonly status: number
  readonly environ: Record<string, string>
  /** The server certificate's SHA-256 fingerprint, as the client saw it. */
  readonly fingerprint: string
  readonly socket: TLSSocket
}

// node's client forgets the server's certificate once a keep-alive socket is reused: the
// first response's word is kept.
const fingerprints = new WeakMap<TLSSocket, string>()

/** GET / over https, trusting the test CA. */
const get = (server: WSGIServer, options: RequestOptions = {}): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const request = httpsRequest({ host: "127.0.0.1", port: server.port, path: "/", ca: pem["ca.pem"], agent: false, ...options }, (response) => {
      const socket = response.socket as TLSSocket
      const fingerprint = fingerprints.get(socket) ?? socket.getPeerX509Certificate()?.fingerprint256 ?? ""
      fingerprints.set(socket, fingerprint)
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, environ: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, string>, fingerprint, socket })
      )
    })
    request.on("error", reject)
    request.end()
  })

const fingerprintOf = (name: string): string => new X509Certificate(pem[name]!).fingerprint256

/** A raw TCP connection to the server: everything it receives until closed, and when it closed. */
const rawExchange = (port: number, send: string | null): Promise<{ readonly received: string; readonly closedAfter: number }> =>
  new Promise((resolve) => {
    const started = Date.now()
    const socket = netConnect(port, "127.0.0.1", () => {
      if (send !== null) socket.write(send)
    })
    sockets.push(socket)
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", () => {})
    socket.on("close", () => resolve({ received: Buffer.concat(chunks).toString("latin1"), closedAfter: Date.now() - started }))
  })

/** A TLS connection (trusting the test CA) that sends `pieces` a few ms apart: everything it receives until closed. */
const tlsExchange = (port: number, pieces: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca: pem["ca.pem"]! }, async () => {
      socket.setNoDelay(true)
      for (const piece of pieces) {
        if (socket.destroyed) break
        socket.write(piece)
        await new Promise((done) => setTimeout(done, 2))
      }
    })
    sockets.push(socket)
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", () => {})
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")))
  })

const LOG_PREFIX = /^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4} \d{2}:\d{2}:\d{2}\] /

describe("makeServer with tls: serving", () => {
  it("serves GET over https to node's client: wsgi.url_scheme https, HTTPS on, an https URL", async () => {
    const server = await serve(serverTls())
    expect(server.url).toBe(`https://127.0.0.1:${server.port}/`)
    const reply = await get(server)
    expect(reply.status).toBe(200)
    expect(reply.environ["wsgi.url_scheme"]).toBe("https")
    expect(reply.environ["HTTPS"]).toBe("on")
    expect(reply.environ["SSL_CLIENT_VERIFY"]).toBe("NONE")
    expect(reply.environ["SSL_CLIENT_S_DN"]).toBeUndefined()
    expect(reply.fingerprint).toBe(fingerprintOf("server.pem"))
    expect(errors.text()).toBe("")
  })

  it.skipIf(!hasCurl)("serves curl --cacert (localhost and 127.0.0.1 are both in the certificate)", async () => {
    const server = await serve(serverTls())
    for (const url of [server.url, `https://localhost:${server.port}/`]) {
      const body = await new Promise<string>((resolve, reject) => {
        execFile("curl", ["-sS", "--fail", "--cacert", file("ca.pem"), url], (error, stdout, stderr) => {
          if (error !== null) reject(new Error(`${error.message} ${stderr}`))
          else resolve(stdout)
        })
      })
      expect((JSON.parse(body) as Record<string, string>)["wsgi.url_scheme"]).toBe("https")
    }
    expect(errors.text()).toBe("")
  })

  it("node:http's own refusals answer through TLS: a request line too long, in many packets, is 414", async () => {
    const server = await serve(serverTls())
    const line = `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`
    const pieces = line.match(/[^]{1,1024}/g)!
    expect(await tlsExchange(server.port, pieces)).toMatch(/^HTTP\/1\.1 414 URI Too Long\r\n/)
    await settle(() => logLines().length >= 1)
    expect(logLines()).toEqual([expect.stringMatching(/code 414, message URI Too Long \(HPE_HEADER_OVERFLOW\)$/)])
  })

  it("keeps plain HTTP as it was: no HTTPS, no SSL_ variables, setSecureContext refused", async () => {
    errors = ErrorLog.memory()
    const server = await makeServer("127.0.0.1", 0, underTest(environDump), { errorLog: errors })
    servers.push(server)
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`)
    const environ = (await (await fetch(server.url)).json()) as Record<string, string>
    expect(environ["wsgi.url_scheme"]).toBe("http")
    expect(Object.keys(environ).filter((key) => key === "HTTPS" || key.startsWith("SSL_"))).toEqual([])
    expect(server.server.listenerCount("tlsClientError")).toBe(0)
    expect(() => server.setSecureContext({ cert: pem["server.pem"]!, key: pem["server.key"]! })).toThrow(TypeError)
  })
})

describe("makeServer with tls: client certificates", () => {
  it("a certificate the CA signed: SUCCESS, the DNs as mod_ssl prints them, the PEM", async () => {
    const server = await serve(serverTls({ ca: pem["ca.pem"]!, requestCert: true }))
    const reply = await get(server, { cert: pem["client.pem"]!, key: pem["client.key"]! })
    const environ = reply.environ
    expect(environ["SSL_CLIENT_VERIFY"]).toBe("SUCCESS")
    // RFC 2253, as mod_ssl 2.4 (XN_FLAG_RFC2253): every entry in reverse order, specials escaped.
    expect(environ["SSL_CLIENT_S_DN"]).toBe("CN=client,OU=b+OU=a,O=Example\\, Inc.,C=US")
    expect(environ["SSL_CLIENT_I_DN"]).toBe("CN=Test CA,O=Example")
    const byOpenssl = execFileSync("openssl", ["x509", "-in", file("client.pem"), "-noout", "-subject", "-issuer", "-nameopt", "RFC2253"], { encoding: "utf8" })
    expect(byOpenssl).toBe(`subject=${environ["SSL_CLIENT_S_DN"]}\nissuer=${environ["SSL_CLIENT_I_DN"]}\n`)
    expect(environ["SSL_CLIENT_CERT"]).toBe(pem["client.pem"]!.toString("latin1"))
    expect(errors.text()).toBe("")
  })

  it("is worked out once per connection, not per request", async () => {
    const server = await serve(serverTls({ ca: pem["ca.pem"]!, requestCert: true }))
    const spy = vi.spyOn(TLSSocket.prototype, "getPeerX509Certificate")
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    cleanups.push(() => agent.destroy())
    const options = { agent, cert: pem["client.pem"]!, key: pem["client.key"]! }
    const first = await get(server, options)
    const second = await get(server, options)
    expect(second.socket).toBe(first.socket)
    expect(second.environ["SSL_CLIENT_S_DN"]).toBe(first.environ["SSL_CLIENT_S_DN"])
    // The client's own calls (one per response, in `get`) are on the client's socket.
    const serverSide = spy.mock.contexts.filter((socket) => (socket as TLSSocket).localPort === server.port)
    expect(serverSide).toHaveLength(1)
  })

  it("no certificate: NONE", async () => {
    const server = await serve(serverTls({ ca: pem["ca.pem"]!, requestCert: true, rejectUnauthorized: false }))
    const environ = (await get(server)).environ
    expect(environ["SSL_CLIENT_VERIFY"]).toBe("NONE")
    expect(Object.keys(environ).filter((key) => key.startsWith("SSL_CLIENT_") && key !== "SSL_CLIENT_VERIFY")).toEqual([])
  })

  it("an untrusted certificate let through by rejectUnauthorized false: FAILED with OpenSSL's reason", async () => {
    const server = await serve(serverTls({ ca: pem["ca.pem"]!, requestCert: true, rejectUnauthorized: false }))
    const environ = (await get(server, { cert: pem["rogue.pem"]!, key: pem["rogue.key"]! })).environ
    expect(environ["SSL_CLIENT_VERIFY"]).toBe("FAILED:self-signed certificate")
    expect(environ["SSL_CLIENT_S_DN"]).toBe("CN=rogue")
    expect(environ["SSL_CLIENT_I_DN"]).toBe("CN=rogue")
    expect(errors.text()).toBe("")
  })

  it("rejectUnauthorized (the default): an untrusted certificate, or none, is refused at the handshake, one line each", async () => {
    const server = await serve(serverTls({ ca: pem["ca.pem"]!, requestCert: true }))
    await expect(get(server, { cert: pem["rogue.pem"]!, key: pem["rogue.key"]! })).rejects.toThrow()
    await settle(() => logLines().length >= 1)
    expect(logLines()).toHaveLength(1)
    expect(logLines()[0]).toMatch(LOG_PREFIX)
    expect(logLines()[0]).toMatch(/TLS client certificate refused \(self-signed certificate\)$/)
    await expect(get(server)).rejects.toThrow(/certificate required/)
    await settle(() => logLines().length >= 2)
    expect(logLines()).toHaveLength(2)
    expect(logLines()[1]).toMatch(/TLS handshake failed \(peer did not return a certificate\)$/)
    // A trusted one still gets through.
    expect((await get(server, { cert: pem["client.pem"]!, key: pem["client.key"]! })).environ["SSL_CLIENT_VERIFY"]).toBe("SUCCESS")
  })

  it("distinguishedName: node's lines in reverse, a multi-valued RDN's entries too; empty stays empty", () => {
    expect(distinguishedName("C=US\nO=Example\\, Inc.\nOU=a + OU=b\nCN=client")).toBe("CN=client,OU=b+OU=a,O=Example\\, Inc.,C=US")
    expect(distinguishedName("")).toBe("")
  })
})

describe("makeServer with tls: a renewed certificate", () => {
  it("setSecureContext: an open keep-alive connection goes on, a new one gets the new certificate; a bad pair changes nothing", async () => {
    const server = await serve(serverTls({ ca: pem["ca.pem"]!, requestCert: true, rejectUnauthorized: false }))
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    cleanups.push(() => agent.destroy())
    const client = { cert: pem["client.pem"]!, key: pem["client.key"]! }
    const before = await get(server, { agent, ...client })
    expect(before.fingerprint).toBe(fingerprintOf("server.pem"))

    // A renewed certificate with the old key: refused, and the old pair stays.
    expect(() => server.setSecureContext({ cert: pem["renewed.pem"]!, key: pem["server.key"]! })).toThrow()
    expect((await get(server, client)).fingerprint).toBe(fingerprintOf("server.pem"))

    server.setSecureContext({ cert: pem["renewed.pem"]!, key: pem["renewed.key"]! })
    const again = await get(server, { agent, ...client })
    expect(again.socket).toBe(before.socket)
    expect(again.status).toBe(200)
    expect(again.fingerprint).toBe(fingerprintOf("server.pem"))

    const fresh = await get(server, client)
    expect(fresh.socket).not.toBe(before.socket)
    expect(fresh.fingerprint).toBe(fingerprintOf("renewed.pem"))
    expect(new X509Certificate(pem["renewed.pem"]!).serialNumber).not.toBe(new X509Certificate(pem["server.pem"]!).serialNumber)
    // `ca` left out: still the one client certificates are checked against.
    expect(fresh.environ["SSL_CLIENT_VERIFY"]).toBe("SUCCESS")
    expect(errors.text()).toBe("")
  })
})

describe("makeServer with tls: handshakes that fail", () => {
  it("plain HTTP on the TLS port: 400 as nginx says it, the connection closed, one line, no app", async () => {
    const server = await serve(serverTls())
    const { received } = await rawExchange(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(received).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(received).toContain("Connection: close\r\n")
    expect(received.endsWith("\r\n\r\nplain HTTP request sent to HTTPS port\n")).toBe(true)
    await settle(() => logLines().length >= 1)
    expect(logLines()).toHaveLength(1)
    expect(logLines()[0]).toMatch(LOG_PREFIX)
    expect(logLines()[0]).toMatch(/code 400, message Bad Request \(plain HTTP request sent to HTTPS port\)$/)
  })

  it("a client that sends nothing is closed after handshakeTimeout, one line", async () => {
    const server = await serve(serverTls({ handshakeTimeout: 200 }))
    const { received, closedAfter } = await rawExchange(server.port, null)
    expect(received).toBe("")
    expect(closedAfter).toBeGreaterThanOrEqual(150)
    expect(closedAfter).toBeLessThan(1_500)
    await settle(() => logLines().length >= 1)
    expect(logLines()).toHaveLength(1)
    expect(logLines()[0]).toMatch(LOG_PREFIX)
    expect(logLines()[0]).toMatch(/TLS handshake timed out after 200 ms$/)
  })

  it("a failed handshake (not TLS, a client that distrusts the certificate): one line each; a bare connect-and-close none", async () => {
    const server = await serve(serverTls())
    await rawExchange(server.port, "BREW / HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle(() => logLines().length >= 1)
    expect(logLines()).toHaveLength(1)
    expect(logLines()[0]).toMatch(/TLS handshake failed \(wrong version number\)$/)

    await new Promise<void>((resolve) => {
      // No CA given: node's client refuses the test CA's certificate and hangs up.
      const socket = tlsConnect({ host: "127.0.0.1", port: server.port })
      sockets.push(socket)
      socket.on("error", () => resolve())
    })
    await settle(() => logLines().length >= 2)
    expect(logLines()).toHaveLength(2)
    expect(logLines()[1]).toMatch(/TLS handshake failed \(the client closed the connection\)$/)

    const quiet = netConnect(server.port, "127.0.0.1", () => quiet.end())
    sockets.push(quiet)
    await new Promise((resolve) => quiet.on("close", resolve))
    await settle(() => false, 100)
    expect(logLines()).toHaveLength(2)
  })
})

describe("watchCertificates", () => {
  /** A watcher on cert.pem and key.pem in a fresh dir (fast debounce and poll), and its calls. */
  const watched = (where: string) => {
    const calls: Array<ReadonlyArray<string>> = []
    const failures: Array<unknown> = []
    const paths = [join(where, "cert.pem"), join(where, "key.pem")]
    const watcher = watchCertificates(paths, (contents) => calls.push(contents.map((buffer) => buffer.toString())), {
      debounce: 50,
      interval: 100,
      onError: (error) => failures.push(error)
    })
    cleanups.push(() => watcher.close())
    return { calls, failures, paths }
  }
  /** Long enough for the debounce, a few polls, and a second call that should not come. */
  const quiet = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300))

  it("fires once on a rewrite, once on a rename over the file, not for the same contents", async () => {
    const where = join(dir, "watch-files")
    mkdirSync(where)
    writeFileSync(join(where, "cert.pem"), "cert 1")
    writeFileSync(join(where, "key.pem"), "key 1")
    const { calls, failures } = watched(where)

    writeFileSync(join(where, "cert.pem"), "cert 2")
    await quiet()
    expect(calls).toEqual([["cert 2", "key 1"]])

    // As most tools replace a file: written beside it, renamed over it.
    writeFileSync(join(where, "key.pem.tmp"), "key 2")
    renameSync(join(where, "key.pem.tmp"), join(where, "key.pem"))
    await quiet()
    expect(calls).toEqual([["cert 2", "key 1"], ["cert 2", "key 2"]])

    writeFileSync(join(where, "cert.pem"), "cert 2")
    await quiet()
    expect(calls).toHaveLength(2)
    expect(failures).toEqual([])
  })

  it("fires once when certbot swaps the symlinks in live/ for a new archive pair", async () => {
    const archive = join(dir, "watch-archive")
    const live = join(dir, "watch-live")
    mkdirSync(archive)
    mkdirSync(live)
    for (const n of [1, 2]) {
      writeFileSync(join(archive, `cert${n}.pem`), `cert ${n}`)
      writeFileSync(join(archive, `key${n}.pem`), `key ${n}`)
    }
    symlinkSync(join(archive, "cert1.pem"), join(live, "cert.pem"))
    symlinkSync(join(archive, "key1.pem"), join(live, "key.pem"))
    const { calls, failures } = watched(live)

    for (const name of ["cert", "key"]) {
      symlinkSync(join(archive, `${name}2.pem`), join(live, `${name}.pem.new`))
      renameSync(join(live, `${name}.pem.new`), join(live, `${name}.pem`))
    }
    await quiet()
    expect(calls).toEqual([["cert 2", "key 2"]])
    expect(failures).toEqual([])
  })

  it("close stops it", async () => {
    const where = join(dir, "watch-closed")
    mkdirSync(where)
    writeFileSync(join(where, "cert.pem"), "cert 1")
    writeFileSync(join(where, "key.pem"), "key 1")
    const { calls } = watched(where)
    for (const cleanup of cleanups.splice(0)) cleanup()
    writeFileSync(join(where, "cert.pem"), "cert 2")
    await quiet()
    expect(calls).toEqual([])
  })
})
