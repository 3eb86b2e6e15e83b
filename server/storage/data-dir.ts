// What a Livewall data dir holds, and whether a running engine has it open: for `npm start
// -- --fresh` (which must wipe nothing else) and for a clear message when a second process
// is pointed at a dir in use.

import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

/** What embedded ClickHouse writes at the top of its data dir. */
const ENGINE_ENTRIES = new Set([
  'data',
  'metadata',
  'metadata_dropped',
  'store',
  'tmp',
  'status',
  'user_files',
  'format_schemas',
  'preprocessed_configs',
  'access',
  'flags',
  'uuid',
  'user_scripts',
  'user_defined',
  'named_collections',
  'disks',
  'dictionaries_lib',
])

/** Whether Livewall or its engine wrote `entry` (a name at the top of a data dir). */
export function isDataDirEntry(entry: string): boolean {
  return (
    ENGINE_ENTRIES.has(entry) ||
    entry === 'demo-secrets.json' ||
    // the commit journal of each database (server/ingest/repair.ts), and its temporary file
    /^commit-journal-.+\.json(\.tmp)?$/.test(entry)
  )
}

/** Entries of `dir` that neither Livewall nor its engine wrote. */
export function foreignEntries(dir: string): string[] {
  return readdirSync(dir).filter((entry) => !isDataDirEntry(entry))
}

/**
 * The process that has the embedded engine open on `dir`, if another one does and is alive
 * (the engine writes its PID to `status` while open; a stale file after a crash names a
 * process that is gone).
 */
export function dataDirOwner(dir: string): number | undefined {
  let pid = 0
  try {
    pid = Number(/^PID: (\d+)/m.exec(readFileSync(path.join(dir, 'status'), 'utf8'))?.[1] ?? 0)
  } catch {
    return undefined
  }
  if (pid <= 0 || pid === process.pid) return undefined
  try {
    process.kill(pid, 0)
    return pid
  } catch (error) {
    // EPERM: alive, someone else's
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined
  }
}
