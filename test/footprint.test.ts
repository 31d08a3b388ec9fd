/**
 * What importing the package costs: Effect by module, never its barrel, and
 * `@effect/platform` only where `toHttpApp` handles a request (see bench/footprint_*.mjs
 * for the figures).
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
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
