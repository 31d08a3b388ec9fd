/**
 * `run(app)`: CPython's `BaseHandler.run` as one Effect program over five services, with
 * every overridable step an Effect in a record (`Steps`).
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { dual } from "effect/Function"
import { EnvironSource, type EnvironSourceShape } from "./EnvironSource.js"
import { ErrorLog, type ErrorLogShape } from "./ErrorLog.js"
import { decline, FileTransmitter, type FileTransmitterShape } from "./FileTransmitter.js"
import { CurrentHandlerConfig, type HandlerConfig } from "./HandlerConfig.js"
import type { ApplicationError, ClientDisconnected, HandlerError, OutputError, ProtocolError } from "./HandlerError.js"
import type { Headers } from "./Headers.js"
import { Input, type InputShape } from "./Input.js"
import { Output, type OutputShape } from "./Output.js"
import type { Application, Environ, HeaderList, ResponseBody, StartResponse, Write } from "./Protocol.js"
import { defaultSteps as coreSteps } from "./internal/core/steps.js"
import { handle, makeHandling } from "./internal/core/program.js"

/**
 * The services `run` needs.
 *
 * @since 0.1.0
 * @category models
 */
export type HandlerServices = Output | Input | ErrorLog | EnvironSource | FileTransmitter

/**
 * The five services of one request, as plain values.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestServices {
  readonly output: OutputShape
  readonly input: InputShape
  readonly errorLog: ErrorLogShape
  readonly environSource: EnvironSourceShape
  /** Declines when left out. */
  readonly fileTransmitter?: FileTransmitterShape | undefined
}

/**
 * CPython's per-request state block (`status`, `headers`, …), same names and meaning.
 *
 * @since 0.1.0
 * @category models
 */
export interface HandlerState {
  /** The status the app gave. */
  status: string | null
  /** The response headers. */
  headers: Headers | null
  /** True once the status line and headers went out. */
  headersSent: boolean
  /** Body bytes sent so far. */
  bytesSent: number
  /** What the app returned (or the error page). */
  result: ResponseBody | null
  /** The environ of the request. */
  environ: Environ | null
}

/**
 * How a step can fail: the app broke PEP 3333, writing failed, user code (the app, its
 * body, an overridden step) threw or rejected, or the client went away.
 *
 * @since 0.1.0
 * @category models
 */
export type StepError = ProtocolError | OutputError | ApplicationError | ClientDisconnected

/**
 * One step of the handler: an Effect that does nothing until it runs.
 *
 * @since 0.1.0
 * @category models
 */
export type StepEffect<A = void> = Effect.Effect<A, StepError>

/**
 * One request being handled: what every step is given (CPython's `self`). Made by the
 * core for each request; a step reads and updates its `state`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handling {
  /** The configuration block. */
  readonly config: HandlerConfig
  /** The services of this request. */
  readonly services: Required<RequestServices>
  /** The steps, with any overrides in place. */
  readonly steps: Steps
  /** The state block. */
  readonly state: HandlerState
  /** Where the `Date` header is read. */
  readonly clock: Clock.Clock
  /** The `startResponse` handed to the application. */
  readonly startResponse: StartResponse
  /** The PEP 3333 `write()` callable `startResponse` returns. */
  readonly write: Write
  /** @internal The fiber handling the request (the app's `write()` calls run on its runtime). */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | null
  /** @internal The app's own result, closed once whatever happens. */
  appResult: ResponseBody | null
  /** @internal The app's result while it is still a Promise. */
  pendingResult: PromiseLike<ResponseBody> | null
  /** @internal The bodies whose `close()` was called. */
  closed: Array<ResponseBody> | null
  /** @internal The body iterator being written, stopped if the request is interrupted. */
  iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> | null
  /** @internal `write()` calls still going out, in call order. */
  pendingWrites: Promise<void> | undefined
  /** @internal The fiber of the `write()` call going out. */
  writing: Fiber.RuntimeFiber<void, StepError> | null
  /** @internal The first failure of a `write()` call, surfaced once the application returns. */
  writeFailure: StepError | undefined
  /** @internal True once `run` has ended: a `write()` after that is an error. */
  finished: boolean
  /** @internal True when sending the head failed: a `write` run again sends it first. */
  headPending: boolean
  /** @internal True for a HEAD request answered by an origin server: body bytes are counted, not sent. */
  suppressBody: boolean
}

/**
 * The overridable steps of CPython's `BaseHandler`, same names and meaning, each an Effect
 * (override one by record update: `{ ...Handler.defaultSteps, sendPreamble: … }`).
 *
 * The steps that do no I/O and answer at once (`startResponse`, which PEP 3333 has the
 * app call synchronously, `getScheme`, `cleanupHeaders`, `setContentLength`,
 * `resultIsFile`, `clientIsModern`) are plain functions that may throw; the rest are
 * Effects.
 *
 * @since 0.1.0
 * @category models
 */
export interface Steps {
  /** Build `state.environ`: `osEnviron`, the request's variables, the `wsgi.*` keys. */
  readonly setupEnviron: (h: Handling) => StepEffect
  /** `wsgi.url_scheme`. */
  readonly getScheme: (h: Handling) => string
  /** PEP 3333 `start_response`: check and keep the status and headers (throws a `ProtocolError`). */
  readonly startResponse: (h: Handling, status: string, headers: HeaderList, excInfo?: unknown) => void
  /** Send body bytes (the headers first, the first time). */
  readonly write: (h: Handling, data: Uint8Array) => StepEffect
  /** Send the status line (or CGI `Status:`) and the Date and Server headers. */
  readonly sendPreamble: (h: Handling) => StepEffect
  /** Send the preamble and the headers. */
  readonly sendHeaders: (h: Handling) => StepEffect
  /** Last changes to the headers before they go out (adds Content-Length when it can). */
  readonly cleanupHeaders: (h: Handling) => void
  /** Set Content-Length when the result is a one-chunk array. */
  readonly setContentLength: (h: Handling) => void
  /** Send the whole result, then close it. */
  readonly finishResponse: (h: Handling) => StepEffect
  /** After the body: send the headers if nothing was written. */
  readonly finishContent: (h: Handling) => StepEffect
  /** True when the result is a `wsgiFileWrapper` to hand to `sendfile`. */
  readonly resultIsFile: (h: Handling) => boolean
  /** Send a file result through the `FileTransmitter`; false to iterate it instead. */
  readonly sendfile: (h: Handling) => StepEffect<boolean>
  /** False for HTTP/0.9 clients, which get no status line or headers. */
  readonly clientIsModern: (h: Handling) => boolean
  /** Write an exception report to the error log. */
  readonly logException: (h: Handling, error: unknown) => StepEffect
  /** Log the error, and send the error page if the headers are not out yet. */
  readonly handleError: (h: Handling, error: unknown) => StepEffect
  /** Close the result (once) and reset the state. */
  readonly close: (h: Handling) => StepEffect
  /** The error page: start it (passing `error` on as `excInfo`) and give its body. */
  readonly errorOutput: (h: Handling, error: unknown) => StepEffect<ResponseBody>
}

/**
 * CPython's `BaseHandler` methods, as a record.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSteps: Steps = coreSteps

/**
 * The steps in effect: `defaultSteps` unless a program provides others.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentSteps extends Context.Reference<CurrentSteps>()("effect-wsgi/Steps", {
  defaultValue: (): Steps => defaultSteps
}) {}

/**
 * Handle one request: build the environ, call the application, send its response, and
 * handle its errors, as CPython's `BaseHandler.run`.
 *
 * An error before the headers went out is logged and answered with the error page; after,
 * it is logged and `run` fails with `ResponseAborted` (the connection must not be reused).
 * It fails with `ProtocolError`, `OutputError` or `ApplicationError` when even the error
 * page could not be sent. A client that went away is not an error. Interrupting it stops
 * the body and calls the result's `close()` once. The configuration is
 * `CurrentHandlerConfig`, the steps `CurrentSteps`; the `Date` header comes from `Clock`.
 *
 * @since 0.1.0
 * @category handling
 */
export const run = (app: Application): Effect.Effect<void, HandlerError, HandlerServices> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<HandlerServices>
    return handle(
      makeHandling(fiber, {
        config: Context.get(context as Context.Context<never>, CurrentHandlerConfig),
        steps: Context.get(context as Context.Context<never>, CurrentSteps),
        services: {
          output: Context.get(context, Output),
          input: Context.get(context, Input),
          errorLog: Context.get(context, ErrorLog),
          environSource: Context.get(context, EnvironSource),
          fileTransmitter: Context.get(context, FileTransmitter)
        }
      }),
      app
    )
  })

/**
 * A context with all five services from plain values (the file transmitter declines
 * unless given).
 *
 * @since 0.1.0
 * @category constructors
 */
export const context = (services: RequestServices): Context.Context<HandlerServices> =>
  // One map, not five copies of a growing one (`Context.add` copies): it is made per request.
  Context.unsafeMake(
    new Map<string, unknown>([
      [Output.key, services.output],
      [Input.key, services.input],
      [ErrorLog.key, services.errorLog],
      [EnvironSource.key, services.environSource],
      [FileTransmitter.key, services.fileTransmitter ?? decline]
    ])
  )

/**
 * A layer with all five services from plain values.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (services: RequestServices): Layer.Layer<HandlerServices> => Layer.succeedContext(context(services))

/**
 * `run` with its services given as plain values (no context to build: what servers use):
 * an Effect that handles one request each time it runs, with the configuration given or
 * `CurrentHandlerConfig`, and `CurrentSteps`.
 *
 * @since 0.1.0
 * @category handling
 */
export const runWith = (
  app: Application,
  services: RequestServices,
  config?: HandlerConfig
): Effect.Effect<void, HandlerError> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext
    return handle(
      makeHandling(fiber, {
        config: config ?? Context.get(context, CurrentHandlerConfig),
        steps: Context.get(context, CurrentSteps),
        services
      }),
      app
    )
  })

/**
 * Run with a configuration other than CPython's defaults.
 *
 * @since 0.1.0
 * @category configuration
 */
export const withConfig: {
  (config: HandlerConfig): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, config: HandlerConfig): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, config: HandlerConfig): Effect.Effect<A, E, R> =>
    Effect.provideService(self, CurrentHandlerConfig, config)
)

/**
 * Run with steps other than CPython's (`{ ...defaultSteps, sendPreamble: … }`).
 *
 * @since 0.1.0
 * @category configuration
 */
export const withSteps: {
  (steps: Steps): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, steps: Steps): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, steps: Steps): Effect.Effect<A, E, R> =>
    Effect.provideService(self, CurrentSteps, steps)
)
