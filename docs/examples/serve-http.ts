import { type Application, makeServer, validator } from "effect-wsgi"

const hello: Application = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from(`Hello from ${environ["PATH_INFO"]}`)]
}

// Port 0 picks a free port; validator(app) checks both sides of PEP 3333 on every request.
const server = await makeServer("127.0.0.1", 0, validator(hello))
const response = await fetch(`${server.url}world`)
console.log(response.status, response.headers.get("content-type"), await response.text())
await server.close() // graceful: waits for requests in flight
