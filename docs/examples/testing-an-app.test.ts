import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type Application, run, Testing } from "effect-wsgi"

const router: Application = (environ, startResponse) => {
  if (environ["PATH_INFO"] === "/") {
    startResponse("200 OK", [["Content-Type", "text/plain"]])
    return [Buffer.from("home")]
  }
  startResponse("404 Not Found", [["Content-Type", "text/plain"]])
  return [Buffer.from("no such page")]
}

it.effect("answers 404 for unknown paths", () =>
  Effect.gen(function*() {
    const request = Testing.request({ environ: { PATH_INFO: "/nope" } })
    yield* run(router).pipe(Effect.provide(request.layer))
    // it.effect runs on TestClock, so the Date header is the epoch.
    expect(request.output.text()).toBe(
      "HTTP/1.0 404 Not Found\r\n" +
        "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n" +
        "Content-Type: text/plain\r\n" +
        "Content-Length: 12\r\n" +
        "\r\n" +
        "no such page"
    )
    expect(request.errors.text()).toBe("")
  }))
