/**
 * How `validator` reports: a breach is a thrown `ValidationError`, a suspicious use a
 * `WSGIWarning`, and both are published on the `validatorChannel`; and the small checks
 * every part of it shares.
 */
import { channel } from "node:diagnostics_channel"
import { ProtocolError } from "../../HandlerError.js"
import { repr } from "./repr.js"

// ---------------------------------------------------------------------------------------
// Errors and warnings

/**
 * A PEP 3333 breach found by `validator`, by the application or by the gateway (CPython's
 * `AssertionError` from `wsgiref.validate`).
 *
 * It is a `ProtocolError` (`instanceof ProtocolError` holds) and keeps its `_tag`,
 * `"ProtocolError"`, on purpose: a breach the validator sees is the same kind of failure
 * as one the handler sees, so `Effect.catchTag("ProtocolError")` and code that switches
 * over `HandlerError` tags handle both. Its `name` is `"ValidationError"`, so logs and
 * stack traces say which checker spoke; tell the two apart with `instanceof`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ValidationError extends ProtocolError {}

// On the prototype, as Data.TaggedError puts its own name: an own field would take part
// in structural equality and show up in Object.keys.
Object.defineProperty(ValidationError.prototype, "name", {
  value: "ValidationError",
  writable: true,
  enumerable: false,
  configurable: true
})

/**
 * A use of the protocol that is legal but suspicious (CPython's `WSGIWarning`): an unknown
 * `REQUEST_METHOD`, a missing `QUERY_STRING`, a status without a reason phrase, a body
 * that was never closed. `validator` emits it with `process.emitWarning(warning)`, so its
 * warning name is `"WSGIWarning"`.
 *
 * @since 0.1.0
 * @category errors
 */
export class WSGIWarning extends Error {
  constructor(message: string) {
    super(message)
    this.name = "WSGIWarning"
  }
}

/**
 * The name of the `node:diagnostics_channel` channel on which `validator` publishes every
 * `ValidationError` it throws and every `WSGIWarning` it emits, at the moment it does.
 * Subscribe to collect breaches a gateway swallowed (it logs an app's error and sends a
 * 500 page) or to fail a test run on any of them.
 *
 * @since 0.1.0
 * @category constants
 */
export const validatorChannel = "effect-wsgi:validator"

const reports = channel(validatorChannel)

export const fail = (message: string): never => {
  const error = new ValidationError({ message })
  if (reports.hasSubscribers) reports.publish(error)
  throw error
}

export const assert = (condition: boolean, message: () => string): void => {
  if (!condition) fail(message())
}

export const warn = (message: string): void => {
  const warning = new WSGIWarning(message)
  if (reports.hasSubscribers) reports.publish(warning)
  process.emitWarning(warning)
}

// ---------------------------------------------------------------------------------------
// Shared checks

export const checkStringType = (value: unknown, title: string): string => {
  if (typeof value === "string") return value
  return fail(`${title} must be of type str (got ${repr(value)})`)
}

export const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === "object" || typeof value === "function") && value !== null &&
  typeof (value as { then?: unknown }).then === "function"

export const isError = (value: unknown): boolean =>
  value instanceof Error || Object.prototype.toString.call(value) === "[object Error]"

export const argumentCount = (method: string, given: number, expected: string): string =>
  `${method} takes ${expected} (${given} given)`
