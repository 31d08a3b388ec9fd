/**
 * `toNodeListener(app)`: an effect-wsgi app as a `node:http` request listener, for any
 * server built on `node:http` (`http.createServer`, `https.createServer`, Express, …).
 *
 * @since 0.1.0
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { ErrorLogShape } from "./ErrorLog.js"
import type { Application, CgiVariables } from "./Protocol.js"
import type { TextWritable } from "./ErrorLog.js"
import { Gateway } from "./internal/node/gateway.js"
import { RequestBodyTooLarge as BodyTooLarge } from "./internal/node/nodeInput.js"

/**
 * Reading `wsgi.input` past the server's `maxBodySize` (a chunked upload; a Content-Length
 * over the limit is refused with 413 before the app runs) fails with this error. If the
 * app lets it escape before starting its response, the client gets `413 Content Too
 * Large` and the connection is closed.
 *
 * @since 0.1.0
 * @category errors
 */
export const RequestBodyTooLarge = BodyTooLarge

/**
 * The error `RequestBodyTooLarge` constructs.
 *
 * @since 0.1.0
 * @category errors
 */
export type RequestBodyTooLarge = BodyTooLarge

/**
 * Options shared by `toNodeListener` and `makeServer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeListenerOptions {
  /**
   * Where `wsgi.errors` and the exception reports go: an `ErrorLog` service or any
   * writable (default `process.stderr`).
   */
  readonly errorLog?: ErrorLogShape | TextWritable
  /**
   * An access log line per response, in the Common Log Format CPython's server prints
   * (`127.0.0.1 - - [25/Nov/2026 19:20:00] "GET / HTTP/1.1" 200 12`): `true` writes to
   * `process.stderr`, a function receives each line (without its newline). Default off.
   */
  readonly accessLog?: boolean | ((line: string) => void)
  /**
   * The largest request body in bytes (default 64 MiB). A larger Content-Length is
   * answered `413` without calling the app; a chunked body fails the read that passes it
   * (`RequestBodyTooLarge`). `Infinity` turns the limit off.
   */
  readonly maxBodySize?: number
  /**
   * How many unread request body bytes may be discarded to keep a connection alive after
   * the response (default 64 KiB); with more left unread, the connection is closed so no
   * body byte is ever taken for the next request.
   */
  readonly drainLimit?: number
  /**
   * The `Server` header and `SERVER_SOFTWARE` (default `effect-wsgi/0.1.0 Node.js/<version>`).
   */
  readonly serverSoftware?: string
  /**
   * Variables every environ starts from (default none). CPython copies the whole process
   * environment into each request; a network server does not, so secrets in the
   * environment never reach an app (or a page that prints its environ). Pass
   * `HandlerConfig.processEnviron` for CPython's behaviour.
   */
  readonly osEnviron?: Readonly<CgiVariables>
  /**
   * Peers trusted to set `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded`
   * (gunicorn's `forwarded_allow_ips`; `"*"` trusts all). From a trusted peer they set
   * `REMOTE_ADDR` and `wsgi.url_scheme`; otherwise they are only `HTTP_*` variables.
   * Default: none.
   */
  readonly forwardedAllowIps?: ReadonlyArray<string>
  /**
   * `wsgi.multiprocess`: true when other processes serve the same app (default: true in a
   * `node:cluster` worker, false otherwise). `wsgi.multithread` is always true (requests
   * interleave on the event loop) and `wsgi.run_once` false.
   */
  readonly multiprocess?: boolean
}

/**
 * A `node:http` request listener.
 *
 * @since 0.1.0
 * @category models
 */
export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void

/**
 * Serve `app` from any `node:http` server: `http.createServer(toNodeListener(app))`.
 *
 * The environ is CPython's `WSGIRequestHandler.get_environ` (SERVER_NAME and SERVER_PORT
 * are the socket's local address and port); `wsgi.input` streams the body with
 * backpressure; the status and headers go out exactly as the app gave them, chunked when
 * the length is unknown. A request with `Expect: 100-continue` was already answered by
 * node:http before the listener runs (`makeServer` instead answers it when the app first
 * reads). Request limits other than the body size (header size, timeouts) belong to the
 * server: see `makeServer`.
 *
 * Mounted under a router that strips its mount point from `request.url` and keeps the
 * target in `request.originalUrl` (Express and connect: `app.use("/wsgi", listener)`), the
 * stripped part is `SCRIPT_NAME` and the rest `PATH_INFO`, both percent-decoded as latin-1
 * like `PATH_INFO` always is: `/wsgi/a/b?x=1` reaches the app as SCRIPT_NAME "/wsgi",
 * PATH_INFO "/a/b", QUERY_STRING "x=1", and `/wsgi` itself as SCRIPT_NAME "/wsgi", PATH_INFO
 * "", so `applicationUri` and `requestUri` give the URLs the client used. Routers nest
 * (`/outer/inner`). When `originalUrl` is missing, equal to `url`, or does not end with
 * url's path (a rewritten url rather than a stripped one), SCRIPT_NAME is "" and PATH_INFO
 * comes from `request.url`, as in a plain `node:http` server.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toNodeListener = (app: Application, options: NodeListenerOptions = {}): NodeListener => {
  const gateway = new Gateway(app, options)
  return (request, response) => gateway.handle(request, response, false, (request as MountedRequest).originalUrl)
}

/** What Express and connect add to a request they route: the target as it came. */
interface MountedRequest extends IncomingMessage {
  readonly originalUrl?: unknown
}
