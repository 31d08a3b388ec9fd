/**
 * Latin-1 (ISO-8859-1) text <-> bytes, the encoding of PEP 3333 "native strings", and
 * joining byte chunks.
 *
 * @since 0.1.0
 */

// A character above U+00FF has no latin-1 byte.
const NON_LATIN1 = /[^\x00-\xff]/

/**
 * Throws the error `encodeLatin1` throws when `text` has a character above U+00FF; the
 * message follows Python's `UnicodeEncodeError` so it names the character and where it is.
 *
 * @since 0.1.0
 * @category utils
 */
export const assertLatin1 = (text: string): void => {
  const match = NON_LATIN1.exec(text)
  if (match === null) return
  const codePoint = text.codePointAt(match.index) ?? 0
  const escaped = `\\u${codePoint.toString(16).padStart(4, "0")}`
  throw new RangeError(
    `'latin-1' codec can't encode character '${escaped}' in position ${match.index}: ordinal not in range(256)`
  )
}

/**
 * Whether every character of `text` fits in one latin-1 byte.
 *
 * @since 0.1.0
 * @category utils
 */
export const isLatin1 = (text: string): boolean => !NON_LATIN1.test(text)

/**
 * Encodes `text` as latin-1, one byte per character.
 *
 * Node's own "latin1" encoder silently keeps the low byte of a wider character, which would
 * corrupt headers, so the text is checked first.
 *
 * @throws RangeError when a character is above U+00FF.
 * @since 0.1.0
 * @category utils
 */
export const encodeLatin1 = (text: string): Uint8Array => {
  assertLatin1(text)
  return Buffer.from(text, "latin1")
}

/**
 * Decodes bytes as latin-1: byte n becomes character U+00nn, so every byte sequence decodes
 * and re-encodes to itself.
 *
 * (`TextDecoder("latin1")` is not used: per the WHATWG spec it means windows-1252.)
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeLatin1 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")

/**
 * Joins byte chunks into one array (a `Buffer`).
 *
 * @since 0.1.0
 * @category utils
 */
export const concatBytes = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => Buffer.concat(chunks)
