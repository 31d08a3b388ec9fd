// Stuck and dying workers, with real worker processes: a worker whose event loop is blocked
// past --timeout is killed and replaced, and the one log line says which worker, for how
// long, and the request it was serving; a worker that dies otherwise is reported with its
// signal or exit code (and "OOM" only when the cgroup's count says so).
import { describe, expect, it } from "vitest"
import { alive, app, freePort, get, logged, pidIn, serving, sleep, start } from "./harness.js"

describe("effect-wsgi serve: stuck and dying workers", () => {
  it("--timeout 1: a worker stuck in a request is killed (SIGKILL) and replaced; the other serves meanwhile", async () => {
    const port = await freePort()
    const cli = start("serve", app, "--port", String(port), "--workers", "2", "--quiet", "--timeout", "1")
    await serving(cli, 2)
    const started = Date.now()
    const stuck = get(port, "/block?ms=8000")
    await sleep(100)
    // The other worker answers while that one is stuck.
    const other = pidIn(await get(port, "/"))
    const line = await logged(cli, /^effect-wsgi: worker (\d+) blocked for (\d+\.\d) s serving GET \/block \((\d+\.\d) s\); killed \(SIGKILL\), starting another$/m)
    const took = Date.now() - started
    const [, victim, blocked, elapsed] = line
    expect(Number(victim)).not.toBe(other)
    expect(Number(blocked)).toBeGreaterThanOrEqual(1)
    expect(Number(blocked)).toBeLessThan(2)
    expect(Number(elapsed)).toBeGreaterThanOrEqual(Number(blocked))
    expect(took).toBeLessThan(2_500)
    // The stuck request's connection dies with its worker.
    expect(await stuck).toEqual({ error: "ECONNRESET" })
    expect(alive(Number(victim))).toBe(false)
    await serving(cli, 3)
    const seen = new Set<number>()
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(pidIn(await get(port)))
    expect(seen.has(Number(victim))).toBe(false)
    expect(seen.size).toBe(2)
    // One line says it all: no second report of the same death.
    expect(cli.stderr().match(new RegExp(`worker ${victim}`, "g"))).toHaveLength(2) // serving, killed
  })

  it("a block outside any request, and a stopped worker, are reported as such", async () => {
    const port = await freePort()
    const cli = start("serve", app, "--port", String(port), "--workers", "1", "--quiet", "--timeout", "1")
    await serving(cli, 1)
    const [first] = cli.servingPids()
    expect(await get(port, "/later?ms=8000")).toMatchObject({ status: 200 })
    await logged(cli, new RegExp(`^effect-wsgi: worker ${first} blocked for 1\\.\\d s while serving no request; killed \\(SIGKILL\\), starting another$`, "m"))
    await serving(cli, 2)
    // A stopped process sends no heartbeat (its watchdog thread is stopped too).
    const second = cli.servingPids()[1]!
    await sleep(500) // its first heartbeat is in: it gets no extra time for booting
    process.kill(second, "SIGSTOP")
    const line = await logged(cli, /^effect-wsgi: worker (\d+) sent no heartbeat for (\d+\.\d) s \(the process is stopped, or its watchdog thread failed\); killed \(SIGKILL\), starting another$/m)
    expect(Number(line[1])).toBe(second)
    expect(Number(line[2])).toBeLessThan(2.5)
    await serving(cli, 3)
    expect(pidIn(await get(port))).toBe(cli.servingPids()[2])
  })

  it("--timeout 0: no watchdog, a long block is left alone", async () => {
    const offPort = await freePort()
    const off = start("serve", app, "--port", String(offPort), "--workers", "2", "--quiet", "--timeout", "0")
    await serving(off, 2)
    expect(await get(offPort, "/block?ms=1500")).toMatchObject({ status: 200 })
    expect(off.stderr()).not.toMatch(/blocked|killed/)
  })

  it("a worker killed from outside, or exiting with a code, is reported with its signal or code; no OOM guess", async () => {
    const port = await freePort()
    const cli = start("serve", app, "--port", String(port), "--workers", "2", "--quiet")
    await serving(cli, 2)
    const [first] = cli.servingPids()
    process.kill(first!, "SIGKILL")
    await logged(cli, new RegExp(`^effect-wsgi: worker ${first} was killed by SIGKILL from outside effect-wsgi \\((not by the OOM killer: the cgroup's oom_kill count did not change)?(; )?(last RSS \\d+\\.\\d MiB)?\\); starting another$`, "m"))
    await serving(cli, 3)
    expect(cli.stderr()).not.toMatch(/out of memory|OOM killer\b(?!:)/i)
    // A worker that exits with a code of its own (the request is cut with it).
    const before = cli.servingPids()
    expect(await get(port, "/exit?code=7")).toMatchObject({ error: expect.stringMatching(/ECONNRESET|socket hang up/) })
    const [, exiting] = await logged(cli, /^effect-wsgi: worker (\d+) exited with code 7; starting another$/m)
    expect(before).toContain(Number(exiting))
    await serving(cli, 4)
    for (let i = 0; i < 10; i++) expect(pidIn(await get(port))).not.toBe(Number(exiting))
    cli.child.kill("SIGTERM")
    expect((await cli.exit).code).toBe(0)
  })
})
