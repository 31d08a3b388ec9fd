/**
 * The checks `startResponse` makes on a status and a header list: CPython's assertions,
 * plus the ones that keep a response from being split (always on).
 */
import { ProtocolError } from "../../HandlerError.js"
import type { HeaderList } from "../../Protocol.js"
import { isHopByHop } from "../../Util.js"
import { hasUnsafeChar, isToken } from "../headerChars.js"
import { typeName } from "../typeName.js"

const isDigit = (code: number): boolean => code >= 48 && code <= 57

const startsWithThreeDigits = (text: string): boolean =>
  isDigit(text.charCodeAt(0)) && isDigit(text.charCodeAt(1)) && isDigit(text.charCodeAt(2))

const fail = (message: string): never => {
  throw new ProtocolError({ message })
}

const mustBeString = (value: unknown, title: string): string =>
  typeof value === "string" ? value : fail(`${title} must be of type string (not ${typeName(value)})`)

/** Throws a `ProtocolError` unless `status` is `"NNN reason"` with no unsafe character. */
export const checkStatus = (status: unknown): void => {
  const text = mustBeString(status, "Status")
  if (text.length < 4) fail("Status must be at least 4 characters")
  if (!startsWithThreeDigits(text)) fail("Status message must begin w/3-digit code")
  if (text[3] !== " ") fail("Status message must have a space after code")
  if (hasUnsafeChar(text)) fail(`Status contains a control or non-latin-1 character: ${JSON.stringify(text)}`)
}

/** A copy of the app's header list, pairs included; a malformed list is a `ProtocolError`. */
export const copyHeaderList = (headers: unknown): HeaderList => {
  if (!Array.isArray(headers)) fail(`Headers must be a list of [name, value] pairs (not ${typeName(headers)})`)
  const list = headers as Array<unknown>
  const copy: HeaderList = new Array(list.length)
  for (let i = 0; i < list.length; i++) {
    const pair = list[i]
    if (!Array.isArray(pair) || pair.length !== 2) {
      fail(`Headers must be a list of [name, value] pairs (item ${i} is ${typeName(pair)})`)
    }
    copy[i] = [(pair as Array<string>)[0]!, (pair as Array<string>)[1]!]
  }
  return copy
}

/** Throws a `ProtocolError` for a header CPython refuses or one that could split the response. */
export const checkHeaders = (headers: HeaderList): void => {
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i]!
    const name = mustBeString(pair[0], "Header name")
    const value = mustBeString(pair[1], "Header value")
    if (isHopByHop(name)) fail(`Hop-by-hop header, '${name}: ${value}', not allowed`)
    if (!isToken(name)) fail(`Header name ${JSON.stringify(name)} is not an HTTP token`)
    if (hasUnsafeChar(value)) {
      fail(`Header value of ${name} contains a control or non-latin-1 character: ${JSON.stringify(value)}`)
    }
  }
}

/** 1xx, 204 and 304 responses have no body, so they get no Content-Length (CPython gh-62299). */
export const isBodylessStatus = (status: string): boolean =>
  status.charCodeAt(0) === 49 /* "1" */ || status.startsWith("204") || status.startsWith("304")
