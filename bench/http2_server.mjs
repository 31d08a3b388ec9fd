#!/usr/bin/env node
// One HTTP/2 server under test for bench/http2_section.mjs, alone in its own process:
//   node bench/http2_server.mjs raw|stream|makeServer
// serves hello world over cleartext HTTP/2 (h2c, prior knowledge) on 127.0.0.1 (a free
// port), prints {"port": N} once listening, answers a "cpu" line on stdin with
// {"cpu": <µs of CPU used>}, and closes when its stdin ends.
import http2 from "node:http2"
import { hello } from "./apps.mjs"
import { loadDist } from "./dist.mjs"
import { listenLocal, serveBenchProtocol } from "./workers.mjs"

const kind = process.argv[2]
const HELLO = Buffer.from("Hello, world!", "latin1")

const listen = listenLocal

// The settings makeServer sends, so every server offers clients the same concurrency.
const settings = { maxConcurrentStreams: 100 }

let port
let close
if (kind === "raw" || kind === "stream") {
  const server = http2.createServer({ settings })
  if (kind === "raw") {
    // The baseline: node:http2's compatibility API (what the gateway is built on), answering
    // by hand with the headers the WSGI app sends.
    server.on("request", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "13" })
      res.end(HELLO)
    })
  } else {
    // node:http2's core API, without the compatibility objects: the least node does per stream.
    server.on("stream", (stream) => {
      stream.respond({ ":status": 200, "content-type": "text/plain", "content-length": "13" })
      stream.end(HELLO)
    })
  }
  port = await listen(server)
  close = () => new Promise((resolve) => server.close(() => resolve()))
} else if (kind === "makeServer") {
  const { makeServer } = await loadDist()
  const server = await makeServer("127.0.0.1", 0, hello, { h2c: true })
  port = server.port
  close = () => server.close()
} else {
  throw new Error(`unknown server kind ${kind}`)
}

serveBenchProtocol(port, close)
