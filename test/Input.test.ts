/**
 * The `Input` service: `wsgi.input` for the app, and the same body as lazy Effects for
 * Effect code.
 */
import { it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Readable } from "node:stream"
import { describe, expect } from "vitest"
import { InputError } from "../src/HandlerError.js"
import { Input } from "../src/Input.js"
import type { InputStream } from "../src/Protocol.js"

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("latin1")

describe("Input.read", () => {
  it.effect("reads nothing until it runs; each run reads on from where the body is", () =>
    Effect.gen(function*() {
      const input = Input.fromBytes("hello, world")
      const firstFive = input.read(5)
      // Built, not run: the stream is untouched.
      expect(text(yield* Effect.promise(() => input.stream.read(0)))).toBe("")
      expect(text(yield* firstFive)).toBe("hello")
      expect(text(yield* firstFive)).toBe(", wor")
      expect(text(yield* input.read())).toBe("ld")
      expect(text(yield* input.read())).toBe("")
    }))

  it.effect("over a Node Readable, never past the given limit", () =>
    Effect.gen(function*() {
      const input = Input.fromReadable(Readable.from([Buffer.from("abc"), Buffer.from("defNEXT")]), 6)
      expect(text(yield* input.read())).toBe("abcdef")
    }))

  it.effect("a stream that fails gives an InputError with the stream's error as cause", () =>
    Effect.gen(function*() {
      const broken = new Error("connection reset")
      const failing: InputStream = {
        read: () => Promise.reject(broken),
        readline: () => Promise.reject(broken),
        readlines: () => Promise.reject(broken),
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(broken) })
      }
      const input = Input.fromStream(failing)
      const exit = yield* Effect.exit(input.read())
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
        expect(exit.cause.error).toBeInstanceOf(InputError)
        expect(exit.cause.error.cause).toBe(broken)
      } else {
        expect.fail(`expected a typed failure, got ${String(exit)}`)
      }
    }))
})
