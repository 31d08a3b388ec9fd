/**
 * Middleware, routing and a unit test of an app, as a user would write them.
 */
import {
  type Application,
  type Environ,
  requestUri,
  setupTestingDefaults,
  shiftPathInfo,
  type StartResponse,
  validator
} from "../../../src/index.js"
import { echo } from "./streaming.js"
import { hello } from "./hello.js"

/** Route on the first path segment, moving it onto SCRIPT_NAME (wsgiref.util.shift_path_info). */
export const router = (routes: Record<string, Application>): Application => (environ, startResponse) => {
  const name = shiftPathInfo(environ)
  const app = name === null ? undefined : routes[name]
  if (app === undefined) {
    startResponse("404 Not Found", [["Content-Type", "text/plain"]])
    return [Buffer.from(`no route for ${requestUri(environ)}\n`)]
  }
  return app(environ, startResponse)
}

/** Middleware that hands the app a changed copy of the environ. */
export const behindPrefix = (prefix: string, app: Application): Application => (environ, startResponse) => {
  const inner: Environ = { ...environ, SCRIPT_NAME: prefix + (environ.SCRIPT_NAME ?? "") }
  inner["myapp.prefix"] = prefix
  return app(inner, startResponse)
}

/** Middleware that reads a request header and adds a response header. */
export const poweredBy = (app: Application): Application => (environ, startResponse) => {
  const forwarded = environ["HTTP_X_FORWARDED_FOR"]
  const client = typeof forwarded === "string" ? forwarded.split(",")[0]!.trim() : environ.REMOTE_ADDR
  const wrapped: StartResponse = (status, headers, excInfo) =>
    startResponse(status, [...headers, ["X-Powered-By", "effect-wsgi"], ["X-Client", client ?? "-"]], excInfo)
  return app(environ, wrapped)
}

export const site: Application = validator(poweredBy(router({ hello, echo: behindPrefix("/v1", echo) })))

/** A unit test of an app: setupTestingDefaults completes a partial environ. */
export const callOnce = async (app: Application, path: string): Promise<string> => {
  const environ = { PATH_INFO: path, QUERY_STRING: "name=test" }
  setupTestingDefaults(environ)
  let status = ""
  const body = await app(environ, (s) => {
    status = s
    return async () => {}
  })
  const chunks: Array<Uint8Array> = []
  if (Symbol.asyncIterator in body) for await (const chunk of body) chunks.push(chunk)
  else for (const chunk of body) chunks.push(chunk)
  await body.close?.()
  return `${status}\n${Buffer.concat(chunks).toString("latin1")}`
}
