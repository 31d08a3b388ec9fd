/**
 * `makeServer(host, port, app)`: CPython's `wsgiref.simple_server.make_server` on
 * `node:http`, with the limits a server on a network needs, and `demoApp`.
 *
 * @since 0.1.0
 */
import cluster from "node:cluster"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { Http2SecureServer, Http2Server } from "node:http2"
import type { Server as HttpsServer } from "node:https"
import type { AddressInfo, Server as NetServer } from "node:net"
import { hostname } from "node:os"
import type { Duplex } from "node:stream"
import { isClientGone } from "./HandlerError.js"
import type { NodeListenerOptions } from "./NodeListener.js"
import type { Application } from "./Protocol.js"
import { pyRepr } from "./internal/compat/pyRepr.js"
import { formatLogLine } from "./internal/node/accessLog.js"
import { Gateway } from "./internal/node/gateway.js"
import { afterPending, connectionOf } from "./internal/node/requestGuard.js"
// TLS, HTTP/2 and the PROXY protocol are loaded when a server asks for them: a plain HTTP
// server does not pay for node:https, node:http2, node:tls and their code at start.
import type * as Http2Module from "./internal/node/http2Server.js"
import type * as ProxyModule from "./internal/node/proxyProtocol.js"
import type * as TlsModule from "./internal/node/tls.js"

/**
 * A certificate and its key, and the CAs that sign the client certificates to accept: PEM
 * text or its bytes.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsCertificates {
  /** The server's certificate, then the intermediates that chain it to a root (a `fullchain.pem`). */
  readonly cert: string | Buffer
  /** Its private key (unencrypted). */
  readonly key: string | Buffer
  /**
   * The CAs trusted to sign client certificates (with `requestCert`). Without it node's
   * bundled public roots are trusted: give your own CA to accept only the clients it signs.
   */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
}

/**
 * `makeServer`'s `tls` option: serve HTTPS with this certificate.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions extends TlsCertificates {
  /**
   * Ask each client for a certificate (default false). The environ then says what it sent,
   * as Apache's mod_ssl: `SSL_CLIENT_VERIFY` (`SUCCESS`, `NONE`, or `FAILED:<reason>`),
   * `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN` (RFC 2253: `CN=client,O=Example`) and
   * `SSL_CLIENT_CERT` (PEM).
   */
  readonly requestCert?: boolean
  /**
   * With `requestCert`: refuse, during the handshake, a client that sends no certificate
   * or one `ca` did not sign (default true; one log line each). False lets them through,
   * for the app to judge by `SSL_CLIENT_VERIFY`.
   */
  readonly rejectUnauthorized?: boolean
  /**
   * Milliseconds a client has to finish the TLS handshake (default 10 000; 0 turns it
   * off); a client that takes longer, or sends nothing, is closed with one log line.
   * `close()` waits for such a connection until then.
   */
  readonly handshakeTimeout?: number
}

/**
 * Options of `makeServer`: those of `toNodeListener`, plus the limits of the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends NodeListenerOptions {
  /**
   * Largest request line plus headers, in bytes (default 16 KiB); larger gets `414 URI Too
   * Long` when the request line is what is too long, else `431`.
   */
  readonly maxHeaderSize?: number
  /**
   * Milliseconds a client has to send the request line and headers (default 30 000); a
   * client that takes longer (slowloris) gets `408` and the connection is closed.
   */
  readonly headersTimeout?: number
  /**
   * Milliseconds a client has to send the whole request, body included (default 120 000;
   * 0 turns it off); then `408`, or the connection is cut if the response had started.
   */
  readonly requestTimeout?: number
  /**
   * Milliseconds a request may take from its arrival to the end of its response (default
   * 0: no limit). Past it, a client that got nothing yet gets `503 Service Unavailable`,
   * one whose response had started has its connection cut (so it cannot take the part for
   * the whole); either way the app is interrupted, its body's `close()` is called, and one
   * line is logged. (A synchronous app that never returns blocks the process: no timer
   * can help there.)
   */
  readonly responseTimeout?: number
  /** Milliseconds an idle keep-alive connection stays open (default 5 000). */
  readonly keepAliveTimeout?: number
  /**
   * Requests served on one connection before it is closed (default 0: no limit, as
   * node:http and gunicorn; idle connections still end after `keepAliveTimeout`). The last
   * response says `Connection: close`.
   */
  readonly maxRequestsPerSocket?: number
  /**
   * Milliseconds `close()` waits for requests in flight before it cuts the connections
   * that remain (default 10 000).
   */
  readonly closeTimeout?: number
  /** Listen on this unix socket path instead of `host` and `port`. */
  readonly path?: string
  /**
   * Serve on this already-listening socket (a file descriptor of this process: systemd's
   * socket activation, a socket inherited from a parent) instead of `host` and `port`. In a
   * `node:cluster` worker it is this worker's own descriptor, listened on by the worker
   * itself (not, as node's `listen({ fd })` would, the primary's descriptor of that number).
   * With `proxyProtocol`, a unix socket given this way is taken for TCP.
   */
  readonly fd?: number
  /**
   * Serve HTTPS (`node:https`) with this certificate: the same handling, with
   * `wsgi.url_scheme` "https" and `HTTPS` "on". A plain-HTTP request on the port gets
   * `400` ("plain HTTP request sent to HTTPS port", as nginx), then the connection closes.
   */
  readonly tls?: TlsOptions
  /**
   * Every connection begins with a PROXY protocol header, v1 (text) or v2 (binary), as
   * HAProxy's `send-proxy`/`send-proxy-v2` and nginx's stream `proxy_protocol on` send it
   * (default false). `REMOTE_ADDR` is then the client's address the header gives, and the
   * environ has `REMOTE_PORT`, its port (the access and error logs name the client too);
   * v1 `UNKNOWN` and v2 `LOCAL` (a proxy's health check) keep the proxy's own. A header
   * from a peer not in `proxyAllowIps`, a malformed one, a connection that begins without
   * one, or a header not complete within `headersTimeout` (as nginx's 30 s
   * `proxy_protocol_timeout`) closes the connection before node:http or an app sees a
   * byte of it, with one error-log line. The header precedes the TLS handshake with `tls`.
   * `forwardedAllowIps` is then judged against the client the header gives, not against
   * the proxy: a TCP proxy passes the client's own `X-Forwarded-*` through untouched.
   */
  readonly proxyProtocol?: boolean
  /**
   * With `proxyProtocol`: the peers allowed to send the header, as `forwardedAllowIps`
   * (addresses, `address/prefix` networks, IPv4 and IPv6, `"*"` for any). Default
   * `["127.0.0.1", "::1"]` (gunicorn's `proxy_allow_ips`). A unix socket's peers are
   * always allowed.
   */
  readonly proxyAllowIps?: ReadonlyArray<string>
}

/**
 * Options of `makeServer` serving HTTP/2: `ServerOptions`, and which HTTP/2. Apart from the
 * ones here, every option applies to HTTP/2 as it does to HTTP/1.1, but `headersTimeout`
 * and `maxRequestsPerSocket` (HTTP/1.1's only) and `keepAliveTimeout`, which closes a
 * session that has had no stream open for that long.
 *
 * @since 0.1.0
 * @category models
 */
export interface Http2ServerOptions extends ServerOptions {
  /**
   * With `tls`: serve HTTP/2 (`node:http2`), and HTTP/1.1 on the same port to clients that
   * do not ask for h2 by ALPN, through the same gateway. An HTTP/2 request's environ has
   * `SERVER_PROTOCOL` "HTTP/2.0", its method and target from `:method` and `:path`, and
   * `HTTP_HOST` from `:authority` when it has no `host`; the limits apply per stream (see
   * `maxConcurrentStreams`; `maxHeaderSize` is the `maxHeaderListSize` setting), and
   * `close()` sends GOAWAY and lets the streams in flight finish.
   */
  readonly http2?: boolean
  /** Cleartext HTTP/2 with prior knowledge (h2c), as `http2` but without TLS and without HTTP/1.1. */
  readonly h2c?: boolean
  /**
   * HTTP/2: streams one connection may have open at once (default 100, the
   * `maxConcurrentStreams` setting); a client that opens more gets them refused.
   */
  readonly maxConcurrentStreams?: number
}

/**
 * A listening server.
 *
 * @since 0.1.0
 * @category models
 */
export interface WSGIServer<S extends NetServer = Server> {
  /** The host it was asked to listen on (the bound address when that was empty). */
  readonly host: string
  /** The port it listens on (the free port picked when asked for 0; 0 on a unix socket). */
  readonly port: number
  /**
   * Its URL: `http://127.0.0.1:8000/` (`https://` with `tls`; `http+unix://<escaped path>/`,
   * or `https+unix://`, on a unix socket).
   */
  readonly url: string
  /**
   * The `node:http` server underneath (a `node:https` one with `tls`; `node:http2`'s
   * `Http2SecureServer` with `http2`, its `Http2Server` with `h2c`).
   */
  readonly server: S
  /**
   * Stop gracefully: stop accepting connections, close idle keep-alive connections, let
   * requests in flight finish (their responses say `Connection: close`), and resolve once
   * every connection is closed. After `closeTimeout` the remaining connections are cut.
   * Calling it again returns the same promise.
   */
  close(): Promise<void>
  /**
   * Serve a renewed certificate without a restart: new connections get `certificates`,
   * those already open keep the one they were made with. `ca`, when left out, stays as
   * it was. Throws, and changes nothing, when the certificate or key cannot be read or do
   * not match; throws a `TypeError` when the server was made without `tls`.
   */
  setSecureContext(certificates: TlsCertificates): void
}

/** Defaults of the server limits. */
const DEFAULT_MAX_HEADER_SIZE = 16 * 1024
const DEFAULT_HEADERS_TIMEOUT = 30_000
const DEFAULT_REQUEST_TIMEOUT = 120_000
const DEFAULT_KEEP_ALIVE_TIMEOUT = 5_000
// No limit by default: recycling a busy client's connections costs it a reconnect (and
// its latency) every few hundred milliseconds, and frees nothing node:http keeps per connection.
const DEFAULT_MAX_REQUESTS_PER_SOCKET = 0
const DEFAULT_CLOSE_TIMEOUT = 10_000

/** How long a refused connection may linger, so the client reads our answer before the close. */
const REFUSAL_LINGER = 2_000

/** A request line whose method is an RFC 9110 token: `TOKEN SP target SP HTTP/d.d CRLF`. */
const WELL_FORMED_REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\s]+ HTTP\/\d\.\d\r?\n/

/**
 * The start of a request line: a method (a token) and the space after it. A header line
 * never matches: its name is a token too, but node:http refuses a space before its colon.
 */
const REQUEST_LINE_START = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ /

/** Bytes of a line's start kept to tell a request line from a header line (method, space). */
const LINE_PROBE = 32

/**
 * node:http's `HTTPParser.kOnExecute`: the parser's callback after each packet it parsed
 * (node's `onParserExecute`, bound to the connection), which reports its errors.
 */
const ON_EXECUTE = 5

/** node:http's parser of a connection, as much of it as the tracking below uses. */
interface NodeParser {
  [ON_EXECUTE]: unknown
  readonly socket: object | null
  headersCompleted(): boolean
  getCurrentBuffer(): Buffer
}

/**
 * On a connection's socket: the start (up to `LINE_PROBE` bytes) of the last, unfinished
 * line of a request head that was still coming when the previous packet ended; null when
 * none was (the normal case: a whole head in one packet).
 */
const unfinishedLine = Symbol("effect-wsgi/unfinishedLine")

/**
 * On a connection's socket: node's own `kOnExecute` callback of its parser (kept on the
 * socket, not on the parser: node reuses parsers, and cleans only what it set itself).
 */
const nodeOnExecute = Symbol("effect-wsgi/onExecute")

interface TrackedSocket {
  [unfinishedLine]?: Buffer | null
  [nodeOnExecute]?: (ret: unknown) => void
}

/**
 * Called by node after each packet it parsed, in place of its own callback (which it then
 * calls): when the packet left a request head unfinished, note the start of its last line,
 * so that an overflow in a later packet knows whether it is still in the request line.
 * On the normal path (the head complete in its packet) this costs one call into the
 * parser and nothing else: the packet is only copied when a head spans packets.
 */
function trackUnfinishedLine(this: NodeParser, ret: unknown): void {
  const socket = this.socket as TrackedSocket | null
  if (socket === null) return
  // An error: node's callback reports it (`clientError`), with what the earlier packets left.
  if (typeof ret === "number") {
    if (this.headersCompleted()) {
      if (socket[unfinishedLine] !== null) socket[unfinishedLine] = null
    } else {
      const packet = this.getCurrentBuffer()
      const lineEnd = packet.lastIndexOf(10)
      const before = socket[unfinishedLine] ?? null
      // A packet without a line end ends no head: the same line goes on (or, when no head
      // was unfinished before, a request line begins in it).
      socket[unfinishedLine] = lineEnd !== -1
        ? Buffer.from(packet.subarray(lineEnd + 1, lineEnd + 1 + LINE_PROBE))
        : before === null
        ? Buffer.from(packet.subarray(0, LINE_PROBE))
        : before.length < LINE_PROBE
        ? Buffer.concat([before, packet.subarray(0, LINE_PROBE - before.length)])
        : before
    }
  }
  socket[nodeOnExecute]!(ret)
}

/** Track the unfinished request lines of a new connection (see `trackUnfinishedLine`). */
const trackConnection = (socket: Duplex): void => {
  const parser = (socket as { parser?: NodeParser | null }).parser
  const onExecute = parser?.[ON_EXECUTE]
  // Only node's own parser callback (another node:http may lay it out differently): else
  // the packet of the failure alone tells the request line from the headers.
  if (parser == null || typeof onExecute !== "function" || onExecute.name !== "bound onParserExecute") return
  const tracked = socket as TrackedSocket
  tracked[unfinishedLine] = null
  tracked[nodeOnExecute] = onExecute as (ret: unknown) => void
  parser[ON_EXECUTE] = trackUnfinishedLine
}

/**
 * The status node:http's parser errors deserve (as node's own `clientError` default), and
 * 414 for a request line longer than the header limit: node reports it as a header
 * overflow, of the packet it failed in. The line it failed in starts after the last line
 * end before the failure (requests before it in the same packet were parsed), or, with no
 * line end there, in an earlier packet: `unfinished`, the start of that line, tells.
 */
const refusalOf = (
  error: Error & { code?: string; rawPacket?: unknown; bytesParsed?: unknown },
  maxHeaderSize: number,
  unfinished: Buffer | null
): readonly [number, string] => {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW": {
      const packet = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : Buffer.alloc(0)
      const at = Math.min(typeof error.bytesParsed === "number" ? error.bytesParsed : 0, packet.length)
      const lineEnd = at === 0 ? -1 : packet.lastIndexOf(10, at - 1)
      const start = lineEnd !== -1
        ? packet.subarray(lineEnd + 1, lineEnd + 1 + LINE_PROBE)
        : unfinished === null
        ? packet.subarray(0, LINE_PROBE)
        : Buffer.concat([unfinished, packet.subarray(0, LINE_PROBE)])
      return REQUEST_LINE_START.test(start.toString("latin1"))
        ? [414, "URI Too Long"]
        : [431, "Request Header Fields Too Large"]
    }
    case "HPE_INVALID_METHOD": {
      // RFC 9110 §9.1: any token is a method; one node:http does not know is not
      // implemented here (501). A method that is not a token is malformed (400).
      // The failing request line starts after the last line end before the failure
      // (requests before it in the same packet were parsed).
      const packet = error.rawPacket
      if (!Buffer.isBuffer(packet)) return [400, "Bad Request"]
      const at = Math.min(typeof error.bytesParsed === "number" ? error.bytesParsed : 0, packet.length)
      const start = at === 0 ? 0 : packet.lastIndexOf(10, at - 1) + 1
      const line = packet.subarray(start, Math.min(packet.length, start + maxHeaderSize)).toString("latin1")
      return WELL_FORMED_REQUEST_LINE.test(line) ? [501, "Not Implemented"] : [400, "Bad Request"]
    }
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [408, "Request Timeout"]
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return [413, "Content Too Large"]
    default:
      return [400, "Bad Request"]
  }
}

type HttpSocket = Duplex & { readonly remoteAddress?: string }

/** Answer a refused connection with a bare response, log one line, and close it. */
const answer = (gateway: Gateway, socket: HttpSocket, status: number, reason: string, why: string): void => {
  gateway.logLine(formatLogLine(socket.remoteAddress ?? "-", `code ${status}, message ${reason} (${why})`))
  if (socket.destroyed || !socket.writable) return
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
  // Lingers a little, so the client reads our answer before the close.
  setTimeout(() => socket.destroy(), REFUSAL_LINGER).unref()
}

/**
 * A request node:http could not parse or that took too long: answer it, log one line,
 * close. The requests before it on the connection are answered first, in order; nothing
 * after it reaches an app. node:http reports the same broken parser again for any later
 * bytes: only the first report counts.
 */
const refuse = (gateway: Gateway, error: Error & { code?: string }, socket: HttpSocket, maxHeaderSize: number): void => {
  const connection = connectionOf(socket)
  if (connection.refused) return
  connection.refused = true
  // A client that went away, or hung up in the middle of a request: nobody to answer.
  if (isClientGone(error) || error.code === "HPE_INVALID_EOF_STATE" || !socket.writable) {
    socket.destroy()
    return
  }
  const [status, reason] = refusalOf(error, maxHeaderSize, (socket as TrackedSocket)[unfinishedLine] ?? null)
  const why = error.code ?? error.message
  if (connection.pending > 0) {
    const current = connection.current
    // A timeout while an app is still busy, or a malformed body an app is already reading:
    // nothing more can be framed on this connection, so cut it.
    if (status === 408 || (current !== null && !current.complete && connection.deferred !== current)) {
      if (status !== 408) gateway.logLine(formatLogLine(socket.remoteAddress ?? "-", `code ${status}, message ${reason} (${why})`))
      socket.destroy()
      return
    }
  }
  afterPending(connection, () => answer(gateway, socket, status, reason, why))
}

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

const urlHost = (host: string): string => (host.includes(":") ? `[${host}]` : host)

/**
 * Serve `app` on `host`:`port` (`port` 0 picks a free one) over HTTP/1.1 on `node:http`:
 * keep-alive, chunked responses when the length is unknown, HEAD without a body,
 * `Expect: 100-continue` answered when the app first reads its input, and the limits of
 * `ServerOptions`. Resolves once listening. The handling is `toNodeListener`'s, so both
 * serve exactly alike. With `tls`, HTTPS on `node:https` (see `TlsOptions`); with
 * `http2` (and `tls`) or `h2c`, HTTP/2 on `node:http2`, through the same gateway.
 *
 * As CPython's `make_server`, but `SERVER_NAME` is `host` as given (CPython resolves it
 * with `getfqdn`), the process environment is not copied into each environ (see
 * `osEnviron`), and the access log is off unless `accessLog` is set.
 *
 * @since 0.1.0
 * @category constructors
 */
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options?: ServerOptions & { readonly http2?: false; readonly h2c?: false }
): Promise<WSGIServer>
/** `makeServer` with `h2c`: `server` is node:http2's `Http2Server`. */
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options: Http2ServerOptions & { readonly h2c: true }
): Promise<WSGIServer<Http2Server>>
/** `makeServer` with `http2` (and `tls`): `server` is node:http2's `Http2SecureServer`. */
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options: Http2ServerOptions & { readonly http2: true }
): Promise<WSGIServer<Http2SecureServer>>
/** `makeServer` with HTTP/2 options known only at run time: `server` is one of the three. */
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options?: Http2ServerOptions
): Promise<WSGIServer<Server | Http2Server | Http2SecureServer>>
export async function makeServer(
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
    ? await import("./internal/node/http2Server.js")
    : null
  const http2 = h2 === null ? null : h2.http2ModeOf(options)
  const tlsModule: typeof TlsModule | null = tls === undefined ? null : await import("./internal/node/tls.js")
  const proxyModule: typeof ProxyModule | null = options.proxyProtocol === true ? await import("./internal/node/proxyProtocol.js") : null
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

/**
 * CPython's `demo_app`: "Hello world!", a blank line, then `key = repr(value)` for every
 * environ entry, sorted by key, as `text/plain; charset=utf-8`.
 *
 * @since 0.1.0
 * @category apps
 */
export const demoApp: Application = (environ, startResponse) => {
  let text = "Hello world!\n\n"
  for (const key of Object.keys(environ).sort()) text += `${key} = ${pyRepr(environ[key])}\n`
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]])
  return [Buffer.from(text, "utf8")]
}
