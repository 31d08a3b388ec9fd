/**
 * Python's `repr()` for the values an environ holds, so `demoApp` prints what CPython's
 * `demo_app` prints.
 */

// Python's str.isprintable() is false for these categories (the space aside).
const unprintable = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u

const escapeChar = (char: string): string => {
  const code = char.codePointAt(0)!
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, "0")}`
  if (code < 0x10000) return `\\u${code.toString(16).padStart(4, "0")}`
  return `\\U${code.toString(16).padStart(8, "0")}`
}

/** `repr(str)`: single quotes unless the text has one and no double quote. */
export const stringRepr = (text: string): string => {
  const quote = text.includes("'") && !text.includes("\"") ? "\"" : "'"
  let out = quote
  for (const char of text) {
    if (char === quote || char === "\\") out += `\\${char}`
    else if (char === "\n") out += "\\n"
    else if (char === "\r") out += "\\r"
    else if (char === "\t") out += "\\t"
    else if (char !== " " && unprintable.test(char)) out += escapeChar(char)
    else out += char
  }
  return out + quote
}

/** `repr(value)`, with JavaScript's types read as their Python counterparts. */
export const pyRepr = (value: unknown): string => {
  if (typeof value === "string") return stringRepr(value)
  if (value === true) return "True"
  if (value === false) return "False"
  if (value === null || value === undefined) return "None"
  if (typeof value === "number" || typeof value === "bigint") return String(value)
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`
  if (typeof value === "function") return `<class '${value.name || "function"}'>`
  if (typeof value === "object") return `<${value.constructor?.name ?? "object"} object>`
  return String(value)
}
