/**
 * `npm start`: run the demo app once through `SimpleHandler` and print the response.
 * (Replaced by the demo server once `makeServer` lands.)
 *
 * @since 0.1.0
 */
import { SimpleHandler } from "./handlers.js"
import type { Application } from "./Protocol.js"

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]])
  return [Buffer.from("Hello world!\n")]
}

const handler = new SimpleHandler(null, process.stdout, process.stderr, {
  SERVER_PROTOCOL: "HTTP/1.1",
  REQUEST_METHOD: "GET",
  PATH_INFO: "/"
})
await handler.run(hello)
