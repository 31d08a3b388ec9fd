// The supervisor's signals with real workers and real load: SIGHUP reloads and SIGTTOU
// removes a worker while a load generator keeps every connection busy, and not one
// request is lost; SIGTTIN adds a worker; SIGTERM drains, then kills at the deadline.
import { describe, expect, it } from "vitest"
import { alive, app, freePort, get, load, logged, pidIn, serving, sleep, start } from "./harness.js"

/** Connections the load generator keeps busy. */
const LOOPS = 8

describe("effect-wsgi serve --workers 2: signals under load", () => {
  it("SIGHUP: new workers one at a time, the old ones drained; 0 failed requests, 0 resets", async () => {
    const port = await freePort()
    const cli = start("serve", `${app}:hello`, "--port", String(port), "--workers", "2", "--quiet", "--graceful-timeout", "5")
    await serving(cli, 2)
    const old = cli.servingPids()
    const run = load(port, LOOPS)
    await sleep(500)
    const before = run.counts.answered
    cli.child.kill("SIGHUP")
    await logged(cli, /reload done: 2 workers on the new code/)
    await expect.poll(() => old.some(alive), { timeout: 5_000 }).toBe(false)
    const during = run.counts.answered - before
    await sleep(300)
    const counts = await run.stop()
    console.log(`SIGHUP under load: sent ${counts.sent}, answered ${counts.answered} (${during} during the reload), failures ${JSON.stringify(counts.failures)}, resets ${counts.resets}, connections ${counts.connections}`)
    expect(counts.failures).toEqual({})
    expect(counts.resets).toBe(0)
    expect(counts.answered).toBe(counts.sent)
    expect(during).toBeGreaterThan(100)
    // Both old workers answered before, both new ones after; the old ones' connections
    // were closed between requests, and the clients opened new ones.
    const fresh = cli.servingPids().slice(2)
    expect(fresh).toHaveLength(2)
    for (const pid of [...old, ...fresh]) expect(counts.pids.get(pid) ?? 0).toBeGreaterThan(0)
    expect(counts.connections).toBeGreaterThan(LOOPS)
    expect(cli.stderr()).toMatch(/SIGHUP: starting 2 workers on freshly loaded code, one at a time/)
    cli.child.kill("SIGTERM")
    expect((await cli.exit).code).toBe(0)
  })

  it("SIGTTOU: one worker drained, the other serves on; 0 failed requests, 0 resets; SIGTTIN adds one back", async () => {
    const port = await freePort()
    const cli = start("serve", `${app}:hello`, "--port", String(port), "--workers", "2", "--quiet", "--graceful-timeout", "5")
    await serving(cli, 2)
    const run = load(port, LOOPS)
    await sleep(500)
    cli.child.kill("SIGTTOU")
    const [, victim] = await logged(cli, /SIGTTOU: 1 worker \(draining worker (\d+)\)/)
    await expect.poll(() => alive(Number(victim)), { timeout: 5_000 }).toBe(false)
    const afterDrain = run.counts.answered
    await sleep(500)
    const counts = await run.stop()
    console.log(`SIGTTOU under load: sent ${counts.sent}, answered ${counts.answered}, failures ${JSON.stringify(counts.failures)}, resets ${counts.resets}, connections ${counts.connections}`)
    expect(counts.failures).toEqual({})
    expect(counts.resets).toBe(0)
    expect(counts.answered).toBe(counts.sent)
    expect(counts.answered - afterDrain).toBeGreaterThan(100)
    const [first, second] = cli.servingPids()
    const survivor = Number(victim) === first ? second! : first!
    // Only the survivor answers now.
    for (let i = 0; i < 10; i++) expect(pidIn(await get(port))).toBe(survivor)
    cli.child.kill("SIGTTIN")
    await logged(cli, /SIGTTIN: 2 workers/)
    await serving(cli, 3)
    const added = cli.servingPids()[2]!
    const seen = new Set<number>()
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(pidIn(await get(port)))
    expect([...seen].sort()).toEqual([survivor, added].sort())
    // Never below one worker. (Each signal once the last was handled: the kernel merges
    // a signal sent while the same one is pending.)
    cli.child.kill("SIGTTOU")
    await logged(cli, /(SIGTTOU: 1 worker \(draining worker \d+\)[^]*){2}/)
    cli.child.kill("SIGTTOU")
    await logged(cli, /SIGTTOU: already down to 1 worker/)
    cli.child.kill("SIGTERM")
    expect((await cli.exit).code).toBe(0)
  })

  it("SIGHUP and SIGTTOU with a new connection per request: none lost (a worker leaves only once the primary hands it no more)", async () => {
    const port = await freePort()
    const cli = start("serve", `${app}:hello`, "--port", String(port), "--workers", "2", "--quiet", "--graceful-timeout", "5")
    await serving(cli, 2)
    const old = cli.servingPids()
    const run = load(port, LOOPS, "/", true)
    await sleep(300)
    cli.child.kill("SIGHUP")
    await logged(cli, /reload done: 2 workers on the new code/)
    await expect.poll(() => old.some(alive), { timeout: 5_000 }).toBe(false)
    cli.child.kill("SIGTTOU")
    const [, victim] = await logged(cli, /SIGTTOU: 1 worker \(draining worker (\d+)\)/)
    await expect.poll(() => alive(Number(victim)), { timeout: 5_000 }).toBe(false)
    await sleep(300)
    const counts = await run.stop()
    console.log(`SIGHUP + SIGTTOU, a connection per request: sent ${counts.sent}, answered ${counts.answered}, failures ${JSON.stringify(counts.failures)}, resets ${counts.resets}, connections ${counts.connections}`)
    expect(counts.failures).toEqual({})
    expect(counts.answered).toBe(counts.sent)
    expect(counts.connections).toBe(counts.sent)
    expect(counts.pids.size).toBe(4)
  })

  it("SIGTERM: requests in flight finish, then exit 0; one past --graceful-timeout is killed at the deadline", async () => {
    const port = await freePort()
    const cli = start("serve", app, "--port", String(port), "--workers", "2", "--quiet", "--graceful-timeout", "1")
    await serving(cli, 2)
    const quick = get(port, "/sleep?ms=400")
    const stuck = get(port, "/sleep?ms=10000")
    await sleep(150)
    const stopped = Date.now()
    cli.child.kill("SIGTERM")
    expect(await quick).toMatchObject({ status: 200 })
    expect(await stuck).toEqual({ error: "ECONNRESET" })
    expect((await cli.exit).code).toBe(0)
    const took = Date.now() - stopped
    expect(took).toBeGreaterThanOrEqual(950)
    expect(took).toBeLessThan(3_000)
    expect(cli.stderr()).toMatch(/^effect-wsgi: worker \d+ had not finished its requests after --graceful-timeout 1 s; killed \(SIGKILL\)$/m)
    expect(cli.stderr().match(/killed/g)).toHaveLength(1)
  })

  it("a worker told to stop by a SIGTERM of its own drains, and its successor is started at once", async () => {
    const port = await freePort()
    const cli = start("serve", app, "--port", String(port), "--workers", "2", "--quiet")
    await serving(cli, 2)
    const victim = cli.servingPids()[0]!
    process.kill(victim, "SIGTERM")
    await serving(cli, 3)
    await expect.poll(() => alive(victim), { timeout: 5_000 }).toBe(false)
    // Drained, so nothing to report.
    expect(cli.stderr()).not.toMatch(new RegExp(`worker ${victim} (exited|was killed)`))
    cli.child.kill("SIGTERM")
    expect((await cli.exit).code).toBe(0)
  })
})
