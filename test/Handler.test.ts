/**
 * `run(app)`, the Effect core, on the in-memory test services: whole responses byte for
 * byte under TestClock, every kind of body, the typed error channel, and `close()`.
 */
import { it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Option, TestClock } from "effect"
import { describe, expect } from "vitest"
import { ErrorLog } from "../src/ErrorLog.js"
import { defaultSteps, type Handling, run, runWith, withConfig, withSteps } from "../src/Handler.js"
import * as HandlerConfig from "../src/HandlerConfig.js"
import {
  ApplicationError,
  ClientDisconnected,
  type HandlerError,
  OutputError,
  ProtocolError,
  ResponseAborted
} from "../src/HandlerError.js"
import { Headers } from "../src/Headers.js"
import { Output, type OutputShape } from "../src/Output.js"
import type { Application, CgiVariables, HeaderList, InputStream } from "../src/Protocol.js"
import * as Testing from "../src/Testing.js"
import {
  closeable,
  EPOCH_DATE,
  firstLine,
  fixed,
  latin1,
  ORIGIN_ERROR_PAGE,
  runRequest,
  text
} from "./support/coreApps.js"
import { underTest } from "./support/underTest.js"

class AppFailure extends Error {
  override readonly name = "AppFailure"
}

const JUNE_5_2006 = Date.UTC(2006, 5, 5, 18, 49, 54)

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [latin1("Hello, world!")]
}

/** The headers of a plain response (PEP 3333 wants a Content-Type on every 200). */
const textPlain: HeaderList = [["Content-Type", "text/plain"]]

/** The typed failure of an exit (fails the test when there is none). */
const failureOf = (exit: Exit.Exit<void, HandlerError>): HandlerError => {
  if (Exit.isSuccess(exit)) throw new Error("expected run to fail, but it succeeded")
  return Option.getOrThrow(Cause.failureOption(exit.cause))
}

/** An Output that takes the first `ok` writes, then fails every write with `failure`. */
const failingAfter = (ok: number, failure: () => OutputError | ClientDisconnected) => {
  const memory = Output.memory()
  let writes = 0
  const output: OutputShape = {
    write: (data) => (writes++ < ok ? memory.write(data) : Effect.fail(failure())),
    flush: () => Effect.void
  }
  return { output, memory }
}

/** Run `app` with `output` in place of the request's in-memory Output. */
const runWithOutput = (app: Application, output: OutputShape, options: Parameters<typeof Testing.request>[0] = {}) => {
  const request = Testing.request({ ...options, environ: { QUERY_STRING: "", ...options.environ } })
  return Effect.map(
    Effect.exit(run(app).pipe(Effect.provideService(Output, output), Effect.provide(request.layer))),
    (exit) => ({ exit, log: request.errors.text() })
  )
}

const clientGone = () => new ClientDisconnected({ cause: Object.assign(new Error("write EPIPE"), { code: "EPIPE" }) })

describe("run(app): whole responses under TestClock", () => {
  it.effect("is byte-for-byte deterministic, Date included", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(JUNE_5_2006)
      const first = yield* runRequest(underTest(hello))
      expect(first.exit).toStrictEqual(Exit.void)
      expect(first.output).toBe(
        "HTTP/1.0 200 OK\r\n" +
          "Date: Mon, 05 Jun 2006 18:49:54 GMT\r\n" +
          "Content-Type: text/plain\r\n" +
          "Content-Length: 13\r\n" +
          "\r\n" +
          "Hello, world!"
      )
      expect(first.log).toBe("")

      yield* TestClock.adjust("36 hours")
      const second = yield* runRequest(underTest(hello))
      expect(second.output).toBe(
        "HTTP/1.0 200 OK\r\n" +
          "Date: Wed, 07 Jun 2006 06:49:54 GMT\r\n" +
          "Content-Type: text/plain\r\n" +
          "Content-Length: 13\r\n" +
          "\r\n" +
          "Hello, world!"
      )
    }))

  it.effect("starts at the epoch when the TestClock was not moved", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(underTest(fixed("204 No Content", [], [])))
      expect(output).toBe(`HTTP/1.0 204 No Content\r\nDate: ${EPOCH_DATE}\r\n\r\n`)
    }))

  it.effect("keeps a Date the app set, in the app's place", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(
        underTest(fixed("200 OK", [["Content-Type", "text/plain"], ["Date", "Mon, 05 Jun 2006 18:49:54 GMT"]], [
          latin1("x"),
          latin1("y")
        ]))
      )
      expect(output).toBe("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\n\r\nxy")
    }))

  it.effect("runWith under the TestClock gives the same bytes as run", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(JUNE_5_2006)
      const viaRun = yield* runRequest(underTest(hello))
      const request = Testing.request()
      const exit = yield* Effect.exit(runWith(underTest(hello), request.services, HandlerConfig.defaults))
      expect(exit).toStrictEqual(Exit.void)
      expect(request.output.text()).toBe(viaRun.output)
    }))
})

describe("run(app): bodies", () => {
  const plain: HeaderList = [["Content-Type", "text/plain"]]
  const expectBody = (output: string, body: string) =>
    expect(output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\n\r\n${body}`)

  it.effect("sends a sync array of chunks in order, with no Content-Length for several", () =>
    Effect.gen(function*() {
      const { exit, output, request } = yield* runRequest(
        underTest(fixed("200 OK", plain, [latin1("one "), latin1("two "), latin1("three")]))
      )
      expect(exit).toStrictEqual(Exit.void)
      expectBody(output, "one two three")
      expect(request.output.chunks.map(text).slice(1)).toEqual(["one ", "two ", "three"])
    }))

  it.effect("sends a generator's chunks", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(underTest((_environ, startResponse) => {
        startResponse("200 OK", plain)
        return (function*() {
          yield latin1("a")
          yield latin1("b")
        })()
      }))
      expectBody(output, "ab")
    }))

  it.effect("sends an async iterable's chunks", () =>
    Effect.gen(function*() {
      const { exit, output } = yield* runRequest(underTest((_environ, startResponse) => {
        startResponse("200 OK", plain)
        return (async function*() {
          yield latin1("x")
          await Promise.resolve()
          yield latin1("y")
        })()
      }))
      expect(exit).toStrictEqual(Exit.void)
      expectBody(output, "xy")
    }))

  it.effect("waits for an app that returns a Promise", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(underTest(async (environ, startResponse) => {
        const body = await (environ["wsgi.input"] as InputStream).read(1024)
        startResponse("200 OK", plain)
        return [body, latin1("!")]
      }), { body: "posted" })
      expectBody(output, "posted!")
    }))

  it.effect("sends what write() was given, awaited, before the returned chunks", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(underTest(async (_environ, startResponse) => {
        const write = startResponse("200 OK", plain)
        await write(latin1("1"))
        await write(latin1("2"))
        return [latin1("3")]
      }))
      expectBody(output, "123")
    }))

  it.effect("keeps the call order of write() calls that were not awaited, even on a slow output", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const slow: OutputShape = {
        write: (data) => {
          written.push(text(data))
          return Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        },
        flush: () => Effect.void
      }
      const { exit } = yield* runWithOutput(underTest((_environ, startResponse) => {
        const write = startResponse("200 OK", plain)
        void write(latin1("1"))
        void write(latin1("2"))
        void write(latin1("3"))
        return [latin1("4"), latin1("5")]
      }), slow)
      expect(exit).toStrictEqual(Exit.void)
      expect(written.slice(1)).toEqual(["1", "2", "3", "4", "5"])
    }))

  it.effect("an excInfo restart before the headers went out replaces the status and the headers", () =>
    Effect.gen(function*() {
      const { exit, output } = yield* runRequest(underTest((_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/plain"], ["X-Dropped", "1"]])
        try {
          throw new AppFailure("changed my mind")
        } catch (error) {
          startResponse("503 Service Unavailable", [["Content-Type", "text/plain"]], error)
        }
        return [latin1("down")]
      }))
      expect(exit).toStrictEqual(Exit.void)
      expect(output).toBe(
        `HTTP/1.0 503 Service Unavailable\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\ndown`
      )
    }))

  it.effect("an excInfo restart after the headers went out rethrows the error into the app and aborts the response", () =>
    Effect.gen(function*() {
      const original = new AppFailure("too late")
      let rethrown: unknown
      const { exit, log, output } = yield* runRequest(underTest(async (_environ, startResponse) => {
        await startResponse("200 OK", textPlain)(latin1("partial"))
        try {
          startResponse("500 Internal Server Error", textPlain, original)
        } catch (error) {
          rethrown = error
          throw error
        }
        return []
      }))
      expect(rethrown).toBe(original)
      const failure = failureOf(exit)
      expect(failure).toBeInstanceOf(ResponseAborted)
      expect((failure as ResponseAborted).cause).toBe(original)
      expect(output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\n\r\npartial`)
      expect(firstLine(log)).toBe("AppFailure: too late")
    }))

  it.effect("gives the app every wsgi.* key and the request's variables", () =>
    Effect.gen(function*() {
      let seen: CgiVariables = {}
      // Unvalidated: the test checks that wsgi.input and wsgi.errors are the request's very
      // streams, which the validator replaces with checking wrappers.
      const request = yield* runRequest(underTest((environ, startResponse) => {
        seen = environ
        startResponse("200 OK", textPlain)
        return []
      }, { validate: false }), { environ: { HTTPS: "on", QUERY_STRING: "a=1" } })
      expect(seen["QUERY_STRING"]).toBe("a=1")
      expect(seen["wsgi.url_scheme"]).toBe("https")
      expect(seen["wsgi.version"]).toEqual([1, 0])
      expect(seen["wsgi.multithread"]).toBe(true)
      expect(seen["wsgi.multiprocess"]).toBe(true)
      expect(seen["wsgi.run_once"]).toBe(false)
      expect(seen["wsgi.input"]).toBe(request.request.services.input.stream)
      expect(seen["wsgi.errors"]).toBe(request.request.services.errorLog.stream)
      expect(seen["SERVER_SOFTWARE"]).toBe(process.env["SERVER_SOFTWARE"])
    }))
})

describe("run(app): the typed error channel", () => {
  it.effect("an app error before the headers is logged and answered with the 500 page; run succeeds", () =>
    Effect.gen(function*() {
      const { exit, log, output } = yield* runRequest(underTest(() => {
        throw new AppFailure("early")
      }))
      expect(exit).toStrictEqual(Exit.void)
      expect(output).toBe(ORIGIN_ERROR_PAGE)
      expect(firstLine(log)).toBe("AppFailure: early")
    }))

  it.effect("an async app that rejects before the headers gets the 500 page", () =>
    Effect.gen(function*() {
      const { exit, log, output } = yield* runRequest(underTest(async () => {
        await Promise.resolve()
        throw new AppFailure("rejected")
      }))
      expect(exit).toStrictEqual(Exit.void)
      expect(output).toBe(ORIGIN_ERROR_PAGE)
      expect(firstLine(log)).toBe("AppFailure: rejected")
    }))

  it.effect("an app error after the headers fails with ResponseAborted carrying the app's error", () =>
    Effect.gen(function*() {
      const original = new AppFailure("late")
      const { exit, log, output } = yield* runRequest(underTest((_environ, startResponse) => {
        startResponse("200 OK", textPlain)
        return (function*() {
          yield latin1("first")
          throw original
        })()
      }))
      const failure = failureOf(exit)
      expect(failure).toBeInstanceOf(ResponseAborted)
      expect((failure as ResponseAborted).cause).toBe(original)
      expect(output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\n\r\nfirst`)
      expect(firstLine(log)).toBe("AppFailure: late")
    }))

  it.effect("fails with ApplicationError when handling the error fails in code the handler calls out to", () =>
    Effect.gen(function*() {
      const refusal = new Error("plain-text pages are not allowed here")
      class HtmlOnlyHeaders extends Headers {
        constructor(list: HeaderList) {
          if (list.some(([name, value]) => name === "Content-Type" && value === "text/plain")) throw refusal
          super(list)
        }
      }
      const config = HandlerConfig.make({ headersClass: HtmlOnlyHeaders })
      const { exit, log, output } = yield* runRequest(underTest((_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/html"]])
        throw new AppFailure("first")
      }), {}, config)
      const failure = failureOf(exit)
      expect(failure).toBeInstanceOf(ApplicationError)
      expect((failure as ApplicationError).cause).toBe(refusal)
      expect(output).toBe("")
      expect(firstLine(log)).toBe("AppFailure: first")
    }))

  it.effect("fails with ProtocolError when the error page itself cannot be started", () =>
    Effect.gen(function*() {
      const config = HandlerConfig.make({ errorStatus: "oops!" })
      const { exit, log, output } = yield* runRequest(underTest(() => {
        throw new AppFailure("first")
      }), {}, config)
      const failure = failureOf(exit)
      expect(failure).toBeInstanceOf(ProtocolError)
      expect((failure as ProtocolError).message).toBe("Status message must begin w/3-digit code")
      expect(output).toBe("")
      expect(firstLine(log)).toBe("AppFailure: first")
    }))

  it.effect("fails with OutputError when the error cannot even be logged", () =>
    Effect.gen(function*() {
      const request = Testing.request()
      const brokenLog = ErrorLog.fromStream({
        write: () => {
          throw new Error("disk full")
        },
        writelines: () => {},
        flush: () => {}
      })
      const exit = yield* Effect.exit(
        run(underTest(() => {
          throw new AppFailure("first")
        })).pipe(Effect.provideService(ErrorLog, brokenLog), Effect.provide(request.layer))
      )
      const failure = failureOf(exit)
      expect(failure).toBeInstanceOf(OutputError)
      expect(((failure as OutputError).cause as Error).message).toBe("disk full")
      expect(request.output.text()).toBe("")
    }))

  it.effect("a client that went away is no error: run succeeds and nothing is logged", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable([latin1("a"), latin1("b")])
      const { output } = failingAfter(0, clientGone)
      const { exit, log } = yield* runWithOutput(underTest(fixed("200 OK", textPlain, body)), output)
      expect(exit).toStrictEqual(Exit.void)
      expect(log).toBe("")
      expect(closes()).toBe(1)
    }))

  it.effect("a client that went away during the error page is no error either", () =>
    Effect.gen(function*() {
      const { output } = failingAfter(0, clientGone)
      const { exit, log } = yield* runWithOutput(underTest(() => {
        throw new AppFailure("first")
      }), output)
      expect(exit).toStrictEqual(Exit.void)
      expect(firstLine(log)).toBe("AppFailure: first")
    }))

  it.effect("a client that went away during an awaited write() rejects it in the app; run still succeeds quietly", () =>
    Effect.gen(function*() {
      let seen: unknown
      const { output } = failingAfter(0, clientGone)
      const { exit, log } = yield* runWithOutput(underTest(async (_environ, startResponse) => {
        try {
          await startResponse("200 OK", textPlain)(latin1("lost"))
        } catch (error) {
          seen = error
        }
        return []
      }), output)
      expect(seen).toBeInstanceOf(ClientDisconnected)
      expect(exit).toStrictEqual(Exit.void)
      expect(log).toBe("")
    }))

  it.effect("write() after the response finished is refused", () =>
    Effect.gen(function*() {
      let write: ((data: Uint8Array) => Promise<void>) | undefined
      const { exit, output } = yield* runRequest(underTest((_environ, startResponse) => {
        write = startResponse("200 OK", textPlain)
        return []
      }))
      expect(exit).toStrictEqual(Exit.void)
      const late = yield* Effect.promise(() => write!(latin1("late")).then(() => undefined, (error: unknown) => error))
      expect(late).toBeInstanceOf(ProtocolError)
      expect((late as ProtocolError).message).toBe("write() called after the response was finished")
      expect(output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`)
    }))

  it.effect("a finished request lets go of its services: the Handling a step kept can no longer write, its error log still works", () =>
    Effect.gen(function*() {
      let kept: Handling | undefined
      const request = Testing.request({ environ: { QUERY_STRING: "" } })
      const steps = { ...defaultSteps, getScheme: (h: Handling) => (kept = h, defaultSteps.getScheme(h)) }
      yield* run(hello).pipe(withSteps(steps), Effect.provide(request.layer))
      expect(request.output.text()).toContain("Hello, world!")
      const h = kept!
      expect(h.fiber).toBeNull()
      const late = yield* Effect.flip(h.services.output.write(latin1("late")))
      expect(late).toBeInstanceOf(OutputError)
      expect(late.message).toBe("the request has ended: its output is released")
      expect(request.output.text()).not.toContain("late")
      yield* h.services.errorLog.logException(new AppFailure("after the end"), null)
      expect(request.errors.text()).toContain("AppFailure: after the end")
    }))

  it.effect("an output failure that is not a disconnect after the headers is logged and aborts the response", () =>
    Effect.gen(function*() {
      const broken = new OutputError({ message: "disk on fire", cause: new Error("EIO") })
      const { memory, output } = failingAfter(1, () => broken)
      const { exit, log } = yield* runWithOutput(underTest(fixed("200 OK", textPlain, [latin1("a"), latin1("b")])), output)
      const failure = failureOf(exit)
      expect(failure).toBeInstanceOf(ResponseAborted)
      expect((failure as ResponseAborted).cause).toBe(broken)
      expect(firstLine(log)).toBe("OutputError: disk on fire")
      expect(memory.text()).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\n\r\n`)
    }))
})

describe("run(app): close() is called exactly once", () => {
  const failingAt = (index: number) => {
    return closeable({
      *[Symbol.iterator]() {
        for (let i = 0;; i++) {
          if (i === index) throw new AppFailure(`chunk ${i}`)
          yield latin1(`chunk ${i};`)
        }
      }
    })
  }

  it.effect("after a successful response", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable([latin1("ok")])
      const { exit } = yield* runRequest(underTest(fixed("200 OK", textPlain, body)))
      expect(exit).toStrictEqual(Exit.void)
      expect(closes()).toBe(1)
    }))

  it.effect("when the Output throws instead of failing its effect (logged, aborted)", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable([latin1("ok")])
      const throwing: OutputShape = {
        write: () => {
          throw Object.assign(new Error("disk full"), { code: "ENOSPC" })
        },
        flush: () => Effect.void
      }
      const { exit, log } = yield* runWithOutput(underTest(fixed("200 OK", textPlain, body)), throwing)
      const failure = failureOf(exit)
      expect(failure).toBeInstanceOf(ResponseAborted)
      expect((failure as ResponseAborted).cause).toBeInstanceOf(OutputError)
      expect(log.split("\n")[0]).toBe("OutputError: write to the response failed: disk full")
      expect(closes()).toBe(1)
    }))

  it.effect("when the body fails at its first chunk (error page sent)", () =>
    Effect.gen(function*() {
      const { body, closes } = failingAt(0)
      const { exit, output } = yield* runRequest(underTest(fixed("200 OK", textPlain, body)))
      expect(exit).toStrictEqual(Exit.void)
      expect(output).toBe(ORIGIN_ERROR_PAGE)
      expect(closes()).toBe(1)
    }))

  it.effect("when the body fails at a later chunk (response aborted)", () =>
    Effect.gen(function*() {
      const { body, closes } = failingAt(2)
      const { exit, output } = yield* runRequest(underTest(fixed("200 OK", textPlain, body)))
      expect(failureOf(exit)).toBeInstanceOf(ResponseAborted)
      expect(output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\n\r\nchunk 0;chunk 1;`)
      expect(closes()).toBe(1)
    }))

  it.effect("when the app fails before the headers after write() was not used", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable({
        *[Symbol.iterator](): Generator<Uint8Array> {
          throw new AppFailure("no headers yet")
        }
      })
      const { exit, output } = yield* runRequest(underTest(fixed("200 OK", textPlain, body)))
      expect(exit).toStrictEqual(Exit.void)
      expect(output).toBe(ORIGIN_ERROR_PAGE)
      expect(closes()).toBe(1)
    }))

  it.effect("when the client went away mid-body", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable([latin1("a"), latin1("b"), latin1("c")])
      const { output } = failingAfter(2, clientGone)
      const { exit } = yield* runWithOutput(underTest(fixed("200 OK", textPlain, body)), output)
      expect(exit).toStrictEqual(Exit.void)
      expect(closes()).toBe(1)
    }))

  it.effect("when close() itself throws after a complete response: called once, logged, the response stands", () =>
    Effect.gen(function*() {
      const broken = new AppFailure("close failed")
      const { body, closes } = closeable([latin1("done")], () => {
        throw broken
      })
      const { exit, log, output } = yield* runRequest(underTest(fixed("200 OK", textPlain, body)))
      expect(closes()).toBe(1)
      expect(output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\ndone`)
      expect(firstLine(log)).toBe("AppFailure: close failed")
      expect(log.match(/AppFailure: close failed/g)).toHaveLength(1)
      expect(exit).toStrictEqual(Exit.void)
    }))

  it.effect("an async close() is awaited", () =>
    Effect.gen(function*() {
      let closed = false
      const body = Object.assign([latin1("x")], {
        close: async () => {
          await Promise.resolve()
          closed = true
        }
      })
      const { exit } = yield* runRequest(underTest(fixed("200 OK", textPlain, body)))
      expect(exit).toStrictEqual(Exit.void)
      expect(closed).toBe(true)
    }))

  it.effect("a generator's finally runs when the client goes away mid-body", () =>
    Effect.gen(function*() {
      let cleanedUp = 0
      const { output } = failingAfter(2, clientGone)
      const { exit } = yield* runWithOutput(underTest(fixed("200 OK", textPlain, (function*() {
        try {
          for (let i = 0; i < 10; i++) yield latin1(`${i}`)
        } finally {
          cleanedUp++
        }
      })())), output)
      expect(exit).toStrictEqual(Exit.void)
      expect(cleanedUp).toBe(1)
    }))

  it.effect("an async generator's finally runs when the client goes away mid-body", () =>
    Effect.gen(function*() {
      let cleanedUp = 0
      const { output } = failingAfter(2, clientGone)
      const { exit } = yield* runWithOutput(underTest(fixed("200 OK", textPlain, (async function*() {
        try {
          for (let i = 0; i < 10; i++) yield latin1(`${i}`)
        } finally {
          cleanedUp++
        }
      })())), output)
      expect(exit).toStrictEqual(Exit.void)
      expect(cleanedUp).toBe(1)
    }))
})

describe("run(app): interrupted", () => {
  /** An Output whose write number `stuckAt` never completes; `reached` tells when it began. */
  const stuckOutput = (stuckAt: number) =>
    Effect.map(Deferred.make<void>(), (reached) => {
      let writes = 0
      const output: OutputShape = {
        write: () => {
          if (++writes !== stuckAt) return Effect.void
          Deferred.unsafeDone(reached, Exit.void)
          return Effect.never
        },
        flush: () => Effect.void
      }
      return { output, reached }
    })

  it.effect("closes the result once and runs the generator's finally when the fiber is interrupted mid-body", () =>
    Effect.gen(function*() {
      let cleanedUp = 0
      const { body, closes } = closeable((function*() {
        try {
          for (let i = 0; i < 5; i++) yield latin1(`${i}`)
        } finally {
          cleanedUp++
        }
      })())
      const { output, reached } = yield* stuckOutput(2)
      const fiber = yield* Effect.fork(runWithOutput(underTest(fixed("200 OK", textPlain, body)), output))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      expect(closes()).toBe(1)
      expect(cleanedUp).toBe(1)
    }))

  it.effect("closes the result once when interrupted while an async body waits", () =>
    Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const { body, closes } = closeable({
        [Symbol.asyncIterator]: (): AsyncIterator<Uint8Array> => ({
          next: () => {
            Deferred.unsafeDone(reached, Exit.void)
            return new Promise<IteratorResult<Uint8Array>>(() => {})
          }
        })
      })
      const fiber = yield* Effect.fork(runRequest(underTest(fixed("200 OK", textPlain, body))))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      expect(closes()).toBe(1)
    }))
})

describe("run(app): responses without a body", () => {
  const statuses = ["101 Switching Protocols", "103 Early Hints", "204 No Content", "304 Not Modified"]

  it.effect.each(statuses)("%s gets no Content-Length, not even for [new Uint8Array(0)] or []", (status) =>
    Effect.gen(function*() {
      for (const body of [[new Uint8Array(0)], []]) {
        // The validator wants a Content-Type on 1xx responses, so those run unwrapped.
        const { exit, output } = yield* runRequest(underTest(fixed(status, [], body), { validate: !status.startsWith("1") }))
        expect(exit).toStrictEqual(Exit.void)
        expect(output).toBe(`HTTP/1.0 ${status}\r\nDate: ${EPOCH_DATE}\r\n\r\n`)
      }
    }))

  it.effect("a 200 with one empty chunk gets Content-Length: 0", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(underTest(fixed("200 OK", textPlain, [new Uint8Array(0)])))
      expect(output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`)
    }))

  it.effect("HEAD on an origin server sends the headers (with the body's length) but no body bytes", () =>
    Effect.gen(function*() {
      const { exit, output } = yield* runRequest(underTest(hello), { environ: { REQUEST_METHOD: "HEAD" } })
      expect(exit).toStrictEqual(Exit.void)
      expect(output).toBe(
        `HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n`
      )
    }))

  it.effect("HEAD on an origin server sends no bytes of write() either, and keeps the app's Content-Length", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(underTest(async (_environ, startResponse) => {
        await startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "5"]])(latin1("hello"))
        return []
      }), { environ: { REQUEST_METHOD: "HEAD" } })
      expect(output).toBe(
        `HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n`
      )
    }))
})

describe("run(app): withConfig", () => {
  it.effect("originServer false sends a CGI Status: line and no Date", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(underTest(hello), {}, HandlerConfig.make({ originServer: false }))
      expect(output).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!")
    }))

  it.effect("httpVersion is the version of the status line", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest(underTest(fixed("200 OK", textPlain, [])), {}, HandlerConfig.make({ httpVersion: "1.1" }))
      expect(output).toBe(`HTTP/1.1 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`)
    }))

  it.effect("serverSoftware adds a Server header after Date, unless the app set one", () =>
    Effect.gen(function*() {
      const config = HandlerConfig.make({ serverSoftware: "FooBar/1.0" })
      const plain = yield* runRequest(underTest(fixed("200 OK", textPlain, [])), {}, config)
      expect(plain.output).toBe(
        `HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nServer: FooBar/1.0\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`
      )
      const own = yield* runRequest(underTest(fixed("200 OK", [["Server", "Mine"], ["Content-Type", "text/plain"]], [])), {}, config)
      expect(own.output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nServer: Mine\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`)
    }))

  it.effect("serverSoftware is the default SERVER_SOFTWARE of an origin server only", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const app: Application = (environ, startResponse) => {
        seen.push(environ["SERVER_SOFTWARE"])
        startResponse("200 OK", textPlain)
        return []
      }
      const osEnviron = {}
      yield* runRequest(underTest(app), {}, HandlerConfig.make({ serverSoftware: "FooBar/1.0", osEnviron }))
      yield* runRequest(underTest(app), {}, HandlerConfig.make({ serverSoftware: "FooBar/1.0", osEnviron, originServer: false }))
      yield* runRequest(
        underTest(app),
        { environ: { SERVER_SOFTWARE: "Front/2" } },
        HandlerConfig.make({ serverSoftware: "FooBar/1.0", osEnviron })
      )
      expect(seen).toEqual(["FooBar/1.0", undefined, "Front/2"])
    }))

  it.effect("tracebackLimit caps the stack frames of the logged error", () =>
    Effect.gen(function*() {
      const nested = (depth: number): never => {
        if (depth === 0) throw new AppFailure("deep")
        return nested(depth - 1)
      }
      const app: Application = () => nested(5)
      const frames = (log: string) => log.split("\n").filter((line) => /^\s+at /.test(line)).length
      const none = yield* runRequest(underTest(app), {}, HandlerConfig.make({ tracebackLimit: 0 }))
      expect(none.log).toBe("AppFailure: deep\n")
      const two = yield* runRequest(underTest(app), {}, HandlerConfig.make({ tracebackLimit: 2 }))
      expect(firstLine(two.log)).toBe("AppFailure: deep")
      expect(frames(two.log)).toBe(2)
      const all = yield* runRequest(underTest(app), {}, HandlerConfig.make({ tracebackLimit: null }))
      expect(frames(all.log)).toBeGreaterThan(2)
    }))

  it.effect("errorStatus, errorHeaders and errorBody make the error page", () =>
    Effect.gen(function*() {
      const config = HandlerConfig.make({
        errorStatus: "503 Service Unavailable",
        errorHeaders: [["Content-Type", "text/html"], ["Retry-After", "5"]],
        errorBody: latin1("<p>later</p>")
      })
      const { output } = yield* runRequest(underTest(() => {
        throw new AppFailure("x")
      }), {}, config)
      expect(output).toBe(
        `HTTP/1.0 503 Service Unavailable\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/html\r\nRetry-After: 5\r\n` +
          "Content-Length: 12\r\n\r\n<p>later</p>"
      )
    }))

  it.effect("the error page does not change the configured errorHeaders", () =>
    Effect.gen(function*() {
      const config = HandlerConfig.make({ errorHeaders: [["Content-Type", "text/plain"]] })
      for (let i = 0; i < 2; i++) {
        const { output } = yield* runRequest(underTest(() => {
          throw new AppFailure("x")
        }), {}, config)
        expect(output).toBe(ORIGIN_ERROR_PAGE)
      }
      expect(config.errorHeaders).toEqual([["Content-Type", "text/plain"]])
    }))

  it.effect("the wsgi* fields and osEnviron make the environ", () =>
    Effect.gen(function*() {
      let seen: CgiVariables = {}
      const config = HandlerConfig.make({
        wsgiMultithread: false,
        wsgiMultiprocess: false,
        wsgiRunOnce: true,
        wsgiFileWrapper: null,
        osEnviron: { FROM_OS: "1", SERVER_NAME: "os-name" }
      })
      yield* runRequest(underTest((environ, startResponse) => {
        seen = environ
        startResponse("200 OK", textPlain)
        return []
      }), {}, config)
      expect(seen["wsgi.multithread"]).toBe(false)
      expect(seen["wsgi.multiprocess"]).toBe(false)
      expect(seen["wsgi.run_once"]).toBe(true)
      expect("wsgi.file_wrapper" in seen).toBe(false)
      expect(seen["FROM_OS"]).toBe("1")
      expect(seen["SERVER_NAME"]).toBe("127.0.0.1")
    }))

  it.effect("withConfig is dual: data-last in a pipe", () =>
    Effect.gen(function*() {
      const request = Testing.request()
      yield* run(underTest(hello)).pipe(withConfig(HandlerConfig.make({ originServer: false })), Effect.provide(request.layer))
      expect(request.output.text()).toBe(
        "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
      )
    }))
})

describe("run(app): services", () => {
  it.effect("sendHead, when the Output has it, gets the status and every header instead of bytes", () =>
    Effect.gen(function*() {
      const memory = Output.memory()
      const heads: Array<[string, HeaderList]> = []
      const framing: OutputShape = {
        ...memory,
        sendHead: (status, headers) => {
          heads.push([status, headers])
          return Effect.void
        }
      }
      const { exit } = yield* runWithOutput(underTest(hello), framing)
      expect(exit).toStrictEqual(Exit.void)
      expect(heads).toEqual([["200 OK", [["Date", EPOCH_DATE], ["Content-Type", "text/plain"], ["Content-Length", "13"]]]])
      expect(memory.text()).toBe("Hello, world!")
    }))
})
