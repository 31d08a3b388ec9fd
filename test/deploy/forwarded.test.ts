/**
 * `forwardedAllowIps` (gunicorn's `--forwarded-allow-ips`): `X-Forwarded-For`,
 * `X-Forwarded-Proto` and `Forwarded` set `REMOTE_ADDR` and `wsgi.url_scheme` only when the
 * peer is trusted; otherwise they stay plain `HTTP_*` variables. Over real sockets through
 * `makeServer` (the parsing itself: test/internal/node/forwarded.test.ts).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Application } from "../../src/Protocol.js"
import { makeServer, type WSGIServer } from "../../src/Server.js"

const KEYS = ["REMOTE_ADDR", "wsgi.url_scheme", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_FORWARDED", "HTTPS"] as const

/** Answers with the environ keys that matter here, as JSON. */
const echo: Application = (environ, startResponse) => {
  const seen: Record<string, unknown> = {}
  for (const key of KEYS) if (environ[key] !== undefined) seen[key] = environ[key]
  startResponse("200 OK", [["Content-Type", "application/json"]])
  return [Buffer.from(JSON.stringify(seen))]
}

const get = (server: WSGIServer, headers: Record<string, string>, socketPath?: string): Promise<Record<string, string>> =>
  new Promise((resolve, reject) => {
    const where = socketPath === undefined ? { host: "127.0.0.1", port: server.port } : { socketPath }
    const req = httpRequest({ ...where, path: "/", headers, agent: false }, (res) => {
      let body = ""
      res.setEncoding("latin1")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resolve(JSON.parse(body) as Record<string, string>))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end()
  })

describe("forwarded headers over a real socket", () => {
  let trusting: WSGIServer
  let trustingNetwork: WSGIServer
  let distrusting: WSGIServer
  let defaults: WSGIServer
  beforeAll(async () => {
    trusting = await makeServer("127.0.0.1", 0, echo, { forwardedAllowIps: ["127.0.0.1"] })
    trustingNetwork = await makeServer("127.0.0.1", 0, echo, { forwardedAllowIps: ["10.0.0.0/8", "127.0.0.0/8"] })
    distrusting = await makeServer("127.0.0.1", 0, echo, { forwardedAllowIps: ["10.1.2.3"] })
    defaults = await makeServer("127.0.0.1", 0, echo)
  })
  afterAll(async () => {
    await Promise.all([trusting.close(), trustingNetwork.close(), distrusting.close(), defaults.close()])
  })

  const proxied = { "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https" }

  it("a trusted peer sets REMOTE_ADDR and wsgi.url_scheme; the headers stay as received", async () => {
    expect(await get(trusting, proxied)).toEqual({
      REMOTE_ADDR: "203.0.113.7",
      "wsgi.url_scheme": "https",
      HTTPS: "on",
      HTTP_X_FORWARDED_FOR: "203.0.113.7",
      HTTP_X_FORWARDED_PROTO: "https"
    })
  })

  it("a peer inside a trusted network (address/prefix) is trusted too", async () => {
    expect(await get(trustingNetwork, proxied)).toMatchObject({ REMOTE_ADDR: "203.0.113.7", "wsgi.url_scheme": "https" })
  })

  it("an untrusted peer changes nothing: its headers are only HTTP_* variables", async () => {
    for (const server of [distrusting, defaults]) {
      expect(await get(server, proxied)).toEqual({
        REMOTE_ADDR: "127.0.0.1",
        "wsgi.url_scheme": "http",
        HTTP_X_FORWARDED_FOR: "203.0.113.7",
        HTTP_X_FORWARDED_PROTO: "https"
      })
      expect(await get(server, { Forwarded: "for=203.0.113.7;proto=https" })).toMatchObject({
        REMOTE_ADDR: "127.0.0.1",
        "wsgi.url_scheme": "http"
      })
    }
  })

  it("Forwarded (RFC 7239) from a trusted peer, with a bracketed IPv6 node and a port", async () => {
    expect(await get(trusting, { Forwarded: 'for="[2001:db8::1]:4711";proto=https;by=127.0.0.1' })).toMatchObject({
      REMOTE_ADDR: "2001:db8::1",
      "wsgi.url_scheme": "https"
    })
  })

  it("Forwarded wins over X-Forwarded-*", async () => {
    expect(await get(trusting, { Forwarded: "for=198.51.100.1;proto=http", ...proxied })).toMatchObject({
      REMOTE_ADDR: "198.51.100.1",
      "wsgi.url_scheme": "http"
    })
  })

  it("a chain: the nearest hop that is not a trusted proxy is the client", async () => {
    expect(await get(trusting, { "X-Forwarded-For": "192.0.2.1, 198.51.100.2, 127.0.0.1" })).toMatchObject({
      REMOTE_ADDR: "198.51.100.2",
      "wsgi.url_scheme": "http"
    })
  })

  it("a forged leftmost hop cannot skip past the real client", async () => {
    // The client itself sent "X-Forwarded-For: 10.0.0.1" and the trusted proxy appended it.
    expect(await get(trustingNetwork, { "X-Forwarded-For": "10.0.0.1, 198.51.100.9" })).toMatchObject({
      REMOTE_ADDR: "198.51.100.9"
    })
  })

  it("a hop that is not an address leaves REMOTE_ADDR alone", async () => {
    for (const value of ["unknown", "<script>", "1.2.3.4, not-an-ip", "_hidden", ""]) {
      expect(await get(trusting, { "X-Forwarded-For": value })).toMatchObject({ REMOTE_ADDR: "127.0.0.1" })
    }
  })
})

describe("forwarded headers over a unix socket (a proxy on the same machine)", () => {
  let dir: string
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("a peer on the unix socket is trusted once any peer is (as gunicorn), never by default", async () => {
    dir = mkdtempSync(join(tmpdir(), "effect-wsgi-forwarded-"))
    const trusting = await makeServer("", 0, echo, { path: join(dir, "trusting.sock"), forwardedAllowIps: ["127.0.0.1"] })
    const plain = await makeServer("", 0, echo, { path: join(dir, "plain.sock") })
    try {
      const headers = { "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https" }
      expect(await get(trusting, headers, join(dir, "trusting.sock"))).toMatchObject({
        REMOTE_ADDR: "203.0.113.7",
        "wsgi.url_scheme": "https"
      })
      expect(await get(plain, headers, join(dir, "plain.sock"))).toMatchObject({
        REMOTE_ADDR: "",
        "wsgi.url_scheme": "http",
        HTTP_X_FORWARDED_FOR: "203.0.113.7"
      })
    } finally {
      await Promise.all([trusting.close(), plain.close()])
    }
  })
})
