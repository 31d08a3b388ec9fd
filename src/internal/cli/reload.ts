/**
 * `--reload`'s watcher. It watches the tree of the app file's directory (not the import
 * graph: a module loaded by a computed path, a JSON file read at startup or a template
 * counts as much as a static import, and the tree is what a developer edits), minus
 * `node_modules`, dot files and editors' temporary files, and calls back with the files
 * that changed once they have been quiet for a moment (an editor's save is several
 * events). One `fs.watch` per directory, so excluded trees cost no watches (node 20's
 * recursive `fs.watch` on Linux walks all of `node_modules`).
 */
import { type Dirent, type FSWatcher, readdirSync, statSync, watch } from "node:fs"
import { join, relative, sep } from "node:path"
import { anyMatch, compileGlob } from "./glob.js"

/** What to watch, and what to call. */
export interface WatchOptions {
  /** The directory whose tree is watched. */
  readonly root: string
  /** Globs of the files whose change counts. */
  readonly include: ReadonlyArray<string>
  /** Globs of files and directories left out (they win over `include`). */
  readonly exclude: ReadonlyArray<string>
  /** Called with the changed files (absolute paths), in the order they changed. */
  readonly onChange: (files: ReadonlyArray<string>) => void
  /** Milliseconds of quiet before `onChange` (default 100). */
  readonly settle?: number
}

/** A running watcher. */
export interface Watching {
  /** Directories watched now. */
  readonly directories: () => number
  close(): void
}

/** Watch `options.root` until `close()`. */
export const watchTree = (options: WatchOptions): Watching => {
  const include = options.include.map(compileGlob)
  const exclude = options.exclude.map(compileGlob)
  const settle = options.settle ?? 100
  const watchers = new Map<string, FSWatcher>()
  const pending = new Set<string>()
  let timer: NodeJS.Timeout | null = null
  const relativePath = (path: string): string => relative(options.root, path).split(sep).join("/")
  const excluded = (path: string): boolean => {
    const rel = relativePath(path)
    return rel !== "" && anyMatch(exclude, rel)
  }

  const flush = (): void => {
    timer = null
    const files = [...pending]
    pending.clear()
    if (files.length > 0) options.onChange(files)
  }

  const unwatch = (directory: string): void => {
    watchers.get(directory)?.close()
    watchers.delete(directory)
  }

  const changed = (directory: string, name: string | null): void => {
    if (name === null) return
    const path = join(directory, name)
    if (excluded(path)) return
    let isDirectory = false
    try {
      isDirectory = statSync(path).isDirectory()
    } catch {
      // Removed (or renamed away): still a change, if it is a file we care about.
      unwatch(path)
    }
    if (isDirectory) add(path, true)
    else note(path)
  }

  const note = (path: string): void => {
    if (!anyMatch(include, relativePath(path))) return
    pending.add(path)
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(flush, settle)
  }

  /** Watch `directory` and the tree under it; `isNew`: its files are changes (they may have come before the watch). */
  const add = (directory: string, isNew: boolean): void => {
    if (watchers.has(directory) || excluded(directory)) return
    let watcher: FSWatcher
    try {
      watcher = watch(directory, (_event, name) => changed(directory, name))
    } catch {
      return // gone already, or not readable
    }
    // A removed directory's watcher errors (or just stops): forget it.
    watcher.on("error", () => unwatch(directory))
    watchers.set(directory, watcher)
    let entries: Array<Dirent> = []
    try {
      entries = readdirSync(directory, { withFileTypes: true })
    } catch {
      return
    }
    for (const entry of entries) {
      const path = join(directory, entry.name)
      if (entry.isDirectory()) add(path, isNew)
      else if (isNew && !excluded(path)) note(path)
    }
  }

  add(options.root, false)
  return {
    directories: () => watchers.size,
    close: () => {
      if (timer !== null) clearTimeout(timer)
      for (const directory of [...watchers.keys()]) unwatch(directory)
    }
  }
}
