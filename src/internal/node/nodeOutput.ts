/**
 * The `Output` of one `node:http` response.
 *
 * node:http frames the response (chunked or Content-Length, keep-alive, HEAD), so the core
 * hands over the head through `sendHead` and this sink passes it to `res.writeHead` with
 * a flat raw header array: the app's order and case survive, and several `Set-Cookie`
 * headers stay separate.
 *
 * The last written chunk is held back until the next one (or the end of the response):
 * a response of one chunk then leaves as one `res.end(chunk)` with a Content-Length we can
 * compute, one socket write for head and body, instead of a chunked head, a chunk and a
 * terminator. While the request runs synchronously nothing can observe the delay; once it
 * waits on something (an async app or iterator), a held chunk is released on the next
 * turn of the event loop so streamed responses are never delayed.
 */
import { Readable } from "node:stream"
import * as Effect from "effect/Effect"
import { ClientDisconnected, OutputError } from "../../HandlerError.js"
import type { OutputShape } from "../../Output.js"
import type { HeaderList } from "../../Protocol.js"
import { carriesBody, overrunMessage, parseDeclaredLength, shortfallMessage } from "../declaredLength.js"
import { formatLogLine } from "./accessLog.js"
import type { GatewayRequest, GatewayResponse } from "./exchange.js"
import type { ContinueSender, NodeRequestBody } from "./nodeInput.js"
import { clientGone, sinkFailed } from "./responseFailures.js"
import { StreamPump } from "./streamPump.js"

/** What the response needs to know about the server it belongs to. */
export interface ConnectionPolicy {
  /** True while the server shuts down: no response keeps its connection alive. */
  readonly closing: boolean
  /** The most unread body bytes node:http may discard to keep a connection alive. */
  readonly drainLimit: number
  /** Writes the access log line of a response (once), if the server keeps an access log. */
  logAccess(output: NodeOutput, status: string | null, size: number): void
  /** Writes one line to the error log. */
  logLine(line: string): void
}

const NO_HEADERS: Array<string> = []

const HEAD_NONE = 0
const HEAD_HELD = 1
const HEAD_SENT = 2

/** `Output` over a `ServerResponse` (or an HTTP/2 stream's, see `exchange.ts`). */
export class NodeOutput implements OutputShape, ContinueSender {
  /** The request body, when there is one (its state decides whether the connection is reused). */
  body: NodeRequestBody | null = null
  /** Close the connection after this response whatever happens (a refused request). */
  forceClose = false
  /** True once an access log line was written for this response. */
  logged = false
  /** True once the server's response timeout answered (or cut) this response. */
  timedOut = false
  /** The status the core handed over, for the access log of a response cut short. */
  status: string | null = null
  /** Body bytes handed to this output (sent, or held back to be sent). */
  bodyBytes = 0

  private headState = HEAD_NONE
  private statusCode = 0
  private reason = ""
  // Set by sendHead before anything reads it.
  private rawHeaders: Array<string> = NO_HEADERS
  private hasLength = false
  /** The body length the app declared (its Content-Length), or -1. */
  private declared = -1
  /** True once the body broke its declared length (logged once; the connection then closes). */
  private mismatched = false
  private pending: Uint8Array | null = null
  private waiting = false
  private releaseScheduled = false
  /** What a released write threw, reported by the next write. */
  private failure: unknown = null

  constructor(
    readonly policy: ConnectionPolicy,
    readonly request: GatewayRequest,
    readonly response: GatewayResponse
  ) {}

  /** The head as the core gives it; it leaves with the first body bytes. */
  sendHead(status: string, headers: HeaderList): Effect.Effect<void, OutputError | ClientDisconnected> {
    // The core checked that the status starts with three digits.
    const code = (status.charCodeAt(0) - 48) * 100 + (status.charCodeAt(1) - 48) * 10 + status.charCodeAt(2) - 48
    // node:http refuses other codes, and would throw later, when the head leaves. Told from
    // the arguments alone, so the Effect that holds the head cannot fail: one runtime step.
    if (!(code >= 100 && code <= 999)) {
      return Effect.fail(new OutputError({ message: `node:http cannot send the status ${JSON.stringify(status)}`, cause: null }))
    }
    return Effect.sync(() => this.holdHead(code, status, headers))
  }

  private holdHead(code: number, status: string, headers: HeaderList): void {
    const raw = new Array<string>(headers.length * 2)
    let hasLength = false
    for (let i = 0; i < headers.length; i++) {
      const pair = headers[i]!
      const name = pair[0]
      raw[2 * i] = name
      raw[2 * i + 1] = pair[1]
      if (name.length === 14 && name.toLowerCase() === "content-length") {
        hasLength = true
        this.declared = parseDeclaredLength(pair[1])
      }
    }
    this.statusCode = code
    this.status = status
    this.reason = status.slice(4)
    this.rawHeaders = raw
    this.hasLength = hasLength
    this.headState = HEAD_HELD
  }

  write(data: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> {
    return Effect.suspend(() => this.writeNow(data))
  }

  private writeNow(data: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> {
    const response = this.response
    if (this.failure !== null) return Effect.fail(sinkFailed(this.failure))
    if (response.destroyed) return Effect.fail(clientGone())
    if (this.declared >= 0 && this.bodyBytes + data.length > this.declared) data = this.overrun(data)
    if (data.length === 0) return Effect.void
    const previous = this.pending
    this.pending = data
    this.bodyBytes += data.length
    if (previous !== null) return this.send(previous)
    if (this.waiting) {
      this.scheduleRelease()
      // A released chunk did not wait for "drain"; this write does, so a slow client
      // still holds a streaming app back.
      if (response.writableNeedDrain) return this.drained()
    }
    return Effect.void
  }

  /** node:http flushes by itself; the held chunk waits for the next write or the end. */
  flush(): Effect.Effect<void, OutputError | ClientDisconnected> {
    return Effect.void
  }

  /** The client waits for `100 Continue` and the app started reading: invite the body. */
  sendContinue(): void {
    const response = this.response
    if (this.headState !== HEAD_SENT && !response.headersSent && !response.destroyed) response.writeContinue()
  }

  /**
   * The request went asynchronous (it waits on the app, its body or the client): from now
   * on a held chunk goes out on the next turn of the event loop, unless the response ends
   * first.
   */
  goAsync(): void {
    this.waiting = true
    if (this.pending !== null) this.scheduleRelease()
  }

  /**
   * The app wrote more than its Content-Length: never send more than it declared (the
   * surplus would be read as the next response on a kept-alive connection). What fits is
   * kept, the rest dropped; one log line with the numbers; the connection closes after.
   */
  private overrun(data: Uint8Array): Uint8Array {
    const room = Math.max(0, this.declared - this.bodyBytes)
    if (!this.mismatched) {
      this.mismatched = true
      this.logMismatch(overrunMessage(this.declared, this.bodyBytes + data.length))
    }
    this.forceClose = true
    return data.subarray(0, room)
  }

  private logMismatch(what: string): void {
    this.policy.logLine(formatLogLine(this.request.socket?.remoteAddress ?? "-", `${this.request.method} ${this.request.url}: ${what}`))
  }

  /** The connection must not carry another response (a broken length): close it after this one. */
  private closeAfter(): void {
    const response = this.response
    response.shouldKeepAlive = false
    // Held now: node:http detaches the socket from the response on "finish".
    const socket = response.socket
    response.once("finish", () => socket?.destroySoon())
  }

  /** The response is complete: send what is held, with a Content-Length when it is all of it. */
  finish(): void {
    const response = this.response
    if (response.destroyed) return
    // A body shorter than its Content-Length (a HEAD answer has none): say so, and close
    // the connection after it, so the client sees it cut instead of waiting for the rest.
    if (this.declared > this.bodyBytes && carriesBody(this.request.method ?? "", this.statusCode)) {
      this.logMismatch(shortfallMessage(this.bodyBytes, this.declared))
      this.mismatched = true
    }
    if (this.mismatched) this.closeAfter()
    const last = this.pending
    this.pending = null
    if (this.headState === HEAD_HELD) this.sendHeadNow(last === null ? 0 : last.length)
    else if (this.headState === HEAD_NONE) {
      // Nothing was started (an HTTP/0.9 client, which node:http never hands over): say so.
      response.shouldKeepAlive = false
      response.writeHead(500)
    }
    if (last === null) response.end()
    else response.end(last)
  }

  /** The response cannot be completed: cut the connection so the client sees it truncated. */
  abort(): void {
    this.pending = null
    this.response.destroy()
  }

  /**
   * The app failed after its headers: what it wrote goes out (the held head and chunk,
   * unframed as a whole: no Content-Length, no last chunk), then the connection is cut, so
   * the client sees a response cut short rather than nothing (which HTTP clients retry).
   */
  cutAfterWritten(): void {
    const response = this.response
    if (response.destroyed) return
    const last = this.pending
    this.pending = null
    const socket = response.socket
    try {
      if (this.headState === HEAD_HELD) this.sendHeadNow(-1)
      if (last !== null) response.write(last)
    } catch {
      // node:http refused the bytes: nothing of the response can go out.
    }
    if (socket === null) response.destroy()
    else socket.destroySoon()
  }

  /**
   * True once the core handed over the head (it may still be held back): a transmitter
   * taking over the body must not send it again.
   */
  headGiven(): boolean {
    return this.headState !== HEAD_NONE
  }

  /** The body length the head declared (its Content-Length), or -1 when it declared none. */
  get declaredLength(): number {
    return this.declared
  }

  /**
   * Send what `source` yields as the rest of the body, after the chunk held back (and the
   * head, when still held): each chunk goes straight to `res.write`, and the next one is
   * asked for only once the response can take more (after "drain"), so a slow client
   * holds the reading back. `onSent` counts each chunk as it is written.
   *
   * Completes when the source ends (the head may still be held then: an empty source
   * leaves it for `finish`, with a Content-Length of 0). Fails with `ClientDisconnected`
   * when the response closes first, `OutputError` when node:http throws, and
   * `sourceFailure(cause)` when the source does. Whenever it stops early (those failures,
   * or interruption) the source is stopped (a `Readable` is destroyed, an iterator is
   * returned) and the Effect ends only after that, so no read is left in flight.
   */
  sendStream<E>(
    source: AsyncIterable<Uint8Array> | Readable,
    onSent: (count: number) => void,
    sourceFailure: (cause: unknown) => E
  ): Effect.Effect<void, OutputError | ClientDisconnected | E> {
    return Effect.async<void, OutputError | ClientDisconnected | E>((resume) => {
      const pump = new StreamPump(this, source, onSent, sourceFailure)
      pump.run().then(resume)
      return Effect.promise(() => pump.stop())
    })
  }

  /**
   * Write one chunk of a `sendStream`, the held chunk (and head) first: the bytes of it that
   * went out (fewer once the body passes its declared length).
   */
  writeStreamed(chunk: Uint8Array): number {
    if (this.declared >= 0 && this.bodyBytes + chunk.length > this.declared) chunk = this.overrun(chunk)
    const previous = this.pending
    this.pending = null
    if (this.headState === HEAD_HELD) this.sendHeadNow(-1)
    if (previous !== null) this.response.write(previous)
    if (chunk.length === 0) return 0
    this.bodyBytes += chunk.length
    this.response.write(chunk)
    return chunk.length
  }

  /** True once the body outran its declared length: nothing more of it goes out. */
  get overran(): boolean {
    return this.forceClose && this.declared >= 0 && this.bodyBytes >= this.declared
  }

  /** The failure a released write left behind, for the next writer to report. */
  releasedFailure(): OutputError | null {
    return this.failure === null ? null : sinkFailed(this.failure)
  }

  /** True when the connection must close after this response. */
  private mustClose(): boolean {
    if (this.forceClose || this.policy.closing) return true
    // node:http says `Connection: close` on the last request `maxRequestsPerSocket` allows,
    // but leaves the connection open; closing it is ours to do.
    if ((this.response as { maxRequestsOnConnectionReached?: boolean }).maxRequestsOnConnectionReached === true) return true
    const body = this.body
    return body !== null && body.leavesUnread(this.policy.drainLimit)
  }

  /**
   * Hand the head to node:http. `wholeBody` is the size of the entire body when it is
   * known (the response ends with it), so a Content-Length can replace chunked framing.
   */
  private sendHeadNow(wholeBody: number): void {
    this.headState = HEAD_SENT
    const response = this.response
    const code = this.statusCode
    if (
      wholeBody >= 0 && !this.hasLength && code >= 200 && code !== 204 && code !== 304 &&
      this.request.method !== "HEAD"
    ) {
      this.rawHeaders.push("Content-Length", String(wholeBody))
    }
    if (this.mustClose()) response.shouldKeepAlive = false
    response.writeHead(code, this.reason, this.rawHeaders)
  }

  private send(chunk: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> {
    try {
      if (this.headState === HEAD_HELD) this.sendHeadNow(-1)
      return this.response.write(chunk) ? Effect.void : this.drained()
    } catch (error) {
      // node:http threw (or a patched response did): an output error, not an escape.
      return Effect.fail(sinkFailed(error))
    }
  }

  /** Wait for "drain"; a response closed meanwhile is a client that left. */
  private drained(): Effect.Effect<void, OutputError | ClientDisconnected> {
    const response = this.response
    if (response.destroyed) return Effect.fail(clientGone())
    return Effect.async<void, ClientDisconnected>((resume) => {
      const done = (): void => {
        stop()
        resume(response.destroyed ? Effect.fail(clientGone()) : Effect.void)
      }
      const stop = (): void => {
        response.removeListener("drain", done)
        response.removeListener("close", done)
      }
      response.once("drain", done)
      response.once("close", done)
      return Effect.sync(stop)
    })
  }

  private scheduleRelease(): void {
    if (this.releaseScheduled) return
    this.releaseScheduled = true
    setImmediate(releaseHeld, this)
  }

  /** Send the held chunk now (the request is waiting on something else). */
  release(): void {
    this.releaseScheduled = false
    const chunk = this.pending
    if (chunk === null || this.response.destroyed || this.response.writableEnded) return
    this.pending = null
    try {
      if (this.headState === HEAD_HELD) this.sendHeadNow(-1)
      // Its backpressure shows on the next write: node:http reports it until "drain".
      this.response.write(chunk)
    } catch (error) {
      // Nobody waits on this write: the next one reports it (and the response is cut).
      this.failure = error
      this.response.destroy()
    }
  }
}

// One function for every response (no closure per request): `setImmediate` passes the output.
const releaseHeld = (output: NodeOutput): void => output.release()
