// Watches the config file for changes. The directory is watched, not the file: editors and
// config-management tools replace files by rename, which ends a watch on the old inode. Bursts of
// events (truncate + write, rename + chmod) are debounced into one callback; whether the content
// really changed is decided by the caller from a content hash.
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Logger } from 'pino'

export const WATCH_DEBOUNCE_MS = 200

export interface FileWatch {
  close(): void
}

export function watchConfigFile(file: string, onChange: () => void, logger: Logger): FileWatch {
  const name = basename(file)
  let timer: NodeJS.Timeout | null = null
  let watcher: FSWatcher | null = null
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, filename) => {
      // filename can be null on some platforms: then any event in the directory counts.
      if (filename !== null && filename.toString() !== name) return
      if (timer !== null) clearTimeout(timer)
      timer = setTimeout(() => {
        timer = null
        onChange()
      }, WATCH_DEBOUNCE_MS)
    })
    watcher.on('error', (err) => logger.warn({ err, file }, 'config file watch failed; use SIGHUP to reload'))
  } catch (err) {
    logger.warn({ err, file }, 'cannot watch the config file; use SIGHUP to reload')
  }
  return {
    close() {
      if (timer !== null) clearTimeout(timer)
      watcher?.close()
    },
  }
}
