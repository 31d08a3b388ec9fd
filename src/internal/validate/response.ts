/**
 * The validator's checks of the application's `startResponse` calls and of `write()`
 * (CPython's `check_status`, `check_headers`, `check_content_type`, `check_exc_info` and
 * `WriteWrapper`).
 */
import type { HeaderList, Write } from "../../Protocol.js"
import { argumentCount, assert, checkStringType, fail, isError, isThenable, warn } from "./report.js"
import { pythonInt, repr, typeRepr } from "./repr.js"

const HEADER_NAME = /^[a-zA-Z][a-zA-Z0-9\-_]*$/
// eslint-disable-next-line no-control-regex
const BAD_HEADER_VALUE = /[\x00-\x1f]/

export const checkStatus = (value: unknown): void => {
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

export const checkHeaders = (headers: unknown): void => {
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

export const checkContentType = (status: string, headers: HeaderList): void => {
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
export const checkExcInfo = (excInfo: unknown): void => {
  if (excInfo === undefined || excInfo === null) return
  assert(typeof excInfo !== "boolean", () => `exc_info (${repr(excInfo)}) is not an error: ${typeRepr(excInfo)}`)
  if (!isError(excInfo)) {
    warn(`exc_info (${repr(excInfo)}) is not an Error: ${typeRepr(excInfo)}; it should be the error the application caught`)
  }
}

/** CPython's `WriteWrapper`: `write()` takes exactly one Uint8Array. */
export const wrapWrite = (write: Write): Write => {
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

