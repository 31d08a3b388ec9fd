/**
 * `npm start` (src/demo.ts): serves demoApp, prints its URL, and exits 0 after a graceful
 * close on SIGINT and on SIGTERM.
 *
 * The demo runs in a child process. `npm start` runs the built `dist/demo.js`; here the
 * source is bundled once with esbuild (what tsx compiles with) so the test does not depend
 * on a fresh build and starts in ~0.1 s instead of tsx's ~1.5 s.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RawClient } from "./support/rawHttp.js"

const demoSource = fileURLToPath(new URL("../src/demo.ts", import.meta.url))

let bundleDir: string
let command: Array<string>
const children: Array<ChildProcess> = []

beforeAll(async () => {
  const esbuild = await import("esbuild")
  bundleDir = mkdtempSync(join(tmpdir(), "effect-wsgi-demo-"))
  const outfile = join(bundleDir, "demo.mjs")
  await esbuild.build({
    entryPoints: [demoSource],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "silent"
  })
  command = [process.execPath, outfile]
})

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  rmSync(bundleDir, { recursive: true, force: true })
})

interface Demo {
  readonly child: ChildProcess
  readonly url: string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly stderr: () => string
}

/** Start the demo on a free port; resolves once it printed its URL. */
const startDemo = (): Promise<Demo> =>
  new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      env: { ...process.env, HOST: "127.0.0.1", PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    children.push(child)
    let stderr = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
      child.once("exit", (code, signal) => done({ code, signal }))
    })
    exited.then(({ code }) => reject(new Error(`the demo exited (${code}) before printing its URL: ${stderr}`)))
    child.once("error", reject)
    createInterface({ input: child.stdout! }).once("line", (line) => {
      const match = /^Serving HTTP on (http:\/\/127\.0\.0\.1:\d+\/) \.\.\.$/.exec(line)
      if (match === null) reject(new Error(`unexpected first line ${JSON.stringify(line)}`))
      else resolve({ child, url: match[1]!, exited, stderr: () => stderr })
    })
  })

describe("the demo (npm start)", () => {
  it.each(["SIGINT", "SIGTERM"] as const)("serves demoApp, logs the request, and exits 0 on %s", async (signal) => {
    const demo = await startDemo()
    const response = await fetch(`${demo.url}xyz?abc`)
    expect(response.status).toBe(200)
    const text = await response.text()
    expect(text.startsWith("Hello world!\n\n")).toBe(true)
    expect(text).toContain("PATH_INFO = '/xyz'\n")
    expect(text).toContain("QUERY_STRING = 'abc'\n")
    // An idle keep-alive connection does not hold the exit up.
    const idle = await RawClient.connect(Number(new URL(demo.url).port))
    idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await idle.response()
    demo.child.kill(signal)
    expect(await demo.exited).toEqual({ code: 0, signal: null })
    await idle.end()
    idle.destroy()
    expect(demo.stderr()).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/xyz\?abc HTTP\/1\.1" 200 \d+\n/)
  })
})
