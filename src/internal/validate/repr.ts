/**
 * Python's `repr()` and `int()` for the validator's messages and checks, so they read as
 * CPython's `wsgiref.validate` (with JavaScript's type names).
 */

export const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const className = (value: object): string => {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === "string" && name !== "" ? name : "Object"
}

/** `type(value)` as Python prints it, with JavaScript's type names: `<class 'string'>`. */
export const typeRepr = (value: unknown): string => {
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
export const repr = (value: unknown, seen: Set<object> = new Set()): string => {
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
export const tupleRepr = (items: ReadonlyArray<unknown>): string =>
  items.length === 1 ? `(${repr(items[0])},)` : `(${items.map((item) => repr(item)).join(", ")})`

/** Python's `int()` of a decimal string (signs and digit underscores allowed), or NaN. */
export const pythonInt = (text: string): number =>
  /^\s*[+-]?\d+(?:_\d+)*\s*$/.test(text) ? Number(text.replace(/_/g, "")) : Number.NaN
