import { describe, expect, it } from "vitest"
import { ProtocolError } from "../../../src/HandlerError.js"
import { checkHeaders, checkStatus } from "../../../src/internal/core/responseChecks.js"

// The rules as regular expressions (what the char-code loops replaced), checked against
// every character up to U+02FF.
// eslint-disable-next-line no-control-regex
const unsafe = /[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]/
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

const refuses = (check: () => void): boolean => {
  try {
    check()
    return false
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    return true
  }
}

const characters = Array.from({ length: 0x300 }, (_, code) => String.fromCharCode(code))

describe("checkHeaders and checkStatus, character by character", () => {
  it("a header value is refused exactly when it holds a control character other than HTAB, or one above latin-1", () => {
    const wrong = characters.filter((char) => refuses(() => checkHeaders([["X-Test", `a${char}b`]])) !== unsafe.test(char))
    expect(wrong).toEqual([])
  })

  it("a header name is accepted exactly when it is an RFC 9110 token", () => {
    const wrong = characters.filter((char) => refuses(() => checkHeaders([[`X${char}`, "v"]])) === token.test(`X${char}`))
    expect(wrong).toEqual([])
    expect(refuses(() => checkHeaders([["", "v"]]))).toBe(true)
  })

  it("a status needs three digits, a space, and no unsafe character", () => {
    const wrongDigit = characters.filter((char) => refuses(() => checkStatus(`20${char} OK`)) === /^\d$/.test(char))
    expect(wrongDigit).toEqual([])
    const wrongText = characters.filter((char) => refuses(() => checkStatus(`200 O${char}K`)) !== unsafe.test(char))
    expect(wrongText).toEqual([])
    expect(refuses(() => checkStatus("200OK"))).toBe(true)
    expect(refuses(() => checkStatus("20 OK"))).toBe(true)
  })
})
