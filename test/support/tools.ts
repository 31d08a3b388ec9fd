/**
 * What the tests that run other programs share: finding a binary (nginx, lighttpd, curl,
 * nghttp, …), the CI rule for a missing one (it skips with a printed reason, except under
 * CI, where .ci/run installs it and a missing one fails), free ports and waiting for a port
 * to accept.
 */
import { type ChildProcess, execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { connect, createServer } from "node:net"

/** CI set to anything but "", "0" or "false": a missing tool fails instead of skipping. */
export const inCI = !["", "0", "false"].includes((process.env["CI"] ?? "").trim().toLowerCase())

/** The path of `name` on PATH, else the first of `candidates` that exists, else null. */
export const findBinary = (name: string, candidates: ReadonlyArray<string> = []): string | null => {
  try {
    const found = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim()
    if (found !== "") return found
  } catch {
    // not on PATH
  }
  return candidates.find((candidate) => existsSync(candidate)) ?? null
}

/**
 * What to do about a tool that is missing (`why` says which and how to install it): under
 * CI, a test that fails with it; elsewhere, one printed line. Returns true when missing.
 */
export const reportMissing = (
  missing: boolean,
  file: string,
  why: string,
  failingTest: (name: string, body: () => void) => void
): boolean => {
  if (!missing) return false
  if (inCI) {
    failingTest(`needs what CI must provide (.ci/run installs it): ${why}`, () => {
      throw new Error(`CI is set but there is ${why}`)
    })
  } else {
    console.warn(`[${file}] skipped: ${why}`)
  }
  return true
}

/** A free TCP port on 127.0.0.1 (free when asked; a server started right after gets it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/** Wait until something accepts connections on 127.0.0.1:`port` (at most `ms`). */
export const accepting = async (port: number, ms = 10_000): Promise<void> => {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1")
      socket.once("connect", () => {
        socket.destroy()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Wait for `child` to exit; past `ms`, kill it (SIGKILL) and stop waiting. */
export const waitExit = (child: ChildProcess, ms: number): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      resolve()
    }, ms)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
  })
