/**
 * A synchronous app written as a user would: every PEP 3333 key read with its own type,
 * no casts.
 */
import type { Application, Environ, StartResponse } from "../../../src/index.js"

/** PEP 3333's URL reconstruction, from the typed keys. */
export const reconstructUrl = (environ: Environ): string => {
  let url = `${environ["wsgi.url_scheme"]}://`
  const host = environ["HTTP_HOST"]
  if (typeof host === "string" && host !== "") {
    url += host
  } else {
    url += environ.SERVER_NAME
    const defaultPort = environ["wsgi.url_scheme"] === "https" ? "443" : "80"
    if (environ.SERVER_PORT !== defaultPort) url += `:${environ.SERVER_PORT}`
  }
  url += encodeURI(environ.SCRIPT_NAME ?? "")
  url += encodeURI(environ.PATH_INFO ?? "")
  if (environ.QUERY_STRING) url += `?${environ.QUERY_STRING}`
  return url
}

export const hello: Application = (environ, startResponse) => {
  const method: string = environ.REQUEST_METHOD
  const path: string = environ.PATH_INFO ?? "/"
  const protocol: string = environ.SERVER_PROTOCOL
  const query = new URLSearchParams(environ.QUERY_STRING ?? "")
  const name = query.get("name") ?? "world"

  // A request header is `unknown` until narrowed.
  const agent: unknown = environ["HTTP_USER_AGENT"]
  const userAgent = typeof agent === "string" ? agent : "unknown agent"

  const errors = environ["wsgi.errors"]
  errors.write(`${method} ${path} ${protocol} from ${environ.REMOTE_ADDR ?? "?"}\n`)
  errors.writelines([`agent: ${userAgent}\n`, `url: ${reconstructUrl(environ)}\n`])
  errors.flush()

  const [major, minor] = environ["wsgi.version"]
  const flags: Array<boolean> = [environ["wsgi.multithread"], environ["wsgi.multiprocess"], environ["wsgi.run_once"]]
  const secure = environ["wsgi.url_scheme"] === "https" || environ.HTTPS === "on"
  const chunked: boolean = environ["wsgi.input_terminated"] ?? false

  if (method !== "GET" && method !== "HEAD") {
    startResponse("405 Method Not Allowed", [["Allow", "GET, HEAD"], ["Content-Type", "text/plain"]])
    return [Buffer.from("GET or HEAD only\n")]
  }
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]])
  return [
    Buffer.from(`Hello, ${name}! (WSGI ${major}.${minor}, ${flags.join("/")}, secure=${secure}, chunked=${chunked})\n`)
  ]
}

/** A handwritten app function, not annotated as `Application`, still is one. */
export function plain(environ: Environ, startResponse: StartResponse): Array<Uint8Array> {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [new TextEncoder().encode(environ.REQUEST_METHOD)]
}

export const apps: Array<Application> = [hello, plain]
