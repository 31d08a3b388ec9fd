/**
 * Small helpers shared by the core and class-shim tests: latin-1 bytes, bodies that count
 * their `close()` calls, and one in-memory request run through `run(app)`.
 */
import { Effect, type Exit } from "effect"
import { run, withConfig } from "../../src/Handler.js"
import type { HandlerConfig } from "../../src/HandlerConfig.js"
import type { HandlerError } from "../../src/HandlerError.js"
import type { Application, ResponseBody } from "../../src/Protocol.js"
import * as Testing from "../../src/Testing.js"

/** Latin-1 bytes of `text` (one byte per character). */
export const latin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"))

/** Bytes as latin-1 text. */
export const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("latin1")

/** CPython's `error_body`. */
export const ERROR_BODY = "A server error occurred.  Please contact the administrator."

/** The Date header of an origin server when `TestClock` is at 0 (the epoch). */
export const EPOCH_DATE = "Thu, 01 Jan 1970 00:00:00 GMT"

/** The whole 500 page an origin server sends with `TestClock` at 0. */
export const ORIGIN_ERROR_PAGE =
  "HTTP/1.0 500 Internal Server Error\r\n" +
  `Date: ${EPOCH_DATE}\r\n` +
  "Content-Type: text/plain\r\n" +
  `Content-Length: ${ERROR_BODY.length}\r\n` +
  "\r\n" +
  ERROR_BODY

/** The whole 500 page of a CGI handler (`originServer` false). */
export const CGI_ERROR_PAGE =
  "Status: 500 Internal Server Error\r\n" +
  "Content-Type: text/plain\r\n" +
  `Content-Length: ${ERROR_BODY.length}\r\n` +
  "\r\n" +
  ERROR_BODY

/** A response body that counts how often its `close()` ran. */
export interface Closeable<T> {
  readonly body: T & { close(): void }
  readonly closes: () => number
}

/** Wrap any iterable so that its `close()` calls are counted (and `onClose` runs). */
export const closeable = <T extends object>(iterable: T, onClose: () => void = () => {}): Closeable<T> => {
  let count = 0
  const body = Object.assign(iterable, {
    close() {
      count++
      onClose()
    }
  })
  return { body, closes: () => count }
}

/** What one in-memory request produced. */
export interface Outcome {
  readonly exit: Exit.Exit<void, HandlerError>
  /** The response, latin-1 decoded. */
  readonly output: string
  /** Everything written to wsgi.errors. */
  readonly log: string
  readonly request: Testing.TestRequest
}

/** The first line of a log (the error's `name: message` line). */
export const firstLine = (log: string): string => log.split("\n")[0]!

/**
 * Run `app` once on a fresh `Testing.request`, with `config` when given (the clock is the
 * caller's: use TestClock).
 */
export const runRequest = (
  app: Application,
  options: Parameters<typeof Testing.request>[0] = {},
  config?: HandlerConfig
): Effect.Effect<Outcome> => {
  // A real gateway always sets QUERY_STRING (the validator warns without it).
  const request = Testing.request({ ...options, environ: { QUERY_STRING: "", ...options.environ } })
  const program = config === undefined ? run(app) : withConfig(run(app), config)
  return Effect.map(Effect.exit(Effect.provide(program, request.layer)), (exit) => ({
    exit,
    output: request.output.text(),
    log: request.errors.text(),
    request
  }))
}

/** An app that answers `status`, `headers` and `body`. */
export const fixed = (
  status: string,
  headers: Array<[string, string]>,
  body: ResponseBody
): Application =>
(_environ, startResponse) => {
  startResponse(status, headers)
  return body
}
