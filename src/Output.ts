/**
 * The `Output` service: where the response bytes go.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ClientDisconnected, OutputError } from "./HandlerError.js"
import type { HeaderList } from "./Protocol.js"
import { writeToSink, flushSink } from "./internal/sink.js"
import { concatBytes, decodeLatin1 } from "./internal/latin1.js"

/**
 * A Node writable stream, as far as the sinks use it (its "drain" protocol).
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeWritableLike {
  write(chunk: Uint8Array): boolean
  once(event: string, listener: (...args: Array<unknown>) => void): unknown
  on(event: string, listener: (...args: Array<unknown>) => void): unknown
  removeListener(event: string, listener: (...args: Array<unknown>) => void): unknown
  readonly destroyed: boolean
  readonly writableNeedDrain: boolean
  readonly writableEnded?: boolean
}

/**
 * A plain sink: `write` may return how many bytes it took, or a Promise.
 *
 * @since 0.1.0
 * @category models
 */
export interface PlainSink {
  write(chunk: Uint8Array): unknown
  flush?(): unknown
}

/**
 * What `Output.fromSink` and `SimpleHandler` accept as stdout.
 *
 * @since 0.1.0
 * @category models
 */
export type ByteSink = NodeWritableLike | PlainSink

/**
 * Write bytes and flush.
 *
 * Every method returns a lazy Effect: nothing is written until it runs, and it completes
 * when the sink can take more (after "drain" on a slow socket), so `Effect.retry`,
 * `Effect.timeout` and interruption compose with it.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputShape {
  /** Send bytes (CPython's `_write`). */
  readonly write: (data: Uint8Array) => Effect.Effect<void, OutputError | ClientDisconnected>
  /** Push buffered bytes out (CPython's `_flush`). */
  readonly flush: () => Effect.Effect<void, OutputError | ClientDisconnected>
  /**
   * For sinks that frame the response themselves (`node:http`, an Effect `HttpServer`):
   * when present, the status and headers go here, as given plus the Date and Server
   * headers the gateway adds, instead of being encoded into bytes for `write`. The pairs
   * may be the handler's own: read them, do not change them.
   */
  readonly sendHead?: (status: string, headers: HeaderList) => Effect.Effect<void, OutputError | ClientDisconnected>
}


/**
 * An `Output` over any writable: a Node `Writable` (waits for "drain" when `write`
 * returns false) or a plain `{ write(chunk); flush?() }` (a numeric return shorter than
 * the chunk is a partial write, and the rest is written).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSink = (sink: ByteSink): OutputShape => new SinkOutput(sink)

class SinkOutput implements OutputShape {
  constructor(private readonly sink: ByteSink) {}
  write(data: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> {
    return writeToSink(this.sink, data)
  }
  flush(): Effect.Effect<void, OutputError | ClientDisconnected> {
    return flushSink(this.sink)
  }
}

/**
 * The live layer: `Output` over a Node `Writable` or a plain sink.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSink = (sink: ByteSink): Layer.Layer<Output> => Layer.succeed(Output, fromSink(sink))

/**
 * An in-memory sink for tests: everything written, in order.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOutput extends OutputShape {
  /** The chunks as written, one per `write`. */
  readonly chunks: ReadonlyArray<Uint8Array>
  /** How many times `flush` ran. */
  readonly flushes: number
  /** Everything written, as one byte array. */
  bytes(): Uint8Array
  /** Everything written, decoded as latin-1 (one character per byte). */
  text(): string
}

class MemorySink implements MemoryOutput {
  readonly chunks: Array<Uint8Array> = []
  flushes = 0
  write = (data: Uint8Array): Effect.Effect<void> =>
    Effect.sync(() => {
      // A copy: an app may reuse its buffer once write() returns (Buffer#slice would be a view).
      this.chunks.push(Uint8Array.prototype.slice.call(data))
    })
  flush = (): Effect.Effect<void> =>
    Effect.sync(() => {
      this.flushes++
    })
  bytes(): Uint8Array {
    return concatBytes(this.chunks)
  }
  text(): string {
    return decodeLatin1(this.bytes())
  }
}

/**
 * Make an in-memory `Output` for tests; provide it with `Layer.succeed(Output, memory)`.
 * It keeps a copy of every chunk.
 *
 * @since 0.1.0
 * @category constructors
 */
export const memory = (): MemoryOutput => new MemorySink()

/**
 * The response sink of one request.
 *
 * @since 0.1.0
 * @category tags
 */
export class Output extends Context.Tag("effect-wsgi/Output")<Output, OutputShape>() {
  /** See `fromSink`. */
  static readonly fromSink = fromSink
  /** See `layerSink`. */
  static readonly layerSink = layerSink
  /** See `memory`. */
  static readonly memory = memory
}
