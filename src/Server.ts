/**
 * `makeServer(host, port, app)`: CPython's `wsgiref.simple_server.make_server` on
 * `node:http`, with the limits a server on a network needs, and `demoApp`.
 *
 * @since 0.1.0
 */
import type { Server } from "node:http"
import type { Http2SecureServer, Http2Server } from "node:http2"
import type { Server as NetServer } from "node:net"
import type { NodeListenerOptions } from "./NodeListener.js"
import type { Application } from "./Protocol.js"
import { pyRepr } from "./internal/compat/pyRepr.js"
import * as internal from "./internal/node/makeServer.js"

/**
 * A certificate and its key, and the CAs that sign the client certificates to accept: PEM
 * text or its bytes.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsCertificates {
  /** The server's certificate, then the intermediates that chain it to a root (a `fullchain.pem`). */
  readonly cert: string | Buffer
  /** Its private key (unencrypted). */
  readonly key: string | Buffer
  /**
   * The CAs trusted to sign client certificates (with `requestCert`). Without it node's
   * bundled public roots are trusted: give your own CA to accept only the clients it signs.
   */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
}

/**
 * `makeServer`'s `tls` option: serve HTTPS with this certificate.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions extends TlsCertificates {
  /**
   * Ask each client for a certificate (default false). The environ then says what it sent,
   * as Apache's mod_ssl: `SSL_CLIENT_VERIFY` (`SUCCESS`, `NONE`, or `FAILED:<reason>`),
   * `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN` (RFC 2253: `CN=client,O=Example`) and
   * `SSL_CLIENT_CERT` (PEM).
   */
  readonly requestCert?: boolean
  /**
   * With `requestCert`: refuse, during the handshake, a client that sends no certificate
   * or one `ca` did not sign (default true; one log line each). False lets them through,
   * for the app to judge by `SSL_CLIENT_VERIFY`.
   */
  readonly rejectUnauthorized?: boolean
  /**
   * Milliseconds a client has to finish the TLS handshake (default 10 000; 0 turns it
   * off); a client that takes longer, or sends nothing, is closed with one log line.
   * `close()` waits for such a connection until then.
   */
  readonly handshakeTimeout?: number
}

/**
 * Options of `makeServer`: those of `toNodeListener`, plus the limits of the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends NodeListenerOptions {
  /**
   * Largest request line plus headers, in bytes (default 16 KiB); larger gets `414 URI Too
   * Long` when the request line is what is too long, else `431`.
   */
  readonly maxHeaderSize?: number
  /**
   * Milliseconds a client has to send the request line and headers (default 30 000); a
   * client that takes longer (slowloris) gets `408` and the connection is closed.
   */
  readonly headersTimeout?: number
  /**
   * Milliseconds a client has to send the whole request, body included (default 120 000;
   * 0 turns it off); then `408`, or the connection is cut if the response had started.
   */
  readonly requestTimeout?: number
  /**
   * Milliseconds a request may take from its arrival to the end of its response (default
   * 0: no limit). Past it, a client that got nothing yet gets `503 Service Unavailable`,
   * one whose response had started has its connection cut (so it cannot take the part for
   * the whole); either way the app is interrupted, its body's `close()` is called, and one
   * line is logged. (A synchronous app that never returns blocks the process: no timer
   * can help there.)
   */
  readonly responseTimeout?: number
  /** Milliseconds an idle keep-alive connection stays open (default 5 000). */
  readonly keepAliveTimeout?: number
  /**
   * Requests served on one connection before it is closed (default 0: no limit, as
   * node:http and gunicorn; idle connections still end after `keepAliveTimeout`). The last
   * response says `Connection: close`.
   */
  readonly maxRequestsPerSocket?: number
  /**
   * Milliseconds `close()` waits for requests in flight before it cuts the connections
   * that remain (default 10 000).
   */
  readonly closeTimeout?: number
  /** Listen on this unix socket path instead of `host` and `port`. */
  readonly path?: string
  /**
   * Serve on this already-listening socket (a file descriptor of this process: systemd's
   * socket activation, a socket inherited from a parent) instead of `host` and `port`. In a
   * `node:cluster` worker it is this worker's own descriptor, listened on by the worker
   * itself (not, as node's `listen({ fd })` would, the primary's descriptor of that number).
   * With `proxyProtocol`, a unix socket given this way is taken for TCP.
   */
  readonly fd?: number
  /**
   * Serve HTTPS (`node:https`) with this certificate: the same handling, with
   * `wsgi.url_scheme` "https" and `HTTPS` "on". A plain-HTTP request on the port gets
   * `400` ("plain HTTP request sent to HTTPS port", as nginx), then the connection closes.
   */
  readonly tls?: TlsOptions
  /**
   * Every connection begins with a PROXY protocol header, v1 (text) or v2 (binary), as
   * HAProxy's `send-proxy`/`send-proxy-v2` and nginx's stream `proxy_protocol on` send it
   * (default false). `REMOTE_ADDR` is then the client's address the header gives, and the
   * environ has `REMOTE_PORT`, its port (the access and error logs name the client too);
   * v1 `UNKNOWN` and v2 `LOCAL` (a proxy's health check) keep the proxy's own. A header
   * from a peer not in `proxyAllowIps`, a malformed one, a connection that begins without
   * one, or a header not complete within `headersTimeout` (as nginx's 30 s
   * `proxy_protocol_timeout`) closes the connection before node:http or an app sees a
   * byte of it, with one error-log line. The header precedes the TLS handshake with `tls`.
   * `forwardedAllowIps` is then judged against the client the header gives, not against
   * the proxy: a TCP proxy passes the client's own `X-Forwarded-*` through untouched.
   */
  readonly proxyProtocol?: boolean
  /**
   * With `proxyProtocol`: the peers allowed to send the header, as `forwardedAllowIps`
   * (addresses, `address/prefix` networks, IPv4 and IPv6, `"*"` for any). Default
   * `["127.0.0.1", "::1"]` (gunicorn's `proxy_allow_ips`). A unix socket's peers are
   * always allowed.
   */
  readonly proxyAllowIps?: ReadonlyArray<string>
}

/**
 * Options of `makeServer` serving HTTP/2: `ServerOptions`, and which HTTP/2. Apart from the
 * ones here, every option applies to HTTP/2 as it does to HTTP/1.1, but `headersTimeout`
 * and `maxRequestsPerSocket` (HTTP/1.1's only) and `keepAliveTimeout`, which closes a
 * session that has had no stream open for that long.
 *
 * @since 0.1.0
 * @category models
 */
export interface Http2ServerOptions extends ServerOptions {
  /**
   * With `tls`: serve HTTP/2 (`node:http2`), and HTTP/1.1 on the same port to clients that
   * do not ask for h2 by ALPN, through the same gateway. An HTTP/2 request's environ has
   * `SERVER_PROTOCOL` "HTTP/2.0", its method and target from `:method` and `:path`, and
   * `HTTP_HOST` from `:authority` when it has no `host`; the limits apply per stream (see
   * `maxConcurrentStreams`; `maxHeaderSize` is the `maxHeaderListSize` setting), and
   * `close()` sends GOAWAY and lets the streams in flight finish.
   */
  readonly http2?: boolean
  /** Cleartext HTTP/2 with prior knowledge (h2c), as `http2` but without TLS and without HTTP/1.1. */
  readonly h2c?: boolean
  /**
   * HTTP/2: streams one connection may have open at once (default 100, the
   * `maxConcurrentStreams` setting); a client that opens more gets them refused.
   */
  readonly maxConcurrentStreams?: number
}

/**
 * A listening server.
 *
 * @since 0.1.0
 * @category models
 */
export interface WSGIServer<S extends NetServer = Server> {
  /** The host it was asked to listen on (the bound address when that was empty). */
  readonly host: string
  /** The port it listens on (the free port picked when asked for 0; 0 on a unix socket). */
  readonly port: number
  /**
   * Its URL: `http://127.0.0.1:8000/` (`https://` with `tls`; `http+unix://<escaped path>/`,
   * or `https+unix://`, on a unix socket).
   */
  readonly url: string
  /**
   * The `node:http` server underneath (a `node:https` one with `tls`; `node:http2`'s
   * `Http2SecureServer` with `http2`, its `Http2Server` with `h2c`).
   */
  readonly server: S
  /**
   * Stop gracefully: stop accepting connections, close idle keep-alive connections, let
   * requests in flight finish (their responses say `Connection: close`), and resolve once
   * every connection is closed. After `closeTimeout` the remaining connections are cut.
   * Calling it again returns the same promise.
   */
  close(): Promise<void>
  /**
   * Serve a renewed certificate without a restart: new connections get `certificates`,
   * those already open keep the one they were made with. `ca`, when left out, stays as
   * it was. Throws, and changes nothing, when the certificate or key cannot be read or do
   * not match; throws a `TypeError` when the server was made without `tls`.
   */
  setSecureContext(certificates: TlsCertificates): void
}

/**
 * Serve `app` on `host`:`port` (`port` 0 picks a free one) over HTTP/1.1 on `node:http`:
 * keep-alive, chunked responses when the length is unknown, HEAD without a body,
 * `Expect: 100-continue` answered when the app first reads its input, and the limits of
 * `ServerOptions`. Resolves once listening. The handling is `toNodeListener`'s, so both
 * serve exactly alike. With `tls`, HTTPS on `node:https` (see `TlsOptions`); with
 * `http2` (and `tls`) or `h2c`, HTTP/2 on `node:http2`, through the same gateway.
 *
 * As CPython's `make_server`, but `SERVER_NAME` is `host` as given (CPython resolves it
 * with `getfqdn`), the process environment is not copied into each environ (see
 * `osEnviron`), and the access log is off unless `accessLog` is set.
 *
 * @since 0.1.0
 * @category constructors
 */
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options?: ServerOptions & { readonly http2?: false; readonly h2c?: false }
): Promise<WSGIServer>
/** `makeServer` with `h2c`: `server` is node:http2's `Http2Server`. */
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options: Http2ServerOptions & { readonly h2c: true }
): Promise<WSGIServer<Http2Server>>
/** `makeServer` with `http2` (and `tls`): `server` is node:http2's `Http2SecureServer`. */
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options: Http2ServerOptions & { readonly http2: true }
): Promise<WSGIServer<Http2SecureServer>>
/** `makeServer` with HTTP/2 options known only at run time: `server` is one of the three. */
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options?: Http2ServerOptions
): Promise<WSGIServer<Server | Http2Server | Http2SecureServer>>
export function makeServer(
  host: string,
  port: number,
  app: Application,
  options?: Http2ServerOptions
): Promise<WSGIServer<Server | Http2Server | Http2SecureServer>> {
  return internal.listenAndServe(host, port, app, options)
}

/**
 * CPython's `demo_app`: "Hello world!", a blank line, then `key = repr(value)` for every
 * environ entry, sorted by key, as `text/plain; charset=utf-8`.
 *
 * @since 0.1.0
 * @category apps
 */
export const demoApp: Application = (environ, startResponse) => {
  let text = "Hello world!\n\n"
  for (const key of Object.keys(environ).sort()) text += `${key} = ${pyRepr(environ[key])}\n`
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]])
  return [Buffer.from(text, "utf8")]
}
