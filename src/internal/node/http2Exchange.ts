/**
 * An HTTP/2 stream as the gateway serves it (see `exchange.ts`), over node:http2's core API:
 * the request is the stream's headers and the stream itself as its body, the response
 * writes the stream (`stream.respond`, `write`, `end`). node's compatibility objects
 * (`Http2ServerRequest`/`Http2ServerResponse`, a `Readable` and a stream of their own per
 * request, proxying the stream's events) are not built: measured, they cost as much per
 * request as the whole gateway does (raw node:http2, core API 30 µs of server CPU per hello
 * request, compatibility API 46).
 *
 * Where HTTP/2 differs from what the gateway expects of HTTP/1.1:
 * - the raw headers carry pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`):
 *   they are dropped from the list the environ is built from (the method and target are
 *   read from them as node:http2 does), `:authority` stands in for a missing `host`, and
 *   cookie crumbs (RFC 9113 §8.2.3: one `cookie` field per cookie) are joined with "; ";
 * - an HTTP/2 response has no reason phrase: it is dropped;
 * - connection-specific headers (RFC 9113 §8.2.2) would make node throw: they are dropped
 *   (the core already refuses the hop-by-hop ones from `startResponse`, so only a
 *   replaced step can bring them; nothing is logged);
 * - "the connection closes after this response" means nothing: each stream ends on its
 *   own, so `shouldKeepAlive` is ignored;
 * - cutting a response short cuts its stream only (RST_STREAM, after what was written):
 *   the other streams of the session go on;
 * - a body nobody read is drained (up to `drainLimit`) once the response is complete, and
 *   past that the stream is reset with NO_ERROR (RFC 9113 §8.1), so the stream closes.
 */
import type { OutgoingHttpHeaders } from "node:http"
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2"
import type { Socket } from "node:net"
import { bodyStream, type GatewayRequest, type GatewayResponse } from "./exchange.js"

const COLON = 58

/**
 * The headers of an HTTP/2 request as the environ wants them (names are lower case in
 * HTTP/2: nghttp2 refuses others): no pseudo-headers, cookie crumbs joined, and
 * `:authority` as `host` when the client sent no `host` (RFC 9113 §8.3.1).
 */
export const requestHeaders = (raw: ReadonlyArray<string>): Array<string> => {
  const headers: Array<string> = []
  let authority: string | undefined
  let host = false
  let cookie = -1
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    const value = raw[i + 1]!
    if (name.charCodeAt(0) === COLON) {
      if (name === ":authority") authority = value
      continue
    }
    if (name === "host") host = true
    else if (name === "cookie") {
      if (cookie !== -1) {
        headers[cookie + 1] = `${headers[cookie + 1]!}; ${value}`
        continue
      }
      cookie = headers.length
    }
    headers.push(name, value)
  }
  if (!host && authority !== undefined) headers.unshift("host", authority)
  return headers
}

// RFC 9113 §8.2.2 (node:http2 throws on them). `te` is a request header: dropped from a
// response whatever its value.
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "te"
])
const CONNECTION_SPECIFIC_LENGTHS: ReadonlySet<number> = new Set([...CONNECTION_SPECIFIC].map((name) => name.length))

const isConnectionSpecific = (name: string): boolean =>
  CONNECTION_SPECIFIC_LENGTHS.has(name.length) && CONNECTION_SPECIFIC.has(name.toLowerCase())

/**
 * The size of a header list as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2:
 * names and values, plus 32 octets a field), pseudo-headers included.
 */
export const headerListSize = (raw: ReadonlyArray<string>): number => {
  let size = 0
  for (let i = 0; i + 1 < raw.length; i += 2) size += raw[i]!.length + raw[i + 1]!.length + 32
  return size
}

/** The request of one HTTP/2 stream, as the gateway reads it. */
export class StreamRequest implements GatewayRequest {
  readonly method: string
  readonly url: string
  readonly httpVersion = "2.0"
  /** Without pseudo-headers (`requestHeaders`). */
  readonly rawHeaders: Array<string>
  /** The session's socket (node's proxy of it). */
  readonly socket: Socket
  /**
   * Its header list's size (`headerListSize`). nghttp2 enforces `maxHeaderListSize` only once
   * the client acknowledged the setting: a request sent before that is measured here.
   */
  readonly headerSize: number
  readonly [bodyStream]: ServerHttp2Stream

  constructor(
    readonly stream: ServerHttp2Stream,
    /** node's parsed headers, pseudo-headers included. */
    readonly headers: IncomingHttpHeaders,
    raw: ReadonlyArray<string>
  ) {
    this.method = headers[":method"] ?? "GET"
    this.url = headers[":path"] ?? ""
    this.rawHeaders = requestHeaders(raw)
    this.socket = stream.session!.socket as Socket
    this.headerSize = headerListSize(raw)
    this[bodyStream] = stream
  }

  /** True once the whole body came (END_STREAM); false on a stream the client reset. */
  get complete(): boolean {
    const stream = this.stream
    return stream.endAfterHeaders || stream.readableEnded
  }
}

const EMPTY = new Uint8Array(0)

/** Reset `stream` with INTERNAL_ERROR once what was written before went out: a cut, never an end. */
const cutStream = (stream: ServerHttp2Stream): void => {
  if (stream.closed || stream.destroyed) return
  // Destroyed (not closed): node then sends no END_STREAM, only the RST_STREAM, after the
  // DATA nghttp2 already has; the empty write's callback runs once the earlier writes are there.
  const cut = (): void => {
    stream.destroy(new Error("the response was cut short"))
  }
  if (stream.writableLength === 0) cut()
  else stream.write(EMPTY, cut)
}

/** The response of one HTTP/2 stream, as the gateway writes it. */
export class StreamResponse implements GatewayResponse {
  /** True once `100 Continue` was sent. */
  continued = false
  private cutter: { destroySoon(): void } | null = null

  constructor(readonly stream: ServerHttp2Stream) {}

  get headersSent(): boolean {
    return this.stream.headersSent
  }

  get destroyed(): boolean {
    return this.stream.destroyed
  }

  get closed(): boolean {
    return this.stream.closed
  }

  get writableEnded(): boolean {
    return this.stream.writableEnded
  }

  get writableNeedDrain(): boolean {
    return this.stream.writableNeedDrain
  }

  /** HTTP/2 keeps no connection alive per response: each stream ends on its own. */
  get shouldKeepAlive(): boolean {
    return true
  }

  set shouldKeepAlive(_keep: boolean) {
    // Nothing to close after this response: the session and its other streams go on.
  }

  /** The stream as the gateway cuts it (`destroySoon`: what was written, then RST_STREAM). */
  get socket(): { destroySoon(): void } | null {
    const stream = this.stream
    if (stream.closed || stream.destroyed) return null
    return (this.cutter ??= { destroySoon: () => cutStream(stream) })
  }

  /**
   * The head, as one `stream.respond`: lower-case names (HTTP/2's), several fields of one
   * name as a list, no reason phrase (HTTP/2 has none), no connection-specific headers. The
   * core checked every header already; no trailers are asked for (no WSGI app sends any).
   */
  writeHead(statusCode: number, _reason?: string, headers?: OutgoingHttpHeaders | Array<string>): this {
    const stream = this.stream
    // Nothing to send on a stream already gone (node's compatibility response does the same).
    if (stream.destroyed || stream.closed || stream.headersSent) return this
    const fields: OutgoingHttpHeaders = { ":status": statusCode }
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) {
        const name = headers[i]!
        const value = headers[i + 1]!
        if (isConnectionSpecific(name)) continue
        const key = name.toLowerCase()
        const previous = fields[key]
        // Several fields of one name (Set-Cookie) go out as several.
        if (previous === undefined) fields[key] = value
        else if (Array.isArray(previous)) previous.push(value)
        else fields[key] = [String(previous), value]
      }
    } else if (headers !== undefined) {
      for (const name of Object.keys(headers)) fields[name.toLowerCase()] = headers[name]
    }
    stream.respond(fields)
    return this
  }

  /** `100 Continue`, unless the head already went out. */
  writeContinue(): boolean {
    const stream = this.stream
    if (stream.headersSent || stream.destroyed || stream.closed) return false
    stream.additionalHeaders({ ":status": constants.HTTP_STATUS_CONTINUE })
    this.continued = true
    return true
  }

  write(chunk: Uint8Array): boolean {
    return this.stream.write(chunk)
  }

  end(chunk?: Uint8Array): this {
    const stream = this.stream
    // A response with no head yet (cannot happen through NodeOutput) gets a bare 200.
    if (!stream.headersSent && !stream.destroyed && !stream.closed) stream.respond({ ":status": 200 })
    if (chunk === undefined) stream.end()
    else stream.end(chunk)
    return this
  }

  /** Cut (RST_STREAM INTERNAL_ERROR, no END_STREAM), so the client cannot take it for a whole response. */
  destroy(error?: Error): void {
    this.stream.destroy(error ?? new Error("the response was cut short"))
  }

  on(event: "close" | "drain" | "finish", listener: () => void): this {
    this.stream.on(event, listener)
    return this
  }

  once(event: "close" | "drain" | "finish", listener: () => void): this {
    this.stream.once(event, listener)
    return this
  }

  removeListener(event: "close" | "drain" | "finish", listener: () => void): this {
    this.stream.removeListener(event, listener)
    return this
  }
}

/**
 * The response of `request` is complete (its END_STREAM sent) but the client is still
 * sending a body nobody read: read and drop up to `drainLimit` more bytes of it, so a client
 * that sends a small body ends its stream normally; past that, RST_STREAM(NO_ERROR), which
 * RFC 9113 §8.1 gives a server for this: stop sending, the response is complete. (HTTP/1.1
 * keeps its connection up to the same limit, and closes it past it.)
 */
export const drainUnread = (request: StreamRequest, response: StreamResponse, drainLimit: number): void => {
  const stream = request.stream
  if (request.complete || stream.closed || stream.destroyed) return
  // A client still waiting for a `100 Continue` never sent will send nothing: stop it now.
  if (!response.continued && request.headers.expect !== undefined) {
    stream.close(constants.NGHTTP2_NO_ERROR)
    return
  }
  let left = drainLimit
  // Counted and dropped as it comes (a "data" listener makes the stream flow).
  stream.on("data", (chunk: Buffer) => {
    left -= chunk.length
    if (left < 0 && !stream.closed) stream.close(constants.NGHTTP2_NO_ERROR)
  })
}
