import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type Application, Handler, Testing } from "effect-wsgi"

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from("hi")]
}

// CPython's `def send_preamble(self)` override, as a record update: the default step,
// then one more header line.
const steps: Handler.Steps = {
  ...Handler.defaultSteps,
  sendPreamble: (h) =>
    Effect.zipRight(Handler.defaultSteps.sendPreamble(h), h.services.output.write(Buffer.from("X-Gateway: effect-wsgi\r\n")))
}

it.effect("sends the extra header after the status line", () =>
  Effect.gen(function*() {
    const request = Testing.request()
    yield* Handler.run(hello).pipe(Handler.withSteps(steps), Effect.provide(request.layer))
    // it.effect runs on TestClock, so the Date header is the epoch.
    expect(request.output.text()).toBe(
      "HTTP/1.0 200 OK\r\n" +
        "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n" +
        "X-Gateway: effect-wsgi\r\n" +
        "Content-Type: text/plain\r\n" +
        "Content-Length: 2\r\n" +
        "\r\n" +
        "hi"
    )
  }))
