// Admin operations a plugin offers in every worker (PluginDefinition.commands), run by name so the
// control plane needs no plugin's code: the worker loads the definition the same way its Snapshot
// does (a plugin no route uses is loaded only to answer, and has nothing to act on).
import { loadPlugins } from './builtin.js'

export type CommandCounts = Record<string, number>

/** Runs `command` of `plugin` in this process; `first` in exactly one worker of the instance. */
export async function runPluginCommand(plugin: string, command: string, args: Readonly<Record<string, unknown>>, first: boolean): Promise<CommandCounts> {
  const def = (await loadPlugins([plugin])).get(plugin)
  if (def === undefined) throw new Error(`unknown plugin "${plugin}"`)
  const run = def.commands !== undefined && Object.hasOwn(def.commands, command) ? def.commands[command] : undefined
  if (run === undefined) throw new Error(`plugin "${plugin}" has no command "${command}"`)
  return run(args, first)
}
