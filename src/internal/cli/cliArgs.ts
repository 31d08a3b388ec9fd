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
  /** Worker processes (0: one per core; 1: no cluster unless an option below needs one). */
  readonly workers: number
  readonly validate: boolean
  readonly quiet: boolean
  /** Peers whose X-Forwarded-* / Forwarded headers are trusted (gunicorn's option). */
  readonly forwardedAllowIps: ReadonlyArray<string>
  /** Milliseconds a request may take in all (0: no limit), as `makeServer`'s `responseTimeout`. */
  readonly responseTimeout: number
  /**
   * Seconds a worker's event loop may stay blocked before it is killed and replaced (0:
   * never); null when not given (`DEFAULT_TIMEOUT` under a supervisor).
   */
  readonly timeout: number | null
  /** Seconds a stopping worker has to finish its requests before it is killed. */
  readonly gracefulTimeout: number
  /** Requests after which a worker is replaced (0: never). */
  readonly maxRequests: number
  /** Up to this many more requests, drawn per worker, so workers do not all recycle at once. */
  readonly maxRequestsJitter: number
  /** MiB of resident memory past which a worker is replaced (0: no limit). */
  readonly maxRss: number
  /** Watch the app's files and serve the new code on a change (development). */
  readonly reload: boolean
  /** Globs of the files whose change reloads, added to `DEFAULT_RELOAD_INCLUDE`. */
  readonly reloadInclude: ReadonlyArray<string>
  /** Globs of files and directories never watched, added to `DEFAULT_RELOAD_EXCLUDE`. */
  readonly reloadExclude: ReadonlyArray<string>
}

/** `--help`. */
export interface HelpCommand {
  readonly command: "help"
}

/** A parse result: a command, or a usage error. */
export type Parsed = ServeCommand | HelpCommand | { readonly command: "error"; readonly message: string }

/** `--timeout` when not given: gunicorn's. */
export const DEFAULT_TIMEOUT = 30
/** `--graceful-timeout` when not given: gunicorn's. */
export const DEFAULT_GRACEFUL_TIMEOUT = 30
/** The files whose change `--reload` acts on: source code and JSON. */
export const DEFAULT_RELOAD_INCLUDE: ReadonlyArray<string> = ["*.ts", "*.mts", "*.cts", "*.tsx", "*.js", "*.mjs", "*.cjs", "*.json"]
/** What `--reload` never watches: dependencies, dot files and editors' temporary files. */
export const DEFAULT_RELOAD_EXCLUDE: ReadonlyArray<string> = ["node_modules", ".*", "*~", "*.swp", "*.swx", "#*#"]

/** The usage text. */
export const usage = `usage: effect-wsgi serve FILE[:export] [options]

Serve the PEP 3333 app exported by FILE (.js, .mjs or .ts): the named export, else
\`app\`, else the default export.

options:
  --host HOST                   interface to listen on (default 127.0.0.1)
  --port PORT                   port (default 8000; 0 picks a free one)
  --bind unix:PATH              listen on a unix socket instead (a socket file no
                                server answers on is removed first)
  --workers N                   worker processes (default 1; 0 = one per core); more than
                                one, or --timeout, --max-requests, --max-rss or --reload,
                                runs them under a supervisor (node:cluster)
  --validate                    check every request with validator(app)
  --quiet                       no access log
  --forwarded-allow-ips IPS     comma-separated peers trusted to set X-Forwarded-For,
                                X-Forwarded-Proto and Forwarded ("*" trusts all)
  --response-timeout MS         bound each request's total time (default 0: none); past it
                                503, or a cut connection once the response has started
  --timeout S                   a worker whose event loop is blocked S seconds is killed
                                (SIGKILL) and replaced (default ${DEFAULT_TIMEOUT}; 0: never)
  --graceful-timeout S          seconds a stopping worker has to finish its requests,
                                then it is killed (default ${DEFAULT_GRACEFUL_TIMEOUT})
  --max-requests N              replace a worker after N requests (default 0: never)
  --max-requests-jitter J       ... after N plus 0 to J more, drawn per worker (default 0)
  --max-rss MIB                 replace a worker whose resident memory passes MIB MiB
                                (default 0: no limit)
  --reload                      development: watch the app's directory and serve the
                                new code when a file changes
  --reload-include GLOB         also reload when a file matching GLOB changes (repeatable;
                                default ${DEFAULT_RELOAD_INCLUDE.join(" ")})
  --reload-exclude GLOB         never watch files or directories matching GLOB (repeatable;
                                default ${DEFAULT_RELOAD_EXCLUDE.join(" ")})
  -h, --help                    this text

signals (under a supervisor): HUP starts workers with freshly loaded code one at a time
and drains the old ones; TTIN adds a worker, TTOU removes one; TERM and INT drain every
worker (up to --graceful-timeout), then kill what is left.

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

const WHOLE = /^\d+$/
const DECIMAL = /^\d+(\.\d+)?$/

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
  let timeout: number | null = null
  let gracefulTimeout = DEFAULT_GRACEFUL_TIMEOUT
  let maxRequests = 0
  let maxRequestsJitter = 0
  let maxRss = 0
  let reload = false
  const reloadInclude: Array<string> = []
  const reloadExclude: Array<string> = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined]
    const value = (): string | undefined => inline ?? rest[++i]
    /** The value of a numeric option, or the message saying what it needs. */
    const number = (pattern: RegExp, needs: string): number | string => {
      const v = value()
      return v !== undefined && pattern.test(v) ? Number(v) : `${flag} needs ${needs} (got ${v ?? "nothing"})`
    }
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
        if (v === undefined || !WHOLE.test(v) || n > 65535) return error(`--port needs a number from 0 to 65535 (got ${v ?? "nothing"})`)
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
        const n = number(WHOLE, "a whole number")
        if (typeof n === "string") return error(n)
        workers = n
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
        const n = number(WHOLE, "milliseconds")
        if (typeof n === "string") return error(n)
        responseTimeout = n
        break
      }
      case "--timeout": {
        const n = number(DECIMAL, "seconds")
        if (typeof n === "string") return error(n)
        timeout = n
        break
      }
      case "--graceful-timeout": {
        const n = number(DECIMAL, "seconds")
        if (typeof n === "string") return error(n)
        gracefulTimeout = n
        break
      }
      case "--max-requests": {
        const n = number(WHOLE, "a whole number")
        if (typeof n === "string") return error(n)
        maxRequests = n
        break
      }
      case "--max-requests-jitter": {
        const n = number(WHOLE, "a whole number")
        if (typeof n === "string") return error(n)
        maxRequestsJitter = n
        break
      }
      case "--max-rss": {
        const n = number(DECIMAL, "MiB")
        if (typeof n === "string") return error(n)
        maxRss = n
        break
      }
      case "--reload":
        reload = true
        break
      case "--reload-include":
      case "--reload-exclude": {
        const v = value()
        if (v === undefined || v === "") return error(`${flag} needs a glob`)
        ;(flag === "--reload-include" ? reloadInclude : reloadExclude).push(v)
        break
      }
      default:
        if (arg.startsWith("-")) return error(`unknown option ${arg}`)
        if (target !== undefined) return error(`unexpected argument ${JSON.stringify(arg)}`)
        target = arg
    }
  }
  if (target === undefined) return error("serve needs FILE[:export]")
  if (maxRequestsJitter > 0 && maxRequests === 0) return error("--max-requests-jitter needs --max-requests")
  if ((reloadInclude.length > 0 || reloadExclude.length > 0) && !reload) return error("--reload-include and --reload-exclude need --reload")
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
    responseTimeout,
    timeout,
    gracefulTimeout,
    maxRequests,
    maxRequestsJitter,
    maxRss,
    reload,
    reloadInclude,
    reloadExclude
  }
}

/**
 * True when the command needs a supervising primary: several workers, or an option that
 * replaces a worker (a lone process cannot replace itself).
 */
export const isSupervised = (command: ServeCommand): boolean =>
  command.workers !== 1 || command.reload || command.maxRequests > 0 || command.maxRss > 0 || command.timeout !== null
