/**
 * The in-flight board of a worker: the requests it is serving (method, path, arrival), in
 * a `SharedArrayBuffer` its watchdog thread reads when the event loop is blocked. Writing
 * is a few stores into shared memory, no message and no system call per request; the
 * thread reads only while the loop is blocked, so what it reads holds still.
 */

/** Requests tracked at once; more in flight reuse the oldest slots (the newest stay known). */
const SLOTS = 64
const METHOD_BYTES = 16
const PATH_BYTES = 240
const SLOT_BYTES = METHOD_BYTES + PATH_BYTES

// Layout: a tick counter (Int32, padded to 8), arrival times (Float64 per slot, 0 = free),
// arrival order (Float64 per slot: two requests may arrive in one millisecond), byte
// lengths (Uint16: method, path per slot), then the text (latin1, as node:http gives it).
const STARTS_AT = 8
const ORDER_AT = STARTS_AT + SLOTS * 8
const LENGTHS_AT = ORDER_AT + SLOTS * 8
const TEXT_AT = LENGTHS_AT + SLOTS * 2 * 2

/** Bytes of a board's buffer. */
export const BOARD_BYTES = TEXT_AT + SLOTS * SLOT_BYTES

/** A request on the board. */
export interface Entry {
  readonly method: string
  readonly path: string
  /** `Date.now()` when it arrived. */
  readonly startedAt: number
}

/** What a board says: the loop's tick count and the requests in flight. */
export interface Reading {
  readonly ticks: number
  /** The most recently arrived request still in flight, or null. */
  readonly newest: Entry | null
  readonly inFlight: number
}

/** The worker's side: marks requests in and out, and ticks from the event loop. */
export class BoardWriter {
  private readonly ticks: Int32Array
  private readonly starts: Float64Array
  private readonly order: Float64Array
  private readonly lengths: Uint16Array
  private readonly text: Uint8Array
  /** Who holds each slot: a request ends by its owner, so one whose slot was reused frees nothing. */
  private readonly owners: Array<object | null> = new Array<object | null>(SLOTS).fill(null)
  private next = 0
  private arrivals = 0

  constructor(readonly buffer: SharedArrayBuffer) {
    this.ticks = new Int32Array(buffer, 0, 1)
    this.starts = new Float64Array(buffer, STARTS_AT, SLOTS)
    this.order = new Float64Array(buffer, ORDER_AT, SLOTS)
    this.lengths = new Uint16Array(buffer, LENGTHS_AT, SLOTS * 2)
    this.text = new Uint8Array(buffer, TEXT_AT, SLOTS * SLOT_BYTES)
  }

  /** The event loop ran: called from a timer, so a loop that stops ticking is blocked. */
  tick(): void {
    Atomics.add(this.ticks, 0, 1)
  }

  /** `owner`'s request arrived: `target` is the request target (its query is left out). */
  begin(owner: object, method: string, target: string): void {
    const slot = this.next
    this.next = (slot + 1) & (SLOTS - 1)
    // Copied a char code at a time: for the short strings of a request line, several
    // times faster than Buffer#write (which is most of this method's cost otherwise).
    const text = this.text
    let at = slot * SLOT_BYTES
    const methodLength = Math.min(METHOD_BYTES, method.length)
    for (let i = 0; i < methodLength; i++) text[at + i] = method.charCodeAt(i)
    at += METHOD_BYTES
    const pathLimit = Math.min(PATH_BYTES, target.length)
    let pathLength = 0
    for (; pathLength < pathLimit; pathLength++) {
      const code = target.charCodeAt(pathLength)
      if (code === 63) break // "?": the query may hold secrets, and says little
      text[at + pathLength] = code
    }
    this.lengths[2 * slot] = methodLength
    this.lengths[2 * slot + 1] = pathLength
    this.owners[slot] = owner
    this.order[slot] = ++this.arrivals
    this.starts[slot] = Date.now()
  }

  /** `owner`'s request is over (a no-op when its slot went to a later request). */
  end(owner: object): void {
    const slot = this.owners.indexOf(owner)
    if (slot === -1) return
    this.owners[slot] = null
    this.starts[slot] = 0
  }
}

/** The watchdog's side: read a board (from any thread). */
export const readBoard = (buffer: SharedArrayBuffer): Reading => {
  const starts = new Float64Array(buffer, STARTS_AT, SLOTS)
  const order = new Float64Array(buffer, ORDER_AT, SLOTS)
  let newest = -1
  let inFlight = 0
  for (let slot = 0; slot < SLOTS; slot++) {
    if (starts[slot] === 0) continue
    inFlight++
    if (newest === -1 || order[slot]! > order[newest]!) newest = slot
  }
  const ticks = Atomics.load(new Int32Array(buffer, 0, 1), 0)
  if (newest === -1) return { ticks, newest: null, inFlight }
  const lengths = new Uint16Array(buffer, LENGTHS_AT, SLOTS * 2)
  const text = Buffer.from(buffer, TEXT_AT + newest * SLOT_BYTES, SLOT_BYTES)
  return {
    ticks,
    inFlight,
    newest: {
      method: text.toString("latin1", 0, lengths[2 * newest]),
      path: text.toString("latin1", METHOD_BYTES, METHOD_BYTES + lengths[2 * newest + 1]!),
      startedAt: starts[newest]!
    }
  }
}

/** The tick count alone (what the watchdog reads on every beat). */
export const readTicks = (buffer: SharedArrayBuffer): number => Atomics.load(new Int32Array(buffer, 0, 1), 0)
