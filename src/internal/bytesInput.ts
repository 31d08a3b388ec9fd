/**
 * An in-memory `wsgi.input`: Python's `io.BytesIO` as a PEP 3333 input stream.
 *
 * @since 0.1.0
 */
import { PullInputStream } from "./pullInput.js"

/**
 * A request body held in memory, read from the front.
 *
 * Chunks are views into the given bytes, not copies (don't change the bytes while the
 * stream is in use).
 *
 * @since 0.1.0
 * @category constructors
 */
export class BytesInputStream extends PullInputStream {
  constructor(bytes?: Uint8Array) {
    super(null, bytes)
  }

  /** How many bytes are left to read. */
  get remaining(): number {
    return this.buffer.length - this.offset
  }
}
