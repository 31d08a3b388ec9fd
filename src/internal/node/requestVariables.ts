/**
 * The CGI variables of one `node:http` request: the request line and headers (read by
 * `requestEnviron`), and what the connection adds (the framing, TLS, a trusted proxy's word).
 */
import * as Effect from "effect/Effect"
import type { EnvironSourceShape } from "../../EnvironSource.js"
import type { CgiVariables } from "../../Protocol.js"
import { type MountPoint, type RequestLine, requestEnviron, type ServerIdentity, unquoteLatin1 } from "../requestEnviron.js"
import { applyForwarded, isTrusted } from "./forwarded.js"
import { absoluteAuthority } from "./requestGuard.js"

/** What the variables need of their gateway: which peers' forwarded headers to believe. */
export interface ForwardingPolicy {
  /** The peers whose `X-Forwarded-*` and `Forwarded` headers count. */
  readonly forwardedAllowIps: ReadonlyArray<string>
  /** True when the server listens on a unix socket: its peers have no address. */
  readonly unixSocket: boolean
}

/** `SERVER_PROTOCOL`: the two versions node:http hands over as shared strings. */
export const protocolOf = (version: string): string =>
  version === "1.1" ? "HTTP/1.1" : version === "1.0" ? "HTTP/1.0" : `HTTP/${version}`

/**
 * The CGI variables of one request (CPython's `get_environ`), which the core lays over
 * the environ it starts from `osEnviron`, or, when that is empty, the environ itself. It
 * is also the request line `requestEnviron` reads, so a request costs one object here.
 */
export class RequestVariables implements EnvironSourceShape, RequestLine {
  chunked = false
  /** Where a router mounted the app (`toNodeListener` under Express): SCRIPT_NAME and PATH_INFO. */
  mount: MountPoint | null = null
  constructor(
    private readonly gateway: ForwardingPolicy,
    readonly method: string,
    readonly target: string,
    readonly protocol: string,
    readonly rawHeaders: ReadonlyArray<string>,
    readonly remoteAddress: string,
    private readonly identity: ServerIdentity,
    /** The connection's TLS variables (`HTTPS`, mod_ssl's `SSL_CLIENT_*`); null when not encrypted. */
    private readonly tls: Readonly<CgiVariables> | null
  ) {}

  /** One record, laid over osEnviron (so a variable there never hides a request header). */
  readonly variables = Effect.sync(() => {
    const environ = requestEnviron(this, this.identity)
    const mount = this.mount
    if (mount !== null) {
      environ["SCRIPT_NAME"] = unquoteLatin1(mount.scriptName)
      environ["PATH_INFO"] = unquoteLatin1(mount.pathInfo)
    }
    this.addConnectionVars(environ)
    return environ
  })

  /** What the request line and headers do not say: the framing, TLS, the proxy's word. */
  private addConnectionVars(environ: CgiVariables): void {
    const gateway = this.gateway
    if (this.chunked) environ["wsgi.input_terminated"] = true
    const tls = this.tls
    if (tls !== null) for (const name in tls) environ[name] = tls[name]
    // RFC 9112 §3.2.2: with an absolute-form target, its authority is the host, not Host.
    const authority = absoluteAuthority(this.target)
    if (authority !== null) environ["HTTP_HOST"] = authority
    // A peer on a unix socket has no address: only local processes allowed by the socket's
    // permissions can connect, so it is trusted as soon as any peer is (as gunicorn does).
    const peer = this.remoteAddress
    if (
      gateway.forwardedAllowIps.length > 0 &&
      (peer === "" ? gateway.unixSocket : isTrusted(peer, gateway.forwardedAllowIps))
    ) {
      applyForwarded(environ, gateway.forwardedAllowIps)
    }
  }
}
