/**
 * Steps: how the handler runs a request without starting an Effect fiber for it.
 *
 * A step is an `Exit` when it finished at once, or a Promise of its `Exit` when it has to
 * wait (an async app, a slow socket). The handler chains steps with plain calls while they
 * finish at once, and with `then` only where something really waits. Starting a fiber
 * costs ≈ 3 µs on Node 20, more than a whole synchronous request, so Effects meet the
 * handler only at its edges: a service's effect is run only when it is neither an `Exit`
 * already nor a `Waiting` (a wait already under way, awaited as a Promise), see
 * `fromEffect`; and `run` turns the outcome into an Effect (`outcomeEffect`, handler.ts).
 *
 * Two rules keep the combinators small: a step's Promise never rejects, and a failed
 * step's cause is always a plain `Fail` (defects and interruptions are turned into
 * `Failure`s where Effects come in).
 */
import { Cause, Effect, Effectable, Exit, FiberId, Runtime } from "effect"
import {
  ApplicationError,
  ClientDisconnected,
  type HandlerError,
  OutputError,
  ProtocolError,
  ResponseAborted
} from "../HandlerError.js"
import { isPromiseLike } from "./bytes.js"

/**
 * Something user code threw that is not one of our tagged errors: kept raw so the log
 * shows the application's own error and stack.
 */
export class Thrown {
  readonly _tag = "Thrown"
  constructor(readonly cause: unknown) {}
}

/** The request was interrupted (a server timeout, an interrupted `run`): stop quietly. */
export class Interrupted {
  readonly _tag = "Interrupted"
}

/** The one `Interrupted` value. */
export const interrupted = new Interrupted()

/** Every way a step can fail. */
export type Failure = HandlerError | ClientDisconnected | Thrown | Interrupted

/** A step: done (an `Exit`), or under way (a Promise of its `Exit`, which never rejects). */
export type Step<A = void, E = Failure> = Exit.Exit<A, E> | Promise<Exit.Exit<A, E>>

/** The failure of a failed step (its cause is always a `Fail`, see the module comment). */
export const failureOf = <E>(exit: Exit.Failure<unknown, E>): E => (exit.cause as Cause.Fail<E>).error

/** A failed step. */
export const fail = <E>(failure: E): Exit.Exit<never, E> => Exit.fail(failure)

/** True when `step` is done and succeeded: its value can be used at once. */
export const succeeded = <A, E>(step: Step<A, E>): step is Exit.Success<A, E> =>
  !(step instanceof Promise) && step._tag === "Success"

/** Continue with `next` once `step` has succeeded; a failure skips it. */
export const andThen = <A, B, E1, E2>(step: Step<A, E1>, next: (a: A) => Step<B, E2>): Step<B, E1 | E2> => {
  if (step instanceof Promise) return step.then((exit) => andThen(exit, next))
  return step._tag === "Success" ? next(step.value) : (step as Exit.Exit<never, E1>)
}

/** Continue with `onSuccess` or `onFailure` once `step` is done. */
export const matchStep = <A, B, C, E1, E2, E3>(
  step: Step<A, E1>,
  onFailure: (failure: E1) => Step<B, E2>,
  onSuccess: (a: A) => Step<C, E3>
): Step<B | C, E2 | E3> => {
  if (step instanceof Promise) return step.then((exit) => matchStep(exit, onFailure, onSuccess))
  return step._tag === "Success" ? onSuccess(step.value) : onFailure(failureOf(step))
}

/** Classify what user code threw: our tagged errors stay, anything else is kept raw. */
export const toFailure = (cause: unknown): Failure =>
  cause instanceof ProtocolError ||
    cause instanceof OutputError ||
    cause instanceof ResponseAborted ||
    cause instanceof ApplicationError ||
    cause instanceof ClientDisconnected ||
    cause instanceof Thrown ||
    cause instanceof Interrupted
    ? cause
    : new Thrown(cause)

/** The value that was thrown, for logs and for rethrowing into user code. */
export const unwrap = (failure: Failure): unknown => (failure instanceof Thrown ? failure.cause : failure)

/** Call user code, turning a throw into a failure. */
export const attempt = <A>(f: () => A, classify: (cause: unknown) => Failure = toFailure): Step<A> => {
  try {
    const value = f()
    // Most steps give nothing back: the shared `Exit.void` saves an allocation.
    return value === undefined ? (Exit.void as Exit.Exit<A, never>) : Exit.succeed(value)
  } catch (cause) {
    return fail(classify(cause))
  }
}

/** A value of user code that may be a Promise, as a step. */
export const settle = <A>(value: A | PromiseLike<A>, classify: (cause: unknown) => Failure = toFailure): Step<A> =>
  isPromiseLike(value)
    ? Promise.resolve(value).then(Exit.succeed<A>, (cause: unknown) => fail(classify(cause)))
    : Exit.succeed(value)

/** An Effect's exit as a step's: defects become `Thrown`, interruptions `Interrupted`. */
const normalize = <A, E extends Failure>(exit: Exit.Exit<A, E>): Exit.Exit<A, Failure> => {
  if (exit._tag === "Success" || exit.cause._tag === "Fail") return exit
  return fail(Cause.isInterruptedOnly(exit.cause) ? interrupted : new Thrown(Cause.squash(exit.cause)))
}

/**
 * An Effect for a wait that has already begun (a socket's "drain"), holding the Promise of
 * its Exit. The handler waits on that Promise itself instead of starting a fiber for it
 * (a long body to a slow client waits thousands of times); anything else runs it as an
 * Effect, and interrupting that stops the wait.
 */
export class Waiting<A, E> extends Effectable.Class<A, E> {
  /** Settles with the outcome of the wait (an interruption once `stop` is called); never rejects. */
  readonly promise: Promise<Exit.Exit<A, E>>
  #resume: (exit: Exit.Exit<A, E>) => void = () => {}
  readonly #cancel: () => void

  /** `start` begins the wait, calls `resume` when it ends, and returns how to cancel it. */
  constructor(start: (resume: (exit: Exit.Exit<A, E>) => void) => () => void) {
    super()
    this.promise = new Promise((resolve) => {
      this.#resume = resolve
    })
    this.#cancel = start((exit) => this.#resume(exit))
  }

  /** Give up the wait: it ends as interrupted. */
  stop(): void {
    this.#cancel()
    this.#resume(Exit.interrupt(FiberId.none))
  }

  commit(): Effect.Effect<A, E> {
    return Effect.async<A, E>((resume) => {
      this.promise.then(resume)
      return Effect.sync(() => this.stop())
    })
  }
}

/** Where a service's effect that has to wait runs, and how to stop the one under way. */
export interface EffectRunner {
  readonly runtime: Runtime.Runtime<never>
  /** Stops the service effect under way, so an interruption can end the request. */
  waiting: (() => void) | null
}

/**
 * A service's effect as a step: at once when it is already an `Exit` (the common case:
 * `Effect.void` from a sink that took the bytes), else on a fiber of `runner.runtime`
 * (the default runtime without a runner).
 */
export const fromEffect = <A, E extends Failure>(effect: Effect.Effect<A, E>, runner?: EffectRunner): Step<A> => {
  // Exits carry their `_tag`; other effects have none.
  const tag = (effect as { readonly _tag?: unknown })._tag
  if (tag === "Success" || tag === "Failure") return normalize(effect as Exit.Exit<A, E>)
  if (effect instanceof Waiting) {
    const waiting = effect as Waiting<A, E>
    const stop = (): void => waiting.stop()
    if (runner !== undefined) runner.waiting = stop
    return waiting.promise.then((exit) => {
      if (runner !== undefined && runner.waiting === stop) runner.waiting = null
      return normalize(exit)
    })
  }
  const fiber = Runtime.runFork(runner?.runtime ?? Runtime.defaultRuntime)(effect)
  const stop = (): void => fiber.unsafeInterruptAsFork(FiberId.none)
  if (runner !== undefined) runner.waiting = stop
  return new Promise((resolve) => {
    fiber.addObserver((exit) => {
      if (runner !== undefined && runner.waiting === stop) runner.waiting = null
      resolve(normalize(exit))
    })
  })
}

/** A step as an Effect (for `Transmission.sendHeaders` and the like). */
export const toEffect = <A, E>(step: Step<A, E>): Effect.Effect<A, E> =>
  step instanceof Promise ? Effect.flatten(Effect.promise(() => step)) : step
