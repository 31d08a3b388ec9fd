/**
 * The docs are real.
 *
 * docs/guide.md: each `<!-- example: NAME -->` block must be exactly docs/examples/NAME.ts,
 * and running it must print the `text` block after it (before the next example). Examples
 * that are themselves test files (NAME ends in `.test`) run as part of the suite and make
 * their own assertions. Every `ts` block of the guide is such an example, and every file
 * under docs/examples/ is shown in the guide.
 *
 * docs/python-names.md: every package-root name it gives in its TypeScript column is
 * exported by src/index.ts (and `Namespace.member` by that namespace's module).
 */
import { execFile } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const docs = join(import.meta.dirname)
const guide = readFileSync(join(docs, "guide.md"), "utf8")

interface Example {
  readonly name: string
  readonly env: Record<string, string>
  readonly stdin: string
  readonly code: string
  readonly output: string | undefined
}

const attribute = (text: string, name: string): string | undefined => new RegExp(`${name}="([^"]*)"`).exec(text)?.[1]

const examples: Array<Example> = [...guide.matchAll(/<!-- example: ([\w.-]+)([^>]*)-->\n```ts\n([\s\S]*?)```\n/g)].map(
  (match) => {
    // Its output: the first `text` block after it, if one comes before the next `ts` block.
    const after = guide.slice(match.index! + match[0].length)
    const next = after.indexOf("```ts\n")
    const output = /```text\n([\s\S]*?)\n```/.exec(next === -1 ? after : after.slice(0, next))?.[1]
    return {
      name: match[1]!,
      env: Object.fromEntries(
        (attribute(match[2]!, "env") ?? "").split(" ").filter(Boolean).map((pair) => pair.split("=") as [string, string])
      ),
      stdin: attribute(match[2]!, "stdin") ?? "",
      code: match[3]!,
      output: match[1]!.endsWith(".test") ? undefined : output
    }
  }
)

const runExample = (name: string, env: Record<string, string>, stdin: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", join(docs, "examples", `${name}.ts`)],
      { env: { ...process.env, ...env }, encoding: "latin1", timeout: 15_000 },
      (error, stdout) => (error ? reject(error) : resolve(stdout))
    )
    child.stdin!.end(stdin)
  })

describe("docs/guide.md", () => {
  it("has its examples", () => {
    expect(examples.map((example) => example.name)).toEqual([
      "effect-program",
      "run-with",
      "override-step.test",
      "errors.test",
      "retry-output.test",
      "class-handler",
      "cgi-script",
      "serve-http"
    ])
  })

  it("shows only runnable TypeScript: every ts block is an example", () => {
    expect(guide.match(/^```ts$/gm)?.length).toBe(examples.length)
  })

  it("shows every file of docs/examples/", () => {
    const files = readdirSync(join(docs, "examples")).filter((file) => file.endsWith(".ts")).sort()
    expect(files).toEqual(examples.map((example) => `${example.name}.ts`).sort())
  })

  for (const example of examples) {
    it(`shows docs/examples/${example.name}.ts as it is`, () => {
      expect(example.code).toBe(readFileSync(join(docs, "examples", `${example.name}.ts`), "utf8"))
    })
    if (example.name.endsWith(".test")) continue
    it.concurrent(`runs ${example.name} and prints what the guide shows`, async () => {
      expect(example.output, "a text block with its output").toBeDefined()
      const stdout = await runExample(example.name, example.env, example.stdin)
      // The guide shows CRLF as line ends, and a block cannot show a final newline.
      expect(stdout.replace(/\r\n/g, "\n").replace(/\n$/, "")).toBe(example.output)
    })
  }
})

describe("docs/python-names.md", () => {
  const src = join(docs, "..", "src")
  const exportsOf = (file: string): Set<string> => {
    const text = readFileSync(join(src, file), "utf8")
    const names = new Set<string>()
    for (const [, list] of text.matchAll(/export (?:type )?\{([^}]*)\}/g)) {
      for (const item of list!.split(",")) {
        const name = item.trim().replace(/^type /, "").split(/\s+as\s+/).pop()
        if (name) names.add(name)
      }
    }
    for (const [, name] of text.matchAll(/export (?:declare )?(?:const|let|class|interface|type|function|\* as) (\w+)/g)) {
      names.add(name!)
    }
    return names
  }
  const root = exportsOf("index.ts")
  const namespaces = new Map(
    [...readFileSync(join(src, "index.ts"), "utf8").matchAll(/export \* as (\w+) from "\.\/(\w+)\.js"/g)].map(
      ([, name, file]): [string, Set<string>] => [name!, exportsOf(`${file}.ts`)]
    )
  )

  // The names the TypeScript cells start with (the code spans before any other text): in
  // the "Beyond CPython" table all of them; elsewhere class-like names (`Foo`, `new
  // Foo(…)`, `Namespace.member`), and in the util and simple_server tables functions too
  // (`foo(…)`, `await foo(…)`): the other tables name methods and parameters that way.
  const names = readFileSync(join(docs, "python-names.md"), "utf8")
  const mentioned: Array<string> = []
  for (const section of names.split(/^## /m).slice(1)) {
    const beyond = section.startsWith("Beyond CPython")
    const functions = section.startsWith("`wsgiref.util`") || section.startsWith("`wsgiref.simple_server`")
    for (const row of section.split("\n").filter((line) => line.startsWith("| `"))) {
      const cell = (row.slice(2).split(" | ")[beyond ? 0 : 1] ?? "").replace(/ \|$/, "")
      for (const [, span] of cell.match(/^`[^`]+`(?:, `[^`]+`)*/)?.[0].matchAll(/`([^`]+)`/g) ?? []) {
        const match = /^(?:new |await )?([A-Za-z]\w*)(\.\w+)?(\()?/.exec(span!)
        if (match === null || span!.startsWith("effect-wsgi ")) continue
        const [, head, member, call] = match
        const name = namespaces.has(head!) && member !== undefined ? `${head}${member}` : head!
        if (beyond || /^[A-Z]/.test(head!) || (functions && member === undefined && call !== undefined)) mentioned.push(name)
      }
    }
  }

  it("names only what the package root exports", () => {
    expect(mentioned.length).toBeGreaterThan(30)
    const missing = mentioned.filter((name) => {
      const [head, member] = name.split(".")
      return !root.has(head!) || (member !== undefined && !namespaces.get(head!)!.has(member))
    })
    expect(missing).toEqual([])
  })

  it("maps every name the package root exports", () => {
    const text = names.replace(/`[^`]*`/g, (span) => ` ${span.replace(/[^\w]+/g, " ")} `)
    const unmapped = [...root].filter((name) => !new RegExp(`\\b${name}\\b`).test(text))
    expect(unmapped).toEqual([])
  })
})
