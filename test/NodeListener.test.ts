/**
 * `toNodeListener(app)` in plain `node:http` / `node:https` servers (the same handling as
 * `makeServer`, without the server's limits and close), over real sockets.
 */
import { readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createHttpsServer, request as httpsRequest } from "node:https"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import express from "express"
import { afterEach, describe, expect, it } from "vitest"
import { ErrorLog, type MemoryErrorLog } from "../src/ErrorLog.js"
import { type NodeListenerOptions, RequestBodyTooLarge, toNodeListener } from "../src/NodeListener.js"
import { mountPoint } from "../src/internal/requestEnviron.js"
import type { Application, InputStream } from "../src/Protocol.js"
import { applicationUri, requestUri } from "../src/Util.js"
import { destroyAllClients, header, RawClient, rawRequest } from "./support/rawHttp.js"
import { underTest } from "./support/underTest.js"

const servers: Array<Server> = []
let errors: MemoryErrorLog

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => {
    servers.push(server)
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port))
  })

/** A plain node:http server whose every request goes to `toNodeListener(app)`. */
const serve = (app: Application, options: NodeListenerOptions = {}): Promise<number> => {
  errors = ErrorLog.memory()
  return listen(createServer(toNodeListener(underTest(app), { errorLog: errors, ...options })))
}

afterEach(async () => {
  destroyAllClients()
  await Promise.all(servers.splice(0).map((server) =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  ))
})

const bytes = (text: string): Buffer => Buffer.from(text, "latin1")

const environDump: Application = (environ, startResponse) => {
  const dumped: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(environ)) if (typeof value !== "object" && typeof value !== "function") dumped[key] = value
  startResponse("200 OK", [["Content-Type", "application/json"]])
  return [Buffer.from(JSON.stringify(dumped))]
}

const echo: Application = async (environ, startResponse) => {
  const body = await (environ["wsgi.input"] as InputStream).read()
  startResponse("201 Created", [["Content-Type", "text/plain"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]])
  return [bytes(`${environ["REQUEST_METHOD"] as string} `), body]
}

describe("toNodeListener", () => {
  it("SERVER_NAME/SERVER_PORT: the listening address, or on a wildcard the connection's own, and a new port after listening again", async () => {
    errors = ErrorLog.memory()
    const server = createServer(toNodeListener(underTest(environDump), { errorLog: errors }))
    servers.push(server)
    const listenOn = (host: string): Promise<number> =>
      new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)))
    const closed = (): Promise<void> =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    const identity = async (port: number) => {
      const environ = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as Record<string, unknown>
      return [environ["SERVER_NAME"], environ["SERVER_PORT"]]
    }
    const first = await listenOn("127.0.0.1")
    expect(await identity(first)).toEqual(["127.0.0.1", String(first)])
    await closed()
    const second = await listenOn("127.0.0.1")
    expect(second).not.toBe(first)
    expect(await identity(second)).toEqual(["127.0.0.1", String(second)])
    await closed()
    const wildcard = await listenOn("0.0.0.0")
    expect(await identity(wildcard)).toEqual(["127.0.0.1", String(wildcard)])
  })

  it("serves an app from http.createServer, with the environ of get_environ", async () => {
    const port = await serve(environDump)
    const response = await fetch(`http://127.0.0.1:${port}/p%41th?q=1`, { headers: { "X-Test": "yes" } })
    expect(response.status).toBe(200)
    expect(response.headers.get("server")).toMatch(/^effect-wsgi\/0\.1\.0 Node\.js\//)
    const environ = (await response.json()) as Record<string, unknown>
    expect(environ).toMatchObject({
      SERVER_NAME: "127.0.0.1",
      SERVER_PORT: String(port),
      SERVER_PROTOCOL: "HTTP/1.1",
      REQUEST_METHOD: "GET",
      PATH_INFO: "/pAth",
      QUERY_STRING: "q=1",
      REMOTE_ADDR: "127.0.0.1",
      CONTENT_TYPE: "text/plain",
      HTTP_X_TEST: "yes",
      "wsgi.url_scheme": "http",
      "wsgi.multithread": true,
      "wsgi.multiprocess": false,
      "wsgi.run_once": false
    })
  })

  it("streams request bodies, keeps Set-Cookie headers apart, answers HEAD without a body", async () => {
    const port = await serve(echo)
    const posted = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "payload" })
    expect(posted.status).toBe(201)
    expect(posted.headers.getSetCookie()).toEqual(["a=1", "b=2"])
    expect(await posted.text()).toBe("POST payload")

    const client = await RawClient.connect(port)
    client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nPUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    const head = await client.response({ head: true })
    expect(head.code).toBe(201)
    const put = await client.response()
    expect(put.body.toString("latin1")).toBe("PUT abc")
  })

  it("works beside other routes of the same server", async () => {
    const listener = toNodeListener(underTest(echo))
    const port = await listen(createServer((request: IncomingMessage, response: ServerResponse) => {
      if (request.url === "/native") response.end("native")
      else listener(request, response)
    }))
    expect(await (await fetch(`http://127.0.0.1:${port}/native`)).text()).toBe("native")
    expect(await (await fetch(`http://127.0.0.1:${port}/wsgi`, { method: "POST", body: "x" })).text()).toBe("POST x")
  })

  it("reads a body after node:http answered Expect: 100-continue itself", async () => {
    const port = await serve(echo)
    const client = await RawClient.connect(port)
    client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    expect((await client.response()).code).toBe(100)
    client.send("abc")
    expect((await client.response()).body.toString("latin1")).toBe("POST abc")
  })

  it("refuses a Content-Length over maxBodySize with 413 without calling the app", async () => {
    let calls = 0
    const port = await serve((environ, startResponse) => {
      calls++
      return echo(environ, startResponse)
    }, { maxBodySize: 10 })
    const response = await rawRequest(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
    expect(response.statusLine).toBe("HTTP/1.1 413 Content Too Large")
    expect(header(response, "connection")).toBe("close")
    expect(calls).toBe(0)
  })

  it("fails a chunked read past maxBodySize with RequestBodyTooLarge, which becomes a 413", async () => {
    let failure: unknown
    const port = await serve(async (environ, startResponse) => {
      try {
        await (environ["wsgi.input"] as InputStream).read()
      } catch (error) {
        failure = error
        throw error
      }
      startResponse("200 OK", [["Content-Type", "text/plain"]])
      return [bytes("unreachable")]
    }, { maxBodySize: 4 })
    const response = await rawRequest(port, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    expect(response.code).toBe(413)
    expect(failure).toBeInstanceOf(RequestBodyTooLarge)
    expect((failure as RequestBodyTooLarge).limit).toBe(4)
    expect(errors.text()).toContain("code 413, message the request body is larger than the server's limit of 4 bytes")
    expect(errors.text()).not.toContain("    at ")
  })

  it("sends app errors to errorLog and access lines to accessLog", async () => {
    const lines: Array<string> = []
    const port = await serve(() => {
      throw new TypeError("listener boom")
    }, { accessLog: (line) => lines.push(line) })
    const response = await fetch(`http://127.0.0.1:${port}/x`)
    expect(response.status).toBe(500)
    expect(errors.text()).toContain("TypeError: listener boom")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/x HTTP\/1\.1" 500 59$/)
  })

  it("sets wsgi.url_scheme to https behind node:https", async () => {
    // The self-signed localhost certificate the nginx deployment test uses too.
    const fixtures = join(import.meta.dirname, "deploy", "fixtures")
    errors = ErrorLog.memory()
    const server = createHttpsServer(
      { key: readFileSync(join(fixtures, "localhost.key")), cert: readFileSync(join(fixtures, "localhost.crt")) },
      toNodeListener(underTest(environDump), { errorLog: errors })
    )
    const port = await listen(server as unknown as Server)
    const body = await new Promise<string>((resolve, reject) => {
      const request = httpsRequest({ host: "127.0.0.1", port, path: "/", rejectUnauthorized: false }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
      })
      request.on("error", reject)
      request.end()
    })
    const environ = JSON.parse(body) as Record<string, unknown>
    expect(environ["wsgi.url_scheme"]).toBe("https")
    expect(environ["HTTPS"]).toBe("on")
  })
})

/** The paths of the environ, and the URLs `applicationUri` and `requestUri` build from it. */
const paths: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/json"]])
  return [Buffer.from(JSON.stringify({
    SCRIPT_NAME: environ["SCRIPT_NAME"],
    PATH_INFO: environ["PATH_INFO"],
    QUERY_STRING: environ["QUERY_STRING"],
    applicationUri: applicationUri(environ),
    requestUri: requestUri(environ)
  }), "latin1")]
}

interface Paths {
  readonly SCRIPT_NAME: string
  readonly PATH_INFO: string
  readonly QUERY_STRING: string
  readonly applicationUri: string
  readonly requestUri: string
}

/** What `paths` saw for `target`, as a list of [target, result] for one toEqual. */
const pathsOf = async (port: number, targets: ReadonlyArray<string>): Promise<Array<[string, Paths]>> => {
  const seen: Array<[string, Paths]> = []
  for (const target of targets) {
    const response = await fetch(`http://127.0.0.1:${port}${target}`)
    expect(response.status, target).toBe(200)
    seen.push([target, JSON.parse(Buffer.from(await response.arrayBuffer()).toString("latin1")) as Paths])
  }
  return seen
}

const pathsListener = () => {
  errors = ErrorLog.memory()
  return toNodeListener(underTest(paths), { errorLog: errors })
}

describe("toNodeListener under a mount point", () => {
  it("a plain node:http server: SCRIPT_NAME is empty and PATH_INFO the whole path", async () => {
    const port = await listen(createServer(pathsListener()))
    const origin = `http://127.0.0.1:${port}`
    expect(await pathsOf(port, ["/wsgi/a/b?x=1", "/wsgi", "/"])).toEqual([
      ["/wsgi/a/b?x=1", { SCRIPT_NAME: "", PATH_INFO: "/wsgi/a/b", QUERY_STRING: "x=1", applicationUri: `${origin}/`, requestUri: `${origin}/wsgi/a/b?x=1` }],
      ["/wsgi", { SCRIPT_NAME: "", PATH_INFO: "/wsgi", QUERY_STRING: "", applicationUri: `${origin}/`, requestUri: `${origin}/wsgi` }],
      ["/", { SCRIPT_NAME: "", PATH_INFO: "/", QUERY_STRING: "", applicationUri: `${origin}/`, requestUri: `${origin}/` }]
    ])
  })

  it("Express app.use(\"/wsgi\", …): the mount point is SCRIPT_NAME, the rest PATH_INFO", async () => {
    const app = express()
    app.use("/wsgi", pathsListener())
    const port = await listen(createServer(app))
    const origin = `http://127.0.0.1:${port}`
    expect(await pathsOf(port, ["/wsgi/a/b?x=1", "/wsgi", "/wsgi?x=1", "/wsgi/", "/wsgi/p%41th%2Fx", "/WSGI/a"])).toEqual([
      ["/wsgi/a/b?x=1", { SCRIPT_NAME: "/wsgi", PATH_INFO: "/a/b", QUERY_STRING: "x=1", applicationUri: `${origin}/wsgi`, requestUri: `${origin}/wsgi/a/b?x=1` }],
      ["/wsgi", { SCRIPT_NAME: "/wsgi", PATH_INFO: "", QUERY_STRING: "", applicationUri: `${origin}/wsgi`, requestUri: `${origin}/wsgi` }],
      ["/wsgi?x=1", { SCRIPT_NAME: "/wsgi", PATH_INFO: "", QUERY_STRING: "x=1", applicationUri: `${origin}/wsgi`, requestUri: `${origin}/wsgi?x=1` }],
      ["/wsgi/", { SCRIPT_NAME: "/wsgi", PATH_INFO: "/", QUERY_STRING: "", applicationUri: `${origin}/wsgi`, requestUri: `${origin}/wsgi/` }],
      // Decoded as PATH_INFO always is (an escaped "/" too, as CPython does).
      ["/wsgi/p%41th%2Fx", { SCRIPT_NAME: "/wsgi", PATH_INFO: "/pAth/x", QUERY_STRING: "", applicationUri: `${origin}/wsgi`, requestUri: `${origin}/wsgi/pAth/x` }],
      // Express matches without regard to case: SCRIPT_NAME is what the client sent.
      ["/WSGI/a", { SCRIPT_NAME: "/WSGI", PATH_INFO: "/a", QUERY_STRING: "", applicationUri: `${origin}/WSGI`, requestUri: `${origin}/WSGI/a` }]
    ])
  })

  it("a mount point with percent-escapes is decoded as latin-1, and quoted back by applicationUri", async () => {
    const app = express()
    app.use("/caf%C3%A9", pathsListener())
    const port = await listen(createServer(app))
    const origin = `http://127.0.0.1:${port}`
    expect(await pathsOf(port, ["/caf%C3%A9/men%C3%BC?q=%C3%A9"])).toEqual([
      ["/caf%C3%A9/men%C3%BC?q=%C3%A9", {
        SCRIPT_NAME: "/caf\u00c3\u00a9",
        PATH_INFO: "/men\u00c3\u00bc",
        QUERY_STRING: "q=%C3%A9",
        applicationUri: `${origin}/caf%C3%A9`,
        requestUri: `${origin}/caf%C3%A9/men%C3%BC?q=%C3%A9`
      }]
    ])
  })

  it("Express mounted at \"/\" (or without a path) strips nothing", async () => {
    const app = express()
    app.use("/root", pathsListener())
    app.use("/", pathsListener())
    const port = await listen(createServer(app))
    const bare = express()
    bare.use(pathsListener())
    const barePort = await listen(createServer(bare))
    for (const [at, origin] of [[port, `http://127.0.0.1:${port}`], [barePort, `http://127.0.0.1:${barePort}`]] as const) {
      expect(await pathsOf(at, ["/a/b?x=1", "/"])).toEqual([
        ["/a/b?x=1", { SCRIPT_NAME: "", PATH_INFO: "/a/b", QUERY_STRING: "x=1", applicationUri: `${origin}/`, requestUri: `${origin}/a/b?x=1` }],
        ["/", { SCRIPT_NAME: "", PATH_INFO: "/", QUERY_STRING: "", applicationUri: `${origin}/`, requestUri: `${origin}/` }]
      ])
    }
  })

  it("nested routers: app.use(\"/outer\", router) with router.use(\"/inner\", …) mount at /outer/inner", async () => {
    const router = express.Router()
    router.use("/inner", pathsListener())
    const app = express()
    app.use("/outer", router)
    const port = await listen(createServer(app))
    const origin = `http://127.0.0.1:${port}`
    expect(await pathsOf(port, ["/outer/inner/a/b?x=1", "/outer/inner", "/outer/inner/"])).toEqual([
      ["/outer/inner/a/b?x=1", { SCRIPT_NAME: "/outer/inner", PATH_INFO: "/a/b", QUERY_STRING: "x=1", applicationUri: `${origin}/outer/inner`, requestUri: `${origin}/outer/inner/a/b?x=1` }],
      ["/outer/inner", { SCRIPT_NAME: "/outer/inner", PATH_INFO: "", QUERY_STRING: "", applicationUri: `${origin}/outer/inner`, requestUri: `${origin}/outer/inner` }],
      ["/outer/inner/", { SCRIPT_NAME: "/outer/inner", PATH_INFO: "/", QUERY_STRING: "", applicationUri: `${origin}/outer/inner`, requestUri: `${origin}/outer/inner/` }]
    ])
  })

  it("a connect-style router on node:http (express.Router() as the request handler)", async () => {
    const router = express.Router()
    router.use("/wsgi", pathsListener())
    const port = await listen(createServer((request, response) => {
      router(request as express.Request, response as express.Response, () => {
        response.statusCode = 404
        response.end()
      })
    }))
    const origin = `http://127.0.0.1:${port}`
    expect(await pathsOf(port, ["/wsgi/a?x=1", "/wsgi"])).toEqual([
      ["/wsgi/a?x=1", { SCRIPT_NAME: "/wsgi", PATH_INFO: "/a", QUERY_STRING: "x=1", applicationUri: `${origin}/wsgi`, requestUri: `${origin}/wsgi/a?x=1` }],
      ["/wsgi", { SCRIPT_NAME: "/wsgi", PATH_INFO: "", QUERY_STRING: "", applicationUri: `${origin}/wsgi`, requestUri: `${origin}/wsgi` }]
    ])
    expect((await fetch(`${origin}/elsewhere`)).status).toBe(404)
  })

  it("a url rewritten rather than stripped (originalUrl does not end with it) is not a mount point", async () => {
    const app = express()
    app.use((request, _response, next) => {
      if (request.url.startsWith("/old/")) request.url = `/new/${request.url.slice("/old/".length)}`
      next()
    })
    app.use(pathsListener())
    const port = await listen(createServer(app))
    const origin = `http://127.0.0.1:${port}`
    expect(await pathsOf(port, ["/old/a?x=1"])).toEqual([
      ["/old/a?x=1", { SCRIPT_NAME: "", PATH_INFO: "/new/a", QUERY_STRING: "x=1", applicationUri: `${origin}/`, requestUri: `${origin}/new/a?x=1` }]
    ])
  })

  it("streams a request body through an Express mount point", async () => {
    errors = ErrorLog.memory()
    const app = express()
    app.use("/wsgi", toNodeListener(underTest(echo), { errorLog: errors }))
    const port = await listen(createServer(app))
    const response = await fetch(`http://127.0.0.1:${port}/wsgi/upload`, { method: "POST", body: "payload" })
    expect(response.status).toBe(201)
    expect(await response.text()).toBe("POST payload")
  })

  it("mountPoint: the prefix a router cut off, or null when the two targets do not fit", () => {
    expect(mountPoint("/wsgi/a/b?x=1", "/a/b?x=1")).toEqual({ scriptName: "/wsgi", pathInfo: "/a/b" })
    expect(mountPoint("/wsgi", "/")).toEqual({ scriptName: "/wsgi", pathInfo: "" })
    expect(mountPoint("/wsgi?x=1", "/?x=1")).toEqual({ scriptName: "/wsgi", pathInfo: "" })
    // Effect's HttpRouter.mount hands on "?x=1" for "/wsgi?x=1".
    expect(mountPoint("/wsgi?x=1", "?x=1")).toEqual({ scriptName: "/wsgi", pathInfo: "" })
    expect(mountPoint("/wsgi/", "/")).toEqual({ scriptName: "/wsgi", pathInfo: "/" })
    expect(mountPoint("/a/b", "/a/b")).toBeNull()
    // An absolute-form target keeps its authority in url too.
    expect(mountPoint("http://h/wsgi/a", "http://h/a")).toEqual({ scriptName: "/wsgi", pathInfo: "/a" })
    // Not a prefix of whole segments, or not a cut at all.
    expect(mountPoint("/wsgi/a", "/b")).toBeNull()
    expect(mountPoint("/wsgia", "a")).toBeNull()
    expect(mountPoint("//a", "/a")).toBeNull()
    expect(mountPoint("/a", "/a?x=1")).toBeNull()
  })
})
