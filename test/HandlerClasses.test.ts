/**
 * The wsgiref class shim: CPython's HandlerTests as our own tests, and proof that every
 * overridden step really replaces the core's.
 */
import { PassThrough, Readable, Writable } from "node:stream"
import { afterEach, describe, expect, it, vi } from "vitest"
import { FileWrapper } from "../src/FileWrapper.js"
import { ProtocolError } from "../src/HandlerError.js"
import { Headers } from "../src/Headers.js"
import {
  BaseCGIHandler,
  BaseHandler,
  CGIHandler,
  formatDateTime,
  IISCGIHandler,
  NotImplementedError,
  SimpleHandler
} from "../src/HandlerClasses.js"
import { BytesInputStream } from "../src/internal/bytesInput.js"
import { StringErrorStream } from "../src/internal/stringErrors.js"
import type { Application, CgiVariables, Environ, ErrorStream, HeaderList, InputStream, StartResponse } from "../src/Protocol.js"
import { setupTestingDefaults } from "../src/Util.js"
import { CGI_ERROR_PAGE, closeable, ERROR_BODY, firstLine, latin1, text } from "./support/coreApps.js"
import { underTest } from "./support/underTest.js"

/** A stdout that keeps every chunk (copied: the handler may reuse its buffers). */
class Collect {
  readonly chunks: Array<Uint8Array> = []
  write(chunk: Uint8Array): void {
    this.chunks.push(chunk.slice())
  }
  flush(): void {}
  get value(): string {
    return text(Buffer.concat(this.chunks))
  }
}

/** CPython's ErrorHandler: a CGI handler over in-memory streams, environ from setupTestingDefaults. */
class ErrorHandler extends BaseCGIHandler {
  readonly out: Collect
  readonly err: StringErrorStream
  constructor(variables: CgiVariables = {}) {
    // QUERY_STRING as a real gateway always sets it (the validator warns without it).
    const environ = { QUERY_STRING: "", ...variables }
    setupTestingDefaults(environ)
    const out = new Collect()
    const err = new StringErrorStream()
    super(new BytesInputStream(), out, err, environ, { multithread: true, multiprocess: true })
    this.out = out
    this.err = err
  }
}

/** CPython's TestHandler: errors are not handled but passed through to the caller. */
class TestHandler extends ErrorHandler {
  override handleError(error: unknown): never {
    throw error
  }
}

class AppFailure extends Error {
  override readonly name = "AppFailure"
}

const helloApp: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"], ["Date", "Mon, 05 Jun 2006 18:49:54 GMT"]])
  return [latin1("Hello, world!")]
}

const emptyOk: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return []
}

const failing = (message = "This should be caught by handler"): Application => () => {
  throw new AppFailure(message)
}

/** The CGI variables of a complete request, as a real gateway gives them. */
const requestEnviron = (variables: CgiVariables = {}): CgiVariables => {
  const environ: CgiVariables = { QUERY_STRING: "", ...variables }
  setupTestingDefaults(environ)
  for (const key of Object.keys(environ)) if (key.startsWith("wsgi.")) delete environ[key]
  return environ
}

/** A Node error with a `code`, as a socket raises it. */
const socketError = (code: string): Error => Object.assign(new Error(`write ${code}`), { code })

afterEach(() => {
  vi.restoreAllMocks()
})

describe("setupEnviron (CPython testEnviron, testCGIEnviron, testScheme)", () => {
  const osEnviron = {
    HOME: "/my/home",
    PATH: "/my/path",
    LANG: "fr_FR.UTF-8",
    SCRIPT_NAME: "test_script_name",
    SERVER_NAME: "test_server_name"
  }

  it("starts from osEnviron, lets the request's variables win, then sets every wsgi.* key", () => {
    class OsEnvironHandler extends TestHandler {
      override osEnviron = osEnviron
    }
    const handler = new OsEnvironHandler({ X: "Y", HOME: "/override/home" })
    handler.setupEnviron()

    const expected: CgiVariables = { QUERY_STRING: "" }
    setupTestingDefaults(expected)
    for (const [key, value] of Object.entries(osEnviron)) if (!(key in expected)) expected[key] = value
    Object.assign(expected, {
      X: "Y",
      HOME: "/override/home",
      SCRIPT_NAME: "",
      SERVER_NAME: "127.0.0.1",
      "wsgi.input": handler.getStdin(),
      "wsgi.errors": handler.getStderr(),
      "wsgi.version": [1, 0],
      "wsgi.run_once": false,
      "wsgi.url_scheme": "http",
      "wsgi.multithread": true,
      "wsgi.multiprocess": true,
      "wsgi.file_wrapper": FileWrapper
    })
    expect(handler.environ).toEqual(expected)
    expect(handler.environ!["wsgi.input"]).toBe(handler.getStdin())
    expect(handler.environ!["wsgi.errors"]).toBe(handler.getStderr())
  })

  it("an osEnviron assigned on one instance is used by that instance only", () => {
    const handler = new TestHandler()
    handler.osEnviron = { ONLY_HERE: "1" }
    handler.setupEnviron()
    expect(handler.environ!["ONLY_HERE"]).toBe("1")
    const other = new TestHandler()
    other.setupEnviron()
    expect(other.environ!["ONLY_HERE"]).toBeUndefined()
  })

  it("copies each wsgi* configuration field to its wsgi.* key", () => {
    const handler = new TestHandler()
    handler.wsgiRunOnce = true
    handler.wsgiMultithread = false
    handler.setupEnviron()
    const environ = handler.environ!
    expect(environ["wsgi.version"]).toEqual(handler.wsgiVersion)
    expect(environ["wsgi.multithread"]).toBe(false)
    expect(environ["wsgi.multiprocess"]).toBe(handler.wsgiMultiprocess)
    expect(environ["wsgi.run_once"]).toBe(true)
    expect(environ["wsgi.file_wrapper"]).toBe(handler.wsgiFileWrapper)
  })

  it("leaves wsgi.file_wrapper out when wsgiFileWrapper is null", () => {
    const handler = new TestHandler()
    handler.wsgiFileWrapper = null
    handler.setupEnviron()
    expect("wsgi.file_wrapper" in handler.environ!).toBe(false)
  })

  it("a BaseCGIHandler over no streams still gets wsgi.url_scheme, wsgi.input and wsgi.errors", () => {
    const handler = new BaseCGIHandler(null, null, null, {})
    handler.setupEnviron()
    for (const key of ["wsgi.url_scheme", "wsgi.input", "wsgi.errors"]) expect(key in handler.environ!).toBe(true)
  })

  it("guesses wsgi.url_scheme from HTTPS", () => {
    const secure = new TestHandler({ HTTPS: "on" })
    secure.setupEnviron()
    expect(secure.environ!["wsgi.url_scheme"]).toBe("https")
    const plain = new TestHandler()
    plain.setupEnviron()
    expect(plain.environ!["wsgi.url_scheme"]).toBe("http")
  })
})

describe("abstract methods (CPython testAbstractMethods)", () => {
  it("_write, _flush, getStdin, getStderr and addCgiVars throw NotImplementedError", () => {
    const handler = new BaseHandler()
    const calls: Array<() => unknown> = [
      () => handler._write(latin1("test")),
      () => handler._flush(),
      () => handler.getStdin(),
      () => handler.getStderr(),
      () => handler.addCgiVars()
    ]
    for (const call of calls) {
      expect(call).toThrow(NotImplementedError)
      expect(call).toThrow(Error)
    }
  })

  it("running an app on a bare BaseHandler rejects with NotImplementedError", async () => {
    await expect(new BaseHandler().run(underTest(emptyOk))).rejects.toBeInstanceOf(NotImplementedError)
  })
})

describe("Content-Length (CPython testContentLength)", () => {
  it("is added when the result is a one-chunk array", async () => {
    const handler = new TestHandler()
    await handler.run(underTest((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [latin1(environ["wsgi.url_scheme"] as string)]
    }))
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nhttp")
  })

  it("is not added when the body went through write()", async () => {
    const handler = new TestHandler()
    await handler.run(underTest((environ, startResponse) => {
      void startResponse("200 OK", [["Content-Type", "text/plain"]])(latin1(environ["wsgi.url_scheme"] as string))
      return []
    }))
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhttp")
  })

  it("counts bytes, not characters", async () => {
    const handler = new TestHandler()
    await handler.run(underTest((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [Buffer.from("\u0442\u0435\u0441\u0442", "utf8")]
    }))
    expect(Buffer.concat(handler.out.chunks)).toEqual(
      Buffer.concat([latin1("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\n"), Buffer.from("\xd1\x82\xd0\xb5\xd1\x81\xd1\x82", "latin1")])
    )
  })

  it("keeps the app's own Content-Length on a HEAD-like empty response", async () => {
    const handler = new TestHandler()
    await handler.run(underTest((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "12345"]])
      return []
    }))
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12345\r\n\r\n")
  })

  it("is not added for several chunks or a generator", async () => {
    for (const body of [[latin1("a"), latin1("b")], (function*() {
      yield latin1("ab")
    })()]) {
      const handler = new TestHandler()
      await handler.run(underTest((_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/plain"]])
        return body
      }))
      expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nab")
    }
  })
})

describe("error output (CPython testBasicErrorOutput, testErrorAfterOutput, testCloseOnError)", () => {
  it("an app that succeeds leaves wsgi.errors empty", async () => {
    const handler = new ErrorHandler()
    await handler.run(underTest(emptyOk))
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")
    expect(handler.err.value).toBe("")
  })

  it("an app error before any output is logged and answered with the exact 500 page", async () => {
    const handler = new ErrorHandler()
    await handler.run(underTest(failing()))
    expect(handler.out.value).toBe(
      `Status: ${handler.errorStatus}\r\nContent-Type: text/plain\r\nContent-Length: ${handler.errorBody.length}\r\n\r\n` +
        ERROR_BODY
    )
    expect(handler.out.value).toBe(CGI_ERROR_PAGE)
    expect(firstLine(handler.err.value)).toBe("AppFailure: This should be caught by handler")
  })

  it("an app error after output is logged, the response is cut short and run resolves", async () => {
    const handler = new ErrorHandler()
    await expect(handler.run(underTest((_environ, startResponse) => {
      void startResponse("200 OK", [["Content-Type", "text/plain"]])(latin1("Some output has been sent"))
      throw new AppFailure("This should be caught by handler")
    }))).resolves.toBeUndefined()
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nSome output has been sent")
    expect(handler.err.value).toContain("AppFailure: This should be caught by handler")
  })

  it("closes the result when its iteration fails after output", async () => {
    const { body, closes } = closeable({
      *[Symbol.iterator]() {
        yield latin1("blah")
        throw new AppFailure("This should be caught by handler")
      }
    })
    const handler = new ErrorHandler()
    await handler.run(underTest((_environ, startResponse) => {
      void startResponse("200 OK", [["Content-Type", "text/plain"]])(latin1("Some output has been sent"))
      return body
    }))
    expect(closes()).toBe(1)
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nSome output has been sentblah")
    expect(handler.err.value).toContain("AppFailure")
  })
})

describe("header formats (CPython testHeaderFormats)", () => {
  const stdPattern = (version: string, server: string | null): RegExp =>
    new RegExp(
      `^HTTP/${version.replace(".", "\\.")} 200 OK\\r\\n` +
        `Date: \\w{3}, [ 0123]\\d \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d GMT\\r\\n` +
        (server === null ? "" : `Server: ${server.replace(/[./]/g, "\\$&")}\\r\\n`) +
        `Content-Type: text/plain\\r\\n` +
        `Content-Length: 0\\r\\n\\r\\n$`
    )
  const cases = ["FooBar/1.0", null].flatMap((software) =>
    ["1.0", "1.1"].flatMap((version) =>
      ["HTTP/0.9", "HTTP/1.0", "HTTP/1.1"].map((protocol) => ({ software, version, protocol }))
    )
  )

  it.each(cases)(
    "a CGI handler sends only Status: and the headers (server $software, version $version, $protocol)",
    async ({ protocol, software, version }) => {
      const handler = new TestHandler({ SERVER_PROTOCOL: protocol })
      handler.originServer = false
      handler.httpVersion = version
      handler.serverSoftware = software
      await handler.run(underTest(emptyOk))
      expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")
    }
  )

  it.each(cases)(
    "an origin server sends a status line, Date and Server, except to HTTP/0.9 (server $software, version $version, $protocol)",
    async ({ protocol, software, version }) => {
      const handler = new TestHandler({ SERVER_PROTOCOL: protocol })
      handler.originServer = true
      handler.httpVersion = version
      handler.serverSoftware = software
      await handler.run(underTest(emptyOk))
      if (protocol === "HTTP/0.9") expect(handler.out.value).toBe("")
      else expect(handler.out.value).toMatch(stdPattern(version, software))
    }
  )

  it("formatDateTime is an RFC 7231 date", () => {
    expect(formatDateTime(Date.UTC(2006, 5, 5, 18, 49, 54) / 1000)).toBe("Mon, 05 Jun 2006 18:49:54 GMT")
    expect(formatDateTime(0)).toBe("Thu, 01 Jan 1970 00:00:00 GMT")
  })

  it("bytes data goes out as given after the app's headers (CPython testBytesData)", async () => {
    const handler = new TestHandler()
    await handler.run(underTest((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]])
      return [latin1("data")]
    }))
    expect(handler.out.value).toBe(
      "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\ndata"
    )
  })
})

describe("SimpleHandler output (CPython testPartialWrite, testClientConnectionTerminations)", () => {
  const environ = requestEnviron({ SERVER_PROTOCOL: "HTTP/1.0" })

  it("finishes partial writes (a write that takes fewer bytes than given) and warns", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {})
    const written: Array<number> = []
    const partialWriter = {
      write(chunk: Uint8Array): number {
        const part = chunk.subarray(0, 7)
        written.push(...part)
        return part.length
      },
      flush() {}
    }
    const handler = new SimpleHandler(new BytesInputStream(), partialWriter, new StringErrorStream(), environ)
    await handler.run(underTest(helloApp))
    expect(text(Uint8Array.from(written))).toBe(
      "HTTP/1.0 200 OK\r\n" +
        "Content-Type: text/plain\r\n" +
        "Date: Mon, 05 Jun 2006 18:49:54 GMT\r\n" +
        "Content-Length: 13\r\n" +
        "\r\n" +
        "Hello, world!"
    )
    expect(warn).toHaveBeenCalledWith("stdout.write() should not do partial writes", "DeprecationWarning")
  })

  it.each([0, -1, Number.NaN])("a writer that takes %s bytes is an output error, not an endless retry", async (taken) => {
    let calls = 0
    const stuckWriter = {
      write(): number {
        // A guard for the test itself: without the fix this loop never ends.
        if (++calls > 1000) throw new Error("still retrying")
        return taken
      }
    }
    const stderr = new StringErrorStream()
    const handler = new SimpleHandler(new BytesInputStream(), stuckWriter, stderr, environ)
    await expect(handler.run(underTest(helloApp))).resolves.toBeUndefined()
    expect(calls).toBe(1)
    expect(firstLine(stderr.value)).toBe(`OutputError: stdout.write() took no bytes (it returned ${taken})`)
  })

  it.each(["EPIPE", "ECONNRESET", "ECONNABORTED"])(
    "a client that went away (%s) is not an error: nothing is logged and run resolves",
    async (code) => {
      const stderr = new StringErrorStream()
      const abortingWriter = {
        write(): never {
          throw socketError(code)
        }
      }
      const handler = new SimpleHandler(new BytesInputStream(), abortingWriter, stderr, environ)
      await expect(handler.run(underTest(helloApp))).resolves.toBeUndefined()
      expect(stderr.value).toBe("")
    }
  )

  it.each(["BrokenPipeError", "ConnectionResetError", "ConnectionAbortedError"])(
    "a Python-style %s from the writer is a client that went away too",
    async (name) => {
      const stderr = new StringErrorStream()
      const abortingWriter = {
        write(): never {
          throw Object.assign(new Error("gone"), { name })
        }
      }
      const handler = new SimpleHandler(new BytesInputStream(), abortingWriter, stderr, environ)
      await expect(handler.run(underTest(helloApp))).resolves.toBeUndefined()
      expect(stderr.value).toBe("")
    }
  )

  it("a writer whose Promise rejects with EPIPE is a client that went away", async () => {
    const stderr = new StringErrorStream()
    const writer = { write: () => Promise.reject(socketError("EPIPE")) }
    const handler = new SimpleHandler(new BytesInputStream(), writer, stderr, environ)
    await expect(handler.run(underTest(helloApp))).resolves.toBeUndefined()
    expect(stderr.value).toBe("")
  })

  it("keeps the state of a failed response for inspection (CPython testDontResetInternalStateOnException)", async () => {
    class CustomException extends Error {
      override readonly name = "CustomException"
    }
    const stderr = new StringErrorStream()
    const abortingWriter = {
      write(): never {
        throw new CustomException("the writer broke")
      }
    }
    const handler = new SimpleHandler(new BytesInputStream(), abortingWriter, stderr, environ)
    await expect(handler.run(underTest(helloApp))).resolves.toBeUndefined()
    expect(stderr.value).toContain("CustomException")
    expect(handler.result).not.toBeNull()
    expect(handler.headers).not.toBeNull()
    expect(handler.status).not.toBeNull()
    expect(handler.environ).not.toBeNull()
  })

  it("resets the state after a successful response", async () => {
    const handler = new TestHandler()
    await handler.run(underTest(helloApp))
    expect(handler.result).toBeNull()
    expect(handler.headers).toBeNull()
    expect(handler.status).toBeNull()
    expect(handler.environ).toBeNull()
    expect(handler.headersSent).toBe(false)
    expect(handler.bytesSent).toBe(0)
  })
})

describe("overridden steps replace the core's", () => {
  it("a BaseHandler subclass supplies output, input, errors and variables through its methods", async () => {
    const input = new BytesInputStream(latin1("ping"))
    const errors = new StringErrorStream()
    const written: Array<string> = []
    let flushes = 0
    class MemoryHandler extends BaseHandler {
      override originServer = false
      override _write(data: Uint8Array): void {
        written.push(text(data))
      }
      override _flush(): void {
        flushes++
      }
      override getStdin(): InputStream {
        return input
      }
      override getStderr(): ErrorStream {
        return errors
      }
      override addCgiVars(): void {
        Object.assign(this.environ!, { REQUEST_METHOD: "POST", CUSTOM: "yes" })
      }
    }
    const handler = new MemoryHandler()
    let seen: CgiVariables = {}
    // Unvalidated: the test checks that wsgi.input and wsgi.errors are the very objects
    // getStdin and getStderr return, which the validator replaces with checking wrappers.
    await handler.run(underTest(async (environ, startResponse) => {
      seen = { ...environ }
      const body = await (environ["wsgi.input"] as InputStream).read()
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [body]
    }, { validate: false }))
    expect(written.join("")).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nping")
    expect(flushes).toBeGreaterThan(0)
    expect(seen["CUSTOM"]).toBe("yes")
    expect(seen["wsgi.input"]).toBe(input)
    expect(seen["wsgi.errors"]).toBe(errors)
    expect(errors.value).toBe("")
  })

  it("a SimpleHandler subclass overriding _write gets every byte instead of stdout", async () => {
    const calls: Array<string> = []
    class Tap extends TestHandler {
      override _write(data: Uint8Array): void {
        calls.push(text(data))
      }
    }
    const handler = new Tap()
    await handler.run(underTest(helloApp))
    expect(handler.out.value).toBe("")
    expect(calls.join("")).toBe(
      "Status: 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\nContent-Length: 13\r\n\r\nHello, world!"
    )
  })

  it("an async _write is awaited before the next write", async () => {
    const order: Array<string> = []
    class Slow extends TestHandler {
      override async _write(data: Uint8Array): Promise<void> {
        await new Promise<void>((resolve) => setImmediate(resolve))
        order.push(text(data))
      }
    }
    const handler = new Slow()
    await handler.run(underTest((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [latin1("a"), latin1("b"), latin1("c")]
    }))
    expect(order).toEqual(["Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n", "a", "b", "c"])
  })

  it("sendPreamble replaces the status line; the headers follow", async () => {
    class Preamble extends TestHandler {
      override sendPreamble(): void {
        this._write(latin1(`Status: ${this.status}\r\nX-Gateway: custom\r\n`))
      }
    }
    const handler = new Preamble()
    await handler.run(underTest(emptyOk))
    expect(handler.out.value).toBe("Status: 200 OK\r\nX-Gateway: custom\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")
  })

  it("sendPreamble may call the default and add to it", async () => {
    class Preamble extends TestHandler {
      override async sendPreamble(): Promise<void> {
        await super.sendPreamble()
        await this._write(latin1("X-After-Preamble: 1\r\n"))
      }
    }
    const handler = new Preamble()
    await handler.run(underTest(emptyOk))
    expect(handler.out.value).toBe("Status: 200 OK\r\nX-After-Preamble: 1\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")
  })

  it("errorOutput is the error page, gets the error being handled and passes it on as excInfo", async () => {
    const app = new AppFailure("boom")
    const seen: Array<unknown> = []
    class CustomPage extends ErrorHandler {
      override errorOutput(environ: Environ, startResponse: StartResponse, error: unknown): Array<Uint8Array> {
        seen.push(error, environ === this.environ)
        startResponse("503 Service Unavailable", [["Content-Type", "text/html"]], error)
        return [latin1("<h1>later</h1>")]
      }
    }
    const handler = new CustomPage()
    await handler.run(underTest((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"], ["X-Dropped", "yes"]])
      throw app
    }))
    expect(seen).toEqual([app, true])
    expect(seen[0]).toBe(app)
    expect(handler.out.value).toBe(
      "Status: 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 14\r\n\r\n<h1>later</h1>"
    )
    expect(firstLine(handler.err.value)).toBe("AppFailure: boom")
  })

  it("an errorOutput that forgets excInfo after the app set headers makes run reject with the protocol error", async () => {
    const { body, closes } = closeable({
      *[Symbol.iterator](): Generator<Uint8Array> {
        throw new AppFailure("boom")
      }
    })
    class Forgetful extends ErrorHandler {
      override errorOutput(_environ: Environ, startResponse: StartResponse): Array<Uint8Array> {
        startResponse("500 Oops", [])
        return []
      }
    }
    const handler = new Forgetful()
    const rejection = await handler.run(underTest((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return body
    })).catch((error: unknown) => error)
    expect(rejection).toBeInstanceOf(ProtocolError)
    expect((rejection as ProtocolError).message).toBe("Headers already set!")
    expect(closes()).toBe(1)
    expect(handler.out.value).toBe("")
  })

  it("a handleError that rethrows makes run reject with the app's own error", async () => {
    const original = new AppFailure("passed through")
    const handler = new TestHandler()
    await expect(handler.run(underTest(() => {
      throw original
    }))).rejects.toBe(original)
    expect(handler.out.value).toBe("")
  })

  it("a handleError that rethrows passes a thrown non-Error value through as it is", async () => {
    const handler = new TestHandler()
    await expect(handler.run(underTest(() => {
      throw "a string"
    }))).rejects.toBe("a string")
  })

  it("logException receives the error itself, and the error page still goes out", async () => {
    const original = new AppFailure("logged elsewhere")
    const logged: Array<unknown> = []
    class OwnLog extends ErrorHandler {
      override logException(error: unknown): void {
        logged.push(error)
      }
    }
    const handler = new OwnLog()
    await handler.run(underTest(() => {
      throw original
    }))
    expect(logged).toEqual([original])
    expect(logged[0]).toBe(original)
    expect(handler.err.value).toBe("")
    expect(handler.out.value).toBe(CGI_ERROR_PAGE)
  })

  it("cleanupHeaders replaces the default, so no Content-Length is added unless it calls super", async () => {
    class OwnCleanup extends TestHandler {
      override cleanupHeaders(): void {
        this.headers!.set("X-Cleaned", "1")
      }
    }
    const own = new OwnCleanup()
    await own.run(underTest(helloApp))
    expect(own.out.value).toBe(
      "Status: 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\nX-Cleaned: 1\r\n\r\nHello, world!"
    )

    class WithSuper extends TestHandler {
      override cleanupHeaders(): void {
        super.cleanupHeaders()
        this.headers!.set("X-Cleaned", "1")
      }
    }
    const withSuper = new WithSuper()
    await withSuper.run(underTest(helloApp))
    expect(withSuper.out.value).toBe(
      "Status: 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\nContent-Length: 13\r\nX-Cleaned: 1\r\n\r\nHello, world!"
    )
  })

  it("a cleanupHeaders that throws before the headers went out is handled like an app error", async () => {
    class Broken extends ErrorHandler {
      override cleanupHeaders(): void {
        if (this.status === "200 OK") throw new AppFailure("cleanup failed")
        super.cleanupHeaders()
      }
    }
    const handler = new Broken()
    await expect(handler.run(underTest(helloApp))).resolves.toBeUndefined()
    expect(handler.out.value).toBe(CGI_ERROR_PAGE)
    expect(firstLine(handler.err.value)).toBe("AppFailure: cleanup failed")
  })

  it("close is called once per run, and the default it calls closes the result and resets the state", async () => {
    const { body, closes } = closeable([latin1("x")])
    const seen: Array<string | null> = []
    class CountClose extends TestHandler {
      override close(): void | Promise<void> {
        seen.push(this.status)
        return super.close()
      }
    }
    const handler = new CountClose()
    await handler.run(underTest(fixedApp(body)))
    expect(seen).toEqual(["200 OK"])
    expect(closes()).toBe(1)
    expect(handler.status).toBeNull()
  })

  it("a close that does not call the default leaves the result open and the state as it was", async () => {
    const { body, closes } = closeable([latin1("x")])
    class KeepOpen extends TestHandler {
      override close(): void {}
    }
    const handler = new KeepOpen()
    // Unvalidated: this close() leaves the body open on purpose, which the validator
    // (rightly) reports when the unclosed body is garbage-collected.
    await handler.run(underTest(fixedApp(body), { validate: false }))
    expect(closes()).toBe(0)
    expect(handler.status).toBe("200 OK")
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx")
  })

  it("write may be overridden to see every chunk the app sends", async () => {
    const chunks: Array<string> = []
    class Spy extends TestHandler {
      override write(data: Uint8Array): void | Promise<void> {
        chunks.push(text(data))
        return super.write(data)
      }
    }
    const handler = new Spy()
    await handler.run(underTest((_environ, startResponse) => {
      void startResponse("200 OK", [["Content-Type", "text/plain"]])(latin1("a"))
      return [latin1("b"), latin1("c")]
    }))
    expect(chunks).toEqual(["a", "b", "c"])
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nabc")
  })

  it("an override assigned on an instance replaces the step for that instance only", async () => {
    const handler = new ErrorHandler()
    const logged: Array<unknown> = []
    handler.logException = (error: unknown) => {
      logged.push(error)
    }
    handler.cleanupHeaders = function(this: ErrorHandler) {
      this.headers!.set("X-Instance", "1")
    }
    await handler.run(underTest(emptyOk))
    // finishContent (not cleanupHeaders) adds the Content-Length: 0 of an empty body.
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nX-Instance: 1\r\n\r\n")

    const failure = new AppFailure("instance log")
    await handler.run(underTest(() => {
      throw failure
    }))
    expect(logged).toEqual([failure])

    const plain = new ErrorHandler()
    await plain.run(underTest(emptyOk))
    expect(plain.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")
  })

  it("startResponse works detached, as the app receives it", async () => {
    const handler = new TestHandler()
    const { startResponse } = handler
    await handler.run(underTest(() => {
      startResponse("201 Created", [["Location", "/x"]])
      return []
    }))
    expect(handler.out.value).toBe("Status: 201 Created\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n")
  })

  it("an overridden startResponse is used for the app and still works detached", async () => {
    class Tagging extends TestHandler {
      override startResponse(status: string, headers: HeaderList, excInfo?: unknown) {
        return super.startResponse(status, [...headers, ["X-Tagged", "1"]], excInfo)
      }
    }
    const handler = new Tagging()
    await handler.run(underTest(emptyOk))
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nX-Tagged: 1\r\nContent-Length: 0\r\n\r\n")

    const detached = new Tagging()
    const { startResponse } = detached
    await detached.run(underTest(() => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return []
    }))
    expect(detached.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nX-Tagged: 1\r\nContent-Length: 0\r\n\r\n")
  })

  it("getScheme and setupEnviron may be overridden", async () => {
    class Custom extends TestHandler {
      override getScheme(): string {
        return "https"
      }
      override setupEnviron(): void {
        super.setupEnviron()
        this.environ!["custom.key"] = "set"
      }
    }
    const handler = new Custom()
    let seen: CgiVariables = {}
    await handler.run(underTest((environ, startResponse) => {
      seen = { ...environ }
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return []
    }))
    expect(seen["wsgi.url_scheme"]).toBe("https")
    expect(seen["custom.key"]).toBe("set")
  })

  it("clientIsModern decides whether an origin server sends a status line and headers", async () => {
    class Ancient extends TestHandler {
      override originServer = true
      override clientIsModern(): boolean {
        return false
      }
    }
    const handler = new Ancient({ SERVER_PROTOCOL: "HTTP/1.1" })
    await handler.run(underTest(helloApp))
    expect(handler.out.value).toBe("Hello, world!")
  })

  it("setContentLength may be overridden (cleanupHeaders calls it)", async () => {
    class NoLength extends TestHandler {
      override setContentLength(): void {
        this.headers!.set("X-Length-Was", String(this.bytesSent))
      }
    }
    const handler = new NoLength()
    await handler.run(underTest(helloApp))
    expect(handler.out.value).toBe(
      "Status: 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\nX-Length-Was: 13\r\n\r\nHello, world!"
    )
  })

  it("sendHeaders, finishContent and finishResponse may be overridden around the defaults", async () => {
    const calls: Array<string> = []
    class Traced extends TestHandler {
      override async sendHeaders(): Promise<void> {
        calls.push("sendHeaders")
        await super.sendHeaders()
      }
      override finishContent(): void | Promise<void> {
        calls.push("finishContent")
        return super.finishContent()
      }
      override async finishResponse(): Promise<void> {
        calls.push("finishResponse")
        await super.finishResponse()
        calls.push("finished")
      }
    }
    const handler = new Traced()
    await handler.run(underTest(emptyOk))
    expect(calls).toEqual(["finishResponse", "finishContent", "sendHeaders", "finished"])
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")
  })

  it("resultIsFile and sendfile may send a file result by their own route", async () => {
    const file = { read: (): Uint8Array => new Uint8Array(0), close: () => {} }
    class Sender extends TestHandler {
      override resultIsFile(): boolean {
        return this.result instanceof FileWrapper
      }
      override async sendfile(): Promise<boolean> {
        this.headers!.set("Content-Length", "4")
        await this.sendHeaders()
        await this._write(latin1("file"))
        this.bytesSent += 4
        return true
      }
    }
    const handler = new Sender()
    // Unvalidated: the validator wraps the body, so resultIsFile would no longer see the
    // FileWrapper and sendfile would not be used.
    await handler.run(underTest((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      const Wrapper = environ["wsgi.file_wrapper"] as typeof FileWrapper
      return new Wrapper(file)
    }, { validate: false }))
    expect(handler.out.value).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nfile")
  })

  it("headersClass is the class of handler.headers", async () => {
    class LoudHeaders extends Headers {}
    const handler = new TestHandler()
    handler.headersClass = LoudHeaders
    let seen: unknown
    handler.cleanupHeaders = function(this: TestHandler) {
      seen = this.headers
    }
    await handler.run(underTest(emptyOk))
    expect(seen).toBeInstanceOf(LoudHeaders)
  })
})

describe("the CGI handlers", () => {
  it("CGIHandler runs once, in one thread of many processes, not as an origin server, on the request's variables only", () => {
    const handler = new CGIHandler({ REQUEST_METHOD: "GET", QUERY_STRING: "" })
    expect(handler.wsgiRunOnce).toBe(true)
    expect(handler.wsgiMultithread).toBe(false)
    expect(handler.wsgiMultiprocess).toBe(true)
    expect(handler.originServer).toBe(false)
    expect(handler.osEnviron).toEqual({})
    handler.setupEnviron()
    expect(handler.environ!["REQUEST_METHOD"]).toBe("GET")
    expect(handler.environ!["PATH"]).toBeUndefined()
  })

  it.each([
    ["/app", "/app/x", "/x"],
    ["/app", "/app", ""],
    ["/app", "/application", "/application"],
    ["/app", "/other/x", "/other/x"],
    ["", "/x", "/x"]
  ])("IISCGIHandler with SCRIPT_NAME %j turns PATH_INFO %j into %j", (script, path, fixedPath) => {
    const handler = new IISCGIHandler({ SCRIPT_NAME: script, PATH_INFO: path })
    expect(handler.baseEnv["PATH_INFO"]).toBe(fixedPath)
    expect(handler.baseEnv["SCRIPT_NAME"]).toBe(script)
  })
})

describe("SimpleHandler over Node streams", () => {
  it("waits for drain on a slow Writable with a tiny highWaterMark: every byte arrives, in order", async () => {
    const received: Array<Buffer> = []
    let drains = 0
    const stdout = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, callback) {
        received.push(Buffer.from(chunk))
        setImmediate(callback)
      }
    })
    stdout.on("drain", () => drains++)
    const chunks = Array.from({ length: 50 }, (_, i) => latin1(`chunk ${i};`))
    const handler = new SimpleHandler(new BytesInputStream(), stdout, new StringErrorStream(), requestEnviron())
    await handler.run(underTest((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"], ["Date", "Mon, 05 Jun 2006 18:49:54 GMT"]])
      return chunks
    }))
    expect(drains).toBeGreaterThan(0)
    expect(text(Buffer.concat(received))).toBe(
      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\n\r\n" +
        chunks.map(text).join("")
    )
  })

  it("reads a Readable stdin no further than CONTENT_LENGTH: the bytes after the body stay unread", async () => {
    const stdin = new PassThrough()
    stdin.end(latin1("hello worldNEXT REQUEST"))
    const out = new Collect()
    const handler = new SimpleHandler(stdin, out, new StringErrorStream(), requestEnviron({
      REQUEST_METHOD: "POST",
      CONTENT_LENGTH: "11"
    }))
    await handler.run(underTest(async (environ, startResponse) => {
      const body = await (environ["wsgi.input"] as InputStream).read(100)
      const more = await (environ["wsgi.input"] as InputStream).read(100)
      startResponse("200 OK", [["Content-Type", "text/plain"], ["Date", "Mon, 05 Jun 2006 18:49:54 GMT"]])
      return [body, more]
    }))
    expect(out.value).toBe(
      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\n\r\nhello world"
    )
    expect(text(stdin.read() as Buffer)).toBe("NEXT REQUEST")
  })

  it("reads a Readable stdin line by line", async () => {
    const stdin = Readable.from([latin1("one\ntw"), latin1("o\nthree")], { objectMode: false })
    const out = new Collect()
    const handler = new SimpleHandler(stdin, out, new StringErrorStream(), requestEnviron({ SERVER_PROTOCOL: "HTTP/1.0" }))
    let lines: Array<string> = []
    await handler.run(underTest(async (environ, startResponse) => {
      lines = (await (environ["wsgi.input"] as InputStream).readlines()).map(text)
      startResponse("204 No Content", [])
      return []
    }))
    expect(lines).toEqual(["one\n", "two\n", "three"])
  })

  it("writes the error log to a Node Writable stderr", async () => {
    const logged: Array<string> = []
    const stderr = new Writable({
      decodeStrings: false,
      write(chunk: string, _encoding, callback) {
        logged.push(String(chunk))
        callback()
      }
    })
    const out = new Collect()
    const handler = new BaseCGIHandler(new BytesInputStream(), out, stderr, requestEnviron())
    let errorsSeen: unknown
    // Unvalidated: the test checks that wsgi.errors is getStderr() itself, which the
    // validator replaces with a checking wrapper.
    await handler.run(underTest((environ) => {
      errorsSeen = environ["wsgi.errors"]
      ;(environ["wsgi.errors"] as ErrorStream).write("from the app\n")
      throw new AppFailure("to stderr")
    }, { validate: false }))
    expect(errorsSeen).toBe(handler.getStderr())
    expect(logged[0]).toBe("from the app\n")
    expect(firstLine(logged.slice(1).join(""))).toBe("AppFailure: to stderr")
    expect(out.value).toBe(CGI_ERROR_PAGE)
  })

  it("a Writable that fails with EPIPE while the handler waits for drain is a client that went away", async () => {
    const stdout = new Writable({
      highWaterMark: 1,
      write(_chunk, _encoding, callback) {
        setImmediate(() => callback(socketError("EPIPE")))
      }
    })
    const stderr = new StringErrorStream()
    const { body, closes } = closeable([latin1("a"), latin1("b"), latin1("c")])
    const handler = new SimpleHandler(new BytesInputStream(), stdout, stderr, requestEnviron({ SERVER_PROTOCOL: "HTTP/1.0" }))
    await expect(handler.run(underTest(fixedApp(body)))).resolves.toBeUndefined()
    expect(stderr.value).toBe("")
    expect(closes()).toBe(1)
  })

  it("a destroyed stdout is a client that went away: nothing logged, run resolves", async () => {
    const stdout = new Writable({
      write(_chunk, _encoding, callback) {
        callback()
      }
    })
    stdout.destroy()
    const stderr = new StringErrorStream()
    const { body, closes } = closeable([latin1("lost")])
    const handler = new SimpleHandler(new BytesInputStream(), stdout, stderr, requestEnviron({ SERVER_PROTOCOL: "HTTP/1.0" }))
    await expect(handler.run(underTest(fixedApp(body)))).resolves.toBeUndefined()
    expect(stderr.value).toBe("")
    expect(closes()).toBe(1)
  })
})

function fixedApp(body: Iterable<Uint8Array>): Application {
  return (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]])
    return body
  }
}
