/**
 * `validator(app)`: CPython's `wsgiref.validate`, the PEP 3333 lint middleware.
 *
 * Put it between a gateway and an application and it checks both sides of every request:
 * the environ and the streams the gateway hands over, and everything the application does
 * with them (its `startResponse` calls, its `write()` calls, the body it returns), and that
 * the gateway iterates and closes that body as PEP 3333 says. It changes nothing about the
 * request or the response (except that the body is wrapped, so a gateway can no longer see
 * that it was an array or a `FileWrapper`).
 *
 * A breach is a thrown `ValidationError` whose message is CPython's `AssertionError` message
 * where CPython has one. A use that is legal but suspicious is a `WSGIWarning`, emitted
 * with `process.emitWarning`. Both are also published on the `validatorChannel`
 * diagnostics channel, so a test harness can see breaches that a gateway caught and turned
 * into a 500 page.
 *
 * @since 0.1.0
 */
import { channel } from "node:diagnostics_channel"
import { ProtocolError } from "./HandlerError.js"
import type {
  Application,
  CgiVariables,
  Environ,
  ErrorStream,
  HeaderList,
  InputStream,
  ResponseBody,
  StartResponse,
  Write
} from "./Protocol.js"

// ---------------------------------------------------------------------------------------
// Errors and warnings

/**
 * A PEP 3333 breach found by `validator`, by the application or by the gateway (CPython's
 * `AssertionError` from `wsgiref.validate`).
 *
 * It is a `ProtocolError` (`instanceof ProtocolError` holds) and keeps its `_tag`,
 * `"ProtocolError"`, on purpose: a breach the validator sees is the same kind of failure
 * as one the handler sees, so `Effect.catchTag("ProtocolError")` and code that switches
 * over `HandlerError` tags handle both. Its `name` is `"ValidationError"`, so logs and
 * stack traces say which checker spoke; tell the two apart with `instanceof`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ValidationError extends ProtocolError {}

// On the prototype, as Data.TaggedError puts its own name: an own field would take part
// in structural equality and show up in Object.keys.
Object.defineProperty(ValidationError.prototype, "name", {
  value: "ValidationError",
  writable: true,
  enumerable: false,
  configurable: true
})

/**
 * A use of the protocol that is legal but suspicious (CPython's `WSGIWarning`): an unknown
 * `REQUEST_METHOD`, a missing `QUERY_STRING`, a status without a reason phrase, a body
 * that was never closed. `validator` emits it with `process.emitWarning(warning)`, so its
 * warning name is `"WSGIWarning"`.
 *
 * @since 0.1.0
 * @category errors
 */
export class WSGIWarning extends Error {
  constructor(message: string) {
    super(message)
    this.name = "WSGIWarning"
  }
}

/**
 * The name of the `node:diagnostics_channel` channel on which `validator` publishes every
 * `ValidationError` it throws and every `WSGIWarning` it emits, at the moment it does.
 * Subscribe to collect breaches a gateway swallowed (it logs an app's error and sends a
 * 500 page) or to fail a test run on any of them.
 *
 * @since 0.1.0
 * @category constants
 */
export const validatorChannel = "effect-wsgi:validator"

const reports = channel(validatorChannel)

const fail = (message: string): never => {
  const error = new ValidationError({ message })
  if (reports.hasSubscribers) reports.publish(error)
  throw error
}

const assert = (condition: boolean, message: () => string): void => {
  if (!condition) fail(message())
}

const warn = (message: string): void => {
  const warning = new WSGIWarning(message)
  if (reports.hasSubscribers) reports.publish(warning)
  process.emitWarning(warning)
}

// ---------------------------------------------------------------------------------------
// Python's repr, for messages that read as CPython's

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const className = (value: object): string => {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === "string" && name !== "" ? name : "Object"
}

/** `type(value)` as Python prints it, with JavaScript's type names: `<class 'string'>`. */
const typeRepr = (value: unknown): string => {
  if (value === null) return "<class 'null'>"
  if (typeof value === "object" || typeof value === "function") {
    return `<class '${typeof value === "function" ? "Function" : className(value)}'>`
  }
  return `<class '${typeof value}'>`
}

const escapeChar = (code: number): string => {
  if (code === 0x5c) return "\\\\"
  if (code === 0x0a) return "\\n"
  if (code === 0x0d) return "\\r"
  if (code === 0x09) return "\\t"
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, "0")}`
  return `\\u${code.toString(16).padStart(4, "0")}`
}

/** Python's `repr(str)`: single quotes unless the text has one and no double quote. */
const stringRepr = (text: string): string => {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'"
  let out = quote
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    const char = text[i]!
    if (char === quote) out += `\\${quote}`
    else if (code === 0x5c || code < 0x20 || (code >= 0x7f && code <= 0xa0) || code === 0xad) out += escapeChar(code)
    else if (code >= 0xd800 && code <= 0xdfff) {
      // Python prints a lone surrogate as an escape; a pair is one printable character.
      const next = text.charCodeAt(i + 1)
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        out += char + text[i + 1]!
        i++
      } else out += escapeChar(code)
    } else out += char
  }
  return out + quote
}

/** Python's `repr(bytes)`. */
const bytesRepr = (bytes: Uint8Array): string => {
  const hasSingle = bytes.includes(0x27)
  const quote = hasSingle && !bytes.includes(0x22) ? '"' : "'"
  let out = "b" + quote
  for (const byte of bytes) {
    if (byte === quote.charCodeAt(0)) out += `\\${quote}`
    else if (byte === 0x5c || byte < 0x20 || byte >= 0x7f) out += escapeChar(byte)
    else out += String.fromCharCode(byte)
  }
  return out + quote
}

/**
 * A JavaScript value as Python's `%r` would show the like Python value: strings and bytes
 * quoted as Python quotes them, arrays as lists, plain objects as dicts; anything else as
 * JavaScript names it.
 */
const repr = (value: unknown, seen: Set<object> = new Set()): string => {
  switch (typeof value) {
    case "string":
      return stringRepr(value)
    case "bigint":
      return `${value}n`
    case "function":
      return `<function ${value.name || "(anonymous)"}>`
    case "object": {
      if (value === null) return "null"
      if (value instanceof Uint8Array) return bytesRepr(value)
      if (seen.has(value)) return Array.isArray(value) ? "[...]" : "{...}"
      seen.add(value)
      try {
        if (Array.isArray(value)) return `[${value.map((item) => repr(item, seen)).join(", ")}]`
        if (value instanceof Error) return `${value.name}(${stringRepr(value.message)})`
        if (isPlainObject(value)) {
          const entries = Object.entries(value).map(([key, item]) => `${stringRepr(key)}: ${repr(item, seen)}`)
          return `{${entries.join(", ")}}`
        }
        return `<${className(value)} object>`
      } finally {
        seen.delete(value)
      }
    }
    default:
      return String(value)
  }
}

/** Python's `%s` of an argument tuple: `('200 OK',)`. */
const tupleRepr = (items: ReadonlyArray<unknown>): string =>
  items.length === 1 ? `(${repr(items[0])},)` : `(${items.map((item) => repr(item)).join(", ")})`

const checkStringType = (value: unknown, title: string): string => {
  if (typeof value === "string") return value
  return fail(`${title} must be of type str (got ${repr(value)})`)
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === "object" || typeof value === "function") && value !== null &&
  typeof (value as { then?: unknown }).then === "function"

const isError = (value: unknown): boolean =>
  value instanceof Error || Object.prototype.toString.call(value) === "[object Error]"

/** Python's `int()` of a decimal string (signs and digit underscores allowed), or NaN. */
const pythonInt = (text: string): number =>
  /^\s*[+-]?\d+(?:_\d+)*\s*$/.test(text) ? Number(text.replace(/_/g, "")) : Number.NaN

/** An absent key and a key set to `undefined` are the same thing to an application. */
const has = (environ: Readonly<CgiVariables>, key: string): boolean => environ[key] !== undefined

/** `environ.get(key)` in a boolean context: present and not empty. */
const truthy = (environ: Readonly<CgiVariables>, key: string): boolean => {
  const value = environ[key]
  return value !== undefined && value !== null && value !== "" && value !== false && value !== 0
}

// ---------------------------------------------------------------------------------------
// The environ

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
const checkEnviron: (environ: unknown) => asserts environ is Environ = (environ) => {
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

// ---------------------------------------------------------------------------------------
// wsgi.input and wsgi.errors

const argumentCount = (method: string, given: number, expected: string): string =>
  `${method} takes ${expected} (${given} given)`

/** A size argument: an integer, or null/undefined for "no limit" (Python's None). */
const checkSize = (method: string, size: unknown): void => {
  assert(
    size === undefined || size === null || Number.isInteger(size),
    () => `${method} argument must be an integer or null (got ${repr(size)})`
  )
}

/** What a wsgi.input method returned: a Promise, as the gateway's side of the contract says. */
const settled = async (method: string, value: unknown): Promise<unknown> => {
  assert(isThenable(value), () => `${method} must return a Promise (got ${repr(value)})`)
  return await value
}

const checkChunk = (method: string, chunk: unknown, size: unknown): Uint8Array => {
  assert(chunk instanceof Uint8Array, () => `${method} must resolve to a Uint8Array (got ${repr(chunk)})`)
  const bytes = chunk as Uint8Array
  // Python's file semantics: never more than was asked for.
  if (typeof size === "number" && size >= 0) {
    assert(bytes.length <= size, () => `${method} returned ${bytes.length} bytes, more than the ${size} asked for`)
  }
  return bytes
}

/**
 * `wsgi.input` as the application sees it under the validator: CPython's `InputWrapper`.
 * Only the PEP 3333 methods exist, and `close()` is a breach.
 */
class InputWrapper implements InputStream {
  readonly #input: InputStream

  constructor(input: InputStream) {
    this.#input = input
  }

  // Argument checks throw at the call, as CPython's asserts do; checks of what the gateway
  // returned can only reject.
  read(...args: Array<unknown>): Promise<Uint8Array> {
    // CPython's validator insists on exactly one argument (a WSGI 1.0 rule). PEP 3333 then
    // told servers to accept read() with none, and this project's InputStream contract
    // makes the size optional, so only a surplus argument is a breach here.
    assert(args.length <= 1, () => argumentCount("wsgi.input.read()", args.length, "at most one argument"))
    checkSize("wsgi.input.read()", args[0])
    const result = (this.#input.read as (...a: Array<unknown>) => unknown)(...args)
    return settled("wsgi.input.read()", result).then((chunk) => checkChunk("wsgi.input.read()", chunk, args[0]))
  }

  readline(...args: Array<unknown>): Promise<Uint8Array> {
    assert(args.length <= 1, () => argumentCount("wsgi.input.readline()", args.length, "at most one argument"))
    checkSize("wsgi.input.readline()", args[0])
    const result = (this.#input.readline as (...a: Array<unknown>) => unknown)(...args)
    return settled("wsgi.input.readline()", result).then((line) => checkChunk("wsgi.input.readline()", line, args[0]))
  }

  readlines(...args: Array<unknown>): Promise<Array<Uint8Array>> {
    assert(args.length <= 1, () => argumentCount("wsgi.input.readlines()", args.length, "at most one argument"))
    checkSize("wsgi.input.readlines()", args[0])
    const result = (this.#input.readlines as (...a: Array<unknown>) => unknown)(...args)
    return settled("wsgi.input.readlines()", result).then((lines) => {
      assert(
        Array.isArray(lines) && lines.every((line) => line instanceof Uint8Array),
        () => `wsgi.input.readlines() must resolve to an array of Uint8Array (got ${repr(lines)})`
      )
      return lines as Array<Uint8Array>
    })
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const inner = this.#input[Symbol.asyncIterator]()
    return {
      next: async () => {
        const step = await settled("wsgi.input iteration", inner.next())
        const result = step as IteratorResult<unknown>
        if (result.done) return { done: true, value: undefined }
        assert(
          result.value instanceof Uint8Array && result.value.length > 0,
          () => `wsgi.input iteration must yield non-empty Uint8Array lines (got ${repr(result.value)})`
        )
        return { done: false, value: result.value as Uint8Array }
      },
      return: async () => {
        if (typeof inner.return === "function") await inner.return()
        return { done: true, value: undefined }
      }
    }
  }

  close(): never {
    return fail("input.close() must not be called")
  }
}

/** `wsgi.errors` as the application sees it under the validator: CPython's `ErrorWrapper`. */
class ErrorWrapper implements ErrorStream {
  readonly #errors: ErrorStream

  constructor(errors: ErrorStream) {
    this.#errors = errors
  }

  write(...args: Array<unknown>): void {
    assert(args.length === 1, () => argumentCount("wsgi.errors.write()", args.length, "exactly one argument"))
    const text = args[0]
    assert(typeof text === "string", () => `wsgi.errors.write() argument must be a str (got ${repr(text)})`)
    this.#errors.write(text as string)
  }

  writelines(...args: Array<unknown>): void {
    assert(args.length === 1, () => argumentCount("wsgi.errors.writelines()", args.length, "exactly one argument"))
    const seq = args[0]
    assert(
      typeof seq === "object" && seq !== null && typeof (seq as Iterable<unknown>)[Symbol.iterator] === "function",
      () => `wsgi.errors.writelines() argument must be an iterable of str (got ${repr(seq)})`
    )
    // Checked before anything is written, then handed to the gateway's own writelines (CPython
    // writes line by line instead, which would leave the gateway's writelines untested).
    const lines = [...(seq as Iterable<unknown>)]
    for (const line of lines) {
      assert(typeof line === "string", () => `wsgi.errors.writelines() lines must be str (got ${repr(line)})`)
    }
    this.#errors.writelines(lines as Array<string>)
  }

  flush(...args: Array<unknown>): void {
    assert(args.length === 0, () => argumentCount("wsgi.errors.flush()", args.length, "no arguments"))
    this.#errors.flush()
  }

  close(): never {
    return fail("errors.close() must not be called")
  }
}

// ---------------------------------------------------------------------------------------
// startResponse and write()

const HEADER_NAME = /^[a-zA-Z][a-zA-Z0-9\-_]*$/
// eslint-disable-next-line no-control-regex
const BAD_HEADER_VALUE = /[\x00-\x1f]/

const checkStatus = (value: unknown): void => {
  const status = checkStringType(value, "Status")
  // Python's status.split(None, 1)[0]; an empty status has no code at all.
  const statusCode = status.trim().split(/\s+/)[0] ?? ""
  assert(statusCode.length === 3, () => `Status codes must be three characters: ${repr(statusCode)}`)
  const statusInt = pythonInt(statusCode)
  // CPython's int() raises ValueError here ("invalid literal for int()").
  assert(!Number.isNaN(statusInt), () => `Status code must be an integer: ${repr(statusCode)}`)
  assert(statusInt >= 100, () => `Status code is invalid: ${repr(statusInt)}`)
  if (status.length < 4 || status[3] !== " ") {
    warn(
      `The status string (${repr(status)}) should be a three-digit integer followed by a single space and a status explanation`
    )
  }
}

const checkHeaders = (headers: unknown): void => {
  assert(Array.isArray(headers), () => `Headers (${repr(headers)}) must be of type list: ${typeRepr(headers)}`)
  for (const item of headers as Array<unknown>) {
    assert(Array.isArray(item), () => `Individual headers (${repr(item)}) must be of type tuple: ${typeRepr(item)}`)
    const pair = item as Array<unknown>
    assert(pair.length === 2, () => `Individual headers (${repr(pair)}) must have 2 items (got ${pair.length})`)
    const name = checkStringType(pair[0], "Header name")
    const value = checkStringType(pair[1], "Header value")
    assert(
      name.toLowerCase() !== "status",
      () =>
        "The Status header cannot be used; it conflicts with CGI script, and HTTP status is not given " +
        `through headers (value: ${repr(value)}).`
    )
    assert(!name.includes("\n") && !name.includes(":"), () => `Header names may not contain ':' or '\\n': ${repr(name)}`)
    assert(HEADER_NAME.test(name), () => `Bad header name: ${repr(name)}`)
    assert(!name.endsWith("-") && !name.endsWith("_"), () => `Names may not end in '-' or '_': ${repr(name)}`)
    const bad = BAD_HEADER_VALUE.exec(value)
    if (bad !== null) fail(`Bad header value: ${repr(value)} (bad char: ${repr(bad[0])})`)
  }
}

// Responses that carry no content, so they must not describe it.
const NO_MESSAGE_BODY = new Set([204, 304])

const checkContentType = (status: string, headers: HeaderList): void => {
  const code = pythonInt(status.trim().split(/\s+/)[0]!)
  for (const [rawName] of headers) {
    const name = checkStringType(rawName, "Header name")
    if (name.toLowerCase() === "content-type") {
      if (!NO_MESSAGE_BODY.has(code)) return
      fail(`Content-Type header found in a ${code} response, which must not return content.`)
    }
  }
  if (!NO_MESSAGE_BODY.has(code)) fail(`No Content-Type header found in headers (${repr(headers)})`)
}

/**
 * In TypeScript `excInfo` is the error the application caught (there is no exc_info
 * tuple). `true`/`false` are the mistake a Python habit makes (`exc_info=True`); other
 * non-Error values can be thrown in JavaScript, so they are only suspicious.
 */
const checkExcInfo = (excInfo: unknown): void => {
  if (excInfo === undefined || excInfo === null) return
  assert(typeof excInfo !== "boolean", () => `exc_info (${repr(excInfo)}) is not an error: ${typeRepr(excInfo)}`)
  if (!isError(excInfo)) {
    warn(`exc_info (${repr(excInfo)}) is not an Error: ${typeRepr(excInfo)}; it should be the error the application caught`)
  }
}

/** CPython's `WriteWrapper`: `write()` takes exactly one Uint8Array. */
const wrapWrite = (write: Write): Write => {
  const validatedWrite = (...args: Array<unknown>): Promise<void> => {
    assert(args.length === 1, () => argumentCount("write()", args.length, "exactly one argument"))
    const data = args[0]
    assert(data instanceof Uint8Array, () => `write() argument must be bytes, a Uint8Array (got ${repr(data)})`)
    const result: unknown = write(data as Uint8Array)
    assert(isThenable(result), () => `write() must return a Promise (got ${repr(result)})`)
    return result as Promise<void>
  }
  return validatedWrite as Write
}

// ---------------------------------------------------------------------------------------
// The response body

// CPython's IteratorWrapper.__del__: the only way to notice that a gateway never closed the
// body is to see the wrapper collected while still open.
const unclosed = new FinalizationRegistry<BodyState>((state) => {
  if (!state.closed) warn("Iterator garbage collected without being closed")
})

interface BodyState {
  closed: boolean
}

interface ResponseState {
  /** True once the application called startResponse (CPython's `start_response_started`). */
  started: boolean
  /** True once a startResponse call went through to the gateway. */
  headersSet: boolean
}

/**
 * CPython's `IteratorWrapper`, for sync and async bodies alike: chunks must be bytes, the
 * first one may only come once `startResponse` was called, nothing is read after
 * `close()`, and `close()` is called exactly once.
 */
const wrapBody = (original: ResponseBody, response: ResponseState): ResponseBody => {
  const state: BodyState = { closed: false }
  let checkStartResponse = true
  let kind: "sync" | "async" | null = null

  const begin = (requested: "sync" | "async"): void => {
    assert(
      kind === null || kind === requested,
      () => "The application's iterable was iterated both synchronously and asynchronously"
    )
    kind = requested
  }

  const checkValue = (value: unknown): Uint8Array => {
    if (!(value instanceof Uint8Array)) fail(`Iterator yielded non-bytestring (${repr(value)})`)
    if (checkStartResponse) {
      assert(
        response.started,
        () =>
          "The application returns and we started iterating over its body, but start_response has not yet been called"
      )
      checkStartResponse = false
    }
    return value as Uint8Array
  }

  const checkOpen = (): void => assert(!state.closed, () => "Iterator read after closed")

  const close = (): void | Promise<void> => {
    assert(!state.closed, () => "The application's iterable was closed more than once")
    state.closed = true
    unclosed.unregister(state)
    return typeof original.close === "function" ? original.close() : undefined
  }

  if (Array.isArray(original)) {
    // An array stays an array, of the same length, so the gateway treats the response as it
    // would without the validator (a one-chunk array gets its Content-Length; CPython's
    // wrapper hides that and changes the response). Every element is read through a getter,
    // so a gateway that indexes the array instead of iterating it is checked all the same.
    const items: ReadonlyArray<unknown> = original
    const copy: Array<Uint8Array> = new Array(items.length)
    for (let i = 0; i < items.length; i++) {
      Object.defineProperty(copy, i, {
        get: () => {
          checkOpen()
          return checkValue(items[i])
        },
        enumerable: true,
        configurable: false
      })
    }
    Object.defineProperty(copy, "close", { value: close, enumerable: false })
    unclosed.register(copy, state, state)
    return copy as ResponseBody
  }

  const body: {
    close(): void | Promise<void>
    [Symbol.iterator]?: () => Iterator<Uint8Array>
    [Symbol.asyncIterator]?: () => AsyncIterator<Uint8Array>
  } = { close }

  if (typeof (original as Iterable<unknown>)[Symbol.iterator] === "function") {
    // As Python's iter(): every call hands back the one iterator.
    let wrapper: Iterator<Uint8Array> | null = null
    body[Symbol.iterator] = () => {
      begin("sync")
      if (wrapper !== null) return wrapper
      const inner = (original as Iterable<unknown>)[Symbol.iterator]()
      wrapper = {
        next: () => {
          checkOpen()
          const step = inner.next()
          return step.done ? { done: true, value: undefined } : { done: false, value: checkValue(step.value) }
        },
        return: () => {
          if (typeof inner.return === "function") inner.return()
          return { done: true, value: undefined }
        }
      }
      return wrapper
    }
  }
  if (typeof (original as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
    let wrapper: AsyncIterator<Uint8Array> | null = null
    body[Symbol.asyncIterator] = () => {
      begin("async")
      if (wrapper !== null) return wrapper
      const inner = (original as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      wrapper = {
        next: async () => {
          checkOpen()
          const step = await inner.next()
          return step.done ? { done: true, value: undefined } : { done: false, value: checkValue(step.value) }
        },
        return: async () => {
          if (typeof inner.return === "function") await inner.return()
          return { done: true, value: undefined }
        }
      }
      return wrapper
    }
  }
  unclosed.register(body, state, state)
  return body as ResponseBody
}

/** CPython's `check_iterator` and the checks `lint_app` makes on the app's return value. */
const checkResult = (result: unknown): ResponseBody => {
  assert(
    result !== undefined && result !== null && result !== false,
    () => "The application must return an iterator, if only an empty list"
  )
  // A string is iterable (by character) and so is a Uint8Array (by number): both "work"
  // only by accident.
  assert(
    typeof result !== "string" && !(result instanceof Uint8Array),
    () =>
      "You should not return a string as your application iterator, instead return a single-item list containing a bytestring."
  )
  assert(
    (typeof result === "object" || typeof result === "function") &&
      (typeof (result as Iterable<unknown>)[Symbol.iterator] === "function" ||
        typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function"),
    () => `The application must return an iterable of Uint8Array chunks (got ${repr(result)})`
  )
  return result as ResponseBody
}

// ---------------------------------------------------------------------------------------
// validator

/**
 * Wrap `application` in CPython's `wsgiref.validate` checks. Every request is checked on
 * both sides: the environ and its streams (the gateway), the `startResponse` and `write()`
 * calls and the returned body (the application), and the iteration and closing of that
 * body (the gateway again). A breach throws a `ValidationError` at the point it happens;
 * a suspicious use emits a `WSGIWarning`.
 *
 * Like CPython's, the validated app replaces `wsgi.input` and `wsgi.errors` in the environ
 * it was given with checking wrappers, and returns a wrapped body, so a gateway cannot
 * compute a Content-Length from a one-chunk array or send a `FileWrapper` natively behind
 * it. An async application stays async, a sync one sync.
 *
 * @example
 * ```ts
 * import { makeServer, validator } from "effect-wsgi"
 *
 * const server = await makeServer("127.0.0.1", 8000, validator(app))
 * ```
 *
 * @since 0.1.0
 * @category middleware
 */
export const validator = (application: Application): Application => {
  const lintApp = function(...args: Array<unknown>): ResponseBody | Promise<ResponseBody> {
    assert(args.length === 2, () => "Two arguments required")
    const [environ, startResponse] = args as [unknown, StartResponse]
    checkEnviron(environ)
    assert(
      typeof startResponse === "function",
      () => `startResponse must be a function (got ${repr(startResponse)})`
    )

    const response: ResponseState = { started: false, headersSet: false }

    const startResponseWrapper = (...srArgs: Array<unknown>): Write => {
      assert(srArgs.length === 2 || srArgs.length === 3, () => `Invalid number of arguments: ${tupleRepr(srArgs)}`)
      const [status, headers] = srArgs
      const excInfo = srArgs.length === 3 ? srArgs[2] : undefined
      checkStatus(status)
      checkHeaders(headers)
      checkContentType(status as string, headers as HeaderList)
      checkExcInfo(excInfo)
      // PEP 3333: "it is a fatal error to call start_response without the exc_info argument
      // if start_response has already been called".
      assert(
        !response.headersSet || (excInfo !== undefined && excInfo !== null),
        () => "startResponse() called a second time without excInfo"
      )
      response.started = true
      const write: unknown = (startResponse as (...a: Array<unknown>) => unknown)(...srArgs)
      assert(typeof write === "function", () => `startResponse() must return the write() callable (got ${repr(write)})`)
      response.headersSet = true
      return wrapWrite(write as Write)
    }

    environ["wsgi.input"] = new InputWrapper(environ["wsgi.input"])
    environ["wsgi.errors"] = new ErrorWrapper(environ["wsgi.errors"])

    const result: unknown = application(environ, startResponseWrapper as StartResponse)
    if (isThenable(result)) {
      return Promise.resolve(result).then((value) => wrapBody(checkResult(value), response))
    }
    return wrapBody(checkResult(result), response)
  }
  return lintApp as Application
}
