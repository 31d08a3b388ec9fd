#!/usr/bin/env node
// Install and build what `npm start` / `npm test` need, when it is missing or stale.
// Node built-ins only: this runs before node_modules exists.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const stamps = join(root, "node_modules", ".effect-wsgi")
const npm = process.platform === "win32" ? "npm.cmd" : "npm"

const hashOf = (paths) => {
  const hash = createHash("sha256")
  for (const path of paths) {
    hash.update(path)
    hash.update(readFileSync(path))
  }
  return hash.digest("hex")
}

const filesUnder = (dir) =>
  readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort()

const stampMatches = (name, value) => {
  const file = join(stamps, name)
  return existsSync(file) && readFileSync(file, "utf8") === value
}

const writeStamp = (name, value) => {
  mkdirSync(stamps, { recursive: true })
  writeFileSync(join(stamps, name), value)
}

const run = (command, args) => {
  console.error(`[ensure] ${command} ${args.join(" ")}`)
  execFileSync(command, args, { cwd: root, stdio: "inherit" })
}

// 1. Dependencies: `npm ci` when node_modules is missing or the lock file changed.
const lockHash = hashOf([join(root, "package-lock.json")])
if (!existsSync(join(root, "node_modules")) || !stampMatches("lock", lockHash)) {
  run(npm, ["ci", "--no-audit", "--no-fund"])
  writeStamp("lock", lockHash)
}

// 2. Build: `tsc` when dist/ is missing or any source or build setting changed.
const sources = [...filesUnder(join(root, "src")), join(root, "tsconfig.json"), join(root, "tsconfig.build.json"), join(root, "scripts", "bundle.mjs")]
const sourceHash = hashOf(sources)
if (!existsSync(join(root, "dist", "index.js")) || !stampMatches("build", sourceHash)) {
  run(npm, ["run", "build", "--silent"])
  writeStamp("build", sourceHash)
}

