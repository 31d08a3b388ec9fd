/**
 * Writing to what users hand us as "stdout": a Node `Writable` or a plain object with
 * `write(chunk)` (and maybe `flush()`). Shared by `Output.fromSink` and the class shim's
 * `SimpleHandler._write`, so both behave the same.
 */
import * as Effect from "effect/Effect"
import { ClientDisconnected, OutputError, isClientGone } from "../HandlerError.js"
import type { ByteSink, NodeWritableLike, PlainSink } from "../Output.js"
import { isPromiseLike } from "./bytes.js"


/** True when the sink is a Node stream (has the "drain" protocol). */
export const isNodeWritable = (sink: ByteSink): sink is NodeWritableLike =>
  typeof (sink as NodeWritableLike).once === "function" &&
  typeof (sink as NodeWritableLike).writableNeedDrain === "boolean"

/** Turn anything thrown by a sink into the output error it means. */
export const toOutputFailure = (cause: unknown): OutputError | ClientDisconnected =>
  cause instanceof OutputError || cause instanceof ClientDisconnected
    ? cause
    : isClientGone(cause)
    ? new ClientDisconnected({ cause })
    : new OutputError({ message: `write to the response failed: ${describe(cause)}`, cause })

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

// An 'error' event with no listener would crash the process; remember it instead, so the
// next write fails with it.
const streamErrors = new WeakMap<NodeWritableLike, unknown>()
const watched = new WeakSet<NodeWritableLike>()
const watch = (stream: NodeWritableLike): void => {
  if (watched.has(stream)) return
  watched.add(stream)
  stream.on("error", (error) => {
    streamErrors.set(stream, error)
  })
}

const gone = (stream: NodeWritableLike): OutputError | ClientDisconnected | undefined => {
  const error = streamErrors.get(stream)
  if (error !== undefined) return toOutputFailure(error)
  if (stream.destroyed || stream.writableEnded === true) {
    return new ClientDisconnected({ cause: new Error("the output stream is closed") })
  }
  return undefined
}

/** Wait until a Node stream asks for more, or fails. */
const waitForDrain = (stream: NodeWritableLike): Effect.Effect<void, OutputError | ClientDisconnected> =>
  Effect.async<void, OutputError | ClientDisconnected>((resume) => {
    const done = (): void => {
      stop()
      const failure = gone(stream)
      resume(failure === undefined ? Effect.void : Effect.fail(failure))
    }
    const stop = (): void => {
      stream.removeListener("drain", done)
      stream.removeListener("close", done)
      stream.removeListener("error", done)
    }
    stream.once("drain", done)
    stream.once("close", done)
    stream.once("error", done)
    return Effect.sync(stop)
  })

let partialWriteWarned = false

const writePlain = (sink: PlainSink, data: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> => {
  let rest = data
  for (;;) {
    let taken: unknown
    try {
      taken = sink.write(rest)
    } catch (cause) {
      return Effect.fail(toOutputFailure(cause))
    }
    if (isPromiseLike(taken)) {
      return Effect.tryPromise({ try: () => Promise.resolve(taken), catch: toOutputFailure }).pipe(Effect.asVoid)
    }
    if (typeof taken !== "number" || taken >= rest.length) return Effect.void
    // CPython would retry forever here; a sink that takes nothing is broken, not slow.
    if (!(taken > 0)) {
      return Effect.fail(
        new OutputError({ message: `stdout.write() took no bytes (it returned ${taken})`, cause: taken })
      )
    }
    if (!partialWriteWarned) {
      partialWriteWarned = true
      process.emitWarning("stdout.write() should not do partial writes", "DeprecationWarning")
    }
    rest = rest.subarray(taken)
  }
}

/**
 * Write `data` to the sink when the Effect runs; it completes when the sink can take more.
 */
export const writeToSink = (sink: ByteSink, data: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> =>
  Effect.suspend(() => writeNow(sink, data))

const writeNow = (sink: ByteSink, data: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> => {
  if (!isNodeWritable(sink)) return writePlain(sink, data)
  watch(sink)
  const failure = gone(sink)
  if (failure !== undefined) return Effect.fail(failure)
  let ok: boolean
  try {
    ok = sink.write(data)
  } catch (cause) {
    return Effect.fail(toOutputFailure(cause))
  }
  return ok ? Effect.void : waitForDrain(sink)
}

/** Flush the sink when the Effect runs (Node streams flush themselves). */
export const flushSink = (sink: ByteSink): Effect.Effect<void, OutputError | ClientDisconnected> =>
  isNodeWritable(sink) || typeof sink.flush !== "function" ? Effect.void : Effect.suspend(() => flushNow(sink))

const flushNow = (sink: PlainSink): Effect.Effect<void, OutputError | ClientDisconnected> => {
  if (typeof sink.flush !== "function") return Effect.void
  try {
    const result = sink.flush()
    return isPromiseLike(result)
      ? Effect.tryPromise({ try: () => Promise.resolve(result), catch: toOutputFailure }).pipe(Effect.asVoid)
      : Effect.void
  } catch (cause) {
    return Effect.fail(toOutputFailure(cause))
  }
}
