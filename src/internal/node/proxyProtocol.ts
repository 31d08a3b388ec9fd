/**
 * The PROXY protocol, versions 1 and 2 (HAProxy's `proxy-protocol.txt`), in front of
 * makeServer's `node:http` parser: every connection must begin with a PROXY header from an
 * allowed proxy; the header is read and taken off here, and only then is the socket handed
 * to node:http (which never sees the header's bytes), reporting the client the header
 * names as its peer. Anything else is closed before a byte of it reaches a parser or an
 * app, with one line in the error log.
 *
 * Nothing here runs for a server without `proxyProtocol`: the gateway only looks for
 * `proxiedVariables` on a socket, which no other socket has.
 */
import { Server as HttpServer } from "node:http"
import { Socket } from "node:net"
import { isIP } from "node:net"
import type { Server } from "node:net"
import { Server as TlsServer, type TLSSocket } from "node:tls"
import type { CgiVariables } from "../../Protocol.js"
import { formatLogLine } from "./accessLog.js"
import { isTrusted } from "./forwarded.js"
import { type ProxiedSocket as SocketWithVariables, proxiedVariables, tlsVariablesOf } from "./connectionVariables.js"
import type { LineLog } from "./tls.js"

/** Default of `proxyAllowIps`: a proxy on the same host (as gunicorn's `proxy_allow_ips`). */
export const DEFAULT_PROXY_ALLOW_IPS: ReadonlyArray<string> = Object.freeze(["127.0.0.1", "::1"])

/** The longest v1 line, CRLF included (`PROXY UNKNOWN` with two full IPv6 addresses and ports). */
export const V1_MAX_LENGTH = 107

/**
 * The most address and TLV bytes a v2 header may announce. The spec allows 65 535; the
 * TLVs proxies send (ALPN, SNI, TLS details, a unique ID, a cloud's endpoint ID) take a
 * few hundred, and a bound keeps a proxy from making us buffer 64 KiB per connection.
 */
export const V2_MAX_LENGTH = 4096

/** `\r\n\r\n\0\r\nQUIT\n`: the 12 bytes a v2 header begins with. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V1_PREFIX = Buffer.from("PROXY ", "latin1")

/** The client a header names, in place of the proxy's own address. */
export interface ProxiedPeer {
  readonly address: string
  readonly port: number
  readonly family: "IPv4" | "IPv6"
}

/** What the bytes received so far are. */
export type HeaderParse =
  /** A header's beginning: wait for more. */
  | { readonly kind: "more" }
  /**
   * A whole header, `length` bytes long; `peer` is null when the connection keeps its own
   * peer (v1 `UNKNOWN`, v2 `LOCAL`, an AF_UNIX or unspecified address).
   */
  | { readonly kind: "header"; readonly length: number; readonly peer: ProxiedPeer | null }
  /** Not a header, or a broken one: why. */
  | { readonly kind: "invalid"; readonly why: string }

const MORE: HeaderParse = { kind: "more" }
const invalid = (why: string): HeaderParse => ({ kind: "invalid", why })

/** True when `data` agrees with `prefix` as far as either goes. */
const startsLike = (data: Buffer, prefix: Buffer): boolean => {
  const n = Math.min(data.length, prefix.length)
  return data.subarray(0, n).equals(prefix.subarray(0, n))
}

/** Bytes quoted for the log, as latin-1 text (formatLogLine escapes their controls). */
const quoted = (data: Buffer | string): string => `"${typeof data === "string" ? data : data.toString("latin1")}"`

/**
 * Read a PROXY header at the start of `data` (v2 when it starts with the v2 signature, v1
 * when it starts with `PROXY `; anything else is no header). The rest of `data` after
 * `length` is the proxied connection's own bytes.
 */
export const parseProxyHeader = (data: Buffer): HeaderParse => {
  if (data.length === 0) return MORE
  if (startsLike(data, V2_SIGNATURE)) return parseV2(data)
  if (startsLike(data, V1_PREFIX)) return parseV1(data)
  return invalid(`no PROXY header: it began with ${quoted(data.subarray(0, 16))}`)
}

// --- Version 1: one line of text ---------------------------------------------------------

// The spec's canonical forms: no leading zeros in an IPv4 byte or a port (no octal doubt).
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const PORT = /^(?:0|[1-9]\d{0,4})$/

const isPort = (text: string): boolean => PORT.test(text) && Number(text) <= 65535

const parseV1 = (data: Buffer): HeaderParse => {
  const scan = Math.min(data.length, V1_MAX_LENGTH)
  let end = -1
  for (let i = V1_PREFIX.length; i < scan; i++) {
    const byte = data[i]!
    if (byte === 0x0a) return invalid("v1 line ended by a bare LF, not CRLF")
    if (byte === 0x0d) {
      if (i + 1 >= data.length) return MORE
      if (data[i + 1] !== 0x0a) return invalid("v1 line with a CR not followed by LF")
      end = i
      break
    }
  }
  if (end === -1) return data.length >= V1_MAX_LENGTH ? invalid(`v1 line without CRLF in its first ${V1_MAX_LENGTH} bytes`) : MORE
  const line = data.subarray(0, end).toString("latin1")
  const fields = line.split(" ")
  const protocol = fields[1]!
  // The receiver must ignore whatever follows UNKNOWN, and keep the real endpoints.
  if (protocol === "UNKNOWN") return { kind: "header", length: end + 2, peer: null }
  if (protocol !== "TCP4" && protocol !== "TCP6") return invalid(`v1 protocol ${quoted(protocol)} (TCP4, TCP6 or UNKNOWN)`)
  if (fields.length !== 6) return invalid(`v1 ${protocol} line with ${fields.length - 2} fields, not 4: ${quoted(line)}`)
  const [, , source, destination, sourcePort, destinationPort] = fields as [string, string, string, string, string, string]
  const valid = protocol === "TCP4" ? (address: string) => IPV4.test(address) : (address: string) => isIP(address) === 6 && !address.includes("%")
  if (!valid(source) || !valid(destination)) return invalid(`v1 ${protocol} address that is not one: ${quoted(line)}`)
  if (!isPort(sourcePort) || !isPort(destinationPort)) return invalid(`v1 port not a decimal in 0..65535: ${quoted(line)}`)
  return {
    kind: "header",
    length: end + 2,
    peer: { address: protocol === "TCP4" ? source : source.toLowerCase(), port: Number(sourcePort), family: protocol === "TCP4" ? "IPv4" : "IPv6" }
  }
}

// --- Version 2: binary --------------------------------------------------------------------

/** Address block sizes by family: AF_INET, AF_INET6, AF_UNIX. */
const ADDRESS_LENGTHS: ReadonlyArray<number> = [0, 12, 36, 216]

/**
 * An IPv6 address as node's sockets report one (libuv's `inet_ntop`): lower-case hex, the
 * longest run of two or more zero groups as `::`, IPv4-mapped and -compatible addresses
 * ending in dotted decimal. So a proxied address reads as the same client connecting
 * directly would.
 */
export const ipv6Text = (bytes: Uint8Array): string => {
  const words: Array<number> = []
  for (let i = 0; i < 8; i++) words.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!)
  let best = -1
  let bestLength = 0
  for (let i = 0, run = -1; i < 8; i++) {
    if (words[i] !== 0) {
      run = -1
      continue
    }
    if (run === -1) run = i
    if (i - run + 1 > bestLength) {
      best = run
      bestLength = i - run + 1
    }
  }
  if (bestLength < 2) best = -1
  let text = ""
  for (let i = 0; i < 8; i++) {
    if (best !== -1 && i >= best && i < best + bestLength) {
      if (i === best) text += ":"
      continue
    }
    if (i !== 0) text += ":"
    if (i === 6 && best === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
      return `${text}${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`
    }
    text += words[i]!.toString(16)
  }
  return best !== -1 && best + bestLength === 8 ? `${text}:` : text
}

const parseV2 = (data: Buffer): HeaderParse => {
  if (data.length < 16) return MORE
  const version = data[12]! >> 4
  const command = data[12]! & 0x0f
  const family = data[13]! >> 4
  const transport = data[13]! & 0x0f
  const length = data.readUInt16BE(14)
  if (version !== 2) return invalid(`v2 signature with version ${version}, not 2`)
  if (command > 1) return invalid(`v2 command ${command} (0 LOCAL or 1 PROXY)`)
  if (family > 3 || transport > 2) return invalid(`v2 family and transport 0x${data[13]!.toString(16).padStart(2, "0")}`)
  if (length > V2_MAX_LENGTH) return invalid(`v2 header of ${length} address and TLV bytes (at most ${V2_MAX_LENGTH})`)
  if (data.length < 16 + length) return MORE
  const total = 16 + length
  // LOCAL (a proxy's health check): the real endpoints, whatever the family says.
  if (command === 0) return { kind: "header", length: total, peer: null }
  const needed = transport === 0 ? 0 : ADDRESS_LENGTHS[family]!
  if (length < needed) return invalid(`v2 address block of ${length} bytes (family ${family} needs ${needed})`)
  // The TLVs after the addresses are skipped. Only TCP over IPv4 or IPv6 names a client
  // here; for the other valid combinations the spec has the receiver keep the real
  // endpoints (UDP cannot have reached a TCP listener; AF_UNIX has no address to give).
  if (transport !== 1 || (family !== 1 && family !== 2)) return { kind: "header", length: total, peer: null }
  return family === 1
    ? { kind: "header", length: total, peer: { address: `${data[16]}.${data[17]}.${data[18]}.${data[19]}`, port: data.readUInt16BE(24), family: "IPv4" } }
    : { kind: "header", length: total, peer: { address: ipv6Text(data.subarray(16, 32)), port: data.readUInt16BE(48), family: "IPv6" } }
}

// --- The connections ------------------------------------------------------------------------


/** On a TCP socket whose header was read: the client it named (null: its own peer). */
const proxiedPeer = Symbol("effect-wsgi/proxiedPeer")

/** A socket after its PROXY header: its variables, and the client the header named. */
interface ProxiedSocket extends SocketWithVariables {
  [proxiedPeer]?: ProxiedPeer | null
}

/**
 * Make `socket` report the proxied client as its peer: own properties over net.Socket's
 * getters, so REMOTE_ADDR, the access log and every error-log line (all of which read
 * `remoteAddress`), and the check of `forwardedAllowIps`, see the client, on this socket
 * only. The getters of every other socket stay as they are.
 */
const reportPeer = (socket: Socket, peer: ProxiedPeer): void => {
  Object.defineProperties(socket, {
    remoteAddress: { value: peer.address, enumerable: true, configurable: true },
    remotePort: { value: peer.port, enumerable: true, configurable: true },
    remoteFamily: { value: peer.family, enumerable: true, configurable: true }
  })
}

const portVariables = (port: number | undefined): Readonly<CgiVariables> =>
  Object.freeze(port === undefined ? {} : { REMOTE_PORT: String(port) })

/** A refused socket's late errors (a reset while it closes) have nobody to go to. */
const ignore = (): void => {}

/** What `acceptProxyHeaders` needs. */
export interface ProxyProtocolOptions {
  /** The peers allowed to send a header (forwarded.ts's allow-list syntax). */
  readonly allowIps: ReadonlyArray<string>
  /** Milliseconds a connection has to send its whole header. */
  readonly timeout: number
  /** True on a unix socket: its peers have no address, and are allowed (see requestVariables). */
  readonly unixSocket: boolean
  /** Where the refusals are logged (the gateway). */
  readonly log: LineLog
}

/** The running interception. */
export interface ProxyHeaders {
  /** Close the connections still waiting for their header (the server is closing: they have no request). */
  closePending(): void
}

/**
 * Put the PROXY protocol in front of `server` (makeServer's node:http, node:https or
 * node:http2 server, not yet listening, with all its `connection` listeners added,
 * node's own and ours: this is the last step before it listens): those listeners are taken
 * off and called with each socket once its header has been read, with the bytes after the
 * header put back (`unshift`) for node's parser (or TLS layer) to read first. A
 * `connection` listener added later runs before the header is read.
 */
export const acceptProxyHeaders = (server: Server, options: ProxyProtocolOptions): ProxyHeaders => {
  const { allowIps, log, timeout, unixSocket } = options
  const handlers = server.rawListeners("connection") as Array<(socket: Socket) => void>
  server.removeAllListeners("connection")
  const tls = server instanceof TlsServer
  // node:http's HTTP/1.1 parser reads the socket's handle itself, and leaves the bytes put
  // back to the socket's own flow; TLS (and HTTP/2) read them out of the socket themselves.
  const resume = server instanceof HttpServer
  const pending = new Map<Socket, () => void>()

  const refuse = (socket: Socket, peer: string | undefined, why: string): void => {
    socket.on("error", ignore)
    log.logLine(formatLogLine(peer ?? "-", `PROXY protocol: connection closed (${why})`))
    socket.destroy()
  }

  const handOver = (socket: Socket & ProxiedSocket, peer: ProxiedPeer | null): void => {
    if (peer !== null) reportPeer(socket, peer)
    socket[proxiedPeer] = peer
    socket[proxiedVariables] = portVariables(peer?.port ?? socket.remotePort)
    for (const handler of handlers) handler.call(server, socket)
    // The bytes put back flow to node:http's parser before its first read of the handle
    // (the flow starts this tick; a read comes after).
    if (resume) socket.resume()
  }

  server.on("connection", (socket: Socket) => {
    const peer = socket.remoteAddress
    if (peer === undefined && !unixSocket) {
      // Gone already (reset before we got to it): nobody to refuse.
      socket.destroy()
      return
    }
    if (peer !== undefined && !isTrusted(peer, allowIps)) return refuse(socket, peer, "not in proxyAllowIps")
    let data: Buffer = Buffer.alloc(0)
    const stop = (): void => {
      clearTimeout(timer)
      pending.delete(socket)
      socket.removeListener("data", onData)
      socket.removeListener("end", onEnd)
    }
    const onData = (chunk: Buffer): void => {
      data = data.length === 0 ? chunk : Buffer.concat([data, chunk])
      const parsed = parseProxyHeader(data)
      if (parsed.kind === "more") return
      stop()
      if (parsed.kind === "invalid") return refuse(socket, peer, parsed.why)
      socket.removeListener("error", onError)
      socket.pause()
      if (parsed.length < data.length) socket.unshift(data.subarray(parsed.length))
      handOver(socket, parsed.peer)
    }
    const onEnd = (): void => {
      stop()
      // A connection closed without a byte is a port check: nothing to report.
      if (data.length > 0) refuse(socket, peer, `closed by the peer in its header, after ${data.length} bytes`)
      else socket.destroy()
    }
    // Kept on a refused socket, so a late error has a listener.
    const onError = (): void => {
      stop()
      socket.destroy()
    }
    const timer = setTimeout(() => {
      stop()
      refuse(socket, peer, data.length === 0 ? `no PROXY header within ${timeout} ms` : `no complete PROXY header within ${timeout} ms`)
    }, timeout)
    pending.set(socket, stop)
    socket.on("data", onData)
    socket.on("end", onEnd)
    socket.on("error", onError)
  })

  if (tls) {
    // The TLS socket node makes over the TCP one reads its peer from the kernel: it is
    // told the proxied client too, before node:http (or a handshake failure's log line) asks.
    server.prependListener("tlsClientError", (_error: Error, socket: TLSSocket) => adoptPeer(socket, false))
    server.prependListener("secureConnection", (socket: TLSSocket) => adoptPeer(socket, true))
  }

  return {
    closePending: () => {
      for (const [socket, stop] of pending) {
        stop()
        socket.destroy()
      }
    }
  }
}

/** A TLS socket takes the peer its TCP socket's header named (node's `_parent`, as tls.ts). */
const adoptPeer = (socket: TLSSocket & ProxiedSocket, secure: boolean): void => {
  const raw = (socket as { _parent?: unknown })._parent
  if (!(raw instanceof Socket)) return
  const peer = (raw as ProxiedSocket)[proxiedPeer]
  if (peer === undefined) return
  if (peer !== null && socket.remoteAddress !== peer.address) reportPeer(socket, peer)
  if (secure) socket[proxiedVariables] = Object.freeze({ ...tlsVariablesOf(socket), ...(raw as ProxiedSocket)[proxiedVariables] })
}
