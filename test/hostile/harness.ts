/**
 * Shared by the hostile-input tests: a `makeServer` on 127.0.0.1 whose error log and
 * access log are captured line by line, an app that records every call (a spy), and the
 * checks every case ends with (one log line, no stack trace, the connection closed, the
 * server still serving, no socket left behind, no unhandled rejection).
 */
import { afterAll, afterEach, beforeAll, expect } from "vitest"
import { ErrorLog } from "../../src/ErrorLog.js"
import type { Application, Environ } from "../../src/Protocol.js"
import { makeServer, type ServerOptions, type WSGIServer } from "../../src/Server.js"
import { destroyAllClients, RawClient, rawRequest } from "../support/rawHttp.js"

/** What a test server recorded. */
export interface Harness {
  readonly server: WSGIServer
  /** `METHOD PATH_INFO` of every call of the app, in order. */
  readonly calls: Array<string>
  /** The environ of every call. */
  readonly environs: Array<Environ>
  /** The error log since the last reset. */
  errorText(): string
  readonly access: Array<string>
  /** The error log, one entry per line. */
  errorLines(): Array<string>
  /** Forget what was recorded so far. */
  reset(): void
}

/** Answers 200 with `PATH_INFO` as its body (when no other app is given). */
export const pathEcho = (environ: Environ, startResponse: Parameters<Application>[1]) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from(String(environ["PATH_INFO"]), "latin1")]
}

/** Start a server for `app` (default `pathEcho`) that records its calls and logs. */
export const startHarness = async (app: Application = pathEcho, options: ServerOptions = {}): Promise<Harness> => {
  const calls: Array<string> = []
  const environs: Array<Environ> = []
  const access: Array<string> = []
  const errors = ErrorLog.memory()
  // reset() only moves this mark: the server keeps the one log it was given.
  let mark = 0
  const spy: Application = (environ, startResponse) => {
    calls.push(`${String(environ["REQUEST_METHOD"])} ${String(environ["PATH_INFO"])}`)
    environs.push(environ)
    return app(environ, startResponse)
  }
  const server = await makeServer("127.0.0.1", 0, spy, {
    errorLog: errors,
    accessLog: (line) => access.push(line),
    closeTimeout: 2_000,
    ...options
  })
  return {
    server,
    calls,
    environs,
    errorText: () => errors.text().slice(mark),
    access,
    errorLines: () => errors.text().slice(mark).split("\n").filter((line) => line !== ""),
    reset: () => {
      calls.length = 0
      environs.length = 0
      access.length = 0
      mark = errors.text().length
    }
  }
}

/** TCP sockets (client and server side) open in this process. */
export const tcpHandles = (): number => process.getActiveResourcesInfo().filter((kind) => kind === "TCPSocketWrap").length

/** Wait until `ready()` holds (polling), or fail after `ms`. */
export const eventually = async (ready: () => boolean | Promise<boolean>, ms = 3_000, what = "condition"): Promise<void> => {
  const deadline = Date.now() + ms
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The number of connections the server still holds. */
export const serverConnections = (server: WSGIServer): Promise<number> =>
  new Promise((resolve, reject) => server.server.getConnections((error, count) => (error ? reject(error) : resolve(count))))

/** Wait until the server holds no connection (every socket of the case is gone). */
export const serverIdle = (server: WSGIServer): Promise<void> =>
  eventually(async () => (await serverConnections(server)) === 0, 3_000, "the server to close its connections")

/** A log line of a refusal: the CPython `log_error` format, one line. */
export const refusalLine = (status: number): RegExp => new RegExp(`^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] code ${status}, message [^\\n]+$`)

/** No stack trace anywhere in a log. */
export const expectNoStackTrace = (log: string): void => {
  expect(log).not.toMatch(/^\s+at /m)
  expect(log).not.toMatch(/Traceback/)
}

/** The server still answers a plain request, on a new connection. */
export const expectStillServing = async (harness: Harness, path = "/still-serving"): Promise<void> => {
  const before = harness.calls.length
  const response = await rawRequest(harness.server.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
  expect(response.statusLine).toBe("HTTP/1.1 200 OK")
  expect(harness.calls.slice(before)).toEqual([`GET ${path}`])
}

/** Collects unhandled rejections while a test file runs; each test must leave none. */
export const watchUnhandledRejections = (): (() => Array<unknown>) => {
  const seen: Array<unknown> = []
  const record = (reason: unknown): void => {
    seen.push(reason)
  }
  beforeAll(() => {
    process.on("unhandledRejection", record)
  })
  afterAll(() => {
    process.removeListener("unhandledRejection", record)
  })
  afterEach(() => {
    destroyAllClients()
  })
  return () => seen
}

export { RawClient, rawRequest }
