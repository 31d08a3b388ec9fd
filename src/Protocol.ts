/**
 * PEP 3333 in TypeScript: the types an application and a gateway agree on.
 *
 * @since 0.1.0
 */

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
 * The request environment: CGI keys are latin-1 "native strings", `wsgi.*` keys as PEP 3333.
 *
 * @since 0.1.0
 * @category models
 */
export type Environ = Record<string, unknown>

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
