/**
 * `wsgi.input` over a Node `Readable`: pulled on demand (so the socket's own backpressure
 * holds an upload back until the app reads), and never past `limit` bytes, so bytes after
 * the body (a pipelined request) stay in the stream.
 */
import type { Readable } from "node:stream"
import { ClientDisconnected, isClientGone } from "../HandlerError.js"
import { PullInputStream } from "./pullInput.js"

/** Wait until `readable` has data, ends, or closes; a reset connection is a disconnect. */
export const waitForData = (readable: Readable): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    const done = (): void => {
      readable.removeListener("readable", done)
      readable.removeListener("end", done)
      readable.removeListener("close", done)
      readable.removeListener("error", failed)
      resolve()
    }
    const failed = (error: unknown): void => {
      done()
      reject(isClientGone(error) ? new ClientDisconnected({ cause: error }) : error)
    }
    readable.once("readable", done)
    readable.once("end", done)
    readable.once("close", done)
    readable.once("error", failed)
  })

const pullFrom = (readable: Readable, limit: number) => {
  let remaining = limit
  return async (): Promise<Uint8Array | null> => {
    while (remaining > 0) {
      const chunk: unknown = readable.read()
      if (chunk !== null) {
        let bytes = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : (chunk as Buffer)
        if (bytes.length > remaining) {
          readable.unshift(bytes.subarray(remaining))
          bytes = bytes.subarray(0, remaining)
        }
        remaining -= bytes.length
        // The body is complete: stop reading the source, so an open pipe (a CGI server
        // that keeps stdin open) or a socket does not keep reading past it.
        if (remaining === 0) readable.pause()
        return bytes
      }
      if (readable.readableEnded) return null
      if (readable.destroyed) {
        // Closed before its end (the client hung up mid-upload), unless no length was promised.
        if (remaining === Infinity) return null
        throw new ClientDisconnected({ cause: new Error("the request body ended early: the client went away") })
      }
      await waitForData(readable)
    }
    return null
  }
}

/** A PEP 3333 input stream over a Node readable. */
export class ReadableInputStream extends PullInputStream {
  constructor(readable: Readable, limit: number = Infinity) {
    super(limit > 0 ? pullFrom(readable, limit) : null)
  }
}
