/**
 * Response headers as a case-insensitive, ordered, multi-valued collection: Python's
 * `wsgiref.headers.Headers`.
 *
 * @since 0.1.0
 */
import { ProtocolError } from "./HandlerError.js"
import { hasControlChar, isToken } from "./internal/headerChars.js"
import { encodeLatin1 } from "./internal/latin1.js"
import { typeName } from "./internal/typeName.js"
import type { HeaderList } from "./Protocol.js"

/**
 * Formats one `addHeader` parameter as Python's `_formatparam(name, value, quote=1)` does:
 * an empty value leaves the bare name, any other value is always quoted.
 */
const formatParam = (name: string, value: string): string =>
  value.length === 0 ? name : `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`

/** Whether header name `key` is `lowered` (already lower case) in any case; no allocation unless the lengths match. */
const sameName = (key: string, lowered: string): boolean =>
  key.length === lowered.length && (key === lowered || key.toLowerCase() === lowered)

const checkString = (role: string, value: unknown): string => {
  if (typeof value !== "string") {
    throw new TypeError(`${role} must be of type string (not ${typeName(value)})`)
  }
  return value
}

/** A header name that can go into a response head: a string and an HTTP token. */
const checkName = (name: unknown): string => {
  const text = checkString("Header name", name)
  if (!isToken(text)) throw new ProtocolError({ message: `Header name ${JSON.stringify(text)} is not an HTTP token` })
  return text
}

/** A header value (or parameter value) with no control character but HTAB: no response splitting. */
const checkValue = (role: string, value: unknown): string => {
  const text = checkString(role, value)
  if (hasControlChar(text)) {
    throw new ProtocolError({ message: `${role} contains a control character: ${JSON.stringify(text)}` })
  }
  return text
}

/** The value of the first pair named `lowered` (lower case), else null. */
const findValue = (list: HeaderList, lowered: string): string | null => {
  for (let i = 0; i < list.length; i++) {
    const pair = list[i]!
    if (sameName(pair[0], lowered)) return pair[1]
  }
  return null
}

// Assigned by the class's static block, which may read the protected list.
// eslint-disable-next-line prefer-const
let pairsOf: (headers: Headers) => HeaderList

/**
 * A view over a `HeaderList`: lookups ignore case, order and duplicates are kept, and every
 * change is made to the list itself, so the caller's array sees it (as in Python).
 *
 * Iterating yields copies of the `[name, value]` pairs, like `items()`. (Python's class has
 * no working iteration; pairs are what `Map`, `Object.fromEntries` and the fetch `Headers`
 * expect.)
 *
 * @example
 * ```ts
 * const headers = new Headers([["Content-Type", "text/plain"]])
 * headers.addHeader("Content-Disposition", "attachment", { filename: "bud.gif" })
 * headers.get("content-type") // "text/plain"
 * String(headers) // 'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="bud.gif"\r\n\r\n'
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export class Headers implements Iterable<[name: string, value: string]> {
  /** The list this view reads and changes in place. */
  protected readonly headerList: HeaderList

  /**
   * @param list the headers to manage, kept by reference; a new empty list when omitted.
   * @throws TypeError when `list` is not an array of `[string, string]` pairs.
   */
  constructor(list?: HeaderList | null) {
    const headerList = list ?? []
    if (!Array.isArray(headerList)) {
      throw new TypeError("Headers must be a list of name/value tuples")
    }
    for (const pair of headerList as Array<unknown>) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError("Headers must be a list of name/value tuples")
      }
      checkName(pair[0])
      checkValue("Header value", pair[1])
    }
    this.headerList = headerList
  }

  /** The number of headers, duplicates included. */
  get length(): number {
    return this.headerList.length
  }

  /** The first value of the header `name` (any case), or `defaultValue` (null) when absent. */
  get(name: string): string | null
  get<D>(name: string, defaultValue: D): string | D
  get(name: string, defaultValue: unknown = null): unknown {
    const found = findValue(this.headerList, checkString("Header name", name).toLowerCase())
    return found === null ? defaultValue : found
  }

  /** Replaces every header `name` (any case) with a single `name: value` at the end. */
  set(name: string, value: string): void {
    checkName(name)
    checkValue("Header value", value)
    this.delete(name)
    this.headerList.push([name, value])
  }

  /** Removes every header `name` (any case); a missing header is not an error. */
  delete(name: string): void {
    const unwanted = checkString("Header name", name).toLowerCase()
    const list = this.headerList
    let kept = 0
    for (let i = 0; i < list.length; i++) {
      const pair = list[i]!
      if (!sameName(pair[0], unwanted)) list[kept++] = pair
    }
    if (kept !== list.length) list.length = kept
  }

  /** Whether there is a header `name` (any case). */
  has(name: string): boolean {
    return this.get(name) !== null
  }

  /** Every value of the header `name` (any case), in order; empty when absent. */
  getAll(name: string): Array<string> {
    const wanted = checkString("Header name", name).toLowerCase()
    return this.headerList.filter(([key]) => sameName(key, wanted)).map(([, value]) => value)
  }

  /** Every header name, in order, duplicates included. */
  keys(): Array<string> {
    return this.headerList.map(([name]) => name)
  }

  /** Every header value, in order. */
  values(): Array<string> {
    return this.headerList.map(([, value]) => value)
  }

  /** Copies of the `[name, value]` pairs, in order: changing them leaves the headers alone. */
  items(): HeaderList {
    return this.headerList.map(([name, value]) => [name, value])
  }

  /** The first value of `name`; when there is none, appends `name: value` and returns `value`. */
  setDefault(name: string, value: string): string {
    const existing = this.get(name)
    if (existing !== null) return existing
    checkName(name)
    checkValue("Header value", value)
    this.headerList.push([name, value])
    return value
  }

  /**
   * Appends a header with parameters, as Python's `add_header(_name, _value, **params)`.
   *
   * Each parameter becomes `; name="value"` (quoted, with `\` and `"` escaped), or a bare
   * `; name` when its value is null or empty. Underscores in parameter names become dashes,
   * so `{ max_age: "1" }` gives `max-age="1"`.
   */
  addHeader(name: string, value: string | null, params: Record<string, string | null> = {}): void {
    checkName(name)
    const parts: Array<string> = value === null ? [] : [checkValue("Header value", value)]
    for (const [paramName, paramValue] of Object.entries(params)) {
      const headerParamName = checkName(paramName.replace(/_/g, "-"))
      parts.push(
        paramValue === null
          ? headerParamName
          : formatParam(headerParamName, checkValue("Header parameter value", paramValue))
      )
    }
    this.headerList.push([name, parts.join("; ")])
  }

  /** The header block as sent: each `Name: value` line ends in CRLF, then a blank line. */
  toString(): string {
    const list = this.headerList
    let block = ""
    for (let i = 0; i < list.length; i++) block += `${list[i]![0]}: ${list[i]![1]}\r\n`
    return block + "\r\n"
  }

  /**
   * The header block (`toString()`) in latin-1 bytes.
   *
   * @throws RangeError when a character is above U+00FF.
   */
  toBytes(): Uint8Array {
    return encodeLatin1(this.toString())
  }

  /** Copies of the `[name, value]` pairs, as `items()`. */
  [Symbol.iterator](): Iterator<[name: string, value: string]> {
    return this.items()[Symbol.iterator]()
  }

  static {
    pairsOf = (headers) => headers.headerList
  }
}

/**
 * The core's own lookups on a plain `Headers` (its class, not a subclass that may redefine
 * them): the pairs themselves, and a search by a name already in lower case, without the
 * public methods' checks, copies and lowercasing (they run on every response).
 *
 * @internal
 */
export const HeaderPairs = {
  /** True when `headers` is a plain `Headers`, whose methods these may stand in for. */
  isPlain: (headers: Headers): boolean => headers.constructor === Headers,
  /** The pairs (the list itself, not copies: read them, do not change them). */
  of: (headers: Headers): HeaderList => pairsOf(headers),
  /** The first value of the header named `lowered` (lower case), else null. */
  find: (headers: Headers, lowered: string): string | null => findValue(pairsOf(headers), lowered)
}
