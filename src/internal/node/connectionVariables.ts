/**
 * The CGI variables a connection adds to each of its requests beyond the request line:
 * TLS's (`HTTPS`, mod_ssl's `SSL_CLIENT_*`) and a PROXY protocol header's (`REMOTE_PORT`).
 * Kept apart from `tls.ts` and `proxyProtocol.ts`, which makeServer loads only when asked
 * for TLS or the PROXY protocol, while every gateway reads these.
 */
import type { TLSSocket } from "node:tls"
import type { CgiVariables } from "../../Protocol.js"

/**
 * On the socket a request arrives on, once its PROXY header was read: the CGI variables
 * the connection adds, `REMOTE_PORT` (and, over TLS, the TLS variables), which the gateway
 * takes in place of the TLS variables alone.
 */
export const proxiedVariables = Symbol("effect-wsgi/proxiedVariables")

/** A socket after its PROXY header. */
export interface ProxiedSocket {
  [proxiedVariables]?: Readonly<CgiVariables>
}

const tlsVariables = Symbol("effect-wsgi/tlsVariables")

interface VariablesHolder {
  [tlsVariables]?: Readonly<CgiVariables>
}

/**
 * The CGI variables of an encrypted connection, worked out on its first request and kept
 * on the socket for the others: `HTTPS: "on"` and mod_ssl's `SSL_CLIENT_VERIFY` (`NONE`
 * without a client certificate), plus, with one, `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN`
 * (see `distinguishedName`) and `SSL_CLIENT_CERT` (PEM).
 */
export const tlsVariablesOf = (socket: object): Readonly<CgiVariables> =>
  ((socket as VariablesHolder)[tlsVariables] ??= connectionVariables(socket as Partial<TLSSocket>))

const connectionVariables = (socket: Partial<TLSSocket>): Readonly<CgiVariables> => {
  const certificate = typeof socket.getPeerX509Certificate === "function" ? socket.getPeerX509Certificate() : undefined
  if (certificate === undefined) return Object.freeze({ HTTPS: "on", SSL_CLIENT_VERIFY: "NONE" })
  const failed = socket.authorized === true ? null : verifyCode(socket.authorizationError) ?? "UNKNOWN"
  return Object.freeze({
    HTTPS: "on",
    SSL_CLIENT_VERIFY: failed === null ? "SUCCESS" : `FAILED:${verifyReason(failed)}`,
    SSL_CLIENT_S_DN: distinguishedName(certificate.subject),
    SSL_CLIENT_I_DN: distinguishedName(certificate.issuer),
    SSL_CLIENT_CERT: certificate.toString()
  })
}

/**
 * mod_ssl 2.4's DN string (RFC 2253, `CN=client,O=Example\, Inc.,C=US`) from node's
 * `X509Certificate.subject`. Both are OpenSSL's `X509_NAME_print_ex` with the same value
 * escaping (RFC 2253 specials and controls escaped, UTF-8 kept); node prints the entries
 * in certificate order, one RDN a line and ` + ` inside a multi-valued one, where mod_ssl
 * (`XN_FLAG_RFC2253`) prints every entry in reverse order, `,` between RDNs and `+` inside.
 * Only the hex dump mod_ssl gives an attribute of unknown string type differs.
 */
export const distinguishedName = (multiline: string): string =>
  multiline === ""
    ? ""
    : multiline.split("\n").reverse().map((rdn) => rdn.split(" + ").reverse().join("+")).join(",")

/** node's `authorizationError` (a code string at run time, typed as an Error). */
export const verifyCode = (error: unknown): string | null =>
  typeof error === "string" ? error : error instanceof Error ? (error as { code?: string }).code ?? error.message : null

/**
 * OpenSSL 3's text for the verification failures a client certificate meets
 * (`X509_verify_cert_error_string`, which mod_ssl puts after `FAILED:`); node gives only
 * the code, which stands for any other.
 */
const VERIFY_REASONS: Readonly<Record<string, string>> = {
  UNABLE_TO_GET_ISSUER_CERT: "unable to get issuer certificate",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "unable to get local issuer certificate",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unable to verify the first certificate",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in certificate chain",
  CERT_SIGNATURE_FAILURE: "certificate signature failure",
  CERT_NOT_YET_VALID: "certificate is not yet valid",
  CERT_HAS_EXPIRED: "certificate has expired",
  CERT_REVOKED: "certificate revoked",
  CERT_UNTRUSTED: "certificate not trusted",
  CERT_REJECTED: "certificate rejected",
  CERT_CHAIN_TOO_LONG: "certificate chain too long",
  INVALID_CA: "invalid CA certificate",
  INVALID_PURPOSE: "unsuitable certificate purpose",
  PATH_LENGTH_EXCEEDED: "path length constraint exceeded"
}

/** OpenSSL's text for a verification failure's code (the code itself when not known). */
export const verifyReason = (code: string): string => VERIFY_REASONS[code] ?? code

