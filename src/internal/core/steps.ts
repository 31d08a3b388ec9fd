/**
 * CPython's `BaseHandler` methods as Effects: the default `Steps` record.
 *
 * Each step is lazy and small; user code it calls (the app's `close()`, a `Headers`
 * subclass) is wrapped so a throw becomes a typed failure, and a service's Effect is
 * created and run inside the step, so a service that throws when called fails the step.
 * The steps of the response head are in `head.ts`.
 */
import * as Effect from "effect/Effect"
import { FileWrapper, isFileWrapper } from "../../FileWrapper.js"
import type { Handling, StepEffect, Steps } from "../../Handler.js"
import { ProtocolError } from "../../HandlerError.js"
import type { CgiVariables, Environ, ResponseBody } from "../../Protocol.js"
import { guessScheme } from "../../Util.js"
import { copyEnviron } from "../environCopy.js"
import { typeName } from "../typeName.js"
import { writeResult } from "./body.js"
import { callOutput, callUser } from "./call.js"
import { errorOf, userFailure } from "./failure.js"
import {
  cleanupHeaders,
  clientIsModern,
  headSent,
  sendHeadOnce,
  sendHeaders,
  sendHeadersNow,
  sendPreamble,
  setContentLength,
  startResponse
} from "./head.js"
import { isBodylessStatus } from "./responseChecks.js"

// ---------------------------------------------------------------------------------------
// Closing the result

/** True once `body.close()` was called in this request. */
const wasClosed = (h: Handling, body: ResponseBody): boolean => h.closed !== null && h.closed.includes(body)

/**
 * The Effect that calls `body.close()`, unless this request called it already (then, or
 * when there is nothing to close, null). The body counts as closed at once: run the
 * Effect right away.
 */
export const closeBody = (h: Handling, body: ResponseBody | null): StepEffect | null => {
  // `== null`: an app that forgot to return gives undefined.
  if (body == null || typeof body.close !== "function" || wasClosed(h, body)) return null
  ;(h.closed ??= []).push(body)
  return callUser(() => body.close!()) as StepEffect
}

/** Close the current result (once). */
export const closeResult = (h: Handling): StepEffect => Effect.suspend(() => closeBody(h, h.state.result) ?? Effect.void)

/** Close the result, then fail with `failure` whatever closing it gave. */
export const closeThenFail = <E>(h: Handling, failure: E): Effect.Effect<never, E> =>
  Effect.zipRight(Effect.ignore(closeResult(h)), Effect.fail(failure))

// ---------------------------------------------------------------------------------------
// The environ

/** True when `environ` has no keys (then the request's variables can be the environ itself). */
const isEmpty = (environ: Readonly<CgiVariables>): boolean => {
  for (const _ in environ) return false
  return true
}

const setupEnviron = (h: Handling): StepEffect =>
  Effect.map(h.services.environSource.variables, (variables) => makeEnviron(h, variables))

/** The default `setupEnviron` step's work, given the request's variables. */
export const makeEnviron = (h: Handling, variables: CgiVariables): void => {
  const { config, services } = h
  const os = config.osEnviron
  // The variables are a fresh record (EnvironSource's contract): with nothing to lay
  // them over, they are the environ.
  const cgi: CgiVariables = isEmpty(os) ? variables : Object.assign(copyEnviron(os), variables)
  // The wsgi.* keys are added below, before the application sees it.
  const environ = h.state.environ = cgi as Environ
  environ["wsgi.input"] = services.input.stream
  environ["wsgi.errors"] = services.errorLog.stream
  environ["wsgi.version"] = config.wsgiVersion
  environ["wsgi.run_once"] = config.wsgiRunOnce
  environ["wsgi.url_scheme"] = h.steps.getScheme(h)
  environ["wsgi.multithread"] = config.wsgiMultithread
  environ["wsgi.multiprocess"] = config.wsgiMultiprocess
  if (config.wsgiFileWrapper !== null) environ["wsgi.file_wrapper"] = config.wsgiFileWrapper
  if (config.originServer && config.serverSoftware && environ["SERVER_SOFTWARE"] === undefined) {
    environ["SERVER_SOFTWARE"] = config.serverSoftware
  }
}

// ---------------------------------------------------------------------------------------
// The body

const write = (h: Handling, data: Uint8Array): StepEffect => Effect.suspend(() => writeNow(h, data))

/** The default `write` step's work, for a step already running (no frame of its own). */
const writeNow = (h: Handling, data: Uint8Array): StepEffect => {
  if (!(data instanceof Uint8Array)) {
    return Effect.fail(new ProtocolError({ message: `write() argument must be a Uint8Array, not ${typeName(data)}` }))
  }
  const state = h.state
  if (!state.status) return Effect.fail(new ProtocolError({ message: "write() before startResponse()" }))
  if (!state.headersSent) {
    // Counted before the head: a single chunk's length becomes its Content-Length.
    state.bytesSent = data.length
    return afterHeaders(h, () => writeData(h, data))
  }
  if (h.headPending) return afterHead(h, sendHeadOnce(h), () => writeData(h, data))
  state.bytesSent += data.length
  return writeData(h, data)
}

/** The chunk itself, once the head is out. */
const writeData = (h: Handling, data: Uint8Array): StepEffect => uncountedOnFailure(h, data, writeBody(h, data))

/** The `sendHeaders` step (its work in place when it is the default), then `then`. */
const afterHeaders = (h: Handling, then: () => StepEffect): StepEffect =>
  h.steps.sendHeaders === sendHeaders ? afterHead(h, sendHeadersNow(h), then) : Effect.flatMap(h.steps.sendHeaders(h), then)

/** `sending` the head, then, once it went out, `then`. */
const afterHead = (h: Handling, sending: StepEffect, then: () => StepEffect): StepEffect =>
  Effect.flatMap(sending, () => {
    headSent(h)
    return then()
  })

/** How a running default step writes a chunk: the `write` step, without its frame when it is the default. */
const chunkWriter = (h: Handling): (h: Handling, data: Uint8Array) => StepEffect =>
  h.steps.write === write ? writeNow : h.steps.write

/**
 * A body write that failed did not send its bytes: take them off `bytesSent`, so a write
 * run again counts them once. Only a `write` step of the user's own (one that wraps this
 * one, e.g. in `Effect.retry`) can run it again: with the default step, nothing is added.
 */
const uncountedOnFailure = (h: Handling, data: Uint8Array, written: StepEffect): StepEffect =>
  h.steps.write === write || written === Effect.void
    ? written
    : Effect.onError(written, () =>
      Effect.sync(() => {
        h.state.bytesSent -= data.length
      }))

const writeBody = (h: Handling, data: Uint8Array): StepEffect => {
  if (h.suppressBody || data.length === 0) return Effect.void
  const output = h.services.output
  const written = callOutput(() => output.write(data))
  const flushed = callOutput(() => output.flush())
  // A sink that flushes by itself answers the constant `Effect.void`: nothing to run after the write.
  return flushed === Effect.void ? written : Effect.zipRight(written, flushed)
}

const finishResponse = (h: Handling): StepEffect => Effect.suspend(() => finishResponseNow(h))

/** The default `finishResponse` step's work, for a step already running. */
export const finishResponseNow = (h: Handling): StepEffect =>
  Effect.matchCauseEffect(sendResult(h), {
    // Whatever went wrong (a defect too), the result is closed, then the failure stands.
    onFailure: (cause) => {
      const closing = closeBody(h, h.state.result)
      return closing === null ? Effect.failCause(cause) : Effect.zipRight(Effect.ignore(closing), Effect.failCause(cause))
    },
    // The whole response went out: a failing close() is logged and the response
    // stands. (CPython handles it as an app error, and, its state already reset,
    // appends a second, 500 response after the complete one.)
    onSuccess: () => {
      // The default step's work in place: nothing to close (a plain array) runs nothing.
      const closing = h.steps.close === close ? closeNow(h) : h.steps.close(h)
      return closing === Effect.void ? closing : Effect.catchIf(
        closing,
        (failure) => failure._tag !== "ClientDisconnected",
        (failure) => h.steps.logException(h, errorOf(failure))
      )
    }
  })

/**
 * True when the default `finishResponse` and `close` steps have nothing to do after the
 * body but reset the state (the result has no `close()`): the program, run with them,
 * then resets it as it ends (see `finishResponseLast`).
 */
export const resetIsLeftToTheEnd = (h: Handling): boolean => {
  const result = h.state.result
  return h.steps.finishResponse === finishResponse && h.steps.close === close &&
    !(result != null && typeof result.close === "function")
}

/**
 * The default `finishResponse` as the program's last step. When the reset is left to the
 * program's end (`resetIsLeftToTheEnd`), the body's Effects run without a frame of their
 * own (two runtime steps less per request). A failure is the same either way: there is
 * nothing to close.
 */
export const finishResponseLast = (h: Handling): StepEffect =>
  resetIsLeftToTheEnd(h) ? sendResult(h) : finishResponseNow(h)

/**
 * The result, as a file or as chunks. Its first steps start at once (this runs inside a
 * step): a throw there is a defect, as inside `Effect.suspend`, so the result is closed.
 */
const sendResult = (h: Handling): StepEffect => {
  try {
    return h.steps.resultIsFile(h) ? Effect.flatMap(h.steps.sendfile(h), (sent) => (sent ? Effect.void : sendBody(h))) : sendBody(h)
  } catch (defect) {
    return Effect.die(defect)
  }
}

/** The body, then `finishContent` (the headers, if no body byte sent them). */
const sendBody = (h: Handling): StepEffect => {
  const write = chunkWriter(h)
  const then = h.steps.finishContent === finishContent ? finishContentNow : h.steps.finishContent
  // A chunk the default write sent took the headers with it: the default finishContent then has nothing to do.
  return writeResult(h, write, then, write === writeNow && then === finishContentNow)
}

const finishContent = (h: Handling): StepEffect => Effect.suspend(() => finishContentNow(h))

/** The default `finishContent` step's work, for a step already running. */
const finishContentNow = (h: Handling): StepEffect => {
  const state = h.state
  if (state.headersSent) return Effect.void
  // CPython fails here too (on `None.setdefault`): an app that never started a response.
  if (state.status === null || state.headers === null) {
    return Effect.fail(new ProtocolError({ message: "The application returned without calling startResponse()" }))
  }
  if (!isBodylessStatus(state.status)) {
    try {
      state.headers.setDefault("Content-Length", "0")
    } catch (cause) {
      return Effect.fail(userFailure(cause))
    }
  }
  return afterHeaders(h, () => callOutput(() => h.services.output.flush()))
}

const resultIsFile = (h: Handling): boolean => {
  const wrapper = h.config.wsgiFileWrapper
  if (wrapper === null) return false
  const result = h.state.result
  // CPython's isinstance; the package's own FileWrapper also knows one from another copy of it.
  return result instanceof wrapper || (wrapper === FileWrapper && isFileWrapper(result))
}

const sendfile = (h: Handling): StepEffect<boolean> =>
  Effect.suspend(() =>
    h.services.fileTransmitter.transmit(h.state.result as FileWrapper, {
      sendHeaders: () => h.steps.sendHeaders(h),
      addBytesSent: (count) => {
        h.state.bytesSent += count
      }
    })
  )

// ---------------------------------------------------------------------------------------
// Errors and the end

const logException = (h: Handling, error: unknown): StepEffect =>
  Effect.suspend(() => h.services.errorLog.logException(error, h.config.tracebackLimit))

const handleError = (h: Handling, error: unknown): StepEffect =>
  Effect.flatMap(h.steps.logException(h, error), () => {
    if (h.state.headersSent) return Effect.void
    return Effect.flatMap(h.steps.errorOutput(h, error), (result) => {
      h.state.result = result
      return h.steps.finishResponse(h)
    })
  })

const errorOutput = (h: Handling, error: unknown): StepEffect<ResponseBody> =>
  callUser(() => {
    const { config } = h
    h.startResponse(config.errorStatus, config.errorHeaders.map(([name, value]) => [name, value]), error)
    return [config.errorBody]
  })

const close = (h: Handling): StepEffect => Effect.suspend(() => closeNow(h))

/** The default `close` step's work, for a step already running: `Effect.void` when nothing was left to close. */
export const closeNow = (h: Handling): StepEffect => {
  const closing = closeBody(h, h.state.result)
  if (closing === null) {
    resetState(h)
    return Effect.void
  }
  return Effect.map(closing, () => resetState(h))
}

/** CPython's `close` after the result's own: the state of the next request starts empty. */
export const resetState = (h: Handling): void => {
  const state = h.state
  state.result = null
  state.headers = null
  state.status = null
  state.environ = null
  state.bytesSent = 0
  state.headersSent = false
}

/** CPython's `BaseHandler` methods. */
export const defaultSteps: Steps = {
  setupEnviron,
  getScheme: (h) => guessScheme(h.state.environ!),
  startResponse,
  write,
  sendPreamble,
  sendHeaders,
  cleanupHeaders,
  setContentLength,
  finishResponse,
  finishContent,
  resultIsFile,
  sendfile,
  clientIsModern,
  logException,
  handleError,
  close,
  errorOutput
}
