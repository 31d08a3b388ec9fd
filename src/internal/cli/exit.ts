/**
 * How the command line speaks and stops: one `effect-wsgi:` line on stderr per event, and
 * the exit codes its usage text documents.
 */

/** Exit code of a command-line mistake (bad option, missing file or export). */
export const USAGE_ERROR = 2

/**
 * Exit code of a server that cannot listen (address in use, no permission). A supervisor
 * whose worker exits with it stops instead of starting another, which would fail the same
 * way, forever.
 */
export const LISTEN_FAILED = 3

/** Print one line on stderr (written at once: workers share the primary's stderr). */
export const say = (line: string): void => {
  process.stderr.write(`effect-wsgi: ${line}\n`)
}

/** Print the one-line reason and exit with `USAGE_ERROR`. */
export const fail = (message: string): never => {
  say(message)
  process.exit(USAGE_ERROR)
}

/** Seconds, for messages: `31.2 s`. */
export const seconds = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`

/** Bytes as MiB, for messages: `123.4 MiB`. */
export const mebibytes = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MiB`
