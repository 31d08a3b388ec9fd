import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { fileLike, FileWrapper } from "../src/FileWrapper.js"

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text)
const textOf = (chunks: Iterable<Uint8Array>): Array<string> =>
  Array.from(chunks, (chunk) => new TextDecoder().decode(chunk))

/** A file in memory, like Python's io.BytesIO: synchronous reads and a `closed` flag. */
class MemoryFile {
  closed = false
  readonly sizesAsked: Array<number> = []
  private position = 0

  constructor(private readonly content: Uint8Array) {}

  read(size: number): Uint8Array {
    this.sizesAsked.push(size)
    const chunk = this.content.subarray(this.position, this.position + size)
    this.position += chunk.length
    return chunk
  }

  close(): void {
    this.closed = true
  }
}

/** The same file, with reads that resolve later, as from `fs.promises`. */
class AsyncMemoryFile {
  private readonly file: MemoryFile

  constructor(content: Uint8Array) {
    this.file = new MemoryFile(content)
  }

  get closed(): boolean {
    return this.file.closed
  }

  async read(size: number): Promise<Uint8Array> {
    await new Promise((resolve) => setTimeout(resolve, 1))
    return this.file.read(size)
  }

  async close(): Promise<void> {
    this.file.close()
  }
}

const collect = async (chunks: AsyncIterable<Uint8Array>): Promise<Array<Uint8Array>> => {
  const collected: Array<Uint8Array> = []
  for await (const chunk of chunks) collected.push(chunk)
  return collected
}

describe("FileWrapper", () => {
  it("reads in blocks of blksize until an empty chunk (CPython testFileWrapper)", () => {
    const file = new MemoryFile(bytesOf("xyz".repeat(50)))
    const wrapper = new FileWrapper(file, 120)
    expect(textOf(wrapper)).toEqual(["xyz".repeat(40), "xyz".repeat(10)])
    expect(file.sizesAsked).toEqual([120, 120, 120])
  })

  it("does not close the file by iterating; close() does", () => {
    const file = new MemoryFile(bytesOf("abc"))
    const wrapper = new FileWrapper(file)
    expect(file.closed).toBe(false)
    for (const chunk of wrapper) expect(chunk.length).toBe(3)
    expect(file.closed).toBe(false)
    wrapper.close?.()
    expect(file.closed).toBe(true)
  })

  it("exposes filelike and blksize, with 8192 as the default block size", () => {
    const file = new MemoryFile(new Uint8Array(10_000))
    const wrapper = new FileWrapper(file)
    expect(wrapper.filelike).toBe(file)
    expect(wrapper.blksize).toBe(8192)
    expect([...wrapper].map((chunk) => chunk.length)).toEqual([8192, 1808])
  })

  it("has a close() only when the file has one", () => {
    const withoutClose = new FileWrapper({ read: () => new Uint8Array(0) })
    expect("close" in withoutClose).toBe(false)
    expect(withoutClose.close).toBeUndefined()
    expect(typeof new FileWrapper(new MemoryFile(new Uint8Array(0))).close).toBe("function")
  })

  it("calls close() with the file as `this`", () => {
    const file = new MemoryFile(new Uint8Array(0))
    const { close } = new FileWrapper(file)
    close?.()
    expect(file.closed).toBe(true)
  })

  it("yields nothing for an empty file", () => {
    expect([...new FileWrapper(new MemoryFile(new Uint8Array(0)))]).toEqual([])
  })

  it("continues from where the file is, like Python's self-iterator", () => {
    const wrapper = new FileWrapper(new MemoryFile(bytesOf("abcdef")), 2)
    for (const chunk of wrapper) {
      expect(textOf([chunk])).toEqual(["ab"])
      break
    }
    expect(textOf(wrapper)).toEqual(["cd", "ef"])
  })

  it("stops at a nullish chunk, as Python stops at None", () => {
    const reads = [bytesOf("a"), null]
    const wrapper = new FileWrapper({ read: () => reads.shift() as Uint8Array })
    expect(textOf(wrapper)).toEqual(["a"])
  })

  describe("async iteration", () => {
    it("awaits an asynchronous read", async () => {
      const file = new AsyncMemoryFile(bytesOf("xyz".repeat(50)))
      const wrapper = new FileWrapper(file, 120)
      expect(textOf(await collect(wrapper))).toEqual(["xyz".repeat(40), "xyz".repeat(10)])
      expect(file.closed).toBe(false)
      await wrapper.close?.()
      expect(file.closed).toBe(true)
    })

    it("works over a synchronous read too", async () => {
      const wrapper = new FileWrapper(new MemoryFile(bytesOf("abcde")), 2)
      expect(textOf(await collect(wrapper))).toEqual(["ab", "cd", "e"])
    })

    it("passes a failed read on", async () => {
      const failure = new Error("disk on fire")
      const wrapper = new FileWrapper({ read: () => Promise.reject(failure) })
      await expect(collect(wrapper)).rejects.toBe(failure)
    })
  })

  it("refuses sync iteration over an asynchronous read, when iterated", () => {
    const wrapper = new FileWrapper(new AsyncMemoryFile(bytesOf("abc")))
    const iterator = wrapper[Symbol.iterator]()
    expect(() => iterator.next()).toThrow(TypeError)
    expect(() => [...new FileWrapper(new AsyncMemoryFile(bytesOf("abc")))]).toThrow("for await")
  })

  it("does not leave an unhandled rejection behind a refused sync iteration", async () => {
    const unhandled: Array<unknown> = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on("unhandledRejection", onUnhandled)
    try {
      const wrapper = new FileWrapper({ read: () => Promise.reject(new Error("never seen")) })
      expect(() => [...wrapper]).toThrow(TypeError)
      await new Promise((resolve) => setTimeout(resolve, 10))
      expect(unhandled).toEqual([])
    } finally {
      process.off("unhandledRejection", onUnhandled)
    }
  })
})

describe("fileLike(path)", () => {
  const withFile = (content: string, test: (path: string) => void): void => {
    const directory = mkdtempSync(join(tmpdir(), "effect-wsgi-filelike-"))
    try {
      const path = join(directory, "file.txt")
      writeFileSync(path, content)
      test(path)
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  }

  it("opens the file; a wrapper over it iterates with for...of, in blocks, and close() closes it once", () => {
    withFile("xyz".repeat(50), (path) => {
      const file = fileLike(path)
      expect(file.path).toBe(path)
      expect(file.fd).toBeGreaterThanOrEqual(0)
      const wrapper = new FileWrapper(file, 120)
      expect(textOf(wrapper)).toEqual(["xyz".repeat(40), "xyz".repeat(10)])
      wrapper.close?.()
      expect(file.fd).toBe(-1)
      // Again: nothing happens.
      file.close()
      expect(() => file.read(1)).toThrow("read of closed file")
    })
  })

  it("reads from where the file is; read(-1) reads the rest", () => {
    withFile("abcdef", (path) => {
      const file = fileLike(path)
      expect(textOf([file.read(2)])).toEqual(["ab"])
      expect(textOf([file.read(-1)])).toEqual(["cdef"])
      expect(file.read(10).length).toBe(0)
      file.close()
    })
  })

  it("throws at once when the file cannot be opened", () => {
    expect(() => fileLike(join(tmpdir(), "no such file, surely"))).toThrow(/ENOENT/)
  })
})
