/**
 * What the gateway uses of a request and its response, as structural types: node:http's
 * `IncomingMessage` and `ServerResponse` fit them as they are, and an HTTP/2 stream once
 * `http2Exchange.ts` has wrapped it (its request is not a `Readable` itself: its body is the
 * stream's, see `bodyOf`). Types only, and `bodyOf`.
 */
import type { OutgoingHttpHeaders } from "node:http"
import type { Socket } from "node:net"
import type { Readable } from "node:stream"

/** On a request that is not its own body (HTTP/2), the `Readable` its body is read from. */
export const bodyStream: unique symbol = Symbol("effect-wsgi/bodyStream")

/** A request the gateway serves: its line, its headers, and (see `bodyOf`) its body. */
export interface GatewayRequest {
  readonly method?: string | undefined
  /** The request target (HTTP/2: `:path`). */
  readonly url?: string | undefined
  /** "1.1", "1.0", "2.0". */
  readonly httpVersion: string
  /** Names and values alternating, without pseudo-headers. */
  readonly rawHeaders: Array<string>
  /** True once the whole body was received (never for a body cut short). */
  readonly complete: boolean
  /** The connection it came on (HTTP/2: node's proxy of the session's socket). */
  readonly socket: Socket
  /** Where its body is read from, when that is not the request itself (HTTP/2: the stream). */
  readonly [bodyStream]?: Readable
}

/** The `Readable` a request's body is read from: node:http's request is one itself. */
export const bodyOf = (request: GatewayRequest): Readable => request[bodyStream] ?? (request as unknown as Readable)

/** A response the gateway writes. */
export interface GatewayResponse {
  readonly headersSent: boolean
  readonly destroyed: boolean
  readonly closed: boolean
  readonly writableEnded: boolean
  readonly writableNeedDrain: boolean
  /** False: the connection closes after this response (HTTP/2: nothing to do, streams end on their own). */
  shouldKeepAlive: boolean
  /**
   * What carries the response: `destroySoon()` sends what was written, then cuts it, so the
   * client sees the response cut short (HTTP/1.1: the connection; HTTP/2: only the stream).
   */
  readonly socket: { destroySoon(): void } | null
  writeHead(statusCode: number, reason?: string, headers?: OutgoingHttpHeaders | Array<string>): unknown
  writeContinue(): unknown
  write(chunk: Uint8Array): boolean
  end(chunk?: Uint8Array): unknown
  destroy(): unknown
  on(event: "close" | "drain" | "finish", listener: () => void): unknown
  once(event: "close" | "drain" | "finish", listener: () => void): unknown
  removeListener(event: "close" | "drain" | "finish", listener: () => void): unknown
}
