/**
 * `run(app)`: the PEP 3333 handler as an Effect program over five services.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, type Exit, Layer, type Runtime } from "effect"
import { dual } from "effect/Function"
import { EnvironSource, type EnvironSourceShape } from "./EnvironSource.js"
import { ErrorLog, type ErrorLogShape } from "./ErrorLog.js"
import { FileTransmitter, type FileTransmitterShape, decline } from "./FileTransmitter.js"
import { CurrentHandlerConfig, type HandlerConfig } from "./HandlerConfig.js"
import type { HandlerError } from "./HandlerError.js"
import { Input, type InputShape } from "./Input.js"
import { Output, type OutputShape } from "./Output.js"
import type { Application } from "./Protocol.js"
import { makeDriver, outcomeEffect, runDriver } from "./internal/handler.js"
import { systemClock } from "./internal/httpDate.js"

/**
 * The services `run` needs.
 *
 * @since 0.1.0
 * @category models
 */
export type HandlerServices = Output | Input | ErrorLog | EnvironSource | FileTransmitter

/**
 * Handle one request: build the environ, call the application, send its response, and
 * handle its errors, as CPython's `BaseHandler.run`.
 *
 * Fails with `ResponseAborted` when the app failed after the headers were sent (logged;
 * the connection must not be reused), and with `ProtocolError`, `OutputError` or
 * `ApplicationError` when even the error page could not be sent. A client that went away
 * is not an error. The configuration is `CurrentHandlerConfig` (CPython's defaults unless
 * provided); the `Date` header comes from `Clock`.
 *
 * @since 0.1.0
 * @category handling
 */
export const run = (app: Application): Effect.Effect<void, HandlerError, HandlerServices> =>
  Effect.clockWith((clock) =>
    Effect.flatMap(Effect.runtime<HandlerServices>(), (runtime) => {
      const context = runtime.context
      const driver = makeDriver({
        config: Context.get(context as Context.Context<never>, CurrentHandlerConfig),
        services: {
          output: Context.get(context, Output),
          input: Context.get(context, Input),
          errorLog: Context.get(context, ErrorLog),
          environSource: Context.get(context, EnvironSource),
          fileTransmitter: Context.get(context, FileTransmitter)
        },
        clock,
        // A service effect that has to wait runs with this program's context and refs.
        runtime: runtime as Runtime.Runtime<never>
      })
      return outcomeEffect(driver, runDriver(driver, app))
    })
  )


/**
 * The services of one request, as plain values.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestServices {
  readonly output: OutputShape
  readonly input: InputShape
  readonly errorLog: ErrorLogShape
  readonly environSource: EnvironSourceShape
  readonly fileTransmitter?: FileTransmitterShape
}

/**
 * `run` with its services and configuration given directly, for servers that handle many
 * requests: no context to build per request, and no Effect fiber at all. The outcome is an
 * `Exit` when the request completed at once (a synchronous app on a sink that takes its
 * bytes at once), else a Promise of its `Exit`, which never rejects.
 *
 * @since 0.1.0
 * @category handling
 */
export const runExit = (
  app: Application,
  services: RequestServices,
  config: HandlerConfig = CurrentHandlerConfig.defaultValue(),
  clock: Clock.Clock = systemClock
): Exit.Exit<void, HandlerError> | Promise<Exit.Exit<void, HandlerError>> =>
  runDriver(makeDriver({ config, services, clock }), app)

/**
 * `runExit` as an Effect: the `Exit` itself when the request completed at once, else an
 * Effect that waits for it; interrupting that Effect stops the request (its body iterator
 * and its result are closed). The request starts when `runWith` is called.
 *
 * @since 0.1.0
 * @category handling
 */
export const runWith = (
  app: Application,
  services: RequestServices,
  config: HandlerConfig = CurrentHandlerConfig.defaultValue(),
  clock: Clock.Clock = systemClock
): Effect.Effect<void, HandlerError> => {
  const driver = makeDriver({ config, services, clock })
  return outcomeEffect(driver, runDriver(driver, app))
}

/**
 * A layer with all five services from plain values (the file transmitter declines unless
 * given).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (services: RequestServices): Layer.Layer<HandlerServices> =>
  Layer.succeedContext(
    Context.make(Output, services.output).pipe(
      Context.add(Input, services.input),
      Context.add(ErrorLog, services.errorLog),
      Context.add(EnvironSource, services.environSource),
      Context.add(FileTransmitter, services.fileTransmitter ?? decline)
    )
  )

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
