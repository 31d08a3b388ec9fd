/**
 * `Output.fromSink` over a Node `Writable`, used as an Effect directly (not through the
 * handler): a write that has to wait for "drain" is an ordinary Effect, and interrupting
 * it stops the wait.
 */
import { it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { Writable } from "node:stream"
import { describe, expect } from "vitest"
import { Output } from "../src/Output.js"

/** A writable that takes one byte at a time and completes each write when told to. */
const slowWritable = () => {
  const pending: Array<() => void> = []
  const received: Array<Buffer> = []
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      received.push(Buffer.from(chunk))
      pending.push(callback)
    }
  })
  const release = (): void => {
    for (const callback of pending.splice(0)) callback()
  }
  return { stream, received, release }
}

const listeners = (stream: Writable): number =>
  stream.listenerCount("drain") + stream.listenerCount("close") + stream.listenerCount("error")

describe("Output.fromSink(writable) as an Effect", () => {
  it.live("a write the stream cannot take at once completes on drain", () =>
    Effect.gen(function*() {
      const { stream, received, release } = slowWritable()
      const output = Output.fromSink(stream)
      const fiber = yield* Effect.fork(output.write(Buffer.from("hello")))
      yield* Effect.sleep("10 millis")
      // Still waiting: the stream has not drained.
      expect(fiber.unsafePoll()).toBe(null)
      release()
      expect(yield* Fiber.await(fiber)).toStrictEqual(Exit.void)
      expect(Buffer.concat(received).toString("latin1")).toBe("hello")
    }))

  it.live("interrupting a write that waits for drain removes its listeners", () =>
    Effect.gen(function*() {
      const { stream, release } = slowWritable()
      const output = Output.fromSink(stream)
      // The first write registers the sink's own "error" listener, kept for the stream's life.
      const fiber = yield* Effect.fork(output.write(Buffer.from("hello")))
      yield* Effect.sleep("10 millis")
      const whileWaiting = listeners(stream)
      yield* Fiber.interrupt(fiber)
      expect(listeners(stream)).toBe(whileWaiting - 3)
      release()
      expect(Exit.isInterrupted(yield* Fiber.await(fiber))).toBe(true)
    }))

  it.live("the same waiting write, run twice, ends the same way both times", () =>
    Effect.gen(function*() {
      const { stream, release } = slowWritable()
      const write = Output.fromSink(stream).write(Buffer.from("x"))
      const first = yield* Effect.fork(write)
      const second = yield* Effect.fork(write)
      yield* Effect.sleep("10 millis")
      release()
      expect(yield* Fiber.await(first)).toStrictEqual(Exit.void)
      expect(yield* Fiber.await(second)).toStrictEqual(Exit.void)
    }))
})
