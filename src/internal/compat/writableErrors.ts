import type { ErrorStream } from "../../Protocol.js"

/** The part of a Node writable that an error stream needs. */
export interface TextWritable {
  write(text: string): unknown
}

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
