/**
 * PEP 3333 in TypeScript: the types an application and a gateway agree on.
 *
 * @since 0.1.0
 */
import type { FileLike } from "./FileWrapper.js"

/**
 * Response headers as the application gives them: `[name, value]` pairs, in order.
 *
 * @since 0.1.0
 * @category models
 */
export type HeaderList = Array<[name: string, value: string]>

/**
 * PEP 3333 `write()`: send body bytes before (or instead of) returning an iterable.
 * Await it for backpressure; un-awaited calls still go out in call order.
 *
 * @since 0.1.0
 * @category models
 */
export type Write = (data: Uint8Array) => Promise<void>

/**
 * PEP 3333 `start_response(status, headers, exc_info=None)`.
 *
 * @since 0.1.0
 * @category models
 */
export type StartResponse = (status: string, headers: HeaderList, excInfo?: unknown) => Write

/**
 * What an application returns: byte chunks, sync or async, maybe with a `close()` the
 * gateway calls exactly once.
 *
 * @since 0.1.0
 * @category models
 */
export type ResponseBody = (Iterable<Uint8Array> | AsyncIterable<Uint8Array>) & {
  close?(): void | Promise<void>
}

/**
 * The request environment an application receives: the PEP 3333 keys, typed. CGI values are
 * latin-1 "native strings"; the `wsgi.*` keys are as PEP 3333 defines them. Any other key
 * (`HTTP_*` request headers, operating-system variables, server and middleware extensions)
 * is allowed and reads as `unknown`, to be narrowed.
 *
 * Optional keys are those PEP 3333 lets a server leave out: a CGI variable whose value
 * would be empty ("must be present, unless their value would be an empty string"), and
 * the optional `wsgi.*` extensions.
 *
 * @example
 * ```ts
 * const app: Application = async (environ, startResponse) => {
 *   const body = await environ["wsgi.input"].read()
 *   const path = environ.PATH_INFO ?? "/"
 *   const agent = environ["HTTP_USER_AGENT"]
 *   startResponse("200 OK", [["Content-Type", "text/plain"]])
 *   return [Buffer.from(`${environ.REQUEST_METHOD} ${path} ${typeof agent === "string" ? agent : "-"} ${body.length}`)]
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Environ {
  /** The HTTP method ("GET", "POST", …); never empty, so always present. */
  REQUEST_METHOD: string
  /** Where the application is mounted; left out when it is the root (""). */
  SCRIPT_NAME?: string
  /** The rest of the path, percent-decoded, as latin-1; left out when empty. */
  PATH_INFO?: string
  /** What follows the "?" of the request target, as sent; may be empty or absent. */
  QUERY_STRING?: string
  /** The request's Content-Type; may be empty or absent. */
  CONTENT_TYPE?: string
  /** The request's Content-Length, a decimal string; may be empty or absent. */
  CONTENT_LENGTH?: string
  /** The server's host name; never empty. */
  SERVER_NAME: string
  /** The server's port, a decimal string; never empty. */
  SERVER_PORT: string
  /** The protocol of the request, e.g. "HTTP/1.1". */
  SERVER_PROTOCOL: string
  /** The client's address, when the server knows it. */
  REMOTE_ADDR?: string
  /** "on" (or "yes", "1") when the request came over TLS. */
  HTTPS?: string
  /** The WSGI version, `[1, 0]` (the handler's `wsgiVersion`). */
  "wsgi.version": readonly [number, number]
  /** "http" or "https". */
  "wsgi.url_scheme": string
  /** The request body. */
  "wsgi.input": InputStream
  /** Where error text goes. */
  "wsgi.errors": ErrorStream
  /** True when another thread of the same process may call the application at the same time. */
  "wsgi.multithread": boolean
  /** True when another process may call the same application at the same time. */
  "wsgi.multiprocess": boolean
  /** True when the application will be called only once in this process (CGI). */
  "wsgi.run_once": boolean
  /**
   * PEP 3333's optional platform file wrapper (`FileWrapper` by default): construct it with
   * `new` and return it as the body, so the server may send the file natively.
   */
  "wsgi.file_wrapper"?: new(filelike: FileLike, blksize?: number) => ResponseBody
  /** True when `wsgi.input` ends at the end of the body even without a Content-Length (chunked requests). */
  "wsgi.input_terminated"?: boolean
  /** `HTTP_*` request headers, operating-system variables and extensions. */
  [key: string]: unknown
}

/**
 * An environ still being built, or one given by a user in part: any keys, any values.
 * The CGI variables a gateway or an `EnvironSource` makes before the `wsgi.*` keys are
 * added, `osEnviron`, and what `setupTestingDefaults` fills in. Every `Environ` is one.
 *
 * @since 0.1.0
 * @category models
 */
export type CgiVariables = Record<string, unknown>

/**
 * A PEP 3333 application.
 *
 * @since 0.1.0
 * @category models
 */
export type Application = (environ: Environ, startResponse: StartResponse) => ResponseBody | Promise<ResponseBody>

/**
 * `environ["wsgi.input"]`: the request body.
 *
 * @since 0.1.0
 * @category models
 */
export interface InputStream {
  /** Up to `size` bytes; no size or a negative one reads to the end of the body. */
  read(size?: number): Promise<Uint8Array>
  /** One line, keeping its trailing "\n" (at most `size` bytes when given). */
  readline(size?: number): Promise<Uint8Array>
  /** The remaining lines (stops once about `hint` bytes were read, when given). */
  readlines(hint?: number): Promise<Array<Uint8Array>>
  /** Line by line. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>
}

/**
 * `environ["wsgi.errors"]`: a text stream for error output.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorStream {
  /** Write text. */
  write(text: string): void
  /** Write each string in turn (no separators added). */
  writelines(lines: Iterable<string>): void
  /** Push buffered text out. */
  flush(): void
}
