/**
 * `Headers` against a model: a plain array of pairs, matched by lower-cased name. Any
 * sequence of operations leaves the class and the model with the same list (the caller's
 * array itself, which `Headers` changes in place), and every query answers as the model.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Headers } from "../../src/Headers.js"
import type { HeaderList } from "../../src/Protocol.js"

const NUM_RUNS = 200

// Few names, in several cases, so operations collide often.
// Tokens only: any other name is refused by every method (see Headers.test.ts).
const name = fc.constantFrom("Content-Type", "content-type", "CONTENT-TYPE", "X-A", "x-a", "Set-Cookie", "set-cookie", "Vary")
const value = fc.oneof(fc.constantFrom("", "a", "A", "text/plain", "1"), fc.string({ maxLength: 8 }))
const paramName = fc.constantFrom("filename", "max_age", "a_b_c", "q")
const paramValue = fc.oneof(fc.constant(null), fc.constant(""), fc.string({ maxLength: 6 }), fc.constantFrom('a"b', "a\\b", "x y"))

type Op =
  | { readonly op: "set"; readonly name: string; readonly value: string }
  | { readonly op: "delete"; readonly name: string }
  | { readonly op: "setDefault"; readonly name: string; readonly value: string }
  | { readonly op: "addHeader"; readonly name: string; readonly value: string | null; readonly params: Record<string, string | null> }
  | { readonly op: "get"; readonly name: string; readonly fallback: string | undefined }
  | { readonly op: "getAll"; readonly name: string }
  | { readonly op: "has"; readonly name: string }
  | { readonly op: "items" }
  | { readonly op: "length" }
  | { readonly op: "keys" }
  | { readonly op: "values" }
  | { readonly op: "toString" }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), name, value }),
  fc.record({ op: fc.constant("delete" as const), name }),
  fc.record({ op: fc.constant("setDefault" as const), name, value }),
  fc.record({
    op: fc.constant("addHeader" as const),
    name,
    value: fc.option(value, { nil: null }),
    params: fc.dictionary(paramName, paramValue, { maxKeys: 3 })
  }),
  fc.record({ op: fc.constant("get" as const), name, fallback: fc.option(fc.constant("DEFAULT"), { nil: undefined }) }),
  fc.record({ op: fc.constant("getAll" as const), name }),
  fc.record({ op: fc.constant("has" as const), name }),
  fc.constant({ op: "items" as const }),
  fc.constant({ op: "length" as const }),
  fc.constant({ op: "keys" as const }),
  fc.constant({ op: "values" as const }),
  fc.constant({ op: "toString" as const })
)

// Latin-1 and a little beyond it (fast-check's "binary" unit is slow to set up).
const wideChar = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code)),
  fc.constantFrom("\u0100", "\u20ac", "\ud83d\ude00")
)

const initial: fc.Arbitrary<HeaderList> = fc.array(fc.tuple(name, value), { maxLength: 5 })

/** The model: the obvious definitions over an array of pairs. */
class Model {
  constructor(readonly pairs: Array<[string, string]>) {}
  private same(a: string, b: string): boolean {
    return a.toLowerCase() === b.toLowerCase()
  }
  set(n: string, v: string): void {
    this.delete(n)
    this.pairs.push([n, v])
  }
  delete(n: string): void {
    const kept = this.pairs.filter(([k]) => !this.same(k, n))
    this.pairs.splice(0, this.pairs.length, ...kept)
  }
  setDefault(n: string, v: string): string {
    const found = this.pairs.find(([k]) => this.same(k, n))
    if (found) return found[1]
    this.pairs.push([n, v])
    return v
  }
  addHeader(n: string, v: string | null, params: Record<string, string | null>): void {
    // Python's add_header: value, then `; key="value"` (quoted, escaped) or a bare `; key`.
    const parts = v === null ? [] : [v]
    for (const [key, raw] of Object.entries(params)) {
      const k = key.split("_").join("-")
      if (raw === null || raw === "") parts.push(k)
      else parts.push(`${k}="${raw.split("\\").join("\\\\").split('"').join('\\"')}"`)
    }
    this.pairs.push([n, parts.join("; ")])
  }
  get(n: string, fallback: unknown): unknown {
    const found = this.pairs.find(([k]) => this.same(k, n))
    return found ? found[1] : fallback
  }
  getAll(n: string): Array<string> {
    return this.pairs.filter(([k]) => this.same(k, n)).map(([, v]) => v)
  }
  toString(): string {
    return this.pairs.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n"
  }
}

describe("Headers against a model", () => {
  it("any sequence of operations gives the model's answers and the model's list", () => {
    fc.assert(
      fc.property(initial, fc.array(op, { maxLength: 30 }), (start, ops) => {
        const list: HeaderList = start.map(([n, v]) => [n, v])
        const headers = new Headers(list)
        const model = new Model(start.map(([n, v]) => [n, v]))
        for (const step of ops) {
          switch (step.op) {
            case "set":
              headers.set(step.name, step.value)
              model.set(step.name, step.value)
              break
            case "delete":
              headers.delete(step.name)
              model.delete(step.name)
              break
            case "setDefault":
              expect(headers.setDefault(step.name, step.value)).toBe(model.setDefault(step.name, step.value))
              break
            case "addHeader":
              headers.addHeader(step.name, step.value, step.params)
              model.addHeader(step.name, step.value, step.params)
              break
            case "get":
              if (step.fallback === undefined) expect(headers.get(step.name)).toBe(model.get(step.name, null))
              else expect(headers.get(step.name, step.fallback)).toBe(model.get(step.name, step.fallback))
              break
            case "getAll":
              expect(headers.getAll(step.name)).toEqual(model.getAll(step.name))
              break
            case "has":
              expect(headers.has(step.name)).toBe(model.get(step.name, null) !== null)
              break
            case "items": {
              const items = headers.items()
              expect(items).toEqual(model.pairs)
              // Copies: changing them leaves the headers alone.
              for (const pair of items) pair[1] = "changed"
              expect(headers.items()).toEqual(model.pairs)
              expect([...headers]).toEqual(model.pairs)
              break
            }
            case "length":
              expect(headers.length).toBe(model.pairs.length)
              break
            case "keys":
              expect(headers.keys()).toEqual(model.pairs.map(([k]) => k))
              break
            case "values":
              expect(headers.values()).toEqual(model.pairs.map(([, v]) => v))
              break
            case "toString":
              expect(String(headers)).toBe(model.toString())
              break
          }
          // The caller's list is the one being changed, and always equals the model.
          expect(list).toEqual(model.pairs)
        }
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("toBytes is the latin-1 of toString, and refuses exactly the non-latin-1 blocks", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.string({ unit: wideChar, maxLength: 6 }).filter((v) => !/[\u0000-\u0008\u000a-\u001f\u007f]/.test(v))), { maxLength: 5 }), (pairs) => {
        const headers = new Headers(pairs.map(([n, v]) => [n, v]))
        const text = headers.toString()
        let bytes: Uint8Array | RangeError
        try {
          bytes = headers.toBytes()
        } catch (error) {
          if (!(error instanceof RangeError)) throw error
          bytes = error
        }
        if ([...text].some((c) => c.codePointAt(0)! > 0xff)) return bytes instanceof RangeError
        return bytes instanceof Uint8Array && Buffer.from(bytes).toString("latin1") === text
      }),
      { numRuns: NUM_RUNS }
    )
  })
})
