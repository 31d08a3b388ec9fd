/**
 * The fibers the package starts for a request run without Effect's runtime metrics: a
 * request through the class, makeServer or toHttpApp leaves Effect's global fiber
 * counters as they were, while a fiber on Effect's default runtime moves them. And the one
 * fiber the package keeps for the process (the roots anchor) is there, alone, and holds
 * nothing open.
 */
import { HttpApp } from "@effect/platform"
import { Effect, Equal, Fiber, Metric, Runtime, RuntimeFlags } from "effect"
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as EnvironSource from "../../../src/EnvironSource.js"
import * as ErrorLog from "../../../src/ErrorLog.js"
import { runWith } from "../../../src/Handler.js"
import { SimpleHandler } from "../../../src/HandlerClasses.js"
import { toHttpApp } from "../../../src/HttpApp.js"
import * as Input from "../../../src/Input.js"
import * as Output from "../../../src/Output.js"
import { requestFlags } from "../../../src/internal/core/requestRuntime.js"
import type { Application } from "../../../src/Protocol.js"
import { makeServer } from "../../../src/Server.js"

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from("Hello, world!")]
}

// Read on a runtime without metrics, so reading does not count a fiber of its own.
const quiet = Runtime.make({
  context: Runtime.defaultRuntime.context,
  fiberRefs: Runtime.defaultRuntime.fiberRefs,
  runtimeFlags: requestFlags
})
const fibersStarted = (): number => Runtime.runSync(quiet)(Metric.value(Metric.fiberStarted)).count

describe("the fibers of a request", () => {
  it("keep Effect's default flags but RuntimeMetrics", () => {
    expect(RuntimeFlags.runtimeMetrics(requestFlags)).toBe(false)
    expect(RuntimeFlags.interruption(requestFlags)).toBe(true)
    expect(RuntimeFlags.cooperativeYielding(requestFlags)).toBe(true)
  })

  it("a fiber on Effect's default runtime is counted (the metric works)", () => {
    const before = fibersStarted()
    Effect.runSync(Effect.sync(() => 1))
    expect(fibersStarted()).toBe(before + 1)
  })

  it("a SimpleHandler request is not counted", async () => {
    const before = fibersStarted()
    const chunks: Array<Uint8Array> = []
    await new SimpleHandler(null, { write: (chunk: Uint8Array) => void chunks.push(chunk) }, null, { REQUEST_METHOD: "GET" }).run(hello)
    expect(Buffer.concat(chunks).toString("latin1")).toContain("Hello, world!")
    expect(fibersStarted()).toBe(before)
  })

  it("a makeServer request is not counted", async () => {
    const server = await makeServer("127.0.0.1", 0, hello)
    try {
      const before = fibersStarted()
      const response = await fetch(`http://127.0.0.1:${server.port}/`)
      expect(await response.text()).toBe("Hello, world!")
      expect(fibersStarted()).toBe(before)
    } finally {
      await server.close()
    }
  })

  it("toHttpApp's app fiber is not counted (the platform's own request fiber is its business)", async () => {
    const handler = HttpApp.toWebHandler(toHttpApp(hello))
    // The first request loads toHttpApp's runtime half.
    await (await handler(new Request("http://example.test/"))).text()
    const before = fibersStarted()
    const response = await handler(new Request("http://example.test/"))
    expect(await response.text()).toBe("Hello, world!")
    // toWebHandler runs the request on Effect's default runtime: that fiber, and no other.
    expect(fibersStarted()).toBe(before + 1)
  })
})

/** Effect's root fibers but the one reading them. */
const otherRoots = (): Array<Fiber.RuntimeFiber<unknown, unknown>> =>
  Runtime.runSync(quiet)(
    Effect.flatMap(Effect.fiberId, (self) => Effect.map(Fiber.roots, (roots) => roots.filter((fiber) => !Equal.equals(fiber.id(), self))))
  )

/** One synchronous request through the core, as a server runs it. */
const oneRequest = (): string => {
  const chunks: Array<Uint8Array> = []
  Effect.runSync(runWith(hello, {
    output: Output.fromSink({ write: (chunk) => void chunks.push(chunk) }),
    input: Input.fromBytes(),
    errorLog: ErrorLog.memory(),
    environSource: EnvironSource.fromRecord({ REQUEST_METHOD: "GET", SERVER_PROTOCOL: "HTTP/1.1" })
  }))
  return Buffer.concat(chunks).toString("latin1")
}

describe("the roots anchor", () => {
  it("a request leaves one waiting fiber in Effect's roots, the same one request after request", async () => {
    // From no roots at all: an anchor of an earlier test in this worker goes too.
    await Runtime.runPromise(quiet)(Fiber.interruptAll(otherRoots()))
    expect(otherRoots()).toEqual([])
    expect(oneRequest()).toContain("Hello, world!")
    const [anchor, ...more] = otherRoots()
    expect(more).toEqual([])
    expect(anchor).toBeDefined()
    // Still waiting: it has no exit.
    expect(anchor!.unsafePoll()).toBeNull()
    oneRequest()
    oneRequest()
    expect(otherRoots()).toEqual([anchor])
  })

  it("once interrupted, the next request starts another", async () => {
    oneRequest()
    const [first] = otherRoots()
    await Runtime.runPromise(quiet)(Fiber.interrupt(first!))
    expect(otherRoots()).toEqual([])
    oneRequest()
    const [second, ...more] = otherRoots()
    expect(more).toEqual([])
    expect(second).toBeDefined()
    expect(second).not.toBe(first)
  })

  it("keeps no process alive: a process that handled a request exits by itself", () => {
    // The built library, as a user's process loads it (npm test builds it first).
    const script = `
      import { Effect, Fiber } from "effect"
      import { EnvironSource, ErrorLog, Input, Output, runWith } from ${JSON.stringify(join(import.meta.dirname, "..", "..", "..", "dist", "index.js"))}
      const app = (_environ, startResponse) => { startResponse("200 OK", []); return [] }
      const written = []
      Effect.runSync(runWith(app, {
        output: Output.fromSink({ write: (chunk) => void written.push(chunk) }),
        input: Input.fromBytes(),
        errorLog: ErrorLog.memory(),
        environSource: EnvironSource.fromRecord({ REQUEST_METHOD: "GET" })
      }))
      const roots = Effect.runSync(Fiber.roots)
      console.log(Buffer.concat(written).toString("latin1").split("\\r\\n")[0], roots.length)
    `
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: join(import.meta.dirname, "..", "..", ".."), timeout: 20_000, encoding: "utf8" })
    expect(child.error).toBeUndefined()
    expect(child.stderr).toBe("")
    // Two roots: the anchor, and the fiber reading them.
    expect(child.stdout.trim()).toBe("HTTP/1.0 200 OK 2")
    expect(child.status).toBe(0)
  })
})
