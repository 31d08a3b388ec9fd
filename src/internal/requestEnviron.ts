/**
 * The CGI variables of an HTTP request, as CPython's `WSGIRequestHandler.get_environ`
 * builds them. Shared by every server adapter (node:http, Effect's HttpServer), so they
 * all hand apps the same environ.
 */
import type { CgiVariables } from "../Protocol.js"

/** What an adapter knows about a request. */
export interface RequestLine {
  /** The method, as sent. */
  readonly method: string
  /** The request target, as sent (origin-form `/path?query`, or absolute-form). */
  readonly target: string
  /** "HTTP/1.1", "HTTP/1.0", … */
  readonly protocol: string
  /**
   * The headers in arrival order, names and values alternating (as node's
   * `IncomingMessage.rawHeaders`; values as latin-1 text).
   */
  readonly rawHeaders: ReadonlyArray<string>
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

/** Where a router mounted an app: the path it stripped and the rest, both still percent-encoded. */
export interface MountPoint {
  /** The stripped prefix (`SCRIPT_NAME` once decoded): "/wsgi". */
  readonly scriptName: string
  /** The rest of the original path (`PATH_INFO` once decoded): "/a/b", or "" for "/wsgi" itself. */
  readonly pathInfo: string
}

/**
 * The mount point of a request a router (Express, connect, Effect's `HttpRouter.mount`)
 * handed on with its prefix stripped from `url` and the target as sent in `originalUrl`:
 * the original path is the prefix followed by url's path. Routers give "/" (or "") for the
 * mount point itself, so "/wsgi" with url "/" is mounted at "/wsgi" with an empty rest.
 * `null` when nothing was stripped, or when the two paths do not fit together (a router
 * that rewrote the url rather than cut it).
 */
export const mountPoint = (originalUrl: string, url: string): MountPoint | null => {
  if (originalUrl === url) return null
  const original = splitTarget(originalUrl).path
  const rest = splitTarget(url).path
  let split: number
  if (original.endsWith(rest)) split = original.length - rest.length
  // The router added the slash: nothing was left after the prefix.
  else if (rest === "/") split = original.length
  else return null
  // A prefix is a path of its own ("/x"), not a cut inside a segment.
  if (split === 0 || original.charCodeAt(0) !== 47 /* "/" */ || original.charCodeAt(split - 1) === 47) return null
  const pathInfo = original.slice(split)
  return pathInfo === "" || pathInfo.charCodeAt(0) === 47 ? { scriptName: original.slice(0, split), pathInfo } : null
}


/** A header name's CGI key (`User-Agent` → `USER_AGENT`) and its `HTTP_` variable. */
interface HeaderKey {
  readonly key: string
  readonly httpKey: string
  /** 1 for `Content-Type`, 2 for `Content-Length` (spelled with a dash), else 0. */
  readonly special: 0 | 1 | 2
}

// Clients send the same few header names over and over: their keys are computed once.
// Bounded, so a client inventing names cannot grow it without end.
const headerKeys = new Map<string, HeaderKey>()
const MAX_CACHED_KEYS = 1024

const headerKey = (name: string): HeaderKey => {
  let found = headerKeys.get(name)
  if (found === undefined) {
    const lower = name.toLowerCase()
    const key = name.replace(/-/g, "_").toUpperCase()
    found = {
      key,
      httpKey: `HTTP_${key}`,
      special: lower === "content-type" ? 1 : lower === "content-length" ? 2 : 0
    }
    if (headerKeys.size < MAX_CACHED_KEYS) headerKeys.set(name, found)
  }
  return found
}

/**
 * CGI variables for a request, CPython's `get_environ` order and rules, as a new record
 * (written as one object literal: V8 makes it in one step, not one store per variable).
 */
export const requestEnviron = (request: RequestLine, server: ServerIdentity): CgiVariables => {
  const target = request.target
  let path: string
  let query: string
  const question = target.indexOf("?")
  if (target.charCodeAt(0) === 47 /* "/" */) {
    path = question === -1 ? target : target.slice(0, question)
    query = question === -1 ? "" : target.slice(question + 1)
  } else {
    const split = splitTarget(target)
    path = split.path
    query = split.query
  }
  const environ: CgiVariables = {
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
  const headers = request.rawHeaders
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!
    const rawValue = headers[i + 1]!
    const { httpKey, key, special } = headerKey(name)
    if (special === 1) {
      if (!sawType) {
        sawType = true
        environ["CONTENT_TYPE"] = rawValue
      }
      continue
    }
    if (special === 2) {
      if (!sawLength) {
        sawLength = true
        if (rawValue !== "") environ["CONTENT_LENGTH"] = rawValue
      }
      continue
    }
    // Python skips headers whose key is already a variable (CONTENT_TYPE, CONTENT_LENGTH,
    // or an HTTP_* one: a header named `Http-Host` after `Host`, …).
    if (baseKeys.has(key) || (key.startsWith("HTTP_") && key in environ)) continue
    const value = rawValue.trim()
    const previous = environ[httpKey]
    environ[httpKey] = previous === undefined ? value : `${previous as string},${value}`
  }
  return environ
}

// The CGI variables get_environ sets before it looks at the headers (the literal's keys):
// a header whose key is one of them is skipped (CPython's `if k in env: continue`).
const baseKeys: ReadonlySet<string> = new Set(
  Object.keys(
    requestEnviron(
      { method: "", target: "/", protocol: "", rawHeaders: [], remoteAddress: "" },
      { serverName: "", serverPort: "", serverSoftware: "" }
    )
  )
)
