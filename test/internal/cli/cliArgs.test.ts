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
      binds: [{ kind: "tcp", host: "0.0.0.0", port: 9000 }],
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
      reloadExclude: [],
      certfile: null,
      keyfile: null,
      caCerts: null,
      certReqs: "none",
      http2: false,
      h2c: false,
      proxyProtocol: false,
      proxyAllowIps: null
    })
  })

  it("reads the TLS, HTTP/2 and PROXY protocol options", () => {
    expect(parseArgs(["serve", "a.js", "--certfile", "c.pem", "--keyfile=k.pem", "--ca-certs", "ca.pem", "--cert-reqs", "optional", "--http2", "--proxy-protocol", "--proxy-allow-ips", "10.0.0.0/8, ::1"])).toMatchObject({
      certfile: "c.pem",
      keyfile: "k.pem",
      caCerts: "ca.pem",
      certReqs: "optional",
      http2: true,
      h2c: false,
      proxyProtocol: true,
      proxyAllowIps: ["10.0.0.0/8", "::1"]
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
    [["serve", "a.js", "--bind", "fd://x"], '--bind takes HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N (got "fd://x")'],
    [["serve", "a.js", "--response-timeout", "soon"], "--response-timeout needs milliseconds (got soon)"],
    [["serve", "a.js", "--frobnicate"], "unknown option --frobnicate"],
    [["serve", "a.js", "b.js"], 'unexpected argument "b.js"']
  ])("refuses %j with a clear message", (argv, message) => {
    expect(parseArgs(argv)).toEqual({ command: "error", message })
  })
})
