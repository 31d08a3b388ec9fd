// Throwaway certificates for the TLS tests, made with `openssl` in a temp dir: P-256 keys,
// a CA, certificates it signs (with a subjectAltName), self-signed ones.
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A directory of certificates: `NAME.pem` and `NAME.key` files, and their contents. */
export interface CertDir {
  readonly dir: string
  /** The contents of `NAME.pem` / `NAME.key`, by file name. */
  readonly pem: Record<string, Buffer>
  /** The path of a file in the directory. */
  file(name: string): string
  /** A P-256 key and a certificate for `subject`, signed by the CA `ca` (or self-signed without one). */
  certificate(name: string, subject: string, options?: { readonly ca?: string; readonly san?: string }): void
  /** Remove the directory. */
  remove(): void
}

/** A fresh directory to make certificates in. */
export const certDir = (prefix = "effect-wsgi-tls-"): CertDir => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const pem: Record<string, Buffer> = {}
  const file = (name: string): string => join(dir, name)
  const openssl = (...args: Array<string>): void => {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
  }
  const certificate = (name: string, subject: string, options: { readonly ca?: string; readonly san?: string } = {}): void => {
    if (options.ca === undefined) {
      openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", subject)
    } else {
      openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject)
      const extensions = options.san === undefined ? [] : ["-extfile", `${name}.ext`]
      if (options.san !== undefined) writeFileSync(file(`${name}.ext`), `subjectAltName=${options.san}\n`)
      openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${options.ca}.pem`, "-CAkey", `${options.ca}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", ...extensions)
    }
    pem[`${name}.key`] = readFileSync(file(`${name}.key`))
    pem[`${name}.pem`] = readFileSync(file(`${name}.pem`))
  }
  return { dir, pem, file, certificate, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** True when `curl` is on the PATH. */
export const hasCurl = (() => {
  try {
    execFileSync("curl", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()
