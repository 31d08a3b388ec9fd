/**
 * Access log lines in the Common Log Format, exactly as CPython's
 * `BaseHTTPRequestHandler.log_request` prints them:
 *
 *     127.0.0.1 - - [25/Nov/2026 19:20:00] "GET / HTTP/1.1" 200 12
 *
 * The time is local time (`time.localtime`), and C0/C1 control characters and backslashes
 * in the message are escaped (`_control_char_table`), so a hostile request line cannot
 * forge log lines or terminal escapes.
 */

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n))
const pad4 = (n: number): string => String(n).padStart(4, "0")

// The time part changes once a second; a busy server reuses the last string.
let cachedSecond = Number.NaN
let cachedText = ""

/** CPython's `log_date_time_string`: `25/Nov/2026 19:20:00` in local time. */
export const logDateTime = (epochMillis: number): string => {
  const second = Math.floor(epochMillis / 1000)
  if (second === cachedSecond) return cachedText
  const date = new Date(second * 1000)
  const text = `${pad2(date.getDate())}/${months[date.getMonth()]}/${pad4(date.getFullYear())} ${pad2(date.getHours())}:${
    pad2(date.getMinutes())
  }:${pad2(date.getSeconds())}`
  cachedSecond = second
  cachedText = text
  return text
}

// eslint-disable-next-line no-control-regex
const needsEscape = /[\x00-\x1f\x7f-\x9f\\]/

/** CPython's `message.translate(_control_char_table)`: controls as `\xNN`, `\` as `\\`. */
export const escapeControls = (text: string): string => {
  if (!needsEscape.test(text)) return text
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x5c) out += "\\\\"
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += `\\x${code.toString(16).padStart(2, "0")}`
    else out += text[i]
  }
  return out
}

/** CPython's `log_message` line, without the trailing newline. */
export const formatLogLine = (remoteAddress: string, message: string, epochMillis: number = Date.now()): string =>
  `${remoteAddress} - - [${logDateTime(epochMillis)}] ${escapeControls(message)}`

/**
 * CPython's `log_request(code, size)`: `"<request line>" <code> <size>`. The request line is
 * the one the client sent (`METHOD target HTTP/x.y`); `code` is the first word of the status.
 */
export const formatAccessLine = (
  remoteAddress: string,
  requestLine: string,
  code: string,
  size: number | string,
  epochMillis: number = Date.now()
): string => formatLogLine(remoteAddress, `"${requestLine}" ${code} ${size}`, epochMillis)
