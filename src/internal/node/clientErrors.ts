/**
 * `makeServer`'s answers to what node:http refuses (`clientError`) and to `CONNECT`: the
 * status each parser error deserves (414 told from 431 by the request line's start, even
 * when it spans packets, and 501 for an unknown method), one log line, a bare response,
 * and the close, in order behind the responses before it on the connection.
 */
import type { Duplex } from "node:stream"
import { isClientGone } from "../../HandlerError.js"
import { formatLogLine } from "./accessLog.js"
import type { Gateway } from "./gateway.js"
import { afterPending, connectionOf } from "./requestGuard.js"

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
export const trackConnection = (socket: Duplex): void => {
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

/** A connection's socket as node:http gives it to `clientError` and `connect`. */
export type HttpSocket = Duplex & { readonly remoteAddress?: string }

/** Answer a refused connection with a bare response, log one line, and close it. */
export const answer = (gateway: Gateway, socket: HttpSocket, status: number, reason: string, why: string): void => {
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
export const refuse = (gateway: Gateway, error: Error & { code?: string }, socket: HttpSocket, maxHeaderSize: number): void => {
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
