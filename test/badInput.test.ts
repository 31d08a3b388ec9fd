/**
 * Every PEP 3333 violation an application can commit, with its exact outcome: the 500 page
 * byte for byte (or the response cut short once headers are out), the first line of the
 * log, `close()` called once, and nothing else written.
 */
import { it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { describe, expect } from "vitest"
import { type HandlerError, ProtocolError, ResponseAborted } from "../src/HandlerError.js"
import type { Application, HeaderList, ResponseBody, StartResponse } from "../src/Protocol.js"
import {
  closeable,
  EPOCH_DATE,
  firstLine,
  latin1,
  ORIGIN_ERROR_PAGE,
  type Outcome,
  runRequest
} from "./support/coreApps.js"

/** The outcome of a refused response: the 500 page, one log entry for `message`, run succeeds. */
const expectRefused = (outcome: Outcome, message: string): void => {
  expect(outcome.exit).toStrictEqual(Exit.void)
  expect(outcome.output).toBe(ORIGIN_ERROR_PAGE)
  expect(firstLine(outcome.log)).toBe(`ProtocolError: ${message}`)
  expect(outcome.log.match(/^ProtocolError: /gm)).toHaveLength(1)
}

const failureOf = (exit: Exit.Exit<void, HandlerError>): HandlerError => {
  if (Exit.isSuccess(exit)) throw new Error("expected run to fail, but it succeeded")
  return Option.getOrThrow(Cause.failureOption(exit.cause))
}

/** An untyped startResponse, to hand it what the types would refuse. */
const loose = (startResponse: StartResponse) => startResponse as (status: unknown, headers: unknown, excInfo?: unknown) => unknown

interface BadStart {
  readonly what: string
  readonly status: unknown
  readonly headers: unknown
  readonly message: string
}

const ok: HeaderList = [["Content-Type", "text/plain"]]

const badStarts: ReadonlyArray<BadStart> = [
  { what: "a status that is a number", status: 200, headers: ok, message: "Status must be of type string (not number)" },
  { what: "a status that is null", status: null, headers: ok, message: "Status must be of type string (not null)" },
  { what: "a status shorter than 4 characters", status: "200", headers: ok, message: "Status must be at least 4 characters" },
  { what: "a status without 3 digits", status: "2OO OK", headers: ok, message: "Status message must begin w/3-digit code" },
  { what: "a status without a space after the code", status: "200-OK", headers: ok, message: "Status message must have a space after code" },
  ...[
    ["CR LF", "200 OK\r\nSet-Cookie: evil=1"],
    ["LF", "200 OK\nX: y"],
    ["CR", "200 OK\r"],
    ["NUL", "200 O\0K"],
    ["DEL", "200 OK\x7f"],
    ["a non-latin-1 character", "200 \u20ac"]
  ].map(([name, status]) => ({
    what: `${name} in the status`,
    status,
    headers: ok,
    message: `Status contains a control or non-latin-1 character: ${JSON.stringify(status)}`
  })),
  {
    what: "headers that are not an array",
    status: "200 OK",
    headers: { "Content-Type": "text/plain" },
    message: "Headers must be a list of [name, value] pairs (not object)"
  },
  {
    what: "headers that are one string",
    status: "200 OK",
    headers: "Content-Type: text/plain",
    message: "Headers must be a list of [name, value] pairs (not string)"
  },
  {
    what: "a header pair with one element",
    status: "200 OK",
    headers: [["Content-Type"]],
    message: "Headers must be a list of [name, value] pairs (item 0 is array)"
  },
  {
    what: "a header pair with three elements",
    status: "200 OK",
    headers: [["Content-Type", "text/plain"], ["A", "b", "c"]],
    message: "Headers must be a list of [name, value] pairs (item 1 is array)"
  },
  {
    what: "a header that is a string, not a pair",
    status: "200 OK",
    headers: ["Content-Type: text/plain"],
    message: "Headers must be a list of [name, value] pairs (item 0 is string)"
  },
  {
    what: "a header name that is not a string",
    status: "200 OK",
    headers: [[42, "x"]],
    message: "Header name must be of type string (not number)"
  },
  {
    what: "a header value that is not a string",
    status: "200 OK",
    headers: [["Content-Length", 5]],
    message: "Header value must be of type string (not number)"
  },
  ...[["Connection", "close"], ["transfer-encoding", "chunked"], ["Keep-Alive", "timeout=5"], ["Upgrade", "h2c"]].map((
    [name, value]
  ) => ({
    what: `the hop-by-hop header ${name}`,
    status: "200 OK",
    headers: [["Content-Type", "text/plain"], [name, value]],
    message: `Hop-by-hop header, '${name}: ${value}', not allowed`
  })),
  ...[["a space", "X Y"], ["a colon", "X:Y"], ["nothing", ""], ["CR LF", "X\r\nY"], ["a latin-1 letter", "X-\u00e9"]].map((
    [what, name]
  ) => ({
    what: `a header name of ${what}`,
    status: "200 OK",
    headers: [[name, "v"]],
    message: `Header name ${JSON.stringify(name)} is not an HTTP token`
  })),
  ...[
    ["CR LF", "text/plain\r\nSet-Cookie: evil=1"],
    ["LF", "text/plain\nX: y"],
    ["CR", "text/plain\r"],
    ["NUL", "text/plain\0"],
    ["DEL", "text/plain\x7f"],
    ["a non-latin-1 character", "text/\u20ac"]
  ].map(([what, value]) => ({
    what: `${what} in a header value`,
    status: "200 OK",
    headers: [["Content-Type", value]],
    message: `Header value of Content-Type contains a control or non-latin-1 character: ${JSON.stringify(value)}`
  }))
]

describe("startResponse refuses a bad status or bad headers", () => {
  it.effect.each(badStarts)("$what, called from the app: the error is thrown into the app, then the 500 page", (bad) =>
    Effect.gen(function*() {
      let thrown: unknown
      const outcome = yield* runRequest((_environ, startResponse) => {
        try {
          loose(startResponse)(bad.status, bad.headers)
        } catch (error) {
          thrown = error
          throw error
        }
        return [latin1("never sent")]
      })
      expect(thrown).toBeInstanceOf(ProtocolError)
      expectRefused(outcome, bad.message)
    }))

  it.effect.each(badStarts)("$what, called lazily from the body: the 500 page and the body closed once", (bad) =>
    Effect.gen(function*() {
      const { body, closes } = closeable({
        *[Symbol.iterator]() {
          loose(start!)(bad.status, bad.headers)
          yield latin1("never sent")
        }
      })
      let start: StartResponse | undefined
      const outcome = yield* runRequest((_environ, startResponse) => {
        start = startResponse
        return body
      })
      expectRefused(outcome, bad.message)
      expect(closes()).toBe(1)
    }))

  it.effect("a horizontal tab in a header value is allowed", () =>
    Effect.gen(function*() {
      const { output } = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", [["X-Tab", "a\tb"]])
        return []
      })
      expect(output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nX-Tab: a\tb\r\nContent-Length: 0\r\n\r\n`)
    }))

  it.effect("a second startResponse without excInfo is refused: Headers already set!", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable({
        *[Symbol.iterator]() {
          start!("200 OK", ok)
          yield latin1("never sent")
        }
      })
      let start: StartResponse | undefined
      const outcome = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", ok)
        start = startResponse
        return body
      })
      expectRefused(outcome, "Headers already set!")
      expect(closes()).toBe(1)
    }))

  it.effect("a second startResponse called from the app itself is refused the same way", () =>
    Effect.gen(function*() {
      const outcome = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", ok)
        startResponse("404 Not Found", ok)
        return []
      })
      expectRefused(outcome, "Headers already set!")
    }))

  it.effect("changing the header list after startResponse cannot inject anything: the core checked a copy", () =>
    Effect.gen(function*() {
      const headers: HeaderList = [["Content-Type", "text/plain"]]
      const outcome = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", headers)
        headers[0]![1] = "text/plain\r\nSet-Cookie: evil=1"
        headers.push(["Connection", "close"], ["X-Evil", "a\r\nb"])
        return [latin1("fine")]
      })
      expect(outcome.exit).toStrictEqual(Exit.void)
      expect(outcome.output).toBe(
        `HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nfine`
      )
      expect(outcome.log).toBe("")
    }))
})

describe("the body must be Uint8Array chunks sent after startResponse", () => {
  it.effect("a chunk before startResponse: write() before startResponse()", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable([latin1("too early")])
      const outcome = yield* runRequest(() => body)
      expectRefused(outcome, "write() before startResponse()")
      expect(closes()).toBe(1)
    }))

  it.effect("an empty body and no startResponse at all", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable([] as Array<Uint8Array>)
      const outcome = yield* runRequest(() => body)
      expectRefused(outcome, "The application returned without calling startResponse()")
      expect(closes()).toBe(1)
    }))

  const badChunks: ReadonlyArray<[string, unknown, string]> = [
    ["a string", "text", "string"],
    ["a number", 42, "number"],
    ["an array", [104, 105], "array"],
    ["null", null, "null"],
    ["a plain object", { length: 1 }, "object"]
  ]

  it.effect.each(badChunks)("a first chunk that is %s: the 500 page, the body closed once", ([_, chunk, type]) =>
    Effect.gen(function*() {
      let finallyRan = 0
      const { body, closes } = closeable({
        *[Symbol.iterator]() {
          try {
            yield chunk as Uint8Array
            yield latin1("never sent")
          } finally {
            finallyRan++
          }
        }
      })
      const outcome = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", ok)
        return body
      })
      expectRefused(outcome, `write() argument must be a Uint8Array, not ${type}`)
      expect(closes()).toBe(1)
      expect(finallyRan).toBe(1)
    }))

  it.effect("a bad chunk after output: the response is cut short, ResponseAborted, the body closed once", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable([latin1("good"), "bad" as unknown as Uint8Array, latin1("never")])
      const outcome = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", ok)
        return body
      })
      const failure = failureOf(outcome.exit)
      expect(failure).toBeInstanceOf(ResponseAborted)
      expect((failure as ResponseAborted).cause).toBeInstanceOf(ProtocolError)
      expect(outcome.output).toBe(`HTTP/1.0 200 OK\r\nDate: ${EPOCH_DATE}\r\nContent-Type: text/plain\r\n\r\ngood`)
      expect(firstLine(outcome.log)).toBe("ProtocolError: write() argument must be a Uint8Array, not string")
      expect(closes()).toBe(1)
    }))

  it.effect("write() given a string and awaited: the error is thrown into the app, then the 500 page", () =>
    Effect.gen(function*() {
      let thrown: unknown
      const outcome = yield* runRequest(async (_environ, startResponse) => {
        const write = startResponse("200 OK", ok)
        try {
          await write("text" as unknown as Uint8Array)
        } catch (error) {
          thrown = error
          throw error
        }
        return []
      })
      expect(thrown).toBeInstanceOf(ProtocolError)
      expectRefused(outcome, "write() argument must be a Uint8Array, not string")
    }))

  it.effect("write() given a string and not awaited: refused once the app returns, its body closed once", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable([latin1("never sent")])
      const outcome = yield* runRequest((_environ, startResponse) => {
        void startResponse("200 OK", ok)("text" as unknown as Uint8Array)
        return body
      })
      expectRefused(outcome, "write() argument must be a Uint8Array, not string")
      expect(closes()).toBe(1)
    }))

  const badResults: ReadonlyArray<[string, unknown, string]> = [
    ["a string", "Hello", "The application must return an iterable of Uint8Array chunks, not a string"],
    ["null", null, "The application must return an iterable of Uint8Array chunks, not null"],
    ["undefined", undefined, "The application must return an iterable of Uint8Array chunks, not undefined"],
    ["a number", 42, "The application must return an iterable of Uint8Array chunks, not number"],
    ["a Uint8Array (its chunks are numbers)", latin1("Hi"), "write() argument must be a Uint8Array, not number"]
  ]

  it.effect.each(badResults)("an app returning %s: the 500 page", ([_, result, message]) =>
    Effect.gen(function*() {
      const outcome = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", ok)
        return result as ResponseBody
      })
      expectRefused(outcome, message)
    }))

  it.effect("an app whose Promise resolves to a string: the 500 page", () =>
    Effect.gen(function*() {
      const app = (async (_environ: unknown, startResponse: StartResponse) => {
        startResponse("200 OK", ok)
        return "Hello"
      }) as unknown as Application
      const outcome = yield* runRequest(app)
      expectRefused(outcome, "The application must return an iterable of Uint8Array chunks, not a string")
    }))

  it.effect("an app returning a closeable object that is not iterable: the 500 page, closed once", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable({})
      const outcome = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", ok)
        return body as unknown as ResponseBody
      })
      expectRefused(outcome, "The application must return an iterable of Uint8Array chunks, not object")
      expect(closes()).toBe(1)
    }))

  it.effect("an iterable whose iterator cannot be made is an app error: the 500 page, closed once", () =>
    Effect.gen(function*() {
      const { body, closes } = closeable({
        [Symbol.iterator](): Iterator<Uint8Array> {
          throw new TypeError("no iterator today")
        }
      })
      const outcome = yield* runRequest((_environ, startResponse) => {
        startResponse("200 OK", ok)
        return body
      })
      expect(outcome.exit).toStrictEqual(Exit.void)
      expect(outcome.output).toBe(ORIGIN_ERROR_PAGE)
      expect(firstLine(outcome.log)).toBe("TypeError: no iterator today")
      expect(closes()).toBe(1)
    }))
})
