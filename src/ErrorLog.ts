/**
 * The `ErrorLog` service: `environ["wsgi.errors"]` and how exceptions are logged to it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ErrorStream } from "./Protocol.js"
import { OutputError } from "./HandlerError.js"
import { formatException } from "./internal/compat/formatException.js"
import { StringErrorStream } from "./internal/stringErrors.js"
import { WritableErrorStream } from "./internal/compat/writableErrors.js"

/**
 * The part of a Node writable (`process.stderr`) that an error stream needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface TextWritable {
  write(text: string): unknown
}

/**
 * Where errors of one request are written.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorLogShape {
  /** The stream handed to the application as `wsgi.errors`. */
  readonly stream: ErrorStream
  /**
   * Write an exception report (CPython's `log_exception`): the error and at most
   * `tracebackLimit` stack frames (all when null), then flush. Lazy, as every service Effect.
   */
  readonly logException: (error: unknown, tracebackLimit: number | null) => Effect.Effect<void, OutputError>
}


/**
 * An error log over any `ErrorStream`, reporting exceptions as `formatException` does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromStream = (stream: ErrorStream): ErrorLogShape => ({
  stream,
  logException: (error, tracebackLimit) =>
    Effect.try({
      try: () => {
        stream.write(formatException(error, tracebackLimit))
        stream.flush()
      },
      catch: (cause) => new OutputError({ message: "writing to wsgi.errors failed", cause })
    })
})

/**
 * An error log over a Node writable (`process.stderr` by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromWritable = (writable: TextWritable = process.stderr): ErrorLogShape =>
  fromStream(new WritableErrorStream(writable))

/**
 * An in-memory error log for tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryErrorLog extends ErrorLogShape {
  /** Everything written so far. */
  text(): string
}

/**
 * Make an in-memory error log for tests.
 *
 * @since 0.1.0
 * @category constructors
 */
export const memory = (): MemoryErrorLog => {
  const stream = new StringErrorStream()
  return { ...fromStream(stream), text: () => stream.value }
}

/**
 * The live layer: errors go to `process.stderr` (or the writable given).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWritable = (writable?: TextWritable): Layer.Layer<ErrorLog> =>
  Layer.succeed(ErrorLog, fromWritable(writable))

/**
 * The error log service.
 *
 * @since 0.1.0
 * @category tags
 */
export class ErrorLog extends Context.Tag("effect-wsgi/ErrorLog")<ErrorLog, ErrorLogShape>() {
  /** See `fromStream`. */
  static readonly fromStream = fromStream
  /** See `fromWritable`. */
  static readonly fromWritable = fromWritable
  /** See `memory`. */
  static readonly memory = memory
  /** See `layerWritable`. */
  static readonly layerWritable = layerWritable
}
