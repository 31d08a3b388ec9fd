/**
 * Where `effect-wsgi serve` listens: the `--bind` addresses (TCP `HOST:PORT`, `unix:PATH`,
 * `fd://N`), systemd's socket activation (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`),
 * and how a supervisor hands inherited sockets to its workers.
 *
 * Workers of an inherited socket do not listen through node:cluster's primary: its
 * round-robin handle closes the socket once its last worker leaves (a lone worker that
 * crashes), and the replacement would find no socket to listen on. Instead each worker gets
 * the socket as an extra stdio descriptor of its fork and listens on it itself; the kernel
 * spreads the connections, and a draining worker's close never closes the primary's copy.
 */

/** One address to serve on. */
export type Bind =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "fd"; readonly fd: number; readonly name?: string }

/** The port of a `--bind HOST` given without one (the `--port` default). */
export const DEFAULT_BIND_PORT = 8000

/** The first file descriptor of systemd's passed sockets (`SD_LISTEN_FDS_START`). */
export const SD_LISTEN_FDS_START = 3

/**
 * A worker's first descriptor of the inherited sockets: after stdin, stdout, stderr, the
 * IPC channel (3) and the heartbeat pipe (4) of `messages.ts`'s `WORKER_STDIO`.
 */
export const WORKER_FIRST_FD = 5

/** Set in a worker's environment: the binds it serves (JSON), as its supervisor resolved them. */
export const BINDS_ENV = "EFFECT_WSGI_BINDS"

const WHOLE = /^\d+$/

const port = (text: string): number | null => (WHOLE.test(text) && Number(text) <= 65535 ? Number(text) : null)

/**
 * Parse one `--bind` value: `unix:PATH`, `fd://N`, `HOST:PORT`, `[IPV6]:PORT` or `HOST`
 * (port 8000); a message saying what it takes when it is none of them.
 */
export const parseBind = (value: string): Bind | string => {
  const takes = `--bind takes HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N (got ${JSON.stringify(value)})`
  if (value.startsWith("unix:")) return value.length > 5 ? { kind: "unix", path: value.slice(5) } : takes
  if (value.startsWith("fd://")) return WHOLE.test(value.slice(5)) ? { kind: "fd", fd: Number(value.slice(5)) } : takes
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value)
  if (v6 !== null) {
    const p = v6[2] === undefined ? DEFAULT_BIND_PORT : port(v6[2])
    return p === null ? takes : { kind: "tcp", host: v6[1]!, port: p }
  }
  const colon = value.lastIndexOf(":")
  // More than one colon and no brackets: a bare IPv6 address, whose port cannot be told apart.
  if (colon !== value.indexOf(":")) return takes
  if (colon === -1) return value === "" ? takes : { kind: "tcp", host: value, port: DEFAULT_BIND_PORT }
  const p = port(value.slice(colon + 1))
  return p === null || colon === 0 ? takes : { kind: "tcp", host: value.slice(0, colon), port: p }
}

/** A bind as `--bind` writes it (for messages). */
export const formatBind = (bind: Bind): string => {
  switch (bind.kind) {
    case "tcp":
      return `${bind.host.includes(":") ? `[${bind.host}]` : bind.host}:${bind.port}`
    case "unix":
      return `unix:${bind.path}`
    case "fd":
      return `fd://${bind.fd}${bind.name === undefined ? "" : ` (${bind.name})`}`
  }
}

/**
 * The sockets systemd passed this process (`sd_listen_fds`): fds 3 … 3+LISTEN_FDS-1 when
 * `LISTEN_PID` is this process, named by `LISTEN_FDNAMES`; empty otherwise (the variables
 * were meant for another process, e.g. the parent of a shell wrapper).
 */
export const activatedBinds = (env: NodeJS.ProcessEnv, pid: number): ReadonlyArray<Bind> => {
  const count = env["LISTEN_FDS"]
  if (count === undefined || !WHOLE.test(count) || env["LISTEN_PID"] !== String(pid)) return []
  const names = (env["LISTEN_FDNAMES"] ?? "").split(":")
  return Array.from({ length: Number(count) }, (_, i): Bind => {
    const name = names[i]
    return { kind: "fd", fd: SD_LISTEN_FDS_START + i, ...(name === undefined || name === "" ? {} : { name }) }
  })
}

/**
 * Remove systemd's variables, as `sd_listen_fds(1)` does: a child process (a worker, or
 * one the app spawns) must not take the sockets for its own.
 */
export const forgetActivation = (env: NodeJS.ProcessEnv): void => {
  delete env["LISTEN_FDS"]
  delete env["LISTEN_PID"]
  delete env["LISTEN_FDNAMES"]
}

/**
 * What this process serves: in a worker, what its supervisor resolved (`BINDS_ENV`); else
 * the command's binds, or, when none was given, the sockets systemd passed, or the default
 * `host:port`. Systemd's variables are removed once read.
 */
export const resolveBinds = (
  command: { readonly binds: ReadonlyArray<Bind>; readonly host: string; readonly port: number },
  env: NodeJS.ProcessEnv = process.env,
  pid: number = process.pid
): ReadonlyArray<Bind> => {
  const inherited = env[BINDS_ENV]
  if (inherited !== undefined) {
    delete env[BINDS_ENV] // the app's own children are not workers
    return JSON.parse(inherited) as ReadonlyArray<Bind>
  }
  const activated = activatedBinds(env, pid)
  forgetActivation(env)
  if (command.binds.length > 0) return command.binds
  return activated.length > 0 ? activated : [{ kind: "tcp", host: command.host, port: command.port }]
}

/** How a supervisor forks its workers for `binds`. */
export interface WorkerBinds {
  /** The primary's descriptors, appended to each worker's stdio (the worker's fds 5, 6, …). */
  readonly stdio: ReadonlyArray<number>
  /** The workers' environment: their binds, each `fd://N` renumbered to the worker's own fd. */
  readonly env: Readonly<Record<string, string>>
}

/** Renumber the inherited sockets of `binds` for the workers (see the module's note). */
export const workerBinds = (binds: ReadonlyArray<Bind>): WorkerBinds => {
  const stdio: Array<number> = []
  const renumbered = binds.map((bind): Bind => {
    if (bind.kind !== "fd") return bind
    stdio.push(bind.fd)
    return { ...bind, fd: WORKER_FIRST_FD + stdio.length - 1 }
  })
  return { stdio, env: { [BINDS_ENV]: JSON.stringify(renumbered) } }
}
