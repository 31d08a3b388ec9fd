#!/usr/bin/env node
// The server of bench/memory_section.mjs, alone in its own process (forked, with IPC):
// makeServer streaming 1 GiB as 16 384 fresh 64 KiB chunks from a generator, while the
// process's RSS is sampled (every 10 ms, and at every chunk). The parent asks
// {cmd: "report"} once its slow client has read everything.
import { STREAM_CHUNK as CHUNK, STREAM_CHUNKS as CHUNKS, streamFill as fillByte } from "./apps.mjs"
import v8 from "node:v8"
import { loadDist } from "./dist.mjs"

if (process.send === undefined) {
  console.error("bench/memory_server.mjs runs forked by bench/memory_section.mjs (it needs an IPC channel)")
  process.exit(2)
} else {
  const { makeServer } = await loadDist()
  let baseline = null
  let peak = 0
  let peakArrayBuffers = 0
  let samples = 0
  let produced = 0
  let closed = false
  const sample = () => {
    const rss = process.memoryUsage.rss()
    samples++
    if (rss > peak) peak = rss
    // Every 64th sample: memoryUsage() walks the heap spaces, too slow for every chunk.
    if (samples % 64 === 0) {
      const usage = process.memoryUsage()
      peakArrayBuffers = Math.max(peakArrayBuffers, usage.arrayBuffers)
      if (process.env.MEMDEBUG && samples % 4096 === 0) console.error(v8.getHeapSpaceStatistics().map((s) => `${s.space_name} ${(s.space_used_size / 2 ** 20).toFixed(1)}`).join(", "))
      if (process.env.MEMDEBUG) console.error(`rss ${(usage.rss / 2 ** 20).toFixed(0)} heapTotal ${(usage.heapTotal / 2 ** 20).toFixed(0)} heapUsed ${(usage.heapUsed / 2 ** 20).toFixed(0)} external ${(usage.external / 2 ** 20).toFixed(0)} ab ${(usage.arrayBuffers / 2 ** 20).toFixed(0)}`)
    }
  }
  const app = (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(CHUNK * CHUNKS)]])
    globalThis.gc?.()
    baseline = process.memoryUsage.rss()
    peak = baseline
    const timer = setInterval(sample, 10)
    const body = (function* () {
      try {
        for (let i = 0; i < CHUNKS; i++) {
          // A fresh chunk each time: a server that ignored backpressure would hold them all.
          const chunk = new Uint8Array(CHUNK).fill(fillByte(i))
          produced++
          sample()
          yield chunk
        }
      } finally {
        clearInterval(timer)
        sample()
      }
    })()
    return Object.assign(body, { close: () => (closed = true) })
  }
  const server = await makeServer("127.0.0.1", 0, app)
  process.on("message", async (message) => {
    if (message?.cmd === "report") {
      sample()
      process.send({
        baseline,
        peak,
        peakArrayBuffers,
        samples,
        produced,
        closed,
        maxRss: process.resourceUsage().maxRSS * 1024
      })
    } else if (message?.cmd === "stop") {
      await server.close()
      process.exit(0)
    }
  })
  process.send({ port: server.port })
}
