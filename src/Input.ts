/**
 * The `Input` service: the request body, as `environ["wsgi.input"]`.
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"
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
}


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
  /** See `fromReadable`. */
  static readonly fromReadable = fromReadable
  /** See `fromBytes`. */
  static readonly fromBytes = fromBytes
  /** See `layerReadable`. */
  static readonly layerReadable = layerReadable
  /** See `layerBytes`. */
  static readonly layerBytes = layerBytes
}
