import { type Application, SimpleHandler } from "effect-wsgi"

const hello: Application = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]])
  return [Buffer.from("Hello from a class!")]
}

// Subclass and override a step, as with CPython's wsgiref.handlers.
class CapturingHandler extends SimpleHandler {
  readonly chunks: Array<Uint8Array> = []
  override _write(data: Uint8Array): void {
    this.chunks.push(data)
  }
  override _flush(): void {}
}

const handler = new CapturingHandler(null, process.stdout, process.stderr, {
  SERVER_PROTOCOL: "HTTP/1.0",
  REQUEST_METHOD: "GET"
})
handler.originServer = false // a CGI-style "Status:" line instead of a dated status line
await handler.run(hello)
process.stdout.write(Buffer.concat(handler.chunks).toString("latin1"))
