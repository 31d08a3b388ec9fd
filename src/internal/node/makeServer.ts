/**
 * `makeServer`'s construction: the `node:http` server (`node:https` with `tls`,
 * `node:http2` with `http2` or `h2c`) with the limits of `ServerOptions`, its gateway and
 * refusals, the listen (on a port, a unix socket or an inherited descriptor), and the
 * graceful close.
 */
import cluster from "node:cluster"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { Http2SecureServer, Http2Server } from "node:http2"
import type { Server as HttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import { hostname } from "node:os"
import type { Duplex } from "node:stream"
import type { Application } from "../../Protocol.js"
import type { Http2ServerOptions, TlsCertificates, WSGIServer } from "../../Server.js"
import { answer, type HttpSocket, refuse, trackConnection } from "./clientErrors.js"
import { Gateway } from "./gateway.js"
import { connectionOf } from "./requestGuard.js"
// TLS, HTTP/2 and the PROXY protocol are loaded when a server asks for them: a plain HTTP
// server does not pay for node:https, node:http2, node:tls and their code at start.
import type * as Http2Module from "./http2Server.js"
import type * as ProxyModule from "./proxyProtocol.js"
import type * as TlsModule from "./tls.js"

/** Defaults of the server limits. */
const DEFAULT_MAX_HEADER_SIZE = 16 * 1024
const DEFAULT_HEADERS_TIMEOUT = 30_000
const DEFAULT_REQUEST_TIMEOUT = 120_000
const DEFAULT_KEEP_ALIVE_TIMEOUT = 5_000
// No limit by default: recycling a busy client's connections costs it a reconnect (and
// its latency) every few hundred milliseconds, and frees nothing node:http keeps per connection.
const DEFAULT_MAX_REQUESTS_PER_SOCKET = 0
const DEFAULT_CLOSE_TIMEOUT = 10_000

/**
 * `server.listen({ fd })` on this process's own descriptor. Node ignores `exclusive` for a
 * descriptor, and in a `node:cluster` worker asks the primary to listen on the primary's
 * descriptor of that number instead; the primary's handle is then closed when its last
 * worker leaves, and with it the inherited socket. So the listen is done as a primary
 * would (node reads `cluster.isPrimary` synchronously inside `listen`).
 */
const listenOnOwnFd = (server: Server, fd: number, listening: () => void): void => {
  const role = cluster as { isPrimary: boolean }
  const primary = role.isPrimary
  role.isPrimary = true
  try {
    server.listen({ fd }, listening)
  } finally {
    role.isPrimary = primary
  }
}

/** Listen on `fd`, `path`, or `host`:`port` (any address when `host` is empty); resolves once listening. */
const listen = (server: Server, host: string, port: number, path: string | undefined, fd: number | undefined): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    const failed = (error: Error): void => reject(error)
    server.once("error", failed)
    const listening = (): void => {
      server.removeListener("error", failed)
      resolve()
    }
    if (fd !== undefined) listenOnOwnFd(server, fd, listening)
    else if (path !== undefined) server.listen(path, listening)
    else if (host === "") server.listen(port, listening)
    else server.listen(port, host, listening)
  })

/** `host` as a URL's host: an IPv6 address in brackets. */
const urlHost = (host: string): string => (host.includes(":") ? `[${host}]` : host)

/** `makeServer`'s work: make the server, listen, and resolve with it (see `Server.makeServer`). */
export async function listenAndServe(
  host: string,
  port: number,
  app: Application,
  options: Http2ServerOptions = {}
): Promise<WSGIServer<Server | Http2Server | Http2SecureServer>> {
  const gateway = new Gateway(app, options)
  const requestTimeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT
  let headersTimeout = options.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT
  // node:http requires headersTimeout <= requestTimeout.
  if (requestTimeout > 0 && headersTimeout > requestTimeout) headersTimeout = requestTimeout
  const shortest = Math.min(...[headersTimeout, requestTimeout].filter((ms) => ms > 0), 30_000)
  const tls = options.tls
  const httpOptions = {
    maxHeaderSize: options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: options.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_TIMEOUT,
    // node:http checks the two timeouts on this interval (30 s by default): a tenth of the
    // shortest keeps them close to what was asked.
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(shortest / 10))),
    // The gateway checks Host itself (one, valid), and logs the refusal.
    requireHostHeader: false
  }
  const h2: typeof Http2Module | null = options.http2 === true || options.h2c === true
    ? await import("./http2Server.js")
    : null
  const http2 = h2 === null ? null : h2.http2ModeOf(options)
  const tlsModule: typeof TlsModule | null = tls === undefined ? null : await import("./tls.js")
  const proxyModule: typeof ProxyModule | null = options.proxyProtocol === true ? await import("./proxyProtocol.js") : null
  const http2Limits = {
    maxHeaderSize: httpOptions.maxHeaderSize,
    maxConcurrentStreams: options.maxConcurrentStreams ?? h2?.DEFAULT_MAX_CONCURRENT_STREAMS ?? 0,
    keepAliveTimeout: httpOptions.keepAliveTimeout,
    requestTimeout
  }
  // node:https is node:http behind a TLS handshake: the same events, the same gateway.
  // node:http2's servers are used through the same fields and events below: its TLS one
  // serves HTTP/1.1 with node:http's own connection handling (see http2Server.ts).
  const server: Server = h2 !== null && http2 !== null
    ? h2.createHttp2Server(http2, http2Limits, httpOptions, tls === undefined || tlsModule === null ? undefined : tlsModule.serverTlsOptions(tls)) as unknown as Server
    : tls === undefined || tlsModule === null
    ? createServer(httpOptions)
    : (await import("node:https")).createServer({ ...httpOptions, ...tlsModule.serverTlsOptions(tls) })
  if (tls !== undefined && tlsModule !== null) {
    tlsModule.logHandshakeFailures(server as HttpsServer, gateway, tls.handshakeTimeout ?? tlsModule.DEFAULT_HANDSHAKE_TIMEOUT)
  }
  server.maxRequestsPerSocket = options.maxRequestsPerSocket ?? DEFAULT_MAX_REQUESTS_PER_SOCKET
  // node:http drops the headers past its count limit (2 000) without a word, so checks on
  // them (a second Host, a Transfer-Encoding) would miss what the parser itself obeys:
  // no count limit, maxHeaderSize bounds them.
  server.maxHeadersCount = 0
  if (http2 === null) {
    server.on("request", (request: IncomingMessage, response: ServerResponse) => gateway.handle(request, response, false))
    // With a listener here node:http leaves `100 Continue` to us: sent on the app's first read.
    server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => gateway.handle(request, response, true))
  }
  const maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE
  // Tells a request line that is too long (414) from headers that are (431) when either
  // comes in several packets.
  // (With TLS, "connection" is the TCP socket: node:http parses on the one "secureConnection" gives.)
  server.on(tls === undefined ? "connection" : "secureConnection", trackConnection)
  server.on("clientError", (error: Error & { code?: string }, socket: Duplex) => refuse(gateway, error, socket as HttpSocket, maxHeaderSize))
  // CONNECT asks for a tunnel, which no WSGI app can give.
  const connect = (request: IncomingMessage, socket: Duplex): void => {
    connectionOf(socket).refused = true
    answer(gateway, socket as HttpSocket, 501, "Not Implemented", `CONNECT ${request.url ?? ""}`)
  }
  if (h2 === null || http2 === null) server.on("connect", connect)
  else {
    // Streams, and the HTTP/1.1 requests beside them on a TLS port, told apart by their type.
    const request = (request: IncomingMessage, response: ServerResponse, expectContinue: boolean): void =>
      gateway.handle(request, response, expectContinue)
    h2.serveStreams(server as unknown as Http2Server | Http2SecureServer, gateway, http2Limits, { request, connect })
  }

  // Last: it takes over the "connection" listeners added above (see proxyProtocol.ts).
  const proxyHeaders = proxyModule !== null
    ? proxyModule.acceptProxyHeaders(server, {
      allowIps: options.proxyAllowIps ?? proxyModule.DEFAULT_PROXY_ALLOW_IPS,
      timeout: headersTimeout > 0 ? headersTimeout : DEFAULT_HEADERS_TIMEOUT,
      unixSocket: options.path !== undefined,
      log: gateway
    })
    : null
  await listen(server, host, port, options.path, options.fd)
  const address = server.address()
  // A socket given by `fd` tells what it is only now: a string address is a unix socket's.
  const socketPath = options.path ?? (typeof address === "string" ? address : undefined)
  gateway.unixSocket = socketPath !== undefined
  const bound = typeof address === "object" && address !== null ? (address as AddressInfo) : null
  const boundHost = host === "" || options.fd !== undefined ? bound?.address ?? "" : host
  const boundPort = bound?.port ?? 0
  gateway.identity = socketPath !== undefined
    ? { serverName: "localhost", serverPort: "80", serverSoftware: gateway.serverSoftware }
    : { serverName: host === "" ? hostname() : host, serverPort: String(boundPort), serverSoftware: gateway.serverSoftware }

  const closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      gateway.closing = true
      proxyHeaders?.closePending()
      gateway.onIdleWhileClosing = () => server.closeIdleConnections()
      const timer = setTimeout(() => server.closeAllConnections(), closeTimeout)
      // Resolves once every connection is gone (it was listening, so no error to expect).
      server.close(() => {
        clearTimeout(timer)
        resolve()
      })
      server.closeIdleConnections()
    })
    return closed
  }

  let certificates: TlsCertificates | undefined = tls
  const setSecureContext = (renewed: TlsCertificates): void => {
    if (certificates === undefined || tlsModule === null) throw new TypeError("setSecureContext: the server was made without tls")
    const next: TlsCertificates = renewed.ca === undefined && certificates.ca !== undefined ? { ...renewed, ca: certificates.ca } : renewed
    // Builds the new context first: a bad pair throws here and the old one stays.
    ;(server as HttpsServer).setSecureContext(tlsModule.contextOptions(next))
    certificates = next
  }

  const scheme = tls === undefined ? "http" : "https"
  return {
    host: boundHost,
    port: boundPort,
    url: socketPath !== undefined
      ? `${scheme}+unix://${encodeURIComponent(socketPath)}/`
      : `${scheme}://${urlHost(boundHost === "" ? "localhost" : boundHost)}:${boundPort}/`,
    server,
    close,
    setSecureContext
  }
}
