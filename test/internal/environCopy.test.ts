import { describe, expect, it } from "vitest"
import { copyEnviron, copyRecord } from "../../src/internal/environCopy.js"

describe("copyEnviron", () => {
  it("copies a frozen environ into a fresh mutable object with the same keys, in order", () => {
    const source = Object.freeze({ HOME: "/root", "WEIRD \"key\\": "x\ny", "\u2028": "line sep", PATH: "/bin" })
    const first = copyEnviron(source)
    const second = copyEnviron(source)
    expect(first).toEqual(source)
    expect(Object.keys(first)).toEqual(Object.keys(source))
    expect(first).not.toBe(second)
    first["HOME"] = "/elsewhere"
    expect(second["HOME"]).toBe("/root")
    expect(Object.isFrozen(first)).toBe(false)
  })

  it("keeps __proto__ as a key, not a prototype", () => {
    const source = Object.freeze(JSON.parse('{"__proto__": "not a prototype", "A": "1"}') as Record<string, unknown>)
    const copy = copyEnviron(source)
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype)
    expect(Object.keys(copy)).toEqual(["__proto__", "A"])
  })

  it("reads a mutable environ as it is now, each time", () => {
    const source: Record<string, unknown> = { A: "1" }
    expect(copyEnviron(source)).toEqual({ A: "1" })
    source["B"] = "2"
    expect(copyEnviron(source)).toEqual({ A: "1", B: "2" })
  })
})

describe("copyRecord", () => {
  it("a fresh, mutable copy with the same keys in order; an own __proto__ stays a key", () => {
    const source = { B: "2", A: "1" }
    const copy = copyRecord(source)
    expect(copy).not.toBe(source)
    expect(Object.keys(copy)).toEqual(["B", "A"])
    copy.A = "changed"
    expect(source.A).toBe("1")
    const odd = JSON.parse('{"__proto__": "not a prototype", "A": "1"}') as Record<string, unknown>
    const oddCopy = copyRecord(odd)
    expect(Object.getPrototypeOf(oddCopy)).toBe(Object.prototype)
    expect(Object.keys(oddCopy)).toEqual(["__proto__", "A"])
  })
})
