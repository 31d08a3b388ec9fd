// Recycling, with real workers under load: --max-requests (with jitter) and --max-rss
// replace a worker by starting its successor first and draining it after, so even a single
// worker is recycled without one failed request.
import { describe, expect, it } from "vitest"
import { alive, app, freePort, get, load, logged, pidIn, serving, sleep, start } from "./harness.js"

describe("effect-wsgi serve: recycling workers", () => {
  it("--max-requests 200 --max-requests-jitter 50 with one worker: replaced after 200 to 250 requests, under load, 0 failed requests", async () => {
    const port = await freePort()
    const cli = start("serve", `${app}:hello`, "--port", String(port), "--max-requests", "200", "--max-requests-jitter", "50", "--quiet")
    await serving(cli, 1)
    const run = load(port, 4)
    // Until three workers were recycled (each successor takes a moment to boot).
    await logged(cli, /(served \d+ requests[^]*){3}/, 15_000)
    const counts = await run.stop()
    console.log(`--max-requests under load: sent ${counts.sent}, answered ${counts.answered}, failures ${JSON.stringify(counts.failures)}, resets ${counts.resets}, workers ${counts.pids.size}`)
    expect(counts.failures).toEqual({})
    expect(counts.answered).toBe(counts.sent)
    const lines = [...cli.stderr().matchAll(/^effect-wsgi: worker (\d+) served (\d+) requests \(--max-requests 200 \+ up to 50\); replacing it$/gm)]
    expect(lines.length).toBeGreaterThanOrEqual(3)
    for (const [, , served] of lines) {
      expect(Number(served)).toBeGreaterThanOrEqual(200)
      expect(Number(served)).toBeLessThanOrEqual(250)
    }
    // The jitter is drawn per worker (three equal draws of 51 would be a 1 in 2 601 chance).
    expect(new Set(lines.map(([, , served]) => served)).size).toBeGreaterThan(1)
    // Each recycled worker answered, and is gone (drained, so no exit line).
    const recycled = lines.map(([, pid]) => Number(pid))
    for (const pid of recycled) expect(counts.pids.get(pid)).toBeGreaterThanOrEqual(200)
    await expect.poll(() => recycled.filter(alive), { timeout: 5_000 }).toEqual([])
    expect(cli.stderr()).not.toMatch(/exited|killed/)
    cli.child.kill("SIGTERM")
    expect((await cli.exit).code).toBe(0)
  })

  it("--max-rss 180: a worker whose resident memory passes 180 MiB is replaced, its successor started first", async () => {
    const port = await freePort()
    const cli = start("serve", app, "--port", String(port), "--max-rss", "180", "--timeout", "1", "--quiet")
    await serving(cli, 1)
    const [first] = cli.servingPids()
    await sleep(400) // a few heartbeats under the mark: nothing happens
    expect(cli.stderr()).not.toMatch(/replacing/)
    expect(pidIn(await get(port, "/grow?mb=150"))).toBe(first)
    const [, mib] = await logged(cli, new RegExp(`^effect-wsgi: worker ${first} uses (\\d+\\.\\d) MiB \\(--max-rss 180\\); replacing it$`, "m"))
    expect(Number(mib)).toBeGreaterThan(180)
    await serving(cli, 2)
    await expect.poll(() => alive(first!), { timeout: 5_000 }).toBe(false)
    expect(pidIn(await get(port))).toBe(cli.servingPids()[1])
    expect(cli.stderr().match(/replacing it/g)).toHaveLength(1)
  })
})
