/**
 * What importing the package costs: Effect by module, never its barrel, and
 * `@effect/platform` only where `toHttpApp` handles a request; our own code as one built
 * module (see bench/footprint_*.mjs for the figures).
 */
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..", "src")

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

// Value imports (not `import type`), with the module they name.
const valueImports = (text: string): Array<string> =>
  [...text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gms)].map((match) => match[1]!)

describe("the package's imports", () => {
  const files = sources(root).map((file) => ({ file: relative(root, file), imports: valueImports(readFileSync(file, "utf8")) }))

  it("finds the sources and their imports", () => {
    expect(files.length).toBeGreaterThan(30)
    expect(files.some(({ imports }) => imports.includes("effect/Effect"))).toBe(true)
  })

  it("never imports the effect barrel", () => {
    expect(files.filter(({ imports }) => imports.includes("effect")).map(({ file }) => file)).toEqual([])
  })

  it("imports @effect/platform only in the modules toHttpApp loads on its first request", () => {
    const platform = files.filter(({ imports }) => imports.some((name) => name.startsWith("@effect/platform")))
    expect(platform.map(({ file }) => file).sort()).toEqual([join("internal", "httpApp.ts"), join("internal", "httpAppChannel.ts")])
    // The channel is reached only through httpApp.ts, which HttpApp.ts loads with import().
    const channelImporters = files.filter(({ imports }) => imports.some((name) => name.endsWith("/httpAppChannel.js")))
    expect(channelImporters.map(({ file }) => file)).toEqual([join("internal", "httpApp.ts")])
    const httpAppImporters = files.filter(({ imports }) => imports.some((name) => name.endsWith("internal/httpApp.js")))
    expect(httpAppImporters.map(({ file }) => file)).toEqual([])
  })
})

/** The functions and classes a module exports, and those of the namespaces it exports: key → `.name`. */
const exportedNames = (module: Record<string, unknown>): Record<string, string> => {
  const names: Record<string, string> = {}
  for (const key of Object.keys(module).sort()) {
    const value = module[key]
    if (typeof value === "function") names[key] = value.name
    else if (value !== null && typeof value === "object") {
      for (const [inner, member] of Object.entries(value)) if (typeof member === "function") names[`${key}.${inner}`] = member.name
    }
  }
  return names
}

// The built library (npm test builds it first: scripts/ensure.mjs), as a user's process loads it.
describe("the built library", () => {
  const dist = join(import.meta.dirname, "..", "dist")
  const loader = `data:text/javascript,${encodeURIComponent(
    "export async function load(url, context, next) { if (url.startsWith('file:')) process.stderr.write(`loaded ${url}\\n`); return next(url, context) }"
  )}`
  const register = `data:text/javascript,${encodeURIComponent(`import { register } from "node:module"; register(${JSON.stringify(loader)})`)}`

  // Imports dist/index.js in a fresh node, runs `script` there, and lists the package's files it loaded.
  const loadedBy = (script: string): { readonly ours: Array<string>; readonly stdout: string } => {
    const child = spawnSync(process.execPath, ["--import", register, "--input-type=module", "-e", script], { cwd: dist, encoding: "utf8" })
    expect(child.status, child.stderr).toBe(0)
    const urls = [...child.stderr.matchAll(/^loaded (.*)$/gm)].map((match) => fileURLToPath(match[1]!))
    return { ours: urls.filter((file) => file.startsWith(dist)).map((file) => relative(dist, file)), stdout: child.stdout }
  }

  it("is one module of ours, besides the parts loaded later", () => {
    const { ours } = loadedBy(`const m = await import("./index.js"); console.log(typeof m.makeServer)`)
    expect(ours[0]).toBe("index.js")
    // Then the chunks esbuild split off (what index.js shares with demo.js and the lazy
    // parts), and none of tsc's per-module files (68 of them are reached from its index.js).
    expect(ours.slice(1).every((file) => file.startsWith(`chunks${sep}chunk-`))).toBe(true)
    expect(ours.length).toBeLessThanOrEqual(10)
  })

  it("loads toHttpApp's runtime and the platform on the first request, and answers it", () => {
    const { ours, stdout } = loadedBy([
      `const { toHttpApp } = await import("./index.js")`,
      `const { toWebHandler } = await import("@effect/platform/HttpApp")`,
      `const handler = toWebHandler(toHttpApp((environ, startResponse) => { startResponse("200 OK", [["Content-Type", "text/plain"]]); return [Buffer.from(environ.PATH_INFO)] }))`,
      `const response = await handler(new Request("http://example.test/hi"))`,
      `console.log(response.status, await response.text())`
    ].join("\n"))
    expect(stdout).toBe("200 /hi\n")
    expect(ours.filter((file) => file.startsWith(`chunks${sep}httpApp-`))).toHaveLength(1)
  })

  it("keeps the name of everything it exports, as the sources have it (messages and reprs print them)", async () => {
    const built = JSON.parse(loadedBy(`console.log(JSON.stringify((${exportedNames.toString()})(await import("./index.js"))))`).stdout)
    const sources = exportedNames(await import("../src/index.js"))
    expect(Object.keys(built).length).toBeGreaterThan(40)
    expect(built).toEqual(sources)
    expect(built["SimpleHandler"]).toBe("SimpleHandler")
    expect(built["makeServer"]).toBe("makeServer")
  })
})
