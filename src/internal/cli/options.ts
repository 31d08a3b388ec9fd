/**
 * The one list of `effect-wsgi serve`'s options: each flag, its camelCase name (the key a
 * `--config` file uses) and how it takes its value. The flag parser refuses a flag that is
 * not here, the config loader a key that is not here, and a test holds `--help` and the
 * README's table to it, so an option is added in one place.
 */

/**
 * How an option takes its value:
 * - `switch`: no value (`--quiet`; `true` in a config file);
 * - `value`: one value, the last one given wins (a string or a number in a file);
 * - `list`: one comma-separated value (a string or an array of strings in a file);
 * - `repeatable`: a value, given any number of times (a string or an array in a file).
 */
export type OptionKind = "switch" | "value" | "list" | "repeatable"

/** One option of `effect-wsgi serve`. */
export interface OptionSpec {
  /** `--forwarded-allow-ips`. */
  readonly flag: string
  /** `forwardedAllowIps`: its key in a config file. */
  readonly key: string
  readonly kind: OptionKind
  /** False for the options about the configuration itself (`--config`, `--print-config`, …). */
  readonly inFile: boolean
}

const camelCase = (flag: string): string => flag.slice(2).replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())

const option = (flag: string, kind: OptionKind, inFile = true): OptionSpec => ({ flag, key: camelCase(flag), kind, inFile })

/** Every option, in the order `--help` and the README list them. */
export const OPTIONS: ReadonlyArray<OptionSpec> = [
  option("--host", "value"),
  option("--port", "value"),
  option("--bind", "repeatable"),
  option("--workers", "value"),
  option("--validate", "switch"),
  option("--quiet", "switch"),
  option("--forwarded-allow-ips", "list"),
  option("--response-timeout", "value"),
  option("--timeout", "value"),
  option("--graceful-timeout", "value"),
  option("--max-requests", "value"),
  option("--max-requests-jitter", "value"),
  option("--max-rss", "value"),
  option("--reload", "switch"),
  option("--reload-include", "repeatable"),
  option("--reload-exclude", "repeatable"),
  option("--certfile", "value"),
  option("--keyfile", "value"),
  option("--ca-certs", "value"),
  option("--cert-reqs", "value"),
  option("--http2", "switch"),
  option("--h2c", "switch"),
  option("--proxy-protocol", "switch"),
  option("--proxy-allow-ips", "list"),
  option("--config", "value", false),
  option("--check-config", "switch", false),
  option("--print-config", "switch", false)
]

/** The options by flag. */
export const OPTION_BY_FLAG: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((spec) => [spec.flag, spec]))

/** The options a config file may set, by key. */
export const OPTION_BY_KEY: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.filter((spec) => spec.inFile).map((spec) => [spec.key, spec]))
