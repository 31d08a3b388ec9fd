/**
 * The three ways to serve an app over node:http, behind one shape, so a conformance suite
 * can hold them to the same rules: `makeServer`, `toNodeListener` in a plain
 * `http.createServer`, and `toHttpApp` under Effect's `NodeHttpServer`. Each listens on
 * 127.0.0.1, port 0, and writes `wsgi.errors` into a string the test reads.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fromStream } from "../../src/ErrorLog.js"
import { toHttpApp } from "../../src/HttpApp.js"
import { toNodeListener } from "../../src/NodeListener.js"
import type { Application } from "../../src/Protocol.js"
import { makeServer } from "../../src/Server.js"
import { StringErrorStream } from "../../src/internal/stringErrors.js"

/** The name of a way to serve. */
export type GatewayKind = "makeServer" | "toNodeListener" | "toHttpApp"

/** Every way to serve, for `describe.each`. */
export const gatewayKinds: ReadonlyArray<GatewayKind> = ["makeServer", "toNodeListener", "toHttpApp"]

/** An app being served. */
export interface Served {
  readonly port: number
  /** What went to `wsgi.errors` (and the server's own log lines) so far. */
  readonly errors: StringErrorStream
  /** Stop serving (open connections are cut). */
  close(): Promise<void>
}

const listenNode = async (app: Application, errors: StringErrorStream): Promise<Served> => {
  const server = createServer(toNodeListener(app, { errorLog: fromStream(errors) }))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const listenEffect = async (app: Application, errors: StringErrorStream): Promise<Served> => {
  const scope = Effect.runSync(Scope.make())
  // The server lives in `scope` (not in the one Effect.provide would close at the end).
  const nodeServer = createServer()
  const server = await Effect.runPromise(
    Layer.buildWithScope(NodeHttpServer.layer(() => nodeServer, { port: 0, host: "127.0.0.1" }), scope)
  )
  const port = await Effect.runPromise(
    Effect.gen(function*() {
      yield* HttpServer.serveEffect(toHttpApp(app, { errors }))
      return yield* HttpServer.addressWith((address) => Effect.succeed(address._tag === "TcpAddress" ? address.port : 0))
    }).pipe(Effect.provide(server), Scope.extend(scope))
  )
  // NodeHttpServer's scope waits for every connection to end (it does not interrupt the
  // requests in flight): cut them, as makeServer's close does once its timeout passes.
  return {
    port,
    errors,
    close: () => {
      nodeServer.closeAllConnections()
      return Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

/** Serve `app` the `kind` way. */
export const serveWith = async (kind: GatewayKind, app: Application): Promise<Served> => {
  const errors = new StringErrorStream()
  switch (kind) {
    case "makeServer": {
      const server = await makeServer("127.0.0.1", 0, app, { errorLog: fromStream(errors), closeTimeout: 1_000 })
      return { port: server.port, errors, close: () => server.close() }
    }
    case "toNodeListener":
      return listenNode(app, errors)
    case "toHttpApp":
      return listenEffect(app, errors)
  }
}
