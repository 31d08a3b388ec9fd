/**
 * The PEP 3333 handler: CPython's `BaseHandler.run` as one Effect program.
 *
 * The program is written as a template method: every step CPython lets a subclass
 * override is an entry of `Steps`, called through the driver, so the class shim can put
 * its methods in the table while the Effect API runs the defaults. Steps that finish at
 * once return already-completed effects (`Exit`s) and `andThen` chains them with plain
 * calls; only a step that really waits (a slow socket, an async app) goes through the
 * fiber scheduler. A synchronous hello-world request is therefore a few function calls.
 */
import { Cause, type Clock, Effect, Exit } from "effect"
import type { ErrorLogShape } from "../ErrorLog.js"
import type { EnvironSourceShape } from "../EnvironSource.js"
import { decline, type FileTransmitterShape } from "../FileTransmitter.js"
import { FileWrapper } from "../FileWrapper.js"
import type { HandlerConfig } from "../HandlerConfig.js"
import {
  ApplicationError,
  ClientDisconnected,
  type HandlerError,
  OutputError,
  ProtocolError,
  ResponseAborted
} from "../HandlerError.js"
import { Headers } from "../Headers.js"
import type { InputShape } from "../Input.js"
import type { OutputShape } from "../Output.js"
import type { Application, Environ, HeaderList, ResponseBody, StartResponse, Write } from "../Protocol.js"
import { guessScheme } from "../Util.js"
import { isPromiseLike } from "./bytes.js"
import { copyEnviron } from "./environCopy.js"
import { isLatin1 } from "./latin1.js"
import { toOutputFailure } from "./sink.js"
import { formatDateTime } from "./httpDate.js"
import { checkHeaders, checkStatus, copyHeaderList, isBodylessStatus } from "./responseChecks.js"
import { typeName } from "./typeName.js"

/**
 * Something user code threw that is not one of our tagged errors: kept raw so the log
 * shows the application's own error and stack.
 */
export class Thrown {
  readonly _tag = "Thrown"
  constructor(readonly cause: unknown) {}
}

/** Every way a step can fail. */
export type Failure = HandlerError | ClientDisconnected | Thrown

/** A step of the program. */
export type Step<A = void> = Effect.Effect<A, Failure>

/** CPython's per-request state block (`status`, `headers`, …). */
export interface HandlerState {
  status: string | null
  headers: Headers | null
  headersSent: boolean
  bytesSent: number
  result: ResponseBody | null
  environ: Environ | null
}

/** The five services, resolved. */
export interface Services {
  readonly output: OutputShape
  readonly input: InputShape
  readonly errorLog: ErrorLogShape
  readonly environSource: EnvironSourceShape
  /** Declines when left out. */
  readonly fileTransmitter?: FileTransmitterShape | undefined
}

/** The overridable steps of CPython's `BaseHandler`, same names and meaning. */
export interface Steps {
  setupEnviron(d: Driver): void
  getScheme(d: Driver): string
  startResponse(d: Driver, status: string, headers: HeaderList, excInfo?: unknown): Write
  write(d: Driver, data: Uint8Array): Step
  sendPreamble(d: Driver): Step
  sendHeaders(d: Driver): Step
  cleanupHeaders(d: Driver): void
  setContentLength(d: Driver): void
  finishResponse(d: Driver): Step
  finishContent(d: Driver): Step
  resultIsFile(d: Driver): boolean
  sendfile(d: Driver): Step<boolean>
  clientIsModern(d: Driver): boolean
  logException(d: Driver, error: unknown): Step
  handleError(d: Driver, error: unknown): Step
  close(d: Driver): Step
  errorOutput(d: Driver, environ: Environ, startResponse: StartResponse, error: unknown): ResponseBody | Promise<ResponseBody>
}

/** One handler at work: configuration, services, steps, state. */
export interface Driver {
  readonly config: HandlerConfig
  readonly services: Services
  readonly steps: Steps
  readonly state: HandlerState
  readonly clock: Clock.Clock
  /** The `startResponse` handed to the application. */
  readonly startResponse: StartResponse
  /** The PEP 3333 `write()` callable `startResponse` returns. */
  readonly write: Write
  /** Writes made through `write()` that are still going out, in call order. */
  pendingWrites: Promise<void> | undefined
  /** The first failure of a `write()` call, surfaced once the application returns. */
  writeFailure: Failure | undefined
  /** The last result whose `close()` was called, so no result is closed twice. */
  closedResult: ResponseBody | null
  /** True once `run` has ended: a `write()` after that is an error. */
  finished: boolean
  /** True for a HEAD request answered by an origin server: body bytes are counted, not sent. */
  suppressBody: boolean
}

// ---------------------------------------------------------------------------------------
// Effect plumbing that skips the scheduler for steps that are already done

const isSuccess = <A, E>(self: Effect.Effect<A, E>): self is Exit.Success<A, E> =>
  Exit.isExit(self) && Exit.isSuccess(self)

/** `Effect.flatMap`, run at once when `self` is already a success. */
export const andThen = <A, B, E1, E2>(
  self: Effect.Effect<A, E1>,
  f: (a: A) => Effect.Effect<B, E2>
): Effect.Effect<B, E1 | E2> => (isSuccess(self) ? f(self.value) : Effect.flatMap(self, f))

/** `Effect.matchEffect` for typed failures, run at once when `self` is already done. */
export const matchStep = <A, B, C, E1, E2, E3>(
  self: Effect.Effect<A, E1>,
  onFailure: (e: E1) => Effect.Effect<B, E2>,
  onSuccess: (a: A) => Effect.Effect<C, E3>
): Effect.Effect<B | C, E2 | E3> => {
  if (Exit.isExit(self)) {
    const exit = self as Exit.Exit<A, E1>
    if (Exit.isSuccess(exit)) return onSuccess(exit.value)
    const failure = Cause.failureOption(exit.cause)
    if (failure._tag === "Some") return onFailure(failure.value)
  }
  return Effect.matchEffect(self, { onFailure, onSuccess })
}

/** Call user code, turning a throw into a failure. */
export const attempt = <A>(f: () => A, classify: (cause: unknown) => Failure = toFailure): Step<A> => {
  try {
    return Exit.succeed(f())
  } catch (cause) {
    return Exit.fail(classify(cause))
  }
}

/** A value that may be a Promise, as a step. */
export const settle = <A>(value: A | PromiseLike<A>, classify: (cause: unknown) => Failure = toFailure): Step<A> =>
  isPromiseLike(value)
    ? Effect.tryPromise({ try: () => Promise.resolve(value), catch: classify })
    : Exit.succeed(value)

/** Call an Output method; one that throws instead of failing its effect is an output failure. */
const callOutput = (call: () => Effect.Effect<void, OutputError | ClientDisconnected>): Step => {
  try {
    return call()
  } catch (cause) {
    return Exit.fail(toOutputFailure(cause))
  }
}

/** Classify what user code threw: our tagged errors stay, anything else is kept raw. */
export const toFailure = (cause: unknown): Failure =>
  cause instanceof ProtocolError ||
  cause instanceof OutputError ||
  cause instanceof ResponseAborted ||
  cause instanceof ApplicationError ||
  cause instanceof ClientDisconnected ||
  cause instanceof Thrown
    ? cause
    : new Thrown(cause)

/** The value that was thrown, for logs and for rethrowing into user code. */
export const unwrap = (failure: Failure): unknown => (failure instanceof Thrown ? failure.cause : failure)

/** A failure as the typed error `run` fails with. */
const toHandlerError = (failure: Failure): HandlerError => {
  if (failure instanceof Thrown) {
    return new ApplicationError({ message: `error while handling an error: ${describe(failure.cause)}`, cause: failure.cause })
  }
  if (failure instanceof ClientDisconnected) {
    return new OutputError({ message: "the client went away", cause: failure })
  }
  return failure
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

// ---------------------------------------------------------------------------------------
// The program

/** CPython's `BaseHandler.run`: set up, call the app, send its response, handle errors. */
export const runDriver = (d: Driver, app: Application): Effect.Effect<void, HandlerError> => {
  d.pendingWrites = undefined
  d.writeFailure = undefined
  d.closedResult = null
  d.finished = false
  d.suppressBody = false
  const program = andThen(
    attempt(() => d.steps.setupEnviron(d)),
    () => andThen(callApplication(d, app), () => d.steps.finishResponse(d))
  )
  const handled = matchStep(program, (failure) => recover(d, failure), () => Exit.void)
  if (Exit.isExit(handled)) {
    d.finished = true
    return handled
  }
  // Interrupted (a server timeout, a client abort in an Effect HttpServer): the result is
  // still ours to close.
  return Effect.ensuring(
    Effect.onInterrupt(handled, () => Effect.ignore(closeResult(d))),
    Effect.sync(() => {
      d.finished = true
    })
  )
}

/** Call the application and wait for its result and for the writes it made meanwhile. */
const callApplication = (d: Driver, app: Application): Step => {
  const environ = d.state.environ!
  return andThen(
    andThen(attempt(() => app(environ, d.startResponse)), (value) => settle(value)),
    (result) => {
      d.state.result = result
      const checked = andThen(waitForWrites(d), () => checkResult(result))
      // The result is ours now: if anything fails before the body is sent, close it.
      return matchStep(checked, (failure) => andThen(closeResult(d), () => Exit.fail(failure)), () => Exit.void)
    }
  )
}

const checkResult = (result: unknown): Step => {
  if (typeof result === "string") {
    return Exit.fail(
      new ProtocolError({ message: "The application must return an iterable of Uint8Array chunks, not a string" })
    )
  }
  if (
    typeof result !== "object" || result === null ||
    (typeof (result as Iterable<unknown>)[Symbol.iterator] !== "function" &&
      typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] !== "function")
  ) {
    return Exit.fail(
      new ProtocolError({
        message: `The application must return an iterable of Uint8Array chunks, not ${typeName(result)}`
      })
    )
  }
  return Exit.void
}

const waitForWrites = (d: Driver): Step => {
  if (d.pendingWrites === undefined) return d.writeFailure === undefined ? Exit.void : Exit.fail(d.writeFailure)
  const pending = d.pendingWrites
  return Effect.flatMap(
    Effect.promise(() => pending.then(() => undefined, () => undefined)),
    () => (d.writeFailure === undefined ? Exit.void : Exit.fail(d.writeFailure))
  )
}

/** CPython's `run` except clauses: a client that left is fine; anything else is handled. */
const recover = (d: Driver, failure: Failure): Effect.Effect<void, HandlerError> => {
  if (failure instanceof ClientDisconnected) return quietClose(d)
  const error = unwrap(failure)
  const headersWereSent = d.state.headersSent
  return matchStep(
    d.steps.handleError(d, error),
    (second): Effect.Effect<void, HandlerError> => {
      if (second instanceof ClientDisconnected) return quietClose(d)
      const reported = toHandlerError(second)
      return matchStep(d.steps.close(d), () => Exit.fail(reported), () => Exit.fail(reported))
    },
    (): Effect.Effect<void, HandlerError> =>
      headersWereSent
        ? Exit.fail(
          new ResponseAborted({ message: `response aborted after its headers were sent: ${describe(error)}`, cause: error })
        )
        : Exit.void
  )
}

/** The client went away: close the result, and log only if closing it failed. */
const quietClose = (d: Driver): Effect.Effect<void, HandlerError> =>
  matchStep(
    closeResult(d),
    (failure) => matchStep(d.steps.logException(d, unwrap(failure)), () => Exit.void, () => Exit.void),
    () => Exit.void
  )

/** Call the result's `close()` unless it was called already. */
export const closeResult = (d: Driver): Step => {
  const result = d.state.result
  // `== null`: an app that forgot to return gives undefined.
  if (result == null || result === d.closedResult || typeof result.close !== "function") return Exit.void
  d.closedResult = result
  return andThen(attempt(() => result.close!()), (value) => settle(value))
}

// ---------------------------------------------------------------------------------------
// The default steps

const setupEnviron = (d: Driver): void => {
  const { config, services, state } = d
  const source = services.environSource
  const environ = copyEnviron(config.osEnviron)
  state.environ = environ
  if (source.variables === undefined) source.addCgiVars(environ)
  else Object.assign(environ, source.variables)
  environ["wsgi.input"] = services.input.stream
  environ["wsgi.errors"] = services.errorLog.stream
  environ["wsgi.version"] = config.wsgiVersion
  environ["wsgi.run_once"] = config.wsgiRunOnce
  environ["wsgi.url_scheme"] = d.steps.getScheme(d)
  environ["wsgi.multithread"] = config.wsgiMultithread
  environ["wsgi.multiprocess"] = config.wsgiMultiprocess
  if (config.wsgiFileWrapper !== null) environ["wsgi.file_wrapper"] = config.wsgiFileWrapper
  if (config.originServer && config.serverSoftware && environ["SERVER_SOFTWARE"] === undefined) {
    environ["SERVER_SOFTWARE"] = config.serverSoftware
  }
}

const startResponse = (d: Driver, status: string, headers: HeaderList, excInfo?: unknown): Write => {
  const state = d.state
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
  state.headers = new d.config.headersClass(copy)
  return d.write
}

const write = (d: Driver, data: Uint8Array): Step => {
  if (!(data instanceof Uint8Array)) {
    return Exit.fail(new ProtocolError({ message: `write() argument must be a Uint8Array, not ${typeName(data)}` }))
  }
  const state = d.state
  if (!state.status) return Exit.fail(new ProtocolError({ message: "write() before startResponse()" }))
  if (!state.headersSent) {
    state.bytesSent = data.length
    return andThen(d.steps.sendHeaders(d), () => writeBody(d, data))
  }
  state.bytesSent += data.length
  return writeBody(d, data)
}

const writeBody = (d: Driver, data: Uint8Array): Step => {
  if (d.suppressBody || data.length === 0) return Exit.void
  const output = d.services.output
  return andThen(callOutput(() => output.write(data)), () => callOutput(() => output.flush()))
}

/** The Date and Server headers an origin server adds unless the app set them. */
const gatewayHeaders = (d: Driver): HeaderList => {
  const { config, state } = d
  const headers = state.headers!
  const added: HeaderList = []
  if (!headers.has("Date")) added.push(["Date", formatDateTime(d.clock.unsafeCurrentTimeMillis() / 1000)])
  if (config.serverSoftware && !headers.has("Server")) added.push(["Server", config.serverSoftware])
  return added
}

/** The status line (or CGI `Status:`) and the headers the gateway adds, as text. */
const preambleText = (d: Driver): string => {
  const { config, state } = d
  if (!config.originServer) return `Status: ${state.status}\r\n`
  if (!d.steps.clientIsModern(d)) return ""
  let text = `HTTP/${config.httpVersion} ${state.status}\r\n`
  for (const [name, value] of gatewayHeaders(d)) text += `${name}: ${value}\r\n`
  return text
}

/** Encode and send header text; `text` is called inside the step, so what it throws is a failure. */
const writeText = (d: Driver, text: () => string): Step =>
  andThen(
    attempt(() => Buffer.from(headIsLatin1(d) ? text() : latin1OrThrow(text()), "latin1")),
    (bytes) => (bytes.length === 0 ? Exit.void : callOutput(() => d.services.output.write(bytes)))
  )

/**
 * True when the head can only hold text `startResponse` already checked: the default steps
 * and Headers class (no override could have changed the headers since), and a latin-1
 * `serverSoftware`. Saves a scan of the whole head on every response.
 */
const headIsLatin1 = (d: Driver): boolean =>
  d.steps === defaultSteps && d.config.headersClass === Headers &&
  (d.config.serverSoftware === null || isLatin1(d.config.serverSoftware))

const latin1OrThrow = (text: string): string => {
  if (!isLatin1(text)) {
    throw new ProtocolError({ message: `response headers must be latin-1 text: ${JSON.stringify(text)}` })
  }
  return text
}

const sendPreamble = (d: Driver): Step => writeText(d, () => preambleText(d))

/** The headers for a sink that frames the response itself: the gateway's, then the app's. */
const headList = (d: Driver): HeaderList => {
  const items = d.state.headers!.items()
  if (!d.config.originServer) return items
  const list = gatewayHeaders(d)
  for (let i = 0; i < items.length; i++) list.push(items[i]!)
  return list
}

const sendHeaders = (d: Driver): Step => {
  const { config, state, steps } = d
  // Overridden steps (cleanupHeaders, clientIsModern) may throw: a failure like any other.
  const prepared = attempt(() => {
    steps.cleanupHeaders(d)
    state.headersSent = true
    d.suppressBody = config.originServer && state.environ?.["REQUEST_METHOD"] === "HEAD"
    return !config.originServer || steps.clientIsModern(d)
  })
  return andThen(prepared, (modern) => {
    if (!modern) return Exit.void
    const output = d.services.output
    if (output.sendHead !== undefined) {
      return andThen(attempt(() => headList(d)), (headers) => callOutput(() => output.sendHead!(state.status!, headers)))
    }
    // The status line and headers go out as one buffer unless sendPreamble was overridden.
    if (steps.sendPreamble === defaultSteps.sendPreamble) {
      return writeText(d, () => preambleText(d) + state.headers!.toString())
    }
    return andThen(steps.sendPreamble(d), () => writeText(d, () => state.headers!.toString()))
  })
}

const cleanupHeaders = (d: Driver): void => {
  if (!d.state.headers!.has("Content-Length")) d.steps.setContentLength(d)
}

const setContentLength = (d: Driver): void => {
  const { state } = d
  // CPython sets it when the result has exactly one block (len(result) == 1).
  if (Array.isArray(state.result) && state.result.length === 1 && !isBodylessStatus(state.status!)) {
    state.headers!.set("Content-Length", String(state.bytesSent))
  }
}

const finishResponse = (d: Driver): Step => {
  const steps = d.steps
  const body = andThen(
    attempt(() => steps.resultIsFile(d)),
    (isFile) => isFile ? andThen(steps.sendfile(d), (sent) => (sent ? Exit.void : sendBody(d))) : sendBody(d)
  )
  return matchStep(
    body,
    (failure) => matchStep(closeResult(d), () => Exit.fail(failure), () => Exit.fail(failure)),
    () => matchStep(steps.close(d), (failure) => closeFailed(d, failure), () => Exit.void)
  )
}

/**
 * The whole response went out and only `close()` failed: log it and let the response
 * stand. (CPython handles it as an app error, and since close() has already reset its
 * state, appends a second, 500 response after the complete one.)
 */
const closeFailed = (d: Driver, failure: Failure): Step =>
  failure instanceof ClientDisconnected ? Exit.fail(failure) : d.steps.logException(d, unwrap(failure))

const sendBody = (d: Driver): Step => andThen(iterateBody(d), () => d.steps.finishContent(d))

/** Write every chunk of the result, synchronously while the writes complete at once. */
const iterateBody = (d: Driver): Step => {
  const result = d.state.result!
  // An async iterator wins when both exist (a FileWrapper over an async file has both).
  if (typeof (result as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== "function") {
    let iterator: Iterator<Uint8Array>
    try {
      iterator = (result as Iterable<Uint8Array>)[Symbol.iterator]()
    } catch (cause) {
      return Exit.fail(toFailure(cause))
    }
    const loop = (): Step => {
      for (;;) {
        let next: IteratorResult<Uint8Array>
        try {
          next = iterator.next()
        } catch (cause) {
          return Exit.fail(toFailure(cause))
        }
        if (next.done) return Exit.void
        const written = d.steps.write(d, next.value)
        if (isSuccess(written)) continue
        return matchStep(written, (failure) => abandon(iterator, failure), loop)
      }
    }
    return stopOnInterrupt(loop(), iterator)
  }
  let iterator: AsyncIterator<Uint8Array>
  try {
    iterator = (result as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
  } catch (cause) {
    return Exit.fail(toFailure(cause))
  }
  const loop = (): Step =>
    andThen(
      andThen(attempt(() => iterator.next()), (next) => settle(next)),
      (next) => next.done ? Exit.void : matchStep(d.steps.write(d, next.value), (failure) => abandon(iterator, failure), loop)
    )
  return stopOnInterrupt(loop(), iterator)
}

/**
 * If the fiber is interrupted while the body is still going out, stop the iterator (a
 * generator's `finally` runs). Not awaited: an async iterator may be stuck in `next()`.
 */
const stopOnInterrupt = (step: Step, iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array>): Step =>
  Exit.isExit(step) ? step : Effect.onInterrupt(step, () =>
    Effect.sync(() => {
      try {
        const returned = iterator.return?.()
        if (isPromiseLike(returned)) Promise.resolve(returned).catch(() => undefined)
      } catch {
        // The iterator's own cleanup failed; the response is abandoned anyway.
      }
    }))

/** Stop an iterator early (runs a generator's `finally`), then fail with `failure`. */
const abandon = (iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array>, failure: Failure): Step => {
  if (typeof iterator.return !== "function") return Exit.fail(failure)
  return matchStep(
    andThen(attempt(() => iterator.return!()), (value) => settle(value)),
    () => Exit.fail(failure),
    () => Exit.fail(failure)
  )
}

const finishContent = (d: Driver): Step => {
  const state = d.state
  if (state.headersSent) return Exit.void
  // CPython fails here too (on `None.setdefault`): an app that never started a response.
  if (state.status === null || state.headers === null) {
    return Exit.fail(new ProtocolError({ message: "The application returned without calling startResponse()" }))
  }
  const headers = state.headers
  return andThen(
    attempt(() => {
      if (!isBodylessStatus(state.status!)) headers.setDefault("Content-Length", "0")
    }),
    () => andThen(d.steps.sendHeaders(d), () => callOutput(() => d.services.output.flush()))
  )
}

const resultIsFile = (d: Driver): boolean => {
  const wrapper = d.config.wsgiFileWrapper
  return wrapper !== null && d.state.result instanceof wrapper
}

const sendfile = (d: Driver): Step<boolean> =>
  (d.services.fileTransmitter ?? decline).transmit(d.state.result as FileWrapper, {
    sendHeaders: () => Effect.mapError(d.steps.sendHeaders(d), (failure) =>
      failure instanceof Thrown ? new ApplicationError({ message: describe(failure.cause), cause: failure.cause }) : failure
    ),
    addBytesSent: (count) => {
      d.state.bytesSent += count
    }
  })

const clientIsModern = (d: Driver): boolean =>
  String(d.state.environ?.["SERVER_PROTOCOL"] ?? "").toUpperCase() !== "HTTP/0.9"

const logException = (d: Driver, error: unknown): Step =>
  d.services.errorLog.logException(error, d.config.tracebackLimit)

const handleError = (d: Driver, error: unknown): Step =>
  andThen(d.steps.logException(d, error), () => {
    if (d.state.headersSent) return Exit.void
    const environ = d.state.environ ?? {}
    return andThen(
      andThen(attempt(() => d.steps.errorOutput(d, environ, d.startResponse, error)), (value) => settle(value)),
      (result) => {
        d.state.result = result
        return d.steps.finishResponse(d)
      }
    )
  })

const errorOutput = (
  d: Driver,
  _environ: Environ,
  startResponse: StartResponse,
  error: unknown
): ResponseBody => {
  const { config } = d
  startResponse(config.errorStatus, config.errorHeaders.map(([name, value]) => [name, value]), error)
  return [config.errorBody]
}

const close = (d: Driver): Step =>
  andThen(closeResult(d), () => {
    const state = d.state
    state.result = null
    state.headers = null
    state.status = null
    state.environ = null
    state.bytesSent = 0
    state.headersSent = false
    return Exit.void
  })

/** CPython's `BaseHandler` methods. */
export const defaultSteps: Steps = {
  setupEnviron,
  getScheme: (d) => guessScheme(d.state.environ!),
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

// ---------------------------------------------------------------------------------------
// Building a driver

/** A fresh, empty state block. */
export const emptyState = (): HandlerState => ({
  status: null,
  headers: null,
  headersSent: false,
  bytesSent: 0,
  result: null,
  environ: null
})

/** Make a driver; `state` is where the request state lives (the class shim passes itself). */
export const makeDriver = (options: {
  readonly config: HandlerConfig
  readonly services: Services
  readonly clock: Clock.Clock
  readonly steps?: Steps
  readonly state?: HandlerState
}): Driver => {
  const d: Driver = {
    config: options.config,
    services: options.services,
    steps: options.steps ?? defaultSteps,
    state: options.state ?? emptyState(),
    clock: options.clock,
    startResponse: (status, headers, excInfo) => d.steps.startResponse(d, status, headers, excInfo),
    write: (data) => writeFromApp(d, data),
    pendingWrites: undefined,
    writeFailure: undefined,
    closedResult: null,
    finished: false,
    suppressBody: false
  }
  return d
}

/** The `write()` callable: in call order, awaited or not, failures kept for the handler. */
const writeFromApp = (d: Driver, data: Uint8Array): Promise<void> => {
  const pending = d.pendingWrites
  // Queued behind the writes still going out. The queued write must not go through
  // writeFromApp again: `pendingWrites` would then be its own tracking promise, and it
  // would wait for itself.
  if (pending !== undefined) return track(d, pending.then(() => writeNow(d, data)))
  const step = startWrite(d, data)
  return Exit.isExit(step) ? fromExit(d, step as Exit.Exit<void, Failure>) : track(d, runWrite(d, step))
}

const writeNow = (d: Driver, data: Uint8Array): Promise<void> => {
  const step = startWrite(d, data)
  return Exit.isExit(step) ? fromExit(d, step as Exit.Exit<void, Failure>) : runWrite(d, step)
}

const startWrite = (d: Driver, data: Uint8Array): Step => {
  if (d.finished) return Exit.fail(new ProtocolError({ message: "write() called after the response was finished" }))
  if (d.writeFailure !== undefined) return Exit.fail(d.writeFailure)
  return d.steps.write(d, data)
}

const runWrite = (d: Driver, step: Step): Promise<void> =>
  Effect.runPromiseExit(step).then((exit) => fromExit(d, exit))

const track = (d: Driver, promise: Promise<void>): Promise<void> => {
  const settled: Promise<void> = promise.then(
    () => undefined,
    () => undefined
  ).then(() => {
    if (d.pendingWrites === settled) d.pendingWrites = undefined
  })
  d.pendingWrites = settled
  return handled(promise)
}

const fromExit = (d: Driver, exit: Exit.Exit<void, Failure>): Promise<void> => {
  if (Exit.isSuccess(exit)) return Promise.resolve()
  const failure = Cause.failureOption(exit.cause)
  const error: Failure = failure._tag === "Some" ? failure.value : new Thrown(Cause.squash(exit.cause))
  if (d.writeFailure === undefined) d.writeFailure = error
  return rejected(unwrap(error))
}

// An app that does not await write() must not cause an unhandled rejection: the handler
// sees the failure anyway through `writeFailure`.
const handled = (promise: Promise<void>): Promise<void> => {
  promise.catch(() => undefined)
  return promise
}

const rejected = (error: unknown): Promise<void> => handled(Promise.reject(error))
