/**
 * The `FileTransmitter` of the node gateways (`makeServer`, `toNodeListener`): a
 * `wsgi.file_wrapper` body over a file is streamed from the file to the response, chunk
 * after chunk as the client takes them, instead of being read through the wrapper.
 *
 * What counts as a file (anything else is declined, and the core iterates the wrapper):
 * - an `fs.ReadStream` (any `Readable` with `path` and `bytesRead`): read as the stream it is;
 * - a `fileLike(path)`: read through its descriptor, from the file's current position;
 * - an `fs.promises.FileHandle` (`fd`, `stat`, `read`, and `readableWebStream` or
 *   `createReadStream`) on a regular file: read from its current position;
 * - any other object with a string `path` naming a regular file: that file is opened
 *   (and closed again) here, and read from its start.
 *
 * A HEAD answer has no body: when its head declares a Content-Length, the file is not
 * read at all and that length is what the access log counts (without one, the file is
 * read to count it, as the core would iterate it).
 *
 * The wrapper itself is never closed here: the core's close step calls its `close()`,
 * once, after the body went out (or did not). The wrapper's `blksize` is not used: the
 * file is read in blocks of 64 KiB.
 */
import { fstat, read, ReadStream, type Stats } from "node:fs"
import { type FileHandle, open } from "node:fs/promises"
import { Readable } from "node:stream"
import * as Effect from "effect/Effect"
import type { FileTransmitterShape, Transmission } from "../../FileTransmitter.js"
import { type FileWrapper, isFileOnDisk } from "../../FileWrapper.js"
import type { StepError } from "../../Handler.js"
import { userFailure } from "../core/failure.js"
import type { NodeOutput } from "./nodeOutput.js"

/** The block size the file is read in. */
const CHUNK = 64 * 1024

type Source =
  | { readonly kind: "stream"; readonly stream: Readable }
  | { readonly kind: "fd"; readonly fd: number }
  | { readonly kind: "handle"; readonly handle: FileHandle }

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

const isReadStream = (value: object): value is Readable =>
  value instanceof ReadStream || (value instanceof Readable && "bytesRead" in value && "path" in value)

const isFileHandle = (value: Record<string, unknown>): value is Record<string, unknown> & FileHandle =>
  typeof value["fd"] === "number" && typeof value["stat"] === "function" && typeof value["read"] === "function" &&
  (typeof value["readableWebStream"] === "function" || typeof value["createReadStream"] === "function")

/** `fstat`, as a Stats or null when it fails. */
const statOfFd = (fd: number): Effect.Effect<Stats | null> =>
  Effect.async<Stats | null>((resume) => {
    fstat(fd, (error, stats) => resume(Effect.succeed(error === null ? stats : null)))
  })

/** A handle's Stats, or null when it cannot tell (closed, …). */
const statOfHandle = (handle: FileHandle): Effect.Effect<Stats | null> =>
  Effect.promise(() => handle.stat().catch(() => null))

/** Read the next block from `fd` at its current position. */
const readFd = (fd: number, buffer: Buffer): Promise<number> =>
  new Promise((resolve, reject) => {
    read(fd, buffer, 0, buffer.length, null, (error, count) => (error === null ? resolve(count) : reject(error)))
  })

/** The blocks of a file, each in a buffer of its own (the response keeps it until it is sent). */
async function* blocks(readInto: (buffer: Buffer) => Promise<number>): AsyncGenerator<Uint8Array, void, undefined> {
  for (;;) {
    const buffer = Buffer.allocUnsafe(CHUNK)
    const count = await readInto(buffer)
    if (count === 0) return
    yield count === CHUNK ? buffer : buffer.subarray(0, count)
  }
}

const chunksOf = (source: Source): AsyncIterable<Uint8Array> | Readable => {
  switch (source.kind) {
    case "stream":
      return source.stream
    case "fd":
      return blocks((buffer) => readFd(source.fd, buffer))
    case "handle":
      return blocks(async (buffer) => (await source.handle.read(buffer, 0, buffer.length, null)).bytesRead)
  }
}

/** The head, unless the core gave it already (the app wrote before returning). */
const sendHead = (output: NodeOutput, response: Transmission): Effect.Effect<void, StepError> =>
  Effect.suspend(() => (output.headGiven() ? Effect.void : response.sendHeaders()))

/** Send the head, then the file. */
const send = (output: NodeOutput, source: Source, response: Transmission): Effect.Effect<boolean, StepError> =>
  Effect.as(
    Effect.zipRight(
      sendHead(output, response),
      Effect.suspend(() => output.sendStream(chunksOf(source), (count) => response.addBytesSent(count), userFailure))
    ),
    true
  )

const decline = Effect.succeed(false)

/** A file read through a descriptor or handle the app owns: sent when it is a regular file. */
const sendIfRegular = (
  output: NodeOutput,
  stats: Effect.Effect<Stats | null>,
  source: Source,
  response: Transmission
): Effect.Effect<boolean, StepError> =>
  Effect.flatMap(stats, (found) => (found !== null && found.isFile() ? send(output, source, response) : decline))

/** Open `path` for this response: the handle, or null when it cannot be opened. */
const openPath = (path: string): Effect.Effect<FileHandle | null> => Effect.promise(() => open(path, "r").catch(() => null))

/** Send the file of `file`, or decline (false) when it is not over a file. */
export const transmitFile = (
  output: NodeOutput,
  file: FileWrapper,
  response: Transmission
): Effect.Effect<boolean, StepError> =>
  Effect.suspend(() =>
    // (A head the app's own write() gave counted those bytes already: then the file is counted as it is read.)
    output.request.method === "HEAD" && !output.headGiven()
      ? Effect.flatMap(response.sendHeaders(), () => {
        // No body goes out: the declared length is the size the log counts.
        const declared = output.declaredLength
        if (declared < 0) return transmitBody(output, file, response)
        response.addBytesSent(declared)
        return sent
      })
      : transmitBody(output, file, response)
  )

const sent = Effect.succeed(true)

/** Stream the file of `file` as the body, or decline (false) when it is not over a file. */
const transmitBody = (
  output: NodeOutput,
  file: FileWrapper,
  response: Transmission
): Effect.Effect<boolean, StepError> =>
  Effect.suspend(() => {
    const filelike: unknown = file.filelike
    if (!isObject(filelike)) return decline
    if (isReadStream(filelike)) {
      // A destroyed stream has nothing left to stream: the core does what it does with it.
      return filelike.destroyed ? decline : send(output, { kind: "stream", stream: filelike }, response)
    }
    if (isFileOnDisk(filelike)) {
      const fd = filelike.fd
      return fd < 0 ? decline : sendIfRegular(output, statOfFd(fd), { kind: "fd", fd }, response)
    }
    if (isFileHandle(filelike)) {
      return filelike.fd < 0
        ? decline
        : sendIfRegular(output, statOfHandle(filelike), { kind: "handle", handle: filelike }, response)
    }
    const path = filelike["path"]
    if (typeof path !== "string") return decline
    // Opened and closed here whatever happens (opening is not interrupted half way).
    return Effect.acquireUseRelease(
      openPath(path),
      (handle) =>
        handle === null ? decline : sendIfRegular(output, statOfHandle(handle), { kind: "handle", handle }, response),
      (handle) => (handle === null ? Effect.void : Effect.promise(() => handle.close().catch(() => undefined)))
    )
  })

/**
 * The transmitter of one node:http response: streams a file body to it (see the module's
 * comment), or declines.
 */
export class NodeTransmitter implements FileTransmitterShape {
  constructor(private readonly output: NodeOutput) {}

  transmit(file: FileWrapper, response: Transmission): Effect.Effect<boolean, StepError> {
    return transmitFile(this.output, file, response)
  }
}
