/**
 * The text CPython's `traceback.print_exception(limit=...)` would print, for JavaScript
 * errors: the `name: message` line, then at most `limit` stack frames (all when null).
 */
export const formatException = (error: unknown, limit: number | null): string => {
  if (!(error instanceof Error)) return `Uncaught value: ${safeString(error)}\n`
  const stack = typeof error.stack === "string" ? error.stack : `${error.name}: ${error.message}`
  const lines = stack.split("\n")
  const firstFrame = lines.findIndex((line) => /^\s+at /.test(line))
  const head = firstFrame === -1 ? lines : lines.slice(0, firstFrame)
  const frames = firstFrame === -1 ? [] : lines.slice(firstFrame)
  const kept = limit === null ? frames : frames.slice(0, Math.max(0, limit))
  let text = [...head, ...kept].join("\n") + "\n"
  // A null cause says "none" (as the package's own errors give it), as Python's None does.
  if (error.cause !== undefined && error.cause !== null) text += `Caused by: ${formatException(error.cause, limit)}`
  return text
}

const safeString = (value: unknown): string => {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}
