/**
 * `wsgi.input` over a `node:http` request: pulled on demand, so the socket's own
 * backpressure holds an upload back until the app reads; never past Content-Length; a
 * chunked body stops at `maxBodySize`; `Expect: 100-continue` is answered on the first
 * read. It also remembers how much of the body was read, so the server can tell whether
 * the connection may be reused once the response is done.
 */
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import { ClientDisconnected, type InputError } from "../../HandlerError.js"
import { type InputShape, readStream } from "../../Input.js"
import { PullInputStream } from "../pullInput.js"
import { waitForData } from "../readableInput.js"
import { bodyOf, type GatewayRequest } from "./exchange.js"

/**
 * The request body is larger than the server's `maxBodySize`. Reading `wsgi.input` past
 * the limit fails with it; an app that lets it escape gets a `413` response (when its
 * headers were not sent yet) and the connection is closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestBodyTooLarge extends Data.TaggedError("RequestBodyTooLarge")<{
  readonly message: string
  /** The limit, in bytes. */
  readonly limit: number
}> {}

/** Who answers `Expect: 100-continue` (the response, which knows if its head went out). */
export interface ContinueSender {
  sendContinue(): void
}


const gone = (): ClientDisconnected =>
  new ClientDisconnected({ cause: new Error("the request body ended early: the client went away") })

/** The body of one `node:http` request. */
export class NodeRequestBody implements InputShape {
  readonly stream: PullInputStream
  /** Body bytes handed to the app so far. */
  consumed = 0
  /** True once the app read to the end of the body. */
  ended = false
  /** True once a read went past `maxBodySize`. */
  tooLarge = false
  private continueSender: ContinueSender | null

  /**
   * @param length the Content-Length, or Infinity for a chunked body
   * @param maxBodySize the most a chunked body may hold
   * @param continueSender set when the client waits for `100 Continue`
   */
  constructor(
    private readonly request: GatewayRequest,
    private readonly length: number,
    private readonly maxBodySize: number,
    continueSender: ContinueSender | null
  ) {
    this.continueSender = continueSender
    this.stream = new PullInputStream(() => this.pull())
  }

  /** `wsgi.input`'s `read(size)` as an Effect. */
  read(size?: number): Effect.Effect<Uint8Array, InputError> {
    return readStream(this.stream, size)
  }

  /** True while the client still waits for a `100 Continue` we never sent. */
  get awaitingContinue(): boolean {
    return this.continueSender !== null
  }

  /**
   * True when bytes of this body could still come after the response: the connection may
   * be reused only if they are fewer than `drainLimit` (node:http then discards them).
   */
  leavesUnread(drainLimit: number): boolean {
    if (this.ended || this.request.complete) return false
    // The client may or may not send a body it was never invited to send: no way to frame
    // what follows, so the connection cannot be reused.
    if (this.continueSender !== null || this.tooLarge) return true
    return this.length - this.consumed > drainLimit
  }

  private async pull(): Promise<Uint8Array | null> {
    const sender = this.continueSender
    if (sender !== null) {
      this.continueSender = null
      sender.sendContinue()
    }
    const request = this.request
    const body = bodyOf(request)
    for (;;) {
      const remaining = this.length - this.consumed
      if (remaining <= 0) {
        this.ended = true
        return null
      }
      const chunk = body.read() as Buffer | null
      if (chunk !== null) {
        let bytes = chunk
        // node:http frames the body itself; the cut keeps the Content-Length contract anyway.
        if (bytes.length > remaining) {
          body.unshift(bytes.subarray(remaining))
          bytes = bytes.subarray(0, remaining)
        }
        this.consumed += bytes.length
        if (this.consumed > this.maxBodySize) {
          this.tooLarge = true
          throw new RequestBodyTooLarge({
            message: `the request body is larger than the server's limit of ${this.maxBodySize} bytes`,
            limit: this.maxBodySize
          })
        }
        return bytes
      }
      if (body.readableEnded) {
        if (request.complete) {
          this.ended = true
          return null
        }
        throw gone()
      }
      if (body.destroyed) throw gone()
      await waitForData(body)
    }
  }
}
