/**
 * The characters a response head may hold: shared by `Headers` (which refuses the rest in
 * every method) and the checks `startResponse` makes.
 */

// These run on every response, so they are loops over char codes rather than regular
// expressions (several times faster on the short strings headers are).

/**
 * True when `text` holds a control character other than HTAB, or anything above latin-1:
 * either could split a response or be mangled on the wire.
 */
export const hasUnsafeChar = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if ((code < 0x20 && code !== 0x09) || code === 0x7f || code > 0xff) return true
  }
  return false
}

// RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA.
const tokenChars = new Uint8Array(128)
for (const char of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  tokenChars[char.charCodeAt(0)] = 1
}

/** True when `text` is an HTTP token (a valid header name). */
export const isToken = (text: string): boolean => {
  if (text.length === 0) return false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 128 || tokenChars[code] === 0) return false
  }
  return true
}

/**
 * True when `text` holds a control character other than HTAB (CR, LF and NUL among them):
 * what `Headers` refuses in every method (characters above latin-1 are refused later, when
 * the block is encoded, as CPython does).
 */
export const hasControlChar = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true
  }
  return false
}
