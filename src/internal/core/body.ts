/**
 * Writing the app's result, chunk by chunk, through the `write` step.
 */
import * as Effect from "effect/Effect"
import type { Handling, StepEffect } from "../../Handler.js"
import { ApplicationError } from "../../HandlerError.js"
import { typeName } from "../typeName.js"
import { callUser } from "./call.js"
import { userFailure } from "./failure.js"

type BodyIterator = Iterator<Uint8Array> | AsyncIterator<Uint8Array>

const arrayValues = Array.prototype[Symbol.iterator]

/** How a chunk is written, and what runs after the last (each is given the Handling). */
type ChunkWriter = (h: Handling, data: Uint8Array) => StepEffect
type Then = (h: Handling) => StepEffect

/**
 * Write every chunk of the result with `write`, then run `then` (inside a step: it reads the
 * state). `doneOnceWritten`: `then` has nothing to do once a chunk went out through `write`
 * (the default steps), so after an array's last chunk it is not run.
 */
export const writeResult = (h: Handling, write: ChunkWriter, then: Then, doneOnceWritten: boolean): StepEffect => {
  const result = h.state.result!
  // An async iterator wins when both exist (a FileWrapper over an async file has both).
  if (typeof (result as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === "function") {
    return Effect.flatMap(iterate(h, write, () => (result as AsyncIterable<Uint8Array>)[Symbol.asyncIterator](), true), () => then(h))
  }
  // A plain array is read by index, as its own iterator would.
  if (Array.isArray(result) && result[Symbol.iterator] === arrayValues) {
    return writeChunks(h, write, result, 0, doneOnceWritten && result.length > 0 ? null : then)
  }
  return Effect.flatMap(iterate(h, write, () => (result as Iterable<Uint8Array>)[Symbol.iterator](), false), () => then(h))
}

/** Write `chunks[from…]`, then run `then` (null: nothing after the last chunk). */
const writeChunks = (h: Handling, write: ChunkWriter, chunks: ReadonlyArray<Uint8Array>, from: number, then: Then | null): StepEffect =>
  from >= chunks.length
    ? then === null ? Effect.void : then(h)
    : then === null && from === chunks.length - 1
    ? write(h, chunks[from]!)
    : Effect.flatMap(write(h, chunks[from]!), () => writeChunks(h, write, chunks, from + 1, then))

/** Write what an iterator yields; if a write fails, the iterator is stopped (its `finally` runs). */
const iterate = (h: Handling, write: ChunkWriter, open: () => BodyIterator, async: boolean): StepEffect =>
  Effect.suspend(() => {
    let iterator: BodyIterator
    try {
      iterator = open()
    } catch (cause) {
      return Effect.fail(userFailure(cause))
    }
    h.iterator = iterator
    // An iterator that threw is finished: nothing to stop.
    const done = (cause: unknown) => {
      h.iterator = null
      return userFailure(cause)
    }
    const next: StepEffect<IteratorResult<Uint8Array>> = async
      ? Effect.tryPromise({ try: () => (iterator as AsyncIterator<Uint8Array>).next(), catch: done })
      : Effect.try({ try: () => (iterator as Iterator<Uint8Array>).next(), catch: done })
    const loop: StepEffect = Effect.flatMap(next, (item) => {
      if (typeof item !== "object" || item === null) {
        h.iterator = null
        return Effect.fail(
          new ApplicationError({ message: `Iterator result ${typeName(item)} is not an object`, cause: new TypeError(`Iterator result ${typeName(item)} is not an object`) })
        )
      }
      if (item.done) {
        h.iterator = null
        return Effect.void
      }
      return Effect.flatMap(write(h, item.value), () => loop)
    })
    return Effect.tapErrorCause(loop, () => stopIterator(h, iterator))
  })

/** Stop an iterator early (runs a generator's `finally`), unless it is finished or stopped already. */
export const stopIterator = (h: Handling, iterator: BodyIterator): StepEffect => {
  if (h.iterator !== iterator) return Effect.void
  h.iterator = null
  if (typeof iterator.return !== "function") return Effect.void
  return Effect.ignore(callUser(() => iterator.return!()))
}
