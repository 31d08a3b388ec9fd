/**
 * Async apps, request bodies and generator bodies, as a user would write them.
 */
import { type Application, FileWrapper, type FileLike } from "../../../src/index.js"

/** Echo the request body: `await environ["wsgi.input"].read()`. */
export const echo: Application = async (environ, startResponse) => {
  const body: Uint8Array = await environ["wsgi.input"].read()
  const length = Number.parseInt(environ.CONTENT_LENGTH ?? "", 10)
  const type = environ.CONTENT_TYPE || "application/octet-stream"
  startResponse("200 OK", [["Content-Type", type], ["X-Declared-Length", String(Number.isNaN(length) ? 0 : length)]])
  return [body]
}

/** Read the body line by line, every way PEP 3333 offers. */
export const lines: Application = async (environ, startResponse) => {
  const input = environ["wsgi.input"]
  const first = await input.readline()
  const limited = await input.readline(16)
  const next = await input.read(8)
  const rest = await input.readlines()
  const seen: Array<Uint8Array> = [first, limited, next, ...rest]
  for await (const line of input) seen.push(line)
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return seen
}

/** A generator body (sync), with the status decided up front. */
export const counting: Application = (environ, startResponse) => {
  const count = Number(new URLSearchParams(environ.QUERY_STRING ?? "").get("n") ?? "3")
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return (function*(): Generator<Uint8Array> {
    for (let i = 0; i < count; i++) yield Buffer.from(`${i}\n`)
  })()
}

/** An async generator body that reads the request as it goes, and the `write()` callable. */
export const streaming: Application = async (environ, startResponse) => {
  const write = startResponse("200 OK", [["Content-Type", "text/plain"]])
  await write(Buffer.from("header line\n"))
  const input = environ["wsgi.input"]
  async function* body(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = await input.read(1024)
      if (chunk.length === 0) return
      yield chunk
    }
  }
  return body()
}

/** A body with `close()`, which the gateway calls once. */
export const closing: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  const errors = environ["wsgi.errors"]
  return Object.assign([Buffer.from("done")], {
    close(): void {
      errors.write("closed\n")
    }
  })
}

/** `wsgi.file_wrapper` when the server offers one, else the package's `FileWrapper`. */
export const download = (file: FileLike): Application => (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/octet-stream"]])
  const Wrapper = environ["wsgi.file_wrapper"] ?? FileWrapper
  return new Wrapper(file, 64 * 1024)
}
