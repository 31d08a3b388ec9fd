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
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type { Readable } from "node:stream"
import type { TextWritable } from "./ErrorLog.js"
import type { EnvironSourceShape } from "./EnvironSource.js"
import { FileWrapper } from "./FileWrapper.js"
import type { Handling, HandlerState, StepEffect } from "./Handler.js"
import { defaults, type FileWrapperClass, type HandlerConfig, type HeadersClass, processEnviron } from "./HandlerConfig.js"
import type { HandlerError } from "./HandlerError.js"
import { Headers } from "./Headers.js"
import type { ByteSink, OutputShape } from "./Output.js"
import * as Output from "./Output.js"
import type {
  Application,
  CgiVariables,
  Environ,
  ErrorStream,
  HeaderList,
  InputStream,
  ResponseBody,
  StartResponse,
  Write
} from "./Protocol.js"
import { HandlerErrorLog, HandlerInput, MethodEnvironSource, MethodOutput } from "./internal/compat/methodServices.js"
import { endRun, handlerSteps, runStep, runThen } from "./internal/compat/methodSteps.js"
import { readProcessEnviron } from "./internal/compat/readEnviron.js"
import { contentLength, isErrorStream, isInputStream, noStdout } from "./internal/compat/simpleStreams.js"
import { WritableErrorStream } from "./internal/compat/writableErrors.js"
import { copyRecord } from "./internal/environCopy.js"
import { handle, type LiveHandling, makeHandling, runtimeOf } from "./internal/core/program.js"
import { requestRuntime } from "./internal/core/requestRuntime.js"
import { defaultSteps } from "./internal/core/steps.js"
import { formatHttpDate } from "./internal/httpDate.js"
import { ReadableInputStream } from "./internal/readableInput.js"
import { flushSink, writeToSink } from "./internal/sink.js"

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
  osEnviron: Readonly<CgiVariables> = processEnviron
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

  #handling: LiveHandling | undefined

  /** The bound `startResponse` the constructor installed, to tell it from a real override. */
  readonly #boundStartResponse: BaseHandler["startResponse"]

  constructor() {
    // startResponse must work detached, as the app receives it.
    this.startResponse = this.#boundStartResponse = this.startResponse.bind(this)
  }

  /** Handle one request with `app`; resolves once the response is sent or handled. */
  run(app: Application): Promise<void> {
    // A request that never waited is over on return: one settled Promise, no second turn.
    try {
      const ended = runThen(
        requestRuntime,
        Effect.withFiberRuntime<void, HandlerError>((fiber) => handle(this.#newHandling(fiber), app)),
        (exit) => this.#ended(exit)
      )
      return ended instanceof Promise ? ended : Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** How `run` ends (throws what CPython's `run` raises). */
  #ended(exit: Exit.Exit<void, HandlerError>): void {
    // A method called after the run (CPython allows it) gets a handling of its own.
    this.#handling = undefined
    endRun(exit)
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

  // --- Overridable steps (defaults: the core's, run as Effects) ---
  /** Build `this.environ`. */
  setupEnviron(): void | Promise<void> {
    return this.#runDefault(defaultSteps.setupEnviron)
  }
  /** `wsgi.url_scheme`. */
  getScheme(): string {
    return defaultSteps.getScheme(this.#current())
  }
  /** PEP 3333 `start_response`; usable detached. */
  startResponse(status: string, headers: HeaderList, excInfo?: unknown): Write {
    const h = this.#current()
    defaultSteps.startResponse(h, status, headers, excInfo)
    return h.write
  }
  /** Send body bytes (headers first, the first time). */
  write(data: Uint8Array): void | Promise<void> {
    const h = this.#current()
    return runStep(runtimeOf(h), defaultSteps.write(h, data))
  }
  /** Send the status line (or CGI `Status:`) and the Date and Server headers. */
  sendPreamble(): void | Promise<void> {
    return this.#runDefault(defaultSteps.sendPreamble)
  }
  /** Send the preamble and the headers. */
  sendHeaders(): void | Promise<void> {
    return this.#runDefault(defaultSteps.sendHeaders)
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
    return this.#runDefault(defaultSteps.finishResponse)
  }
  /** After the body: send the headers if nothing was written. */
  finishContent(): void | Promise<void> {
    return this.#runDefault(defaultSteps.finishContent)
  }
  /** True when the result is a `wsgiFileWrapper` to hand to `sendfile`. */
  resultIsFile(): boolean {
    return defaultSteps.resultIsFile(this.#current())
  }
  /** Send a file result by a platform route; false (the default) to iterate it instead. */
  sendfile(): boolean | Promise<boolean> {
    return this.#runDefault(defaultSteps.sendfile)
  }
  /** False for HTTP/0.9 clients, which get no status line or headers. */
  clientIsModern(): boolean {
    return defaultSteps.clientIsModern(this.#current())
  }
  /** Write an exception report to `wsgi.errors`. */
  logException(error: unknown): void | Promise<void> {
    const h = this.#current()
    return runStep(runtimeOf(h), defaultSteps.logException(h, error))
  }
  /** Log the error, and send the error page if the headers are not out yet. */
  handleError(error: unknown): void | Promise<void> {
    const h = this.#current()
    return runStep(runtimeOf(h), defaultSteps.handleError(h, error))
  }
  /** Close the result (once) and reset the state. */
  close(): void | Promise<void> {
    return this.#runDefault(defaultSteps.close)
  }
  /** The error page, as an app; pass `error` on to `startResponse` as `excInfo`. */
  errorOutput(_environ: Environ, startResponse: StartResponse, error: unknown): ResponseBody | Promise<ResponseBody> {
    startResponse(this.errorStatus, this.errorHeaders.map(([name, value]) => [name, value]), error)
    return [this.errorBody]
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

  #runDefault<A>(step: (h: Handling) => StepEffect<A>): A | Promise<A> {
    const h = this.#current()
    return runStep(runtimeOf(h), step(h))
  }

  #current(): Handling {
    return this.#handling ?? this.#newHandling(null)
  }

  #newHandling(fiber: Fiber.RuntimeFiber<unknown, unknown> | null): LiveHandling {
    this.#handling = makeHandling(fiber, {
      config: this,
      steps: handlerSteps(this, BaseHandler.prototype, this.#boundStartResponse),
      services: {
        output: this.outputService(),
        input: new HandlerInput(this),
        errorLog: new HandlerErrorLog(this),
        environSource: this.environSourceService()
      },
      state: this
    })
    return this.#handling
  }
}

/**
 * What `SimpleHandler` accepts as stdin: an `InputStream`, or a Node `Readable`.
 *
 * @since 0.1.0
 * @category models
 */
export type StdinSource = InputStream | Readable

/**
 * What `SimpleHandler` accepts as stderr: an `ErrorStream`, or a Node writable.
 *
 * @since 0.1.0
 * @category models
 */
export type StderrSink = ErrorStream | TextWritable

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
  readonly baseEnv: Readonly<CgiVariables>

  constructor(
    stdin: StdinSource | null,
    stdout: ByteSink | null,
    stderr: StderrSink | null,
    environ: Readonly<CgiVariables>,
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
    return runStep(requestRuntime, writeToSink(this.stdout ?? noStdout, data))
  }
  override _flush(): void | Promise<void> {
    return runStep(requestRuntime, flushSink(this.stdout ?? noStdout))
  }

  protected override environSourceService(): EnvironSourceShape {
    // Unless addCgiVars is overridden, the handler lays baseEnv over osEnviron itself.
    return isSimpleHandlers(this, "addCgiVars")
      ? { variables: Effect.sync(() => copyRecord(this.baseEnv)) }
      : super.environSourceService()
  }

  protected override outputService(): OutputShape {
    // Unless _write/_flush are overridden, write to stdout without the method round trip.
    return isSimpleHandlers(this, "_write") && isSimpleHandlers(this, "_flush")
      ? Output.fromSink(this.stdout ?? noStdout)
      : super.outputService()
  }
}

/**
 * True when `handler`'s method `name` is SimpleHandler's own (not overridden). Out of the
 * class body on purpose: a class that names itself inside its body is bundled as
 * `class _SimpleHandler`, which would become its `name`.
 */
const isSimpleHandlers = (handler: SimpleHandler, name: "addCgiVars" | "_write" | "_flush"): boolean =>
  handler[name] === SimpleHandler.prototype[name]

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
  override osEnviron: Readonly<CgiVariables> = {}

  constructor(environ: Readonly<CgiVariables> = readEnviron()) {
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
