/**
 * Where `effect-wsgi serve`'s options come from besides the command line: a `--config`
 * file and the `EFFECT_WSGI_ARGS` variable. Both become flags placed before the command
 * line's (file, then variable, then command line), so the one parser reads them all and a
 * later flag wins, as for a flag given twice; a repeatable flag from a later source
 * replaces an earlier source's instead of adding to them.
 */
import * as Data from "effect/Data"
import { readFileSync } from "node:fs"
import { extname, resolve } from "node:path"
import { readCertificates } from "./certificates.js"
import type { ServeCommand } from "./cliArgs.js"
import { AppLoadError, firstLine, importModule, loadApp } from "./loadApp.js"
import { OPTION_BY_FLAG, OPTION_BY_KEY } from "./options.js"

/** The config file or `EFFECT_WSGI_ARGS` is wrong; `message` is the one line printed. */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

/** What to do with the options once parsed. */
export type Mode = "serve" | "check" | "print"

/** The command line with the config file's and `EFFECT_WSGI_ARGS`'s flags put in. */
export interface ResolvedArgs {
  /** For `parseArgs`, without `--config`, `--check-config` and `--print-config`. */
  readonly argv: ReadonlyArray<string>
  readonly configFile: string | null
  readonly mode: Mode
}

/** The name of the variable read as extra flags. */
export const ARGS_ENV = "EFFECT_WSGI_ARGS"

/**
 * Split `text` into words as a POSIX shell does, without expansions: blanks separate,
 * single quotes keep everything, double quotes keep all but `\"`, `\\`, `\$` and `` \` ``,
 * and a backslash outside quotes keeps the next character.
 */
export const splitShellWords = (text: string): Array<string> => {
  const words: Array<string> = []
  let word: string | null = null
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === " " || c === "\t" || c === "\n") {
      if (word !== null) words.push(word)
      word = null
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1)
      if (end < 0) throw new ConfigError({ message: `${ARGS_ENV}: unterminated '` })
      word = (word ?? "") + text.slice(i + 1, end)
      i = end
    } else if (c === '"') {
      word ??= ""
      for (i++; ; i++) {
        if (i >= text.length) throw new ConfigError({ message: `${ARGS_ENV}: unterminated "` })
        const d = text[i]!
        if (d === '"') break
        if (d === "\\" && '"\\$`'.includes(text[i + 1] ?? "")) word += text[++i]
        else word += d
      }
    } else if (c === "\\") {
      word = (word ?? "") + (text[++i] ?? "")
    } else {
      word = (word ?? "") + c
    }
  }
  if (word !== null) words.push(word)
  return words
}

const isScalar = (value: unknown): value is string | number => typeof value === "string" || (typeof value === "number" && Number.isFinite(value))

/** The flags a config object stands for; an unknown key or a value of the wrong type is a `ConfigError`. */
export const configToArgs = (config: Readonly<Record<string, unknown>>, file: string): Array<string> => {
  const args: Array<string> = []
  for (const [key, value] of Object.entries(config)) {
    const spec = OPTION_BY_KEY.get(key)
    if (spec === undefined) throw new ConfigError({ message: `${file}: unknown option ${JSON.stringify(key)}` })
    const wrong = (needs: string): ConfigError => new ConfigError({ message: `${file}: ${key} needs ${needs} (got ${JSON.stringify(value)})` })
    switch (spec.kind) {
      case "switch":
        if (typeof value !== "boolean") throw wrong("true or false")
        if (value) args.push(spec.flag)
        break
      case "value":
        if (!isScalar(value)) throw wrong("a string or a number")
        args.push(spec.flag, String(value))
        break
      case "list":
        if (Array.isArray(value) && value.every(isScalar)) args.push(spec.flag, value.join(","))
        else if (isScalar(value)) args.push(spec.flag, String(value))
        else throw wrong("a string or an array of strings")
        break
      case "repeatable": {
        const values: ReadonlyArray<unknown> = Array.isArray(value) ? value : [value]
        if (!values.every(isScalar)) throw wrong("a string or an array of strings")
        for (const one of values) args.push(spec.flag, String(one))
      }
    }
  }
  return args
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The options object of a config file: a JSON object, or a module's default export (an
 * object), else its named exports.
 */
export const loadConfigFile = async (file: string): Promise<Record<string, unknown>> => {
  const path = resolve(file)
  let config: unknown
  try {
    if (extname(path) === ".json") config = JSON.parse(readFileSync(path, "utf8"))
    else {
      const module = await importModule(path)
      config = "default" in module ? module["default"] : Object.fromEntries(Object.entries(module).filter(([key]) => key !== "__esModule"))
    }
  } catch (error) {
    throw new ConfigError({ message: `cannot load config ${file}: ${firstLine(error instanceof Error ? error.message : String(error))}` })
  }
  // A .ts file outside an ES module package loads as CommonJS through tsx: its default
  // export arrives one level down. No option is called "default".
  while (isRecord(config) && isRecord(config["default"])) config = config["default"]
  if (!isRecord(config)) throw new ConfigError({ message: `${file}: the config is not an object of options` })
  const { __esModule: _, ...options } = config
  return options
}

/** Take `--config FILE`, `--check-config` and `--print-config` out of `args` (the last `--config` wins). */
const takeConfigFlags = (args: ReadonlyArray<string>): { rest: Array<string>; configFile: string | null; mode: Mode } => {
  const rest: Array<string> = []
  let configFile: string | null = null
  let mode: Mode = "serve"
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--config" || arg.startsWith("--config=")) {
      const value = arg === "--config" ? args[++i] : arg.slice("--config=".length)
      if (value === undefined || value === "") throw new ConfigError({ message: "--config needs a file" })
      configFile = value
    } else if (arg === "--check-config") mode = "check"
    else if (arg === "--print-config") mode = "print"
    else {
      rest.push(arg)
      // A value is not a flag, even one that looks like these (`--host --config`).
      const spec = OPTION_BY_FLAG.get(arg)
      if (spec !== undefined && spec.kind !== "switch" && i + 1 < args.length) rest.push(args[++i]!)
    }
  }
  return { rest, configFile, mode }
}

/** One flag as given, with its value when it takes one; or a word that is not a flag. */
interface Given {
  readonly flag: string | null
  readonly words: ReadonlyArray<string>
}

const givenFlags = (args: ReadonlyArray<string>): Array<Given> => {
  const given: Array<Given> = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const flag = arg.startsWith("--") && arg.includes("=") ? arg.slice(0, arg.indexOf("=")) : arg
    const spec = OPTION_BY_FLAG.get(flag)
    if (spec === undefined) given.push({ flag: null, words: [arg] })
    else if (spec.kind === "switch" || flag !== arg || i + 1 >= args.length) given.push({ flag, words: [arg] })
    else given.push({ flag, words: [arg, args[++i]!] })
  }
  return given
}

/**
 * The flags of the sources in order (the file's, `EFFECT_WSGI_ARGS`'s, the command line's),
 * each repeatable option (`--bind`, `--reload-include`, `--reload-exclude`) taken from the
 * last source that gives it: a later source replaces an earlier one's values, as it does
 * for every other option, instead of adding to them. Within one source, repeats add up.
 */
export const mergeSources = (sources: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const parsed = sources.map(givenFlags)
  const lastSource = new Map<string, number>()
  parsed.forEach((given, source) => {
    for (const { flag } of given) if (flag !== null && OPTION_BY_FLAG.get(flag)!.kind === "repeatable") lastSource.set(flag, source)
  })
  return parsed.flatMap((given, source) =>
    given.filter(({ flag }) => flag === null || (lastSource.get(flag) ?? source) === source).flatMap(({ words }) => words)
  )
}

/**
 * The full command line of `effect-wsgi serve`: the config file's flags, then
 * `EFFECT_WSGI_ARGS`'s, then the command line's (see `mergeSources`). Anything but `serve`
 * is left as it is.
 */
export const resolveArgs = async (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Promise<ResolvedArgs> => {
  const [command, ...rest] = argv
  if (command !== "serve") return { argv, configFile: null, mode: "serve" }
  const fromEnv = takeConfigFlags(splitShellWords(env[ARGS_ENV] ?? ""))
  const fromLine = takeConfigFlags(rest)
  // The command line's --config and mode win over the variable's.
  const configFile = fromLine.configFile ?? fromEnv.configFile
  const mode = fromLine.mode !== "serve" ? fromLine.mode : fromEnv.mode
  const fromFile = configFile === null ? [] : configToArgs(await loadConfigFile(configFile), configFile)
  return { argv: ["serve", ...mergeSources([fromFile, fromEnv.rest, fromLine.rest])], configFile, mode }
}

/**
 * `--check-config`: what is wrong with a parsed command, none when it would serve: the app
 * loads and has the export, the certificate files are readable and match.
 */
export const checkConfig = async (command: ServeCommand): Promise<Array<string>> => {
  const problems: Array<string> = []
  try {
    await loadApp(command.file, command.exportName)
  } catch (error) {
    problems.push(error instanceof AppLoadError ? error.message : firstLine(String(error)))
  }
  try {
    readCertificates(command)
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error))
  }
  return problems
}
