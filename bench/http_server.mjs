#!/usr/bin/env node
// One server under test for bench/http_section.mjs, alone in its own process:
//   node bench/http_server.mjs raw|rawPeer|bare|listener|makeServer|platform|httpApp
// serves hello world on 127.0.0.1 (a free port), prints {"port": N} once listening,
// answers a "cpu" line on stdin with {"cpu": <µs of CPU used>}, and closes when its stdin
// ends.
import http from "node:http"
import { hello } from "./apps.mjs"
import { bareListener } from "./bare_gateway.mjs"
import { loadDist } from "./dist.mjs"
import { listenLocal, serveBenchProtocol } from "./workers.mjs"

const kind = process.argv[2]
const HELLO = Buffer.from("Hello, world!", "latin1")

const listen = listenLocal

let port
let close
if (kind === "raw") {
  // The baseline: node:http answering by hand, with the headers the WSGI app sends.
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "13" })
    res.end(HELLO)
  })
  port = await listen(server)
  close = () => new Promise((resolve) => server.close(() => resolve()))
} else if (kind === "rawPeer") {
  // Raw, also reading the client's address as every gateway must (REMOTE_ADDR): Node has
  // no address from accept(), so this is a getpeername call per connection.
  let lastPeer = ""
  const server = http.createServer((req, res) => {
    lastPeer = req.socket.remoteAddress ?? lastPeer
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "13" })
    res.end(HELLO)
  })
  port = await listen(server)
  close = () => new Promise((resolve) => server.close(() => resolve()))
} else if (kind === "bare") {
  // The reference gateway (bench/bare_gateway.mjs): a ceiling for any gateway's ratio.
  // Its listener is added once the port is known (SERVER_PORT).
  const server = http.createServer()
  port = await listen(server)
  const serverSoftware = `bare/0 Node.js/${process.version}`
  server.on("request", bareListener(hello, { serverName: "127.0.0.1", serverPort: String(port), serverSoftware }))
  close = () => new Promise((resolve) => server.close(() => resolve()))
} else if (kind === "listener") {
  const { toNodeListener } = await loadDist()
  const server = http.createServer(toNodeListener(hello))
  port = await listen(server)
  close = () => new Promise((resolve) => server.close(() => resolve()))
} else if (kind === "makeServer") {
  const { makeServer } = await loadDist()
  const server = await makeServer("127.0.0.1", 0, hello)
  port = server.port
  close = () => server.close()
} else if (kind === "platform" || kind === "httpApp") {
  // @effect/platform-node's own HttpServer: a native route (the reference), or the WSGI
  // app through toHttpApp, served the same way.
  const { HttpRouter, HttpServer, HttpServerResponse } = await import("@effect/platform")
  const { NodeHttpServer } = await import("@effect/platform-node")
  const { Effect, Layer, Fiber } = await import("effect")
  const route = kind === "platform"
    ? HttpServerResponse.text("Hello, world!")
    : (await loadDist()).toHttpApp(hello)
  const server = http.createServer()
  const router = HttpRouter.empty.pipe(HttpRouter.get("/", route))
  const fiber = Effect.runFork(
    Layer.launch(HttpServer.serve(router).pipe(Layer.provide(NodeHttpServer.layer(() => server, { port: 0, host: "127.0.0.1" }))))
  )
  await new Promise((resolve) => (server.listening ? resolve() : server.once("listening", resolve)))
  port = server.address().port
  close = () => Effect.runPromise(Fiber.interrupt(fiber))
} else {
  throw new Error(`unknown server kind ${kind}`)
}

serveBenchProtocol(port, close)
