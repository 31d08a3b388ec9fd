import * as W from "/work/main/dist/index.js"
const hello = (e, sr) => { sr("200 OK", [["Content-Type", "text/plain"]]); return [Buffer.from("Hello world!")] }
const base = { REQUEST_METHOD: "GET", PATH_INFO: "/", SERVER_NAME: "localhost", SERVER_PORT: "80", SERVER_PROTOCOL: "HTTP/1.1", QUERY_STRING: "", SCRIPT_NAME: "" }
const N = 300000
function bench(name, f) {
  for (let i = 0; i < 50000; i++) f()
  const c0 = process.cpuUsage()
  for (let i = 0; i < N; i++) f()
  const cu = process.cpuUsage(c0)
  console.log(name.padEnd(34), ((cu.user+cu.system)/N).toFixed(2), "us cpu")
}
const sink = { write() {} }
const err = { write() {}, writelines() {}, flush() {} }
const errs = W.ErrorLog.memory()
for (let r = 0; r < 2; r++) {
bench("class hello", () => { new W.SimpleHandler(null, sink, err, base).run(hello) })
bench("runWith fresh services", () => W.runWith(hello, { output: W.Output.memory(), input: W.Input.fromBytes(), errorLog: errs, environSource: W.EnvironSource.fromRecord(base) }))
}
