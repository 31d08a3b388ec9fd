import { type ChildProcess, spawn } from "node:child_process"
import { type AddressInfo, createServer } from "node:net"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")
const cli = join(root, "dist", "cli.js")
const fixture = "test/fixtures/cliApp.ts"

/** A port nothing listens on right now. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })

interface Running {
  readonly child: ChildProcess
  readonly url: Promise<string>
  readonly exit: Promise<number | null>
  stderr(): string
}

const running: Array<ChildProcess> = []
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL")
})

const start = (...args: Array<string>): Running => {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  running.push(child)
  let stderr = ""
  const url = new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
      const match = /serving .* on (http:\/\/\S+)/.exec(stderr)
      if (match) resolve(match[1]!)
    })
    child.on("exit", () => reject(new Error(`exited before serving:\n${stderr}`)))
  })
  url.catch(() => undefined)
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, url, exit, stderr: () => stderr }
}

describe("effect-wsgi serve", () => {
  it("serves a .ts app file and logs each request", async () => {
    const server = start("serve", fixture, "--port", "0")
    const url = await server.url
    const response = await fetch(`${url}hello`)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe(`pid=${server.child.pid} path=/hello multiprocess=false`)
    await expect.poll(() => server.stderr()).toMatch(/127\.0\.0\.1 - - \[[^\]]+\] "GET \/hello HTTP\/1\.1" 200 \d+/)
    server.child.kill("SIGTERM")
    expect(await server.exit).toBe(0)
  })

  it("lets a request in flight finish on SIGTERM, then exits 0", async () => {
    const server = start("serve", `${fixture}:slow`, "--port", "0", "--quiet")
    const url = await server.url
    const pending = fetch(url).then(async (response) => [response.status, await response.text()])
    await new Promise((resolve) => setTimeout(resolve, 100))
    server.child.kill("SIGTERM")
    expect(await pending).toEqual([200, "slow but complete"])
    expect(await server.exit).toBe(0)
    expect(server.stderr()).not.toMatch(/"GET/)
  })

  it("answers from two worker processes with --workers 2", async () => {
    const server = start("serve", fixture, "--port", "0", "--workers", "2", "--quiet")
    const url = await server.url
    const pids = new Set<string>()
    for (let i = 0; i < 200 && pids.size < 2; i++) {
      const body = await (await fetch(url, { headers: { Connection: "close" } })).text()
      expect(body).toMatch(/multiprocess=true$/)
      pids.add(/pid=(\d+)/.exec(body)![1]!)
    }
    expect(pids.size).toBe(2)
    expect(pids.has(String(server.child.pid))).toBe(false)
    server.child.kill("SIGTERM")
    expect(await server.exit).toBe(0)
  })

  it("replaces a worker that dies", async () => {
    // A fixed port, as in production: with port 0 a replacement worker may get another one.
    const port = await freePort()
    const server = start("serve", fixture, "--port", String(port), "--workers", "2", "--quiet")
    const url = await server.url
    const pidOf = async (): Promise<string> =>
      /pid=(\d+)/.exec(await (await fetch(url, { headers: { Connection: "close" } })).text())![1]!
    const victim = await pidOf()
    process.kill(Number(victim), "SIGKILL")
    await expect.poll(() => server.stderr(), { timeout: 10_000 }).toMatch(
      new RegExp(`worker ${victim} exited \\(SIGKILL\\); starting another`)
    )
    // The replacement says it is serving (the first two did too) …
    await expect.poll(() => server.stderr().match(/\(worker \d+\)/g)?.length ?? 0, { timeout: 10_000 }).toBe(3)
    // … and two live workers answer again, neither of them the one that died.
    const seen = new Set<string>()
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(await pidOf())
    expect(seen.size).toBe(2)
    expect(seen.has(victim)).toBe(false)
    server.child.kill("SIGTERM")
    expect(await server.exit).toBe(0)
  })

  it.each([
    [["serve", "test/fixtures/missing.ts"], "effect-wsgi: cannot find app file test/fixtures/missing.ts\n"],
    [["serve", `${fixture}:nope`], `effect-wsgi: ${fixture} has no export "nope"; it exports: app, default, notAFunction, slow\n`],
    [["serve", `${fixture}:notAFunction`], `effect-wsgi: ${fixture}:notAFunction is number, not an application function\n`]
  ])("%j prints one line and exits 2", async (argv, line) => {
    const server = start(...argv)
    expect(await server.exit).toBe(2)
    expect(server.stderr()).toBe(line)
  })
})
