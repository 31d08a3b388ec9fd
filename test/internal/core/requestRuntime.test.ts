/**
 * The fibers the package starts for a request run without Effect's runtime metrics: a
 * request through the class, makeServer or toHttpApp leaves Effect's global fiber
 * counters as they were, while a fiber on Effect's default runtime moves them.
 */
import { HttpApp } from "@effect/platform"
import { Effect, Metric, Runtime, RuntimeFlags } from "effect"
import { describe, expect, it } from "vitest"
import { SimpleHandler } from "../../../src/HandlerClasses.js"
import { toHttpApp } from "../../../src/HttpApp.js"
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
