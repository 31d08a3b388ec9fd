/**
 * Edge cases of the composed core (`run(app)` as one Effect program), each pinned through
 * the Effect API and, where it matters, the class shim and a real server:
 *
 * 1. an app that throws (or rejects with) `undefined`, `null` or `false` after
 *    `startResponse` still gets CPython's 500 page, and `run` succeeds;
 * 2. a service that throws when called (an `ErrorLog.logException`, a
 *    `FileTransmitter.transmit`) ends the request with a value or a typed failure, never a
 *    defect and never a hang, and the result is closed once;
 * 3. `runWith(app, services)` is lazy and handles one request each time it runs;
 * 4. service Effects are lazy at the handler level: `Effect.retry` around the `write` step
 *    re-runs the Output's write until it goes through;
 * 5. `validator(app)` under `BaseCGIHandler`: a breach found while iterating the body is an
 *    app error (the CGI 500 output), not a rejected `run`;
 * 6. the Effect API: steps overridden by record update change the bytes; interrupting
 *    `run` mid-body stops the body and closes the result once.
 */
import { it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option } from "effect"
import { describe, expect } from "vitest"
import { ErrorLog, type ErrorLogShape } from "../src/ErrorLog.js"
import { FileTransmitter, type FileTransmitterShape } from "../src/FileTransmitter.js"
import type { FileWrapper } from "../src/FileWrapper.js"
import * as Handler from "../src/Handler.js"
import * as HandlerConfig from "../src/HandlerConfig.js"
import { Headers } from "../src/Headers.js"
import { ApplicationError, type HandlerError, OutputError } from "../src/HandlerError.js"
import { BaseCGIHandler, SimpleHandler } from "../src/HandlerClasses.js"
import { BytesInputStream } from "../src/internal/bytesInput.js"
import { StringErrorStream } from "../src/internal/stringErrors.js"
import { Output, type OutputShape } from "../src/Output.js"
import type { Application, HeaderList, ResponseBody } from "../src/Protocol.js"
import { makeServer } from "../src/Server.js"
import * as Testing from "../src/Testing.js"
import { setupTestingDefaults } from "../src/Util.js"
import { validator } from "../src/Validate.js"
import {
  CGI_ERROR_PAGE,
  closeable,
  EPOCH_DATE,
  ERROR_BODY,
  firstLine,
  latin1,
  ORIGIN_ERROR_PAGE,
  runRequest,
  text
} from "./support/coreApps.js"

class AppFailure extends Error {
  override readonly name = "AppFailure"
}

class ServiceFailure extends Error {
  override readonly name = "ServiceFailure"
}

const textPlain: HeaderList = [["Content-Type", "text/plain"]]

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", textPlain)
  return [latin1("Hello, world!")]
}

const HELLO_RESPONSE = `HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!`

/** A live response with its (real) Date checked for form and replaced by the epoch's. */
const atEpoch = (output: string): string => {
  const date = /\r\nDate: ([^\r]*)\r\n/.exec(output)
  if (date === null) return output
  expect(date[1]).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/)
  return output.replace(date[0], `\r\nDate: ${EPOCH_DATE}\r\n`)
}

/** The typed failure of an exit, after checking that its cause holds no defect. */
const typedOutcome = (exit: Exit.Exit<void, HandlerError>): HandlerError | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  expect(Option.isNone(Cause.dieOption(exit.cause)), `a defect: ${Cause.pretty(exit.cause)}`).toBe(true)
  expect(Cause.isInterrupted(exit.cause)).toBe(false)
  return Option.getOrThrow(Cause.failureOption(exit.cause))
}

/** `program` under a real 2-second guard: `Some(exit)`, or `None` when it hung. */
const within2s = <A, E>(program: Effect.Effect<A, E>): Effect.Effect<Option.Option<Exit.Exit<A, E>>> =>
  Effect.timeoutOption(Effect.exit(program), "2 seconds")

/** A stdout that keeps every chunk. */
class Collect {
  readonly chunks: Array<Uint8Array> = []
  write(chunk: Uint8Array): void {
    this.chunks.push(chunk.slice())
  }
  flush(): void {}
  get value(): string {
    return text(Buffer.concat(this.chunks))
  }
}

/** The request variables a `SimpleHandler` is made with. */
type HandlerVariables = ConstructorParameters<typeof SimpleHandler>[3]

/** The CGI variables of a complete request, as a real gateway gives them. */
const requestEnviron = (): HandlerVariables => {
  const environ: Record<string, unknown> = { QUERY_STRING: "" }
  setupTestingDefaults(environ)
  for (const key of Object.keys(environ)) if (key.startsWith("wsgi.")) delete environ[key]
  return environ as HandlerVariables
}

/** A handler of `kind` over in-memory streams. */
const inMemory = (kind: typeof SimpleHandler) => {
  const out = new Collect()
  const err = new StringErrorStream()
  const handler = new kind(new BytesInputStream(), out, err, requestEnviron())
  return { handler, out, err }
}

// ---------------------------------------------------------------------------------------
// 1. Falsy errors after startResponse

const falsy = [
  { name: "undefined", thrown: undefined },
  { name: "null", thrown: null },
  { name: "false", thrown: false }
] as const

/** The first log line of a falsy throw: the ApplicationError that stands for it. */
const falsyLogLine = (name: string) => `ApplicationError: the application raised ${name}`

describe("1. an app that throws a falsy value after startResponse gets the 500 page", () => {
  it.effect.each(falsy)("run: throw $name", ({ name, thrown }) =>
    Effect.gen(function*() {
      const { exit, log, output } = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", textPlain)
        throw thrown
      })
      expect(exit).toStrictEqual(Exit.void)
      expect(output).toBe(ORIGIN_ERROR_PAGE)
      expect(firstLine(log)).toBe(falsyLogLine(name))
    }))

  it.effect("run: an async app that rejects with no reason after startResponse", () =>
    Effect.gen(function*() {
      const { exit, log, output } = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", textPlain)
        return Promise.reject()
      })
      expect(exit).toStrictEqual(Exit.void)
      expect(output).toBe(ORIGIN_ERROR_PAGE)
      expect(firstLine(log)).toBe(falsyLogLine("undefined"))
    }))

  for (const { name, thrown } of falsy) {
    it.effect(`SimpleHandler.run resolves with the 500 page: throw ${name}`, () =>
      Effect.gen(function*() {
        const { err, handler, out } = inMemory(SimpleHandler)
        yield* Effect.promise(() =>
          handler.run((_environ, startResponse) => {
            startResponse("200 OK", textPlain)
            throw thrown
          })
        )
        expect(atEpoch(out.value)).toBe(ORIGIN_ERROR_PAGE)
        expect(firstLine(err.value)).toBe(falsyLogLine(name))
      }))
  }

  it.effect("SimpleHandler.run resolves with the 500 page: an async app rejecting with no reason", () =>
    Effect.gen(function*() {
      const { err, handler, out } = inMemory(SimpleHandler)
      yield* Effect.promise(() =>
        handler.run(async (_environ, startResponse) => {
          startResponse("200 OK", textPlain)
          await Promise.resolve()
          return Promise.reject()
        })
      )
      expect(atEpoch(out.value)).toBe(ORIGIN_ERROR_PAGE)
      expect(firstLine(err.value)).toBe(falsyLogLine("undefined"))
    }))

  it.live("makeServer answers 500 with the error page, for each falsy throw and a bare rejection", () =>
    Effect.gen(function*() {
      const errors = ErrorLog.memory()
      const app: Application = (environ, startResponse) => {
        startResponse("200 OK", textPlain)
        const path = environ["PATH_INFO"]
        if (path === "/reject") return Promise.reject()
        throw path === "/undefined" ? undefined : path === "/null" ? null : false
      }
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => makeServer("127.0.0.1", 0, app, { errorLog: errors, closeTimeout: 2_000 })),
        (server) => Effect.promise(() => server.close())
      )
      for (const path of ["undefined", "null", "false", "reject"]) {
        const response = yield* Effect.promise(() => fetch(`${server.url}${path}`))
        expect(response.status).toBe(500)
        expect(yield* Effect.promise(() => response.text())).toBe(ERROR_BODY)
      }
      const logged = errors.text().split("\n").filter((line) => line.startsWith("ApplicationError: "))
      expect(logged).toEqual(["undefined", "null", "false", "undefined"].map(falsyLogLine))
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------------------
// 2. Services that throw when called

describe("2. a service that throws when called ends the request with a typed outcome", () => {
  const thrown = new ServiceFailure("logException threw")
  const throwingLog = (request: Testing.TestRequest): ErrorLogShape => ({
    stream: request.errors.stream,
    logException: () => {
      throw thrown
    }
  })

  const withThrowingLog = (app: Application) =>
    Effect.gen(function*() {
      const request = Testing.request()
      const exit = yield* within2s(
        Handler.run(app).pipe(Effect.provideService(ErrorLog, throwingLog(request)), Effect.provide(request.layer))
      )
      return { exit, request }
    })

  it.live("ErrorLog.logException throws: a sync app error before the headers", () =>
    Effect.gen(function*() {
      const { exit, request } = yield* withThrowingLog(() => {
        throw new AppFailure("first")
      })
      expect(Option.isSome(exit), "run hung").toBe(true)
      const failure = typedOutcome(Option.getOrThrow(exit))
      // As CPython's run: handle_error raised (logging comes first), so run raises it.
      expect(failure).toBeInstanceOf(ApplicationError)
      expect((failure as ApplicationError).cause).toBe(thrown)
      expect(request.output.text()).toBe("")
    }))

  it.live("ErrorLog.logException throws: an async app that rejects before the headers", () =>
    Effect.gen(function*() {
      const { exit, request } = yield* withThrowingLog(async () => {
        await Promise.resolve()
        throw new AppFailure("first")
      })
      expect(Option.isSome(exit), "run hung").toBe(true)
      const failure = typedOutcome(Option.getOrThrow(exit))
      expect(failure).toBeInstanceOf(ApplicationError)
      expect((failure as ApplicationError).cause).toBe(thrown)
      expect(request.output.text()).toBe("")
    }))

  it.live("FileTransmitter.transmit throws: the 500 page, the error logged, the file closed once", () =>
    Effect.gen(function*() {
      const broken = new ServiceFailure("transmit threw")
      const throwingTransmitter: FileTransmitterShape = {
        transmit: () => {
          throw broken
        }
      }
      let reads = 0
      let closes = 0
      const file = {
        read: (_size: number) => {
          reads++
          return reads === 1 ? latin1("file body") : new Uint8Array(0)
        },
        close: () => {
          closes++
        }
      }
      const app: Application = (environ, startResponse) => {
        startResponse("200 OK", textPlain)
        return new (environ["wsgi.file_wrapper"] as typeof FileWrapper)(file)
      }
      const request = Testing.request()
      const exit = yield* within2s(
        Handler.run(app).pipe(
          Effect.provideService(FileTransmitter, throwingTransmitter),
          Effect.provide(request.layer)
        )
      )
      expect(Option.isSome(exit), "run hung").toBe(true)
      expect(typedOutcome(Option.getOrThrow(exit))).toBeUndefined()
      expect(atEpoch(request.output.text())).toBe(ORIGIN_ERROR_PAGE)
      expect(firstLine(request.errors.text())).toBe("ServiceFailure: transmit threw")
      expect(closes).toBe(1)
      expect(reads).toBe(0)
    }))
})

// ---------------------------------------------------------------------------------------
// 3. runWith is lazy

describe("3. runWith(app, services) is an Effect that handles one request each time it runs", () => {
  it.effect("building it calls nothing; running it twice calls the app twice and sends two responses", () =>
    Effect.gen(function*() {
      let calls = 0
      const app: Application = (environ, startResponse) => {
        calls++
        return hello(environ, startResponse)
      }
      const request = Testing.request()
      const program = Handler.runWith(app, request.services)
      expect(calls).toBe(0)
      expect(request.output.chunks).toEqual([])
      expect(yield* Effect.exit(program)).toStrictEqual(Exit.void)
      expect(calls).toBe(1)
      expect(yield* Effect.exit(program)).toStrictEqual(Exit.void)
      expect(calls).toBe(2)
      expect(request.output.text()).toBe(HELLO_RESPONSE + HELLO_RESPONSE)
      expect(request.errors.text()).toBe("")
    }))
})

// ---------------------------------------------------------------------------------------
// 4 and 6. Steps overridden by record update

/** An Output over memory whose write Effect fails the runs listed in `failing` (1-based). */
const flakyOutput = (failing: ReadonlyArray<number>) => {
  const memory = Output.memory()
  let runs = 0
  const output: OutputShape = {
    write: (data) =>
      Effect.suspend(() => {
        runs++
        return failing.includes(runs)
          ? Effect.fail(new OutputError({ message: `busy (run ${runs})`, cause: new Error("EAGAIN") }))
          : memory.write(data)
      }),
    flush: () => Effect.void
  }
  return { output, memory, runs: () => runs }
}

/** The default steps with `write` retried up to 3 times. */
const retryingSteps: Handler.Steps = {
  ...Handler.defaultSteps,
  write: (h, data) => Effect.retry(Handler.defaultSteps.write(h, data), { times: 3 })
}

describe("4/6b. service Effects run when they are run: Effect.retry around them works", () => {
  it.effect("Effect.retry around the Output's write: each failed run is tried again, the response is whole", () =>
    Effect.gen(function*() {
      const { memory, output, runs } = flakyOutput([1, 2, 4])
      const retrying: OutputShape = { ...output, write: (data) => Effect.retry(output.write(data), { times: 3 }) }
      const request = Testing.request()
      // Building the output's Effect runs nothing.
      void retrying.write(latin1("not sent"))
      expect(runs()).toBe(0)
      const exit = yield* Effect.exit(
        Handler.run(hello).pipe(Effect.provideService(Output, retrying), Effect.provide(request.layer))
      )
      expect(exit).toStrictEqual(Exit.void)
      expect(memory.text()).toBe(HELLO_RESPONSE)
      // The head: runs 1 and 2 failed, 3 went out; the body: run 4 failed, 5 went out.
      expect(runs()).toBe(5)
      expect(request.errors.text()).toBe("")
    }))

  it.effect("Effect.retry around the write step: a head that failed is sent again before the body", () =>
    Effect.gen(function*() {
      const { memory, output, runs } = flakyOutput([1, 2])
      const request = Testing.request()
      const exit = yield* Effect.exit(
        Handler.run(hello).pipe(
          Handler.withSteps(retryingSteps),
          Effect.provideService(Output, output),
          Effect.provide(request.layer)
        )
      )
      expect(exit).toStrictEqual(Exit.void)
      expect(memory.text()).toBe(HELLO_RESPONSE)
      // The head failed twice, then went out; then the body.
      expect(runs()).toBe(4)
      expect(request.errors.text()).toBe("")
    }))

  it.effect("body writes that fail twice after the head went out are retried too, and bytesSent counts each byte once", () =>
    Effect.gen(function*() {
      const { memory, output, runs } = flakyOutput([2, 3, 5])
      const request = Testing.request()
      let bytesSent = -1
      const steps: Handler.Steps = {
        ...retryingSteps,
        close: (h) => Effect.zipRight(Effect.sync(() => void (bytesSent = h.state.bytesSent)), Handler.defaultSteps.close(h))
      }
      const twoChunks: Application = (_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/plain"]])
        return [latin1("Hello "), latin1("world!\n")]
      }
      const exit = yield* Effect.exit(
        Handler.run(twoChunks).pipe(
          Handler.withSteps(steps),
          Effect.provideService(Output, output),
          Effect.provide(request.layer)
        )
      )
      expect(exit).toStrictEqual(Exit.void)
      expect(memory.text()).toContain("\r\n\r\nHello world!\n")
      // The head went out on run 1; "Hello " failed twice (2, 3) and went out on 4;
      // "world!\n" failed once (5) and went out on 6.
      expect(runs()).toBe(6)
      expect(bytesSent).toBe("Hello world!\n".length)
    }))
})

describe("6a. a step overridden by record update changes the bytes", () => {
  it.effect("sendPreamble: a status line of our own, then the app's headers and the body", () =>
    Effect.gen(function*() {
      const steps: Handler.Steps = {
        ...Handler.defaultSteps,
        sendPreamble: (h) => h.services.output.write(latin1(`HTTP/1.1 ${h.state.status}\r\nX-Preamble: ours\r\n`))
      }
      const request = Testing.request()
      const exit = yield* Effect.exit(Handler.run(hello).pipe(Handler.withSteps(steps), Effect.provide(request.layer)))
      expect(exit).toStrictEqual(Exit.void)
      expect(request.output.text()).toBe(
        "HTTP/1.1 200 OK\r\nX-Preamble: ours\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
      )
    }))

  it.effect("errorOutput: the error page of our own, given the error being handled", () =>
    Effect.gen(function*() {
      const original = new AppFailure("down")
      const seen: Array<unknown> = []
      const steps: Handler.Steps = {
        ...Handler.defaultSteps,
        errorOutput: (h, error) =>
          Effect.sync(() => {
            seen.push(error)
            h.startResponse("503 Service Unavailable", [["Content-Type", "text/plain"], ["Retry-After", "5"]], error)
            return [latin1("later")]
          })
      }
      const request = Testing.request()
      const exit = yield* Effect.exit(
        Handler.run(() => {
          throw original
        }).pipe(Handler.withSteps(steps), Effect.provide(request.layer))
      )
      expect(exit).toStrictEqual(Exit.void)
      expect(seen).toEqual([original])
      expect(request.output.text()).toBe(
        `HTTP/1.0 503 Service Unavailable\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nRetry-After: 5\r\n` +
          "Content-Length: 5\r\n\r\nlater"
      )
      expect(firstLine(request.errors.text())).toBe("AppFailure: down")
    }))
})

// ---------------------------------------------------------------------------------------
// 5. validator under BaseCGIHandler

describe("5. validator(app) under BaseCGIHandler: a breach found while iterating is an app error", () => {
  it("a body that yields a string: run resolves with the CGI 500 output and logs the ValidationError", async () => {
    const { err, handler, out } = inMemory(BaseCGIHandler)
    const { body, closes } = closeable((function*() {
      yield "not bytes" as unknown as Uint8Array
    })())
    await expect(handler.run(validator((_environ, startResponse) => {
      startResponse("200 OK", textPlain)
      return body
    }))).resolves.toBeUndefined()
    expect(out.value).toBe(CGI_ERROR_PAGE)
    expect(firstLine(err.value)).toBe("ValidationError: Iterator yielded non-bytestring ('not bytes')")
    expect(closes()).toBe(1)
  })

  it("a body iterated before startResponse was called: run resolves with the CGI 500 output", async () => {
    const { err, handler, out } = inMemory(BaseCGIHandler)
    let startResponseOf: ((status: string, headers: HeaderList) => unknown) | undefined
    await expect(handler.run(validator((_environ, startResponse) => {
      startResponseOf = startResponse
      return (function*() {
        yield latin1("too early")
        startResponseOf!("200 OK", textPlain)
      })()
    }))).resolves.toBeUndefined()
    expect(out.value).toBe(CGI_ERROR_PAGE)
    expect(firstLine(err.value)).toBe(
      "ValidationError: The application returns and we started iterating over its body, but start_response has not yet been called"
    )
  })
})

// ---------------------------------------------------------------------------------------
// 6c. Interruption mid-body

/** Wait until the memory output holds `count` chunks. */
const chunksReach = (request: Testing.TestRequest, count: number): Effect.Effect<void> =>
  Effect.suspend(() =>
    request.output.chunks.length >= count
      ? Effect.void
      : Effect.zipRight(Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve))), chunksReach(request, count))
  )

/** The app: startResponse, then `body`. */
const returning = (body: ResponseBody): Application => (_environ, startResponse) => {
  startResponse("200 OK", textPlain)
  return body
}

describe("6c. interrupting run mid-body", () => {
  it.live("an async generator held at a yield (the output stuck): interrupted, its finally run, closed once", () =>
    Effect.gen(function*() {
      let cleanedUp = 0
      const { body, closes } = closeable((async function*() {
        try {
          yield latin1("first")
          yield latin1("second")
          yield latin1("third")
        } finally {
          cleanedUp++
        }
      })())
      const request = Testing.request()
      const memory = request.output
      // The head and the first chunk go out; the write of the second never completes.
      const stuck: OutputShape = {
        write: (data) => (memory.chunks.length < 2 ? memory.write(data) : Effect.never),
        flush: () => Effect.void
      }
      const fiber = yield* Effect.fork(
        Handler.run(returning(body)).pipe(Effect.provideService(Output, stuck), Effect.provide(request.layer))
      )
      yield* chunksReach(request, 2)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(memory.chunks.map(text).slice(1)).toEqual(["first"])
      expect(closes()).toBe(1)
      yield* Effect.sleep("20 millis")
      expect(cleanedUp).toBe(1)
      expect(closes()).toBe(1)
    }))

  it.live("an async generator awaiting after its first chunk is stopped once that await settles", () =>
    Effect.gen(function*() {
      let cleanedUp = 0
      let open!: () => void
      const gate = new Promise<void>((resolve) => {
        open = resolve
      })
      let afterGate = 0
      const { body, closes } = closeable((async function*() {
        try {
          yield latin1("first")
          await gate
          afterGate++
          yield latin1("second")
          afterGate++
          yield latin1("third")
        } finally {
          cleanedUp++
        }
      })())
      const request = Testing.request()
      const fiber = yield* Effect.fork(Handler.run(returning(body)).pipe(Effect.provide(request.layer)))
      yield* chunksReach(request, 2)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(closes()).toBe(1)
      // JavaScript queues return() on an async generator busy in an await: the core's
      // return() takes effect at the generator's next yield, which runs its finally.
      expect(cleanedUp).toBe(0)
      open()
      yield* Effect.sleep("20 millis")
      expect(afterGate).toBe(1)
      expect(cleanedUp).toBe(1)
      expect(request.output.chunks.map(text).slice(1)).toEqual(["first"])
      expect(closes()).toBe(1)
    }))
})

describe("no path puts a line break into the head (issue 14 #3)", () => {
  /** A Headers subclass that slips a split value past the class's own checks. */
  class SplittingHeaders extends Headers {
    constructor(list: HeaderList) {
      super(list)
      this.headerList.push(["X-Split", "a\r\nSet-Cookie: evil=1"])
    }
  }

  it.effect("a Headers subclass that adds a CRLF value: refused as the head goes out, nothing of it sent", () =>
    Effect.gen(function*() {
      const request = Testing.request()
      const exit = yield* Effect.exit(
        Handler.run(hello).pipe(
          Handler.withConfig(HandlerConfig.make({ headersClass: SplittingHeaders })),
          Effect.provide(request.layer)
        )
      )
      expect(request.output.text()).not.toContain("Set-Cookie: evil=1")
      expect(request.errors.text()).toContain("Header value of X-Split contains a control or non-latin-1 character")
      // The headers counted as sent when the head failed: the response is cut short.
      expect(Exit.isFailure(exit)).toBe(true)
    }))

  it.effect("a step that sets a CRLF value through Headers.set is refused by Headers itself", () =>
    Effect.gen(function*() {
      const request = Testing.request()
      const steps: Handler.Steps = {
        ...Handler.defaultSteps,
        cleanupHeaders: (h) => {
          h.state.headers!.set("X-Split", "a\r\nSet-Cookie: evil=1")
          Handler.defaultSteps.cleanupHeaders(h)
        }
      }
      yield* Effect.exit(Handler.run(hello).pipe(Handler.withSteps(steps), Effect.provide(request.layer)))
      expect(request.output.text()).not.toContain("Set-Cookie: evil=1")
      expect(request.errors.text()).toContain("Header value contains a control character")
    }))
})
