import { describe, expect, it } from "vitest"
import { parseArgs } from "../../../src/internal/cli/cliArgs.js"

describe("parseArgs", () => {
  it("reads FILE[:export] and every option", () => {
    expect(parseArgs(["serve", "app.ts:slow", "--host", "0.0.0.0", "--port=9000", "--workers", "0", "--validate", "--quiet", "--forwarded-allow-ips", "127.0.0.1, 10.0.0.1", "--response-timeout", "5000"])).toEqual({
      command: "serve",
      file: "app.ts",
      exportName: "slow",
      host: "0.0.0.0",
      port: 9000,
      socketPath: null,
      workers: 0,
      validate: true,
      quiet: true,
      forwardedAllowIps: ["127.0.0.1", "10.0.0.1"],
      responseTimeout: 5000,
      timeout: null,
      gracefulTimeout: 30,
      maxRequests: 0,
      maxRequestsJitter: 0,
      maxRss: 0,
      reload: false,
      reloadInclude: [],
      reloadExclude: []
    })
  })

  it("takes a unix socket from --bind", () => {
    const parsed = parseArgs(["serve", "app.js", "--bind", "unix:/tmp/app.sock"])
    expect(parsed).toMatchObject({ command: "serve", file: "app.js", exportName: null, socketPath: "/tmp/app.sock" })
  })

  it.each([
    [["serve"], "serve needs FILE[:export]"],
    [["run", "x"], 'unknown command "run" (expected "serve")'],
    [["serve", "a.js", "--port", "http"], "--port needs a number from 0 to 65535 (got http)"],
    [["serve", "a.js", "--port", "70000"], "--port needs a number from 0 to 65535 (got 70000)"],
    [["serve", "a.js", "--workers", "-1"], "--workers needs a whole number (got -1)"],
    [["serve", "a.js", "--bind", "tcp:1"], "--bind takes unix:PATH"],
    [["serve", "a.js", "--response-timeout", "soon"], "--response-timeout needs milliseconds (got soon)"],
    [["serve", "a.js", "--frobnicate"], "unknown option --frobnicate"],
    [["serve", "a.js", "b.js"], 'unexpected argument "b.js"']
  ])("refuses %j with a clear message", (argv, message) => {
    expect(parseArgs(argv)).toEqual({ command: "error", message })
  })
})
