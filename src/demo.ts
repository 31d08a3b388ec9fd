/**
 * `npm start`: serve `demoApp` on 127.0.0.1:8000 (HOST and PORT override), print the URL,
 * and stop gracefully on SIGINT or SIGTERM (exit code 0), as CPython's
 * `python -m wsgiref.simple_server`.
 *
 * @since 0.1.0
 */
import { demoApp, makeServer } from "./Server.js"

const host = process.env["HOST"] ?? "127.0.0.1"
const port = Number(process.env["PORT"] ?? 8000)

const server = await makeServer(host, port, demoApp, { accessLog: true })
process.stdout.write(`Serving HTTP on ${server.url} ...\n`)

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  server.close().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`close failed: ${String(error)}\n`)
      process.exit(1)
    }
  )
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
