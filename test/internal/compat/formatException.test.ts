/**
 * The error log's text of an exception: the `name: message` line, `limit` frames, and its
 * cause after "Caused by:" when it has one (a null cause is none).
 */
import { describe, expect, it } from "vitest"
import { OutputError } from "../../../src/HandlerError.js"
import { formatException } from "../../../src/internal/compat/formatException.js"

describe("formatException", () => {
  it("prints the head line and at most `limit` frames", () => {
    const error = new Error("boom")
    const text = formatException(error, 1)
    expect(text.split("\n")[0]).toBe("Error: boom")
    expect(text.split("\n").filter((line) => /^\s+at /.test(line))).toHaveLength(1)
    expect(text.endsWith("\n")).toBe(true)
  })

  it("follows a cause after \"Caused by:\"", () => {
    const text = formatException(new Error("outer", { cause: new TypeError("inner") }), 0)
    expect(text).toBe("Error: outer\nCaused by: TypeError: inner\n")
  })

  it("prints a cause that is not an Error as a value", () => {
    expect(formatException(new Error("outer", { cause: "why" }), 0)).toBe("Error: outer\nCaused by: Uncaught value: \"why\"\n")
  })

  it("a null cause is none: the package's own errors say so with null", () => {
    expect(formatException(new OutputError({ message: "the request has ended", cause: null }), 0)).toBe("OutputError: the request has ended\n")
    expect(formatException(new Error("plain", { cause: null }), 0)).toBe("Error: plain\n")
  })
})
