/**
 * Faults in the app, in the output, and clients that hang up, over real sockets. Each
 * case: the outcome the spec names (500 page before the headers; a cut connection after
 * them; nothing logged for a client that left), the body's `close()` called exactly once,
 * no unhandled rejection, no socket or file left open (counted with
 * `process.getActiveResourcesInfo()` and on the file itself), and the next request served.
 */
import { open as openFile, type FileHandle } from "node:fs/promises"
import type { IncomingMessage, ServerResponse } from "node:http"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { FileWrapper } from "../../src/FileWrapper.js"
import type { Application, Environ, InputStream, ResponseBody, Write } from "../../src/Protocol.js"
import { header } from "../support/rawHttp.js"
import {
  eventually,
  expectStillServing,
  type Harness,
  RawClient,
  rawRequest,
  serverIdle,
  startHarness,
  tcpHandles,
  watchUnhandledRejections
} from "./harness.js"

const unhandled = watchUnhandledRejections()

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const bytes = (text: string): Buffer => Buffer.from(text, "latin1")

class AppFailure extends Error {
  override readonly name = "AppFailure"
}

/** `close()` calls per request path. */
const closes = new Map<string, number>()
const closeCount = (path: string): number => closes.get(path) ?? 0

/** Make `body` closeable, counting calls under `path` (and running `onClose`). */
const counted = <T extends object>(path: string, body: T, onClose: () => void = () => {}): T & { close(): void } =>
  Object.assign(body, {
    close() {
      closes.set(path, closeCount(path) + 1)
      onClose()
    }
  })

let lateWrite: Write | null = null
let lateWriteOutcome: Promise<string> | null = null
let file: FileHandle | null = null
let readFailure: unknown = null
const thisFile = fileURLToPath(import.meta.url)

/** One app, a fault per path. */
const faulty: Application = async (environ: Environ, startResponse) => {
  const path = String(environ["PATH_INFO"])
  const ok = (): void => {
    startResponse("200 OK", [["Content-Type", "text/plain"]])
  }
  switch (path) {
    case "/sync-throw":
      throw new AppFailure("thrown before the response")
    case "/reject":
      await sleep(1)
      throw new AppFailure("rejected before the response")
    case "/throw-first-chunk":
      ok()
      return counted(path, {
        *[Symbol.iterator]() {
          throw new AppFailure("the first chunk failed")
        }
      })
    case "/throw-later-chunk":
      ok()
      return counted(path, {
        *[Symbol.iterator]() {
          yield bytes("first")
          throw new AppFailure("a later chunk failed")
        }
      })
    case "/throw-later-chunk-async":
      ok()
      return counted(path, {
        async *[Symbol.asyncIterator]() {
          yield bytes("first")
          await sleep(20)
          throw new AppFailure("a later chunk failed")
        }
      })
    case "/close-throws":
      ok()
      return counted(path, [bytes("all of it")], () => {
        throw new AppFailure("close failed")
      })
    case "/write-after-return": {
      lateWrite = startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "4"]])
      return counted(path, [bytes("done")])
    }
    case "/start-twice":
      startResponse("200 OK", [])
      startResponse("201 Created", [])
      return counted(path, [bytes("never")])
    case "/never":
      return new Promise<ResponseBody>(() => {})
    case "/never-body":
      ok()
      return counted(path, {
        async *[Symbol.asyncIterator]() {
          yield bytes("first")
          await new Promise(() => {})
        }
      })
    case "/slow-start":
      await sleep(150)
      ok()
      return counted(path, [bytes("too late")])
    case "/stream": {
      ok()
      let stop = false
      return counted(path, {
        async *[Symbol.asyncIterator]() {
          for (let i = 0; !stop; i++) {
            yield bytes(`chunk ${i}\n`)
            await sleep(5)
          }
        }
      }, () => {
        stop = true
      })
    }
    case "/upload": {
      try {
        await (environ["wsgi.input"] as InputStream).read()
      } catch (error) {
        readFailure = error
      }
      ok()
      return counted(path, [bytes("got it")])
    }
    case "/file": {
      const handle = await openFile(thisFile)
      file = handle
      ok()
      const wrapper = new FileWrapper({
        read: async (size: number) => {
          await sleep(5)
          const { bytesRead, buffer } = await handle.read(Buffer.alloc(Math.min(size, 64)), 0, Math.min(size, 64), null)
          return buffer.subarray(0, bytesRead)
        },
        close: () => handle.close()
      }, 64)
      // The wrapper's own close() closes the file; count the calls around it.
      const closeFile = wrapper.close!
      return counted(path, wrapper, () => void closeFile())
    }
    default:
      ok()
      return [bytes(path)]
  }
}

/** Patches the next response so that the sink fails (`throw`) or its socket is destroyed. */
let sabotage: ((request: IncomingMessage, response: ServerResponse) => void) | null = null

describe("faults in the app, in the output, and clients that hang up", () => {
  let harness: Harness
  let handlesBefore = 0
  beforeAll(async () => {
    harness = await startHarness(faulty, { responseTimeout: 5_000 })
    harness.server.server.prependListener("request", (request: IncomingMessage, response: ServerResponse) => {
      const next = sabotage
      sabotage = null
      next?.(request, response)
    })
  })
  afterAll(async () => {
    await harness.server.close()
    expect(unhandled()).toEqual([])
  })
  /**
   * Each case's error log, taken at the start of the next case: a report that lands after
   * a case's own checks (a late one, from a client that left) is still counted against it.
   */
  const caseLogs: Array<{ readonly name: string; readonly log: string }> = []
  /** The cases that expect (exactly) one report, from `loggedOnce`. */
  const reporting = new Set<string>()
  let currentCase: string | null = null
  beforeEach(async (context) => {
    await serverIdle(harness.server)
    if (currentCase !== null) caseLogs.push({ name: currentCase, log: harness.errorText() })
    currentCase = context.task.name
    harness.reset()
    closes.clear()
    handlesBefore = tcpHandles()
  })

  /** The common end of every case: no leak, no rejection, still serving. */
  const settled = async (): Promise<void> => {
    await serverIdle(harness.server)
    await eventually(() => tcpHandles() <= handlesBefore, 3_000, "sockets to close")
    expect(unhandled()).toEqual([])
    await expectStillServing(harness)
  }

  /** The first lines of the reports in a log (see `loggedOnce`). */
  const reportsIn = (log: string): Array<string> =>
    log.split("\n").filter((line) => line !== "" && !/^\s/.test(line) && !line.startsWith("Caused by"))

  /** The error log has exactly one report, naming `message`. */
  const loggedOnce = (message: string): void => {
    const log = harness.errorText()
    // A report is a first line (`Name: message`) and its stack and causes, all indented or
    // marked "Caused by"; exactly one report, and it names the failure.
    expect(reportsIn(log), log).toHaveLength(1)
    expect(log).toContain(message)
    reporting.add(currentCase!)
  }

  it("the app throws synchronously: the 500 page, one report, the connection kept", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /sync-throw HTTP/1.1\r\nHost: x\r\n\r\n")
    const response = await client.response()
    expect(response.statusLine).toBe("HTTP/1.1 500 Internal Server Error")
    expect(response.body.toString()).toBe("A server error occurred.  Please contact the administrator.")
    client.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    expect((await client.response()).body.toString()).toBe("/after")
    client.destroy()
    loggedOnce("thrown before the response")
    await settled()
  })

  it("the app rejects: the 500 page, one report", async () => {
    const response = await rawRequest(harness.server.port, "GET /reject HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(response.statusLine).toBe("HTTP/1.1 500 Internal Server Error")
    loggedOnce("rejected before the response")
    await settled()
  })

  it("the body throws at its first chunk: the 500 page, close() once", async () => {
    const response = await rawRequest(harness.server.port, "GET /throw-first-chunk HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(response.statusLine).toBe("HTTP/1.1 500 Internal Server Error")
    expect(closeCount("/throw-first-chunk")).toBe(1)
    loggedOnce("the first chunk failed")
    await settled()
  })

  it("the body throws at a later chunk (sync): the connection is cut, never a whole response; close() once", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /throw-later-chunk HTTP/1.1\r\nHost: x\r\n\r\n")
    const rest = (await client.end()).toString("latin1")
    // Whatever arrived is not a complete response (no Content-Length of it all, no last chunk).
    expect(rest).not.toMatch(/\r\n0\r\n\r\n$/)
    expect(rest).not.toContain("Content-Length")
    expect(closeCount("/throw-later-chunk")).toBe(1)
    loggedOnce("a later chunk failed")
    await settled()
  })

  it("the body throws at a later chunk (async): the head and first chunk, then a cut; close() once", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /throw-later-chunk-async HTTP/1.1\r\nHost: x\r\n\r\n")
    const rest = (await client.end()).toString("latin1")
    expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(rest).toContain("Transfer-Encoding: chunked")
    expect(rest).toMatch(/\r\n\r\n5\r\nfirst\r\n$/)
    expect(closeCount("/throw-later-chunk-async")).toBe(1)
    loggedOnce("a later chunk failed")
    await settled()
  })

  it("close() throws after a complete response: called once, reported once, the response stands", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /close-throws HTTP/1.1\r\nHost: x\r\n\r\nGET /pipelined HTTP/1.1\r\nHost: x\r\n\r\n")
    // The whole response went out before close() failed, so the client gets it, and the
    // connection goes on to the pipelined request.
    const first = await client.response()
    expect(first.statusLine).toBe("HTTP/1.1 200 OK")
    expect(first.body.toString()).toBe("all of it")
    const second = await client.response()
    expect(second.body.toString()).toBe("/pipelined")
    client.destroy()
    expect(closeCount("/close-throws")).toBe(1)
    loggedOnce("close failed")
    await settled()
  })

  it("write() after the app returned rejects, and leaves the connection's next response alone", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /write-after-return HTTP/1.1\r\nHost: x\r\n\r\n")
    const response = await client.response()
    expect(response.body.toString()).toBe("done")
    expect(lateWrite).not.toBeNull()
    lateWriteOutcome = lateWrite!(bytes("late")).then(() => "resolved", (error: Error) => `${error.name}: ${error.message}`)
    expect(await lateWriteOutcome).toMatch(/^ProtocolError: /)
    client.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    const next = await client.response()
    expect(next.body.toString()).toBe("/next")
    expect(client.pending.length).toBe(0)
    client.destroy()
    expect(closeCount("/write-after-return")).toBe(1)
    await settled()
  })

  it("startResponse twice without excInfo: the 500 page, one report", async () => {
    const response = await rawRequest(harness.server.port, "GET /start-twice HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(response.statusLine).toBe("HTTP/1.1 500 Internal Server Error")
    loggedOnce("Headers already set!")
    await settled()
  })

  it("the sink throws: the connection is cut, one report, close() once, nothing escapes", async () => {
    sabotage = (_request, response) => {
      response.write = () => {
        throw new Error("the sink broke")
      }
    }
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.end()
    await eventually(() => closeCount("/stream") === 1, 1_000, "close()")
    loggedOnce("the sink broke")
    await settled()
    expect(closeCount("/stream")).toBe(1)
  })

  it("the sink throws at the end of a one-chunk response: cut, one report", async () => {
    sabotage = (_request, response) => {
      response.end = () => {
        throw new Error("the sink broke at the end")
      }
    }
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.end()
    loggedOnce("the sink broke at the end")
    await settled()
  })

  it("the socket is destroyed under the response: quiet, close() once", async () => {
    sabotage = (request, response) => {
      const write = response.write.bind(response) as (...args: Array<unknown>) => boolean
      response.write = ((...args: Array<unknown>) => {
        request.socket.destroy()
        return write(...args)
      }) as typeof response.write
    }
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.end()
    await eventually(() => closeCount("/stream") === 1, 1_000, "close()")
    expect(harness.errorText()).toBe("")
    await settled()
    expect(closeCount("/stream")).toBe(1)
  })

  it("the client hangs up during the upload: the read fails quietly, close() once", async () => {
    readFailure = null
    const client = await RawClient.connect(harness.server.port)
    client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    client.send("x".repeat(1000))
    await eventually(() => harness.calls.includes("POST /upload"), 1_000, "the app")
    client.destroy()
    await eventually(() => closeCount("/upload") === 1, 1_000, "close()")
    expect((readFailure as { _tag?: string })._tag).toBe("ClientDisconnected")
    expect(harness.errorText()).toBe("")
    await settled()
  })

  it("the client hangs up before the response headers: quiet, close() once", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /slow-start HTTP/1.1\r\nHost: x\r\n\r\n")
    await sleep(30)
    client.destroy()
    await eventually(() => closeCount("/slow-start") === 1, 1_000, "close()")
    expect(harness.errorText()).toBe("")
    await settled()
    expect(closeCount("/slow-start")).toBe(1)
  })

  it("the client hangs up mid-body: the iteration stops, close() once, nothing logged", async () => {
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.until(() => client.pending.toString("latin1").includes("chunk 2"))
    client.destroy()
    await eventually(() => closeCount("/stream") === 1, 1_000, "close()")
    expect(harness.errorText()).toBe("")
    await settled()
    expect(closeCount("/stream")).toBe(1)
  })

  it("the client hangs up in the middle of a file: the file is closed once", async () => {
    file = null
    const client = await RawClient.connect(harness.server.port)
    client.send("GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.until(() => client.pending.length > 200)
    client.destroy()
    await eventually(() => closeCount("/file") === 1, 1_000, "close()")
    await eventually(() => file !== null && file.fd === -1, 1_000, "the file to close")
    expect(harness.errorText()).toBe("")
    await settled()
  })

  it("a whole file, when nobody hangs up: sent, and closed once", async () => {
    const response = await rawRequest(harness.server.port, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
    expect(response.body.toString("utf8")).toContain("the client hangs up in the middle of a file")
    await eventually(() => file !== null && file.fd === -1, 1_000, "the file to close")
    expect(closeCount("/file")).toBe(1)
    await settled()
  })

  it("after all of it, the log holds no report of a client that left", async () => {
    // beforeEach emptied the log since the last case; read what every case logged instead,
    // late lines included (and give a report of the last case the time to land).
    await sleep(100)
    const logs = [...caseLogs, { name: "(late, after the last case)", log: harness.errorText() }]
    expect(logs.length, "every case before this one was recorded").toBeGreaterThanOrEqual(16)
    for (const { name, log } of logs) {
      // The cases where the client leaves (or its socket dies) log nothing at all.
      if (/hangs up|socket is destroyed/.test(name)) {
        expect(log, name).toBe("")
      }
      // No case has a report it did not expect: one for the faults, none for the rest.
      expect(reportsIn(log), `${name}:\n${log}`).toHaveLength(reporting.has(name) ? 1 : 0)
      // And nowhere a report of a client that went away.
      expect(log, name).not.toMatch(/ClientDisconnected|ECONNRESET|EPIPE|ERR_STREAM_DESTROYED|ERR_STREAM_PREMATURE_CLOSE|went away|hang up|aborted/i)
    }
    expect(reporting.size, "the fault cases reported").toBe(9)
  })
})

describe("responseTimeout bounds a request's total time", () => {
  let timed: Harness
  beforeAll(async () => {
    timed = await startHarness(faulty, { responseTimeout: 300 })
  })
  afterAll(async () => {
    await timed.server.close()
  })
  beforeEach(async () => {
    timed.reset()
    closes.clear()
  })
  const settled = async (): Promise<void> => {
    await serverIdle(timed.server)
    expect(unhandled()).toEqual([])
    await expectStillServing(timed)
  }

  it("an app that never answers: 503 at responseTimeout, closed, one log line", async () => {
    const started = Date.now()
    const client = await RawClient.connect(timed.server.port)
    client.send("GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
    const response = await client.response()
    expect(response.statusLine).toBe("HTTP/1.1 503 Service Unavailable")
    expect(header(response, "connection")).toBe("close")
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    await client.end()
    expect(timed.errorLines()).toHaveLength(1)
    expect(timed.errorLines()[0]).toMatch(/code 503, message Service Unavailable \(no response after 300 ms\)$/)
    await settled()
  })

  it("a body that never ends: cut at responseTimeout, close() once, one log line", async () => {
    const client = await RawClient.connect(timed.server.port)
    client.send("GET /never-body HTTP/1.1\r\nHost: x\r\n\r\n")
    const rest = (await client.end()).toString("latin1")
    expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n5\r\nfirst\r\n$/)
    await eventually(() => closeCount("/never-body") === 1, 1_000, "close()")
    expect(timed.errorLines()).toHaveLength(1)
    expect(timed.errorLines()[0]).toMatch(/code 503, message Service Unavailable \(response cut after 300 ms\)$/)
    await settled()
    expect(closeCount("/never-body")).toBe(1)
  })

})
