// What the tests of the CLI's supervisor share: spawning `dist/cli.js` (run `npm run build`
// first), reading its log, plain requests, and a load generator that counts every request.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { Agent, request as httpRequest } from "node:http"
import type { Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, expect } from "vitest"

export const root = join(import.meta.dirname, "..", "..")
const cli = join(root, "dist", "cli.js")

/** The supervisor tests' app (see the fixture for its paths). */
export const app = "test/fixtures/cliSupervisionApp.mjs"

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A port nothing listens on right now (fixed ports: a replaced worker must find the same one). */
export { freePort } from "../support/tools.js"

/** A running `effect-wsgi` command. */
export interface Cli {
  readonly child: ChildProcess
  readonly exit: Promise<{ code: number | null; signal: string | null }>
  stderr(): string
  /** The pids of the workers that said they serve, in order. */
  servingPids(): Array<number>
}

const children: Array<ChildProcess> = []
const logs: Array<() => string> = []
const workerPids: Array<number> = []
const dirs: Array<string> = []

// Whatever a test leaves running is killed: the primary and, by pid, its workers. The logs
// of a failed test's commands are printed: a timing failure is hard to read without them.
afterEach(async (context) => {
  if (context.task.result?.state === "fail") {
    for (const log of logs) console.log(`--- effect-wsgi log ---\n${log()}`)
  }
  logs.splice(0)
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGKILL")
      await gone
    }
  }
  for (const pid of workerPids.splice(0)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone already
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Run `effect-wsgi ARGS…` from the repository root. */
export const start = (...args: Array<string>): Cli => startWith({}, ...args)

/** Run `effect-wsgi ARGS…` with more environment variables. */
export const startWith = (env: Readonly<Record<string, string>>, ...args: Array<string>): Cli => {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  children.push(child)
  let stderr = ""
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString()
    for (const match of chunk.toString().matchAll(/\(worker (\d+)\)/g)) workerPids.push(Number(match[1]))
  })
  logs.push(() => stderr)
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal }))
  )
  return {
    child,
    exit,
    stderr: () => stderr,
    servingPids: () => [...stderr.matchAll(/serving .* \(worker (\d+)\)/g)].map((match) => Number(match[1]))
  }
}

/** Wait until the log matches `pattern`; the match. */
export const logged = async (cli: Cli, pattern: RegExp, timeout = 10_000): Promise<RegExpMatchArray> => {
  for (const until = Date.now() + timeout; Date.now() < until; await sleep(20)) {
    const match = pattern.exec(cli.stderr())
    if (match !== null) return match
  }
  throw new Error(`no ${pattern} in ${timeout} ms; the log:\n${cli.stderr()}`)
}

/** Wait until `count` workers have said they serve. */
export const serving = (cli: Cli, count: number, timeout = 10_000): Promise<void> =>
  expect.poll(() => cli.servingPids().length, { timeout, interval: 20 }).toBeGreaterThanOrEqual(count)

/** True while process `pid` exists. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A fresh temporary directory, removed after the test. */
export const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "effect-wsgi-cli-"))
  dirs.push(dir)
  return dir
}

/** One GET on a connection of its own: status and body, or the error's code. */
export const get = (port: number, path = "/"): Promise<{ status: number; body: string } | { error: string }> =>
  new Promise((resolve) => {
    const request = httpRequest({ host: "127.0.0.1", port, path, agent: false }, (response) => {
      let body = ""
      response.setEncoding("latin1")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resolve({ status: response.statusCode!, body }))
      response.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    })
    request.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    request.end()
  })

/** The pid a `pid=N …` body names. */
export const pidIn = (reply: { status: number; body: string } | { error: string }): number => {
  if ("error" in reply) throw new Error(`no answer: ${reply.error}`)
  return Number(/pid=(\d+)/.exec(reply.body)![1])
}

/** What a load run counted. */
export interface LoadCounts {
  /** Requests written. */
  sent: number
  /** Complete `200` responses. */
  answered: number
  /** Requests that got no complete response, by reason. */
  failures: Record<string, number>
  /** Of those, connections reset (ECONNRESET, before or during a response). */
  resets: number
  /** Connections opened (more than the loops: the server closed some between requests). */
  connections: number
  /** Responses per serving pid. */
  pids: Map<number, number>
}

/**
 * Keep `loops` keep-alive connections (or, `fresh`, one connection per request) busy with GET `path`, each sending its next request
 * when the last one's response is complete, until `stop()`. A connection the server closed
 * between requests (after a `Connection: close` response, or idle) is replaced by a new
 * one, as HTTP clients do; a request that gets no complete response, or a reset, counts
 * as a failure.
 */
export const load = (port: number, loops: number, path = "/", fresh = false): { counts: LoadCounts; stop(): Promise<LoadCounts> } => {
  // `fresh`: a new connection per request (`Connection: close`), so the primary hands out
  // connections all the time, also to workers about to go.
  const agent = fresh ? false : new Agent({ keepAlive: true, maxSockets: loops })
  const counts: LoadCounts = { sent: 0, answered: 0, failures: {}, resets: 0, connections: 0, pids: new Map() }
  const seen = new WeakSet<Socket>()
  let running = true
  const fail = (reason: string): void => {
    counts.failures[reason] = (counts.failures[reason] ?? 0) + 1
    if (reason === "ECONNRESET") counts.resets++
  }
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      let settled = false
      const settle = (failure: string | null, body = ""): void => {
        if (settled) return
        settled = true
        if (failure !== null) fail(failure)
        else {
          counts.answered++
          const pid = Number(/pid=(\d+)/.exec(body)?.[1] ?? 0)
          counts.pids.set(pid, (counts.pids.get(pid) ?? 0) + 1)
        }
        resolve()
      }
      counts.sent++
      const request = httpRequest({ host: "127.0.0.1", port, path, agent }, (response) => {
        let body = ""
        response.setEncoding("latin1")
        response.on("data", (chunk: string) => (body += chunk))
        response.on("end", () => {
          if (!response.complete) settle("incomplete response")
          else if (response.statusCode !== 200) settle(`status ${response.statusCode}`)
          else settle(null, body)
        })
        response.on("error", (error: NodeJS.ErrnoException) => settle(error.code ?? error.message))
      })
      request.on("socket", (socket: Socket) => {
        if (!seen.has(socket)) {
          seen.add(socket)
          counts.connections++
        }
      })
      request.setTimeout(10_000, () => {
        settle("timeout")
        request.destroy()
      })
      request.on("error", (error: NodeJS.ErrnoException) => settle(error.code ?? error.message))
      request.end()
    })
  const loop = async (): Promise<void> => {
    while (running) await once()
  }
  const all = Array.from({ length: loops }, loop)
  return {
    counts,
    stop: async () => {
      running = false
      await Promise.all(all)
      if (agent !== false) agent.destroy()
      return counts
    }
  }
}
