// `effect-wsgi serve --config FILE`, EFFECT_WSGI_ARGS, --check-config and --print-config,
// run as `dist/cli.js` (run `npm run build` first); and the one list of options, held
// against --help and the README's table.
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { usage } from "../../src/internal/cli/cliArgs.js"
import { configToArgs, mergeSources, splitShellWords } from "../../src/internal/cli/config.js"
import { OPTIONS } from "../../src/internal/cli/options.js"
import { freePort, get, logged, root, start, startWith, tempDir } from "./harness.js"

const app = "test/fixtures/cliTlsApp.mjs"
const cli = join(root, "dist", "cli.js")

/** Run the CLI to its end: exit code, stdout, stderr. */
const run = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: root, env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr })
    )
  })

const write = (name: string, text: string): string => {
  const path = join(tempDir(), name)
  writeFileSync(path, text)
  return path
}

const servedPort = async (cli: ReturnType<typeof start>): Promise<number> =>
  Number((await logged(cli, /serving \S+ on http:\/\/127\.0\.0\.1:(\d+)\//))[1])

describe("--config", () => {
  it("a .json file: serves on its port", async () => {
    const port = await freePort()
    const config = write("effect-wsgi.json", JSON.stringify({ host: "127.0.0.1", port, quiet: true }))
    const server = start("serve", app, "--config", config)
    expect(await servedPort(server)).toBe(port)
    expect(await get(port)).toMatchObject({ status: 200 })
    expect(server.stderr()).not.toMatch(/"GET \/ HTTP/) // quiet: no access log
  })

  it("a .ts file (its default export): serves on its port", async () => {
    const port = await freePort()
    const config = write("effect-wsgi.config.ts", `const port: number = ${port}\nexport default { host: "127.0.0.1", port, workers: 1 }\n`)
    const server = start("serve", app, "--config", config)
    expect(await servedPort(server)).toBe(port)
    expect(await get(port)).toMatchObject({ status: 200 })
  })

  it("a flag on the command line wins over the file", async () => {
    const [filePort, flagPort] = [await freePort(), await freePort()]
    const config = write("c.json", JSON.stringify({ port: filePort }))
    const server = start("serve", app, "--config", config, "--port", String(flagPort))
    expect(await servedPort(server)).toBe(flagPort)
  })
})

describe("EFFECT_WSGI_ARGS", () => {
  it("is read as more flags, and the command line's win over them", async () => {
    const [envPort, flagPort] = [await freePort(), await freePort()]
    const alone = startWith({ EFFECT_WSGI_ARGS: `--port ${envPort} --quiet` }, "serve", app)
    expect(await servedPort(alone)).toBe(envPort)
    const overridden = startWith({ EFFECT_WSGI_ARGS: `--port ${envPort}` }, "serve", app, "--port", String(flagPort))
    expect(await servedPort(overridden)).toBe(flagPort)
  })
})

describe("a repeatable option from several sources", () => {
  it("the command line's --bind replaces the file's and EFFECT_WSGI_ARGS's instead of adding to them; each source's repeats add up", async () => {
    const config = write("binds.json", JSON.stringify({ bind: ["127.0.0.1:9001", "127.0.0.1:9002"], reloadInclude: ["*.html", "*.css"] }))
    const result = await run(
      ["serve", `${app}:app`, "--config", config, "--bind", "127.0.0.1:9003", "--bind", "127.0.0.1:9004", "--reload", "--reload-exclude", "build", "--print-config"],
      { EFFECT_WSGI_ARGS: "--bind 127.0.0.1:9005 --reload-exclude dist" }
    )
    expect(result).toMatchObject({ code: 0, stderr: "" })
    const printed = JSON.parse(result.stdout) as { binds: Array<{ port: number }>; reloadInclude: Array<string>; reloadExclude: Array<string> }
    expect(printed.binds.map(({ port }) => port)).toEqual([9003, 9004])
    // Given by the file alone: kept.
    expect(printed.reloadInclude).toEqual(["*.html", "*.css"])
    expect(printed.reloadExclude).toEqual(["build"])
  })

  it("EFFECT_WSGI_ARGS's --bind replaces the file's when the command line gives none", async () => {
    const config = write("binds2.json", JSON.stringify({ bind: "127.0.0.1:9001" }))
    const result = await run(["serve", `${app}:app`, "--config", config, "--print-config"], { EFFECT_WSGI_ARGS: "--bind 127.0.0.1:9005" })
    expect(result).toMatchObject({ code: 0, stderr: "" })
    expect((JSON.parse(result.stdout) as { binds: Array<{ port: number }> }).binds.map(({ port }) => port)).toEqual([9005])
  })

  it("mergeSources keeps a repeatable flag's values from the last source that gives it, values in the same word too", () => {
    expect(mergeSources([["--bind", "a", "--port", "1"], ["--bind=b", "--quiet"], ["x.mjs", "--bind", "c", "--bind", "d"]])).toEqual([
      "--port",
      "1",
      "--quiet",
      "x.mjs",
      "--bind",
      "c",
      "--bind",
      "d"
    ])
    expect(mergeSources([["--reload-include", "*.a"], ["--bind", "b"], []])).toEqual(["--reload-include", "*.a", "--bind", "b"])
  })
})

describe("--print-config", () => {
  it("prints the options in effect, merged from the file, EFFECT_WSGI_ARGS and the command line, as JSON", async () => {
    const config = write("c.json", JSON.stringify({ port: 9001, workers: 3, forwardedAllowIps: ["10.0.0.1", "10.0.0.2"], reloadInclude: "*.html", reload: true }))
    const result = await run(["serve", `${app}:app`, "--config", config, "--workers", "2", "--print-config"], {
      EFFECT_WSGI_ARGS: `--quiet --host "::1" --port 9002 --graceful-timeout '5'`
    })
    expect(result).toMatchObject({ code: 0, stderr: "" })
    expect(JSON.parse(result.stdout)).toMatchObject({
      file: app,
      exportName: "app",
      host: "::1",
      port: 9002,
      workers: 2,
      quiet: true,
      gracefulTimeout: 5,
      forwardedAllowIps: ["10.0.0.1", "10.0.0.2"],
      reload: true,
      reloadInclude: ["*.html"],
      certfile: null,
      http2: false
    })
  })
})

describe("--check-config", () => {
  it("exits 0 for a good app and config", async () => {
    const config = write("c.json", JSON.stringify({ port: 0 }))
    const result = await run(["serve", app, "--config", config, "--check-config"])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/are fine\n$/)
  })

  it("exits 2 naming the problem: an app that does not load", async () => {
    const result = await run(["serve", "test/fixtures/nonexistent.mjs", "--check-config"])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^effect-wsgi: .*nonexistent\.mjs.*\n$/)
  })

  it("exits 2 naming the problem: an unknown key in the config", async () => {
    const config = write("c.json", JSON.stringify({ port: 0, maxBodySize: 10 }))
    const result = await run(["serve", app, "--config", config, "--check-config"])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(`effect-wsgi: ${config}: unknown option "maxBodySize"\n`)
  })

  it("exits 2 naming the problem: a value of the wrong type, or a usage error", async () => {
    const config = write("c.json", JSON.stringify({ quiet: "yes" }))
    const wrongType = await run(["serve", app, "--config", config, "--check-config"])
    expect(wrongType).toMatchObject({ code: 2, stderr: `effect-wsgi: ${config}: quiet needs true or false (got "yes")\n` })
    const usageError = await run(["serve", app, "--http2", "--check-config"])
    expect(usageError.code).toBe(2)
    expect(usageError.stderr).toMatch(/^effect-wsgi: --http2 needs --certfile and --keyfile[^\n]*\n$/)
  })
})

describe("the option list", () => {
  it("splits EFFECT_WSGI_ARGS as a shell does", () => {
    expect(splitShellWords(` --host  "a b" --x='c d'e \\"f "g\\"h" '' `)).toEqual(["--host", "a b", "--x=c de", '"f', 'g"h', ""])
    expect(() => splitShellWords(`--host "open`)).toThrow(/unterminated "/)
  })

  it("turns a config object into flags by the one table", () => {
    expect(configToArgs({ port: 80, validate: true, quiet: false, proxyAllowIps: ["a", "b"], reloadExclude: ["x", "y"] }, "f")).toEqual([
      "--port", "80", "--validate", "--proxy-allow-ips", "a,b", "--reload-exclude", "x", "--reload-exclude", "y"
    ])
    expect(() => configToArgs({ config: "other.json" }, "f")).toThrow('f: unknown option "config"')
  })

  it("--help and the README's table name every option of the table, and no other", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const section = readme.slice(readme.indexOf("## The command line"), readme.indexOf("\n## ", readme.indexOf("## The command line") + 1))
    const inReadme = [...section.matchAll(/^\| `(--[a-z0-9-]+)/gm)].map((match) => match[1])
    const inUsage = [...usage.matchAll(/^ {2}(--[a-z0-9-]+)/gm)].map((match) => match[1])
    const flags = OPTIONS.map((option) => option.flag)
    expect(inUsage).toEqual(flags)
    expect(inReadme).toEqual(flags)
  })
})
