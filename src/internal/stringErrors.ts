/**
 * An in-memory `wsgi.errors`: Python's `io.StringIO` as a PEP 3333 error stream.
 *
 * @since 0.1.0
 */
import type { ErrorStream } from "../Protocol.js"
import { typeName } from "./typeName.js"

/**
 * Collects everything written to it; read it back with `value`.
 *
 * @since 0.1.0
 * @category constructors
 */
export class StringErrorStream implements ErrorStream {
  private readonly chunks: Array<string> = []

  /** All the text written so far. */
  get value(): string {
    return this.chunks.join("")
  }

  /**
   * Appends `text`.
   *
   * @throws TypeError when `text` is not a string (bytes belong in the response, not here).
   */
  write(text: string): void {
    if (typeof text !== "string") {
      throw new TypeError(`wsgi.errors takes strings (not ${typeName(text)})`)
    }
    this.chunks.push(text)
  }

  /** Appends each string in turn, with no separators. */
  writelines(lines: Iterable<string>): void {
    for (const line of lines) this.write(line)
  }

  /** Nothing to do: the text is already in memory. */
  flush(): void {}
}
