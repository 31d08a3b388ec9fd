import { Effect } from "effect"
import { type Application, EnvironSource, ErrorLog, Handler, HandlerConfig, Input, Output } from "effect-wsgi"

let count = 0
const counter: Application = (_environ, startResponse) => {
  count += 1
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from(`request ${count}\n`)]
}

// The services as plain values (the file transmitter declines when left out).
const services: Handler.RequestServices = {
  output: Output.fromSink(process.stdout),
  input: Input.fromBytes(""),
  errorLog: ErrorLog.fromWritable(process.stderr),
  environSource: EnvironSource.fromRecord({ REQUEST_METHOD: "GET", SERVER_PROTOCOL: "HTTP/1.0" })
}

// CGI-style ("Status:", no Date header), so the bytes are the same on every run.
const handleOne = Handler.runWith(counter, services, HandlerConfig.make({ originServer: false }))

console.log(`before running: ${count}`) // handleOne is only a description so far
await Effect.runPromise(Effect.repeatN(handleOne, 1)) // runs it twice: two requests
