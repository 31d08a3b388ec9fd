// `--reload`, with real files and a real worker: an edit is served within 2 s, a save that
// does not compile is reported while the old code serves on, and the next good save serves.
import { writeFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { type Cli, freePort, get, logged, serving, sleep, start, tempDir } from "./harness.js"

/** A TypeScript app answering `VERSION MESSAGE`, MESSAGE from a local module. */
const appSource = (version: string): string => `import { message } from "./message.js"

export const app = (_environ: Record<string, unknown>, startResponse: (status: string, headers: Array<[string, string]>) => void): Array<Uint8Array> => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from(\`${version} \${message}\`)]
}
`

/** A project: app.ts, message.ts, and what else a test writes. */
const project = (): { dir: string; write(file: string, text: string): void } => {
  const dir = tempDir()
  const write = (file: string, text: string): void => writeFileSync(join(dir, file), text)
  write("app.ts", appSource("v1"))
  write("message.ts", `export const message: string = "hello"\n`)
  return { dir, write }
}

/** The body served now. */
const body = async (port: number): Promise<string> => {
  const reply = await get(port)
  return "body" in reply ? reply.body : `(${reply.error})`
}

/** Milliseconds until the server answers `expected` (polling every 25 ms), or a failure after `ms`. */
const servedWithin = async (port: number, expected: string, ms: number): Promise<number> => {
  const started = Date.now()
  for (let last = ""; Date.now() - started < ms; await sleep(25)) {
    last = await body(port)
    if (last === expected) return Date.now() - started
  }
  throw new Error(`not serving ${JSON.stringify(expected)} after ${ms} ms (serving ${JSON.stringify(await body(port))})`)
}

const serve = async (dir: string, ...extra: Array<string>): Promise<{ cli: Cli; port: number }> => {
  const port = await freePort()
  const cli = start("serve", join(dir, "app.ts"), "--port", String(port), "--reload", "--quiet", ...extra)
  await serving(cli, 1)
  // Once the first worker listens, a standby boots (everything loaded but the app), which
  // an edit then activates; as when a developer starts the server, then edits.
  await sleep(1_500)
  return { cli, port }
}

describe("effect-wsgi serve --reload", () => {
  it("an edit of the app file is served within 2 s; a broken save is reported and the old code serves on; the fix serves", async () => {
    const { dir, write } = project()
    const { cli, port } = await serve(dir)
    expect(await body(port)).toBe("v1 hello")

    write("app.ts", appSource("v2"))
    const took = await servedWithin(port, "v2 hello", 2_000)
    console.log(`--reload: the edit served after ${took} ms`)
    await logged(cli, new RegExp(`^effect-wsgi: ${join(dir, "app.ts").replace(/[.]/g, "\\.")} changed; reloading$`, "m"))
    expect(cli.stderr().match(/changed; reloading/g)).toHaveLength(1)

    // A syntax error, then a type annotation esbuild cannot strip: each printed, and v2 serves on.
    write("app.ts", appSource("v3").replace("return [", "return [[["))
    await logged(cli, /cannot load .*app\.ts: Transform failed with 1 error: .*app\.ts:\d+:\d+: ERROR: .*\n.*exited with code 2 before listening; the 1 worker it was to replace keeps serving/)
    for (let i = 0; i < 5; i++, await sleep(50)) expect(await body(port)).toBe("v2 hello")
    write("app.ts", appSource("v4").replace("const app =", "const app: =") )
    await expect.poll(() => cli.stderr().match(/cannot load/g)?.length ?? 0, { timeout: 5_000 }).toBe(2)
    expect(await body(port)).toBe("v2 hello")

    // A moment to read the error, as a developer would; the standby that replaces the one
    // the broken code took boots meanwhile.
    await sleep(1_000)
    write("app.ts", appSource("v5"))
    const fixed = await servedWithin(port, "v5 hello", 2_000)
    console.log(`--reload: the fix served after ${fixed} ms`)
    // The watcher outlived both errors, and one worker serves.
    cli.child.kill("SIGTERM")
    expect((await cli.exit).code).toBe(0)
  })

  it("watches the local modules of the app's tree; --reload-include adds files, --reload-exclude leaves some out", async () => {
    const { dir, write } = project()
    mkdirSync(join(dir, "generated"))
    mkdirSync(join(dir, "lib"))
    const { cli, port } = await serve(dir, "--reload-include", "*.txt", "--reload-exclude", "generated")
    expect(await body(port)).toBe("v1 hello")

    write("message.ts", `export const message: string = "bonjour"\n`)
    await servedWithin(port, "v1 bonjour", 2_000)
    await logged(cli, /message\.ts changed; reloading/)

    // Excluded, and not included by default: nothing happens.
    write("generated/out.ts", "export const x = 1\n")
    write("README.md", "# notes\n")
    await sleep(600)
    expect(cli.stderr().match(/changed; reloading/g)).toHaveLength(1)

    // A directory made after the start is watched as soon as it appears, the files written
    // into it at once included; a .txt file counts with --reload-include.
    write("lib/util.ts", "export const y = 2\n")
    await logged(cli, /lib\/util\.ts changed; reloading/)
    mkdirSync(join(dir, "lib", "deeper"))
    write("lib/deeper/more.ts", "export const z = 3\n")
    await logged(cli, /lib\/deeper\/more\.ts changed; reloading/)
    write("notes.txt", "reload me\n")
    await logged(cli, /notes\.txt changed; reloading/)
    expect(cli.stderr().match(/changed; reloading/g)).toHaveLength(4)
    await servedWithin(port, "v1 bonjour", 2_000)
  })
})
