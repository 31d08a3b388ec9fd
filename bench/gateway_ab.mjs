#!/usr/bin/env node
// The gateway's own request path (toNodeListener's handler: checks, environ, core, the
// NodeOutput) for hello world, with stand-in node:http objects, so no socket, parser or
// kernel time is in it: for comparing two builds of a change to that path. Both builds run
// in one process, in alternating rounds, so machine noise hits both alike; the figure to
// read is the median of the paired round ratios. Not part of `npm run bench`.
//
//   cp -r dist /tmp/before            (before the change; then rebuild)
//   node bench/gateway_ab.mjs /tmp/before/index.js dist/index.js [requests per round] [rounds]
//
// Over HTTP the same path costs several times what it costs here (its code and data are
// cold after node:http and the kernel ran), so a saving here shows there smaller in µs but
// in the same direction.
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"

const [before, after, requestsArg = "20000", roundsArg = "40"] = process.argv.slice(2)
if (before === undefined || after === undefined) {
  console.error("usage: node bench/gateway_ab.mjs BEFORE/index.js AFTER/index.js [requests] [rounds]")
  process.exit(2)
}
const HELLO = Buffer.from("Hello, world!", "latin1")
const hello = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [HELLO]
}

// What the gateway reads of a socket, a request and a response (a sync app never waits).
const socket = { remoteAddress: "127.0.0.1", remotePort: 5555, localAddress: "127.0.0.1", localPort: 8000, on() {}, once() {} }
class StandInResponse {
  destroyed = false
  headersSent = false
  writableEnded = false
  shouldKeepAlive = true
  closed = false
  head = null
  body = null
  on() {
    return this
  }
  once() {
    return this
  }
  removeListener() {
    return this
  }
  writeHead(code, reason, headers) {
    this.headersSent = true
    this.head = { code, reason, headers }
    return this
  }
  write() {
    return true
  }
  end(body) {
    this.writableEnded = true
    this.body = body
  }
  destroy() {
    this.destroyed = true
  }
}
const rawHeaders = ["Host", "127.0.0.1:8000", "User-Agent", "wrk"]

const requestOf = async (dist) => {
  const { toNodeListener } = await import(pathToFileURL(resolve(dist)).href)
  const listener = toNodeListener(hello)
  return () => {
    const request = { socket, method: "GET", url: "/", httpVersion: "1.1", httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders, complete: true }
    const response = new StandInResponse()
    listener(request, response)
    // Checked on every request: a fast wrong answer must not score.
    if (response.body !== HELLO || response.head?.code !== 200 || !response.head.headers.includes("Content-Length")) {
      throw new Error(`${dist}: not the hello-world response`)
    }
  }
}

const requests = Number(requestsArg)
const rounds = Number(roundsArg)
const [one, two] = [await requestOf(before), await requestOf(after)]
const round = (request) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < requests; i++) request()
  return Number(process.hrtime.bigint() - start) / requests
}
for (let i = 0; i < 5; i++) round(one), round(two)
const timesBefore = []
const timesAfter = []
const ratios = []
for (let r = 0; r < rounds; r++) {
  // Alternate which build goes first.
  let a
  let b
  if (r % 2 === 0) {
    a = round(one)
    b = round(two)
  } else {
    b = round(two)
    a = round(one)
  }
  timesBefore.push(a)
  timesAfter.push(b)
  ratios.push(b / a)
}
const quantile = (values, q) => [...values].sort((x, y) => x - y)[Math.floor((values.length - 1) * q)]
console.log(`before: best ${quantile(timesBefore, 0).toFixed(0)} ns, p25 ${quantile(timesBefore, 0.25).toFixed(0)} ns per request`)
console.log(`after:  best ${quantile(timesAfter, 0).toFixed(0)} ns, p25 ${quantile(timesAfter, 0.25).toFixed(0)} ns per request`)
console.log(`after/before: ${quantile(ratios, 0.5).toFixed(3)} (median of ${rounds} paired rounds of ${requests})`)
