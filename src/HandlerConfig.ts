/**
 * `HandlerConfig`: the configuration block of CPython's `BaseHandler`, as a record.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import { FileWrapper } from "./FileWrapper.js"
import { Headers } from "./Headers.js"
import type { CgiVariables, HeaderList } from "./Protocol.js"
import { readProcessEnviron } from "./internal/compat/readEnviron.js"

/**
 * The class used for response headers: `Headers` or a subclass.
 *
 * @since 0.1.0
 * @category models
 */
export type HeadersClass = new (headers: HeaderList) => Headers

/**
 * The class offered as `wsgi.file_wrapper`.
 *
 * @since 0.1.0
 * @category models
 */
export type FileWrapperClass = typeof FileWrapper

/**
 * Every configuration field of CPython's `BaseHandler`, same meaning and defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface HandlerConfig {
  /** `wsgi.version`. */
  readonly wsgiVersion: readonly [number, number]
  /** `wsgi.multithread`. */
  readonly wsgiMultithread: boolean
  /** `wsgi.multiprocess`. */
  readonly wsgiMultiprocess: boolean
  /** `wsgi.run_once`. */
  readonly wsgiRunOnce: boolean
  /** True when the handler is the HTTP server itself (status line, Date, Server), false for CGI (`Status:`). */
  readonly originServer: boolean
  /** The HTTP version of the status line an origin server sends. */
  readonly httpVersion: string
  /** The `Server` header and default `SERVER_SOFTWARE` of an origin server (none when null). */
  readonly serverSoftware: string | null
  /** The base of every environ: a copy of the process environment by default. */
  readonly osEnviron: Readonly<CgiVariables>
  /** `wsgi.file_wrapper` (left out when null). */
  readonly wsgiFileWrapper: FileWrapperClass | null
  /** The class that holds the response headers. */
  readonly headersClass: HeadersClass
  /** How many stack frames an exception report keeps (all when null). */
  readonly tracebackLimit: number | null
  /** The status of the error page. */
  readonly errorStatus: string
  /** The headers of the error page. */
  readonly errorHeaders: HeaderList
  /** The body of the error page. */
  readonly errorBody: Uint8Array
}

/**
 * The process environment at module load, as `readEnviron()` transcodes it (frozen).
 * Spread into a literal so V8 keeps it in fast mode: every request copies it.
 *
 * @since 0.1.0
 * @category constants
 */
export const processEnviron: Readonly<Record<string, string>> = Object.freeze({ ...readProcessEnviron() })

/**
 * CPython's defaults.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: HandlerConfig = Object.freeze({
  wsgiVersion: Object.freeze([1, 0] as const),
  wsgiMultithread: true,
  wsgiMultiprocess: true,
  wsgiRunOnce: false,
  originServer: true,
  httpVersion: "1.0",
  serverSoftware: null,
  osEnviron: processEnviron,
  wsgiFileWrapper: FileWrapper,
  headersClass: Headers,
  tracebackLimit: null,
  errorStatus: "500 Internal Server Error",
  errorHeaders: [["Content-Type", "text/plain"]] as HeaderList,
  errorBody: Buffer.from("A server error occurred.  Please contact the administrator.", "latin1")
})

/**
 * The configuration in effect: `defaults` unless a program provides another.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentHandlerConfig extends Context.Reference<CurrentHandlerConfig>()(
  "effect-wsgi/HandlerConfig",
  { defaultValue: (): HandlerConfig => defaults }
) {}

/**
 * The defaults with some fields changed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (fields: Partial<HandlerConfig> = {}): HandlerConfig => ({ ...defaults, ...fields })
