/**
 * Calling out of the core: user code, or a service method, whose throw (or rejection)
 * becomes the typed failure it means.
 */
import * as Effect from "effect/Effect"
import type { StepEffect } from "../../Handler.js"
import { isPromiseLike } from "../bytes.js"
import { toOutputFailure } from "../sink.js"
import { userFailure } from "./failure.js"

/** Call user code: a throw or a rejection is a typed failure (`userFailure`). */
export const callUser = <A>(call: () => A | PromiseLike<A>): StepEffect<A> => attemptCall(call, userFailure)

/** Call code that may throw or return a Promise: either becomes the failure `classify` says. */
export const attemptCall = <A, E>(call: () => A | PromiseLike<A>, classify: (cause: unknown) => E): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    let value: A | PromiseLike<A>
    try {
      value = call()
    } catch (cause) {
      return Effect.fail(classify(cause))
    }
    return isPromiseLike(value) ? Effect.tryPromise({ try: () => value as PromiseLike<A>, catch: classify }) : Effect.succeed(value)
  })

/** Call a service method that returns an Effect; a throw at the call is an output failure. */
export const callOutput = (call: () => StepEffect): StepEffect => {
  try {
    return call()
  } catch (cause) {
    return Effect.fail(toOutputFailure(cause))
  }
}
