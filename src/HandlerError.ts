/**
 * The typed errors of the handler core.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The application broke PEP 3333 (a bad status, a non-bytes chunk, a second
 * `startResponse` without `excInfo`, …). Thrown into the application where PEP 3333 says
 * the gateway raises, so it is an `Error` too.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  readonly message: string
}> {}

/**
 * Writing the response (or the error log) failed for a reason other than the client
 * going away.
 *
 * @since 0.1.0
 * @category errors
 */
export class OutputError extends Data.TaggedError("OutputError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * The application failed after the headers were sent: the error was logged and the
 * response is cut short, so the connection must not be reused.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResponseAborted extends Data.TaggedError("ResponseAborted")<{
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * Code the handler calls out to (the application, `errorOutput`, an overridden step)
 * threw something while an earlier error was being handled, so no error page could be
 * sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApplicationError extends Data.TaggedError("ApplicationError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * Reading the request body failed (the client went away mid-body, a body over the
 * server's limit, a stream error): what `Input.read` fails with.
 *
 * @since 0.1.0
 * @category errors
 */
export class InputError extends Data.TaggedError("InputError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * The client went away (EPIPE, ECONNRESET, ECONNABORTED, a destroyed stream). Output
 * services fail with it; `run` recovers from it quietly and never surfaces it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientDisconnected extends Data.TaggedError("ClientDisconnected")<{
  readonly cause: unknown
}> {}

/**
 * Every way `run(app)` can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type HandlerError = ProtocolError | OutputError | ResponseAborted | ApplicationError

const clientGoneCodes = new Set([
  "EPIPE",
  "ECONNRESET",
  "ECONNABORTED",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
  "ERR_STREAM_PREMATURE_CLOSE"
])

/**
 * True when a thrown value means the peer went away rather than something broke.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isClientGone = (error: unknown): boolean => {
  if (error instanceof ClientDisconnected) return true
  if (typeof error !== "object" || error === null) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === "string" && clientGoneCodes.has(code)) return true
  // Python-style names, for shims that raise BrokenPipeError and friends by name.
  const name = (error as { name?: unknown }).name
  return name === "BrokenPipeError" || name === "ConnectionResetError" || name === "ConnectionAbortedError"
}
