/**
 * The documented OO API of CPython's `wsgiref.handlers`: `BaseHandler` and its family.
 *
 * A thin shim over the Effect core: each instance is the core's state block and
 * configuration record, its primitive methods (`_write`, `getStdin`, …) become the five
 * services, and every overridable step a subclass (or an instance) replaces is put in the
 * core's step table. Steps left alone run the core's own code directly, so a plain
 * `SimpleHandler` costs no more than the Effect program.
 *
 * @since 0.1.0
 */
import { Effect, type Exit } from "effect"
import type { Readable } from "node:stream"
import * as ErrorLog from "./ErrorLog.js"
import type { ErrorLogShape } from "./ErrorLog.js"
import type { InputShape } from "./Input.js"
import type { EnvironSourceShape } from "./EnvironSource.js"
import { FileWrapper } from "./FileWrapper.js"
import {
  defaults,
  type FileWrapperClass,
  type HandlerConfig,
  type HeadersClass,
  processEnviron
} from "./HandlerConfig.js"
import {
  ApplicationError,
  ClientDisconnected,
  type HandlerError,
  OutputError,
  ResponseAborted,
  isClientGone
} from "./HandlerError.js"
import { Headers } from "./Headers.js"
import type { OutputShape } from "./Output.js"
import * as Output from "./Output.js"
import type {
  Application,
  Environ,
  ErrorStream,
  HeaderList,
  InputStream,
  ResponseBody,
  StartResponse,
  Write
} from "./Protocol.js"
import { type Driver, defaultSteps, type HandlerState, makeDriver, runDriver, type Services, type Steps } from "./internal/handler.js"
import {
  andThen,
  attempt,
  type Failure,
  failureOf,
  fromEffect,
  settle,
  type Step,
  Thrown,
  toFailure,
  unwrap
} from "./internal/step.js"
import { formatDateTime as formatHttpDate, systemClock } from "./internal/httpDate.js"
import { ReadableInputStream } from "./internal/readableInput.js"
import { readEnviron as readProcessEnviron } from "./internal/readEnviron.js"
import { type ByteSink, flushSink, toOutputFailure, writeToSink } from "./internal/sink.js"
import { isPromiseLike } from "./internal/bytes.js"
import { WritableErrorStream, type TextWritable } from "./internal/writableErrors.js"

/**
 * Thrown by the methods a `BaseHandler` subclass must override.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotImplementedError extends Error {
  override readonly name = "NotImplementedError"
}

/**
 * The process environment with request variables as PEP 3333 native strings, as
 * CPython's `read_environ`.
 *
 * @since 0.1.0
 * @category utils
 */
export const readEnviron = (): Record<string, string> => readProcessEnviron()

/**
 * An RFC 7231 HTTP date for seconds since the epoch (`Sun, 06 Nov 1994 08:49:37 GMT`).
 *
 * @since 0.1.0
 * @category utils
 */
export const formatDateTime = (epochSeconds: number): string => formatHttpDate(epochSeconds)


/** Gateway-side code that throws EPIPE and friends means the client left. */
const toGatewayFailure = (cause: unknown): Failure =>
  cause instanceof Thrown || !isClientGone(cause) ? toFailure(cause) : new ClientDisconnected({ cause })

/** A method's result (value or Promise) as a step. */
const callMethod = <A>(call: () => A | PromiseLike<A>): Step<A> =>
  andThen(attempt(call, toGatewayFailure), (value) => settle(value, toGatewayFailure))

/** `_write`/`_flush` as an output effect: anything they throw is an output failure. */
const callOutput = (call: () => void | PromiseLike<void>): Effect.Effect<void, OutputError | ClientDisconnected> => {
  try {
    const value = call()
    return isPromiseLike(value)
      ? Effect.tryPromise({ try: () => Promise.resolve(value), catch: toOutputFailure })
      : Effect.void
  } catch (cause) {
    return Effect.fail(toOutputFailure(cause))
  }
}

/** Run a core step from a method: its value, or a Promise of it; failures are thrown. */
const runStep = <A>(step: Step<A>): A | Promise<A> => (step instanceof Promise ? step.then(exitValue) : exitValue(step))

const exitValue = <A>(exit: Exit.Exit<A, Failure>): A => {
  if (exit._tag === "Success") return exit.value
  throw unwrap(failureOf(exit))
}

/** How `run` ends: handled errors return, as CPython's `run` does; others are thrown. */
const endRun = (exit: Exit.Exit<void, HandlerError>): void => {
  if (exit._tag === "Success") return
  const error = failureOf(exit)
  if (error instanceof ResponseAborted) return
  // Python re-raises what handle_error raised; give back the raw error, not our wrapper.
  throw error instanceof ApplicationError || error instanceof OutputError ? error.cause : error
}

/** `endRun` for a request that finished at once. */
const settleRun = (exit: Exit.Exit<void, HandlerError>): Promise<void> => {
  try {
    endRun(exit)
    return Promise.resolve()
  } catch (error) {
    return Promise.reject(error)
  }
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

/**
 * CPython's `wsgiref.handlers.BaseHandler`: manages the invocation of a PEP 3333 app.
 * Subclasses provide `_write`, `_flush`, `getStdin`, `getStderr` and `addCgiVars`; any
 * other step can be overridden on a subclass or on an instance.
 *
 * @since 0.1.0
 * @category handlers
 */
export class BaseHandler implements HandlerState, HandlerConfig {
  // --- Configuration (override per subclass or per instance) ---
  /** `wsgi.version`. */
  wsgiVersion: readonly [number, number] = defaults.wsgiVersion
  /** `wsgi.multithread`. */
  wsgiMultithread = true
  /** `wsgi.multiprocess`. */
  wsgiMultiprocess = true
  /** `wsgi.run_once`. */
  wsgiRunOnce = false
  /** True for an HTTP server (status line), false for CGI (`Status:`). */
  originServer = true
  /** The version of the status line an origin server sends. */
  httpVersion = "1.0"
  /** The `Server` header and default `SERVER_SOFTWARE` of an origin server. */
  serverSoftware: string | null = null
  /** The base of every environ: the process environment at module load. */
  osEnviron: Readonly<Environ> = processEnviron
  /** `wsgi.file_wrapper` (left out when null). */
  wsgiFileWrapper: FileWrapperClass | null = FileWrapper
  /** The class of `headers`. */
  headersClass: HeadersClass = Headers
  /** How many stack frames an exception report keeps (all when null). */
  tracebackLimit: number | null = null
  /** The status of the error page. */
  errorStatus = "500 Internal Server Error"
  /** The headers of the error page (one list shared by every handler, as CPython's class attribute). */
  errorHeaders: HeaderList = defaults.errorHeaders
  /** The body of the error page (shared, as the defaults are). */
  errorBody: Uint8Array = defaults.errorBody

  // --- State (one request at a time) ---
  /** The status the app gave. */
  status: string | null = null
  /** The response headers. */
  headers: Headers | null = null
  /** True once the status line and headers went out. */
  headersSent = false
  /** Body bytes sent so far. */
  bytesSent = 0
  /** What the app returned. */
  result: ResponseBody | null = null
  /** The environ of the request. */
  environ: Environ | null = null

  #driver: Driver | undefined

  /** The bound `startResponse` the constructor installed, to tell it from a real override. */
  readonly #boundStartResponse: BaseHandler["startResponse"]

  constructor() {
    // startResponse must work detached, as the app receives it.
    this.startResponse = this.#boundStartResponse = this.startResponse.bind(this)
  }

  /** Handle one request with `app`; resolves once the response is sent or handled. */
  run(app: Application): Promise<void> {
    const outcome = runDriver(this.#newDriver(), app)
    return outcome instanceof Promise ? outcome.then(endRun) : settleRun(outcome)
  }

  // --- Must be overridden ---
  /** Write bytes to the client (may return a Promise for backpressure). */
  _write(_data: Uint8Array): void | Promise<void> {
    throw new NotImplementedError("_write() must be overridden")
  }
  /** Push buffered output to the client. */
  _flush(): void | Promise<void> {
    throw new NotImplementedError("_flush() must be overridden")
  }
  /** The `wsgi.input` of the request. */
  getStdin(): InputStream {
    throw new NotImplementedError("getStdin() must be overridden")
  }
  /** The `wsgi.errors` of the request. */
  getStderr(): ErrorStream {
    throw new NotImplementedError("getStderr() must be overridden")
  }
  /** Add the request's CGI variables to `this.environ`. */
  addCgiVars(): void {
    throw new NotImplementedError("addCgiVars() must be overridden")
  }

  // --- Overridable steps (defaults: the core's) ---
  /** Build `this.environ`. */
  setupEnviron(): void {
    defaultSteps.setupEnviron(this.#current())
  }
  /** `wsgi.url_scheme`. */
  getScheme(): string {
    return defaultSteps.getScheme(this.#current())
  }
  /** PEP 3333 `start_response`; usable detached. */
  startResponse(status: string, headers: HeaderList, excInfo?: unknown): Write {
    return defaultSteps.startResponse(this.#current(), status, headers, excInfo)
  }
  /** Send body bytes (headers first, the first time). */
  write(data: Uint8Array): void | Promise<void> {
    return runStep(defaultSteps.write(this.#current(), data))
  }
  /** Send the status line (or CGI `Status:`) and the Date and Server headers. */
  sendPreamble(): void | Promise<void> {
    return runStep(defaultSteps.sendPreamble(this.#current()))
  }
  /** Send the preamble and the headers. */
  sendHeaders(): void | Promise<void> {
    return runStep(defaultSteps.sendHeaders(this.#current()))
  }
  /** Last changes to the headers before they go out (adds Content-Length when it can). */
  cleanupHeaders(): void {
    defaultSteps.cleanupHeaders(this.#current())
  }
  /** Set Content-Length when the result is a one-chunk array. */
  setContentLength(): void {
    defaultSteps.setContentLength(this.#current())
  }
  /** Send the whole result, then close it. */
  finishResponse(): void | Promise<void> {
    return runStep(defaultSteps.finishResponse(this.#current()))
  }
  /** After the body: send the headers if nothing was written. */
  finishContent(): void | Promise<void> {
    return runStep(defaultSteps.finishContent(this.#current()))
  }
  /** True when the result is a `wsgiFileWrapper` to hand to `sendfile`. */
  resultIsFile(): boolean {
    return defaultSteps.resultIsFile(this.#current())
  }
  /** Send a file result by a platform route; false (the default) to iterate it instead. */
  sendfile(): boolean | Promise<boolean> {
    return runStep(defaultSteps.sendfile(this.#current()))
  }
  /** False for HTTP/0.9 clients, which get no status line or headers. */
  clientIsModern(): boolean {
    return defaultSteps.clientIsModern(this.#current())
  }
  /** Write an exception report to `wsgi.errors`. */
  logException(error: unknown): void | Promise<void> {
    return runStep(defaultSteps.logException(this.#current(), error))
  }
  /** Log the error, and send the error page if the headers are not out yet. */
  handleError(error: unknown): void | Promise<void> {
    return runStep(defaultSteps.handleError(this.#current(), error))
  }
  /** Close the result (once) and reset the state. */
  close(): void | Promise<void> {
    return runStep(defaultSteps.close(this.#current()))
  }
  /** The error page, as an app; pass `error` on to `startResponse` as `excInfo`. */
  errorOutput(environ: Environ, startResponse: StartResponse, error: unknown): ResponseBody | Promise<ResponseBody> {
    return defaultSteps.errorOutput(this.#current(), environ, startResponse, error)
  }

  // --- Wiring to the core ---
  /** The `Output` service: `_write`/`_flush`, or a subclass's faster route. */
  protected outputService(): OutputShape {
    return new MethodOutput(this)
  }

  /** The `EnvironSource` service: `addCgiVars`, or a subclass's faster route. */
  protected environSourceService(): EnvironSourceShape {
    return new MethodEnvironSource(this)
  }

  #current(): Driver {
    return this.#driver ?? this.#newDriver()
  }

  #newDriver(): Driver {
    const services: Services = {
      output: this.outputService(),
      input: new HandlerInput(this),
      errorLog: new HandlerErrorLog(this),
      environSource: this.environSourceService()
    }
    this.#driver = makeDriver({ config: this, services, clock: systemClock, steps: this.#steps(), state: this })
    return this.#driver
  }

  /** The core's steps, with this class's and this instance's overrides in place. */
  #steps(): Steps {
    const prototype = Object.getPrototypeOf(this) as BaseHandler
    let steps = stepsOfClass.get(prototype)
    if (steps === undefined) {
      steps = withOverrides(defaultSteps, (name) => prototype[name] !== BaseHandler.prototype[name])
      stepsOfClass.set(prototype, steps)
    }
    // An instance may override a step too (a method assigned to it), as in Python.
    if (!this.#mayOverride(prototype)) return steps
    const ownOverride = (name: StepName): boolean =>
      Object.hasOwn(this, name) && !(name === "startResponse" && this.startResponse === this.#boundStartResponse)
    return withOverrides(steps, ownOverride)
  }

  /**
   * True when some step of this instance is not its class's: written out name by name,
   * because named property loads are cheap and this runs on every request.
   */
  #mayOverride(prototype: BaseHandler): boolean {
    return this.setupEnviron !== prototype.setupEnviron || this.getScheme !== prototype.getScheme ||
      this.startResponse !== this.#boundStartResponse || this.write !== prototype.write ||
      this.sendPreamble !== prototype.sendPreamble || this.sendHeaders !== prototype.sendHeaders ||
      this.cleanupHeaders !== prototype.cleanupHeaders || this.setContentLength !== prototype.setContentLength ||
      this.finishResponse !== prototype.finishResponse || this.finishContent !== prototype.finishContent ||
      this.resultIsFile !== prototype.resultIsFile || this.sendfile !== prototype.sendfile ||
      this.clientIsModern !== prototype.clientIsModern || this.logException !== prototype.logException ||
      this.handleError !== prototype.handleError || this.close !== prototype.close ||
      this.errorOutput !== prototype.errorOutput
  }
}

type StepName = (typeof overridable)[number]

/** The step table of each handler class, computed once. */
const stepsOfClass = new WeakMap<object, Steps>()

/** The handler whose steps run: the driver's state block is the handler itself. */
const handlerOf = (d: Driver): BaseHandler => d.state as BaseHandler

/** Every step as a call of the handler's method. */
const methodSteps: Steps = {
  setupEnviron: (d) => handlerOf(d).setupEnviron(),
  getScheme: (d) => handlerOf(d).getScheme(),
  startResponse: (d, status, headers, excInfo) => handlerOf(d).startResponse(status, headers, excInfo),
  write: (d, data) => callMethod(() => handlerOf(d).write(data)),
  sendPreamble: (d) => callMethod(() => handlerOf(d).sendPreamble()),
  sendHeaders: (d) => callMethod(() => handlerOf(d).sendHeaders()),
  cleanupHeaders: (d) => handlerOf(d).cleanupHeaders(),
  setContentLength: (d) => handlerOf(d).setContentLength(),
  finishResponse: (d) => callMethod(() => handlerOf(d).finishResponse()),
  finishContent: (d) => callMethod(() => handlerOf(d).finishContent()),
  resultIsFile: (d) => handlerOf(d).resultIsFile(),
  sendfile: (d) => callMethod(() => handlerOf(d).sendfile()),
  clientIsModern: (d) => handlerOf(d).clientIsModern(),
  logException: (d, error) => callMethod(() => handlerOf(d).logException(error)),
  handleError: (d, error) => callMethod(() => handlerOf(d).handleError(error)),
  close: (d) => callMethod(() => handlerOf(d).close()),
  errorOutput: (d, environ, startResponse, error) => handlerOf(d).errorOutput(environ, startResponse, error)
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

/** `wsgi.input`: the handler's `getStdin()`. */
class HandlerInput implements InputShape {
  constructor(private readonly handler: BaseHandler) {}
  get stream(): InputStream {
    return this.handler.getStdin()
  }
}

/** `wsgi.errors` is `getStderr()` itself, as in CPython, asked for when needed. */
class HandlerErrorLog implements ErrorLogShape {
  constructor(private readonly handler: BaseHandler) {}
  get stream(): ErrorStream {
    return this.handler.getStderr()
  }
  logException(error: unknown, tracebackLimit: number | null): Effect.Effect<void, OutputError> {
    let stderr: ErrorStream
    try {
      stderr = this.handler.getStderr()
    } catch (cause) {
      return Effect.fail(new OutputError({ message: "getStderr() failed", cause }))
    }
    return ErrorLog.fromStream(stderr).logException(error, tracebackLimit)
  }
}

/** Output through the handler's `_write` and `_flush`. */
class MethodOutput implements OutputShape {
  constructor(private readonly handler: BaseHandler) {}
  write(data: Uint8Array): Effect.Effect<void, OutputError | ClientDisconnected> {
    return callOutput(() => this.handler._write(data))
  }
  flush(): Effect.Effect<void, OutputError | ClientDisconnected> {
    return callOutput(() => this.handler._flush())
  }
}

/** The request variables through the handler's `addCgiVars` (and `variables` when known). */
class MethodEnvironSource implements EnvironSourceShape {
  constructor(private readonly handler: BaseHandler, readonly variables?: Readonly<Environ>) {}
  addCgiVars(): void {
    this.handler.addCgiVars()
  }
}

/** What `SimpleHandler` accepts as stdin. */
type StdinSource = InputStream | Readable

/** What `SimpleHandler` accepts as stderr. */
type StderrSink = ErrorStream | TextWritable

const isInputStream = (value: StdinSource): value is InputStream =>
  typeof (value as InputStream).readline === "function" && typeof (value as InputStream).readlines === "function"

const isErrorStream = (value: StderrSink): value is ErrorStream =>
  typeof (value as ErrorStream).writelines === "function" && typeof (value as ErrorStream).flush === "function"

const contentLength = (environ: Readonly<Environ>): number => {
  const value = environ["CONTENT_LENGTH"]
  const length = typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  return Number.isSafeInteger(length) ? length : Infinity
}

/** Where a SimpleHandler made without a stdout writes: nowhere, as an output error. */
const noStdout: ByteSink = {
  write() {
    throw new Error("this handler has no stdout")
  }
}

/**
 * CPython's `SimpleHandler`: a handler over given streams and environ, for synchronous
 * HTTP/1.0 origin servers. stdin is an `InputStream` or a Node `Readable` (read no further
 * than CONTENT_LENGTH); stdout a Node `Writable` (waits for "drain") or any
 * `{ write(chunk); flush?() }` (partial writes are finished); stderr an `ErrorStream` or a
 * Node `Writable`. Any of the three may be null when it is not used, as Python's None (a
 * write to a null stdout is an output error).
 *
 * @since 0.1.0
 * @category handlers
 */
export class SimpleHandler extends BaseHandler {
  /** `wsgi.input`. */
  readonly stdin: InputStream | null
  /** Where the response goes. */
  readonly stdout: ByteSink | null
  /** `wsgi.errors`. */
  readonly stderr: ErrorStream | null
  /** The CGI variables `addCgiVars` adds. */
  readonly baseEnv: Readonly<Environ>

  constructor(
    stdin: StdinSource | null,
    stdout: ByteSink | null,
    stderr: StderrSink | null,
    environ: Readonly<Environ>,
    options: { readonly multithread?: boolean; readonly multiprocess?: boolean } = {}
  ) {
    super()
    this.stdin = stdin === null ? null : isInputStream(stdin) ? stdin : new ReadableInputStream(stdin, contentLength(environ))
    this.stdout = stdout
    this.stderr = stderr === null || isErrorStream(stderr) ? stderr : new WritableErrorStream(stderr)
    this.baseEnv = environ
    this.wsgiMultithread = options.multithread ?? true
    this.wsgiMultiprocess = options.multiprocess ?? false
  }

  override getStdin(): InputStream {
    return this.stdin as InputStream
  }
  override getStderr(): ErrorStream {
    return this.stderr as ErrorStream
  }
  override addCgiVars(): void {
    Object.assign(this.environ!, this.baseEnv)
  }
  override _write(data: Uint8Array): void | Promise<void> {
    return runStep(fromEffect(writeToSink(this.stdout ?? noStdout, data)))
  }
  override _flush(): void | Promise<void> {
    return runStep(fromEffect(flushSink(this.stdout ?? noStdout)))
  }

  protected override environSourceService(): EnvironSourceShape {
    // Unless addCgiVars is overridden, the handler lays baseEnv over osEnviron itself.
    return this.addCgiVars === SimpleHandler.prototype.addCgiVars
      ? new MethodEnvironSource(this, this.baseEnv)
      : super.environSourceService()
  }

  protected override outputService(): OutputShape {
    // Unless _write/_flush are overridden, write to stdout without the method round trip.
    return this._write === SimpleHandler.prototype._write && this._flush === SimpleHandler.prototype._flush
      ? Output.fromSink(this.stdout ?? noStdout)
      : super.outputService()
  }
}

/**
 * CPython's `BaseCGIHandler`: a `SimpleHandler` that is not an origin server (it sends
 * `Status:` instead of a status line).
 *
 * @since 0.1.0
 * @category handlers
 */
export class BaseCGIHandler extends SimpleHandler {
  override originServer = false
}

/**
 * CPython's `CGIHandler`: runs an app as a CGI script, on the process's stdio and
 * environment.
 *
 * @since 0.1.0
 * @category handlers
 */
export class CGIHandler extends BaseCGIHandler {
  override wsgiRunOnce = true
  override osEnviron: Readonly<Environ> = {}

  constructor(environ: Readonly<Environ> = readEnviron()) {
    super(process.stdin, process.stdout, process.stderr, environ, { multithread: false, multiprocess: true })
  }

  /** Handle the request, then stop reading stdin so the script can exit even if it is open. */
  override run(app: Application): Promise<void> {
    return super.run(app).finally(() => {
      process.stdin.pause()
    })
  }
}

/**
 * CPython's `IISCGIHandler`: a `CGIHandler` that undoes IIS's habit of putting
 * SCRIPT_NAME in front of PATH_INFO.
 *
 * @since 0.1.0
 * @category handlers
 */
export class IISCGIHandler extends CGIHandler {
  constructor(environ: Record<string, unknown> = readEnviron()) {
    const fixed = { ...environ }
    const path = typeof fixed["PATH_INFO"] === "string" ? fixed["PATH_INFO"] : ""
    const script = typeof fixed["SCRIPT_NAME"] === "string" ? fixed["SCRIPT_NAME"] : ""
    if (`${path}/`.startsWith(`${script}/`)) fixed["PATH_INFO"] = path.slice(script.length)
    super(fixed)
  }
}
