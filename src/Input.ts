/**
 * The `Input` service: the request body, as `environ["wsgi.input"]`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { InputError } from "./HandlerError.js"
import type { Readable } from "node:stream"
import type { InputStream } from "./Protocol.js"
import { BytesInputStream } from "./internal/bytesInput.js"
import { ReadableInputStream } from "./internal/readableInput.js"

/**
 * The request body of one request.
 *
 * @since 0.1.0
 * @category models
 */
export interface InputShape {
  /** The stream handed to the application as `wsgi.input`. */
  readonly stream: InputStream
  /**
   * Read up to `size` bytes of the body (to its end when left out or negative) when the
   * Effect runs: what `stream.read(size)` gives, for Effect code.
   */
  readonly read: (size?: number) => Effect.Effect<Uint8Array, InputError>
}

/**
 * `read` over a `wsgi.input` stream: what every `InputShape` here uses.
 *
 * @since 0.1.0
 * @category constructors
 */
export const readStream = (stream: InputStream, size?: number): Effect.Effect<Uint8Array, InputError> =>
  Effect.tryPromise({
    try: () => stream.read(size),
    catch: (cause) =>
      new InputError({ message: `reading the request body failed: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

/**
 * An `Input` over any `wsgi.input` stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromStream = (stream: InputStream): InputShape => new StreamInput(stream)


/**
 * A `wsgi.input` over a Node `Readable`, read on demand with backpressure and never past
 * `limit` bytes (the request's Content-Length), so what follows the body stays unread.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromReadable = (readable: Readable, limit?: number): InputShape =>
  new StreamInput(new ReadableInputStream(readable, limit))

// A class, not a literal: made per request, and V8 may move a literal site's objects to
// the old generation when it sees them survive (see LiveHandling in internal/core).
class StreamInput implements InputShape {
  constructor(readonly stream: InputStream) {}
  read(size?: number): Effect.Effect<Uint8Array, InputError> {
    return readStream(this.stream, size)
  }
}

// Shared: nothing can change an empty array.
const noBytes = new Uint8Array(0)

/**
 * An in-memory body for tests and for bodies already read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBytes = (body: Uint8Array | string = noBytes): InputShape =>
  new StreamInput(new BytesInputStream(typeof body === "string" ? Buffer.from(body, "latin1") : body))

/**
 * The live layer: the body of a Node `Readable`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerReadable = (readable: Readable, limit?: number): Layer.Layer<Input> =>
  Layer.succeed(Input, fromReadable(readable, limit))

/**
 * The test layer: a fixed body.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerBytes = (body?: Uint8Array | string): Layer.Layer<Input> => Layer.succeed(Input, fromBytes(body))

/**
 * The request body service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Input extends Context.Tag("effect-wsgi/Input")<Input, InputShape>() {
  /** See `fromStream`. */
  static readonly fromStream = fromStream
  /** See `fromReadable`. */
  static readonly fromReadable = fromReadable
  /** See `fromBytes`. */
  static readonly fromBytes = fromBytes
  /** See `layerReadable`. */
  static readonly layerReadable = layerReadable
  /** See `layerBytes`. */
  static readonly layerBytes = layerBytes
}
