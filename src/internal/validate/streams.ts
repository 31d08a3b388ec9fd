/**
 * `wsgi.input` and `wsgi.errors` as the application sees them under the validator
 * (CPython's `InputWrapper` and `ErrorWrapper`).
 */
import type { ErrorStream, InputStream } from "../../Protocol.js"
import { argumentCount, assert, fail, isThenable } from "./report.js"
import { repr } from "./repr.js"

/** A size argument: an integer, or null/undefined for "no limit" (Python's None). */
const checkSize = (method: string, size: unknown): void => {
  assert(
    size === undefined || size === null || Number.isInteger(size),
    () => `${method} argument must be an integer or null (got ${repr(size)})`
  )
}

/** What a wsgi.input method returned: a Promise, as the gateway's side of the contract says. */
const settled = async (method: string, value: unknown): Promise<unknown> => {
  assert(isThenable(value), () => `${method} must return a Promise (got ${repr(value)})`)
  return await value
}

const checkChunk = (method: string, chunk: unknown, size: unknown): Uint8Array => {
  assert(chunk instanceof Uint8Array, () => `${method} must resolve to a Uint8Array (got ${repr(chunk)})`)
  const bytes = chunk as Uint8Array
  // Python's file semantics: never more than was asked for.
  if (typeof size === "number" && size >= 0) {
    assert(bytes.length <= size, () => `${method} returned ${bytes.length} bytes, more than the ${size} asked for`)
  }
  return bytes
}

/**
 * `wsgi.input` as the application sees it under the validator: CPython's `InputWrapper`.
 * Only the PEP 3333 methods exist, and `close()` is a breach.
 */
export class InputWrapper implements InputStream {
  readonly #input: InputStream

  constructor(input: InputStream) {
    this.#input = input
  }

  // Argument checks throw at the call, as CPython's asserts do; checks of what the gateway
  // returned can only reject.
  read(...args: Array<unknown>): Promise<Uint8Array> {
    // CPython's validator insists on exactly one argument (a WSGI 1.0 rule). PEP 3333 then
    // told servers to accept read() with none, and this project's InputStream contract
    // makes the size optional, so only a surplus argument is a breach here.
    assert(args.length <= 1, () => argumentCount("wsgi.input.read()", args.length, "at most one argument"))
    checkSize("wsgi.input.read()", args[0])
    const result = (this.#input.read as (...a: Array<unknown>) => unknown)(...args)
    return settled("wsgi.input.read()", result).then((chunk) => checkChunk("wsgi.input.read()", chunk, args[0]))
  }

  readline(...args: Array<unknown>): Promise<Uint8Array> {
    assert(args.length <= 1, () => argumentCount("wsgi.input.readline()", args.length, "at most one argument"))
    checkSize("wsgi.input.readline()", args[0])
    const result = (this.#input.readline as (...a: Array<unknown>) => unknown)(...args)
    return settled("wsgi.input.readline()", result).then((line) => checkChunk("wsgi.input.readline()", line, args[0]))
  }

  readlines(...args: Array<unknown>): Promise<Array<Uint8Array>> {
    assert(args.length <= 1, () => argumentCount("wsgi.input.readlines()", args.length, "at most one argument"))
    checkSize("wsgi.input.readlines()", args[0])
    const result = (this.#input.readlines as (...a: Array<unknown>) => unknown)(...args)
    return settled("wsgi.input.readlines()", result).then((lines) => {
      assert(
        Array.isArray(lines) && lines.every((line) => line instanceof Uint8Array),
        () => `wsgi.input.readlines() must resolve to an array of Uint8Array (got ${repr(lines)})`
      )
      return lines as Array<Uint8Array>
    })
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const inner = this.#input[Symbol.asyncIterator]()
    return {
      next: async () => {
        const step = await settled("wsgi.input iteration", inner.next())
        const result = step as IteratorResult<unknown>
        if (result.done) return { done: true, value: undefined }
        assert(
          result.value instanceof Uint8Array && result.value.length > 0,
          () => `wsgi.input iteration must yield non-empty Uint8Array lines (got ${repr(result.value)})`
        )
        return { done: false, value: result.value as Uint8Array }
      },
      return: async () => {
        if (typeof inner.return === "function") await inner.return()
        return { done: true, value: undefined }
      }
    }
  }

  close(): never {
    return fail("input.close() must not be called")
  }
}

/** `wsgi.errors` as the application sees it under the validator: CPython's `ErrorWrapper`. */
export class ErrorWrapper implements ErrorStream {
  readonly #errors: ErrorStream

  constructor(errors: ErrorStream) {
    this.#errors = errors
  }

  write(...args: Array<unknown>): void {
    assert(args.length === 1, () => argumentCount("wsgi.errors.write()", args.length, "exactly one argument"))
    const text = args[0]
    assert(typeof text === "string", () => `wsgi.errors.write() argument must be a str (got ${repr(text)})`)
    this.#errors.write(text as string)
  }

  writelines(...args: Array<unknown>): void {
    assert(args.length === 1, () => argumentCount("wsgi.errors.writelines()", args.length, "exactly one argument"))
    const seq = args[0]
    assert(
      typeof seq === "object" && seq !== null && typeof (seq as Iterable<unknown>)[Symbol.iterator] === "function",
      () => `wsgi.errors.writelines() argument must be an iterable of str (got ${repr(seq)})`
    )
    // Checked before anything is written, then handed to the gateway's own writelines (CPython
    // writes line by line instead, which would leave the gateway's writelines untested).
    const lines = [...(seq as Iterable<unknown>)]
    for (const line of lines) {
      assert(typeof line === "string", () => `wsgi.errors.writelines() lines must be str (got ${repr(line)})`)
    }
    this.#errors.writelines(lines as Array<string>)
  }

  flush(...args: Array<unknown>): void {
    assert(args.length === 0, () => argumentCount("wsgi.errors.flush()", args.length, "no arguments"))
    this.#errors.flush()
  }

  close(): never {
    return fail("errors.close() must not be called")
  }
}

