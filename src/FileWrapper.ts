/**
 * Turns a file-like object into a response body read in blocks: Python's
 * `wsgiref.util.FileWrapper` (the `wsgi.file_wrapper` of PEP 3333).
 *
 * @since 0.1.0
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs"

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

// Registered symbols mark this module's objects: a second copy of the package (an app run
// by the bundled \`effect-wsgi\` command that imports "effect-wsgi" itself) makes
// wrappers and files the first copy still recognises, and so transmits.
const fileWrapperBrand = Symbol.for("effect-wsgi/FileWrapper")
const fileOnDiskBrand = Symbol.for("effect-wsgi/FileOnDisk")

const hasBrand = (value: unknown, brand: symbol): boolean =>
  typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true

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

Object.defineProperty(FileWrapper.prototype, fileWrapperBrand, { value: true })

/**
 * True when \`value\` is a \`FileWrapper\`, from this copy of the package or another one. For
 * the core's \`resultIsFile\`; not exported from the package index.
 *
 * @internal
 */
export const isFileWrapper = (value: unknown): value is FileWrapper =>
  value instanceof FileWrapper || hasBrand(value, fileWrapperBrand)

/**
 * A file on disk opened by `fileLike`: a `FileLike` with the path it was opened from and
 * its file descriptor (-1 once closed).
 *
 * @since 0.1.0
 * @category models
 */
export interface FileOnDisk extends FileLike {
  /** The path the file was opened from. */
  readonly path: string
  /** The open file descriptor; -1 once `close()` ran. */
  readonly fd: number
  /** Up to `size` bytes from the current position (the rest of the file when `size` is negative); empty at the end. */
  read(size: number): Uint8Array
  /** Close the file (again: nothing happens). */
  close(): void
}

class DiskFile implements FileOnDisk {
  fd: number
  constructor(readonly path: string) {
    this.fd = openSync(path, "r")
  }

  read(size: number): Uint8Array {
    const fd = this.fd
    if (fd < 0) throw new Error(`read of closed file ${JSON.stringify(this.path)}`)
    // Python's read(-1): everything left.
    if (!(size >= 0)) return readFileSync(fd)
    const buffer = Buffer.allocUnsafe(Math.floor(size))
    // Position null: from (and advancing) the file's own position, as Python's file objects read.
    const count = readSync(fd, buffer, 0, buffer.length, null)
    return count === buffer.length ? buffer : buffer.subarray(0, count)
  }

  close(): void {
    const fd = this.fd
    if (fd < 0) return
    this.fd = -1
    closeSync(fd)
  }
}

/**
 * Open the file at `path` for reading, as Python's `open(path, "rb")`: the `FileLike` to
 * hand to `wsgi.file_wrapper`. Its `read` is synchronous, so the wrapper can be iterated
 * with `for...of` too; `close()` closes the file (the gateway calls it through the
 * wrapper). Behind `makeServer` and `toNodeListener` such a wrapper is streamed from the
 * file straight to the socket (from the file's current position) instead of being read
 * block by block.
 *
 * @throws the error of `fs.openSync` (ENOENT, EACCES, …) when the file cannot be opened.
 *
 * @example
 * ```ts
 * const app: Application = (environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
 *   const wrap = environ["wsgi.file_wrapper"] ?? FileWrapper
 *   return new wrap(fileLike("/srv/files/archive.tar"))
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fileLike = (path: string): FileOnDisk => new DiskFile(path)

Object.defineProperty(DiskFile.prototype, fileOnDiskBrand, { value: true })

/**
 * True when `value` was made by `fileLike`, of this copy of the package or another one (its
 * descriptor may be read directly). For the node transmitter; not exported from the
 * package index.
 *
 * @internal
 */
export const isFileOnDisk = (value: unknown): value is FileOnDisk =>
  value instanceof DiskFile || hasBrand(value, fileOnDiskBrand)
