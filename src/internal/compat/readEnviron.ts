import { readFileSync } from "node:fs"

// CPython's wsgiref.handlers._needs_transcode: variables that carry request bytes.
const requestVariables = new Set([
  "SCRIPT_NAME",
  "PATH_INFO",
  "QUERY_STRING",
  "REQUEST_METHOD",
  "AUTH_TYPE",
  "CONTENT_TYPE",
  "CONTENT_LENGTH",
  "HTTPS",
  "REMOTE_USER",
  "REMOTE_IDENT"
])

const needsTranscode = (name: string): boolean =>
  requestVariables.has(name) ||
  name.startsWith("HTTP_") ||
  name.startsWith("SSL_") ||
  (name.startsWith("REDIRECT_") && needsTranscode(name.slice(9)))

// The raw bytes of the environment this process started with (Linux), so a request
// variable that is not valid UTF-8 still reaches the app byte for byte.
const startupEnvironment = (): Map<string, Buffer> => {
  const raw = new Map<string, Buffer>()
  let block: Buffer
  try {
    block = readFileSync("/proc/self/environ")
  } catch {
    return raw
  }
  let start = 0
  while (start < block.length) {
    let end = block.indexOf(0, start)
    if (end === -1) end = block.length
    const entry = block.subarray(start, end)
    const equals = entry.indexOf(0x3d)
    if (equals > 0) raw.set(entry.subarray(0, equals).toString("latin1"), entry.subarray(equals + 1))
    start = end + 1
  }
  return raw
}

/**
 * The process environment with request variables as PEP 3333 native strings (their
 * bytes read as latin-1), as CPython's `read_environ`.
 */
export const readProcessEnviron = (): Record<string, string> => {
  const raw = startupEnvironment()
  const environ: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (!needsTranscode(name)) {
      environ[name] = value
      continue
    }
    const bytes = raw.get(name)
    // Use the startup bytes only while the variable still holds what the process began with.
    environ[name] =
      bytes !== undefined && bytes.toString("utf8") === value ? bytes.toString("latin1") : Buffer.from(value, "utf8").toString("latin1")
  }
  return environ
}
