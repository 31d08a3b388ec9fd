/**
 * TLS for the command line: the `--certfile`/`--keyfile`/`--ca-certs` files read at start,
 * the server options they and `--cert-reqs`, `--http2`, `--h2c`, `--proxy-protocol` make,
 * and renewed files served without a restart.
 */
import { readFileSync } from "node:fs"
import { createSecureContext } from "node:tls"
import type { Http2ServerOptions, TlsCertificates, WSGIServer } from "../../Server.js"
import { contextOptions, watchCertificates } from "../node/tls.js"
import type { ServeCommand } from "./cliArgs.js"
import { fail, say } from "./exit.js"

/** The files a TLS command reads, in the order `certificatesOf` takes them. */
export const certificateFiles = (command: ServeCommand): ReadonlyArray<string> =>
  command.certfile === null || command.keyfile === null ? [] : [command.certfile, command.keyfile, ...(command.caCerts === null ? [] : [command.caCerts])]

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * The certificates from the files' contents; throws when node cannot make a context of
 * them (not PEM, a key that does not match the certificate).
 */
const certificatesOf = (contents: ReadonlyArray<Buffer>): TlsCertificates => {
  const [cert, key, ca] = contents
  const certificates: TlsCertificates = { cert: cert!, key: key!, ...(ca === undefined ? {} : { ca }) }
  createSecureContext(contextOptions(certificates))
  return certificates
}

/**
 * Read the command's certificate files (null without `--certfile`); the error is one line
 * naming what is wrong.
 */
export const readCertificates = (command: ServeCommand): TlsCertificates | null => {
  const files = certificateFiles(command)
  if (files.length === 0) return null
  const contents = files.map((file) => {
    try {
      return readFileSync(file)
    } catch (error) {
      throw new Error(`cannot read ${file}: ${errorText(error)}`)
    }
  })
  try {
    return certificatesOf(contents)
  } catch (error) {
    throw new Error(`cannot use ${files.join(", ")}: ${errorText(error)}`)
  }
}

/** `readCertificates`, or print its one line and exit 2. */
export const readCertificatesOrExit = (command: ServeCommand): TlsCertificates | null => {
  try {
    return readCertificates(command)
  } catch (error) {
    return fail(errorText(error))
  }
}

/** The server options of the TLS, HTTP/2 and PROXY protocol flags (exits 2 on unreadable files). */
export const secureServerOptions = (command: ServeCommand): Http2ServerOptions => {
  const certificates = readCertificatesOrExit(command)
  return {
    ...(certificates === null
      ? {}
      : {
        tls: {
          ...certificates,
          requestCert: command.certReqs !== "none",
          rejectUnauthorized: command.certReqs === "required"
        }
      }),
    ...(command.http2 ? { http2: true } : {}),
    ...(command.h2c ? { h2c: true } : {}),
    ...(command.proxyProtocol ? { proxyProtocol: true } : {}),
    ...(command.proxyAllowIps === null ? {} : { proxyAllowIps: command.proxyAllowIps })
  }
}

/**
 * Serve renewed certificate files to new connections: when they change on disk and, with
 * `onSighup` (a process with no supervisor, whose SIGHUP reloads nothing else), on SIGHUP.
 * A set node refuses (a certificate renewed before its key) prints one line and the old one
 * stays; the watcher sees the key when it comes.
 */
export const watchCertificateFiles = (
  command: ServeCommand,
  servers: ReadonlyArray<Pick<WSGIServer, "setSecureContext">>,
  onSighup: boolean
): void => {
  const files = certificateFiles(command)
  if (files.length === 0) return
  const apply = (contents: ReadonlyArray<Buffer>, why: string): void => {
    try {
      const certificates = certificatesOf(contents)
      for (const server of servers) server.setSecureContext(certificates)
      say(`certificates reloaded from ${command.certfile}${why}`)
    } catch (error) {
      say(`certificates in ${files.join(", ")} not reloaded, the old ones are served: ${errorText(error)}`)
    }
  }
  watchCertificates(files, (contents) => apply(contents, ""), {
    onError: (error) => say(`certificates in ${files.join(", ")} not reloaded, the old ones are served: ${errorText(error)}`)
  })
  if (onSighup) {
    process.on("SIGHUP", () => {
      let contents: ReadonlyArray<Buffer>
      try {
        contents = files.map((file) => readFileSync(file))
      } catch (error) {
        say(`certificates not reloaded, the old ones are served: ${errorText(error)}`)
        return
      }
      apply(contents, " (SIGHUP)")
    })
  }
}
