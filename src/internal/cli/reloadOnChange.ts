/**
 * `--reload` in the supervisor: watch the tree of the app file's directory with the
 * command's include and exclude globs (`reload.ts`), and say which file changed before
 * reloading.
 */
import { dirname, relative, resolve } from "node:path"
import { DEFAULT_RELOAD_EXCLUDE, DEFAULT_RELOAD_INCLUDE, type ServeCommand } from "./cliArgs.js"
import { say } from "./exit.js"
import { watchTree } from "./reload.js"

/** Call `reload` when a file of `command`'s app tree changes (after saying which). */
export const reloadOnChange = (command: ServeCommand, reload: () => void): void => {
  const root = dirname(resolve(command.file))
  watchTree({
    root,
    include: [...DEFAULT_RELOAD_INCLUDE, ...command.reloadInclude],
    exclude: [...DEFAULT_RELOAD_EXCLUDE, ...command.reloadExclude],
    onChange: (files) => {
      // As the user would name it: from the working directory when under it.
      const near = relative(process.cwd(), files[0]!)
      const first = near === "" || near.startsWith("..") ? files[0]! : near
      const more = files.length > 1 ? ` (and ${files.length - 1} more file${files.length === 2 ? "" : "s"})` : ""
      say(`${first} changed${more}; reloading`)
      reload()
    }
  })
}
