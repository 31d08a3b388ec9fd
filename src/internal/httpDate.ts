import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const pad = (n: number): string => (n < 10 ? `0${n}` : String(n))

// A response's Date changes once a second; most requests reuse the last string.
let cachedSecond = Number.NaN
let cachedText = ""

/**
 * An RFC 7231 HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for seconds since the epoch, as
 * CPython's `wsgiref.handlers.format_date_time`.
 */
export const formatHttpDate = (epochSeconds: number): string => {
  const second = Math.floor(epochSeconds)
  if (second === cachedSecond) return cachedText
  const date = new Date(second * 1000)
  const text = `${days[date.getUTCDay()]}, ${pad(date.getUTCDate())} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${
    pad(date.getUTCHours())
  }:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} GMT`
  cachedSecond = second
  cachedText = text
  return text
}

/** Effect's default clock (the system's): what every handler reads unless given another. */
export const systemClock: Clock.Clock = Effect.runSync(Effect.clock)

// The system clock's current Date text, dropped by a timer at the next second (as
// node:http keeps its own Date header): a response then reads no clock at all.
let systemDate: string | null = null
const dropSystemDate = (): void => {
  systemDate = null
}

/**
 * The Date header of a response made now on `clock`. On the system clock it may lag the
 * second by as long as the event loop is late to run a timer, as node:http's own does.
 */
export const httpDateNow = (clock: Clock.Clock): string => {
  if (clock !== systemClock) return formatHttpDate(clock.unsafeCurrentTimeMillis() / 1000)
  if (systemDate === null) {
    const now = Date.now()
    systemDate = formatHttpDate(now / 1000)
    setTimeout(dropSystemDate, 1000 - (now % 1000)).unref()
  }
  return systemDate
}
