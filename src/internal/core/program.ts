/**
 * The program: CPython's `BaseHandler.run` as one Effect.
 *
 * ```
 * respond  = setupEnviron → call the app → finishResponse       (steps of the record)
 * failures = tagged by phase: FailedBeforeHeaders | FailedAfterHeaders | ClientDisconnected
 * recovery = catchTags: before → handleError (log, error page); after → handleError (log),
 *            fail ResponseAborted; client gone → close quietly
 * always   = the app's result closed once; on interruption its iterator stopped too
 * ```
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import { systemClock } from "../httpDate.js"
import type { Handling, HandlerState, RequestServices, StepEffect, StepError, Steps } from "../../Handler.js"
import type { HandlerConfig } from "../../HandlerConfig.js"
import { type ClientDisconnected, type HandlerError, OutputError, ProtocolError, ResponseAborted } from "../../HandlerError.js"
import { decline } from "../../FileTransmitter.js"
import type { Headers } from "../../Headers.js"
import type { Application, Environ, HeaderList, ResponseBody, StartResponse, Write } from "../../Protocol.js"
import type { EnvironSourceShape } from "../../EnvironSource.js"
import type { ErrorLogShape } from "../../ErrorLog.js"
import { fromBytes, type InputShape } from "../../Input.js"
import type { OutputShape } from "../../Output.js"
import { isPromiseLike } from "../bytes.js"
import { typeName } from "../typeName.js"
import { defectFailure, describe, errorOf, toHandlerError, userFailure } from "./failure.js"
import { anchorFiberRoots, requestFlags, requestRuntime } from "./requestRuntime.js"
import { closeBody, closeThenFail, defaultSteps, finishResponseLast, makeEnviron, resetIsLeftToTheEnd, resetState } from "./steps.js"

/** The response failed while its headers had not gone out: an error page can replace it. */
class FailedBeforeHeaders extends Data.TaggedError("FailedBeforeHeaders")<{ readonly cause: StepError }> {}

/** The response failed after its headers went out: it can only be cut short. */
class FailedAfterHeaders extends Data.TaggedError("FailedAfterHeaders")<{ readonly cause: StepError }> {}

/** What the clock of a fiber's default services is. */
const clockOf = (fiber: Fiber.RuntimeFiber<unknown, unknown> | null): Clock.Clock =>
  fiber === null ? systemClock : Context.get(fiber.currentDefaultServices, Clock.Clock)

/** A fresh state block. */
class FreshState implements HandlerState {
  status: string | null = null
  headers: Headers | null = null
  headersSent = false
  bytesSent = 0
  result: ResponseBody | null = null
  environ: Environ | null = null
}

/**
 * One request being handled. Once it is over it lets go of everything it reached (see
 * `release`): V8 may have pretenured objects that point to it, and those would keep a
 * whole request graph alive through young-generation collections.
 */
export class LiveHandling implements Handling {
  #services: Required<RequestServices>
  readonly state: HandlerState
  readonly clock: Clock.Clock
  readonly startResponse: StartResponse
  readonly write: Write
  appResult: ResponseBody | null = null
  pendingResult: PromiseLike<ResponseBody> | null = null
  closed: Array<ResponseBody> | null = null
  iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> | null = null
  pendingWrites: Promise<void> | undefined = undefined
  writing: Fiber.RuntimeFiber<void, StepError> | null = null
  writeFailure: StepError | undefined = undefined
  finished = false
  headPending = false
  suppressBody = false

  constructor(
    public fiber: Fiber.RuntimeFiber<unknown, unknown> | null,
    readonly config: HandlerConfig,
    readonly steps: Steps,
    services: RequestServices,
    state: HandlerState | undefined
  ) {
    this.#services = new ResolvedServices(services)
    this.state = state ?? new FreshState()
    this.clock = clockOf(fiber)
    this.startResponse = (status, headers, excInfo) => startResponse(this, status, headers, excInfo)
    this.write = (data) => writeFromApp(this, data)
  }

  get services(): Required<RequestServices> {
    return this.#services
  }

  /**
   * The request is over: let go of its fiber, services and result. V8 allocates some
   * objects of a busy request path straight into the old generation (allocation-site
   * pretenuring); such an object, dead, still keeps what it points to alive through every
   * young-generation collection until the next full one. Through this block that would be
   * the whole request (measured in process: 1.5–2.5× the time per hello request).
   */
  release(): void {
    // Something still to settle (a Promise result, a write() under way) keeps it.
    if (this.pendingResult !== null || this.pendingWrites !== undefined || this.writing !== null) return
    this.fiber = null
    this.appResult = null
    this.iterator = null
    this.closed = null
    this.#services = new ResolvedServices(releasedServices, this.#services.errorLog)
  }
}

/** The five services, the file transmitter declining when left out. */
class ResolvedServices implements Required<RequestServices> {
  readonly output: RequestServices["output"]
  readonly input: RequestServices["input"]
  readonly errorLog: RequestServices["errorLog"]
  readonly environSource: RequestServices["environSource"]
  readonly fileTransmitter: NonNullable<RequestServices["fileTransmitter"]>
  constructor(services: Omit<RequestServices, "errorLog">, errorLog?: ErrorLogShape) {
    this.output = services.output
    this.input = services.input
    this.errorLog = errorLog ?? (services as RequestServices).errorLog
    this.environSource = services.environSource
    this.fileTransmitter = services.fileTransmitter ?? decline
  }
}

/** What a finished request's services are (its error log is kept): nothing more goes out. */
const releasedServices: Omit<RequestServices, "errorLog"> = {
  output: {
    write: () => Effect.fail(new OutputError({ message: "the request has ended: its output is released", cause: null })),
    flush: () => Effect.void
  } satisfies OutputShape,
  input: fromBytes() satisfies InputShape,
  environSource: { variables: Effect.sync(() => ({})) } satisfies EnvironSourceShape
}

/** Make the `Handling` of one request handled on `fiber` (null: not in a fiber yet). */
export const makeHandling = (
  fiber: Fiber.RuntimeFiber<unknown, unknown> | null,
  options: {
    readonly config: HandlerConfig
    readonly steps: Steps
    readonly services: RequestServices
    /** Where the state lives (the class shim passes itself); a fresh block otherwise. */
    readonly state?: HandlerState
  }
): LiveHandling => {
  anchorFiberRoots()
  return new LiveHandling(fiber, options.config, options.steps, options.services, options.state)
}

/** The runtime of the fiber handling the request: where the app's `write()` calls run. */
export const runtimeOf = (h: Handling): Runtime.Runtime<never> => {
  const fiber = h.fiber
  if (fiber === null) return requestRuntime
  return Runtime.make({ context: fiber.currentContext, fiberRefs: fiber.getFiberRefs(), runtimeFlags: requestFlags })
}

/**
 * Handle one request with `app` (its Handling made for the fiber that runs this).
 *
 * The response runs interruptibly inside an uninterruptible frame, so the one match at the
 * top sees every way it can end: success; an interruption (the body is stopped and the
 * app's result closed, once); or a failure, tagged by whether the headers had gone out
 * and recovered with `catchTags`.
 */
export const handle = (h: LiveHandling, app: Application): Effect.Effect<void, HandlerError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.matchCauseEffect(restore(respond(h, app)), {
      onSuccess: () => {
        h.finished = true
        if (resetIsLeftToTheEnd(h)) resetState(h)
        h.release()
        return Effect.void
      },
      onFailure: (cause) => {
        h.finished = true
        if (Cause.isInterrupted(cause)) {
          return Effect.zipRight(abandon(h), Effect.failCause(cause as Cause.Cause<never>)).pipe(Effect.ensuring(releasing(h)))
        }
        return restore(
          Effect.catchTags(Effect.fail(phased(h, failureOfCause(cause))), {
            ClientDisconnected: () => quietClose(h),
            FailedBeforeHeaders: ({ cause }) => recover(h, cause, false),
            FailedAfterHeaders: ({ cause }) => recover(h, cause, true)
          })
        ).pipe(Effect.ensuring(releasing(h)))
      }
    })
  )

/** Release the request once its failure is dealt with. */
const releasing = (h: LiveHandling): Effect.Effect<void> => Effect.sync(() => h.release())

/** A failure, tagged by whether the headers had gone out (a client that left stays itself). */
const phased = (h: Handling, failure: StepError): ClientDisconnected | FailedBeforeHeaders | FailedAfterHeaders =>
  failure._tag === "ClientDisconnected"
    ? failure
    : h.state.headersSent
    ? new FailedAfterHeaders({ cause: failure })
    : new FailedBeforeHeaders({ cause: failure })

/** The typed failure of a cause (its first failure, else its defect as a typed failure). */
const failureOfCause = (cause: Cause.Cause<StepError>): StepError => {
  const failure = Cause.failureOption(cause)
  return failure._tag === "Some" ? failure.value : defectFailure(Cause.squash(cause))
}

/** Set up, call the app, send its response. */
const respond = (h: Handling, app: Application): StepEffect =>
  h.steps.setupEnviron === defaultSteps.setupEnviron
    // The default step's work in the continuation that calls the app: one step less.
    ? Effect.flatMap(h.services.environSource.variables, (variables) => {
      makeEnviron(h, variables)
      return callApp(h, app)
    })
    : Effect.flatMap(h.steps.setupEnviron(h), () => callApp(h, app))

/** Call the app; take its result (now, or when its Promise settles). */
const callApp = (h: Handling, app: Application): StepEffect => {
  let value: ResponseBody | PromiseLike<ResponseBody>
  try {
    value = app(h.state.environ!, h.startResponse)
  } catch (cause) {
    return Effect.fail(userFailure(cause))
  }
  if (!isPromiseLike(value)) return takeResult(h, value)
  const pending = value
  h.pendingResult = pending
  return Effect.flatMap(Effect.tryPromise({ try: () => pending, catch: userFailure }), (result) => {
    h.pendingResult = null
    return takeResult(h, result)
  })
}

/**
 * The result is ours now: once the app's `write()` calls went out, check it and send it;
 * if anything fails before its body is sent, it is closed.
 */
const takeResult = (h: Handling, result: ResponseBody): StepEffect => {
  h.state.result = result
  h.appResult = result
  if (h.pendingWrites !== undefined || h.writeFailure !== undefined) {
    return Effect.matchEffect(waitForWrites(h), {
      onFailure: (failure) => closeThenFail(h, failure),
      onSuccess: () => checkResult(h, result)
    })
  }
  return checkResult(h, result)
}

const checkResult = (h: Handling, result: unknown): StepEffect => {
  if (typeof result === "string") {
    return closeThenFail(h, new ProtocolError({ message: "The application must return an iterable of Uint8Array chunks, not a string" }))
  }
  if (
    typeof result !== "object" || result === null ||
    (typeof (result as Iterable<unknown>)[Symbol.iterator] !== "function" &&
      typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] !== "function")
  ) {
    return closeThenFail(
      h,
      new ProtocolError({ message: `The application must return an iterable of Uint8Array chunks, not ${typeName(result)}` })
    )
  }
  return h.steps.finishResponse === defaultSteps.finishResponse ? finishResponseLast(h) : h.steps.finishResponse(h)
}

/** Wait until every `write()` the app made has gone out; the first failure among them fails. */
const waitForWrites = (h: Handling): StepEffect =>
  Effect.suspend(() => {
    const pending = h.pendingWrites
    if (pending === undefined) return h.writeFailure === undefined ? Effect.void : Effect.fail(h.writeFailure)
    // Checked again once they are out: more may have been queued meanwhile.
    return Effect.flatMap(Effect.promise(() => pending), () => waitForWrites(h))
  })

/** CPython's `run` except clause: `handleError`; if that fails too, close and fail. */
const recover = (h: Handling, failure: StepError, afterHeaders: boolean): Effect.Effect<void, HandlerError> => {
  const error = errorOf(failure)
  return Effect.matchEffect(
    Effect.catchAllDefect(h.steps.handleError(h, error), (defect) => Effect.fail(defectFailure(defect))),
    {
      onFailure: (second) =>
        second._tag === "ClientDisconnected"
          ? quietClose(h)
          : Effect.zipRight(Effect.ignore(Effect.suspend(() => h.steps.close(h))), Effect.fail(toHandlerError(second))),
      onSuccess: () =>
        afterHeaders
          ? Effect.fail(new ResponseAborted({ message: `response aborted after its headers were sent: ${describe(error)}`, cause: error }))
          : Effect.void
    }
  )
}

/** The client went away: close the result, and log only if closing it failed. */
const quietClose = (h: Handling): Effect.Effect<void> => Effect.suspend(() => closeQuietly(h, h.state.result))

/** Close a body (once); a failure is logged. */
const closeQuietly = (h: Handling, body: ResponseBody | null): Effect.Effect<void> =>
  Effect.suspend(() => {
    const closing = closeBody(h, body)
    return closing === null
      ? Effect.void
      : Effect.catchAll(closing, (failure) => Effect.ignore(Effect.suspend(() => h.steps.logException(h, errorOf(failure)))))
  })

/**
 * An interrupted request: its body iterator and its `write()` under way are stopped, and
 * the app's result is closed (once), now or when the app gives it.
 */
const abandon = (h: Handling): Effect.Effect<void> => {
  h.writing?.unsafeInterruptAsFork(FiberId.none)
  const iterator = h.iterator
  if (iterator !== null) {
    h.iterator = null
    stopNow(iterator)
  }
  const pending = h.pendingResult
  h.pendingResult = null
  if (pending !== null) {
    Promise.resolve(pending).then(
      (result) => Runtime.runFork(runtimeOf(h))(closeQuietly(h, result)),
      () => undefined
    )
  }
  return closeQuietly(h, h.appResult)
}

/** Stop an iterator without waiting: an async one may be stuck in `next()`. */
const stopNow = (iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array>): void => {
  try {
    const returned = iterator.return?.()
    if (isPromiseLike(returned)) Promise.resolve(returned).catch(() => undefined)
  } catch {
    // Its own clean-up failed; the response is abandoned anyway.
  }
}

// ---------------------------------------------------------------------------------------
// What the application calls

/** `startResponse` as the app calls it: the step, then the `write()` callable. */
const startResponse = (h: Handling, status: string, headers: HeaderList, excInfo?: unknown) => {
  h.steps.startResponse(h, status, headers, excInfo)
  return h.write
}

/**
 * PEP 3333 `write()`: the `write` step run on the request's runtime, in call order,
 * awaited or not; a failure is also kept for the handler, which fails with it once the
 * app returns.
 */
const writeFromApp = (h: Handling, data: Uint8Array): Promise<void> => {
  if (h.finished) return rejected(new ProtocolError({ message: "write() called after the response was finished" }))
  const pending = h.pendingWrites
  // Queued behind the writes still going out.
  if (pending !== undefined) return track(h, pending.then(() => writeNow(h, data)))
  return writeNow(h, data, true)
}

const writeNow = (h: Handling, data: Uint8Array, trackIt = false): Promise<void> => {
  if (h.writeFailure !== undefined) return rejected(errorOf(h.writeFailure))
  const fiber = Runtime.runFork(runtimeOf(h))(h.steps.write(h, data))
  const exit = fiber.unsafePoll()
  if (exit !== null) return settleWrite(h, exit)
  h.writing = fiber
  const written = new Promise<Exit.Exit<void, StepError>>((resolve) => fiber.addObserver(resolve)).then((exit) => {
    if (h.writing === fiber) h.writing = null
    return settleWrite(h, exit)
  })
  return trackIt ? track(h, written) : written
}

const track = (h: Handling, promise: Promise<void>): Promise<void> => {
  const settled: Promise<void> = promise.then(
    () => undefined,
    () => undefined
  ).then(() => {
    if (h.pendingWrites === settled) h.pendingWrites = undefined
  })
  h.pendingWrites = settled
  return handled(promise)
}

const settleWrite = (h: Handling, exit: Exit.Exit<void, StepError>): Promise<void> => {
  if (exit._tag === "Success") return Promise.resolve()
  const failure = Exit.isInterrupted(exit)
    ? defectFailure(new Error("write() was interrupted"))
    : exit.cause._tag === "Fail"
    ? exit.cause.error
    : defectFailure(Cause.squash(exit.cause))
  h.writeFailure ??= failure
  return rejected(errorOf(failure))
}

// An app that does not await write() must not cause an unhandled rejection: the handler
// sees the failure anyway through `writeFailure`.
const handled = (promise: Promise<void>): Promise<void> => {
  promise.catch(() => undefined)
  return promise
}

const rejected = (error: unknown): Promise<void> => handled(Promise.reject(error))

