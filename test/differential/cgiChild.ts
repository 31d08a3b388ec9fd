/**
 * Child entry of the differential CGI tests: `node --import tsx cgiChild.ts NAME` runs the
 * app NAME of apps.ts under our CGIHandler, on this process's stdio and environment.
 */
import { CGIHandler } from "../../src/index.js"
import { apps } from "./apps.js"

const name = process.argv[2] ?? ""
const app = apps[name]
if (app === undefined) {
  process.stderr.write(`cgiChild: no app named ${JSON.stringify(name)}\n`)
  process.exitCode = 2
} else {
  void new CGIHandler().run(app)
}
