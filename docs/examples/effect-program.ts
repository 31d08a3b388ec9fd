import { Effect, TestClock, TestContext } from "effect"
import { type Application, run, Testing } from "effect-wsgi"

const hello: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from(`Hello, ${environ["PATH_INFO"]}!`)]
}

const request = Testing.request({ environ: { PATH_INFO: "/world" } })

const program = Effect.gen(function*() {
  yield* TestClock.setTime(Date.UTC(2026, 10, 25, 12, 0, 0))
  yield* run(hello)
}).pipe(Effect.provide(request.layer), Effect.provide(TestContext.TestContext))

await Effect.runPromise(program)
process.stdout.write(request.output.text())
