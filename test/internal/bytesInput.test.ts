import { describe, expect, it } from "vitest"
import { BytesInputStream } from "../../src/internal/bytesInput.js"

const streamOf = (text: string): BytesInputStream => new BytesInputStream(new TextEncoder().encode(text))
const textOf = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

describe("BytesInputStream", () => {
  describe("read", () => {
    it("reads everything without a size, or with a negative or null one", async () => {
      for (const size of [undefined, null, -1]) {
        const stream = streamOf("hello\nworld")
        expect(textOf(await stream.read(size))).toBe("hello\nworld")
        expect((await stream.read(size)).length).toBe(0)
      }
    })

    it("reads at most size bytes, then empty at the end", async () => {
      const stream = streamOf("abcde")
      expect(textOf(await stream.read(2))).toBe("ab")
      expect(textOf(await stream.read(0))).toBe("")
      expect(textOf(await stream.read(10))).toBe("cde")
      expect(textOf(await stream.read(1))).toBe("")
      expect(stream.remaining).toBe(0)
    })

    it("rejects a size that is not an integer, as Python does", async () => {
      await expect(streamOf("abc").read(1.5)).rejects.toThrow(TypeError)
      await expect(streamOf("abc").read(Number.NaN)).rejects.toThrow(TypeError)
    })

    it("is empty with no bytes given", async () => {
      const stream = new BytesInputStream()
      expect((await stream.read()).length).toBe(0)
      expect((await stream.readline()).length).toBe(0)
      expect(await stream.readlines()).toEqual([])
    })
  })

  describe("readline", () => {
    it("keeps the newline and gives the last line without one", async () => {
      const stream = streamOf("ab\ncd\n\nef")
      const lines: Array<string> = []
      for (let line = await stream.readline(); line.length > 0; line = await stream.readline()) {
        lines.push(textOf(line))
      }
      expect(lines).toEqual(["ab\n", "cd\n", "\n", "ef"])
    })

    it("stops at size bytes, leaving the rest of the line", async () => {
      const stream = streamOf("abcdef\ngh")
      expect(textOf(await stream.readline(4))).toBe("abcd")
      expect(textOf(await stream.readline(-1))).toBe("ef\n")
      expect(textOf(await stream.readline(0))).toBe("")
      expect(textOf(await stream.readline(10))).toBe("gh")
    })

    it("does not split CRLF or treat CR alone as a line end", async () => {
      const stream = streamOf("a\rb\r\nc")
      expect(textOf(await stream.readline())).toBe("a\rb\r\n")
    })
  })

  describe("readlines", () => {
    it("reads every remaining line", async () => {
      const stream = streamOf("ab\ncd\nef")
      await stream.read(1)
      expect((await stream.readlines()).map(textOf)).toEqual(["b\n", "cd\n", "ef"])
    })

    it("stops after the line that reaches the hint", async () => {
      expect((await streamOf("ab\ncd\nef").readlines(3)).map(textOf)).toEqual(["ab\n"])
      expect((await streamOf("ab\ncd\nef").readlines(4)).map(textOf)).toEqual(["ab\n", "cd\n"])
    })

    it("treats a hint of zero or less like no hint", async () => {
      expect(await streamOf("ab\ncd").readlines(0)).toHaveLength(2)
      expect(await streamOf("ab\ncd").readlines(-5)).toHaveLength(2)
    })
  })

  it("iterates line by line from the current position", async () => {
    const stream = streamOf("skip\nab\ncd")
    await stream.readline()
    const lines: Array<string> = []
    for await (const line of stream) lines.push(textOf(line))
    expect(lines).toEqual(["ab\n", "cd"])
  })

  it("works over a view into a larger buffer", async () => {
    const whole = new TextEncoder().encode("xxab\ncdyy")
    const stream = new BytesInputStream(whole.subarray(2, 7))
    expect((await stream.readlines()).map(textOf)).toEqual(["ab\n", "cd"])
  })

  it("reads many lines fast enough for a large body", async () => {
    const stream = streamOf("line\n".repeat(100_000))
    expect(await stream.readlines()).toHaveLength(100_000)
  })
})
