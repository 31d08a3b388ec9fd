/**
 * What user code and services throw, as the typed failures of the handler's steps.
 */
import {
  ApplicationError,
  ClientDisconnected,
  type HandlerError,
  isClientGone,
  OutputError,
  ProtocolError
} from "../../HandlerError.js"
import type { StepError } from "../../Handler.js"

/** A value is one of the handler's own typed failures. */
export const isStepError = (value: unknown): value is StepError =>
  value instanceof ProtocolError || value instanceof OutputError || value instanceof ApplicationError ||
  value instanceof ClientDisconnected

export const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * What the application (or its body, or an overridden step) threw: our own failures stay
 * what they are; anything else, whatever it is (`undefined` included), is kept as the
 * `cause` of an `ApplicationError`.
 */
export const userFailure = (cause: unknown): StepError =>
  isStepError(cause) ? cause : new ApplicationError({ message: `the application raised ${describe(cause)}`, cause })

/** `userFailure`, but EPIPE and friends thrown by gateway-side code mean the client left. */
export const gatewayFailure = (cause: unknown): StepError =>
  !isStepError(cause) && isClientGone(cause) ? new ClientDisconnected({ cause }) : userFailure(cause)

/** A defect (a step or service that threw inside its Effect) as a typed failure. */
export const defectFailure = (defect: unknown): StepError =>
  isStepError(defect)
    ? defect
    : isClientGone(defect)
    ? new ClientDisconnected({ cause: defect })
    : new ApplicationError({ message: `a handler step or service failed: ${describe(defect)}`, cause: defect })

/**
 * The error as steps and user code see it (`handleError(error)`, `excInfo`): what was
 * thrown, unless it reads as "no error" (`undefined`, `null`, `false`, as an absent
 * `excInfo`), when its `ApplicationError` stands for it.
 */
export const errorOf = (failure: StepError): unknown =>
  failure instanceof ApplicationError && failure.cause !== undefined && failure.cause !== null &&
    failure.cause !== false
    ? failure.cause
    : failure

/** A failure of the error handling itself, as the typed error `run` fails with. */
export const toHandlerError = (failure: StepError): HandlerError => {
  if (failure instanceof ClientDisconnected) return new OutputError({ message: "the client went away", cause: failure })
  if (failure instanceof ApplicationError) {
    return new ApplicationError({ message: `error while handling an error: ${describe(failure.cause)}`, cause: failure.cause })
  }
  return failure
}
