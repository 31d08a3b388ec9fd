/**
 * `shiftPathInfo` laws, for any SCRIPT_NAME and PATH_INFO built from segments that include
 * "", ".", ".." and odd characters:
 *
 * - SCRIPT_NAME + PATH_INFO names the same path before and after a shift (modulo
 *   normalisation: empty and "." segments dropped, ".." resolved, the trailing slash aside);
 * - a shift that returns a segment makes PATH_INFO strictly shorter, so shifting until
 *   null terminates (within one step per segment, plus one);
 * - the segment returned holds no "/", is never "." and is "" only for a trailing slash
 *   (with nothing but empty and "." segments before it);
 *   SCRIPT_NAME ends with it afterwards (a ".." climbs instead);
 * - null leaves the environ alone when PATH_INFO is empty, and keys other than the two
 *   paths are never touched;
 * - CPython's `wsgiref.util.shift_path_info` agrees on every step (one python3 run).
 */
import { spawnSync } from "node:child_process"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { CgiVariables } from "../../src/Protocol.js"
import { shiftPathInfo } from "../../src/Util.js"

const NUM_RUNS = 200

const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("", ".", "..", "a", "b", "x y", "%2F", "é", "...", ".a", "a.") },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom("a", ".", " ", ";", "%"), maxLength: 3 }) }
)
/** "" or "/s1/s2…": the shape CGI gives both variables. */
const path = fc.array(segment, { maxLength: 5 }).map((segs) => segs.map((s) => `/${s}`).join(""))
const environ = fc.record({ SCRIPT_NAME: path, PATH_INFO: path })

/** The segments a path names once "", "." and ".." are resolved from the root. */
const resolved = (text: string): Array<string> => {
  const out: Array<string> = []
  for (const part of text.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") out.pop()
    else out.push(part)
  }
  return out
}

const MAX_STEPS = 20

/** Shift until null; every intermediate state. */
const shiftAll = (start: CgiVariables): Array<{ readonly name: string | null; readonly environ: CgiVariables }> => {
  const env: CgiVariables = { ...start }
  const steps: Array<{ readonly name: string | null; readonly environ: CgiVariables }> = []
  for (let i = 0; i < MAX_STEPS; i++) {
    const name = shiftPathInfo(env)
    steps.push({ name, environ: { ...env } })
    if (name === null) break
  }
  return steps
}

describe("shiftPathInfo laws", () => {
  it("SCRIPT_NAME + PATH_INFO names the same path after every shift", () => {
    fc.assert(
      fc.property(environ, (start) => {
        const whole = resolved(`${start.SCRIPT_NAME}${start.PATH_INFO}`)
        for (const { environ: env } of shiftAll(start)) {
          expect(resolved(`${env["SCRIPT_NAME"]}${env["PATH_INFO"]}`)).toEqual(whole)
        }
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("terminates: each shift that returns a segment shortens PATH_INFO, and the last returns null", () => {
    fc.assert(
      fc.property(environ, (start) => {
        const steps = shiftAll(start)
        expect(steps.at(-1)!.name).toBeNull()
        expect(steps.length).toBeLessThanOrEqual(start.PATH_INFO.split("/").length + 1)
        let previous = start.PATH_INFO
        for (const { name, environ: env } of steps) {
          const now = env["PATH_INFO"] as string
          if (name !== null) expect(now.length).toBeLessThan(previous.length)
          previous = now
        }
        // Shifting again after null changes nothing.
        const last = { ...steps.at(-1)!.environ }
        expect(shiftPathInfo(last)).toBeNull()
        expect(last).toEqual(steps.at(-1)!.environ)
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("the segment returned: no '/', never '.', '' only for a trailing slash; SCRIPT_NAME ends with it", () => {
    fc.assert(
      fc.property(environ, (start) => {
        let before: CgiVariables = { ...start }
        for (const { name, environ: env } of shiftAll(start)) {
          if (name !== null) {
            expect(name).not.toContain("/")
            expect(name).not.toBe(".")
            const scriptName = env["SCRIPT_NAME"] as string
            if (name === "") {
              // Only a trailing slash was left (after empty and "." segments): it moves
              // over, so "/x" and "/x/" stay apart.
              const left = before["PATH_INFO"] as string
              expect(left.endsWith("/")).toBe(true)
              expect(left.split("/").every((segment) => segment === "" || segment === ".")).toBe(true)
              expect(scriptName.endsWith("/")).toBe(true)
              expect(env["PATH_INFO"]).toBe("")
            } else if (name !== "..") {
              expect(scriptName.endsWith(`/${name}`)).toBe(true)
            }
            // SCRIPT_NAME comes out normalised: no empty (bar a leading "//"), "." or ".." segments.
            expect(scriptName.replace(/^\/\//, "/").replace(/\/$/, "").split("/").slice(1).every((s) => s !== "" && s !== "." && s !== "..")).toBe(true)
          }
          before = env
        }
      }),
      { numRuns: NUM_RUNS }
    )
  })

  it("null on an empty PATH_INFO leaves the environ alone; other keys are never touched", () => {
    fc.assert(
      fc.property(path, fc.constantFrom("", undefined, null), (scriptName, pathInfo) => {
        const env: CgiVariables = { SCRIPT_NAME: scriptName, PATH_INFO: pathInfo, OTHER: "kept" }
        const copy = { ...env }
        expect(shiftPathInfo(env)).toBeNull()
        expect(env).toEqual(copy)
      }),
      { numRuns: 50 }
    )
    fc.assert(
      fc.property(environ, (start) => {
        const env: CgiVariables = { ...start, QUERY_STRING: "q=1", OTHER: "kept" }
        while (shiftPathInfo(env) !== null) {
          expect(env["QUERY_STRING"]).toBe("q=1")
          expect(env["OTHER"]).toBe("kept")
        }
        expect(Object.keys(env).sort()).toEqual(["OTHER", "PATH_INFO", "QUERY_STRING", "SCRIPT_NAME"])
      }),
      { numRuns: NUM_RUNS }
    )
  })

  const python = spawnSync("python3", ["-c", "import wsgiref.util"], { encoding: "utf8" })
  it.skipIf(python.status !== 0)("CPython's shift_path_info agrees on every step (one python3 run for all cases)", () => {
    const cases = fc.sample(environ, NUM_RUNS)
    const script = [
      "import json, sys",
      "from wsgiref.util import shift_path_info",
      "out = []",
      "for env in json.load(sys.stdin):",
      "    steps = []",
      `    for _ in range(${MAX_STEPS}):`,
      "        name = shift_path_info(env)",
      "        steps.append([name, env['SCRIPT_NAME'], env['PATH_INFO']])",
      "        if name is None: break",
      "    out.append(steps)",
      "print(json.dumps(out))"
    ].join("\n")
    const result = spawnSync("python3", ["-c", script], { input: JSON.stringify(cases), encoding: "utf8" })
    expect(result.status, result.stderr).toBe(0)
    const fromPython = JSON.parse(result.stdout) as Array<Array<[string | null, string, string]>>
    cases.forEach((start, i) => {
      const ours = shiftAll(start).map(({ name, environ: env }) => [name, env["SCRIPT_NAME"], env["PATH_INFO"]])
      expect(ours, JSON.stringify(start)).toEqual(fromPython[i])
    })
  })
})
