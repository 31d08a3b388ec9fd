/**
 * The one `node:http` request handler behind both `toNodeListener` and `makeServer`.
 *
 * Everything that does not depend on the request (configuration, steps, error log, and the
 * `Runtime` they make) is built once per gateway. Per request there is the environ, a
 * `NodeOutput`, a body stream when the request has one, and one fiber running the core
 * program (`runWith`) on that runtime; a synchronous app on a socket that takes its bytes
 * at once has finished when `runFork` returns (its exit is polled), else the fiber's
 * observer completes the response.
 */
import cluster from "node:cluster"
import type { IncomingMessage, ServerResponse } from "node:http"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import { type ErrorLogShape, fromWritable } from "../../ErrorLog.js"
import { CurrentSteps, runWith } from "../../Handler.js"
import { CurrentHandlerConfig, type HandlerConfig, make as makeConfig } from "../../HandlerConfig.js"
import type { HandlerError } from "../../HandlerError.js"
import { fromStream, type InputShape } from "../../Input.js"
import type { Application, CgiVariables } from "../../Protocol.js"
import type { TextWritable } from "../../ErrorLog.js"
import { PullInputStream } from "../pullInput.js"
import { mountPoint, type ServerIdentity } from "../requestEnviron.js"
import { formatAccessLine, formatLogLine } from "./accessLog.js"
import { NodeRequestBody } from "./nodeInput.js"
import { type ConnectionPolicy, NodeOutput } from "./nodeOutput.js"
import { NodeTransmitter } from "./nodeTransmitter.js"
import type { GatewayRequest, GatewayResponse } from "./exchange.js"
import type { StreamRequest, StreamResponse } from "./http2Exchange.js"
import { ASTERISK, checkRequest, checkStream, type Connection, connectionOf, type Framing, type Refusal, settled } from "./requestGuard.js"
import { protocolOf, RequestVariables } from "./requestVariables.js"
import { ServerIdentities } from "./serverIdentity.js"
import { refusal, serverSteps, STATUS_TOO_LARGE } from "./serverSteps.js"
import { type ProxiedSocket, proxiedVariables, tlsVariablesOf } from "./connectionVariables.js"
import { noVariables } from "../environCopy.js"
import { requestFlags } from "../core/requestRuntime.js"

/** The package version, for `Server` and `SERVER_SOFTWARE`. */
export const VERSION = "0.1.0"

/** `effect-wsgi/0.1.0 Node.js/v20.x.y`, as CPython's `WSGIServer/0.2 CPython/3.11.7`. */
export const defaultServerSoftware = `effect-wsgi/${VERSION} Node.js/${process.version}`

/** What a gateway is told (the public options, with their defaults still to apply). */
export interface GatewayOptions {
  readonly errorLog?: ErrorLogShape | TextWritable | undefined
  readonly accessLog?: boolean | ((line: string) => void) | undefined
  readonly maxBodySize?: number | undefined
  readonly drainLimit?: number | undefined
  readonly serverSoftware?: string | undefined
  readonly osEnviron?: Readonly<CgiVariables> | undefined
  readonly forwardedAllowIps?: ReadonlyArray<string> | undefined
  readonly responseTimeout?: number | undefined
  readonly multiprocess?: boolean | undefined
}

/** Default of `maxBodySize`: 64 MiB. */
export const DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024
/** Default of `drainLimit`: 64 KiB. */
export const DEFAULT_DRAIN_LIMIT = 64 * 1024

const isErrorLog = (value: ErrorLogShape | TextWritable): value is ErrorLogShape =>
  typeof (value as ErrorLogShape).logException === "function" && typeof (value as ErrorLogShape).stream === "object"

const stderrLine = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

/** A request without a body shares one empty, stateless `wsgi.input`. */
const noBody: InputShape = fromStream(new PullInputStream(null))

// The connection whose pending count a response holds, until it settles (closes).
const pendingOn = Symbol("effect-wsgi/pendingOn")

interface PendingResponse extends ServerResponse {
  [pendingOn]?: Connection | undefined
}

/** A response is done with: its connection has one response less in flight (once). */
const settleResponse = (response: PendingResponse): void => {
  const connection = response[pendingOn]
  if (connection === undefined) return
  response[pendingOn] = undefined
  settled(connection)
}

// One listener function for every response (no closure per request).
function onResponseClose(this: PendingResponse): void {
  settleResponse(this)
}

/** The handler shared by every request of one listener or server. */
export class Gateway implements ConnectionPolicy {
  /** True once the server started closing: responses no longer keep connections alive. */
  closing = false
  /** Called after each response while closing (the server closes idle connections). */
  onIdleWhileClosing: (() => void) | null = null
  /** SERVER_NAME and SERVER_PORT when fixed (makeServer); else read from each socket. */
  identity: ServerIdentity | null = null

  readonly config: HandlerConfig
  readonly errorLog: ErrorLogShape
  readonly accessLog: ((line: string) => void) | null
  readonly maxBodySize: number
  readonly drainLimit: number
  readonly serverSoftware: string
  readonly forwardedAllowIps: ReadonlyArray<string>
  /** True when the server listens on a unix socket (set by makeServer): its peers have no address. */
  unixSocket = false
  /** Milliseconds a request may take to its last response byte (0: no limit). */
  readonly responseTimeout: number
  /** The two refusals, as apps. */
  private readonly tooLarge: Application
  private readonly badRequest: Application
  /** SERVER_NAME and SERVER_PORT by the listening server (when makeServer did not fix them). */
  private readonly identities: ServerIdentities
  /** The runtime every request runs on, built once: the server's configuration and steps. */
  private readonly runtime: Runtime.Runtime<never>

  constructor(readonly app: Application, options: GatewayOptions = {}) {
    this.serverSoftware = options.serverSoftware ?? defaultServerSoftware
    this.identities = new ServerIdentities(this.serverSoftware)
    this.config = makeConfig({
      httpVersion: "1.1",
      serverSoftware: this.serverSoftware,
      wsgiMultithread: true,
      // A node:cluster worker shares its app with the other workers' processes.
      wsgiMultiprocess: options.multiprocess ?? cluster.isWorker,
      wsgiRunOnce: false,
      originServer: true,
      osEnviron: options.osEnviron ?? noVariables
    })
    const errorLog = options.errorLog ?? process.stderr
    this.errorLog = isErrorLog(errorLog) ? errorLog : fromWritable(errorLog)
    const accessLog = options.accessLog ?? false
    this.accessLog = accessLog === true ? stderrLine : accessLog === false ? null : accessLog
    this.maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY_SIZE
    this.drainLimit = options.drainLimit ?? DEFAULT_DRAIN_LIMIT
    this.forwardedAllowIps = options.forwardedAllowIps ?? []
    this.responseTimeout = options.responseTimeout ?? 0
    this.tooLarge = refusal(STATUS_TOO_LARGE, "The request body is too large.")
    this.badRequest = refusal("400 Bad Request", "The request cannot be framed.")
    this.runtime = Runtime.make({
      context: Context.make(CurrentHandlerConfig, this.config).pipe(Context.add(CurrentSteps, serverSteps(this.accessLog !== null))),
      fiberRefs: Runtime.defaultRuntime.fiberRefs,
      runtimeFlags: requestFlags
    })
  }

  /**
   * Handle one request; `expectContinue` when the client waits for `100 Continue` from us.
   * `originalUrl` is the request's `originalUrl` when a router may have handed it on
   * (`toNodeListener`: Express and connect keep the target there and strip their mount
   * point from `url`); makeServer passes none.
   */
  handle(request: IncomingMessage, response: ServerResponse, expectContinue: boolean, originalUrl?: unknown): void {
    // Count the responses in flight on the connection, so refusals wait for them.
    const connection = connectionOf(request.socket)
    connection.pending++
    connection.current = request
    ;(response as PendingResponse)[pendingOn] = connection
    // "close" comes once per response: a plain listener, without once()'s wrapper.
    response.on("close", onResponseClose)
    // Parsed after a refusal was decided (pipelined behind it): never served, never answered.
    if (connection.refused) return
    const verdict = checkRequest(request)
    if (verdict === ASTERISK) return this.answerAsterisk(request, response)
    if (verdict.kind === "refusal") return this.refuseRequest(request, response, verdict)
    if (!request.complete && verdict.transferEncoding !== undefined) {
      // A chunked body: its first chunks may have come in the same packet. Wait one turn so
      // node parses them first; a malformed one then refuses the request before any app runs.
      connection.deferred = request
      setImmediate(() => {
        if (connection.deferred === request) connection.deferred = null
        if (connection.refused && !request.complete) {
          // Its own body was malformed: no app runs, and the refusal answers it.
          settleResponse(response as PendingResponse)
          return
        }
        this.serve(request, response, expectContinue, verdict, connection, originalUrl)
      })
      return
    }
    this.serve(request, response, expectContinue, verdict, connection, originalUrl)
  }

  /**
   * Handle one HTTP/2 stream (as `http2Exchange.ts` wraps it): checked by HTTP/2's rules, then served exactly as an HTTP/1.1 request is. A
   * stream is on its own: nothing orders it behind the others of its session, and refusing
   * it refuses nothing else.
   */
  handleStream(request: StreamRequest, response: StreamResponse, expectContinue: boolean): void {
    const verdict = checkStream(request)
    if (verdict === ASTERISK) return this.answerAsterisk(request, response)
    if (verdict.kind === "refusal") {
      this.logLine(formatLogLine(request.socket.remoteAddress ?? "-", `code ${verdict.status}, message ${verdict.reason} (${verdict.why})`))
      response.writeHead(verdict.status, verdict.reason, { "Content-Length": "0" })
      response.end()
      return
    }
    this.serve(request, response, expectContinue, verdict, null, undefined)
  }

  /** Refuse a request before any app sees it: one log line, an empty response, close. */
  refuseRequest(request: IncomingMessage, response: ServerResponse, refusal: Refusal): void {
    const connection = connectionOf(request.socket)
    connection.refused = true
    this.logLine(formatLogLine(request.socket.remoteAddress ?? "-", `code ${refusal.status}, message ${refusal.reason} (${refusal.why})`))
    response.shouldKeepAlive = false
    response.writeHead(refusal.status, refusal.reason, { "Content-Length": "0" })
    response.end()
  }

  /** `OPTIONS *` asks about the server itself, not a resource of the app: an empty 200. */
  private answerAsterisk(request: GatewayRequest, response: GatewayResponse): void {
    response.writeHead(200, "OK", { "Content-Length": "0" })
    response.end()
    const log = this.accessLog
    if (log !== null) {
      try {
        log(formatAccessLine(request.socket.remoteAddress ?? "-", `OPTIONS * HTTP/${request.httpVersion}`, "200", 0))
      } catch (error) {
        this.report(error)
      }
    }
  }

  private serve(
    request: GatewayRequest,
    response: GatewayResponse,
    expectContinue: boolean,
    framing: Framing,
    // Null for an HTTP/2 stream: it has no HTTP/1.1 connection state.
    connection: Connection | null,
    originalUrl: unknown
  ): void {
    const { contentLength, transferEncoding } = framing
    const socket = request.socket
    const remoteAddress = socket.remoteAddress ?? ""
    const output = new NodeOutput(this, request, response)
    let app = this.app
    let input = noBody
    // checkRequest let only one final `chunked` through.
    const chunked = transferEncoding !== undefined
    if (chunked) {
      input = output.body = new NodeRequestBody(request, Infinity, this.maxBodySize, expectContinue ? output : null)
    } else if (contentLength !== undefined) {
      const length = Number(contentLength)
      if (!/^\d+$/.test(contentLength.trim()) || !Number.isSafeInteger(length)) {
        app = this.badRequest
        output.forceClose = true
      } else if (length > this.maxBodySize) {
        // Refused before the app runs, and before the client sends it (no 100 Continue).
        app = this.tooLarge
        output.forceClose = true
      } else if (length > 0) {
        input = output.body = new NodeRequestBody(request, length, this.maxBodySize, expectContinue ? output : null)
      }
    }

    const target = request.url ?? "/"
    const variables = new RequestVariables(
      this,
      request.method ?? "GET",
      target,
      protocolOf(request.httpVersion),
      request.rawHeaders,
      remoteAddress,
      this.identity ?? this.socketIdentity(request, connection),
      // Worked out once per connection, and only on an encrypted one.
      (socket as ProxiedSocket)[proxiedVariables] ?? ((socket as { encrypted?: boolean }).encrypted === true ? tlsVariablesOf(socket) : null)
    )
    variables.chunked = chunked
    // Mounted by a router: the part of the target it stripped is SCRIPT_NAME.
    if (typeof originalUrl === "string" && originalUrl !== target) variables.mount = mountPoint(originalUrl, target)

    const fiber = Runtime.runFork(this.runtime)(
      runWith(app, { output, input, errorLog: this.errorLog, environSource: variables, fileTransmitter: new NodeTransmitter(output) })
    )
    const exit = fiber.unsafePoll()
    if (exit !== null) {
      this.complete(output, exit)
      return
    }
    output.goAsync()
    if (this.responseTimeout > 0) {
      const timer = setTimeout(() => this.timeOut(output, () => fiber.unsafeInterruptAsFork(FiberId.none)), this.responseTimeout)
      fiber.addObserver((exit) => {
        clearTimeout(timer)
        this.complete(output, exit)
      })
    } else {
      fiber.addObserver((exit) => this.complete(output, exit))
    }
  }

  /**
   * `responseTimeout` passed: 503 when no response byte went out yet, else the connection
   * is cut (the client must not take a partial response for a whole one); the request is
   * interrupted, so its body is stopped and closed. One log line.
   */
  private timeOut(output: NodeOutput, interrupt: () => void): void {
    const response = output.response
    if (response.writableEnded || response.destroyed) return
    output.timedOut = true
    const started = response.headersSent
    const peer = output.request.socket?.remoteAddress ?? "-"
    const what = started ? "response cut" : "no response"
    this.logLine(formatLogLine(peer, `code 503, message Service Unavailable (${what} after ${this.responseTimeout} ms)`))
    if (started) response.destroy()
    else {
      response.shouldKeepAlive = false
      response.writeHead(503, "Service Unavailable", { "Content-Length": "0" })
      response.end()
    }
    interrupt()
  }

  /** The access log line of a response (once), if the access log is on. */
  logAccess(output: NodeOutput, status: string | null, size: number): void {
    const log = this.accessLog
    if (log === null || output.logged) return
    output.logged = true
    const request = output.request
    const space = status === null ? -1 : status.indexOf(" ")
    const code = status === null ? "-" : space === -1 ? status : status.slice(0, space)
    const line = formatAccessLine(
      request.socket?.remoteAddress ?? "-",
      `${request.method} ${request.url} HTTP/${request.httpVersion}`,
      code,
      size
    )
    try {
      log(line)
    } catch (error) {
      this.report(error)
    }
  }

  /** Write an error report to the error log (a failure of the log itself is dropped). */
  report(error: unknown): void {
    Runtime.runFork(this.runtime)(Effect.ignore(this.errorLog.logException(error, this.config.tracebackLimit)))
  }

  /** Write one line to the error log. */
  logLine(line: string): void {
    try {
      this.errorLog.stream.write(`${line}\n`)
    } catch {
      // Nowhere left to report it.
    }
  }

  /** SERVER_NAME and SERVER_PORT of a request: read once per connection. */
  private socketIdentity(request: GatewayRequest, connection: Connection | null): ServerIdentity {
    return connection === null ? this.identities.of(request.socket) : connection.identity ??= this.identities.of(request.socket)
  }

  private complete(output: NodeOutput, exit: Exit.Exit<void, HandlerError>): void {
    if (output.timedOut) {
      // Answered (or cut) by the timeout already; the request was interrupted.
    } else if (Exit.isSuccess(exit)) {
      try {
        output.finish()
      } catch (defect) {
        this.report(defect)
        output.abort()
      }
    } else {
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "Some" && failure.value._tag === "ResponseAborted") {
        // Logged by the core already: what the app wrote goes out, then the connection is
        // cut, so it cannot look like a complete response.
        this.logAccess(output, output.status, output.bodyBytes)
        output.cutAfterWritten()
      } else {
        // Not even the error page could be sent: report it and cut the connection.
        this.report(failure._tag === "Some" ? failure.value : Cause.squash(exit.cause))
        try {
          output.abort()
        } catch {
          // Destroying a response does not throw unless it was patched to: nothing left to do.
        }
      }
    }
    if (this.closing && this.onIdleWhileClosing !== null) {
      const onIdle = this.onIdleWhileClosing
      // Idle once node:http let go of the response (its "close" comes after "finish").
      if (output.response.closed) setImmediate(onIdle)
      else output.response.once("close", () => setImmediate(onIdle))
    }
  }
}
