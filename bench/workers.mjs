// A child process that answers one JSON line per JSON command line (bench/inprocess.mjs
// --serve, bench/python_baseline.py --serve), so bench/run.mjs can interleave their rounds.
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"

export const startWorker = (command, args, options = {}) => {
  const child = spawn(command, args, { ...options, stdio: ["pipe", "pipe", "inherit"] })
  const pending = []
  let exited = null
  createInterface({ input: child.stdout }).on("line", (line) => {
    const next = pending.shift()
    if (next === undefined) return
    try {
      next.resolve(JSON.parse(line))
    } catch {
      next.reject(new Error(`${command}: not JSON: ${line.slice(0, 300)}`))
    }
  })
  const failAll = (error) => {
    exited = error
    for (const next of pending.splice(0)) next.reject(error)
  }
  child.on("error", failAll)
  child.on("exit", (code, signal) => failAll(new Error(`${command} ${args.join(" ")} exited (${signal ?? code})`)))
  return {
    ask: (command_) =>
      new Promise((resolve, reject) => {
        if (exited !== null) return reject(exited)
        pending.push({ resolve, reject })
        child.stdin.write(JSON.stringify(command_) + "\n")
      }).then((answer) => {
        if (answer.error !== undefined) throw new Error(`${command}: ${answer.error}`)
        return answer
      }),
    close: () =>
      new Promise((resolve) => {
        if (exited !== null || child.exitCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.stdin.end()
      })
  }
}

/** Ask a forked server (`{cmd: "stop"}` over IPC) to stop; kill it after 5 s. */
export const stopForked = async (child) => {
  if (child.exitCode !== null) return
  child.send({ cmd: "stop" })
  await new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000)
    child.once("exit", () => {
      clearTimeout(kill)
      resolve()
    })
  })
}

/** The messages a forked server sends, one per call of the function returned, in order; rejects if it exits first. */
export const messagesOf = (child, name) => {
  const messages = []
  const waiters = []
  child.on("message", (m) => (waiters.length ? waiters.shift()(m) : messages.push(m)))
  return () =>
    new Promise((resolve, reject) => {
      if (messages.length) return resolve(messages.shift())
      waiters.push(resolve)
      child.once("exit", (code) => reject(new Error(`${name} exited (${code})`)))
    })
}
