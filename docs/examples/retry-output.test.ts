import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type Application, Handler, Output, OutputError, type OutputShape, Testing } from "effect-wsgi"

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from("hello")]
}

// An output whose first two writes fail (a busy pipe, say), then write to memory.
const sink = Output.memory()
let attempts = 0
const flaky: OutputShape = {
  write: (data) =>
    Effect.suspend(() =>
      ++attempts <= 2 ? Effect.fail(new OutputError({ message: "busy", cause: null })) : sink.write(data)
    ),
  flush: sink.flush
}

// write(data) is an Effect that has not run yet, so Effect.retry runs it again. A client
// that left (ClientDisconnected) is not worth retrying.
const retrying: OutputShape = {
  ...flaky,
  write: (data) => Effect.retry(flaky.write(data), { times: 3, while: (error) => error._tag === "OutputError" })
}

it.effect("retries each write until it goes through", () =>
  Effect.gen(function*() {
    const request = Testing.request()
    yield* Handler.runWith(hello, { ...request.services, output: retrying })
    expect(sink.text()).toBe(
      "HTTP/1.0 200 OK\r\n" +
        "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n" +
        "Content-Type: text/plain\r\n" +
        "Content-Length: 5\r\n" +
        "\r\n" +
        "hello"
    )
    expect(attempts).toBe(4) // two that failed, then the head and the body
    expect(request.errors.text()).toBe("")
  }))
