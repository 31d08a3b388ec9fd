/**
 * What must NOT type-check: each `@ts-expect-error` fails the type test ("Unused
 * '@ts-expect-error' directive") if the line below it compiles, that is if `Environ`
 * (or the protocol types around it) became too loose.
 */
import { type Application, type Environ, type FileLike, FileWrapper, type StartResponse } from "../../../src/index.js"

export const checks = async (environ: Environ, startResponse: StartResponse, file: FileLike): Promise<Array<unknown>> => {
  // @ts-expect-error REQUEST_METHOD is a string
  const n: number = environ.REQUEST_METHOD
  // @ts-expect-error PATH_INFO may be absent (PEP 3333: left out when empty)
  const p: string = environ.PATH_INFO
  // @ts-expect-error SCRIPT_NAME may be absent (PEP 3333: left out when empty)
  const s: string = environ.SCRIPT_NAME
  // @ts-expect-error QUERY_STRING may be absent
  const q: string = environ.QUERY_STRING
  // @ts-expect-error a request header is unknown until narrowed
  const agent: string = environ["HTTP_USER_AGENT"]
  // @ts-expect-error a request header is unknown until narrowed
  environ.HTTP_HOST.toLowerCase()
  // @ts-expect-error wsgi.input has no such method
  environ["wsgi.input"].nope()
  // @ts-expect-error read() takes a number of bytes
  await environ["wsgi.input"].read("10")
  // @ts-expect-error read() gives bytes, not text
  const text: string = await environ["wsgi.input"].read()
  // @ts-expect-error wsgi.errors is a text stream
  environ["wsgi.errors"].write(new Uint8Array(1))
  // @ts-expect-error wsgi.multithread is a boolean
  const threads: string = environ["wsgi.multithread"]
  // @ts-expect-error wsgi.run_once is a boolean
  environ["wsgi.run_once"] = "no"
  // @ts-expect-error wsgi.version is a pair of numbers
  const version: string = environ["wsgi.version"]
  // @ts-expect-error wsgi.file_wrapper may be absent
  const wrapped = new environ["wsgi.file_wrapper"](file)
  // @ts-expect-error wsgi.file_wrapper is constructed with `new`, not called
  const called = (environ["wsgi.file_wrapper"] ?? FileWrapper)(file)
  return [n, p, s, q, agent, text, threads, version, wrapped, called, startResponse]
}

// @ts-expect-error an app is called with a whole environ, not a partial one
export const partial = (app: Application, startResponse: StartResponse) => app({ REQUEST_METHOD: "GET" }, startResponse)

// @ts-expect-error body chunks are bytes, not strings
export const textBody: Application = (_environ, startResponse) => {
  startResponse("200 OK", [])
  return ["text"]
}

// @ts-expect-error an app's first argument is an Environ, not a number
export const wrongArgument: Application = (environ: number, startResponse: StartResponse) => {
  startResponse("200 OK", [])
  return [new Uint8Array(environ)]
}
