#!/usr/bin/env node
// The server of bench/footprint_section.mjs, alone in its own process (forked, with IPC):
//   raw         node:http answering hello world by hand (the baseline)
//   makeServer  makeServer("127.0.0.1", 0, hello) from the build under test
// It sends {port} once listening; {cmd: "report"} answers its memory (as it is, then after
// a full GC); {cmd: "stop"} closes it. Nothing else is loaded before the server listens, so
// the process is what a `effect-wsgi serve` worker would be.
import http from "node:http"

if (process.send === undefined) {
  console.error("bench/footprint_server.mjs runs forked by bench/footprint_section.mjs (it needs an IPC channel)")
  process.exit(2)
}
const kind = process.argv[2]
let port
let close
if (kind === "raw") {
  const HELLO = Buffer.from("Hello, world!", "latin1")
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "13" })
    res.end(HELLO)
  })
  port = await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve(server.address().port))
  })
  close = () => new Promise((resolve) => server.close(() => resolve()))
} else if (kind === "makeServer") {
  const { loadDist } = await import("./dist.mjs")
  const { hello } = await import("./apps.mjs")
  const { makeServer } = await loadDist()
  const server = await makeServer("127.0.0.1", 0, hello)
  port = server.port
  close = () => server.close()
} else {
  throw new Error(`unknown server kind ${kind}`)
}

process.on("message", async (message) => {
  if (message?.cmd === "report") {
    const live = process.memoryUsage()
    globalThis.gc?.()
    const collected = process.memoryUsage()
    process.send({ rss: live.rss, heapUsed: live.heapUsed, rssAfterGc: collected.rss, heapAfterGc: collected.heapUsed })
  } else if (message?.cmd === "stop") {
    await close()
    process.exit(0)
  }
})
// performance.now(): ms since this process started (its time origin).
process.send({ port, listeningMs: performance.now() })
