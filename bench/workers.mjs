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

/**
 * The child half of a benched server (bench/http_server.mjs, bench/http2_server.mjs): print
 * {"port": N}, answer each "cpu" line on stdin with {"cpu": <µs of CPU used>}, and `close`
 * then exit when stdin ends.
 */
export const serveBenchProtocol = (port, close) => {
  process.stdout.write(JSON.stringify({ port }) + "\n")
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (line.trim() === "cpu") {
      const { user, system } = process.cpuUsage()
      process.stdout.write(JSON.stringify({ cpu: user + system }) + "\n")
    }
  })
  process.stdin.on("end", () => {
    const timer = setTimeout(() => process.exit(0), 2000)
    timer.unref()
    Promise.resolve(close()).finally(() => process.exit(0))
  })
}

/**
 * The parent half: start `script kind` (a server child speaking `serveBenchProtocol`);
 * resolves with its port, cpu() (µs used so far) and stop().
 */
export const startBenchServer = (script, kind, nodeFlags = []) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, script, kind], { stdio: ["pipe", "pipe", "inherit"] })
    const lines = createInterface({ input: child.stdout })
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`${kind} server did not start in 15 s`))
    }, 15000)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${kind} server exited (${signal ?? code}) before listening`))
    })
    const answers = []
    lines.on("line", (line) => answers.shift()?.(JSON.parse(line)))
    answers.push(({ port }) => {
      clearTimeout(timer)
      resolve({
        port,
        pid: child.pid,
        cpu: () =>
          new Promise((done) => {
            answers.push(({ cpu }) => done(cpu))
            child.stdin.write("cpu\n")
          }),
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done()
            const kill = setTimeout(() => child.kill("SIGKILL"), 5000)
            child.once("exit", () => {
              clearTimeout(kill)
              done()
            })
            child.stdin.end()
          })
      })
    })
  })

/** Listen on 127.0.0.1, a free port: resolves with the port. */
export const listenLocal = (server) =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve(server.address().port))
  })
