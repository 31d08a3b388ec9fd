/**
 * `makeServer`'s HTTP/2: a `node:http2` server whose streams go through the same gateway
 * as HTTP/1.1 requests (see `http2Exchange.ts`), with the settings and limits below, and
 * graceful close by GOAWAY.
 *
 * - `http2` with `tls`: `http2.createSecureServer`, ALPN `h2` then `http/1.1`: an HTTP/1.1
 *   client (no ALPN, or `http/1.1`) is served on the same port by node:http's own
 *   connection handling, which reads its limits from the server as node:http's does.
 * - `h2c`: `http2.createServer`, cleartext HTTP/2 with prior knowledge only (RFC 9113
 *   §3.3): no HTTP/1.1 on that port, and no `Upgrade: h2c` (node does not do it).
 *
 * Settings sent to every client, and session limits:
 * - `maxConcurrentStreams` 100 by default (RFC 9113 §6.5.2 recommends no fewer; node would
 *   allow 2^32-1): clients queue their requests past it; one that opens more anyway after
 *   acknowledging the setting breaks the protocol, and nghttp2 ends its session (GOAWAY);
 * - `maxHeaderListSize` = `maxHeaderSize` (16 KiB by default): nghttp2 refuses the stream of a
 *   larger header block (RST_STREAM ENHANCE_YOUR_CALM), the session goes on. Until the client
 *   acknowledged the setting nghttp2 holds to its default (64 KiB), so the server measures
 *   each request too and answers `431` (`StreamRequest.headerSize`);
 * - `maxHeaderListPairs` 1 024: header fields of a request, pseudo-headers included (node's
 *   128 is too few for a browser that sends each cookie as a field of its own); the size
 *   limit above bounds them anyway;
 * - `enablePush` false: the server never pushes;
 * - `maxSessionMemory` 10 MB (node's default, set to say so): what one session may hold of
 *   header tables, queued frames and unsent data before nghttp2 refuses new streams;
 *   responses wait for flow control (WINDOW_UPDATE) and "drain" instead of queueing, so
 *   a slow reader cannot make a session grow;
 * - node 20's nghttp2 (1.61) ends a session that resets streams too fast (rapid reset,
 *   CVE-2023-44487: GOAWAY(INTERNAL_ERROR) past a burst of about 1 000, after which it reads
 *   nothing more; the session, idle from then on, is closed by `keepAliveTimeout`) or sends
 *   too many CONTINUATION frames for one header block (CVE-2024-28182); node ends one
 *   that sends more than 1 000 invalid frames or has 100 streams refused.
 *
 * Timeouts: `keepAliveTimeout` closes (GOAWAY) a session idle that long with no stream open
 * (a stream that waits on its app keeps it); `requestTimeout` cuts a stream whose request
 * body is not all there in time (RST_STREAM; the app sees a client that left);
 * `responseTimeout` is the gateway's, as for HTTP/1.1; `headersTimeout` is HTTP/1.1's only:
 * an HTTP/2 header block is one unit, bounded by the idle timeout and nghttp2's CONTINUATION
 * cap. `maxRequestsPerSocket` is HTTP/1.1's only.
 */
import { type IncomingMessage, Server as HttpServer, type ServerResponse } from "node:http"
import {
  createSecureServer,
  createServer,
  type IncomingHttpHeaders,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type SecureServerOptions,
  type ServerHttp2Stream,
  type ServerOptions
} from "node:http2"
import type { Duplex } from "node:stream"
import type { TlsOptions as NodeTlsOptions } from "node:tls"
import { formatLogLine } from "./accessLog.js"
import type { Gateway } from "./gateway.js"
import { drainUnread, StreamRequest, StreamResponse } from "./http2Exchange.js"

/** Default of `maxConcurrentStreams`. */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 100
/** node's default, in MB (see above). */
const MAX_SESSION_MEMORY = 10
/** Header fields per request, pseudo-headers included (node's default is 128). */
const MAX_HEADER_LIST_PAIRS = 1024

/** Which HTTP/2 `makeServer` serves: TLS with HTTP/1.1 beside it, or cleartext HTTP/2 only. */
export type Http2Mode = "h2" | "h2c"

/** The HTTP/2 `options` ask for, if any; a contradiction is a `TypeError`. */
export const http2ModeOf = (
  options: { readonly http2?: boolean | undefined; readonly h2c?: boolean | undefined; readonly tls?: unknown }
): Http2Mode | null => {
  if (options.h2c === true) {
    if (options.http2 === true) throw new TypeError("makeServer: `http2` (with `tls`) and `h2c` (cleartext) exclude each other")
    if (options.tls !== undefined) throw new TypeError("makeServer: `h2c` is cleartext HTTP/2; with `tls`, use `http2: true`")
    return "h2c"
  }
  if (options.http2 !== true) return null
  if (options.tls === undefined) throw new TypeError("makeServer: `http2: true` needs `tls` (or `h2c: true` for cleartext HTTP/2)")
  return "h2"
}

/** What the HTTP/2 server needs of `makeServer`'s options, defaults applied. */
export interface Http2Limits {
  readonly maxHeaderSize: number
  readonly maxConcurrentStreams: number
  readonly keepAliveTimeout: number
  readonly requestTimeout: number
}

/** node:http's server fields its HTTP/1.1 connection handling reads (see `createHttp2Server`). */
export interface Http1Fields {
  readonly maxHeaderSize: number
  readonly headersTimeout: number
  readonly requestTimeout: number
  readonly keepAliveTimeout: number
  readonly connectionsCheckingInterval: number
  readonly requireHostHeader: boolean
}

/** How `makeServer` serves an HTTP/1.1 request or CONNECT that comes to a TLS HTTP/2 server. */
export interface Http1Handlers {
  request(request: IncomingMessage, response: ServerResponse, expectContinue: boolean): void
  connect(request: IncomingMessage, socket: Duplex): void
}

/**
 * The `node:http2` server of `mode`. For `h2` the HTTP/1.1 fields are set on it as
 * node:http's constructor sets them on its own servers: node's HTTP/1.1 fallback reads
 * them from whatever server it runs under (node sets only the two timeouts itself).
 */
export const createHttp2Server = (
  mode: Http2Mode,
  limits: Http2Limits,
  http1: Http1Fields,
  tls: NodeTlsOptions | undefined
): Http2Server | Http2SecureServer => {
  const options: ServerOptions = {
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderSize,
      enablePush: false
    },
    maxSessionMemory: MAX_SESSION_MEMORY,
    maxHeaderListPairs: MAX_HEADER_LIST_PAIRS
  }
  if (mode === "h2c") return createServer(options)
  const secure: SecureServerOptions = { ...tls, ...options, allowHTTP1: true, ALPNProtocols: ["h2", "http/1.1"] }
  const server = createSecureServer(secure)
  Object.assign(server, http1)
  return server
}

const ignore = (): void => {}

/** On a session: its streams still open (a session idle with none is closed). */
const openStreams = Symbol("effect-wsgi/openStreams")

interface CountedSession extends Http2Session {
  [openStreams]: number
}

/**
 * Serve the streams of `server` through `gateway`, with HTTP/2's limits; HTTP/1.1 requests
 * on a TLS server go to `http1`.
 *
 * The server gets node:http's `closeIdleConnections` and `closeAllConnections`, which
 * `makeServer`'s `close()` calls: for HTTP/2 the first sends GOAWAY to every session (no new
 * stream; an idle session closes at once, a busy one once its streams are done), the second
 * cuts the sessions left; both also do node:http's work on HTTP/1.1 connections, if any.
 */
export const serveStreams = (
  server: Http2Server | Http2SecureServer,
  gateway: Gateway,
  limits: Http2Limits,
  http1: Http1Handlers | null
): void => {
  const sessions = new Set<Http2Session>()
  const { keepAliveTimeout, maxHeaderSize, requestTimeout } = limits

  const serve = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: ReadonlyArray<string>): void => {
    // Reset by the client already: nobody to answer, no app to run (not destroyed: its
    // "close" is still to come, so it is counted until then).
    if (stream.destroyed) return
    // A stream's own failures (a reset, a session torn down) end it; its response sees
    // them as a client that left. Without a listener they would be thrown.
    stream.on("error", ignore)
    // Held here: a closed stream no longer knows its session.
    const session = stream.session as CountedSession
    session[openStreams]++
    let timer: ReturnType<typeof setTimeout> | undefined
    stream.once("close", () => {
      session[openStreams]--
      if (timer !== undefined) clearTimeout(timer)
    })
    const request = new StreamRequest(stream, headers, rawHeaders)
    const response = new StreamResponse(stream)
    if (request.method === "CONNECT") {
      // A tunnel, which no WSGI app can give.
      const peer = request.socket?.remoteAddress ?? "-"
      gateway.logLine(formatLogLine(peer, `code 501, message Not Implemented (CONNECT ${headers[":authority"] ?? ""})`))
      response.writeHead(501, "Not Implemented", { "Content-Length": "0" })
      response.end()
      return
    }
    if (request.headerSize > maxHeaderSize) {
      // Sent before the client acknowledged maxHeaderListSize, so nghttp2 let it through:
      // refused as HTTP/1.1 refuses long headers.
      const peer = request.socket.remoteAddress ?? "-"
      gateway.logLine(formatLogLine(peer, `code 431, message Request Header Fields Too Large (${request.headerSize} bytes of headers)`))
      response.writeHead(431, "Request Header Fields Too Large", { "Content-Length": "0" })
      response.end()
      return
    }
    // As for HTTP/1.1: `100 Continue` is sent when the app first reads its input; any
    // other expectation is refused (node:http2's compatibility layer does the same).
    const expect = headers.expect
    const expectContinue = expect !== undefined && /^100-continue$/i.test(expect)
    if (expect !== undefined && !expectContinue) {
      response.writeHead(417, "Expectation Failed", { "Content-Length": "0" })
      response.end()
      return
    }
    if (requestTimeout > 0 && !stream.endAfterHeaders) {
      // The whole request, body included, in `requestTimeout` (node:http's rule for HTTP/1.1).
      timer = setTimeout(() => {
        if (!request.complete) response.destroy()
      }, requestTimeout)
      timer.unref()
    }
    // Once the response is out, a body still coming is drained or stopped.
    if (!stream.endAfterHeaders) stream.prependOnceListener("finish", () => drainUnread(request, response, gateway.drainLimit))
    gateway.handleStream(request, response, expectContinue)
  }
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: Array<string>) =>
    serve(stream, headers, rawHeaders))
  if (http1 !== null) {
    // HTTP/1.1 beside HTTP/2 (TLS, ALPN): node:http's requests come as "request" events.
    const ours = server.listeners("stream")
    server.on("request", (request: IncomingMessage, response: ServerResponse) => http1.request(request, response, false))
    server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => http1.request(request, response, true))
    server.on("connect", (request: IncomingMessage, socket: Duplex) => http1.connect(request, socket))
    // A "request" listener makes node:http2 add a "stream" listener of its own, which would
    // build its compatibility objects for every stream and answer it too: the streams are ours.
    for (const listener of server.listeners("stream")) {
      if (!ours.includes(listener)) server.removeListener("stream", listener as () => void)
    }
  }

  server.on("session", (session: Http2Session) => {
    ;(session as CountedSession)[openStreams] = 0
    sessions.add(session)
    session.once("close", () => sessions.delete(session))
    if (gateway.closing) {
      session.close()
      return
    }
    if (keepAliveTimeout > 0) {
      // node's session timer restarts on every frame read or written: it fires after that
      // long without a frame. A stream still open (an app taking its time) keeps the session.
      session.setTimeout(keepAliveTimeout, () => {
        if ((session as CountedSession)[openStreams] === 0) session.close()
      })
    }
  })

  // node:http's own guard skips a server without HTTP/1.1 connections (h2c).
  const { closeAllConnections, closeIdleConnections } = HttpServer.prototype
  Object.assign(server, {
    closeIdleConnections(this: HttpServer): void {
      for (const session of sessions) session.close()
      closeIdleConnections.call(this)
    },
    closeAllConnections(this: HttpServer): void {
      for (const session of sessions) session.destroy()
      closeAllConnections.call(this)
    }
  })
}
