/**
 * Proxy headers (`X-Forwarded-For`, `X-Forwarded-Proto`, `Forwarded`), believed only when
 * the peer is a trusted proxy (gunicorn's `forwarded_allow_ips`). They then set
 * `REMOTE_ADDR` and the scheme (through `HTTPS`, which `guessScheme` reads); the headers
 * themselves stay in the environ as received either way.
 */
import { BlockList, isIP } from "node:net"
import type { CgiVariables } from "../../Protocol.js"

/** `::ffff:127.0.0.1` → `127.0.0.1`, so IPv4 lists match dual-stack sockets. */
const plain = (address: string): string => (address.startsWith("::ffff:") ? address.slice(7) : address)

/** An allow list, parsed once: `*`, addresses, and `address/prefix` networks (gunicorn 22+). */
interface AllowList {
  readonly all: boolean
  readonly addresses: ReadonlySet<string>
  readonly networks: BlockList
}
const parsedLists = new WeakMap<ReadonlyArray<string>, AllowList>()

const allowListOf = (allowed: ReadonlyArray<string>): AllowList => {
  let list = parsedLists.get(allowed)
  if (list !== undefined) return list
  const addresses = new Set<string>()
  const networks = new BlockList()
  let all = false
  for (const entry of allowed) {
    const slash = entry.indexOf("/")
    if (entry === "*") all = true
    else if (slash === -1) addresses.add(plain(entry))
    else {
      const network = plain(entry.slice(0, slash))
      const prefix = Number(entry.slice(slash + 1))
      const family = isIP(network)
      if (family !== 0 && Number.isInteger(prefix)) networks.addSubnet(network, prefix, family === 4 ? "ipv4" : "ipv6")
    }
  }
  list = { all, addresses, networks }
  parsedLists.set(allowed, list)
  return list
}

/** True when `address` is in `allowed`: listed, inside a listed `ip/prefix`, or `allowed` holds `*`. */
export const isTrusted = (address: string, allowed: ReadonlyArray<string>): boolean => {
  const list = allowListOf(allowed)
  if (list.all) return true
  const ip = plain(address)
  if (list.addresses.has(ip)) return true
  const family = isIP(ip)
  return family !== 0 && list.networks.check(ip, family === 4 ? "ipv4" : "ipv6")
}

/** A node of `Forwarded: for=…`: unquoted, without brackets or port. */
const forwardedNode = (value: string): string => {
  let node = value.trim()
  if (node.startsWith("\"") && node.endsWith("\"") && node.length >= 2) node = node.slice(1, -1)
  if (node.startsWith("[")) {
    const end = node.indexOf("]")
    return end === -1 ? node : node.slice(1, end)
  }
  const colon = node.indexOf(":")
  return colon !== -1 && node.indexOf(":", colon + 1) === -1 ? node.slice(0, colon) : node
}

/** The `for` and `proto` of the last element of a `Forwarded` header (the nearest proxy's). */
const parseForwarded = (header: string): { readonly hops: Array<string>; readonly proto: string | undefined } => {
  const hops: Array<string> = []
  let proto: string | undefined
  for (const element of header.split(",")) {
    let elementProto: string | undefined
    for (const pair of element.split(";")) {
      const equals = pair.indexOf("=")
      if (equals === -1) continue
      const key = pair.slice(0, equals).trim().toLowerCase()
      const value = pair.slice(equals + 1).trim()
      if (key === "for") hops.push(forwardedNode(value))
      else if (key === "proto") elementProto = value.replace(/^"|"$/g, "").toLowerCase()
    }
    if (elementProto !== undefined) proto = elementProto
  }
  return { hops, proto }
}

/**
 * The client: the nearest hop that is not itself a trusted proxy (else the farthest). A hop
 * that is not an IP address (`unknown`, an obfuscated `_name`, garbage) ends the search
 * with no answer: nothing beyond it can be believed, and REMOTE_ADDR stays the peer's.
 */
const clientOf = (hops: ReadonlyArray<string>, allowed: ReadonlyArray<string>): string | undefined => {
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = plain(hops[i]!)
    if (isIP(hop) === 0) return undefined
    if (i === 0 || !isTrusted(hop, allowed)) return hop
  }
  return undefined
}

/** Apply the proxy headers of a request from a trusted peer to its CGI variables. */
export const applyForwarded = (variables: CgiVariables, allowed: ReadonlyArray<string>): void => {
  let hops: Array<string> = []
  let proto: string | undefined
  const forwarded = variables["HTTP_FORWARDED"]
  if (typeof forwarded === "string") {
    const parsed = parseForwarded(forwarded)
    hops = parsed.hops
    proto = parsed.proto
  } else {
    const forwardedFor = variables["HTTP_X_FORWARDED_FOR"]
    if (typeof forwardedFor === "string") hops = forwardedFor.split(",").map(forwardedNode)
    const forwardedProto = variables["HTTP_X_FORWARDED_PROTO"]
    if (typeof forwardedProto === "string") {
      const protos = forwardedProto.split(",")
      proto = protos[protos.length - 1]!.trim().toLowerCase()
    }
  }
  const client = clientOf(hops, allowed)
  if (client !== undefined) variables["REMOTE_ADDR"] = client
  if (proto === "https") variables["HTTPS"] = "on"
  else if (proto === "http") delete variables["HTTPS"]
}
