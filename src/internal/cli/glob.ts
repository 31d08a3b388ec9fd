/**
 * Glob patterns for `--reload-include` and `--reload-exclude`, as gitignore reads them: a
 * pattern without `/` matches a name anywhere in the tree (`*.ts`, `node_modules`), one
 * with `/` matches the path from the watched directory (`src/*.ts`, `/dist`); a pattern
 * that matches a directory covers everything in it. `*` and
 * `?` stay within a name, `**` crosses directories, `[abc]`/`[!abc]` and `{a,b}` as in a
 * shell. (Node 20 has no glob matcher of its own; `path.matchesGlob` came in 22.)
 */

const SPECIAL = /[.+^$()|\\]/

/** The regular expression source of a glob, unanchored. */
const source = (glob: string): string => {
  let out = ""
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === "*") {
      if (glob[i + 1] !== "*") out += "[^/]*"
      else if (glob[i + 2] === "/") {
        out += "(?:[^/]*/)*"
        i += 2
      } else {
        out += ".*"
        i += 1
      }
    } else if (c === "?") out += "[^/]"
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2)
      if (end === -1) out += "\\["
      else {
        const body = glob.slice(i + 1, end)
        out += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`
        i = end
      }
    } else if (c === "{") {
      const end = glob.indexOf("}", i)
      if (end === -1) out += "\\{"
      else {
        out += `(?:${glob.slice(i + 1, end).split(",").map(source).join("|")})`
        i = end
      }
    } else out += SPECIAL.test(c) ? `\\${c}` : c
  }
  return out
}

/** A glob as a whole-string regular expression. */
export const globToRegExp = (glob: string): RegExp => new RegExp(`^${source(glob)}$`)

/** A test of a `/`-separated path relative to the watched directory. */
export type PathTest = (relativePath: string) => boolean

/** A pattern as a test of relative paths (see the module's note for the two kinds). */
export const compileGlob = (pattern: string): PathTest => {
  const glob = pattern.replace(/^\.\//, "")
  if (!glob.includes("/")) {
    const name = globToRegExp(glob)
    return (path) => path.split("/").some((segment) => name.test(segment))
  }
  const whole = globToRegExp(glob.replace(/^\//, "").replace(/\/$/, ""))
  // A directory's pattern covers what is in it: the path or any of its ancestors.
  return (path) => {
    for (let end = path.indexOf("/"); end !== -1; end = path.indexOf("/", end + 1)) {
      if (whole.test(path.slice(0, end))) return true
    }
    return whole.test(path)
  }
}

/** True when any of `tests` matches. */
export const anyMatch = (tests: ReadonlyArray<PathTest>, relativePath: string): boolean => tests.some((test) => test(relativePath))
