/**
 * How long the supervisor waits before starting again a worker that keeps dying before it
 * listens (or a standby that keeps dying): doubling delays, capped, instead of forking in
 * a tight loop.
 */

/** Delays between attempts to start a worker that keeps failing to start, capped. */
const RETRY_FIRST = 500
const RETRY_MAX = 30_000

/** The delay before the next attempt after `failures` (1 or more) failed starts in a row. */
export const retryDelay = (failures: number): number => Math.min(RETRY_MAX, RETRY_FIRST * 2 ** (failures - 1))

/** The next attempt to start workers after failed starts in a row. */
export class StartRetry {
  /** Failed starts in a row, and the timer of the next attempt. */
  private failures = 0
  private timer: NodeJS.Timeout | null = null

  /** An attempt is scheduled: nothing is started until it comes. */
  get pending(): boolean {
    return this.timer !== null
  }

  /** A worker listened: the next failure waits the first delay again. */
  succeeded(): void {
    this.failures = 0
  }

  /** One more failed start: call `attempt` after the next delay (returned), instead of the one scheduled. */
  schedule(attempt: () => void): number {
    this.failures++
    const delay = retryDelay(this.failures)
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      attempt()
    }, delay)
    return delay
  }

  /** Drop the attempt scheduled, if any, and start counting failures anew. */
  cancel(): void {
    if (this.timer === null) return
    clearTimeout(this.timer)
    this.timer = null
    this.failures = 0
  }
}
