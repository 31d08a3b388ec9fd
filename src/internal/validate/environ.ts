/**
 * The validator's checks of the environ a gateway hands over (CPython's `check_environ`,
 * `check_input` and `check_errors`).
 */
import type { CgiVariables, Environ } from "../../Protocol.js"
import { assert, warn } from "./report.js"
import { isPlainObject, pythonInt, repr, typeRepr } from "./repr.js"

/** An absent key and a key set to `undefined` are the same thing to an application. */
const has = (environ: Readonly<CgiVariables>, key: string): boolean => environ[key] !== undefined

/** `environ.get(key)` in a boolean context: present and not empty. */
const truthy = (environ: Readonly<CgiVariables>, key: string): boolean => {
  const value = environ[key]
  return value !== undefined && value !== null && value !== "" && value !== false && value !== 0
}

const REQUIRED_KEYS = [
  "REQUEST_METHOD",
  "SERVER_NAME",
  "SERVER_PORT",
  "wsgi.version",
  "wsgi.input",
  "wsgi.errors",
  "wsgi.multithread",
  "wsgi.multiprocess",
  "wsgi.run_once"
] as const

// CPython's list, kept as it is (it has no CONNECT).
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "OPTIONS", "PATCH", "PUT", "DELETE", "TRACE"])

// Past it, the app is handed the environ as an `Environ` (as far as CPython's checks go: they
// do not require SERVER_PROTOCOL).
export const checkEnviron: (environ: unknown) => asserts environ is Environ = (environ) => {
  assert(
    typeof environ === "object" && environ !== null && !Array.isArray(environ) && isPlainObject(environ),
    () => `Environment is not of the right type: ${typeRepr(environ)} (environment: ${repr(environ)})`
  )
  // Not an Environ until every check below has passed.
  const env = environ as CgiVariables

  for (const key of REQUIRED_KEYS) {
    assert(has(env, key), () => `Environment missing required key: ${repr(key)}`)
  }
  for (const key of ["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"]) {
    assert(!has(env, key), () => `Environment should not have the key: ${key} (use ${key.slice(5)} instead)`)
  }
  if (!has(env, "QUERY_STRING")) {
    warn(
      "QUERY_STRING is not in the WSGI environment; the cgi module will use sys.argv when this " +
        "variable is missing, so application errors are more likely"
    )
  }
  for (const [key, value] of Object.entries(env)) {
    // Keys with a dot are extensions (wsgi.*, server-specific): any type goes.
    if (key.includes(".") || value === undefined) continue
    assert(
      typeof value === "string",
      () => `Environmental variable ${key} is not a string: ${typeRepr(value)} (value: ${repr(value)})`
    )
  }

  const version = env["wsgi.version"]
  // PEP 3333's (1, 0): in TypeScript a tuple type, so an array of integers.
  assert(
    Array.isArray(version) && version.length >= 2 && version.every((part) => Number.isInteger(part) && part >= 0),
    () => `wsgi.version should be a tuple (${repr(version)})`
  )
  const scheme = env["wsgi.url_scheme"]
  assert(scheme === "http" || scheme === "https", () => `wsgi.url_scheme unknown: ${repr(scheme)}`)
  // Beyond CPython: PEP 3333 says these three are booleans, and a truthy string such as
  // "false" would mislead every app that tests them.
  for (const key of ["wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"]) {
    const flag = env[key]
    assert(typeof flag === "boolean", () => `${key} should be a boolean (${repr(flag)})`)
  }

  checkInput(env["wsgi.input"])
  checkErrors(env["wsgi.errors"])

  const method = env["REQUEST_METHOD"] as string
  if (!KNOWN_METHODS.has(method)) warn(`Unknown REQUEST_METHOD: ${repr(method)}`)

  const scriptName = env["SCRIPT_NAME"]
  const pathInfo = env["PATH_INFO"]
  assert(
    !truthy(env, "SCRIPT_NAME") || (scriptName as string).startsWith("/"),
    () => `SCRIPT_NAME doesn't start with /: ${repr(scriptName)}`
  )
  assert(
    !truthy(env, "PATH_INFO") || (pathInfo as string).startsWith("/"),
    () => `PATH_INFO doesn't start with /: ${repr(pathInfo)}`
  )
  if (truthy(env, "CONTENT_LENGTH")) {
    const length = env["CONTENT_LENGTH"] as string
    // CPython's int() raises its own ValueError for a non-number; one message covers both.
    assert(pythonInt(length) >= 0, () => `Invalid CONTENT_LENGTH: ${repr(length)}`)
  }
  if (!truthy(env, "SCRIPT_NAME")) {
    assert(
      has(env, "PATH_INFO"),
      () => "One of SCRIPT_NAME or PATH_INFO are required (PATH_INFO should at least be '/' if SCRIPT_NAME is empty)"
    )
  }
  assert(
    scriptName !== "/",
    () => "SCRIPT_NAME cannot be '/'; it should instead be '', and PATH_INFO should be '/'"
  )
}

const INPUT_METHODS: ReadonlyArray<[key: PropertyKey, name: string]> = [
  ["read", "read"],
  ["readline", "readline"],
  ["readlines", "readlines"],
  [Symbol.asyncIterator, "[Symbol.asyncIterator]"]
]

const checkInput = (input: unknown): void => {
  for (const [key, name] of INPUT_METHODS) {
    assert(
      typeof input === "object" && input !== null && typeof (input as Record<PropertyKey, unknown>)[key] === "function",
      () => `wsgi.input (${repr(input)}) doesn't have the attribute ${name}`
    )
  }
}

const checkErrors = (errors: unknown): void => {
  for (const name of ["flush", "write", "writelines"]) {
    assert(
      typeof errors === "object" && errors !== null && typeof (errors as Record<string, unknown>)[name] === "function",
      () => `wsgi.errors (${repr(errors)}) doesn't have the attribute ${name}`
    )
  }
}
