/**
 * What node:http lets through and a gateway on the open internet must not: requests that
 * are checked here before any app sees them, and the state of each connection that keeps
 * refusals in order behind the responses before them.
 *
 * node:http (llhttp) already refuses most malformed requests (bad Content-Length, CL with
 * TE, bare LF, obs-fold, control characters, unknown methods, …) through `clientError`.
 * It hands over, and these checks refuse:
 *
 * - an HTTP/0.9 request (`GET /`, no version) and versions other than 1.x;
 * - an HTTP/1.1 request without exactly one Host header, or with an invalid Host value;
 * - a request target that is neither origin-form (`/path`), absolute-form with an http(s)
 *   scheme and a valid authority, nor `*` on an OPTIONS request (asterisk-form, which the
 *   server answers itself: it names no resource of the app);
 * - a `Transfer-Encoding` other than one final `chunked` (400, or 501 for a coding before
 *   it, such as `gzip, chunked`, which would need decoding), or any on HTTP/1.0.
 */
import type { IncomingMessage } from "node:http"
import type { ServerHttp2Stream } from "node:http2"
import type { ServerIdentity } from "../requestEnviron.js"

/** A refused request: the status and why (for the log line). */
export interface Refusal {
  readonly kind: "refusal"
  readonly status: number
  readonly reason: string
  readonly why: string
}

/** `OPTIONS *`: answered by the server, not the app. */
export const ASTERISK = "asterisk" as const

const badRequest = (why: string): Refusal => ({ kind: "refusal", status: 400, reason: "Bad Request", why })

/** How an accepted request's body is framed, as its headers say. */
export interface Framing {
  readonly kind: "framing"
  /** The first Content-Length value, if any. */
  readonly contentLength: string | undefined
  /**
   * The Transfer-Encoding values joined with ",", if any (one final `chunked`: checked); for
   * an HTTP/2 request, `STREAM_FRAMED` when its body has no content-length (it ends with
   * its stream, read as a chunked one is).
   */
  readonly transferEncoding: string | undefined
}

// Most requests have no body: one shared answer for them.
const noBody: Framing = { kind: "framing", contentLength: undefined, transferEncoding: undefined }

// RFC 3986 host (IP-literal, IPv4 or reg-name) and an optional port.
const validHost = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/
// Clients send the same Host on every request: the last one that passed is not tested again.
let lastValidHost: string | null = null
const isValidHost = (host: string): boolean => {
  if (host === lastValidHost) return true
  if (!validHost.test(host)) return false
  lastValidHost = host
  return true
}
const absoluteForm = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/

/** The authority of an absolute-form target (`http://host:port/path`), else null. */
export const absoluteAuthority = (target: string): string | null => {
  if (target.charCodeAt(0) === 47 /* "/" */) return null
  const match = absoluteForm.exec(target)
  return match === null ? null : match[2]!
}

/**
 * Why `request` must not reach the app, `ASTERISK` for `OPTIONS *`, or, when it may, how
 * its body is framed (one pass over its raw headers for both).
 */
export const checkRequest = (request: IncomingMessage): Refusal | typeof ASTERISK | Framing => {
  const major = request.httpVersionMajor
  if (major === 0) return badRequest("an HTTP/0.9 request")
  if (major !== 1) return { kind: "refusal", status: 505, reason: "HTTP Version Not Supported", why: `HTTP/${request.httpVersion}` }

  const raw = request.rawHeaders
  let hosts = 0
  let host = ""
  let codings: string | undefined
  let length: string | undefined
  let lengths = 0
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === "host") {
      hosts++
      host = raw[i + 1]!
    } else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") {
      codings = codings === undefined ? raw[i + 1]! : `${codings},${raw[i + 1]!}`
    } else if (name.length === 14 && name.toLowerCase() === "content-length") {
      if (lengths++ === 0) length = raw[i + 1]!
    }
  }
  if (hosts > 1) return badRequest("more than one Host header")
  if (hosts === 0 && request.httpVersionMinor >= 1) return badRequest("no Host header")
  if (!isValidHost(host)) return badRequest("an invalid Host header")

  const target = request.url ?? ""
  if (target.charCodeAt(0) !== 47 /* "/" */) {
    if (target === "*") {
      if (request.method !== "OPTIONS") return badRequest(`${request.method} *`)
      return codings === undefined && lengths === 0 ? ASTERISK : badRequest("a body on OPTIONS *")
    }
    const match = absoluteForm.exec(target)
    if (match === null) return badRequest("a request target that is not a path or an absolute URL")
    const scheme = match[1]!.toLowerCase()
    if (scheme !== "http" && scheme !== "https") return badRequest(`a request target with the scheme ${match[1]!}`)
    if (match[2]! === "" || !validHost.test(match[2]!)) return badRequest("an invalid authority in the request target")
  }

  if (codings !== undefined) {
    if (request.httpVersionMinor === 0) return badRequest("Transfer-Encoding in an HTTP/1.0 request")
    if (lengths > 0) return badRequest("both Content-Length and Transfer-Encoding")
    const list = codings.split(",").map((coding) => coding.trim().toLowerCase()).filter((coding) => coding !== "")
    if (list.length === 0 || list[list.length - 1] !== "chunked") return badRequest(`Transfer-Encoding: ${codings}`)
    if (list.indexOf("chunked") !== list.length - 1) return badRequest(`Transfer-Encoding: ${codings}`)
    if (list.length > 1) return { kind: "refusal", status: 501, reason: "Not Implemented", why: `Transfer-Encoding: ${codings}` }
  }
  if (lengths > 1) return badRequest("more than one Content-Length")
  return codings === undefined && length === undefined
    ? noBody
    : { kind: "framing", contentLength: length, transferEncoding: codings }
}

/** `Framing.transferEncoding` of an HTTP/2 body of unknown length: its DATA frames frame it. */
export const STREAM_FRAMED = "(HTTP/2 DATA frames)"

/** What `checkStream` reads of an HTTP/2 request (`http2Exchange.ts`'s `StreamRequest`). */
export interface StreamRequestLine {
  readonly method: string
  readonly url: string
  /** Without pseudo-headers; `host` is `:authority` when the client sent no `host`. */
  readonly rawHeaders: ReadonlyArray<string>
  /** node's parsed headers, pseudo-headers included. */
  readonly headers: { readonly ":authority"?: string | undefined }
  readonly stream: Pick<ServerHttp2Stream, "endAfterHeaders">
}

/**
 * `checkRequest` for an HTTP/2 stream. nghttp2 already refused malformed ones (no or bad
 * pseudo-headers, upper-case or connection-specific header names, a Transfer-Encoding, a
 * content-length the DATA frames do not match); what is left to refuse: more than one
 * `host`, an invalid one, a `host` that names another authority than `:authority` (RFC
 * 9113 §8.3.1), a target that is not a path (or `*` on OPTIONS), several content-lengths.
 * A body with no content-length is `STREAM_FRAMED`; none when the HEADERS ended the stream.
 */
export const checkStream = (request: StreamRequestLine): Refusal | typeof ASTERISK | Framing => {
  const raw = request.rawHeaders
  let hosts = 0
  let host = ""
  let length: string | undefined
  let lengths = 0
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    if (name === "host") {
      hosts++
      host = raw[i + 1]!
    } else if (name === "content-length") {
      if (lengths++ === 0) length = raw[i + 1]!
    } else if (name === "transfer-encoding") return badRequest("Transfer-Encoding in an HTTP/2 request")
  }
  if (hosts > 1) return badRequest("more than one Host header")
  if (!isValidHost(host)) return badRequest("an invalid Host header")
  const authority = request.headers[":authority"]
  if (authority !== undefined && hosts === 1 && host.toLowerCase() !== authority.toLowerCase()) {
    return badRequest("a Host header that differs from :authority")
  }
  const target = request.url
  if (target.charCodeAt(0) !== 47 /* "/" */) {
    if (target !== "*") return badRequest("a request target that is not a path")
    if (request.method !== "OPTIONS") return badRequest(`${request.method} *`)
    return request.stream.endAfterHeaders && lengths === 0 ? ASTERISK : badRequest("a body on OPTIONS *")
  }
  if (lengths > 1) return badRequest("more than one Content-Length")
  if (request.stream.endAfterHeaders) return noBody
  return { kind: "framing", contentLength: length, transferEncoding: length === undefined ? STREAM_FRAMED : undefined }
}

/**
 * The state of one connection: how many requests were handed over whose responses are not
 * done, and a refusal (from node's parser or from these checks) waiting for them, so the
 * answers go out in the order of the requests and nothing after a refusal reaches an app.
 */
export interface Connection {
  /** Requests handed over whose responses have not closed yet. */
  pending: number
  /** True once a refusal was decided: nothing more from this connection is served. */
  refused: boolean
  /** The last request handed over. */
  current: IncomingMessage | null
  /** A chunked request whose app waits one turn, so a bad chunk in the same packet is seen first. */
  deferred: IncomingMessage | null
  /** The refusal to send once `pending` is 0. */
  whenIdle: (() => void) | null
  /** The server's side of the connection (its local address), read once. */
  identity: ServerIdentity | null
}

// Kept on the socket itself: a WeakMap entry per connection makes the garbage collector
// work through its ephemeron table on every cycle, which showed at thousands of
// connections a second.
const connectionState = Symbol("effect-wsgi/connection")

/** The state of the connection `socket` (made on first use). */
export const connectionOf = (socket: object): Connection => {
  const holder = socket as { [connectionState]?: Connection }
  let connection = holder[connectionState]
  if (connection === undefined) {
    connection = { pending: 0, refused: false, current: null, deferred: null, whenIdle: null, identity: null }
    holder[connectionState] = connection
  }
  return connection
}

/** One response of `connection` is done: run the waiting refusal once none is left. */
export const settled = (connection: Connection): void => {
  connection.pending--
  if (connection.pending === 0 && connection.whenIdle !== null) {
    const whenIdle = connection.whenIdle
    connection.whenIdle = null
    setImmediate(whenIdle)
  }
}

/** Run `refusal` now if no response is pending on `connection`, else once they are done. */
export const afterPending = (connection: Connection, refusal: () => void): void => {
  if (connection.pending === 0) refusal()
  else connection.whenIdle = refusal
}
