/**
 * WSGI helpers for URLs, path traversal and test environments: Python's `wsgiref.util`.
 *
 * @since 0.1.0
 */
import { BytesInputStream } from "./internal/bytesInput.js"
import { assertLatin1 } from "./internal/latin1.js"
import { StringErrorStream } from "./internal/stringErrors.js"
import { typeName } from "./internal/typeName.js"
import type { CgiVariables, Environ } from "./Protocol.js"

/** A key holding `undefined` counts as missing, as JavaScript code expects. */
const isMissing = (environ: Readonly<CgiVariables>, key: string): boolean => environ[key] === undefined

const setDefault = (environ: CgiVariables, key: string, value: unknown): void => {
  if (isMissing(environ, key)) environ[key] = value
}

/** `environ[key]` when it is a string; `undefined` for `undefined` or `null` (Python's None). */
const optionalString = (environ: Readonly<CgiVariables>, key: string): string | undefined => {
  const value = environ[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== "string") {
    throw new TypeError(`environ["${key}"] must be a string (not ${typeName(value)})`)
  }
  return value
}

/** `environ[key]`, which must be a string (Python raises KeyError when it is missing). */
const requiredString = (environ: Readonly<CgiVariables>, key: string): string => {
  const value = optionalString(environ, key)
  if (value === undefined) throw new TypeError(`environ["${key}"] is missing`)
  return value
}

// Python's urllib.parse.quote never escapes letters, digits and "_.-~"; the rest of each
// pattern is the `safe` argument util.py passes for that key.
const SCRIPT_NAME_UNSAFE = /[^A-Za-z0-9_.~\-/]/g
const PATH_INFO_UNSAFE = /[^A-Za-z0-9_.~\-/;=,]/g

const percentEncode = (char: string): string =>
  `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`

/**
 * `urllib.parse.quote(text, safe, encoding="latin1")`: environ values are latin-1 native
 * strings, so each character is one byte.
 */
const quoteLatin1 = (text: string, unsafe: RegExp): string => {
  assertLatin1(text)
  return text.replace(unsafe, percentEncode)
}

/**
 * Python's `posixpath.normpath`: drops empty and "." segments and resolves ".." lexically.
 * Unlike Node's `path.posix.normalize` it keeps exactly two leading slashes (POSIX leaves
 * their meaning open) and never keeps a trailing slash.
 */
const normalizePosixPath = (path: string): string => {
  if (path === "") return "."
  const leadingSlashes = path.startsWith("//") && !path.startsWith("///") ? 2 : path.startsWith("/") ? 1 : 0
  const segments: Array<string> = []
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue
    const last = segments.at(-1)
    if (segment !== ".." || (leadingSlashes === 0 && last === undefined) || last === "..") {
      segments.push(segment)
    } else if (last !== undefined) {
      segments.pop()
    }
  }
  return "/".repeat(leadingSlashes) + segments.join("/") || "."
}

/**
 * "https" when `environ.HTTPS` is "yes", "on" or "1", otherwise "http".
 *
 * @since 0.1.0
 * @category utils
 */
export const guessScheme = (environ: Readonly<CgiVariables>): "http" | "https" => {
  const https = environ["HTTPS"]
  return https === "yes" || https === "on" || https === "1" ? "https" : "http"
}

/**
 * The application's base URI: scheme, host (with the port when it is not the scheme's
 * default) and the quoted `SCRIPT_NAME`, without `PATH_INFO` or `QUERY_STRING`.
 *
 * @throws TypeError when `wsgi.url_scheme`, or `SERVER_NAME` and `SERVER_PORT` without an
 * `HTTP_HOST`, are missing or not strings; RangeError when `SCRIPT_NAME` is not latin-1.
 * @since 0.1.0
 * @category utils
 */
export const applicationUri = (environ: Readonly<CgiVariables>): string => {
  const scheme = requiredString(environ, "wsgi.url_scheme")
  let url = `${scheme}://`
  const host = optionalString(environ, "HTTP_HOST")
  if (host) {
    url += host
  } else {
    url += requiredString(environ, "SERVER_NAME")
    const port = requiredString(environ, "SERVER_PORT")
    if (port !== (scheme === "https" ? "443" : "80")) url += `:${port}`
  }
  return url + quoteLatin1(optionalString(environ, "SCRIPT_NAME") || "/", SCRIPT_NAME_UNSAFE)
}

/**
 * The full request URI: `applicationUri` plus the quoted `PATH_INFO` and, when
 * `includeQuery`, "?" and the `QUERY_STRING` as it came.
 *
 * @throws as `applicationUri`; RangeError when `PATH_INFO` is not latin-1.
 * @since 0.1.0
 * @category utils
 */
export const requestUri = (environ: Readonly<CgiVariables>, includeQuery = true): string => {
  let url = applicationUri(environ)
  const pathInfo = quoteLatin1(optionalString(environ, "PATH_INFO") ?? "", PATH_INFO_UNSAFE)
  // Without a SCRIPT_NAME the base URI already ends in the "/" that PATH_INFO starts with.
  const startsWithSlash = !optionalString(environ, "SCRIPT_NAME") && pathInfo.startsWith("/")
  url += startsWithSlash ? pathInfo.slice(1) : pathInfo
  const query = optionalString(environ, "QUERY_STRING")
  if (includeQuery && query) url += `?${query}`
  return url
}

/**
 * Moves the next segment of `PATH_INFO` onto `SCRIPT_NAME` and returns it; `null` when
 * there is none. Changes `environ` in place (copy it first to keep the original paths).
 *
 * Empty and "." segments are skipped, and `SCRIPT_NAME` is normalized (so ".." climbs up).
 * When `PATH_INFO` is just "/", this returns "" and `SCRIPT_NAME` gets a trailing "/", so an
 * application can tell "/x" from "/x/".
 *
 * @example
 * ```ts
 * const environ = { SCRIPT_NAME: "/a", PATH_INFO: "/x/y" }
 * shiftPathInfo(environ) // "x"; environ is now { SCRIPT_NAME: "/a/x", PATH_INFO: "/y" }
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const shiftPathInfo = (environ: CgiVariables): string | null => {
  const pathInfo = optionalString(environ, "PATH_INFO")
  if (!pathInfo) return null
  const parts = pathInfo.split("/")
  // No "/" at all (e.g. the "*" of "OPTIONS *") leaves no segment to shift.
  if (parts.length < 2) return null
  // Empty and "." segments go, except the last one, which tells "/x" from "/x/".
  const middle = parts.slice(1, -1).filter((part) => part !== "" && part !== ".")
  const [head, name, ...rest] = [parts[0], ...middle, parts[parts.length - 1]]

  let scriptName = normalizePosixPath(`${optionalString(environ, "SCRIPT_NAME") ?? ""}/${name}`)
  if (scriptName.endsWith("/")) scriptName = scriptName.slice(0, -1)
  if (!name && !scriptName.endsWith("/")) scriptName += "/"

  environ["SCRIPT_NAME"] = scriptName
  environ["PATH_INFO"] = [head, ...rest].join("/")
  // A trailing "." was kept as the last segment rather than skipped; it names nothing.
  return name === "." ? null : name
}

/**
 * Fills in whatever a minimal WSGI environ lacks, for tests: server name, port and protocol,
 * host, method, paths, the `wsgi.*` keys (an empty in-memory `wsgi.input`, a `wsgi.errors`
 * that keeps what is written in memory) and a URL scheme from `guessScheme`. Keys already
 * present are left alone; a key holding `undefined` counts as missing. Changes `environ` in
 * place. The values are fake: never use this in a real server.
 *
 * After the call, TypeScript treats `environ` as an `Environ`, so it can be handed to an
 * application (the keys it was given are kept as they are, so give them the right types).
 *
 * @example
 * ```ts
 * const environ = { PATH_INFO: "/hello" }
 * setupTestingDefaults(environ)
 * const body = await app(environ, startResponse)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export function setupTestingDefaults(environ: CgiVariables): asserts environ is Environ {
  setDefault(environ, "SERVER_NAME", "127.0.0.1")
  setDefault(environ, "SERVER_PROTOCOL", "HTTP/1.0")
  setDefault(environ, "HTTP_HOST", environ["SERVER_NAME"])
  setDefault(environ, "REQUEST_METHOD", "GET")
  if (isMissing(environ, "SCRIPT_NAME") && isMissing(environ, "PATH_INFO")) {
    environ["SCRIPT_NAME"] = ""
    environ["PATH_INFO"] = "/"
  }
  setDefault(environ, "wsgi.version", [1, 0])
  setDefault(environ, "wsgi.run_once", false)
  setDefault(environ, "wsgi.multithread", false)
  setDefault(environ, "wsgi.multiprocess", false)
  setDefault(environ, "wsgi.input", new BytesInputStream())
  setDefault(environ, "wsgi.errors", new StringErrorStream())
  setDefault(environ, "wsgi.url_scheme", guessScheme(environ))
  const scheme = environ["wsgi.url_scheme"]
  if (scheme === "http") setDefault(environ, "SERVER_PORT", "80")
  else if (scheme === "https") setDefault(environ, "SERVER_PORT", "443")
}

// RFC 2616 section 13.5.1: headers that concern one connection, which a WSGI app must not set.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailers",
  "transfer-encoding",
  "upgrade"
])

const HOP_BY_HOP_LENGTHS = new Set([...HOP_BY_HOP].map((name) => name.length))

/**
 * Whether `name` (any case) is an HTTP/1.1 hop-by-hop header.
 *
 * @since 0.1.0
 * @category utils
 */
export const isHopByHop = (name: string): boolean =>
  // Lower-cased only when its length is one of theirs (Content-Type, Content-Length: never).
  HOP_BY_HOP_LENGTHS.has(name.length) && HOP_BY_HOP.has(name.toLowerCase())
