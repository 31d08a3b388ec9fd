/**
 * The CGI variables of an HTTP request, as CPython's `WSGIRequestHandler.get_environ`
 * builds them. Shared by every server adapter (node:http, Effect's HttpServer), so they
 * all hand apps the same environ.
 */
import type { Environ } from "../Protocol.js"

/** What an adapter knows about a request. */
export interface RequestLine {
  /** The method, as sent. */
  readonly method: string
  /** The request target, as sent (origin-form `/path?query`, or absolute-form). */
  readonly target: string
  /** "HTTP/1.1", "HTTP/1.0", … */
  readonly protocol: string
  /** The headers in arrival order, as `[name, value]` (values as latin-1 text). */
  readonly headers: ReadonlyArray<readonly [string, string]>
  /** The peer's address. */
  readonly remoteAddress: string
}

/** The server's side: `SERVER_NAME`, `SERVER_PORT`, `SERVER_SOFTWARE`. */
export interface ServerIdentity {
  readonly serverName: string
  readonly serverPort: string
  readonly serverSoftware: string
}

const hex = (code: number): number =>
  code >= 48 && code <= 57 ? code - 48 : code >= 65 && code <= 70 ? code - 55 : code >= 97 && code <= 102 ? code - 87 : -1

/** Python's `urllib.parse.unquote(path, 'iso-8859-1')`: %XX to bytes, read as latin-1. */
export const unquoteLatin1 = (text: string): string => {
  if (!text.includes("%")) return text
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!
    if (char === "%" && i + 2 < text.length) {
      const high = hex(text.charCodeAt(i + 1))
      const low = hex(text.charCodeAt(i + 2))
      if (high >= 0 && low >= 0) {
        out += String.fromCharCode(high * 16 + low)
        i += 2
        continue
      }
    }
    out += char
  }
  return out
}

/** The path and query of a target; absolute-form (`http://host/p?q`) keeps only its path. */
export const splitTarget = (target: string): { readonly path: string; readonly query: string } => {
  let rest = target
  if (!rest.startsWith("/")) {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(rest)
    if (scheme !== null) rest = rest.slice(scheme[0].length) || "/"
  }
  const question = rest.indexOf("?")
  return question === -1 ? { path: rest, query: "" } : { path: rest.slice(0, question), query: rest.slice(question + 1) }
}

/** CGI variables for a request, CPython's `get_environ` order and rules. */
export const requestEnviron = (request: RequestLine, server: ServerIdentity): Environ => {
  const { path, query } = splitTarget(request.target)
  const environ: Record<string, string> = {
    SERVER_NAME: server.serverName,
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PORT: server.serverPort,
    REMOTE_HOST: "",
    CONTENT_LENGTH: "",
    SCRIPT_NAME: "",
    SERVER_PROTOCOL: request.protocol,
    SERVER_SOFTWARE: server.serverSoftware,
    REQUEST_METHOD: request.method,
    PATH_INFO: unquoteLatin1(path),
    QUERY_STRING: query,
    REMOTE_ADDR: request.remoteAddress,
    CONTENT_TYPE: "text/plain"
  }
  // The first Content-Type and Content-Length win, as Python's `headers[name]`.
  let sawType = false
  let sawLength = false
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase()
    if (lower === "content-type" && !sawType) {
      sawType = true
      environ["CONTENT_TYPE"] = value
    } else if (lower === "content-length" && !sawLength) {
      sawLength = true
      if (value !== "") environ["CONTENT_LENGTH"] = value
    }
  }
  for (const [name, rawValue] of request.headers) {
    const key = name.replace(/-/g, "_").toUpperCase()
    // Python skips headers whose key is already a CGI variable (CONTENT_TYPE, CONTENT_LENGTH, …).
    if (key in environ) continue
    const value = rawValue.trim()
    const httpKey = `HTTP_${key}`
    environ[httpKey] = httpKey in environ ? `${environ[httpKey]},${value}` : value
  }
  return environ
}
