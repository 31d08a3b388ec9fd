// Where the CLI listens: `--bind` (TCP, unix, fd://N, several at once) and systemd's socket
// activation (LISTEN_FDS/LISTEN_PID, the listening socket inherited as fd 3, shared by the
// workers), and sd_notify readiness. Real processes, spawned from dist/cli.js (run
// `npm run build` first).
import { type ChildProcess, spawn } from "node:child_process"
import { request as httpRequest } from "node:http"
import { type AddressInfo, createServer } from "node:net"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { parseArgs } from "../../src/internal/cli/cliArgs.js"
import { activatedBinds, formatBind, parseBind, resolveBinds, workerBinds } from "../../src/internal/cli/sockets.js"
import { findBinary, reportMissing } from "../support/tools.js"
import { app, freePort, get, pidIn, root, sleep, tempDir } from "./harness.js"

const cli = join(root, "dist", "cli.js")
const has = (program: string): boolean => findBinary(program) !== null
// systemd's own tools (Debian's systemd package; .ci/run installs it): missing, the two
// cases skip with a printed reason, or fail under CI.
reportMissing(!has("systemd-socket-activate") || !has("systemd-notify"), "test/cli/sockets.test.ts", "no systemd-socket-activate or systemd-notify; install them with `apt-get install -y systemd`", it)

/** A spawned command and its log. */
interface Run {
  readonly child: ChildProcess
  stderr(): string
  stdout(): string
}

const runs: Array<Run> = []
afterEach(async (context) => {
  if (context.task.result?.state === "fail") for (const run of runs) console.log(`--- log ---\n${run.stderr()}`)
  for (const run of runs.splice(0)) {
    // Workers by pid (the log names them), then the primary.
    for (const match of run.stderr().matchAll(/\(worker (\d+)\)/g)) {
      try {
        process.kill(Number(match[1]), "SIGKILL")
      } catch {
        // gone already
      }
    }
    if (run.child.exitCode === null && run.child.signalCode === null) {
      const gone = new Promise((resolve) => run.child.once("exit", resolve))
      run.child.kill("SIGKILL")
      await gone
    }
  }
})

const run = (command: string, args: ReadonlyArray<string>, options: { env?: NodeJS.ProcessEnv; fd?: number } = {}): Run => {
  const child = spawn(command, [...args], {
    cwd: root,
    env: { ...process.env, ...options.env },
    // systemd passes the sockets from fd 3 on.
    stdio: options.fd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", "pipe", "pipe", options.fd]
  })
  let stderr = ""
  let stdout = ""
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
  const started: Run = { child, stderr: () => stderr, stdout: () => stdout }
  runs.push(started)
  return started
}

/**
 * `effect-wsgi ARGS` as systemd starts a socket-activated service: the socket at fd 3,
 * `LISTEN_FDS=1` and `LISTEN_PID` set to the CLI's own pid (a shell that sets it to its
 * pid, then execs node in its place).
 */
const activated = (fd: number, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Run =>
  run("sh", ["-c", 'LISTEN_PID=$$ exec "$@"', "sh", process.execPath, cli, ...args], {
    fd,
    env: { LISTEN_FDS: "1", LISTEN_FDNAMES: "web", ...env }
  })

/** A listening TCP socket for a child to inherit; `handOver()` closes this process's copy. */
const listeningSocket = async (): Promise<{ port: number; fd: number; handOver(): void }> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd
  const { port } = server.address() as AddressInfo
  return { port, fd, handOver: () => server.close() }
}

const logged = async (what: Run, pattern: RegExp, timeout = 10_000): Promise<RegExpMatchArray> => {
  for (const until = Date.now() + timeout; Date.now() < until; await sleep(20)) {
    const match = pattern.exec(what.stderr())
    if (match !== null) return match
  }
  throw new Error(`no ${pattern} in ${timeout} ms; the log:\n${what.stderr()}`)
}

const workersServing = async (what: Run, count: number): Promise<Array<number>> => {
  await expect.poll(() => [...what.stderr().matchAll(/serving .* \(worker \d+\)/g)].length, { timeout: 10_000, interval: 20 }).toBeGreaterThanOrEqual(count)
  return [...what.stderr().matchAll(/serving .* \(worker (\d+)\)/g)].map((match) => Number(match[1]))
}

const getUnix = (socketPath: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const request = httpRequest({ socketPath, path: "/", agent: false }, (response) => {
      let body = ""
      response.setEncoding("latin1")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resolve(body))
    })
    request.on("error", reject)
    request.end()
  })

describe("--bind and systemd's sockets: parsing", () => {
  it("parses HOST:PORT, [IPV6]:PORT, HOST, unix:PATH and fd://N, and refuses the rest", () => {
    expect(parseBind("127.0.0.1:8001")).toEqual({ kind: "tcp", host: "127.0.0.1", port: 8001 })
    expect(parseBind("[::1]:8002")).toEqual({ kind: "tcp", host: "::1", port: 8002 })
    expect(parseBind("example.test")).toEqual({ kind: "tcp", host: "example.test", port: 8000 })
    expect(parseBind("unix:/run/app.sock")).toEqual({ kind: "unix", path: "/run/app.sock" })
    expect(parseBind("fd://3")).toEqual({ kind: "fd", fd: 3 })
    for (const bad of ["", "unix:", "fd://x", "::1:80", "host:99999", ":80", "[::1]:x"]) expect(typeof parseBind(bad)).toBe("string")
    expect(formatBind({ kind: "tcp", host: "::1", port: 80 })).toBe("[::1]:80")
  })

  it("keeps --host/--port as one TCP bind beside the --bind ones, and leaves binds empty when none is given", () => {
    const both = parseArgs(["serve", "app.js", "--bind", "unix:/tmp/a.sock", "--bind", "fd://3", "--port", "9000"])
    expect(both).toMatchObject({ binds: [{ kind: "unix", path: "/tmp/a.sock" }, { kind: "fd", fd: 3 }, { kind: "tcp", host: "127.0.0.1", port: 9000 }], socketPath: "/tmp/a.sock" })
    expect(parseArgs(["serve", "app.js"])).toMatchObject({ binds: [], host: "127.0.0.1", port: 8000 })
    expect(parseArgs(["serve", "app.js", "--bind", "nope:"])).toMatchObject({ command: "error" })
  })

  it("takes systemd's sockets only when LISTEN_PID is this process, names them, and unsets the variables", () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: "2", LISTEN_PID: "42", LISTEN_FDNAMES: "web:admin" }
    expect(activatedBinds(env, 41)).toEqual([])
    expect(activatedBinds(env, 42)).toEqual([{ kind: "fd", fd: 3, name: "web" }, { kind: "fd", fd: 4, name: "admin" }])
    const command = { binds: [], host: "127.0.0.1", port: 8000 }
    expect(resolveBinds(command, env, 42)).toHaveLength(2)
    expect(env).toEqual({})
    expect(resolveBinds(command, { LISTEN_FDS: "1", LISTEN_PID: "7" }, 42)).toEqual([{ kind: "tcp", host: "127.0.0.1", port: 8000 }])
    // The workers get the primary's sockets as their fds 5, 6, … (after IPC and heartbeats).
    expect(workerBinds([{ kind: "tcp", host: "h", port: 1 }, { kind: "fd", fd: 3 }, { kind: "fd", fd: 4 }]).stdio).toEqual([3, 4])
  })
})

describe("--bind and systemd's sockets: real processes", () => {
  it("LISTEN_FDS=1, LISTEN_PID=its pid, --workers 1: serves on the inherited socket", async () => {
    const socket = await listeningSocket()
    const cliRun = activated(socket.fd, ["serve", app, "--quiet"])
    socket.handOver()
    const [, url, pid] = await logged(cliRun, /serving \S+ on (\S+) \(pid (\d+)\)/)
    expect(url).toBe(`http://127.0.0.1:${socket.port}/`)
    expect(Number(pid)).toBe(cliRun.child.pid)
    expect(pidIn(await get(socket.port))).toBe(cliRun.child.pid)
    cliRun.child.kill("SIGTERM")
    expect(await new Promise((resolve) => cliRun.child.once("exit", resolve))).toBe(0)
  })

  it("LISTEN_FDS with --workers 2: both workers share the inherited socket; a worker that dies is replaced on it", async () => {
    const socket = await listeningSocket()
    const cliRun = activated(socket.fd, ["serve", app, "--quiet", "--workers", "2"])
    socket.handOver()
    const pids = await workersServing(cliRun, 2)
    expect(cliRun.stderr()).toContain(`on http://127.0.0.1:${socket.port}/ (worker`)
    const seen = new Set<number>()
    for (let i = 0; i < 40; i++) seen.add(pidIn(await get(socket.port)))
    for (const pid of seen) expect(pids).toContain(pid)
    // A worker's exit closes only its own copy of the socket: its replacement listens too.
    expect(await get(socket.port, "/exit?code=1")).toEqual({ error: "ECONNRESET" })
    await workersServing(cliRun, 3)
    for (let i = 0; i < 10; i++) expect((await get(socket.port)) as { status: number }).toMatchObject({ status: 200 })
  })

  it("a lone supervised worker (--workers 1 --timeout 30) on fd://3 is replaced after a crash and serves again", async () => {
    const socket = await listeningSocket()
    const cliRun = run(process.execPath, [cli, "serve", app, "--quiet", "--bind", "fd://3", "--timeout", "30"], { fd: socket.fd })
    socket.handOver()
    const [first] = await workersServing(cliRun, 1)
    expect(pidIn(await get(socket.port))).toBe(first)
    await get(socket.port, "/exit?code=1")
    const pids = await workersServing(cliRun, 2)
    expect(pidIn(await get(socket.port))).toBe(pids[1])
  })

  it("--bind fd://3 explicitly, with no systemd variables", async () => {
    const socket = await listeningSocket()
    const cliRun = run(process.execPath, [cli, "serve", app, "--quiet", "--bind", "fd://3"], { fd: socket.fd })
    socket.handOver()
    await logged(cliRun, new RegExp(`serving \\S+ on http://127\\.0\\.0\\.1:${socket.port}/ \\(pid`))
    expect(pidIn(await get(socket.port))).toBe(cliRun.child.pid)
  })

  it("two --bind (TCP and unix) with --workers 2: one server each, both serve, one URL each in the log", async () => {
    const port = await freePort()
    const path = join(tempDir(), "app.sock")
    const cliRun = run(process.execPath, [cli, "serve", app, "--quiet", "--workers", "2", "--bind", `127.0.0.1:${port}`, "--bind", `unix:${path}`])
    await workersServing(cliRun, 2)
    expect(cliRun.stderr()).toContain(`on http://127.0.0.1:${port}/, http+unix://${encodeURIComponent(path)}/ (worker`)
    expect((await get(port)) as { status: number }).toMatchObject({ status: 200 })
    expect(await getUnix(path)).toMatch(/^pid=\d+ path=\/$/)
  })

  it("LISTEN_PID of another process: the variables are ignored and --port is served", async () => {
    const socket = await listeningSocket()
    const port = await freePort()
    const cliRun = run(process.execPath, [cli, "serve", app, "--quiet", "--port", String(port)], {
      fd: socket.fd,
      env: { LISTEN_FDS: "1", LISTEN_PID: "1" }
    })
    socket.handOver()
    await logged(cliRun, new RegExp(`serving \\S+ on http://127\\.0\\.0\\.1:${port}/ \\(pid`))
    expect(pidIn(await get(port))).toBe(cliRun.child.pid)
  })

  it.skipIf(!has("systemd-socket-activate"))("under systemd-socket-activate (systemd's own tool): started by the first connection, which is answered", async () => {
    const port = await freePort()
    const cliRun = run("systemd-socket-activate", ["-l", `127.0.0.1:${port}`, "--fdname=web", process.execPath, cli, "serve", app, "--quiet", "--workers", "2"])
    await logged(cliRun, /Listening on/)
    // Waits in the socket's backlog while the CLI starts.
    expect((await get(port)) as { status: number }).toMatchObject({ status: 200 })
    await workersServing(cliRun, 2)
  })

  it.skipIf(!has("systemd-notify") || !has("python3"))("NOTIFY_SOCKET: READY=1 once every worker listens, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on stop", async () => {
    const path = join(tempDir(), "notify.sock")
    // Node cannot bind a unix datagram socket: python3 listens and prints each datagram.
    const listener = run("python3", ["-u", "-c", [
      "import socket, sys",
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
      "s.bind(sys.argv[1])",
      "print('bound', flush=True)",
      "while True: print(s.recv(4096).decode().replace('\\n', ' '), flush=True)"
    ].join("\n"), path])
    await expect.poll(() => listener.stdout(), { timeout: 5_000 }).toContain("bound")
    const port = await freePort()
    const cliRun = run(process.execPath, [cli, "serve", app, "--quiet", "--workers", "2", "--port", String(port)], { env: { NOTIFY_SOCKET: path } })
    await expect.poll(() => listener.stdout(), { timeout: 10_000, interval: 20 }).toContain("READY=1")
    // Not before both workers listen.
    expect(cliRun.stderr().match(/serving .* \(worker \d+\)/g)).toHaveLength(2)
    expect(listener.stdout()).toContain("STATUS=2 workers serving")
    cliRun.child.kill("SIGHUP")
    await expect.poll(() => listener.stdout(), { timeout: 10_000, interval: 20 }).toMatch(/RELOADING=1[^]*READY=1 STATUS=2 workers serving \(reloaded\)/)
    cliRun.child.kill("SIGTERM")
    await expect.poll(() => listener.stdout(), { timeout: 10_000, interval: 20 }).toContain("STOPPING=1")
  })

  it("NOTIFY_SOCKET without systemd-notify on the PATH: one line says so, and the app is served all the same", async () => {
    const port = await freePort()
    const cliRun = run(process.execPath, [cli, "serve", app, "--quiet", "--port", String(port)], {
      env: { NOTIFY_SOCKET: join(tempDir(), "notify.sock"), PATH: "/nonexistent" }
    })
    await logged(cliRun, /NOTIFY_SOCKET is set but systemd-notify is not installed/)
    expect(pidIn(await get(port))).toBe(cliRun.child.pid)
  })
})
