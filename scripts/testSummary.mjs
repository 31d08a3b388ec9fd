#!/usr/bin/env node
// Print the last vitest run as one plain line: "Tests: N passed, N failed, N skipped".
import { readFileSync } from "node:fs"

const report = JSON.parse(readFileSync(new URL("../node_modules/.effect-wsgi/vitest-report.json", import.meta.url), "utf8"))
const skipped = report.numPendingTests + report.numTodoTests
console.log(`Tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`)
process.exit(report.numFailedTests === 0 && report.numTotalTests > 0 ? 0 : 1)
