/**
 * Turns a file-like object into a response body read in blocks: Python's
 * `wsgiref.util.FileWrapper` (the `wsgi.file_wrapper` of PEP 3333).
 *
 * @since 0.1.0
 */

/**
 * Anything `FileWrapper` can read: `read(size)` gives up to `size` bytes, synchronously or
 * as a Promise, and an empty chunk at the end.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileLike {
  read(size: number): Uint8Array | Promise<Uint8Array>
  close?(): void | Promise<void>
}

const isPromiseLike = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"

// Python stops at any falsy chunk; a nullish one is treated as the end too.
const isEnd = (chunk: Uint8Array | null | undefined): boolean => chunk == null || chunk.length === 0

/**
 * Reads `filelike` in blocks of `blksize` bytes until an empty chunk.
 *
 * Always async-iterable; also iterable with `for...of` when `read` is synchronous (a sync
 * iteration that gets a Promise from `read` throws a TypeError). It has a `close()` exactly
 * when `filelike` does, which closes `filelike`, so a gateway closing the response closes
 * the file. Iterating does not close it.
 *
 * @example
 * ```ts
 * const app: Application = (environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
 *   const wrap = (environ["wsgi.file_wrapper"] ?? FileWrapper) as typeof FileWrapper
 *   return new wrap(openedFile, 64 * 1024)
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export class FileWrapper implements Iterable<Uint8Array>, AsyncIterable<Uint8Array> {
  /** Closes `filelike`; present only when `filelike` has a `close()`. */
  declare readonly close?: () => void | Promise<void>

  /**
   * @param filelike what to read.
   * @param blksize how many bytes to ask `filelike.read` for each time.
   */
  constructor(
    readonly filelike: FileLike,
    readonly blksize: number = 8192
  ) {
    if (typeof filelike.close === "function") this.close = filelike.close.bind(filelike)
  }

  /**
   * The blocks, read synchronously.
   *
   * @throws TypeError when `filelike.read` returns a Promise.
   */
  *[Symbol.iterator](): Generator<Uint8Array, void, undefined> {
    for (;;) {
      const chunk = this.filelike.read(this.blksize)
      if (isPromiseLike(chunk)) {
        // The block is lost either way; keep a failed read from surfacing as an unhandled rejection.
        chunk.then(undefined, () => {})
        throw new TypeError(
          "FileWrapper: filelike.read() returned a Promise, so iterate with `for await...of`"
        )
      }
      if (isEnd(chunk)) return
      yield chunk
    }
  }

  /** The blocks, awaiting each `filelike.read`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      const chunk = await this.filelike.read(this.blksize)
      if (isEnd(chunk)) return
      yield chunk
    }
  }
}
