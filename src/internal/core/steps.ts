/**
 * CPython's `BaseHandler` methods as Effects: the default `Steps` record.
 *
 * Each step is lazy and small; user code it calls (the app's `close()`, a `Headers`
 * subclass) is wrapped so a throw becomes a typed failure, and a service's Effect is
 * created and run inside the step, so a service that throws when called fails the step.
 */
import * as Effect from "effect/Effect"
import type { FileWrapper } from "../../FileWrapper.js"
import type { Handling, StepEffect, Steps } from "../../Handler.js"
import { ProtocolError } from "../../HandlerError.js"
import { HeaderPairs, Headers } from "../../Headers.js"
import type { CgiVariables, Environ, HeaderList, ResponseBody } from "../../Protocol.js"
import { guessScheme } from "../../Util.js"
import { isPromiseLike } from "../bytes.js"
import { copyEnviron } from "../environCopy.js"
import { httpDateNow } from "../httpDate.js"
import { isLatin1 } from "../latin1.js"
import { checkHeaders, checkStatus, copyHeaderList, isBodylessStatus } from "../responseChecks.js"
import { toOutputFailure } from "../sink.js"
import { writeResult } from "./body.js"
import { errorOf, userFailure } from "./failure.js"
import { typeName } from "../typeName.js"

// ---------------------------------------------------------------------------------------
// Calling out

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
const callOutput = (call: () => StepEffect): StepEffect => {
  try {
    return call()
  } catch (cause) {
    return Effect.fail(toOutputFailure(cause))
  }
}

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
  Effect.map(h.services.environSource.variables, (variables) => {
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
  })

// ---------------------------------------------------------------------------------------
// The response head

const startResponse = (h: Handling, status: string, headers: HeaderList, excInfo?: unknown): void => {
  const state = h.state
  if (excInfo !== undefined && excInfo !== null && excInfo !== false) {
    // PEP 3333: too late to change the response; re-raise the app's error.
    if (state.headersSent) throw excInfo
  } else if (state.headers !== null) {
    throw new ProtocolError({ message: "Headers already set!" })
  }
  checkStatus(status)
  // Checked on a copy, so the app cannot change the list after it passed the checks.
  const copy = copyHeaderList(headers)
  checkHeaders(copy)
  state.status = status
  state.headers = new h.config.headersClass(copy)
}

/** `headers.has(name)`; on a plain Headers, a search by the lower-case name as given. */
const hasHeader = (headers: Headers, name: string, lowered: string): boolean =>
  HeaderPairs.isPlain(headers) ? HeaderPairs.find(headers, lowered) !== null : headers.has(name)

const cleanupHeaders = (h: Handling): void => {
  if (!hasHeader(h.state.headers!, "Content-Length", "content-length")) h.steps.setContentLength(h)
}

const setContentLength = (h: Handling): void => {
  const state = h.state
  // CPython sets it when the result has exactly one block (len(result) == 1).
  if (!Array.isArray(state.result) || state.result.length !== 1 || isBodylessStatus(state.status!)) return
  const headers = state.headers!
  const length = String(state.bytesSent)
  // `set` when absent is one push (the usual case: cleanupHeaders just looked).
  if (HeaderPairs.isPlain(headers) && HeaderPairs.find(headers, "content-length") === null) {
    HeaderPairs.of(headers).push(["Content-Length", length])
  } else {
    headers.set("Content-Length", length)
  }
}

/** The Date and Server headers an origin server adds unless the app set them. */
const gatewayHeaders = (h: Handling): HeaderList => {
  const { config, state } = h
  const headers = state.headers!
  const added: HeaderList = []
  if (!hasHeader(headers, "Date", "date")) added.push(["Date", httpDateNow(h.clock)])
  if (config.serverSoftware && !hasHeader(headers, "Server", "server")) added.push(["Server", config.serverSoftware])
  return added
}

/** The status line (or CGI `Status:`) and the headers the gateway adds, as text. */
const preambleText = (h: Handling): string => {
  const { config, state } = h
  if (!config.originServer) return `Status: ${state.status}\r\n`
  let text = `HTTP/${config.httpVersion} ${state.status}\r\n`
  for (const [name, value] of gatewayHeaders(h)) text += `${name}: ${value}\r\n`
  return text
}

/**
 * True when the head can only hold text `startResponse` already checked: the default steps
 * and Headers class (no override could have changed the headers since), and a latin-1
 * `serverSoftware`. Saves a scan of the whole head on every response.
 */
const headIsLatin1 = (h: Handling): boolean =>
  h.steps.startResponse === startResponse && h.steps.cleanupHeaders === cleanupHeaders &&
  h.steps.setContentLength === setContentLength && h.config.headersClass === Headers &&
  (h.config.serverSoftware === null || isLatin1(h.config.serverSoftware))

/** Encode and send head text (`text` may run user code: a `Headers` subclass). */
const writeText = (h: Handling, text: (h: Handling) => string): StepEffect => {
  let head: string
  try {
    head = text(h)
  } catch (cause) {
    return Effect.fail(userFailure(cause))
  }
  if (!headIsLatin1(h) && !isLatin1(head)) {
    return Effect.fail(new ProtocolError({ message: `response headers must be latin-1 text: ${JSON.stringify(head)}` }))
  }
  if (head.length === 0) return Effect.void
  const bytes = Buffer.from(head, "latin1")
  return callOutput(() => h.services.output.write(bytes))
}

const sendPreamble = (h: Handling): StepEffect => Effect.suspend(() => writeText(h, preambleText))

/** The whole head: the preamble and the header block. */
const headText = (h: Handling): string => preambleText(h) + h.state.headers!.toString()

const headerBlock = (h: Handling): string => h.state.headers!.toString()

/**
 * The headers for a sink that frames the response itself: the gateway's, then the app's
 * (the pairs themselves on a plain Headers: the sink reads them, see `Output.sendHead`).
 */
const headList = (h: Handling): HeaderList => {
  const headers = h.state.headers!
  const pairs = HeaderPairs.isPlain(headers) ? HeaderPairs.of(headers) : headers.items()
  const list = h.config.originServer ? gatewayHeaders(h) : []
  for (let i = 0; i < pairs.length; i++) list.push(pairs[i]!)
  return list
}

/** The head goes out (when run inside a step): to a sink that frames it itself, or as bytes. */
const sendHead = (h: Handling): StepEffect => {
  const output = h.services.output
  if (output.sendHead !== undefined) {
    let headers: HeaderList
    try {
      headers = headList(h)
    } catch (cause) {
      return Effect.fail(userFailure(cause))
    }
    return callOutput(() => output.sendHead!(h.state.status!, headers))
  }
  // The status line and headers go out as one buffer unless sendPreamble was overridden.
  if (h.steps.sendPreamble === sendPreamble) return writeText(h, headText)
  return Effect.flatMap(h.steps.sendPreamble(h), () => writeText(h, headerBlock))
}

const sendHeaders = (h: Handling): StepEffect =>
  Effect.suspend(() => {
    const { config, state, steps } = h
    // Overridden steps (cleanupHeaders, clientIsModern) may throw: a failure like any other.
    try {
      steps.cleanupHeaders(h)
      state.headersSent = true
      h.suppressBody = config.originServer && state.environ?.["REQUEST_METHOD"] === "HEAD"
      if (config.originServer && !steps.clientIsModern(h)) return Effect.void
    } catch (cause) {
      return Effect.fail(userFailure(cause))
    }
    return sendHeadOnce(h)
  })

/**
 * `sendHead`, remembering when it failed: the headers count as sent (CPython's rule: the
 * response can no longer be replaced), but a `write` run again (`Effect.retry` around the
 * step) sends the head again before its body.
 */
const sendHeadOnce = (h: Handling): StepEffect => {
  h.headPending = false
  return Effect.tapErrorCause(sendHead(h), () =>
    Effect.sync(() => {
      h.headPending = true
    }))
}

const clientIsModern = (h: Handling): boolean => {
  const protocol = h.state.environ?.["SERVER_PROTOCOL"]
  return protocol === "HTTP/1.1" || protocol === "HTTP/1.0" || String(protocol ?? "").toUpperCase() !== "HTTP/0.9"
}

// ---------------------------------------------------------------------------------------
// The body

const write = (h: Handling, data: Uint8Array): StepEffect =>
  Effect.suspend(() => {
    if (!(data instanceof Uint8Array)) {
      return Effect.fail(new ProtocolError({ message: `write() argument must be a Uint8Array, not ${typeName(data)}` }))
    }
    const state = h.state
    if (!state.status) return Effect.fail(new ProtocolError({ message: "write() before startResponse()" }))
    if (!state.headersSent) {
      state.bytesSent = data.length
      return Effect.flatMap(h.steps.sendHeaders(h), () => writeBody(h, data))
    }
    if (h.headPending) return Effect.flatMap(sendHeadOnce(h), () => writeBody(h, data))
    state.bytesSent += data.length
    return writeBody(h, data)
  })

const writeBody = (h: Handling, data: Uint8Array): StepEffect => {
  if (h.suppressBody || data.length === 0) return Effect.void
  const output = h.services.output
  const written = callOutput(() => output.write(data))
  const flushed = callOutput(() => output.flush())
  // A sink that flushes by itself answers the constant `Effect.void`: nothing to run after the write.
  return flushed === Effect.void ? written : Effect.zipRight(written, flushed)
}

const finishResponse = (h: Handling): StepEffect =>
  Effect.matchCauseEffect(
    Effect.suspend(() =>
      h.steps.resultIsFile(h) ? Effect.flatMap(h.steps.sendfile(h), (sent) => (sent ? Effect.void : sendBody(h))) : sendBody(h)
    ),
    {
      // Whatever went wrong (a defect too), the result is closed, then the failure stands.
      onFailure: (cause) => {
        const closing = closeBody(h, h.state.result)
        return closing === null ? Effect.failCause(cause) : Effect.zipRight(Effect.ignore(closing), Effect.failCause(cause))
      },
      // The whole response went out: a failing close() is logged and the response
      // stands. (CPython handles it as an app error, and, its state already reset,
      // appends a second, 500 response after the complete one.)
      onSuccess: () =>
        Effect.catchIf(
          h.steps.close(h),
          (failure) => failure._tag !== "ClientDisconnected",
          (failure) => h.steps.logException(h, errorOf(failure))
        )
    }
  )

/** The body, then `finishContent` (the headers, if no body byte sent them). */
const sendBody = (h: Handling): StepEffect => writeResult(h, h.steps.finishContent(h))

const finishContent = (h: Handling): StepEffect =>
  Effect.suspend(() => {
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
    return Effect.flatMap(h.steps.sendHeaders(h), () => callOutput(() => h.services.output.flush()))
  })

const resultIsFile = (h: Handling): boolean => {
  const wrapper = h.config.wsgiFileWrapper
  return wrapper !== null && h.state.result instanceof wrapper
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

const close = (h: Handling): StepEffect =>
  Effect.suspend(() => {
    const closing = closeBody(h, h.state.result)
    if (closing === null) {
      resetState(h)
      return Effect.void
    }
    return Effect.map(closing, () => resetState(h))
  })

const resetState = (h: Handling): void => {
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
