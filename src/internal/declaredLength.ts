/**
 * The rule every server output keeps for a body and the `Content-Length` its app declared:
 * never send more than declared (the surplus would be read as the next response on a
 * kept-alive connection), and close a connection whose body came out shorter (the client
 * would wait for bytes that are not coming). `NodeOutput` and `toHttpApp`'s channel both
 * use these, so the two servers say the same thing in the same words.
 */

/** The length a `Content-Length` value declares, or -1 when it is not plain digits. */
export const parseDeclaredLength = (value: string): number => {
  const trimmed = value.trim()
  return /^\d+$/.test(trimmed) ? Number(trimmed) : -1
}

/** True when a response to `method` with `statusCode` carries the body its length declares. */
export const carriesBody = (method: string, statusCode: number): boolean =>
  method !== "HEAD" && statusCode >= 200 && statusCode !== 204 && statusCode !== 304

/** The log message of a body that outran its length (written once per response). */
export const overrunMessage = (declared: number, written: number): string =>
  `the body is longer than its Content-Length: ${declared}; ${written} bytes written so far, the rest dropped, connection closed`

/** The log message of a body that ended before its length. */
export const shortfallMessage = (sent: number, declared: number): string =>
  `the body is shorter than its Content-Length: ${sent} of ${declared} bytes, connection closed`
