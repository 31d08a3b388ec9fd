/**
 * `toHttpApp(app)`: an effect-wsgi app as an `@effect/platform` `HttpApp`, to mount in an
 * `HttpRouter` beside native Effect routes and serve with any Effect `HttpServer`.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as Effect from "effect/Effect"
import { fromStream as errorLogFromStream, fromWritable as errorLogFromWritable } from "./ErrorLog.js"
import { type HandlerConfig, make as makeConfig } from "./HandlerConfig.js"
import type { Application, ErrorStream } from "./Protocol.js"
import { noVariables } from "./internal/environCopy.js"
// Types only: the module itself (and `@effect/platform` with it) is loaded on first use.
import type * as Runtime from "./internal/httpApp.js"

/**
 * Options of `toHttpApp`.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpAppOptions {
  /**
   * Handler configuration (defaults: an HTTP/1.1 origin server named `effect-wsgi`, and, as
   * under `makeServer`, no `osEnviron`: the process environment is not copied into each
   * environ, so its secrets never reach an app; pass `HandlerConfig.processEnviron` for
   * CPython's behaviour).
   */
  readonly config?: Partial<HandlerConfig>
  /** `wsgi.errors` (default: `process.stderr`). */
  readonly errors?: ErrorStream
  /** How many body chunks may wait for the client before `write()` waits (default 16). */
  readonly bufferedChunks?: number
}

// The platform-dependent half, once loaded: later requests call it without an async hop.
let loaded: typeof Runtime | undefined
const load = (): Promise<typeof Runtime> =>
  import("./internal/httpApp.js").then((module) => (loaded = module))

/**
 * Serve an effect-wsgi app as an Effect `HttpApp`. The request body is read as a stream
 * (with backpressure). The response is the app's head as it gave it (its reason phrase, no
 * Content-Type added) and its body: whole when the app finishes without waiting, else a
 * stream that starts once the head is ready. The body keeps to a declared Content-Length
 * as `makeServer` does (a surplus dropped, a short body cut; each logged to `wsgi.errors`).
 * `SERVER_NAME`/`SERVER_PORT` are the listening address under Node's server (CPython's
 * rule), else the request's host. A client that leaves (the request's fiber, or later the
 * body's reader, interrupted) stops the app: its body is stopped and its result closed once.
 *
 * `@effect/platform` is loaded the first time the app handles a request, not on import.
 *
 * @since 0.1.0
 * @category adapters
 */
export const toHttpApp = (app: Application, options: HttpAppOptions = {}): HttpApp.Default => {
  const config = makeConfig({
    httpVersion: "1.1",
    serverSoftware: "effect-wsgi/0.1.0",
    wsgiMultiprocess: false,
    osEnviron: noVariables,
    ...options.config
  })
  const errorLog = options.errors === undefined ? errorLogFromWritable() : errorLogFromStream(options.errors)
  const settings: Runtime.Settings = { config, errorLog, capacity: options.bufferedChunks ?? 16 }

  return Effect.suspend(() =>
    loaded !== undefined
      ? loaded.handle(app, settings)
      : Effect.flatMap(Effect.promise(load), (module) => module.handle(app, settings))
  )
}
