/**
 * What a supervisor and its workers say to each other: IPC messages over the cluster
 * channel, and heartbeat lines from a worker's watchdog thread over a pipe of their own
 * (the thread cannot use the channel, which belongs to the worker's blocked main thread).
 */

/** Set in a worker's environment when it starts as a standby (`--reload`). */
export const STANDBY_ENV = "EFFECT_WSGI_STANDBY"

/** The worker's file descriptor of the heartbeat pipe (after stdin, stdout, stderr, IPC). */
export const HEARTBEAT_FD = 4

/** The `stdio` of a forked worker: the primary's own streams, the IPC channel, the heartbeat pipe. */
export const WORKER_STDIO: ReadonlyArray<"inherit" | "ipc" | "pipe"> = ["inherit", "inherit", "inherit", "ipc", "pipe"]

/** Primary → worker: stop accepting, finish the requests in flight, exit 0. */
export interface Drain {
  readonly effectWsgi: "drain"
}

/** Primary → standby worker (`--reload`): load the app now and listen. */
export interface Activate {
  readonly effectWsgi: "activate"
}

/** Standby worker → primary: it hears messages now, and waits for `Activate`. */
export interface Ready {
  readonly effectWsgi: "ready"
}

/** Worker → primary: it served its `--max-requests`; start its replacement, then drain it. */
export interface Recycle {
  readonly effectWsgi: "recycle"
  readonly served: number
}

/** Worker → primary: it was told to stop (a SIGTERM of its own) and drains. */
export interface Draining {
  readonly effectWsgi: "draining"
}

/**
 * Worker → primary: it listens on every bind (cluster's "listening" comes per server, and
 * not at all for an inherited socket, which a worker listens on itself).
 */
export interface Listening {
  readonly effectWsgi: "listening"
}

/** Any message of ours on the cluster channel. */
export type Message = Drain | Activate | Ready | Recycle | Draining | Listening

/** The message, when `value` is one of ours. */
export const asMessage = (value: unknown): Message | null => {
  if (typeof value !== "object" || value === null) return null
  const kind = (value as { effectWsgi?: unknown }).effectWsgi
  if (kind === "drain" || kind === "draining" || kind === "activate" || kind === "ready" || kind === "listening") return value as Message
  if (kind === "recycle" && typeof (value as { served?: unknown }).served === "number") return value as Recycle
  return null
}

/** The request a blocked worker was serving, as its watchdog read it. */
export interface BlockedRequest {
  readonly method: string
  readonly path: string
  /** Milliseconds since it arrived. */
  readonly elapsed: number
}

/** One heartbeat of a worker's watchdog thread. */
export interface Beat {
  /** Milliseconds since the worker's event loop last ran a timer (about 0 when healthy). */
  readonly blocked: number
  /** The worker process's resident memory, in bytes. */
  readonly rss: number
  /** While blocked: the newest request in flight (the one most likely to block), if any. */
  readonly request?: BlockedRequest
  /** While blocked: how many requests were in flight. */
  readonly inFlight?: number
}

/** A heartbeat as one line of the pipe. */
export const formatBeat = (beat: Beat): string => `${JSON.stringify(beat)}\n`

/** A heartbeat line, or null when it is not one. */
export const parseBeat = (line: string): Beat | null => {
  try {
    const value = JSON.parse(line) as unknown
    if (typeof value !== "object" || value === null) return null
    const { blocked, rss } = value as { blocked?: unknown; rss?: unknown }
    return typeof blocked === "number" && typeof rss === "number" ? (value as Beat) : null
  } catch {
    return null
  }
}
