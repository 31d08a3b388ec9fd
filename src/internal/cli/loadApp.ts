/**
 * Load the app a command line names: `FILE[:export]`, `.js`, `.mjs` or `.ts`.
 */
import * as Data from "effect/Data"
import { existsSync } from "node:fs"
import { extname, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { Application } from "../../Protocol.js"

/** The app could not be loaded; `message` is the one line the CLI prints. */
export class AppLoadError extends Data.TaggedError("AppLoadError")<{ readonly message: string }> {}

const importModule = async (file: string): Promise<Record<string, unknown>> => {
  const url = pathToFileURL(file).href
  if ([".ts", ".mts", ".cts", ".tsx"].includes(extname(file))) {
    // TypeScript apps load through tsx (Node 20 has no type stripping of its own).
    const { tsImport } = await import("tsx/esm/api")
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>
  }
  return (await import(url)) as Record<string, unknown>
}

/** Import `file` and pick the app: `exportName`, else `app`, else the default export. */
export const loadApp = async (file: string, exportName: string | null): Promise<Application> => {
  const path = resolve(file)
  if (!existsSync(path)) throw new AppLoadError({ message: `cannot find app file ${file}` })
  let module: Record<string, unknown>
  try {
    module = await importModule(path)
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split("\n")[0] : String(cause)
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
