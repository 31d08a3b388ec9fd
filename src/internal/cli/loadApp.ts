/**
 * Load the app a command line names: `FILE[:export]`, `.js`, `.mjs` or `.ts`.
 */
import * as Data from "effect/Data"
import { existsSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { extname, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { Application } from "../../Protocol.js"

/** The app could not be loaded; `message` is the one line the CLI prints. */
export class AppLoadError extends Data.TaggedError("AppLoadError")<{ readonly message: string }> {}

const isTypeScript = (file: string): boolean => [".ts", ".mts", ".cts", ".tsx"].includes(extname(file))

/**
 * Load now what loading `file` will need, without the file itself: a standby worker of
 * `--reload` does it while it waits, so the new code loads fast once a file changes.
 */
export const prepareLoad = async (file: string): Promise<void> => {
  if (!isTypeScript(file)) return
  // Importing a throwaway TypeScript module boots what the app's import needs (tsx's
  // loader thread, esbuild's service): measured, the app then loads in ~60 ms, not ~450.
  const { tsImport } = await import("tsx/esm/api")
  const warm = join(tmpdir(), `effect-wsgi-warm-${process.pid}.ts`)
  const remove = (): void => rmSync(warm, { force: true })
  // Also when the process exits meanwhile (a standby stopped while it warms up).
  process.once("exit", remove)
  try {
    writeFileSync(warm, "export const warm: boolean = true\n")
    await tsImport(pathToFileURL(warm).href, import.meta.url)
  } catch {
    // Only a head start: loading the app reports what is wrong, if anything is.
  } finally {
    remove()
    process.removeListener("exit", remove)
  }
}

/** Import a `.js`, `.mjs` or TypeScript module (through tsx), as the app is. */
export const importModule = async (file: string): Promise<Record<string, unknown>> => {
  const url = pathToFileURL(file).href
  if (isTypeScript(file)) {
    // TypeScript apps load through tsx (Node 20 has no type stripping of its own).
    const { tsImport } = await import("tsx/esm/api")
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>
  }
  return (await import(url)) as Record<string, unknown>
}

/**
 * The first line of an error message, with the next one when it only announces it (tsx's
 * "Transform failed with 1 error:" is followed by the file, line and column that matter).
 */
export const firstLine = (message: string): string => {
  const [first = "", second] = message.split("\n")
  return first.endsWith(":") && second !== undefined ? `${first} ${second.trim()}` : first
}

/** Import `file` and pick the app: `exportName`, else `app`, else the default export. */
export const loadApp = async (file: string, exportName: string | null): Promise<Application> => {
  const path = resolve(file)
  if (!existsSync(path)) throw new AppLoadError({ message: `cannot find app file ${file}` })
  let module: Record<string, unknown>
  try {
    module = await importModule(path)
  } catch (cause) {
    const reason = cause instanceof Error ? firstLine(cause.message) : String(cause)
    throw new AppLoadError({ message: `cannot load ${file}: ${reason}` })
  }
  const name = exportName ?? ("app" in module ? "app" : "default")
  if (!(name in module) || module[name] === undefined) {
    const exports = Object.keys(module).filter((key) => key !== "__esModule")
    throw new AppLoadError({
      message: `${file} has no export ${JSON.stringify(name)}${exportName === null ? ' (nor "app")' : ""}; it exports: ${exports.join(", ") || "nothing"}`
    })
  }
  const app = module[name]
  if (typeof app !== "function") {
    throw new AppLoadError({ message: `${file}:${name} is ${app === null ? "null" : typeof app}, not an application function` })
  }
  return app as Application
}
