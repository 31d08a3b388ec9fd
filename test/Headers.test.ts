import { describe, expect, it } from "vitest"
import { ProtocolError } from "../src/HandlerError.js"
import { Headers } from "../src/Headers.js"
import type { HeaderList } from "../src/Protocol.js"

describe("Headers", () => {
  describe("as a mapping (CPython testMappingInterface)", () => {
    it("counts and lists headers in order", () => {
      const pairs: HeaderList = [["x", "y"]]
      expect(new Headers().length).toBe(0)
      expect(new Headers([]).length).toBe(0)
      expect(new Headers([...pairs]).length).toBe(1)
      expect(new Headers([...pairs]).keys()).toEqual(["x"])
      expect(new Headers([...pairs]).values()).toEqual(["y"])
      expect(new Headers([...pairs]).items()).toEqual(pairs)
    })

    it("items() copies the list and its pairs", () => {
      const pairs: HeaderList = [["x", "y"]]
      const items = new Headers(pairs).items()
      expect(items).not.toBe(pairs)
      expect(items[0]).not.toBe(pairs[0])
      items[0]![1] = "changed"
      items.push(["z", "w"])
      expect(pairs).toEqual([["x", "y"]])
    })

    it("deleting a missing header is not an error", () => {
      const headers = new Headers()
      expect(() => headers.delete("foo")).not.toThrow()
      expect(headers.length).toBe(0)
    })

    it("looks names up in any case", () => {
      const headers = new Headers()
      headers.set("Foo", "bar")
      for (const name of ["foo", "Foo", "FOO"]) {
        expect(headers.has(name)).toBe(true)
        expect(headers.get(name)).toBe("bar")
        expect(headers.getAll(name)).toEqual(["bar"])
      }
      expect(headers.has("bar")).toBe(false)
      expect(headers.get("bar")).toBeNull()
      expect(headers.getAll("bar")).toEqual([])
    })

    it("set() replaces every value, whatever its case", () => {
      const headers = new Headers()
      headers.set("Foo", "bar")
      headers.set("foo", "baz")
      expect(headers.get("FOO")).toBe("baz")
      expect(headers.getAll("foo")).toEqual(["baz"])
      expect(headers.items()).toEqual([["foo", "baz"]])
    })

    it("get() and setDefault() fall back to the given value", () => {
      const headers = new Headers([["foo", "baz"]])
      expect(headers.get("foo", "whee")).toBe("baz")
      expect(headers.get("zoo", "whee")).toBe("whee")
      expect(headers.setDefault("foo", "whee")).toBe("baz")
      expect(headers.setDefault("zoo", "whee")).toBe("whee")
      expect(headers.get("foo")).toBe("baz")
      expect(headers.get("zoo")).toBe("whee")
      expect(headers.items()).toEqual([
        ["foo", "baz"],
        ["zoo", "whee"]
      ])
    })

    it("an empty value still counts as present", () => {
      const headers = new Headers([["X-Empty", ""]])
      expect(headers.has("x-empty")).toBe(true)
      expect(headers.get("x-empty", "default")).toBe("")
      expect(headers.setDefault("x-empty", "other")).toBe("")
    })
  })

  describe("duplicates and order", () => {
    it("keeps duplicates in order; get() gives the first", () => {
      const headers = new Headers([
        ["Set-Cookie", "a=1"],
        ["Vary", "Accept"],
        ["set-cookie", "b=2"]
      ])
      expect(headers.get("SET-COOKIE")).toBe("a=1")
      expect(headers.getAll("set-cookie")).toEqual(["a=1", "b=2"])
      expect(headers.keys()).toEqual(["Set-Cookie", "Vary", "set-cookie"])
    })

    it("delete() removes every occurrence and keeps the rest in order", () => {
      const headers = new Headers([
        ["A", "1"],
        ["B", "2"],
        ["a", "3"],
        ["C", "4"]
      ])
      headers.delete("a")
      expect(headers.items()).toEqual([
        ["B", "2"],
        ["C", "4"]
      ])
    })

    it("set() moves the header to the end", () => {
      const headers = new Headers([
        ["A", "1"],
        ["B", "2"]
      ])
      headers.set("a", "3")
      expect(headers.items()).toEqual([
        ["B", "2"],
        ["a", "3"]
      ])
    })
  })

  describe("the list is shared, as in Python", () => {
    it("changes show in the caller's array, which stays the same array", () => {
      const list: HeaderList = [
        ["A", "1"],
        ["B", "2"]
      ]
      const headers = new Headers(list)
      headers.set("C", "3")
      headers.delete("a")
      headers.addHeader("D", "4")
      headers.setDefault("E", "5")
      expect(list).toEqual([
        ["B", "2"],
        ["C", "3"],
        ["D", "4"],
        ["E", "5"]
      ])
    })

    it("changes to the caller's array show in the headers", () => {
      const list: HeaderList = []
      const headers = new Headers(list)
      list.push(["X", "y"])
      expect(headers.get("x")).toBe("y")
      expect(headers.length).toBe(1)
    })
  })

  describe("type checks (CPython testRequireList)", () => {
    it("refuses anything but an array", () => {
      const notAList = "foo" as unknown as HeaderList
      expect(() => new Headers(notAList)).toThrow(TypeError)
      expect(() => new Headers(notAList)).toThrow("Headers must be a list of name/value tuples")
      expect(() => new Headers({} as unknown as HeaderList)).toThrow(TypeError)
    })

    it("treats null like no list", () => {
      expect(new Headers(null).length).toBe(0)
    })

    it("refuses entries that are not name/value pairs", () => {
      expect(() => new Headers([["a"]] as unknown as HeaderList)).toThrow(TypeError)
      expect(() => new Headers(["ab"] as unknown as HeaderList)).toThrow(TypeError)
    })

    it("refuses names and values that are not strings", () => {
      expect(() => new Headers([["a", 1]] as unknown as HeaderList)).toThrow(
        "Header value must be of type string (not number)"
      )
      expect(() => new Headers([[null, "b"]] as unknown as HeaderList)).toThrow(
        "Header name must be of type string (not null)"
      )
      const headers = new Headers([["a", "b"]])
      const notAString = 1 as unknown as string
      expect(() => headers.get(notAString)).toThrow(TypeError)
      expect(() => headers.has(notAString)).toThrow(TypeError)
      expect(() => headers.getAll(notAString)).toThrow(TypeError)
      expect(() => headers.delete(notAString)).toThrow(TypeError)
      expect(() => headers.set(notAString, "v")).toThrow(TypeError)
      expect(() => headers.set("a", notAString)).toThrow(TypeError)
      expect(() => headers.setDefault("z", notAString)).toThrow(TypeError)
      expect(() => headers.addHeader(notAString, "v")).toThrow(TypeError)
      expect(() => headers.addHeader("z", notAString)).toThrow(TypeError)
      expect(() => headers.addHeader("z", "v", { p: notAString })).toThrow(TypeError)
      // A refused change leaves the headers as they were.
      expect(headers.items()).toEqual([["a", "b"]])
    })
  })

  describe("addHeader and formatting (CPython testExtras)", () => {
    it("formats an empty collection as a lone CRLF", () => {
      expect(new Headers().toString()).toBe("\r\n")
      expect(String(new Headers())).toBe("\r\n")
    })

    it("adds quoted parameters and bare names", () => {
      const headers = new Headers()
      headers.addHeader("foo", "bar", { baz: "spam" })
      expect(headers.get("foo")).toBe('bar; baz="spam"')
      expect(headers.toString()).toBe('foo: bar; baz="spam"\r\n\r\n')

      headers.addHeader("Foo", "bar", { cheese: null })
      expect(headers.getAll("foo")).toEqual(['bar; baz="spam"', "bar; cheese"])
      expect(headers.toString()).toBe('foo: bar; baz="spam"\r\nFoo: bar; cheese\r\n\r\n')
    })

    it("turns underscores in parameter names into dashes", () => {
      const headers = new Headers()
      headers.addHeader("Cache-Control", null, { max_age: "60", no_store: null })
      expect(headers.get("cache-control")).toBe('max-age="60"; no-store')
    })

    it("quotes every non-empty parameter value, escaping backslashes and quotes", () => {
      const headers = new Headers()
      headers.addHeader("Content-Disposition", "attachment", {
        filename: "bud.gif",
        empty: "",
        tricky: 'a"b\\c'
      })
      expect(headers.get("content-disposition")).toBe(
        'attachment; filename="bud.gif"; empty; tricky="a\\"b\\\\c"'
      )
    })

    it("a null value with no parameters gives an empty header", () => {
      const headers = new Headers()
      headers.addHeader("X-Flag", null)
      expect(headers.items()).toEqual([["X-Flag", ""]])
    })

    it("encodes the block as latin-1 bytes", () => {
      const headers = new Headers([
        ["Content-Type", "text/plain"],
        ["X-Name", "caf\xe9"]
      ])
      const bytes = headers.toBytes()
      expect(bytes).toBeInstanceOf(Uint8Array)
      expect(Array.from(bytes)).toEqual(
        Array.from("Content-Type: text/plain\r\nX-Name: caf\xe9\r\n\r\n", (char) => char.charCodeAt(0))
      )
    })

    it("refuses to encode characters above U+00FF", () => {
      const headers = new Headers([["X-Price", "5\u20ac"]])
      expect(() => headers.toBytes()).toThrow(RangeError)
      expect(() => headers.toBytes()).toThrow("can't encode character '\\u20ac' in position 10")
    })
  })

  describe("iteration", () => {
    it("yields copies of the pairs", () => {
      const list: HeaderList = [
        ["A", "1"],
        ["B", "2"]
      ]
      const headers = new Headers(list)
      const pairs = [...headers]
      expect(pairs).toEqual(list)
      expect(pairs[0]).not.toBe(list[0])
      expect(new Map(headers).get("B")).toBe("2")
    })

    it("iterates a snapshot, so changing the headers meanwhile is safe", () => {
      const headers = new Headers([
        ["A", "1"],
        ["B", "2"]
      ])
      const seen: Array<string> = []
      for (const [name] of headers) {
        seen.push(name)
        headers.delete(name)
      }
      expect(seen).toEqual(["A", "B"])
      expect(headers.length).toBe(0)
    })
  })

  describe("refuses what could split a response, in every method (beyond CPython)", () => {
    const splitting = ["a\r\nSet-Cookie: evil=1", "a\nb", "a\rb", "a\u0000b", "a\u007fb"]
    it.each(splitting)("a value with %j: constructor, set, setDefault, addHeader (value and parameter)", (bad) => {
      expect(() => new Headers([["X", bad]])).toThrow(ProtocolError)
      const headers = new Headers([["Kept", "1"]])
      expect(() => headers.set("X", bad)).toThrow(ProtocolError)
      expect(() => headers.setDefault("X", bad)).toThrow(ProtocolError)
      expect(() => headers.addHeader("X", bad)).toThrow(ProtocolError)
      expect(() => headers.addHeader("X", "ok", { name: bad })).toThrow(ProtocolError)
      // Nothing was added by the refused calls.
      expect(headers.items()).toEqual([["Kept", "1"]])
    })

    it.each(["", "Bad Name", "X:Y", "X\r\nY", "\u00df", "a(b)"])("a name that is not a token (%j): constructor, set, setDefault, addHeader and its parameters", (bad) => {
      expect(() => new Headers([[bad, "v"]])).toThrow(ProtocolError)
      const headers = new Headers()
      expect(() => headers.set(bad, "v")).toThrow(ProtocolError)
      expect(() => headers.setDefault(bad, "v")).toThrow(ProtocolError)
      expect(() => headers.addHeader(bad, "v")).toThrow(ProtocolError)
      expect(headers.length).toBe(0)
    })

    it("keeps HTAB in values, and characters above U+00FF until the block is encoded (CPython)", () => {
      const headers = new Headers([["X-Tab", "a\tb"], ["X-Price", "5\u20ac"]])
      expect(headers.get("X-Tab")).toBe("a\tb")
      expect(() => headers.toBytes()).toThrow(RangeError)
    })
  })
})
