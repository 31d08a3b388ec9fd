#!/usr/bin/env node
// The hot functions of a `node --cpu-prof` profile: self and inclusive time, in percent
// of all samples. For profiling before changing code, e.g.
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/inprocess.mjs --only runWith:hello \
//     --rounds 1 --requests 200000
//   node bench/cpuprofile-top.mjs /tmp/prof/*.cpuprofile [how many, default 25]
import { readFileSync } from "node:fs"

const [file, count = "25"] = process.argv.slice(2)
if (file === undefined) {
  console.error("usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [how many]")
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, "utf8"))
const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
const timeOf = new Map()
let total = 0
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0
  timeOf.set(id, (timeOf.get(id) ?? 0) + dt)
  total += dt
})
const nameOf = (n) => {
  const { functionName, url, lineNumber } = n.callFrame
  return `${functionName || "(anonymous)"} ${url.split("/").slice(-2).join("/")}${url ? `:${lineNumber + 1}` : ""}`
}
const self = new Map()
const inclusive = new Map()
for (const [id, t] of timeOf) {
  self.set(nameOf(nodes.get(id)), (self.get(nameOf(nodes.get(id))) ?? 0) + t)
  const seen = new Set()
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const name = nameOf(nodes.get(at))
    if (seen.has(name)) continue
    seen.add(name)
    inclusive.set(name, (inclusive.get(name) ?? 0) + t)
  }
}
const show = (title, map) => {
  console.log(title)
  for (const [name, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, Number(count))) {
    console.log(`${((100 * t) / total).toFixed(1).padStart(6)}%  ${name}`)
  }
}
show("self time", self)
console.log()
show("inclusive time", inclusive)
