/**
 * The guide's examples are real: each `<!-- example: NAME -->` block in docs/guide.md must
 * be exactly docs/examples/NAME.ts, and running it must print the `text` block after it.
 * (Examples that are themselves test files run as part of the suite.)
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
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

const examples: Array<Example> = [...guide.matchAll(/<!-- example: ([\w.-]+)([^>]*)-->\n```ts\n([\s\S]*?)```\n(?:[\s\S]*?```text\n([\s\S]*?)\n```)?/g)].map(
  (match) => ({
    name: match[1]!,
    env: Object.fromEntries(
      (attribute(match[2]!, "env") ?? "").split(" ").filter(Boolean).map((pair) => pair.split("=") as [string, string])
    ),
    stdin: attribute(match[2]!, "stdin") ?? "",
    code: match[3]!,
    output: match[1]!.endsWith(".test") ? undefined : match[4]
  })
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
      "class-handler",
      "cgi-script",
      "serve-http",
      "testing-an-app.test"
    ])
  })

  for (const example of examples) {
    it(`shows docs/examples/${example.name}.ts as it is`, () => {
      expect(example.code).toBe(readFileSync(join(docs, "examples", `${example.name}.ts`), "utf8"))
    })
    if (example.output === undefined) continue
    it.concurrent(`runs ${example.name} and prints what the guide shows`, async () => {
      const stdout = await runExample(example.name, example.env, example.stdin)
      // The guide shows CRLF as line ends, and a block cannot show a final newline.
      expect(stdout.replace(/\r\n/g, "\n").replace(/\n$/, "")).toBe(example.output)
    })
  }
})
