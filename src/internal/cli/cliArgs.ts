/**
 * The command line of `effect-wsgi`, parsed without side effects (so it can be tested).
 */
import { type Bind, parseBind } from "./sockets.js"
import { OPTION_BY_FLAG } from "./options.js"

/** What `effect-wsgi serve` was asked to do. */
export interface ServeCommand {
  readonly command: "serve"
  /** The module file. */
  readonly file: string
  /** The export to serve (null: `app`, else the default export). */
  readonly exportName: string | null
  readonly host: string
  readonly port: number
  /**
   * Where to listen, in order: each `--bind`, and `--host`/`--port` as one more TCP bind
   * when either is given. Empty when none is: then systemd's sockets (`LISTEN_FDS`) when
   * passed, else `host`:`port` (`resolveBinds` in `sockets.ts`).
   */
  readonly binds: ReadonlyArray<Bind>
  /** The first `--bind unix:PATH`'s path, or null (kept for older callers; `binds` has them all). */
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
  /** The certificate file (PEM, with its chain): serve HTTPS. */
  readonly certfile: string | null
  /** Its private key file. */
  readonly keyfile: string | null
  /** The CA file client certificates are checked against. */
  readonly caCerts: string | null
  /** Whether a client certificate is asked for (`optional`) and required (`required`). */
  readonly certReqs: CertReqs
  /** HTTP/2 with ALPN beside HTTP/1.1 on the TLS port. */
  readonly http2: boolean
  /** Cleartext HTTP/2 with prior knowledge. */
  readonly h2c: boolean
  /** Read a PROXY protocol v1/v2 header first on each connection. */
  readonly proxyProtocol: boolean
  /** The peers allowed to send the PROXY header (null: `makeServer`'s default, loopback). */
  readonly proxyAllowIps: ReadonlyArray<string> | null
}

/** `--cert-reqs`: gunicorn's names for asking clients for a certificate. */
export type CertReqs = "none" | "optional" | "required"

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
  --bind ADDRESS                listen on ADDRESS instead: HOST:PORT, [IPV6]:PORT,
                                unix:PATH (a socket file no server answers on is removed
                                first) or fd://N (an inherited listening socket);
                                repeatable, one server per address. With none of --bind,
                                --host, --port, the sockets systemd passes (LISTEN_FDS)
                                are served when there are any
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
  --certfile FILE               serve HTTPS with this certificate (PEM, chain after it);
                                renewed files are served without a restart
  --keyfile FILE                its private key (needed with --certfile)
  --ca-certs FILE               CA certificates client certificates are checked against
  --cert-reqs MODE              none (default), optional (ask for a client certificate)
                                or required (refuse a client without a valid one)
  --http2                       HTTP/2 (ALPN h2) beside HTTP/1.1 on the TLS port
  --h2c                         cleartext HTTP/2 with prior knowledge (behind a proxy)
  --proxy-protocol              read a PROXY protocol v1/v2 header first: REMOTE_ADDR
                                and REMOTE_PORT from it
  --proxy-allow-ips IPS         comma-separated peers (or CIDR) allowed to send it
                                (default 127.0.0.1,::1)
  --config FILE                 read options from FILE (.json, .js, .mjs or .ts, keys in
                                camelCase: { "port": 8080, "certfile": "..." }); flags win
  --check-config                load the config and the app, print the problems, exit 0
                                (fine) or 2
  --print-config                print the options in effect as JSON and exit
  -h, --help                    this text

EFFECT_WSGI_ARGS is read as more flags (split as a shell does), before the command line's.

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
  const binds: Array<Bind> = []
  let hostOrPort = false
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
  const files: { certfile: string | null; keyfile: string | null; caCerts: string | null } = { certfile: null, keyfile: null, caCerts: null }
  let certReqs: CertReqs = "none"
  let http2 = false
  let h2c = false
  let proxyProtocol = false
  let proxyAllowIps: Array<string> | null = null
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined]
    const value = (): string | undefined => inline ?? rest[++i]
    /** The value of a numeric option, or the message saying what it needs. */
    const number = (pattern: RegExp, needs: string): number | string => {
      const v = value()
      return v !== undefined && pattern.test(v) ? Number(v) : `${flag} needs ${needs} (got ${v ?? "nothing"})`
    }
    // The one list of options (options.ts) decides what exists; the cases below read each.
    if (arg.startsWith("-") && !OPTION_BY_FLAG.has(flag)) return error(`unknown option ${arg}`)
    switch (flag) {
      case "--host": {
        const v = value()
        if (v === undefined || v === "") return error("--host needs a value")
        host = v
        hostOrPort = true
        break
      }
      case "--port": {
        const v = value()
        const n = Number(v)
        if (v === undefined || !WHOLE.test(v) || n > 65535) return error(`--port needs a number from 0 to 65535 (got ${v ?? "nothing"})`)
        port = n
        hostOrPort = true
        break
      }
      case "--bind": {
        const bind = parseBind(value() ?? "")
        if (typeof bind === "string") return error(bind)
        binds.push(bind)
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
      case "--certfile":
      case "--keyfile":
      case "--ca-certs": {
        const v = value()
        if (v === undefined || v === "") return error(`${flag} needs a file`)
        files[flag === "--certfile" ? "certfile" : flag === "--keyfile" ? "keyfile" : "caCerts"] = v
        break
      }
      case "--cert-reqs": {
        const v = value()
        if (v !== "none" && v !== "optional" && v !== "required") return error(`--cert-reqs takes none, optional or required (got ${v ?? "nothing"})`)
        certReqs = v
        break
      }
      case "--http2":
        http2 = true
        break
      case "--h2c":
        h2c = true
        break
      case "--proxy-protocol":
        proxyProtocol = true
        break
      case "--proxy-allow-ips": {
        const v = value()
        if (v === undefined) return error("--proxy-allow-ips needs a value")
        proxyAllowIps = v.split(",").map((ip) => ip.trim()).filter((ip) => ip !== "")
        break
      }
      default:
        if (arg.startsWith("-")) return error(`option ${flag} is listed but not read`)
        if (target !== undefined) return error(`unexpected argument ${JSON.stringify(arg)}`)
        target = arg
    }
  }
  if (target === undefined) return error("serve needs FILE[:export]")
  if (maxRequestsJitter > 0 && maxRequests === 0) return error("--max-requests-jitter needs --max-requests")
  if ((reloadInclude.length > 0 || reloadExclude.length > 0) && !reload) return error("--reload-include and --reload-exclude need --reload")
  if (files.certfile !== null && files.keyfile === null) return error("--certfile needs --keyfile")
  if (files.keyfile !== null && files.certfile === null) return error("--keyfile needs --certfile")
  if (http2 && h2c) return error("--http2 and --h2c exclude each other (--h2c is HTTP/2 without TLS)")
  if (http2 && files.certfile === null) return error("--http2 needs --certfile and --keyfile (use --h2c for cleartext HTTP/2)")
  if (h2c && files.certfile !== null) return error("--h2c is cleartext: not with --certfile (use --http2)")
  return {
    command: "serve",
    ...splitTarget(target),
    host,
    port,
    binds: hostOrPort ? [...binds, { kind: "tcp", host, port }] : binds,
    socketPath: binds.find((bind) => bind.kind === "unix")?.path ?? null,
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
    reloadExclude,
    ...files,
    certReqs,
    http2,
    h2c,
    proxyProtocol,
    proxyAllowIps
  }
}

/**
 * True when the command needs a supervising primary: several workers, or an option that
 * replaces a worker (a lone process cannot replace itself).
 */
export const isSupervised = (command: ServeCommand): boolean =>
  command.workers !== 1 || command.reload || command.maxRequests > 0 || command.maxRss > 0 || command.timeout !== null
