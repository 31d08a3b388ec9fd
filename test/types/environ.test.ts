/**
 * The type test of `Environ`: tsc, in a strict project of its own (test/types/tsconfig.json),
 * over example apps written as a user would (test/types/apps). They must type-check with no
 * casts, and every `@ts-expect-error` in apps/mustNotCompile.ts must still be an error, so
 * the test fails if the types become wrong or too loose.
 */
import { execFileSync } from "node:child_process"
import { dirname, isAbsolute, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, "..", "..")
const tsc = join(root, "node_modules", ".bin", "tsc")
const project = relative(root, join(here, "tsconfig.json"))

const EXAMPLES = ["hello.ts", "streaming.ts", "middleware.ts", "mustNotCompile.ts"]

/** tsc's exit code and everything it printed. */
const runTsc = (...args: Array<string>): { status: number; output: string } => {
  try {
    const output = execFileSync(tsc, ["-p", project, ...args], { cwd: root, encoding: "utf8", stdio: "pipe" })
    return { status: 0, output }
  } catch (error) {
    const failed = error as { status?: number | null; stdout?: string; stderr?: string; message: string }
    return { status: failed.status ?? -1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` || failed.message }
  }
}

describe("Environ in a user's strict project", () => {
  it("the example apps type-check, and what must not type-check does not", () => {
    const { status, output } = runTsc("--listFiles")
    const lines = output.split(/\r?\n/)
    // --listFiles prints each file of the program as an absolute path; the rest is diagnostics.
    const files = lines.filter((line) => isAbsolute(line.trim())).map((line) => line.trim().replace(/\\/g, "/"))
    const diagnostics = lines.filter((line) => line.trim() !== "" && !isAbsolute(line.trim())).join("\n")
    if (status !== 0) throw new Error(`tsc -p ${project} exited with ${status}:\n${diagnostics || output}`)
    // The examples were in the program (a tsconfig that lost them would pass vacuously).
    for (const example of EXAMPLES) {
      expect(files.some((file) => file.endsWith(`/test/types/apps/${example}`)), example).toBe(true)
    }
  }, 120_000)
})
