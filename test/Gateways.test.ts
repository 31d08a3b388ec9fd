/**
 * One set of rules for every way to serve (issue 14): `makeServer`, `toNodeListener` and
 * `toHttpApp` send what the app declared and wrote, and nothing else, over real sockets.
 * Each case runs against all three; a rule one of them breaks fails here by name.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { fileLike } from "../src/FileWrapper.js"
import type { Application, Environ } from "../src/Protocol.js"
import { type GatewayKind, gatewayKinds, type Served, serveWith } from "./support/gateways.js"
import { destroyAllClients, header, RawClient, rawRequest } from "./support/rawHttp.js"
import { underTest } from "./support/underTest.js"

const bytes = (text: string): Buffer => Buffer.from(text, "latin1")
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `ready()` holds (real time; at most about two seconds). */
const eventually = async (ready: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !ready(); i++) await pause(10)
}

const running: Array<Served> = []
afterEach(async () => {
  destroyAllClients()
  await Promise.all(running.splice(0).map((served) => served.close()))
})

/** Yields `chunks` one per event-loop turn (the app is still running when the head goes out). */
const slowly = async function*(chunks: ReadonlyArray<string>) {
  for (const chunk of chunks) {
    await pause(5)
    yield bytes(chunk)
  }
}

describe.each(gatewayKinds)("%s", (kind: GatewayKind) => {
  const serve = async (app: Application, validate = true): Promise<Served> => {
    const served = await serveWith(kind, underTest(app, { validate }))
    running.push(served)
    return served
  }

  const declaring = (length: string, chunks: ReadonlyArray<string>, streamed: boolean): Application => (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", length]])
    return streamed ? slowly(chunks) : chunks.map(bytes)
  }

  describe("a body that breaks its own Content-Length (#1)", () => {
    for (const streamed of [false, true]) {
      const how = streamed ? "streamed" : "whole"

      it(`${how}, longer: only the declared bytes go out, one log line, and the pipelined next request gets nothing on this connection`, async () => {
        const served = await serve(declaring("2", streamed ? ["He", "llo"] : ["Hello"], streamed))
        const client = await RawClient.connect(served.port)
        client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        const first = await client.response()
        expect(header(first, "content-length")).toBe("2")
        expect(first.body.toString("latin1")).toBe("He")
        // Nothing of the surplus follows: the connection closes, at most after a whole
        // response to /b (a streamed head could not say "Connection: close" any more).
        const rest = (await client.end()).toString("latin1")
        if (rest !== "") expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nHe$/)
        if (!streamed) expect(rest).toBe("")
        // One line for /a (node may already have handed the pipelined /b to the app).
        const lines = served.errors.value.split("\n").filter((line) => line.includes("GET /a:"))
        expect(lines).toHaveLength(1)
        expect(lines[0]).toContain(`GET /a: the body is longer than its Content-Length: 2; 5 bytes written so far`)
      })

      it(`${how}, shorter: what the app wrote goes out, one log line, and the connection closes`, async () => {
        const served = await serve(declaring("10", streamed ? ["Hel", "lo"] : ["Hello"], streamed))
        const client = await RawClient.connect(served.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        const rest = (await client.end()).toString("latin1")
        expect(rest.split("\r\n\r\n")[1]).toBe("Hello")
        expect(served.errors.value).toContain("the body is shorter than its Content-Length: 5 of 10 bytes, connection closed")
      })

      it(`${how}, exact: no log line, and the connection stays open for the next request`, async () => {
        const served = await serve(declaring("5", ["Hel", "lo"], streamed))
        const client = await RawClient.connect(served.port)
        for (let i = 0; i < 2; i++) {
          client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
          expect((await client.response()).body.toString("latin1")).toBe("Hello")
        }
        expect(client.ended).toBe(false)
        expect(served.errors.value).toBe("")
      })
    }

    it("a file body (wsgi.file_wrapper over a file on disk) keeps to it too: longer is cut, shorter closes", async () => {
      const dir = mkdtempSync(join(tmpdir(), "gateways-"))
      try {
        const path = join(dir, "ten.txt")
        writeFileSync(path, "0123456789")
        const served = await serve((environ, startResponse) => {
          const declared = environ.PATH_INFO === "/short" ? "12" : "4"
          startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", declared]])
          const Wrapper = environ["wsgi.file_wrapper"]!
          return new Wrapper(fileLike(path))
        })
        const longer = await RawClient.connect(served.port)
        longer.send("GET /long HTTP/1.1\r\nHost: x\r\n\r\n")
        expect((await longer.end()).toString("latin1").split("\r\n\r\n")[1]).toBe("0123")
        const shorter = await RawClient.connect(served.port)
        shorter.send("GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
        expect((await shorter.end()).toString("latin1").split("\r\n\r\n")[1]).toBe("0123456789")
        expect(served.errors.value).toContain("GET /long: the body is longer than its Content-Length: 4;")
        expect(served.errors.value).toContain("GET /short: the body is shorter than its Content-Length: 10 of 12 bytes")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })

    it("HEAD with the GET's Content-Length and no body is not short", async () => {
      const served = await serve((_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "5"]])
        return []
      })
      const client = await RawClient.connect(served.port)
      client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
      const response = await client.response({ head: true })
      expect(header(response, "content-length")).toBe("5")
      client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
      expect((await client.response({ head: true })).code).toBe(200)
      expect(served.errors.value).toBe("")
    })
  })

  describe("an app that fails after its headers (#2)", () => {
    for (const streamed of [false, true]) {
      it(`${streamed ? "streamed" : "whole"}: what it wrote goes out, then the connection is cut with no last chunk; close() once`, async () => {
        let closed = 0
        const served = await serve((_environ, startResponse) => {
          startResponse("200 OK", [["Content-Type", "text/plain"]])
          const body = (async function*() {
            yield bytes("partial;")
            if (streamed) await pause(20)
            yield bytes("more")
            throw new Error("late failure")
          })()
          return Object.assign(body, { close: () => void closed++ })
        })
        const client = await RawClient.connect(served.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        const rest = (await client.end()).toString("latin1")
        expect(rest.startsWith("HTTP/1.1 200 OK\r\n")).toBe(true)
        expect(rest).toContain("partial;")
        expect(rest).toContain("more")
        // A chunked body ended cleanly would read as complete.
        expect(rest.endsWith("0\r\n\r\n")).toBe(false)
        await eventually(() => closed > 0)
        expect(closed).toBe(1)
        expect(served.errors.value).toContain("Error: late failure")
      })
    }
  })

  describe("the app's head goes out as it gave it (#5)", () => {
    for (const streamed of [false, true]) {
      const how = streamed ? "streamed" : "whole"

      it(`${how}: the app's reason phrase, and no Content-Type on a 204 that has none`, async () => {
        const served = await serve((_environ, startResponse) => {
          startResponse("204 Nothing Here", [["X-Kind", "empty"]])
          return streamed ? slowly([]) : []
        })
        const response = await rawRequest(served.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        expect(response.statusLine).toBe("HTTP/1.1 204 Nothing Here")
        expect(header(response, "x-kind")).toBe("empty")
        expect(header(response, "content-type")).toBeUndefined()
      })

      it(`${how}: a 200 with a reason of its own and no Content-Type gets none added`, async () => {
        const served = await serve((_environ, startResponse) => {
          startResponse("200 Fine Thanks", [["X-Kind", "untyped"]])
          return streamed ? slowly(["a", "b"]) : [bytes("ab")]
          // The validator rightly warns about a 200 without Content-Type: not validated.
        }, false)
        const response = await rawRequest(served.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        expect(response.statusLine).toBe("HTTP/1.1 200 Fine Thanks")
        expect(header(response, "content-type")).toBeUndefined()
        expect(response.body.toString()).toBe("ab")
      })
    }

    it("SERVER_NAME and SERVER_PORT are the address the server listens on, whatever the Host header says", async () => {
      let seen: Environ | undefined
      const served = await serve((environ, startResponse) => {
        seen = environ
        startResponse("200 OK", [["Content-Type", "text/plain"]])
        return []
      })
      await rawRequest(served.port, "GET / HTTP/1.1\r\nHost: example.com:1234\r\nConnection: close\r\n\r\n")
      expect(seen?.SERVER_NAME).toBe("127.0.0.1")
      expect(seen?.SERVER_PORT).toBe(String(served.port))
      expect(seen?.HTTP_HOST).toBe("example.com:1234")
    })

    it("every Set-Cookie header is kept", async () => {
      const served = await serve((_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/plain"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2; Path=/"]])
        return [bytes("ok")]
      })
      const response = await rawRequest(served.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      expect(response.headers.filter(([name]) => name.toLowerCase() === "set-cookie").map(([, value]) => value)).toEqual(["a=1", "b=2; Path=/"])
    })
  })

  describe("errors before the headers", () => {
    it("an app that throws gets CPython's 500 page, and the traceback goes to wsgi.errors", async () => {
      const served = await serve(() => {
        throw new Error("boom before headers")
      })
      const response = await rawRequest(served.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      expect(response.code).toBe(500)
      expect(response.body.toString()).toBe("A server error occurred.  Please contact the administrator.")
      expect(served.errors.value).toContain("Error: boom before headers")
    })

    it("an app that returns without starting a response gets a 500", async () => {
      const served = await serve(() => [], false)
      const response = await rawRequest(served.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      expect(response.code).toBe(500)
      expect(served.errors.value).toContain("The application returned without calling startResponse()")
    })
  })

  describe("request bodies", () => {
    const echo: Application = async (environ, startResponse) => {
      const body = await environ["wsgi.input"].read()
      startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["X-Terminated", String(environ["wsgi.input_terminated"] ?? false)]])
      return [body]
    }

    it("a Content-Length body reaches the app byte for byte", async () => {
      const served = await serve(echo)
      const payload = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251))
      const client = await RawClient.connect(served.port)
      client.send(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${payload.length}\r\n\r\n`)
      client.send(payload)
      const response = await client.response()
      expect(Buffer.compare(response.body, payload)).toBe(0)
    })

    it("a chunked upload reaches the app whole, with wsgi.input_terminated", async () => {
      const served = await serve(echo)
      const client = await RawClient.connect(served.port)
      client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
      const response = await client.response()
      expect(response.body.toString()).toBe("hello world")
      expect(header(response, "x-terminated")).toBe("true")
    })
  })

  it("a client that leaves before the app answered: its result is closed once", async () => {
    const counts = { closed: 0, read: 0 }
    const served = await serve(async (_environ, startResponse) => {
      await pause(80)
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      const body = (function*() {
        counts.read++
        yield bytes("never sent")
      })()
      return Object.assign(body, { close: () => void counts.closed++ })
    })
    const client = await RawClient.connect(served.port)
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await pause(20)
    client.destroy()
    await eventually(() => counts.closed > 0)
    await pause(30)
    // Whether the body is read first depends on when node notices the client left.
    expect(counts.closed).toBe(1)
    expect(counts.read).toBeLessThanOrEqual(1)
  })

  it("a client that leaves mid-body stops the app's body and closes its result once", async () => {
    let closed = 0
    let stopped = 0
    const served = await serve((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
      const body = (async function*() {
        try {
          for (let i = 0;; i++) {
            yield Buffer.alloc(16 * 1024, i)
            await pause(1)
          }
        } finally {
          stopped++
        }
      })()
      return Object.assign(body, { close: () => void closed++ })
    })
    const client = await RawClient.connect(served.port)
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.until(() => client.pending.length > 32 * 1024)
    client.destroy()
    await eventually(() => closed > 0 && stopped > 0)
    await pause(30)
    expect(closed).toBe(1)
    expect(stopped).toBe(1)
  })
})
