// A reference point for the HTTP rows, not part of effect-wsgi: the least a PEP 3333
// gateway on node:http does for a bodyless GET — an environ with CPython's get_environ
// keys, start_response, the app, one writeHead and one end. No request checks, no error
// handling, no request bodies, no hooks: whatever a real gateway adds costs more than
// this, so its ratio to raw node:http (measured in the same rounds) is a ceiling for any
// gateway's, ours included.

const EMPTY = Buffer.alloc(0)
const input = { read: () => EMPTY, readline: () => EMPTY, readlines: () => [], [Symbol.iterator]: () => [][Symbol.iterator]() }
const errors = { write: () => undefined, writelines: () => undefined, flush: () => undefined }
const writeNothing = () => undefined

/** `(request, response) => void` for `http.createServer`, serving `app`. */
export const bareListener = (app, { serverName, serverPort, serverSoftware }) => {
  let date = new Date().toUTCString()
  setInterval(() => {
    date = new Date().toUTCString()
  }, 1000).unref()
  return (request, response) => {
    const url = request.url
    const query = url.indexOf("?")
    const path = query === -1 ? url : url.slice(0, query)
    const environ = {
      REQUEST_METHOD: request.method,
      SCRIPT_NAME: "",
      PATH_INFO: path.includes("%") ? decodeURIComponent(path) : path,
      QUERY_STRING: query === -1 ? "" : url.slice(query + 1),
      CONTENT_TYPE: "",
      CONTENT_LENGTH: "",
      SERVER_NAME: serverName,
      SERVER_PORT: serverPort,
      SERVER_PROTOCOL: `HTTP/${request.httpVersion}`,
      SERVER_SOFTWARE: serverSoftware,
      GATEWAY_INTERFACE: "CGI/1.1",
      REMOTE_ADDR: request.socket.remoteAddress ?? "",
      REMOTE_HOST: "",
      "wsgi.version": [1, 0],
      "wsgi.url_scheme": "http",
      "wsgi.input": input,
      "wsgi.errors": errors,
      "wsgi.multithread": true,
      "wsgi.multiprocess": false,
      "wsgi.run_once": false
    }
    const raw = request.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toUpperCase().replaceAll("-", "_")
      if (name === "CONTENT_TYPE" || name === "CONTENT_LENGTH") environ[name] = raw[i + 1]
      else environ[`HTTP_${name}`] = raw[i + 1]
    }
    let status = "500 Internal Server Error"
    let headers = []
    const result = app(environ, (s, h) => {
      status = s
      headers = h
      return writeNothing
    })
    const chunks = []
    let length = 0
    for (const chunk of result) {
      chunks.push(chunk)
      length += chunk.length
    }
    const flat = ["Date", date, "Server", serverSoftware]
    let hasLength = false
    for (const [name, value] of headers) {
      flat.push(name, value)
      if (name.toLowerCase() === "content-length") hasLength = true
    }
    if (!hasLength) flat.push("Content-Length", String(length))
    const space = status.indexOf(" ")
    response.writeHead(Number(status.slice(0, space)), status.slice(space + 1), flat)
    response.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
  }
}
