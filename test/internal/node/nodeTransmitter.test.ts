/**
 * The node gateway's `FileTransmitter`: a `wsgi.file_wrapper` body over a file (a
 * `fileLike(path)`, an `fs.promises.FileHandle`, an `fs.ReadStream`) streamed from disk
 * over a real socket, byte-exact, with backpressure, `bytesSent` right and `close()` once;
 * and, through `run`, that the core goes by the transmitter's answer.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { closeSync, createReadStream, mkdtempSync, openSync, type ReadStream, rmSync, writeSync } from "node:fs"
import { type FileHandle, open } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { ErrorLog, type MemoryErrorLog } from "../../../src/ErrorLog.js"
import { FileTransmitter, type FileTransmitterShape, type Transmission } from "../../../src/FileTransmitter.js"
import { type FileLike, fileLike, FileWrapper } from "../../../src/FileWrapper.js"
import { run } from "../../../src/Handler.js"
import type { Application, Environ, ResponseBody } from "../../../src/Protocol.js"
import { makeServer, type ServerOptions, type WSGIServer } from "../../../src/Server.js"
import * as Testing from "../../../src/Testing.js"
import { destroyAllClients, header, RawClient, rawRequest } from "../../support/rawHttp.js"

const MiB = 1024 * 1024
const SIZE = 100 * MiB
const show = process.env["SHOW_FIGURES"] !== undefined

let directory: string
/** The 100 MiB file: byte i is i % 251. */
let bigFile: string
let bigHash: string
/** A 3 MiB file of the same pattern, for the quicker tests. */
let smallFile: string
let smallContent: Buffer

/** Write `size` bytes of the pattern to `path`; its sha256. */
const writePattern = (path: string, size: number): string => {
  // A whole number of periods, so every block starts at byte 0 of the pattern.
  const block = Buffer.alloc(251 * 4096)
  for (let i = 0; i < block.length; i++) block[i] = i % 251
  const hash = createHash("sha256")
  const fd = openSync(path, "w")
  try {
    for (let written = 0; written < size;) {
      const part = block.subarray(0, Math.min(block.length, size - written))
      writeSync(fd, part)
      hash.update(part)
      written += part.length
    }
  } finally {
    closeSync(fd)
  }
  return hash.digest("hex")
}

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "effect-wsgi-transmit-"))
  bigFile = join(directory, "big.bin")
  bigHash = writePattern(bigFile, SIZE)
  smallFile = join(directory, "small.bin")
  writePattern(smallFile, 3 * MiB)
  smallContent = Buffer.alloc(3 * MiB)
  for (let i = 0; i < smallContent.length; i++) smallContent[i] = i % 251
})

afterAll(() => {
  rmSync(directory, { recursive: true, force: true })
})

const servers: Array<WSGIServer> = []
const children: Array<ChildProcess> = []
let errors: MemoryErrorLog
let accessLines: Array<string>

const serve = async (app: Application, options: ServerOptions = {}): Promise<WSGIServer> => {
  errors = ErrorLog.memory()
  accessLines = []
  const server = await makeServer("127.0.0.1", 0, app, {
    errorLog: errors,
    accessLog: (line) => accessLines.push(line),
    closeTimeout: 2_000,
    ...options
  })
  servers.push(server)
  return server
}

afterEach(async () => {
  for (const child of children.splice(0)) child.kill()
  destroyAllClients()
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

/** A promise and the function that resolves it. */
const deferred = <A = void>() => {
  let resolve!: (value: A) => void
  const promise = new Promise<A>((done) => {
    resolve = done
  })
  return { promise, resolve }
}

/** Wait (polling) until `ready()` holds: a log line is written after the client may have the last byte. */
const waitFor = async (ready: () => boolean): Promise<void> => {
  for (let tries = 0; !ready(); tries++) {
    if (tries > 500) throw new Error("waited 5 s in vain")
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The size in an access log line (its last field). */
const loggedSize = (line: string): number => Number(line.slice(line.lastIndexOf(" ") + 1))

/** The wrapper class the environ offers. */
const wrapperOf = (environ: Environ) => environ["wsgi.file_wrapper"]!

/** Counts the calls of a filelike's own `read` (a file streamed from disk has none). */
const countReads = (filelike: { read(size: number): unknown }): { reads: number } => {
  const counter = { reads: 0 }
  const read = filelike.read.bind(filelike)
  Object.assign(filelike, {
    read: (size: number) => {
      counter.reads++
      return read(size)
    }
  })
  return counter
}

/**
 * A filelike whose close() is counted (and resolves `closed`); the wrapper binds it when it
 * is made, so count before wrapping.
 */
const countClose = <F extends object>(filelike: F) => {
  const closed = deferred()
  const counter = { closes: 0, closed: closed.promise }
  const original = (filelike as { close: (...args: Array<unknown>) => unknown }).close.bind(filelike)
  Object.assign(filelike, {
    close: (...args: Array<unknown>) => {
      counter.closes++
      try {
        return original(...args)
      } finally {
        closed.resolve()
      }
    }
  })
  return counter
}

/**
 * The reader, in a process of its own so only the server's memory is in this one's RSS:
 * GET the path, read the head, then hash the body (de-chunked when chunked), pausing the
 * socket a few times along the way; prints one JSON line.
 */
const slowReader = `
const net = require("node:net")
const crypto = require("node:crypto")
const [port, path, pauses, pauseMs] = process.argv.slice(1)
const hash = crypto.createHash("sha256")
const socket = net.connect(Number(port), "127.0.0.1", () => {
  socket.write("GET " + path + " HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
})
let buffer = Buffer.alloc(0)
let head = null
let length = -1
let chunked = false
let received = 0
let nextPause = 0
let pausesLeft = Number(pauses)
// De-chunking state: bytes left in the current chunk, or -1 while reading a size line.
let inChunk = -1
let ended = false
const done = () => {
  if (ended) return
  ended = true
  console.log(JSON.stringify({ head, received, hash: hash.digest("hex"), chunked }))
  socket.destroy()
}
const body = (data) => {
  hash.update(data)
  received += data.length
  if (pausesLeft > 0 && length > 0 && received >= nextPause) {
    pausesLeft--
    nextPause += length / (Number(pauses) + 1)
    socket.pause()
    setTimeout(() => socket.resume(), Number(pauseMs))
  }
}
const take = () => {
  if (!chunked) {
    body(buffer)
    buffer = Buffer.alloc(0)
    if (received >= length) done()
    return
  }
  for (;;) {
    if (inChunk === -1) {
      const end = buffer.indexOf("\\r\\n")
      if (end === -1) return
      const size = parseInt(buffer.subarray(0, end).toString("latin1"), 16)
      if (size === 0) return done()
      inChunk = size
      buffer = buffer.subarray(end + 2)
    }
    if (inChunk > 0) {
      const part = buffer.subarray(0, inChunk)
      body(part)
      inChunk -= part.length
      buffer = buffer.subarray(part.length)
      if (inChunk > 0) return
    }
    if (buffer.length < 2) return
    buffer = buffer.subarray(2)
    inChunk = -1
  }
}
socket.on("data", (data) => {
  buffer = buffer.length === 0 ? data : Buffer.concat([buffer, data])
  if (head === null) {
    const end = buffer.indexOf("\\r\\n\\r\\n")
    if (end === -1) return
    head = buffer.subarray(0, end).toString("latin1")
    buffer = buffer.subarray(end + 4)
    const match = /\\r\\ncontent-length: *(\\d+)/i.exec(head)
    length = match === null ? -1 : Number(match[1])
    chunked = /\\r\\ntransfer-encoding: *chunked/i.test(head)
    if (chunked) length = Number(process.env.EXPECTED_SIZE)
    nextPause = length / (Number(pauses) + 1)
  }
  take()
})
socket.on("end", done)
socket.on("error", (error) => {
  console.log(JSON.stringify({ error: error.message }))
  process.exit(1)
})
`

interface ReaderResult {
  readonly head: string
  readonly received: number
  readonly hash: string
  readonly chunked: boolean
}

/**
 * Fetch `path` with the slow reader while sampling this process's RSS: what it got, how
 * long it took, and the peak RSS growth over the baseline taken just before.
 */
const readSlowly = async (server: WSGIServer, path: string, options: { pauses?: number; pauseMs?: number } = {}) => {
  const reader = spawn(
    process.execPath,
    ["-e", slowReader, String(server.port), path, String(options.pauses ?? 3), String(options.pauseMs ?? 150)],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, EXPECTED_SIZE: String(SIZE) } }
  )
  children.push(reader)
  const baseline = process.memoryUsage().rss
  let peak = baseline
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 5)
  const started = performance.now()
  try {
    const line = await createInterface({ input: reader.stdout! })[Symbol.asyncIterator]().next()
    const result = JSON.parse(String(line.value)) as ReaderResult & { error?: string }
    if (result.error !== undefined) throw new Error(`the reader failed: ${result.error}`)
    return { result, millis: performance.now() - started, growth: peak - baseline }
  } finally {
    clearInterval(sample)
  }
}

const figures = (what: string, millis: number, growth: number): void => {
  if (show) console.log(`${what}: 100 MiB in ${millis.toFixed(0)} ms; peak RSS growth ${(growth / MiB).toFixed(1)} MiB`)
}

describe("the node transmitter: a 100 MiB file to a slow reader", () => {
  it("fileLike(path): byte-exact, streamed from disk (never read through the wrapper), logged size right, close() once", async () => {
    let reads!: ReturnType<typeof countReads>
    let counter!: ReturnType<typeof countClose>
    let file!: ReturnType<typeof fileLike>
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(SIZE)]])
      file = fileLike(bigFile)
      reads = countReads(file)
      counter = countClose(file)
      return new (wrapperOf(environ))(file)
    })
    const { result, millis, growth } = await readSlowly(server, "/big")
    figures("fileLike(path)", millis, growth)
    expect(result.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(result.chunked).toBe(false)
    expect(result.received).toBe(SIZE)
    expect(result.hash).toBe(bigHash)
    await counter.closed
    expect(counter.closes).toBe(1)
    expect(file.fd).toBe(-1)
    expect(reads.reads).toBe(0)
    expect(accessLines).toHaveLength(1)
    expect(accessLines[0]).toContain('"GET /big HTTP/1.1" 200 ')
    expect(loggedSize(accessLines[0]!)).toBe(SIZE)
    expect(errors.text()).toBe("")
    expect(growth).toBeLessThan(64 * MiB)
  })

  it("an fs.promises.FileHandle: byte-exact, chunked when the app gives no Content-Length, close() once", async () => {
    let counter!: ReturnType<typeof countClose>
    let handle!: FileHandle
    const server = await serve(async (environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
      handle = await open(bigFile, "r")
      counter = countClose(handle)
      return new (wrapperOf(environ))(handle as unknown as FileLike)
    })
    const { result, millis, growth } = await readSlowly(server, "/handle")
    figures("FileHandle (chunked)", millis, growth)
    expect(result.chunked).toBe(true)
    expect(result.received).toBe(SIZE)
    expect(result.hash).toBe(bigHash)
    await counter.closed
    expect(counter.closes).toBe(1)
    expect(handle.fd).toBe(-1)
    expect(loggedSize(accessLines[0]!)).toBe(SIZE)
    expect(errors.text()).toBe("")
    expect(growth).toBeLessThan(64 * MiB)
  })

  it("an fs.ReadStream: byte-exact, logged size right, close() once", async () => {
    let counter!: ReturnType<typeof countClose>
    let stream!: ReadStream
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(SIZE)]])
      stream = createReadStream(bigFile)
      counter = countClose(stream)
      return new (wrapperOf(environ))(stream as unknown as FileLike)
    })
    const { result, millis, growth } = await readSlowly(server, "/stream")
    figures("fs.ReadStream", millis, growth)
    expect(result.received).toBe(SIZE)
    expect(result.hash).toBe(bigHash)
    await counter.closed
    expect(counter.closes).toBe(1)
    expect(stream.destroyed).toBe(true)
    expect(loggedSize(accessLines[0]!)).toBe(SIZE)
    expect(errors.text()).toBe("")
    expect(growth).toBeLessThan(64 * MiB)
  })
})

describe("the node transmitter: over smaller files", () => {
  it("sends from where the file is: what the app read of it stays out of the body", async () => {
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
      const file = fileLike(smallFile)
      file.read(1000)
      return new (wrapperOf(environ))(file)
    })
    const response = await rawRequest(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(response.body.equals(smallContent.subarray(1000))).toBe(true)
    await waitFor(() => accessLines.length === 1)
    expect(loggedSize(accessLines[0]!)).toBe(smallContent.length - 1000)
  })

  it("a FileWrapper over a fileLike from a second copy of the package (an app under the bundled CLI): still streamed from disk", async () => {
    // The same module loaded again (a query makes it another module instance): its classes
    // are not this copy's, as an app's own "effect-wsgi" is not the bundled command's.
    const second = "../../../src/FileWrapper.js?second-copy"
    const copy = (await import(second)) as typeof import("../../../src/FileWrapper.js")
    expect(copy.FileWrapper).not.toBe(FileWrapper)
    let reads!: ReturnType<typeof countReads>
    let counter!: ReturnType<typeof countClose>
    const server = await serve((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
      const file = copy.fileLike(smallFile)
      reads = countReads(file)
      counter = countClose(file)
      return new copy.FileWrapper(file)
    })
    const response = await rawRequest(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(response.body.equals(smallContent)).toBe(true)
    await counter.closed
    expect(counter.closes).toBe(1)
    expect(reads.reads).toBe(0)
  })

  it("an empty file: the head alone, with Content-Length: 0; the connection stays usable", async () => {
    const empty = join(directory, "empty.bin")
    writePattern(empty, 0)
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
      return new (wrapperOf(environ))(fileLike(empty))
    })
    const client = await RawClient.connect(server.port)
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    for (const response of [await client.response(), await client.response()]) {
      expect(response.code).toBe(200)
      expect(header(response, "content-length")).toBe("0")
      expect(response.body.length).toBe(0)
    }
  })

  it("after the app's own write(): its bytes first, then the file, one head", async () => {
    const server = await serve((environ, startResponse) => {
      const write = startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
      write(Buffer.from("prefix:"))
      return new (wrapperOf(environ))(fileLike(smallFile))
    })
    const response = await rawRequest(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(response.code).toBe(200)
    expect(response.chunked).toBe(true)
    expect(response.body.subarray(0, 7).toString("latin1")).toBe("prefix:")
    expect(response.body.subarray(7).equals(smallContent)).toBe(true)
    await waitFor(() => accessLines.length === 1)
    expect(loggedSize(accessLines[0]!)).toBe(7 + smallContent.length)
    expect(errors.text()).toBe("")
  })

  it("HEAD: the head only, the size the body would have had in the log", async () => {
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(smallContent.length)]])
      return new (wrapperOf(environ))(fileLike(smallFile))
    })
    const client = await RawClient.connect(server.port)
    client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    const head = await client.response({ head: true })
    expect(head.code).toBe(200)
    expect(header(head, "content-length")).toBe(String(smallContent.length))
    const get = await client.response()
    expect(get.body.equals(smallContent)).toBe(true)
    await waitFor(() => accessLines.length === 2)
    expect(accessLines.map(loggedSize)).toEqual([smallContent.length, smallContent.length])
  })

  /** A FileHandle on `path` whose reads are counted (the transmitter reads a handle through `read`). */
  const countingHandle = async (path: string) => {
    const handle = await open(path, "r")
    const counted = { handle, reads: 0 }
    const read = handle.read.bind(handle) as (...args: Array<unknown>) => Promise<unknown>
    ;(handle as unknown as { read: (...args: Array<unknown>) => Promise<unknown> }).read = (...args) => {
      counted.reads++
      return read(...args)
    }
    return counted
  }

  it("HEAD with a Content-Length: the file is not read at all, the declared size is logged, close() once", async () => {
    let counted!: Awaited<ReturnType<typeof countingHandle>>
    let closes!: ReturnType<typeof countClose>
    const server = await serve(async (environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(SIZE)]])
      counted = await countingHandle(bigFile)
      closes = countClose(counted.handle)
      return new (wrapperOf(environ))(counted.handle as unknown as FileLike)
    })
    const client = await RawClient.connect(server.port)
    client.send("HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n")
    const head = await client.response({ head: true })
    expect(head.code).toBe(200)
    expect(header(head, "content-length")).toBe(String(SIZE))
    await closes.closed
    expect(closes.closes).toBe(1)
    expect(counted.reads).toBe(0)
    await waitFor(() => accessLines.length === 1)
    expect(accessLines[0]).toContain('"HEAD /big HTTP/1.1" 200 ')
    expect(loggedSize(accessLines[0]!)).toBe(SIZE)
    expect(errors.text()).toBe("")
  })

  it("HEAD without a Content-Length: the file is read to count its size for the log, and nothing of it is sent", async () => {
    let counted!: Awaited<ReturnType<typeof countingHandle>>
    const server = await serve(async (environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
      counted = await countingHandle(smallFile)
      return new (wrapperOf(environ))(counted.handle as unknown as FileLike)
    })
    const client = await RawClient.connect(server.port)
    client.send("HEAD /small HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n")
    const head = await client.response({ head: true })
    expect(head.code).toBe(200)
    expect(head.body.length).toBe(0)
    const get = await client.response()
    expect(get.body.equals(smallContent)).toBe(true)
    expect(counted.reads).toBeGreaterThan(0)
    await waitFor(() => accessLines.length === 2)
    expect(accessLines.map(loggedSize)).toEqual([smallContent.length, smallContent.length])
  })

  it("an object with the path of a regular file: that file is opened, sent and closed again", async () => {
    let reads = 0
    let closes = 0
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
      const filelike = {
        path: smallFile,
        read: () => {
          reads++
          return new Uint8Array(0)
        },
        close: () => void closes++
      }
      return new (wrapperOf(environ))(filelike)
    })
    const response = await rawRequest(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(response.body.equals(smallContent)).toBe(true)
    expect(reads).toBe(0)
    expect(closes).toBe(1)
  })
})

describe("the node transmitter: clients that go away, timeouts", () => {
  const hangUp = async (makeFile: () => object | Promise<object>) => {
    const closed = deferred()
    let closes = 0
    let served: object | null = null
    const server = await serve(async (environ, startResponse) => {
      if (environ["PATH_INFO"] !== "/big") {
        startResponse("200 OK", [["Content-Type", "text/plain"]])
        return [Buffer.from("next")]
      }
      startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(SIZE)]])
      const file = await makeFile()
      served = file
      const counter = countClose(file)
      void counter.closed.then(() => {
        closes = counter.closes
        closed.resolve()
      })
      return new (wrapperOf(environ))(file as FileLike)
    })
    const client = await RawClient.connect(server.port)
    client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.until(() => client.pending.length > 256 * 1024)
    client.destroy()
    await closed.promise
    // Give a late second close() (or a late log line) the chance to show.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(closes).toBe(1)
    expect(errors.text()).toBe("")
    const next = await rawRequest(server.port, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(next.body.toString("latin1")).toBe("next")
    return served!
  }

  it("fileLike: a client that hangs up mid-file stops it: nothing logged, close() once, the next request served", async () => {
    const file = (await hangUp(() => fileLike(bigFile))) as ReturnType<typeof fileLike>
    expect(file.fd).toBe(-1)
  })

  it("FileHandle: the same", async () => {
    const handle = (await hangUp(() => open(bigFile, "r"))) as FileHandle
    expect(handle.fd).toBe(-1)
  })

  it("fs.ReadStream: the same, and the stream is destroyed", async () => {
    const stream = (await hangUp(() => createReadStream(bigFile))) as ReadStream
    expect(stream.destroyed).toBe(true)
  })

  it("a response timeout mid-file interrupts it: the read stream destroyed, close() once, one line logged", async () => {
    const closed = deferred()
    let closes = 0
    let stream!: ReadStream
    const server = await serve((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(SIZE)]])
      stream = createReadStream(bigFile)
      const counter = countClose(stream)
      void counter.closed.then(() => {
        closes = counter.closes
        closed.resolve()
      })
      return new (wrapperOf(environ))(stream as unknown as FileLike)
    }, { responseTimeout: 200 })
    const client = await RawClient.connect(server.port)
    // Read nothing: the server stops at the socket's buffers, then the timeout cuts it.
    client.socket.pause()
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await closed.promise
    expect(closes).toBe(1)
    expect(stream.destroyed).toBe(true)
    if (show) console.log(`read ahead of a client that reads nothing: ${(stream.bytesRead / MiB).toFixed(1)} MiB`)
    expect(stream.bytesRead).toBeLessThan(16 * MiB)
    expect(errors.text()).toMatch(/code 503, message Service Unavailable \(response cut after 200 ms\)\n$/)
    expect(errors.text().split("\n").filter(Boolean)).toHaveLength(1)
  })
})

describe("the node transmitter declines what is not a file", () => {
  /** A filelike in memory, with reads counted. */
  const memoryFile = (content: Uint8Array, extra: object = {}) => {
    let position = 0
    const file = {
      reads: 0,
      closes: 0,
      ...extra,
      read(size: number): Uint8Array {
        file.reads++
        const chunk = content.subarray(position, position + size)
        position += chunk.length
        return chunk
      },
      close(): void {
        file.closes++
      }
    }
    return file
  }

  for (
    const [what, extra] of [
      ["an object without a path", {}],
      ["an object whose path is a directory", { path: tmpdir() }],
      ["an object whose path does not exist", { path: join(tmpdir(), "no such file, surely") }]
    ] as const
  ) {
    it(`${what}: iterated through the wrapper as before`, async () => {
      const content = smallContent.subarray(0, 100_000)
      const file = memoryFile(content, extra)
      const server = await serve((environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
        return new (wrapperOf(environ))(file, 8192)
      })
      const response = await rawRequest(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      expect(response.body.equals(content)).toBe(true)
      // 13 blocks of 8192 and the empty read at the end.
      expect(file.reads).toBe(14)
      expect(file.closes).toBe(1)
      await waitFor(() => accessLines.length === 1)
      expect(loggedSize(accessLines[0]!)).toBe(content.length)
      expect(errors.text()).toBe("")
    })
  }
})

describe("run(app) with a test FileTransmitter: the core goes by its answer", () => {
  const hello = Buffer.from("Hello from the file!\n")

  /** A transmitter that records its calls; answering true, it sends its own body. */
  const recorder = (answer: boolean) => {
    const calls: Array<{ readonly file: FileWrapper; readonly response: Transmission }> = []
    const request = Testing.request()
    const sent = Buffer.from("sent by the transmitter")
    const transmitter: FileTransmitterShape = {
      transmit: (file, response) => {
        calls.push({ file, response })
        if (!answer) return Effect.succeed(false)
        return Effect.gen(function*() {
          yield* response.sendHeaders()
          yield* request.output.write(sent)
          response.addBytesSent(sent.length)
          return true
        })
      }
    }
    return { calls, request, transmitter, sent }
  }

  const app = (file: FileLike): Application => (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]])
    return new (wrapperOf(environ))(file) as ResponseBody
  }

  const fileOf = () => {
    let reads = 0
    let closes = 0
    let done = false
    const file: FileLike & { readonly reads: number; readonly closes: number } = {
      get reads() {
        return reads
      },
      get closes() {
        return closes
      },
      read: () => {
        reads++
        const chunk = done ? new Uint8Array(0) : hello
        done = true
        return chunk
      },
      close: () => void closes++
    }
    return file
  }

  it("true: the transmitter's bytes are the body, the wrapper is not iterated, and closed once", async () => {
    const { calls, request, transmitter, sent } = recorder(true)
    const file = fileOf()
    const exit = await Effect.runPromiseExit(
      run(app(file)).pipe(Effect.provideService(FileTransmitter, transmitter), Effect.provide(request.layer))
    )
    expect(exit).toStrictEqual(Exit.void)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.file).toBeInstanceOf(FileWrapper)
    expect(calls[0]!.file.filelike).toBe(file)
    const text = request.output.text()
    expect(text).toMatch(/^HTTP\/1\.0 200 OK\r\n|^Status: 200 OK\r\n|200 OK\r\n/)
    expect(text.endsWith(`\r\n\r\n${sent.toString("latin1")}`)).toBe(true)
    expect(file.reads).toBe(0)
    expect(file.closes).toBe(1)
  })

  it("false: nothing from the transmitter, the wrapper iterated as usual, and closed once", async () => {
    const { calls, request, transmitter } = recorder(false)
    const file = fileOf()
    const exit = await Effect.runPromiseExit(
      run(app(file)).pipe(Effect.provideService(FileTransmitter, transmitter), Effect.provide(request.layer))
    )
    expect(exit).toStrictEqual(Exit.void)
    expect(calls).toHaveLength(1)
    expect(request.output.text().endsWith(`\r\n\r\n${hello.toString("latin1")}`)).toBe(true)
    expect(file.reads).toBe(2)
    expect(file.closes).toBe(1)
  })
})
