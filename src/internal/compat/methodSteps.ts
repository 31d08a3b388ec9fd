/**
 * The class shim's step table: every core step a `BaseHandler` subclass (or instance)
 * overrides becomes a call of its method, and a method that runs a core step runs it on
 * the handler's runtime and gives back a value, a Promise or a throw, as user code expects.
 */
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import type { Handling, StepEffect, Steps } from "../../Handler.js"
import { ApplicationError, type HandlerError, OutputError, ResponseAborted } from "../../HandlerError.js"
import type { Environ } from "../../Protocol.js"
import type { BaseHandler } from "../../HandlerClasses.js"
import { attemptCall } from "../core/call.js"
import { errorOf, gatewayFailure } from "../core/failure.js"
import { defaultSteps } from "../core/steps.js"

/** A method's result (value or Promise) as a step: what it throws is a typed failure. */
const fromMethod = <A>(call: () => A | PromiseLike<A>): StepEffect<A> => attemptCall(call, gatewayFailure)

/**
 * Run a core step for a method of the OO API, on the handler's runtime: its value when it
 * finished at once, else a Promise of it; a failure is thrown (rejected) as the error user
 * code would see.
 */
export const runStep = <A>(runtime: Runtime.Runtime<never>, step: Effect.Effect<A, unknown>): A | Promise<A> =>
  runThen(runtime, step, exitValue)

/**
 * Run `effect` on `runtime` and hand its exit to `onExit`: at once when it never waited
 * (no Promise made), else when it ends (a Promise of what `onExit` gives or throws).
 */
export const runThen = <A, E, R>(
  runtime: Runtime.Runtime<never>,
  effect: Effect.Effect<A, E>,
  onExit: (exit: Exit.Exit<A, E>) => R
): R | Promise<R> => {
  const fiber = Runtime.runFork(runtime)(effect)
  const exit = fiber.unsafePoll()
  if (exit !== null) return onExit(exit)
  return new Promise<Exit.Exit<A, E>>((resolve) => fiber.addObserver(resolve)).then(onExit)
}

const exitValue = <A>(exit: Exit.Exit<A, unknown>): A => {
  if (exit._tag === "Success") return exit.value
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") throw Cause.squash(exit.cause)
  const error = failure.value
  throw error instanceof ApplicationError ? errorOf(error) : error
}

/** How `run` ends: handled errors return, as CPython's `run` does; others are thrown. */
export const endRun = (exit: Exit.Exit<void, HandlerError>): void => {
  if (exit._tag === "Success") return
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") throw Cause.squash(exit.cause)
  const error = failure.value
  if (error instanceof ResponseAborted) return
  // Python re-raises what handle_error raised; give back the raw error, not our wrapper.
  throw error instanceof ApplicationError || error instanceof OutputError ? error.cause : error
}

const overridable = [
  "setupEnviron",
  "getScheme",
  "startResponse",
  "write",
  "sendPreamble",
  "sendHeaders",
  "cleanupHeaders",
  "setContentLength",
  "finishResponse",
  "finishContent",
  "resultIsFile",
  "sendfile",
  "clientIsModern",
  "logException",
  "handleError",
  "close",
  "errorOutput"
] as const

type StepName = (typeof overridable)[number]

/** The handler whose steps run: the handling's state block is the handler itself. */
const handlerOf = (h: Handling): BaseHandler => h.state as BaseHandler

/** Every step as a call of the handler's method. */
const methodSteps: Steps = {
  setupEnviron: (h) => fromMethod(() => handlerOf(h).setupEnviron()),
  getScheme: (h) => handlerOf(h).getScheme(),
  startResponse: (h, status, headers, excInfo) => {
    handlerOf(h).startResponse(status, headers, excInfo)
  },
  write: (h, data) => fromMethod(() => handlerOf(h).write(data)),
  sendPreamble: (h) => fromMethod(() => handlerOf(h).sendPreamble()),
  sendHeaders: (h) => fromMethod(() => handlerOf(h).sendHeaders()),
  cleanupHeaders: (h) => handlerOf(h).cleanupHeaders(),
  setContentLength: (h) => handlerOf(h).setContentLength(),
  finishResponse: (h) => fromMethod(() => handlerOf(h).finishResponse()),
  finishContent: (h) => fromMethod(() => handlerOf(h).finishContent()),
  resultIsFile: (h) => handlerOf(h).resultIsFile(),
  sendfile: (h) => fromMethod(() => handlerOf(h).sendfile()),
  clientIsModern: (h) => handlerOf(h).clientIsModern(),
  logException: (h, error) => fromMethod(() => handlerOf(h).logException(error)),
  handleError: (h, error) => fromMethod(() => handlerOf(h).handleError(error)),
  close: (h) => fromMethod(() => handlerOf(h).close()),
  errorOutput: (h, error) => fromMethod(() => handlerOf(h).errorOutput(h.state.environ ?? ({} as Environ), h.startResponse, error))
}

/** `base` with the steps `overridden` says yes to replaced by method calls. */
const withOverrides = (base: Steps, overridden: (name: StepName) => boolean): Steps => {
  let steps: Steps | undefined
  for (const name of overridable) {
    if (!overridden(name)) continue
    steps ??= { ...base }
    ;(steps as unknown as Record<string, unknown>)[name] = methodSteps[name]
  }
  return steps ?? base
}

/** The step table of each handler class, computed once. */
const stepsOfClass = new WeakMap<object, Steps>()

/**
 * The core's steps, with the overrides of `handler`'s class (its methods that are not
 * `base`'s, that is `BaseHandler.prototype`'s) and of the instance itself in place.
 * `boundStartResponse` is the `startResponse` the constructor installed, not an override.
 */
export const handlerSteps = (
  handler: BaseHandler,
  base: BaseHandler,
  boundStartResponse: BaseHandler["startResponse"]
): Steps => {
  const prototype = Object.getPrototypeOf(handler) as BaseHandler
  let steps = stepsOfClass.get(prototype)
  if (steps === undefined) {
    steps = withOverrides(defaultSteps, (name) => prototype[name] !== base[name])
    stepsOfClass.set(prototype, steps)
  }
  // An instance may override a step too (a method assigned to it), as in Python.
  if (!mayOverride(handler, prototype, boundStartResponse)) return steps
  const ownOverride = (name: StepName): boolean =>
    Object.hasOwn(handler, name) && !(name === "startResponse" && handler.startResponse === boundStartResponse)
  return withOverrides(steps, ownOverride)
}

/**
 * True when some step of this instance is not its class's: written out name by name,
 * because named property loads are cheap and this runs on every request.
 */
const mayOverride = (
  handler: BaseHandler,
  prototype: BaseHandler,
  boundStartResponse: BaseHandler["startResponse"]
): boolean =>
  handler.setupEnviron !== prototype.setupEnviron || handler.getScheme !== prototype.getScheme ||
  handler.startResponse !== boundStartResponse || handler.write !== prototype.write ||
  handler.sendPreamble !== prototype.sendPreamble || handler.sendHeaders !== prototype.sendHeaders ||
  handler.cleanupHeaders !== prototype.cleanupHeaders || handler.setContentLength !== prototype.setContentLength ||
  handler.finishResponse !== prototype.finishResponse || handler.finishContent !== prototype.finishContent ||
  handler.resultIsFile !== prototype.resultIsFile || handler.sendfile !== prototype.sendfile ||
  handler.clientIsModern !== prototype.clientIsModern || handler.logException !== prototype.logException ||
  handler.handleError !== prototype.handleError || handler.close !== prototype.close ||
  handler.errorOutput !== prototype.errorOutput
