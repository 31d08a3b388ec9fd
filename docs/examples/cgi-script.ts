// Run as a CGI script: the web server passes the request in the environment and stdin.
import { type Application, CGIHandler } from "effect-wsgi"

const echo: Application = async (environ, startResponse) => {
  const body = await environ["wsgi.input"].read()
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from(`${environ.REQUEST_METHOD} ${environ.PATH_INFO}: `), body]
}

await new CGIHandler().run(echo)
