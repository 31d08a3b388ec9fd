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

  it.live("a write does nothing until it runs, and writes again each time it runs", () =>
    Effect.gen(function*() {
      const { stream, received, release } = slowWritable()
      const write = Output.fromSink(stream).write(Buffer.from("x"))
      expect(received.length).toBe(0)
      const first = yield* Effect.fork(write)
      yield* Effect.sleep("10 millis")
      release()
      expect(yield* Fiber.await(first)).toStrictEqual(Exit.void)
      const second = yield* Effect.fork(write)
      yield* Effect.sleep("10 millis")
      release()
      expect(yield* Fiber.await(second)).toStrictEqual(Exit.void)
      expect(Buffer.concat(received).toString("latin1")).toBe("xx")
    }))
})

describe("Output service Effects compose with Effect's combinators", () => {
  it.effect("Effect.retry around a write calls the sink again on each attempt", () =>
    Effect.gen(function*() {
      let calls = 0
      const taken: Array<string> = []
      const output = Output.fromSink({
        write(chunk: Uint8Array) {
          calls++
          if (calls < 3) throw Object.assign(new Error("busy"), { code: "EAGAIN" })
          taken.push(Buffer.from(chunk).toString("latin1"))
        }
      })
      const write = output.write(Buffer.from("payload"))
      expect(calls).toBe(0)
      yield* Effect.retry(write, { times: 5 })
      expect(calls).toBe(3)
      expect(taken).toEqual(["payload"])
    }))

  it.effect("Effect.retry gives up after its budget with the sink's error", () =>
    Effect.gen(function*() {
      let calls = 0
      const output = Output.fromSink({
        write() {
          calls++
          throw new Error("disk full")
        }
      })
      const exit = yield* Effect.exit(Effect.retry(output.write(Buffer.from("x")), { times: 2 }))
      expect(calls).toBe(3)
      expect(Exit.isFailure(exit)).toBe(true)
    }))
})
