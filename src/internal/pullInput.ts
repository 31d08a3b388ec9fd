/**
 * The one `wsgi.input` implementation: a buffer in front of a `pull` source. The in-memory
 * stream and the Node-stream one differ only in where the next bytes come from.
 */
import type { InputStream } from "../Protocol.js"

const NEWLINE = 0x0a
const EMPTY = new Uint8Array(0)

/** `undefined`, `null` or a negative size means "no limit", as in Python. */
const toLimit = (size: number | null | undefined, what: string): number => {
  if (size === undefined || size === null) return Infinity
  if (!Number.isInteger(size)) throw new TypeError(`${what} must be an integer (got ${String(size)})`)
  return size < 0 ? Infinity : size
}

/** Next bytes of the body, or null at its end. */
export type Pull = () => Promise<Uint8Array | null>

/** A PEP 3333 input stream over a pull source. */
export class PullInputStream implements InputStream {
  /** Bytes pulled but not yet read: `buffer[offset…]`. */
  protected buffer: Uint8Array
  protected offset = 0
  private ended: boolean

  constructor(private readonly pull: Pull | null, initial: Uint8Array = EMPTY) {
    this.buffer = initial
    this.ended = pull === null
  }

  /** Up to `size` bytes; no size or a negative one reads to the end. */
  read(size?: number | null): Promise<Uint8Array> {
    let limit: number
    try {
      limit = toLimit(size, "size")
    } catch (error) {
      return Promise.reject(error)
    }
    // What is buffered already (a body in memory) needs no async function around it.
    if (this.buffered >= limit || this.ended) return Promise.resolve(this.take(Math.min(limit, this.buffered)))
    return this.readMore(limit)
  }

  private async readMore(limit: number): Promise<Uint8Array> {
    while (this.buffered < limit && (await this.more())) {}
    return this.take(Math.min(limit, this.buffered))
  }

  /** One line, keeping its trailing "\n"; at most `size` bytes when given. */
  async readline(size?: number | null): Promise<Uint8Array> {
    const limit = toLimit(size, "size")
    let searched = 0
    for (;;) {
      const newline = this.buffer.indexOf(NEWLINE, this.offset + searched)
      if (newline !== -1) return this.take(Math.min(newline + 1 - this.offset, limit))
      searched = this.buffered
      if (this.buffered >= limit || !(await this.more())) return this.take(Math.min(this.buffered, limit))
    }
  }

  /** The remaining lines; stops after the line that brings the total to `hint` bytes, if given. */
  async readlines(hint?: number | null): Promise<Array<Uint8Array>> {
    // Python treats a hint of 0 like no hint.
    const limit = toLimit(hint, "hint") || Infinity
    const lines: Array<Uint8Array> = []
    let total = 0
    while (total < limit) {
      const line = await this.readline()
      if (line.length === 0) break
      lines.push(line)
      total += line.length
    }
    return lines
  }

  /** Line by line, to the end. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (let line = await this.readline(); line.length > 0; line = await this.readline()) yield line
  }

  private get buffered(): number {
    return this.buffer.length - this.offset
  }

  private take(count: number): Uint8Array {
    const chunk = this.buffer.subarray(this.offset, this.offset + count)
    this.offset += count
    return chunk
  }

  /** Pull once more; false at the end of the body. */
  private async more(): Promise<boolean> {
    if (this.ended) return false
    const next = await this.pull!()
    if (next === null) {
      this.ended = true
      return false
    }
    const rest = this.buffer.subarray(this.offset)
    this.buffer = rest.length === 0 ? next : Buffer.concat([rest, next])
    this.offset = 0
    return true
  }
}
