import type { TextWritable } from "../../ErrorLog.js"
import type { ErrorStream } from "../../Protocol.js"


/** `wsgi.errors` over a Node writable such as `process.stderr`. */
export class WritableErrorStream implements ErrorStream {
  constructor(readonly writable: TextWritable) {}
  write(text: string): void {
    if (typeof text !== "string") throw new TypeError(`wsgi.errors.write() argument must be a string, not ${typeof text}`)
    this.writable.write(text)
  }
  writelines(lines: Iterable<string>): void {
    for (const line of lines) this.write(line)
  }
  flush(): void {}
}
