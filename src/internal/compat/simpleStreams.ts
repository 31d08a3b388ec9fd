/**
 * The streams a `SimpleHandler` is made with: Python file objects (an `InputStream`, an
 * `ErrorStream`) or their Node counterparts, told apart by their methods.
 */
import type { StderrSink, StdinSource } from "../../HandlerClasses.js"
import type { ByteSink } from "../../Output.js"
import type { CgiVariables, ErrorStream, InputStream } from "../../Protocol.js"


export const isInputStream = (value: StdinSource): value is InputStream =>
  typeof (value as InputStream).readline === "function" && typeof (value as InputStream).readlines === "function"

export const isErrorStream = (value: StderrSink): value is ErrorStream =>
  typeof (value as ErrorStream).writelines === "function" && typeof (value as ErrorStream).flush === "function"

export const contentLength = (environ: Readonly<CgiVariables>): number => {
  const value = environ["CONTENT_LENGTH"]
  const length = typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  return Number.isSafeInteger(length) ? length : Infinity
}

/** Where a SimpleHandler made without a stdout writes: nowhere, as an output error. */
export const noStdout: ByteSink = {
  write() {
    throw new Error("this handler has no stdout")
  }
}
