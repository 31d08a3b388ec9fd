// The supervisor's pure parts, without processes: the new options, the in-flight board,
// the heartbeat lines, the exit descriptions and the reload globs.
import { describe, expect, it } from "vitest"
import { BOARD_BYTES, BoardWriter, readBoard } from "../../src/internal/cli/board.js"
import { isSupervised, parseArgs, type ServeCommand } from "../../src/internal/cli/cliArgs.js"
import { describeExit, oomCountFiles, oomKillCount } from "../../src/internal/cli/exitReason.js"
import { anyMatch, compileGlob, globToRegExp } from "../../src/internal/cli/glob.js"
import { asMessage, formatBeat, parseBeat } from "../../src/internal/cli/messages.js"
import { beatInterval } from "../../src/internal/cli/watchdog.js"

const serve = (...args: Array<string>): ServeCommand => parseArgs(["serve", "app.ts", ...args]) as ServeCommand

describe("the supervisor's options", () => {
  it("reads them, with their defaults", () => {
    expect(serve()).toMatchObject({ timeout: null, gracefulTimeout: 30, maxRequests: 0, maxRequestsJitter: 0, maxRss: 0, reload: false, reloadInclude: [], reloadExclude: [] })
    expect(serve("--timeout", "1.5", "--graceful-timeout=2", "--max-requests", "1000", "--max-requests-jitter", "50", "--max-rss", "512", "--reload", "--reload-include", "*.html", "--reload-include=*.txt", "--reload-exclude", "dist")).toMatchObject({
      timeout: 1.5,
      gracefulTimeout: 2,
      maxRequests: 1000,
      maxRequestsJitter: 50,
      maxRss: 512,
      reload: true,
      reloadInclude: ["*.html", "*.txt"],
      reloadExclude: ["dist"]
    })
  })

  it.each([
    [["--timeout", "soon"], "--timeout needs seconds (got soon)"],
    [["--graceful-timeout", "-1"], "--graceful-timeout needs seconds (got -1)"],
    [["--max-requests", "1e3"], "--max-requests needs a whole number (got 1e3)"],
    [["--max-rss"], "--max-rss needs MiB (got nothing)"],
    [["--max-requests-jitter", "5"], "--max-requests-jitter needs --max-requests"],
    [["--reload-exclude", "dist"], "--reload-include and --reload-exclude need --reload"],
    [["--reload", "--reload-include="], "--reload-include needs a glob"]
  ])("refuses %j", (args, message) => {
    expect(parseArgs(["serve", "app.ts", ...args])).toEqual({ command: "error", message })
  })

  it("a supervisor runs for several workers, or for any option that replaces a worker", () => {
    expect(isSupervised(serve())).toBe(false)
    expect(isSupervised(serve("--graceful-timeout", "5"))).toBe(false)
    for (const args of [["--workers", "2"], ["--workers", "0"], ["--reload"], ["--max-requests", "5"], ["--max-rss", "100"], ["--timeout", "30"]]) {
      expect(isSupervised(serve(...args))).toBe(true)
    }
  })

  it("heartbeats come at a fifth of --timeout, between 50 ms and 1 s", () => {
    expect([beatInterval(30_000), beatInterval(1_000), beatInterval(100)]).toEqual([1_000, 200, 50])
  })
})

describe("the in-flight board", () => {
  it("names the newest request in flight, without its query, and forgets finished ones", () => {
    const board = new BoardWriter(new SharedArrayBuffer(BOARD_BYTES))
    expect(readBoard(board.buffer)).toEqual({ ticks: 0, newest: null, inFlight: 0 })
    const [a, b, c] = [{}, {}, {}]
    board.begin(a, "GET", "/first?token=secret")
    board.begin(b, "POST", "/second")
    board.tick()
    const reading = readBoard(board.buffer)
    expect(reading).toMatchObject({ ticks: 1, inFlight: 2, newest: { method: "POST", path: "/second" } })
    expect(Date.now() - reading.newest!.startedAt).toBeLessThan(1_000)
    board.end(b)
    expect(readBoard(board.buffer).newest).toMatchObject({ method: "GET", path: "/first" })
    board.end(a)
    expect(readBoard(board.buffer)).toMatchObject({ newest: null, inFlight: 0 })
    // A long path is cut to what a slot holds; a latin1 byte stays itself.
    board.begin(c, "GET", `/${"x".repeat(500)}\u00e9`)
    expect(readBoard(board.buffer).newest!.path).toBe(`/${"x".repeat(239)}`)
  })

  it("more requests than slots: the newest stay known, and a reused slot is not freed by its old owner", () => {
    const board = new BoardWriter(new SharedArrayBuffer(BOARD_BYTES))
    const owners = Array.from({ length: 70 }, () => ({}))
    owners.forEach((owner, i) => board.begin(owner, "GET", `/r${i}`))
    expect(readBoard(board.buffer)).toMatchObject({ inFlight: 64, newest: { path: "/r69" } })
    // /r5's slot was reused by /r69 (64 slots): /r5 ending leaves /r69 in flight.
    board.end(owners[5]!)
    expect(readBoard(board.buffer)).toMatchObject({ inFlight: 64, newest: { path: "/r69" } })
    board.end(owners[69]!)
    expect(readBoard(board.buffer)).toMatchObject({ inFlight: 63, newest: { path: "/r68" } })
  })
})

describe("what the supervisor and its workers say", () => {
  it("heartbeat lines round-trip; anything else is no heartbeat", () => {
    const beat = { blocked: 31_200, rss: 52_428_800, request: { method: "GET", path: "/slow", elapsed: 31_500 }, inFlight: 1 }
    const line = formatBeat(beat)
    expect(line.endsWith("\n")).toBe(true)
    expect(parseBeat(line.trimEnd())).toEqual(beat)
    for (const junk of ["", "{", "42", "null", '{"blocked":"x","rss":1}']) expect(parseBeat(junk)).toBeNull()
  })

  it("IPC messages: ours are recognized, anything else ignored", () => {
    expect(asMessage({ effectWsgi: "drain" })).toEqual({ effectWsgi: "drain" })
    expect(asMessage({ effectWsgi: "recycle", served: 5 })).toEqual({ effectWsgi: "recycle", served: 5 })
    for (const other of [null, "effect-wsgi:stop", { effectWsgi: "recycle" }, { effectWsgi: "nope" }, { cmd: "NODE_CLUSTER" }]) expect(asMessage(other)).toBeNull()
  })
})

describe("why a worker exited", () => {
  it("says OOM only when the cgroup's OOM kill count went up", () => {
    expect(describeExit({ code: null, signal: "SIGKILL", lastRss: 2 * 1_048_576 * 1_024, oom: { before: 3, now: 4 } })).toBe(
      "was killed by the kernel's OOM killer (SIGKILL; the cgroup's oom_kill count went from 3 to 4; last RSS 2048.0 MiB)"
    )
    expect(describeExit({ code: null, signal: "SIGKILL", lastRss: 0, oom: "unchanged" })).toBe(
      "was killed by SIGKILL from outside effect-wsgi (not by the OOM killer: the cgroup's oom_kill count did not change)"
    )
    expect(describeExit({ code: null, signal: "SIGKILL", lastRss: 45 * 1_048_576, oom: "unknown" })).toBe("was killed by SIGKILL from outside effect-wsgi (last RSS 45.0 MiB)")
    expect(describeExit({ code: null, signal: "SIGSEGV", lastRss: 0, oom: "unknown" })).toBe("was killed by SIGSEGV")
    expect(describeExit({ code: 7, signal: null, lastRss: 10 * 1_048_576, oom: "unknown" })).toBe("exited with code 7")
  })

  it("finds the OOM kill count of cgroup v2 and v1", () => {
    expect(oomCountFiles("0::/system.slice/app.service\n")).toEqual(["/sys/fs/cgroup/system.slice/app.service/memory.events", "/sys/fs/cgroup/memory.events"])
    expect(oomCountFiles("4:memory:/docker/abc\n1:cpu:/\n0::/\n")).toEqual([
      "/sys/fs/cgroup/memory/docker/abc/memory.oom_control",
      "/sys/fs/cgroup/memory/memory.oom_control",
      "/sys/fs/cgroup/memory.events",
      "/sys/fs/cgroup/memory.events"
    ])
    expect(oomKillCount("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n")).toBe(2)
    expect(oomKillCount("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n")).toBe(5)
    expect(oomKillCount("oom_kill_disable 0\n")).toBeNull()
  })
})

describe("--reload's globs", () => {
  it.each([
    ["*.ts", "app.ts", true],
    ["*.ts", "src/deep/app.ts", true],
    ["*.ts", "app.tsx", false],
    ["*.{ts,mts}", "lib/x.mts", true],
    ["node_modules", "node_modules/x/index.js", true],
    ["node_modules", "src/node_modules_like.ts", false],
    [".*", ".git/HEAD", true],
    [".*", "src/.app.ts.swp", true],
    ["*~", "app.ts~", true],
    ["src/*.ts", "src/app.ts", true],
    ["src/*.ts", "src/lib/app.ts", false],
    ["src/**/*.ts", "src/app.ts", true],
    ["src/**/*.ts", "src/lib/deep/app.ts", true],
    ["/dist", "dist/app.js", true],
    ["./dist/", "dist/sub/app.js", true],
    ["dist/", "src/dist/app.js", false],
    ["file?.json", "file1.json", true],
    ["file[!0-9].json", "file1.json", false],
    ["file[!0-9].json", "filea.json", true],
    ["a+b(c).ts", "a+b(c).ts", true]
  ])("%s matches %s: %s", (glob, path, expected) => {
    expect(compileGlob(glob)(path)).toBe(expected)
  })

  it("anyMatch is any; globToRegExp is anchored", () => {
    expect(anyMatch([compileGlob("*.js"), compileGlob("*.ts")], "a.ts")).toBe(true)
    expect(anyMatch([], "a.ts")).toBe(false)
    expect(globToRegExp("*.ts").test("x.ts.bak")).toBe(false)
  })
})
