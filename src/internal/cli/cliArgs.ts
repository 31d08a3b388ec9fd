/**
 * The command line of `effect-wsgi`, parsed without side effects (so it can be tested).
 */

/** What `effect-wsgi serve` was asked to do. */
export interface ServeCommand {
  readonly command: "serve"
  /** The module file. */
  readonly file: string
  /** The export to serve (null: `app`, else the default export). */
  readonly exportName: string | null
  readonly host: string
  readonly port: number
  /** A unix socket path (from `--bind unix:/path`), instead of host and port. */
  readonly socketPath: string | null
  /** Worker processes (0: one per core; 1: no cluster). */
  readonly workers: number
  readonly validate: boolean
  readonly quiet: boolean
  /** Peers whose X-Forwarded-* / Forwarded headers are trusted (gunicorn's option). */
  readonly forwardedAllowIps: ReadonlyArray<string>
  /** Milliseconds a request may take in all (0: no limit), as `makeServer`'s `responseTimeout`. */
  readonly responseTimeout: number
}

/** `--help`. */
export interface HelpCommand {
  readonly command: "help"
}

/** A parse result: a command, or a usage error. */
export type Parsed = ServeCommand | HelpCommand | { readonly command: "error"; readonly message: string }

/** The usage text. */
export const usage = `usage: effect-wsgi serve FILE[:export] [options]

Serve the PEP 3333 app exported by FILE (.js, .mjs or .ts): the named export, else
\`app\`, else the default export.

options:
  --host HOST                   interface to listen on (default 127.0.0.1)
  --port PORT                   port (default 8000; 0 picks a free one)
  --bind unix:PATH              listen on a unix socket instead (a socket file no
                                server answers on is removed first)
  --workers N                   worker processes (default 1; 0 = one per core)
  --validate                    check every request with validator(app)
  --quiet                       no access log
  --forwarded-allow-ips IPS     comma-separated peers trusted to set X-Forwarded-For,
                                X-Forwarded-Proto and Forwarded ("*" trusts all)
  --response-timeout MS         bound each request's total time (default 0: none); past it
                                503, or a cut connection once the response has started
  -h, --help                    this text

exit status: 0 after SIGINT/SIGTERM (requests in flight finished), 2 for a usage error or
an app that cannot be loaded, 3 when the address cannot be listened on.
`

const error = (message: string): Parsed => ({ command: "error", message })

/** Split `FILE[:export]`, leaving Windows drive letters alone. */
const splitTarget = (target: string): { file: string; exportName: string | null } => {
  const colon = target.lastIndexOf(":")
  if (colon <= 1 || target.slice(colon + 1).includes("/")) return { file: target, exportName: null }
  return { file: target.slice(0, colon), exportName: target.slice(colon + 1) || null }
}

/** Parse `argv` (without node and the script). */
export const parseArgs = (argv: ReadonlyArray<string>): Parsed => {
  if (argv.length === 0 || argv.includes("-h") || argv.includes("--help")) return { command: "help" }
  const [command, ...rest] = argv
  if (command !== "serve") return error(`unknown command ${JSON.stringify(command)} (expected "serve")`)
  let target: string | undefined
  let host = "127.0.0.1"
  let port = 8000
  let socketPath: string | null = null
  let workers = 1
  let validate = false
  let quiet = false
  let forwardedAllowIps: Array<string> = []
  let responseTimeout = 0
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined]
    const value = (): string | undefined => inline ?? rest[++i]
    switch (flag) {
      case "--host": {
        const v = value()
        if (v === undefined || v === "") return error("--host needs a value")
        host = v
        break
      }
      case "--port": {
        const v = value()
        const n = Number(v)
        if (v === undefined || !/^\d+$/.test(v) || n > 65535) return error(`--port needs a number from 0 to 65535 (got ${v ?? "nothing"})`)
        port = n
        break
      }
      case "--bind": {
        const v = value()
        if (v === undefined || !v.startsWith("unix:") || v.length <= 5) return error("--bind takes unix:PATH")
        socketPath = v.slice(5)
        break
      }
      case "--workers": {
        const v = value()
        if (v === undefined || !/^\d+$/.test(v)) return error(`--workers needs a whole number (got ${v ?? "nothing"})`)
        workers = Number(v)
        break
      }
      case "--validate":
        validate = true
        break
      case "--quiet":
        quiet = true
        break
      case "--forwarded-allow-ips": {
        const v = value()
        if (v === undefined) return error("--forwarded-allow-ips needs a value")
        forwardedAllowIps = v.split(",").map((ip) => ip.trim()).filter((ip) => ip !== "")
        break
      }
      case "--response-timeout": {
        const v = value()
        if (v === undefined || !/^\d+$/.test(v)) return error(`--response-timeout needs milliseconds (got ${v ?? "nothing"})`)
        responseTimeout = Number(v)
        break
      }
      default:
        if (arg.startsWith("-")) return error(`unknown option ${arg}`)
        if (target !== undefined) return error(`unexpected argument ${JSON.stringify(arg)}`)
        target = arg
    }
  }
  if (target === undefined) return error("serve needs FILE[:export]")
  return {
    command: "serve",
    ...splitTarget(target),
    host,
    port,
    socketPath,
    workers,
    validate,
    quiet,
    forwardedAllowIps,
    responseTimeout
  }
}
