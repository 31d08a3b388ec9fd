import { expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { type Application, ClientDisconnected, Handler, OutputError, type OutputShape, Testing } from "effect-wsgi"

const failsAtOnce: Application = () => {
  throw new Error("no database")
}

it.effect("before the headers: the error is logged and the error page sent", () =>
  Effect.gen(function*() {
    const request = Testing.request()
    yield* Handler.run(failsAtOnce).pipe(Effect.provide(request.layer)) // succeeds
    expect(request.output.text()).toBe(
      "HTTP/1.0 500 Internal Server Error\r\n" +
        "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n" +
        "Content-Type: text/plain\r\n" +
        "Content-Length: 59\r\n" +
        "\r\n" +
        "A server error occurred.  Please contact the administrator."
    )
    expect(request.errors.text()).toContain("Error: no database")
  }))

const failsMidway: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return (function*() {
    yield Buffer.from("first chunk")
    throw new Error("lost the database")
  })()
}

it.effect("after the headers: the error is logged and run fails with ResponseAborted", () =>
  Effect.gen(function*() {
    const request = Testing.request()
    const error = yield* Effect.flip(Handler.run(failsMidway).pipe(Effect.provide(request.layer)))
    expect(error._tag).toBe("ResponseAborted") // the connection must not be reused
    expect(request.output.text()).toBe(
      "HTTP/1.0 200 OK\r\n" +
        "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n" +
        "Content-Type: text/plain\r\n" +
        "\r\n" +
        "first chunk"
    )
    expect(request.errors.text()).toContain("Error: lost the database")
  }))

it.effect("a client that left is not an error", () =>
  Effect.gen(function*() {
    const request = Testing.request()
    const gone: OutputShape = {
      write: () => Effect.fail(new ClientDisconnected({ cause: "EPIPE" })),
      flush: () => Effect.void
    }
    yield* Handler.runWith(failsMidway, { ...request.services, output: gone }) // succeeds
    expect(request.errors.text()).toBe("") // nothing logged
  }))

it.effect("when even the error page cannot be sent, run fails with why", () =>
  Effect.gen(function*() {
    const request = Testing.request()
    const broken: OutputShape = {
      write: () => Effect.fail(new OutputError({ message: "disk full", cause: null })),
      flush: () => Effect.void
    }
    const error = yield* Effect.flip(Handler.runWith(failsAtOnce, { ...request.services, output: broken }))
    expect(error._tag).toBe("OutputError")
    expect(request.errors.text()).toContain("Error: no database")
  }))

it.effect("interrupting run stops the body and closes it once", () =>
  Effect.gen(function*() {
    let closed = 0
    let markStalled!: () => void
    const stalled = new Promise<void>((resolve) => (markStalled = resolve))
    const stalls: Application = (_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return {
        async *[Symbol.asyncIterator]() {
          yield Buffer.from("first chunk")
          markStalled()
          await new Promise(() => {}) // the rest never comes
        },
        close: () => {
          closed += 1
        }
      }
    }
    const request = Testing.request()
    const fiber = yield* Effect.fork(Handler.run(stalls).pipe(Effect.provide(request.layer)))
    yield* Effect.promise(() => stalled) // the first chunk went out
    yield* Fiber.interrupt(fiber)
    expect(request.output.text()).toBe(
      "HTTP/1.0 200 OK\r\n" +
        "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n" +
        "Content-Type: text/plain\r\n" +
        "\r\n" +
        "first chunk"
    )
    expect(closed).toBe(1)
  }))
