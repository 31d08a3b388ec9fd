/**
 * Streaming a body into a node:http response with backpressure: `NodeOutput.sendStream`'s
 * loop (a file, a Readable or any async iterable), stopped cleanly when interrupted.
 */
import { Readable } from "node:stream"
import * as Effect from "effect/Effect"
import type { ClientDisconnected, OutputError } from "../../HandlerError.js"
import type { GatewayResponse } from "./exchange.js"
import { clientGone, sinkFailed } from "./responseFailures.js"

/** What the pump needs of the response it writes (a `NodeOutput`). */
export interface PumpTarget {
  /** The node response written to (its "drain" and "close" wake the pump). */
  readonly response: GatewayResponse
  /** A failure of a chunk released earlier, which this stream must report instead. */
  releasedFailure(): OutputError | null
  /** Write one chunk; how many bytes went out (fewer past a declared Content-Length). */
  writeStreamed(chunk: Uint8Array): number
  /** True once the body reached its declared Content-Length. */
  readonly overran: boolean
}

/**
 * One `NodeOutput.sendStream`: pulls a chunk, writes it, waits for "drain" when node:http
 * asks to, until the source ends or something stops it.
 */
export class StreamPump<E> {
  private stopped = false
  private wake: (() => void) | null = null
  private finished: Promise<Effect.Effect<void, OutputError | ClientDisconnected | E>> | null = null
  private readonly iterator: AsyncIterator<Uint8Array>

  constructor(
    private readonly output: PumpTarget,
    private readonly source: AsyncIterable<Uint8Array> | Readable,
    private readonly onSent: (count: number) => void,
    private readonly sourceFailure: (cause: unknown) => E
  ) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  run(): Promise<Effect.Effect<void, OutputError | ClientDisconnected | E>> {
    // A throw from `onSent` or the source's own machinery is a defect of the Effect, never a rejection.
    return (this.finished ??= this.pump().catch((defect: unknown) => Effect.die(defect)))
  }

  /** Interrupted: stop pulling, stop the source, and settle once it is stopped. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true
      // A stream waiting for bytes that are not coming answers a destroy, not a return().
      if (this.source instanceof Readable) this.source.destroy()
      this.notify()
    }
    await this.run()
  }

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }

  private async pump(): Promise<Effect.Effect<void, OutputError | ClientDisconnected | E>> {
    const output = this.output
    const response = output.response
    const onWake = (): void => this.notify()
    response.on("drain", onWake)
    response.on("close", onWake)
    try {
      const earlier = output.releasedFailure()
      if (earlier !== null) return await this.abandon(Effect.fail(earlier))
      for (;;) {
        if (this.stopped) return await this.abandon(Effect.void)
        if (response.destroyed) return await this.abandon(Effect.fail(clientGone()))
        if (response.writableNeedDrain) {
          await new Promise<void>((resolve) => {
            this.wake = resolve
          })
          continue
        }
        let item: IteratorResult<Uint8Array>
        try {
          item = await this.iterator.next()
        } catch (cause) {
          if (this.stopped) return Effect.void
          // A stream the client's leaving destroyed says so with a premature close.
          if (response.destroyed) return Effect.fail(clientGone())
          return Effect.fail(this.sourceFailure(cause))
        }
        if (item.done) return Effect.void
        if (this.stopped) return await this.abandon(Effect.void)
        if (response.destroyed) return await this.abandon(Effect.fail(clientGone()))
        const chunk = item.value
        if (chunk.length === 0) continue
        let sent: number
        try {
          sent = output.writeStreamed(chunk)
        } catch (error) {
          return await this.abandon(Effect.fail(sinkFailed(error)))
        }
        this.onSent(sent)
        // Past the declared length nothing more goes out: stop reading the file.
        if (output.overran) return await this.abandon(Effect.void)
      }
    } finally {
      response.removeListener("drain", onWake)
      response.removeListener("close", onWake)
    }
  }

  /** Stop the source early (a Readable is destroyed), then answer `outcome`. */
  private async abandon<A>(outcome: A): Promise<A> {
    if (this.source instanceof Readable) this.source.destroy()
    try {
      await this.iterator.return?.()
    } catch {
      // Stopping a source that failed: its failure is not the one to report.
    }
    return outcome
  }
}
