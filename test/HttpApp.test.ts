import { HttpApp, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createServer } from "node:http"
import { processEnviron } from "../src/HandlerConfig.js"
import { toHttpApp } from "../src/HttpApp.js"
import type { Application, Environ, InputStream } from "../src/Protocol.js"
import { StringErrorStream } from "../src/internal/stringErrors.js"
import { serveWith } from "./support/gateways.js"
import { RawClient } from "./support/rawHttp.js"
import { underTest } from "./support/underTest.js"

const echo: Application = async (environ, startResponse) => {
  const body = await (environ["wsgi.input"] as InputStream).read()
  startResponse("201 Created", [
    ["Content-Type", "text/plain"],
    ["X-Script-Name", String(environ["SCRIPT_NAME"])],
    ["X-Path-Info", String(environ["PATH_INFO"])],
    ["X-Query", String(environ["QUERY_STRING"])],
    ["Set-Cookie", "a=1"],
    ["Set-Cookie", "b=2"]
  ])
  return [Buffer.from(`${environ["REQUEST_METHOD"]} `), body]
}

/** Serve a router with a native route and the WSGI app mounted at /wsgi on port 0. */
const serve = (app: Application) =>
  Effect.gen(function*() {
    const router = HttpRouter.empty.pipe(
      HttpRouter.get("/native", HttpServerResponse.text("native route")),
      HttpRouter.mountApp("/wsgi", toHttpApp(underTest(app), { errors: new StringErrorStream() }))
    )
    yield* HttpServer.serveEffect(router)
    const address = yield* HttpServer.addressWith((address) => Effect.succeed(address))
    if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
    return `http://127.0.0.1:${address.port}`
  })

/** The test runs inside the server's scope, so the server lives as long as the test. */
const withServer = <A, E, R>(test: Effect.Effect<A, E, R>) =>
  test.pipe(Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))

describe("toHttpApp", () => {
  it.scoped("serves a WSGI app beside a native Effect route from one server", () =>
    withServer(Effect.gen(function*() {
      const base = yield* serve(echo)
      const native = yield* Effect.promise(() => fetch(`${base}/native`))
      expect(native.status).toBe(200)
      expect(yield* Effect.promise(() => native.text())).toBe("native route")

      const response = yield* Effect.promise(() =>
        fetch(`${base}/wsgi/caf%E9/x?q=1`, { method: "POST", body: "posted body" })
      )
      expect(response.status).toBe(201)
      expect(response.headers.get("x-script-name")).toBe("/wsgi")
      expect(response.headers.get("x-path-info")).toBe("/caf\u00e9/x")
      expect(response.headers.get("x-query")).toBe("q=1")
      expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"])
      expect(yield* Effect.promise(() => response.text())).toBe("POST posted body")
    })))

  it.scoped("streams a large body in order", () =>
    withServer(Effect.gen(function*() {
      const chunks = 64
      const app: Application = (_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
        return (function*() {
          for (let i = 0; i < chunks; i++) yield Buffer.alloc(16 * 1024, i)
        })()
      }
      const base = yield* serve(app)
      const response = yield* Effect.promise(() => fetch(`${base}/wsgi/`))
      const bytes = new Uint8Array(yield* Effect.promise(() => response.arrayBuffer()))
      expect(bytes.length).toBe(chunks * 16 * 1024)
      for (let i = 0; i < chunks; i++) expect(bytes[i * 16 * 1024]).toBe(i)
    })))

  it.scoped("answers the error page when the app fails before its headers", () =>
    withServer(Effect.gen(function*() {
      const base = yield* serve(() => {
        throw new Error("boom")
      })
      const response = yield* Effect.promise(() => fetch(`${base}/wsgi/`))
      expect(response.status).toBe(500)
      expect(yield* Effect.promise(() => response.text())).toBe(
        "A server error occurred.  Please contact the administrator."
      )
    })))

  it.scoped("cuts the connection when the app fails after its headers", () =>
    withServer(Effect.gen(function*() {
      let closed = 0
      const base = yield* serve((_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/plain"]])
        const body = (function*() {
          yield Buffer.from("partial")
          throw new Error("late failure")
        })()
        return Object.assign(body, { close: () => void closed++ })
      })
      const outcome = yield* Effect.promise(() =>
        fetch(`${base}/wsgi/`).then((response) => response.text()).then(
          (text) => `complete: ${text}`,
          (error: Error) => `failed: ${error.name}`
        )
      )
      expect(outcome).toBe("failed: TypeError")
      expect(closed).toBe(1)
    })))

  it.scoped("a streaming app's first chunk reaches the client while the app is still running", () =>
    withServer(Effect.gen(function*() {
      let release: () => void = () => {}
      const gate = new Promise<void>((resolve) => {
        release = resolve
      })
      const base = yield* serve((_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/plain"]])
        return (async function*() {
          yield Buffer.from("first;")
          await gate
          yield Buffer.from("second")
        })()
      })
      const response = yield* Effect.promise(() => fetch(`${base}/wsgi/`))
      const reader = response.body!.getReader()
      const first = yield* Effect.promise(() => reader.read())
      expect(Buffer.from(first.value!).toString()).toBe("first;")
      release()
      let rest = ""
      for (;;) {
        const next = yield* Effect.promise(() => reader.read())
        if (next.done) break
        rest += Buffer.from(next.value).toString()
      }
      expect(rest).toBe("second")
    })))

  it.scoped("a synchronous app's whole body goes out with the app's own head (no Content-Type added)", () =>
    withServer(Effect.gen(function*() {
      const base = yield* serve((_environ, startResponse) => {
        startResponse("204 No Content", [["X-Kind", "empty"]])
        return []
      })
      const response = yield* Effect.promise(() => fetch(`${base}/wsgi/`))
      expect(response.status).toBe(204)
      expect(response.headers.get("x-kind")).toBe("empty")
      expect(response.headers.get("content-type")).toBe(null)
    })))

  it.scoped("a client that leaves mid-body interrupts the app: its body is stopped and closed once", () =>
    withServer(Effect.gen(function*() {
      let closed = 0
      let stopped = 0
      const base = yield* serve((_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
        const body = (async function*() {
          try {
            for (let i = 0;; i++) {
              yield Buffer.alloc(64 * 1024, i)
              await new Promise((resolve) => setTimeout(resolve, 1))
            }
          } finally {
            stopped++
          }
        })()
        return Object.assign(body, { close: () => void closed++ })
      })
      const controller = new AbortController()
      const response = yield* Effect.promise(() => fetch(`${base}/wsgi/`, { signal: controller.signal }))
      const reader = response.body!.getReader()
      yield* Effect.promise(() => reader.read())
      controller.abort()
      yield* Effect.promise(() => reader.read().catch(() => undefined))
      // The server notices the closed socket and interrupts the app's fiber.
      // (Real time: it.scoped runs on the TestClock.)
      const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
      for (let i = 0; i < 100 && closed === 0; i++) yield* pause(10)
      yield* pause(50)
      expect(closed).toBe(1)
      expect(stopped).toBe(1)
    })))
})

describe("toHttpApp from a request that is not Node's (a web handler)", () => {
  const webHandler = (app: Application, errors = new StringErrorStream()) =>
    HttpApp.toWebHandler(toHttpApp(underTest(app), { errors }))

  const environOf = (environ: Environ) => JSON.stringify({
    method: environ.REQUEST_METHOD,
    path: environ.PATH_INFO,
    query: environ.QUERY_STRING,
    serverName: environ.SERVER_NAME,
    serverPort: environ.SERVER_PORT,
    host: environ.HTTP_HOST,
    contentLength: environ.CONTENT_LENGTH ?? "",
    terminated: environ["wsgi.input_terminated"]
  })

  it("builds the environ from the web request (SERVER_NAME from its Host) and reads its body stream", async () => {
    const handler = webHandler(async (environ, startResponse) => {
      const body = await environ["wsgi.input"].read()
      startResponse("201 Made It", [["Content-Type", "application/json"], ["X-Body", Buffer.from(body).toString()]])
      return [Buffer.from(environOf(environ))]
    })
    const response = await handler(new Request("http://example.org:8080/a/b?x=1", { method: "POST", body: "posted" }))
    expect(response.status).toBe(201)
    expect(response.statusText).toBe("Made It")
    expect(response.headers.get("x-body")).toBe("posted")
    expect(JSON.parse(await response.text())).toEqual({
      method: "POST", path: "/a/b", query: "x=1", serverName: "example.org", serverPort: "8080", host: "example.org:8080", contentLength: "", terminated: true
    })
  })

  it("does not copy the process environment into each environ (as makeServer); HandlerConfig.processEnviron brings it back", async () => {
    expect(processEnviron["PATH"]).toBeDefined()
    const app: Application = (environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [Buffer.from(String(environ["PATH"]))]
    }
    const request = () => new Request("http://example.org/")
    const plain = HttpApp.toWebHandler(toHttpApp(app, { errors: new StringErrorStream() }))
    expect(await (await plain(request())).text()).toBe("undefined")
    const cpython = HttpApp.toWebHandler(toHttpApp(app, { errors: new StringErrorStream(), config: { osEnviron: processEnviron } }))
    expect(await (await cpython(request())).text()).toBe(processEnviron["PATH"])
  })

  it("a 204 gets no Content-Type and no body; an error before the headers gets the 500 page", async () => {
    const empty = await webHandler((_environ, startResponse) => {
      startResponse("204 No Content", [])
      return []
    })(new Request("http://x/"))
    expect(empty.status).toBe(204)
    expect(empty.headers.get("content-type")).toBe(null)
    expect(empty.body).toBe(null)

    const errors = new StringErrorStream()
    const failed = await webHandler(() => {
      throw new Error("web boom")
    }, errors)(new Request("http://x/"))
    expect(failed.status).toBe(500)
    expect(await failed.text()).toBe("A server error occurred.  Please contact the administrator.")
    expect(errors.value).toContain("Error: web boom")
  })

  it("a streamed body arrives whole; a surplus over Content-Length is dropped and logged", async () => {
    const errors = new StringErrorStream()
    const response = await webHandler((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"], ["Content-Length", "4"]])
      return (async function*() {
        for (const part of ["ab", "cd", "ef"]) {
          await new Promise((resolve) => setTimeout(resolve, 2))
          yield Buffer.from(part)
        }
      })()
    }, errors)(new Request("http://x/s"))
    expect(await response.text()).toBe("abcd")
    expect(errors.value).toContain("GET /s: the body is longer than its Content-Length: 4; 6 bytes written so far")
  })
})

describe("toHttpApp: a web client that leaves", () => {
  const counting = (waitFirst: boolean) => {
    const counts = { closed: 0, stopped: 0 }
    const app: Application = (_environ, startResponse) => {
      const body = (async function*() {
        try {
          // Waiting before the first chunk holds the head back (startResponse comes first).
          if (waitFirst) await new Promise(() => {})
          for (;;) {
            yield Buffer.from("tick\n")
            await new Promise((resolve) => setTimeout(resolve, 5))
          }
        } finally {
          counts.stopped++
        }
      })()
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return Object.assign(body, { close: () => void counts.closed++ })
    }
    return { counts, app }
  }
  const settle = async (counts: { closed: number }) => {
    for (let i = 0; i < 100 && counts.closed === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    await new Promise((resolve) => setTimeout(resolve, 20))
  }

  it("cancelling the body's reader stops the app and closes its result once", async () => {
    const { app, counts } = counting(false)
    const response = await HttpApp.toWebHandler(toHttpApp(underTest(app), { errors: new StringErrorStream() }))(new Request("http://x/"))
    const reader = response.body!.getReader()
    expect(Buffer.from((await reader.read()).value!).toString()).toBe("tick\n")
    await reader.cancel()
    await settle(counts)
    expect(counts).toEqual({ closed: 1, stopped: 1 })
  })
})

describe("toHttpApp under a server that shuts down", () => {
  it("closing the server (its connections cut) interrupts a streaming app: its body is stopped and its result closed once", async () => {
    let closed = 0
    let stopped = 0
    const served = await serveWith("toHttpApp", underTest((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      const body = (async function*() {
        try {
          for (;;) {
            yield Buffer.from("tick\n")
            await new Promise((resolve) => setTimeout(resolve, 5))
          }
        } finally {
          stopped++
        }
      })()
      return Object.assign(body, { close: () => void closed++ })
    }))
    const client = await RawClient.connect(served.port)
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.until(() => client.pending.includes("tick\n"))
    await served.close()
    for (let i = 0; i < 100 && closed === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(closed).toBe(1)
    expect(stopped).toBe(1)
    client.destroy()
  })
})
