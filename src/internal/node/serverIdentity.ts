/**
 * `SERVER_NAME` and `SERVER_PORT` of a request that came in on a node socket, by CPython's
 * rule (`WSGIServer.setup_environ`): the address the server listens on. A server that
 * listens on a wildcard address (`0.0.0.0`, `::`) or a unix socket has no one address, and
 * then the connection's own local address says which one the client reached.
 */
import { Server as NetServer, type Socket } from "node:net"
import type { ServerIdentity } from "../requestEnviron.js"

// Addresses that stand for every local address: a connection's own says which one it used.
const WILDCARDS: ReadonlySet<string> = new Set(["0.0.0.0", "::", ""])

/** The identities of one gateway's requests, read once per listening server. */
export class ServerIdentities {
  // Per listening server: its identity, or null when it has no one address. A server that
  // listens again (another port) drops its entry.
  private readonly listeners = new WeakMap<object, ServerIdentity | null>()

  constructor(private readonly serverSoftware: string) {}

  /** The identity of a request on `socket` (a caller may keep it for the connection). */
  of(socket: Socket): ServerIdentity {
    return this.listenerIdentity(socket) ?? {
      serverName: socket.localAddress ?? "",
      serverPort: socket.localPort === undefined ? "" : String(socket.localPort),
      serverSoftware: this.serverSoftware
    }
  }

  private listenerIdentity(socket: Socket): ServerIdentity | null {
    const server = (socket as { server?: unknown }).server
    if (!(server instanceof NetServer)) return null
    let identity = this.listeners.get(server)
    if (identity === undefined) {
      const address = server.address()
      identity = address === null || typeof address === "string" || WILDCARDS.has(address.address)
        ? null
        : { serverName: address.address, serverPort: String(address.port), serverSoftware: this.serverSoftware }
      this.listeners.set(server, identity)
      server.once("listening", () => this.listeners.delete(server))
    }
    return identity
  }
}
