/**
 * `makeServer`'s `proxyProtocol` over raw sockets: HAProxy's PROXY protocol v1 and v2
 * (doc/proxy-protocol.txt: its example line, its longest lines, v2's address blocks with
 * and without TLVs, LOCAL), headers in pieces and with requests behind them in the same
 * packet; and every way a connection is refused before a byte reaches node:http or the
 * app (an untrusted peer, malformed headers, no header, a header too slow), each with one
 * error-log line. The header parser is also tested on its own.
 */
import { readFileSync } from "node:fs"
import { connect as netConnect, createServer as createNetServer } from "node:net"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect as tlsConnect } from "node:tls"
import { afterEach, describe, expect, it } from "vitest"
import { ErrorLog, type MemoryErrorLog } from "../src/ErrorLog.js"
import type { Application } from "../src/Protocol.js"
import { makeServer, type ServerOptions, type WSGIServer } from "../src/Server.js"
import { ipv6Text, parseProxyHeader, V1_MAX_LENGTH, V2_MAX_LENGTH } from "../src/internal/node/proxyProtocol.js"
import { destroyAllClients, RawClient, type RawResponse, sendInPieces } from "./support/rawHttp.js"

// --- Headers, as HAProxy's spec lays them out -----------------------------------------------

/** v2's 12-byte signature. */
const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** A v2 header: version and command byte, family and transport byte, address block, TLVs. */
const v2 = (verCmd: number, famProto: number, block: Uint8Array = Buffer.alloc(0), tlvs: Uint8Array = Buffer.alloc(0), length?: number): Buffer => {
  const head = Buffer.alloc(4)
  head[0] = verCmd
  head[1] = famProto
  head.writeUInt16BE(length ?? block.length + tlvs.length, 2)
  return Buffer.concat([SIGNATURE, head, block, tlvs])
}

const ipv4Bytes = (address: string): Buffer => Buffer.from(address.split(".").map(Number))

/** A full IPv6 address (eight groups, no `::`) as bytes. */
const ipv6Bytes = (groups: string): Buffer => {
  const bytes = Buffer.alloc(16)
  groups.split(":").forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), 2 * i))
  return bytes
}

const port = (n: number): Buffer => {
  const bytes = Buffer.alloc(2)
  bytes.writeUInt16BE(n)
  return bytes
}

/** The spec's `ipv4_addr` block: source, destination, source port, destination port. */
const inet = (source: string, destination: string, sourcePort: number, destinationPort: number): Buffer =>
  Buffer.concat([ipv4Bytes(source), ipv4Bytes(destination), port(sourcePort), port(destinationPort)])

/** The spec's `ipv6_addr` block. */
const inet6 = (source: string, destination: string, sourcePort: number, destinationPort: number): Buffer =>
  Buffer.concat([ipv6Bytes(source), ipv6Bytes(destination), port(sourcePort), port(destinationPort)])

/** A TLV: type, 16-bit length, value. */
const tlv = (type: number, value: Uint8Array): Buffer => {
  const head = Buffer.alloc(3)
  head[0] = type
  head.writeUInt16BE(value.length, 1)
  return Buffer.concat([head, value])
}

/** The TLVs HAProxy may send: ALPN, authority (SNI), a unique ID, NOOP padding, and SSL with its sub-TLVs. */
const haproxyTlvs = Buffer.concat([
  tlv(0x01, Buffer.from("http/1.1")),
  tlv(0x02, Buffer.from("example.com")),
  tlv(0x05, Buffer.from("a2b4c6d8e0f2")),
  tlv(0x04, Buffer.alloc(5)),
  // PP2_TYPE_SSL: client flags (SSL), verify 0, then PP2_SUBTYPE_SSL_VERSION and _CIPHER.
  tlv(
    0x20,
    Buffer.concat([Buffer.from([0x01, 0, 0, 0, 0]), tlv(0x21, Buffer.from("TLSv1.3")), tlv(0x23, Buffer.from("TLS_AES_128_GCM_SHA256"))])
  )
])

const ALL_F = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

/** The spec's example of a request behind a v1 line. */
const SPEC_V1 = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
const REQUEST = "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"

// --- The server under test ------------------------------------------------------------------

interface Seen {
  readonly REMOTE_ADDR: string
  readonly REMOTE_PORT: string | null
  readonly PATH_INFO: string
  readonly HTTPS: string | null
  readonly HTTP_X_FORWARDED_FOR: string | null
}

let calls = 0
/** What the app saw, as JSON. */
const app: Application = (environ, startResponse) => {
  calls++
  const seen: Seen = {
    REMOTE_ADDR: environ["REMOTE_ADDR"] as string,
    REMOTE_PORT: (environ["REMOTE_PORT"] as string | undefined) ?? null,
    PATH_INFO: environ["PATH_INFO"] as string,
    HTTPS: (environ["HTTPS"] as string | undefined) ?? null,
    HTTP_X_FORWARDED_FOR: (environ["HTTP_X_FORWARDED_FOR"] as string | undefined) ?? null
  }
  startResponse("200 OK", [["Content-Type", "application/json"]])
  return [Buffer.from(JSON.stringify(seen))]
}

const servers: Array<WSGIServer> = []
let errors: MemoryErrorLog

const serve = async (options: ServerOptions = {}, host = "127.0.0.1"): Promise<WSGIServer> => {
  errors = ErrorLog.memory()
  calls = 0
  const server = await makeServer(host, 0, app, { errorLog: errors, closeTimeout: 2_000, proxyProtocol: true, ...options })
  servers.push(server)
  return server
}

afterEach(async () => {
  destroyAllClients()
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

const seenOf = (response: RawResponse): Seen => {
  expect(response.code).toBe(200)
  return JSON.parse(response.body.toString("utf8")) as Seen
}

/** Send `data` (a header and a request) on a new connection; what the app saw, and the client's port. */
const exchange = async (server: WSGIServer, data: string | Uint8Array): Promise<{ seen: Seen; localPort: number }> => {
  const client = await RawClient.connect(server.port)
  client.send(data)
  const seen = seenOf(await client.response())
  return { seen, localPort: client.socket.localPort! }
}

/** The error log's lines. */
const logLines = (): Array<string> => errors.text().split("\n").filter((line) => line !== "")

/**
 * Send `data` on a new connection and expect the server to close it without an answer and
 * without calling the app, with one log line from 127.0.0.1 saying `why`.
 */
const refused = async (server: WSGIServer, data: string | Uint8Array, why: string | RegExp): Promise<void> => {
  const client = await RawClient.connect(server.port)
  client.send(data)
  const answer = await client.end()
  expect(answer.length).toBe(0)
  expect(calls).toBe(0)
  // The line is written before the socket is destroyed.
  const lines = logLines()
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4} \d\d:\d\d:\d\d\] PROXY protocol: connection closed \(/)
  if (typeof why === "string") expect(lines[0]).toContain(why)
  else expect(lines[0]).toMatch(why)
}

// --- The parser on its own ------------------------------------------------------------------

describe("parseProxyHeader", () => {
  it("reads the spec's v1 example and says how long the header is", () => {
    const data = Buffer.from(SPEC_V1 + REQUEST, "latin1")
    expect(parseProxyHeader(data)).toEqual({
      kind: "header",
      length: SPEC_V1.length,
      peer: { address: "192.168.0.1", port: 56324, family: "IPv4" }
    })
  })

  it("wants more for every proper prefix of a v1 and a v2 header, and none of them is invalid", () => {
    const headers = [Buffer.from(SPEC_V1, "latin1"), v2(0x21, 0x11, inet("192.168.0.1", "192.168.0.11", 56324, 443), haproxyTlvs)]
    for (const header of headers) {
      for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n))).toEqual({ kind: "more" })
      expect(parseProxyHeader(header).kind).toBe("header")
    }
  })

  it("accepts the spec's longest lines: TCP6 at 104 bytes, UNKNOWN at 107", () => {
    const tcp6 = `PROXY TCP6 ${ALL_F} ${ALL_F} 65535 65535\r\n`
    expect(tcp6.length).toBe(104)
    expect(parseProxyHeader(Buffer.from(tcp6))).toEqual({
      kind: "header",
      length: 104,
      peer: { address: ALL_F, port: 65535, family: "IPv6" }
    })
    const unknown = `PROXY UNKNOWN ${ALL_F} ${ALL_F} 65535 65535\r\n`
    expect(unknown.length).toBe(V1_MAX_LENGTH)
    expect(parseProxyHeader(Buffer.from(unknown))).toEqual({ kind: "header", length: 107, peer: null })
    expect(parseProxyHeader(Buffer.from("PROXY UNKNOWN\r\n"))).toEqual({ kind: "header", length: 15, peer: null })
  })

  it("writes v2's IPv6 addresses as node's sockets do", () => {
    expect(ipv6Text(ipv6Bytes("2001:0db8:0000:0000:0000:0000:0000:0001"))).toBe("2001:db8::1")
    expect(ipv6Text(ipv6Bytes("0000:0000:0000:0000:0000:0000:0000:0001"))).toBe("::1")
    expect(ipv6Text(ipv6Bytes("0000:0000:0000:0000:0000:0000:0000:0000"))).toBe("::")
    expect(ipv6Text(ipv6Bytes("0000:0000:0000:0000:0000:ffff:c000:0201"))).toBe("::ffff:192.0.2.1")
    expect(ipv6Text(ipv6Bytes("2001:0db8:0000:0001:0000:0000:0001:0001"))).toBe("2001:db8:0:1::1:1")
    expect(ipv6Text(ipv6Bytes("2001:0db8:0000:0001:0001:0001:0001:0001"))).toBe("2001:db8:0:1:1:1:1:1")
    expect(ipv6Text(ipv6Bytes("fe80:0000:0000:0000:0000:0000:0000:0000"))).toBe("fe80::")
    expect(ipv6Text(ipv6Bytes(ALL_F))).toBe(ALL_F)
  })

  it("finds what is wrong with a malformed header as soon as the bytes show it", () => {
    const why = (text: string | Buffer): string => {
      const parsed = parseProxyHeader(typeof text === "string" ? Buffer.from(text, "latin1") : text)
      if (parsed.kind !== "invalid") throw new Error(`not invalid: ${JSON.stringify(parsed)}`)
      return parsed.why
    }
    expect(why("GET / HTTP/1.1\r\n")).toBe("no PROXY header: it began with \"GET / HTTP/1.1\r\n\"")
    expect(why("PROXY\r\n")).toMatch(/^no PROXY header/)
    expect(why("\x16\x03\x01")).toMatch(/^no PROXY header/)
    expect(why("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n")).toMatch(/bare LF/)
    expect(why("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX")).toMatch(/CR not followed by LF/)
    // 107 bytes and no CRLF yet: refused without waiting for more.
    expect(why(`PROXY UNKNOWN ${ALL_F} ${ALL_F} 65535 6553500`)).toMatch(/without CRLF in its first 107 bytes/)
    expect(why("PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n")).toMatch(/port/)
    expect(why("PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n")).toMatch(/port/)
    expect(why("PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n")).toMatch(/port/)
    expect(why("PROXY TCP4 192.168.0.1 192.168.0.11 56324 x\r\n")).toMatch(/port/)
    expect(why("PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n")).toMatch(/address/)
    expect(why("PROXY TCP4 2001:db8::1 192.168.0.11 56324 443\r\n")).toMatch(/address/)
    expect(why("PROXY TCP6 192.168.0.1 2001:db8::11 56324 443\r\n")).toMatch(/address/)
    expect(why("PROXY TCP6 fe80::1%eth0 2001:db8::11 56324 443\r\n")).toMatch(/address/)
    expect(why("PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n")).toMatch(/fields/)
    expect(why("PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n")).toMatch(/fields/)
    expect(why("PROXY UDP4 192.168.0.1 192.168.0.11 56324 443\r\n")).toMatch(/protocol "UDP4"/)
    expect(why("PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n")).toMatch(/protocol "tcp4"/)
    const block = inet("192.168.0.1", "192.168.0.11", 56324, 443)
    expect(why(Buffer.concat([SIGNATURE.subarray(0, 11), Buffer.from("X")]))).toMatch(/^no PROXY header/)
    expect(why(v2(0x11, 0x11, block))).toMatch(/version 1, not 2/)
    expect(why(v2(0x31, 0x11, block))).toMatch(/version 3, not 2/)
    expect(why(v2(0x22, 0x11, block))).toMatch(/command 2/)
    expect(why(v2(0x21, 0x41, block))).toMatch(/family and transport 0x41/)
    expect(why(v2(0x21, 0x13, block))).toMatch(/family and transport 0x13/)
    expect(why(v2(0x21, 0x11, block.subarray(0, 8)))).toMatch(/address block of 8 bytes \(family 1 needs 12\)/)
    expect(why(v2(0x21, 0x21, block))).toMatch(/address block of 12 bytes \(family 2 needs 36\)/)
    // Refused from its 16 fixed bytes: the announced bytes are never waited for.
    expect(why(v2(0x21, 0x11, Buffer.alloc(0), Buffer.alloc(0), V2_MAX_LENGTH + 1))).toMatch(/4097 address and TLV bytes \(at most 4096\)/)
    expect(why(v2(0x21, 0x11, Buffer.alloc(0), Buffer.alloc(0), 0xffff))).toMatch(/65535 address and TLV bytes/)
  })
})

// --- HAProxy's spec over real connections -------------------------------------------------------

describe("makeServer with proxyProtocol: the header's client is the peer", () => {
  it("v1 TCP4, the spec's example: REMOTE_ADDR and REMOTE_PORT from the header", async () => {
    const server = await serve()
    const { seen } = await exchange(server, SPEC_V1 + REQUEST)
    expect(seen).toMatchObject({ REMOTE_ADDR: "192.168.0.1", REMOTE_PORT: "56324", PATH_INFO: "/" })
    expect(errors.text()).toBe("")
  })

  it("v1 TCP6: the address as the proxy wrote it (lower case), also at the longest line", async () => {
    const server = await serve()
    expect((await exchange(server, `PROXY TCP6 2001:DB8::1 2001:db8::11 56324 443\r\n${REQUEST}`)).seen).toMatchObject({
      REMOTE_ADDR: "2001:db8::1",
      REMOTE_PORT: "56324"
    })
    expect((await exchange(server, `PROXY TCP6 ${ALL_F} ${ALL_F} 65535 65535\r\n${REQUEST}`)).seen).toMatchObject({
      REMOTE_ADDR: ALL_F,
      REMOTE_PORT: "65535"
    })
  })

  it("v1 UNKNOWN, short and at 107 bytes: the connection's own peer and port", async () => {
    const server = await serve()
    for (const line of ["PROXY UNKNOWN\r\n", `PROXY UNKNOWN ${ALL_F} ${ALL_F} 65535 65535\r\n`]) {
      const { localPort, seen } = await exchange(server, line + REQUEST)
      expect(seen).toMatchObject({ REMOTE_ADDR: "127.0.0.1", REMOTE_PORT: String(localPort) })
    }
  })

  it("v2 PROXY, TCP over IPv4, without and with TLVs (skipped)", async () => {
    const server = await serve()
    const block = inet("192.168.0.1", "192.168.0.11", 56324, 443)
    expect((await exchange(server, Buffer.concat([v2(0x21, 0x11, block), Buffer.from(REQUEST)]))).seen).toMatchObject({
      REMOTE_ADDR: "192.168.0.1",
      REMOTE_PORT: "56324"
    })
    expect((await exchange(server, Buffer.concat([v2(0x21, 0x11, block, haproxyTlvs), Buffer.from(REQUEST)]))).seen).toMatchObject({
      REMOTE_ADDR: "192.168.0.1",
      REMOTE_PORT: "56324"
    })
  })

  it("v2 PROXY, TCP over IPv6, without and with TLVs, IPv4-mapped addresses as node writes them", async () => {
    const server = await serve()
    const block = inet6("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:0db8:0000:0000:0000:0000:0000:0011", 56324, 443)
    expect((await exchange(server, Buffer.concat([v2(0x21, 0x21, block), Buffer.from(REQUEST)]))).seen).toMatchObject({
      REMOTE_ADDR: "2001:db8::1",
      REMOTE_PORT: "56324"
    })
    expect((await exchange(server, Buffer.concat([v2(0x21, 0x21, block, haproxyTlvs), Buffer.from(REQUEST)]))).seen).toMatchObject({
      REMOTE_ADDR: "2001:db8::1",
      REMOTE_PORT: "56324"
    })
    const mapped = inet6("0000:0000:0000:0000:0000:ffff:c000:0201", "0000:0000:0000:0000:0000:ffff:c000:020b", 40000, 443)
    expect((await exchange(server, Buffer.concat([v2(0x21, 0x21, mapped), Buffer.from(REQUEST)]))).seen).toMatchObject({
      REMOTE_ADDR: "::ffff:192.0.2.1",
      REMOTE_PORT: "40000"
    })
  })

  it("v2 LOCAL (a health check): the real peer, with or without an address block to skip", async () => {
    const server = await serve()
    const withBlock = v2(0x20, 0x11, inet("192.168.0.1", "192.168.0.11", 56324, 443), haproxyTlvs)
    for (const header of [v2(0x20, 0x00), withBlock]) {
      const { localPort, seen } = await exchange(server, Buffer.concat([header, Buffer.from(REQUEST)]))
      expect(seen).toMatchObject({ REMOTE_ADDR: "127.0.0.1", REMOTE_PORT: String(localPort) })
    }
  })

  it("v2 PROXY over AF_UNIX, AF_UNSPEC or UDP: the real peer (the spec's fallback)", async () => {
    const server = await serve()
    const unix = Buffer.alloc(216)
    unix.write("/run/client.sock")
    const headers = [v2(0x21, 0x31, unix), v2(0x21, 0x00), v2(0x21, 0x12, inet("192.168.0.1", "192.168.0.11", 56324, 443))]
    for (const header of headers) {
      const { localPort, seen } = await exchange(server, Buffer.concat([header, Buffer.from(REQUEST)]))
      expect(seen).toMatchObject({ REMOTE_ADDR: "127.0.0.1", REMOTE_PORT: String(localPort) })
    }
  })

  it("a header in one-byte packets, then its request in pieces (v1 and v2)", async () => {
    const server = await serve()
    const headers = [Buffer.from(SPEC_V1), v2(0x21, 0x11, inet("192.168.0.1", "192.168.0.11", 56324, 443), haproxyTlvs)]
    for (const header of headers) {
      const client = await RawClient.connect(server.port)
      await sendInPieces(client, header, [1])
      await sendInPieces(client, REQUEST, [5])
      expect(seenOf(await client.response())).toMatchObject({ REMOTE_ADDR: "192.168.0.1", REMOTE_PORT: "56324" })
      client.destroy()
    }
  })

  it("pipelined requests in the header's packet, and a request split across it and the next", async () => {
    const server = await serve()
    const client = await RawClient.connect(server.port)
    client.socket.setNoDelay(true)
    const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`
    const third = request("/c")
    // One packet: the header, two requests, and the start of a third.
    client.send(SPEC_V1 + request("/a") + request("/b") + third.slice(0, 10))
    await new Promise((resolve) => setTimeout(resolve, 30))
    client.send(third.slice(10))
    const paths: Array<string> = []
    for (let i = 0; i < 3; i++) {
      const seen = seenOf(await client.response())
      expect(seen).toMatchObject({ REMOTE_ADDR: "192.168.0.1", REMOTE_PORT: "56324" })
      paths.push(seen.PATH_INFO)
    }
    expect(paths).toEqual(["/a", "/b", "/c"])
    // Keep-alive: a later request on the connection comes from the same client.
    client.send(request("/d"))
    expect(seenOf(await client.response())).toMatchObject({ REMOTE_ADDR: "192.168.0.1", PATH_INFO: "/d" })
  })

  it("the access log and an error-log refusal name the proxied client", async () => {
    const access: Array<string> = []
    const server = await serve({ accessLog: (line) => access.push(line) })
    await exchange(server, SPEC_V1 + REQUEST)
    expect(access).toHaveLength(1)
    expect(access[0]).toMatch(/^192\.168\.0\.1 - - \[.*\] "GET \/ HTTP\/1\.1" 200 \d+$/)
    // A request the gateway refuses (no Host) is logged under the client too.
    const client = await RawClient.connect(server.port)
    client.send(`${SPEC_V1}GET / HTTP/1.1\r\n\r\n`)
    expect((await client.response()).code).toBe(400)
    expect(logLines().some((line) => line.startsWith("192.168.0.1 - - ["))).toBe(true)
  })

  it("forwardedAllowIps is judged against the header's client, not the proxy that sent it", async () => {
    const server = await serve({ forwardedAllowIps: ["127.0.0.1", "192.168.0.1"] })
    const forwarded = "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n"
    // From a trusted client (another proxy before ours): its X-Forwarded-For counts.
    expect((await exchange(server, SPEC_V1 + forwarded)).seen).toMatchObject({ REMOTE_ADDR: "203.0.113.9", REMOTE_PORT: "56324" })
    // From any other client, its own header is only a header, though our peer (127.0.0.1) is trusted.
    expect((await exchange(server, `PROXY TCP4 198.51.100.7 192.168.0.11 50000 443\r\n${forwarded}`)).seen).toMatchObject({
      REMOTE_ADDR: "198.51.100.7",
      REMOTE_PORT: "50000",
      HTTP_X_FORWARDED_FOR: "203.0.113.9"
    })
  })

  it("proxyAllowIps takes networks and \"*\"; a unix socket's peers are allowed", async () => {
    for (const allowIps of [["10.0.0.0/8", "127.0.0.0/8"], ["*"], ["::ffff:127.0.0.1"]]) {
      const server = await serve({ proxyAllowIps: allowIps })
      expect((await exchange(server, SPEC_V1 + REQUEST)).seen.REMOTE_ADDR).toBe("192.168.0.1")
    }
    const dir = mkdtempSync(join(tmpdir(), "effect-wsgi-proxy-"))
    try {
      const path = join(dir, "sock")
      await serve({ path, proxyAllowIps: ["10.0.0.1"] })
      const body = await new Promise<string>((resolve, reject) => {
        const socket = netConnect(path)
        let data = ""
        socket.on("data", (chunk) => (data += chunk.toString("latin1")))
        socket.on("end", () => resolve(data))
        socket.on("error", reject)
        socket.write(`${SPEC_V1}GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      })
      expect(JSON.parse(body.slice(body.indexOf("\r\n\r\n") + 4))).toMatchObject({ REMOTE_ADDR: "192.168.0.1", REMOTE_PORT: "56324" })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("with tls: the header comes before the handshake; HTTPS and the client's address together", async () => {
    const fixtures = join(import.meta.dirname, "deploy", "fixtures")
    const server = await serve({
      tls: { cert: readFileSync(join(fixtures, "localhost.crt")), key: readFileSync(join(fixtures, "localhost.key")) }
    })
    const raw = await RawClient.connect(server.port)
    raw.send(v2(0x21, 0x11, inet("192.168.0.1", "192.168.0.11", 56324, 443), haproxyTlvs))
    const body = await new Promise<string>((resolve, reject) => {
      const secure = tlsConnect({ socket: raw.socket, rejectUnauthorized: false }, () => {
        secure.write("GET /tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
      })
      let data = ""
      secure.on("data", (chunk: Buffer) => (data += chunk.toString("latin1")))
      secure.on("end", () => resolve(data))
      secure.on("error", reject)
    })
    expect(JSON.parse(body.slice(body.indexOf("\r\n\r\n") + 4))).toMatchObject({
      REMOTE_ADDR: "192.168.0.1",
      REMOTE_PORT: "56324",
      HTTPS: "on",
      PATH_INFO: "/tls"
    })
  })
})

// --- Refusals ---------------------------------------------------------------------------------

describe("makeServer with proxyProtocol: refusals close the connection before any parser or app", () => {
  it("a peer not in proxyAllowIps: closed, one line, the app never called", async () => {
    const server = await serve({ proxyAllowIps: ["10.0.0.0/8", "::1"] })
    await refused(server, SPEC_V1 + REQUEST, "not in proxyAllowIps")
  })

  it("plain HTTP with no header: closed, the opening bytes logged", async () => {
    const server = await serve()
    await refused(server, REQUEST, /no PROXY header: it began with "GET \/ HTTP\/1\.1\\x0d\\x0a"\)$/)
  })

  it("a TLS ClientHello with no header: closed", async () => {
    const server = await serve()
    await refused(server, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01]), /no PROXY header: it began with "\\x16\\x03\\x01\\x00/)
  })

  const malformedV1: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["too long (no CRLF in 107 bytes)", `PROXY UNKNOWN ${ALL_F} ${ALL_F} 65535 65535 ${REQUEST}`, /without CRLF in its first 107 bytes/],
    ["a port past 65535", "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n", /port not a decimal/],
    ["a port with a leading zero", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 0443\r\n", /port not a decimal/],
    ["a bare LF", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\nGET / HTTP/1.1\r\n", /bare LF/],
    ["a bad address", "PROXY TCP4 192.168.0.256 192.168.0.11 56324 443\r\n", /address that is not one/],
    ["an unknown protocol", "PROXY SCTP4 192.168.0.1 192.168.0.11 56324 443\r\n", /protocol "SCTP4"/]
  ]
  for (const [name, data, why] of malformedV1) {
    it(`malformed v1, ${name}: closed, logged`, async () => {
      const server = await serve()
      await refused(server, data + REQUEST, why)
    })
  }

  const block = inet("192.168.0.1", "192.168.0.11", 56324, 443)
  const malformedV2: ReadonlyArray<readonly [string, Buffer, RegExp]> = [
    ["a bad signature", Buffer.concat([SIGNATURE.subarray(0, 7), Buffer.from("QUIZ\n"), Buffer.from([0x21, 0x11, 0, 12]), block]), /no PROXY header/],
    ["version 1", v2(0x11, 0x11, block), /version 1, not 2/],
    ["an unassigned command", v2(0x2f, 0x11, block), /command 15/],
    ["an unassigned family", v2(0x21, 0x51, block), /family and transport 0x51/],
    ["a length too short for its family", v2(0x21, 0x21, block), /address block of 12 bytes/],
    ["a length past the bound", v2(0x21, 0x11, block, Buffer.alloc(0), 0xffff), /65535 address and TLV bytes/]
  ]
  for (const [name, data, why] of malformedV2) {
    it(`malformed v2, ${name}: closed, logged`, async () => {
      const server = await serve()
      await refused(server, Buffer.concat([data, Buffer.from(REQUEST)]), why)
    })
  }

  it("a header that does not complete within headersTimeout: closed then, logged", async () => {
    const server = await serve({ headersTimeout: 300 })
    const client = await RawClient.connect(server.port)
    const started = Date.now()
    client.send("PROXY TCP4 192.168.0.1 ")
    expect((await client.end()).length).toBe(0)
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(elapsed).toBeLessThan(2_000)
    expect(logLines()).toEqual([expect.stringMatching(/^127\.0\.0\.1 - - \[.*\] PROXY protocol: connection closed \(no complete PROXY header within 300 ms\)$/)])
    // A connection that sends nothing at all is closed the same way.
    const silent = await RawClient.connect(server.port)
    await silent.end()
    expect(logLines()[1]).toMatch(/no PROXY header within 300 ms/)
    expect(calls).toBe(0)
  })

  it("a peer that closes in its header is logged; one that closes without a byte (a port check) is not", async () => {
    const server = await serve()
    const check = await RawClient.connect(server.port)
    check.socket.end()
    await check.end()
    const partial = await RawClient.connect(server.port)
    partial.socket.end("PROXY TCP4 192.")
    await partial.end()
    // The server's side closes right after it logs; give the probe's close a turn too.
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(logLines()).toEqual([expect.stringMatching(/PROXY protocol: connection closed \(closed by the peer in its header, after 15 bytes\)$/)])
  })

  it("close() closes connections still waiting for their header at once", async () => {
    const server = await serve()
    const client = await RawClient.connect(server.port)
    client.send("PROXY TCP4")
    await new Promise((resolve) => setTimeout(resolve, 20))
    const started = Date.now()
    await server.close()
    expect(Date.now() - started).toBeLessThan(1_000)
    await client.end()
    expect(calls).toBe(0)
  })

  it("without proxyProtocol nothing changes: the header is node:http's bad request, and no REMOTE_PORT", async () => {
    const server = await serve({ proxyProtocol: false })
    const client = await RawClient.connect(server.port)
    client.send(SPEC_V1 + REQUEST)
    expect((await client.response()).code).toBe(400)
    const { seen } = await exchange(server, REQUEST)
    expect(seen).toMatchObject({ REMOTE_ADDR: "127.0.0.1", REMOTE_PORT: null })
  })
})

/** IPv6 loopback, when the machine has it. */
const hasIpv6 = await new Promise<boolean>((resolve) => {
  const probe = createNetServer()
  probe.once("error", () => resolve(false))
  probe.listen(0, "::1", () => probe.close(() => resolve(true)))
})

describe.skipIf(!hasIpv6)("makeServer with proxyProtocol over IPv6 loopback", () => {
  it("the default proxyAllowIps allows ::1", async () => {
    const server = await serve({}, "::1")
    const client = await RawClient.connect(server.port, "::1")
    client.send(SPEC_V1 + REQUEST)
    expect(seenOf(await client.response())).toMatchObject({ REMOTE_ADDR: "192.168.0.1", REMOTE_PORT: "56324" })
  })
})
