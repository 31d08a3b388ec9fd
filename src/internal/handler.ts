/**
 * The PEP 3333 handler: CPython's `BaseHandler.run` as one program of steps.
 *
 * The program is written as a template method: every step CPython lets a subclass
 * override is an entry of `Steps`, called through the driver, so the class shim can put
 * its methods in the table while the Effect API runs the defaults. Steps are `Exit`s when
 * they finish at once and Promises of `Exit`s when they wait (see step.ts), so a
 * synchronous hello-world request is a few dozen function calls, and an async one a few
 * Promise turns, never an Effect fiber.
 */
import { type Clock, Effect, Exit, Runtime } from "effect"
import type { ErrorLogShape } from "../ErrorLog.js"
import type { EnvironSourceShape } from "../EnvironSource.js"
import { decline, type FileTransmitterShape } from "../FileTransmitter.js"
import type { FileWrapper } from "../FileWrapper.js"
import type { HandlerConfig } from "../HandlerConfig.js"
import {
  ApplicationError,
  ClientDisconnected,
  type HandlerError,
  OutputError,
  ProtocolError,
  ResponseAborted
} from "../HandlerError.js"
import { HeaderPairs, Headers } from "../Headers.js"
import type { InputShape } from "../Input.js"
import type { OutputShape } from "../Output.js"
import type { Application, Environ, HeaderList, ResponseBody, StartResponse, Write } from "../Protocol.js"
import { guessScheme } from "../Util.js"
import { isPromiseLike } from "./bytes.js"
import { copyEnviron, type EnvironMaker, makeEnviron } from "./environCopy.js"
import { httpDateNow } from "./httpDate.js"
import { isLatin1 } from "./latin1.js"
import { checkHeaders, checkStatus, copyHeaderList, isBodylessStatus } from "./responseChecks.js"
import { toOutputFailure } from "./sink.js"
import {
  andThen,
  attempt,
  type EffectRunner,
  fail,
  type Failure,
  failureOf,
  fromEffect,
  Interrupted,
  interrupted,
  matchStep,
  settle,
  type Step,
  succeeded,
  Thrown,
  toEffect,
  toFailure,
  unwrap
} from "./step.js"
import { typeName } from "./typeName.js"

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
export interface Driver extends EffectRunner {
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
  /** True once `run` has ended (or was interrupted): a `write()` after that is an error. */
  finished: boolean
  /** True once the request was interrupted: nothing more goes out. */
  interrupted: boolean
  /** The body iterator being written, stopped if the request is interrupted. */
  iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> | null
  /** True for a HEAD request answered by an origin server: body bytes are counted, not sent. */
  suppressBody: boolean
}

/** The outcome of a request: how `run` ends. */
export type Outcome = Step<void, HandlerError>

/** A failure as the typed error `run` fails with. */
const toHandlerError = (failure: Failure): HandlerError => {
  if (failure instanceof Thrown) {
    return new ApplicationError({ message: `error while handling an error: ${describe(failure.cause)}`, cause: failure.cause })
  }
  if (failure instanceof ClientDisconnected || failure instanceof Interrupted) {
    return new OutputError({ message: "the client went away", cause: failure })
  }
  return failure
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

// ---------------------------------------------------------------------------------------
// The program

/**
 * CPython's `BaseHandler.run`: set up, call the app, send its response, handle errors.
 *
 * Written out for the common cases, so that no continuation is allocated when everything
 * finishes at once, and an async app costs one Promise turn after its own: the rest of the
 * request runs in that turn.
 */
export const runDriver = (d: Driver, app: Application): Outcome => {
  let value: ResponseBody | Promise<ResponseBody>
  try {
    d.steps.setupEnviron(d)
    value = app(d.state.environ!, d.startResponse)
  } catch (cause) {
    return respond(d, fail(toFailure(cause)))
  }
  if (!isPromiseLike(value)) return respondAfter(d, takeResult(d, value))
  // The rest of the request runs in the turn the app's Promise settles in.
  return Promise.resolve(value).then(
    (result) => respondAfter(d, takeResult(d, result)),
    (cause: unknown) => respond(d, fail(toFailure(cause)))
  )
}

/** `respond` once the app's result was taken (which waits for the app's writes, if any). */
const respondAfter = (d: Driver, taken: Step): Outcome =>
  taken instanceof Promise ? taken.then((exit) => respond(d, exit)) : respond(d, taken)

/** After the app: send its response, or handle what failed; then the request is finished. */
const respond = (d: Driver, called: Exit.Exit<void, Failure>): Outcome => {
  const responded = called._tag === "Success" ? d.steps.finishResponse(d) : called
  return afterResponse(d, responded)
}

const afterResponse = (d: Driver, responded: Step): Outcome => {
  if (responded instanceof Promise) return responded.then((exit) => afterResponse(d, exit))
  const outcome = responded._tag === "Success" ? Exit.void : recover(d, failureOf(responded))
  if (outcome instanceof Promise) return outcome.then((exit) => finished(d, exit))
  return finished(d, outcome)
}

const finished = (d: Driver, exit: Exit.Exit<void, HandlerError>): Exit.Exit<void, HandlerError> => {
  d.finished = true
  return exit
}

/**
 * The outcome as an Effect: itself when it is an `Exit` already; else an Effect that waits
 * for it, and interrupts the request (see `interrupt`) when it is interrupted.
 */
export const outcomeEffect = (d: Driver, outcome: Outcome): Effect.Effect<void, HandlerError> =>
  outcome instanceof Promise
    ? Effect.async<void, HandlerError>((resume) => {
      outcome.then(resume)
      return Effect.suspend(() => Effect.ignore(toEffect(interrupt(d))))
    })
    : outcome

/**
 * Stop a request under way (an interrupted `run`, a server's timeout): nothing more goes
 * out, the service effect it waits on is interrupted, the body iterator is stopped (a
 * generator's `finally` runs, not awaited: an async iterator may be stuck in `next()`),
 * and the result is closed; the step returned is that close.
 */
export const interrupt = (d: Driver): Step => {
  if (d.finished) return Exit.void
  d.interrupted = true
  d.finished = true
  d.waiting?.()
  const iterator = d.iterator
  d.iterator = null
  try {
    const returned = iterator?.return?.()
    if (isPromiseLike(returned)) Promise.resolve(returned).catch(() => undefined)
  } catch {
    // The iterator's own cleanup failed; the response is abandoned anyway.
  }
  return closeResult(d)
}

/**
 * The result is ours now: if anything fails before the body is sent (an interruption while
 * the app was still working included), close it.
 */
const takeResult = (d: Driver, result: ResponseBody): Step => {
  d.state.result = result
  const checked = d.interrupted
    ? fail(interrupted)
    : d.pendingWrites === undefined && d.writeFailure === undefined
    ? checkResult(result)
    : andThen(waitForWrites(d), () => checkResult(result))
  return succeeded(checked) ? checked : matchStep(checked, (failure) => closeThenFail(d, failure), () => Exit.void)
}

/** Close the result, then fail with `failure` (whatever closing it gave). */
const closeThenFail = (d: Driver, failure: Failure): Step =>
  matchStep(closeResult(d), () => fail(failure), () => fail(failure))

const checkResult = (result: unknown): Step => {
  if (typeof result === "string") {
    return fail(new ProtocolError({ message: "The application must return an iterable of Uint8Array chunks, not a string" }))
  }
  if (
    typeof result !== "object" || result === null ||
    (typeof (result as Iterable<unknown>)[Symbol.iterator] !== "function" &&
      typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] !== "function")
  ) {
    return fail(
      new ProtocolError({ message: `The application must return an iterable of Uint8Array chunks, not ${typeName(result)}` })
    )
  }
  return Exit.void
}

/** Wait until every `write()` the app made has gone out; the first failure among them fails. */
const waitForWrites = (d: Driver): Step => {
  const pending = d.pendingWrites
  if (pending === undefined) return d.writeFailure === undefined ? Exit.void : fail(d.writeFailure)
  // Checked again once they are out: more may have been queued meanwhile.
  return pending.then(() => waitForWrites(d))
}

/** CPython's `run` except clauses: a client that left is fine; anything else is handled. */
const recover = (d: Driver, failure: Failure): Outcome => {
  if (failure instanceof ClientDisconnected || failure instanceof Interrupted) return quietClose(d)
  const error = unwrap(failure)
  const headersWereSent = d.state.headersSent
  return matchStep(
    d.steps.handleError(d, error),
    (second): Outcome => {
      if (second instanceof ClientDisconnected || second instanceof Interrupted) return quietClose(d)
      const reported = toHandlerError(second)
      return matchStep(d.steps.close(d), () => fail(reported), () => fail(reported))
    },
    (): Outcome =>
      headersWereSent
        ? fail(new ResponseAborted({ message: `response aborted after its headers were sent: ${describe(error)}`, cause: error }))
        : Exit.void
  )
}

/** The client went away: close the result, and log only if closing it failed. */
const quietClose = (d: Driver): Outcome =>
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
  return andThen(attempt(() => result.close!()), settle)
}

// ---------------------------------------------------------------------------------------
// Output: every byte goes through these, so an interrupted request sends nothing more

const outputStep = (d: Driver, effect: Effect.Effect<void, OutputError | ClientDisconnected>): Step =>
  d.interrupted ? fail(interrupted) : fromEffect(effect, d)

// An Output method that throws instead of failing its effect is an output failure.
const outputWrite = (d: Driver, data: Uint8Array): Step => {
  try {
    return outputStep(d, d.services.output.write(data))
  } catch (cause) {
    return fail(toOutputFailure(cause))
  }
}

const outputFlush = (d: Driver): Step => {
  try {
    return outputStep(d, d.services.output.flush())
  } catch (cause) {
    return fail(toOutputFailure(cause))
  }
}

const outputHead = (d: Driver, headers: HeaderList): Step => {
  try {
    return outputStep(d, d.services.output.sendHead!(d.state.status!, headers))
  } catch (cause) {
    return fail(toOutputFailure(cause))
  }
}

// ---------------------------------------------------------------------------------------
// The default steps

const setupEnviron = (d: Driver): void => {
  const { config, services, state } = d
  const source = services.environSource
  const made = (source as EnvironMaker)[makeEnviron]?.(config.osEnviron)
  const environ = made ?? copyEnviron(config.osEnviron)
  state.environ = environ
  // A made environ holds its CGI variables already.
  if (made === undefined) {
    if (source.variables === undefined) source.addCgiVars(environ)
    else Object.assign(environ, source.variables)
  }
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
    return fail(new ProtocolError({ message: `write() argument must be a Uint8Array, not ${typeName(data)}` }))
  }
  const state = d.state
  if (!state.status) return fail(new ProtocolError({ message: "write() before startResponse()" }))
  if (!state.headersSent) {
    state.bytesSent = data.length
    const sent = d.steps.sendHeaders(d)
    return succeeded(sent) ? writeBody(d, data) : andThen(sent, () => writeBody(d, data))
  }
  state.bytesSent += data.length
  return writeBody(d, data)
}

const writeBody = (d: Driver, data: Uint8Array): Step => {
  if (d.suppressBody || data.length === 0) return Exit.void
  const written = outputWrite(d, data)
  return succeeded(written) ? outputFlush(d) : andThen(written, () => outputFlush(d))
}

/** The Date and Server headers an origin server adds unless the app set them. */
const gatewayHeaders = (d: Driver): HeaderList => {
  const { config, state } = d
  const headers = state.headers!
  const added: HeaderList = []
  if (!hasHeader(headers, "Date", "date")) added.push(["Date", httpDateNow(d.clock)])
  if (config.serverSoftware && !hasHeader(headers, "Server", "server")) added.push(["Server", config.serverSoftware])
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

/** Encode and send header text; what `text` throws (an overridden step's error) is a failure. */
const writeText = (d: Driver, text: (d: Driver) => string): Step => {
  let bytes: Buffer
  try {
    const head = text(d)
    bytes = Buffer.from(headIsLatin1(d) ? head : latin1OrThrow(head), "latin1")
  } catch (cause) {
    return fail(toFailure(cause))
  }
  return bytes.length === 0 ? Exit.void : outputWrite(d, bytes)
}

/** The whole head: the preamble and the header block. */
const headText = (d: Driver): string => preambleText(d) + d.state.headers!.toString()

const headerBlock = (d: Driver): string => d.state.headers!.toString()

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

const sendPreamble = (d: Driver): Step => writeText(d, preambleText)

/**
 * The headers for a sink that frames the response itself: the gateway's, then the app's
 * (the pairs themselves on a plain Headers: the sink reads them, see `Output.sendHead`).
 */
const headList = (d: Driver): HeaderList => {
  const headers = d.state.headers!
  const pairs = HeaderPairs.isPlain(headers) ? HeaderPairs.of(headers) : headers.items()
  const list = d.config.originServer ? gatewayHeaders(d) : []
  for (let i = 0; i < pairs.length; i++) list.push(pairs[i]!)
  return list
}

const sendHeaders = (d: Driver): Step => {
  const { config, state, steps } = d
  let modern: boolean
  let headers: HeaderList | null = null
  // Overridden steps (cleanupHeaders, clientIsModern) may throw: a failure like any other.
  try {
    steps.cleanupHeaders(d)
    state.headersSent = true
    d.suppressBody = config.originServer && state.environ?.["REQUEST_METHOD"] === "HEAD"
    modern = !config.originServer || steps.clientIsModern(d)
    if (modern && d.services.output.sendHead !== undefined) headers = headList(d)
  } catch (cause) {
    return fail(toFailure(cause))
  }
  if (!modern) return Exit.void
  if (headers !== null) return outputHead(d, headers)
  // The status line and headers go out as one buffer unless sendPreamble was overridden.
  if (steps.sendPreamble === defaultSteps.sendPreamble) return writeText(d, headText)
  return andThen(steps.sendPreamble(d), () => writeText(d, headerBlock))
}

/** `headers.has(name)`; on a plain Headers, a search by the lower-case name as given. */
const hasHeader = (headers: Headers, name: string, lowered: string): boolean =>
  HeaderPairs.isPlain(headers) ? HeaderPairs.find(headers, lowered) !== null : headers.has(name)

const cleanupHeaders = (d: Driver): void => {
  if (!hasHeader(d.state.headers!, "Content-Length", "content-length")) d.steps.setContentLength(d)
}

const setContentLength = (d: Driver): void => {
  const { state } = d
  // CPython sets it when the result has exactly one block (len(result) == 1).
  if (Array.isArray(state.result) && state.result.length === 1 && !isBodylessStatus(state.status!)) {
    const headers = state.headers!
    const length = String(state.bytesSent)
    // `set` when absent is one push (the usual case: cleanupHeaders just looked).
    if (HeaderPairs.isPlain(headers) && HeaderPairs.find(headers, "content-length") === null) {
      HeaderPairs.of(headers).push(["Content-Length", length])
    } else {
      headers.set("Content-Length", length)
    }
  }
}

const finishResponse = (d: Driver): Step => {
  const steps = d.steps
  let isFile: boolean
  try {
    isFile = steps.resultIsFile(d)
  } catch (cause) {
    return closeThenFail(d, toFailure(cause))
  }
  const body = isFile ? andThen(steps.sendfile(d), (sent) => (sent ? Exit.void : sendBody(d))) : sendBody(d)
  return succeeded(body) ? closeStep(d) : matchStep(body, (failure) => closeThenFail(d, failure), () => closeStep(d))
}

/** The `close()` step after a whole response. */
const closeStep = (d: Driver): Step => {
  const closed = d.steps.close(d)
  return succeeded(closed) ? closed : matchStep(closed, (failure) => closeFailed(d, failure), () => Exit.void)
}

/**
 * The whole response went out and only `close()` failed: log it and let the response
 * stand. (CPython handles it as an app error, and since close() has already reset its
 * state, appends a second, 500 response after the complete one.)
 */
const closeFailed = (d: Driver, failure: Failure): Step =>
  failure instanceof ClientDisconnected || failure instanceof Interrupted
    ? fail(failure)
    : d.steps.logException(d, unwrap(failure))

const sendBody = (d: Driver): Step => {
  const written = writeResult(d)
  return succeeded(written) ? d.steps.finishContent(d) : andThen(written, () => d.steps.finishContent(d))
}

// ---------------------------------------------------------------------------------------
// Writing the result, chunk by chunk

const MORE = Exit.succeed(true)
const NO_MORE = Exit.succeed(false)
const arrayValues = Array.prototype[Symbol.iterator]

/**
 * Run `body` until it answers false: plain iterations while it finishes at once. Once it
 * waits, the whole rest of the loop is one Promise: resuming with a then() per wait would
 * chain a Promise per wait, all alive until the last one (a long streamed body to a slow
 * client waits thousands of times).
 */
const repeat = (body: () => Step<boolean>): Step => repeatFrom(body(), body, null)

/** `repeat`, from the answer `more` of a first call; `done` settles the loop's Promise once it has one. */
const repeatFrom = (
  more: Step<boolean>,
  body: () => Step<boolean>,
  done: ((exit: Exit.Exit<void, Failure>) => void) | null
): Step => {
  for (;;) {
    if (more instanceof Promise) {
      const pending = more
      if (done !== null) {
        const resolve = done
        pending.then((exit) => repeatFrom(exit, body, resolve))
        return Exit.void
      }
      return new Promise((resolve) => pending.then((exit) => repeatFrom(exit, body, resolve)))
    }
    const end = more._tag === "Failure" ? more : more.value ? null : Exit.void
    if (end !== null) {
      if (done === null) return end
      done(end)
      return Exit.void
    }
    more = body()
  }
}

/** Write `chunks[from…]`, synchronously while the writes complete at once. */
const writeChunks = (d: Driver, chunks: ReadonlyArray<Uint8Array>, from: number): Step => {
  for (let i = from; i < chunks.length; i++) {
    const written = d.steps.write(d, chunks[i]!)
    if (!succeeded(written)) {
      let next = i + 1
      return repeatFrom(moreAfter(written), () => (next < chunks.length ? writeChunk(d, chunks[next++]!) : NO_MORE), null)
    }
  }
  return Exit.void
}

/** Write one chunk: MORE once it is out, or the failure. */
const writeChunk = (d: Driver, chunk: Uint8Array): Step<boolean> => moreAfter(d.steps.write(d, chunk))

const moreAfter = (written: Step): Step<boolean> => {
  if (written instanceof Promise) return written.then(moreAfter) as Promise<Exit.Exit<boolean, Failure>>
  return written._tag === "Success" ? MORE : (written as Exit.Exit<never, Failure>)
}

/** Write every chunk of the result, synchronously while the writes complete at once. */
const writeResult = (d: Driver): Step => {
  if (d.interrupted) return fail(interrupted)
  const result = d.state.result!
  // An async iterator wins when both exist (a FileWrapper over an async file has both).
  if (typeof (result as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === "function") {
    return iterateWith(d, () => (result as AsyncIterable<Uint8Array>)[Symbol.asyncIterator](), nextAsync)
  }
  // A plain array is read by index, as its own iterator would.
  if (Array.isArray(result) && result[Symbol.iterator] === arrayValues) return writeChunks(d, result, 0)
  return iterateWith(d, () => (result as Iterable<Uint8Array>)[Symbol.iterator](), nextSync)
}

type BodyIterator = Iterator<Uint8Array> | AsyncIterator<Uint8Array>

const nextSync = (iterator: BodyIterator): Step<IteratorResult<Uint8Array>> =>
  attempt(() => (iterator as Iterator<Uint8Array>).next())

const nextAsync = (iterator: BodyIterator): Step<IteratorResult<Uint8Array>> =>
  andThen(attempt(() => (iterator as AsyncIterator<Uint8Array>).next()), settle)

/** Write what an iterator yields; if a write fails, the iterator is stopped. */
const iterateWith = (d: Driver, open: () => BodyIterator, next: typeof nextSync): Step => {
  let iterator: BodyIterator
  try {
    iterator = open()
  } catch (cause) {
    return fail(toFailure(cause))
  }
  d.iterator = iterator
  return repeat(() => {
    if (d.interrupted) return fail(interrupted)
    return matchStep(next(iterator), (failure): Step<boolean> => {
      d.iterator = null
      return fail(failure)
    }, (item): Step<boolean> => {
      if (typeof item !== "object" || item === null) {
        d.iterator = null
        return fail(new Thrown(new TypeError(`Iterator result ${typeName(item)} is not an object`)))
      }
      if (item.done) {
        d.iterator = null
        return NO_MORE
      }
      return matchStep(writeChunk(d, item.value), (failure) => abandon(d, iterator, failure), () => MORE)
    })
  })
}

/** Stop an iterator early (runs a generator's `finally`), then fail with `failure`. */
const abandon = (d: Driver, iterator: BodyIterator, failure: Failure): Step<never> => {
  // Stopped already (by an interruption).
  if (d.iterator !== iterator) return fail(failure)
  d.iterator = null
  if (typeof iterator.return !== "function") return fail(failure)
  return matchStep(andThen(attempt(() => iterator.return!()), settle), () => fail(failure), () => fail(failure))
}

// ---------------------------------------------------------------------------------------
// The default steps, continued

const finishContent = (d: Driver): Step => {
  const state = d.state
  if (state.headersSent) return Exit.void
  // CPython fails here too (on `None.setdefault`): an app that never started a response.
  if (state.status === null || state.headers === null) {
    return fail(new ProtocolError({ message: "The application returned without calling startResponse()" }))
  }
  const headers = state.headers
  return andThen(
    attempt(() => {
      if (!isBodylessStatus(state.status!)) headers.setDefault("Content-Length", "0")
    }),
    () => andThen(d.steps.sendHeaders(d), () => outputFlush(d))
  )
}

const resultIsFile = (d: Driver): boolean => {
  const wrapper = d.config.wsgiFileWrapper
  return wrapper !== null && d.state.result instanceof wrapper
}

/** A step's failure as a `Transmission`'s: user code's throw is an application error. */
const transmissionFailure = (failure: Failure): Effect.Effect<never, HandlerError | ClientDisconnected> =>
  failure instanceof Interrupted
    ? Effect.interrupt
    : Effect.fail(
      failure instanceof Thrown ? new ApplicationError({ message: describe(failure.cause), cause: failure.cause }) : failure
    )

const sendfile = (d: Driver): Step<boolean> =>
  fromEffect(
    (d.services.fileTransmitter ?? decline).transmit(d.state.result as FileWrapper, {
      sendHeaders: () => Effect.catchAll(toEffect(d.steps.sendHeaders(d)), transmissionFailure),
      addBytesSent: (count) => {
        d.state.bytesSent += count
      }
    }),
    d
  )

const clientIsModern = (d: Driver): boolean => {
  const protocol = d.state.environ?.["SERVER_PROTOCOL"]
  return protocol === "HTTP/1.1" || protocol === "HTTP/1.0" || String(protocol ?? "").toUpperCase() !== "HTTP/0.9"
}

const logException = (d: Driver, error: unknown): Step =>
  fromEffect(d.services.errorLog.logException(error, d.config.tracebackLimit), d)

const handleError = (d: Driver, error: unknown): Step =>
  andThen(d.steps.logException(d, error), () => {
    if (d.state.headersSent) return Exit.void
    const environ = d.state.environ ?? {}
    return andThen(
      andThen(attempt(() => d.steps.errorOutput(d, environ, d.startResponse, error)), settle),
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

const close = (d: Driver): Step => {
  const closed = closeResult(d)
  return succeeded(closed) ? resetState(d) : andThen(closed, () => resetState(d))
}

const resetState = (d: Driver): Step => {
  const state = d.state
  state.result = null
  state.headers = null
  state.status = null
  state.environ = null
  state.bytesSent = 0
  state.headersSent = false
  return Exit.void
}

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
  /** Where service effects that have to wait run (the default runtime unless given). */
  readonly runtime?: Runtime.Runtime<never>
}): Driver => {
  const d: Driver = {
    config: options.config,
    services: options.services,
    steps: options.steps ?? defaultSteps,
    state: options.state ?? emptyState(),
    clock: options.clock,
    runtime: options.runtime ?? Runtime.defaultRuntime,
    waiting: null,
    startResponse: (status, headers, excInfo) => d.steps.startResponse(d, status, headers, excInfo),
    write: (data) => writeFromApp(d, data),
    pendingWrites: undefined,
    writeFailure: undefined,
    closedResult: null,
    finished: false,
    interrupted: false,
    iterator: null,
    suppressBody: false
  }
  return d
}

// ---------------------------------------------------------------------------------------
// The `write()` callable

/** In call order, awaited or not; failures are kept for the handler. */
const writeFromApp = (d: Driver, data: Uint8Array): Promise<void> => {
  const pending = d.pendingWrites
  // Queued behind the writes still going out. The queued write must not go through
  // writeFromApp again: `pendingWrites` would then be its own tracking promise, and it
  // would wait for itself.
  if (pending !== undefined) return track(d, pending.then(() => writeNow(d, data)))
  const step = startWrite(d, data)
  return step instanceof Promise ? track(d, step.then((exit) => fromExit(d, exit))) : fromExit(d, step)
}

const writeNow = (d: Driver, data: Uint8Array): Promise<void> => {
  const step = startWrite(d, data)
  return step instanceof Promise ? step.then((exit) => fromExit(d, exit)) : fromExit(d, step)
}

const startWrite = (d: Driver, data: Uint8Array): Step => {
  if (d.finished) return fail(new ProtocolError({ message: "write() called after the response was finished" }))
  if (d.writeFailure !== undefined) return fail(d.writeFailure)
  return d.steps.write(d, data)
}

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
  if (exit._tag === "Success") return Promise.resolve()
  const error = failureOf(exit)
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
