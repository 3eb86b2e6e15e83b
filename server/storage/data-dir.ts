// What a Livewall data dir holds, and whether a running engine has it open: for `npm start
// -- --fresh` (which must wipe nothing else) and for a clear message when a second process
// is pointed at a dir in use.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
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

/** The demo's own ingest key and token secret (server/demo.ts), written at its first start. */
export const DEMO_SECRETS_FILE = 'demo-secrets.json'

const JOURNAL_PREFIX = 'commit-journal-'

/** The file `ensureDataDir` writes and removes at once to test DATA_DIR (a kill in between leaves it). */
export const WRITE_PROBE_PREFIX = '.livewall-write-test-'

/** Where the commit journal of `database` lives (server/ingest/repair.ts). */
export function commitJournalFile(dataDir: string, database: string): string {
  return path.join(dataDir, `${JOURNAL_PREFIX}${database}.json`)
}

/** Whether Livewall or its engine wrote `entry` (a name at the top of a data dir). */
export function isDataDirEntry(entry: string): boolean {
  return (
    ENGINE_ENTRIES.has(entry) ||
    entry === DEMO_SECRETS_FILE ||
    entry.startsWith(WRITE_PROBE_PREFIX) ||
    // a database's commit journal, and its temporary file
    (entry.startsWith(JOURNAL_PREFIX) && /\.json(\.tmp)?$/.test(entry))
  )
}

/** Entries of `dir` that neither Livewall nor its engine wrote. */
export function foreignEntries(dir: string): string[] {
  return readdirSync(dir).filter((entry) => !isDataDirEntry(entry))
}

/** A few of `entries`, for a message. */
export function someEntries(entries: string[]): string {
  return entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '')
}

/**
 * Why the demo (`npm start`) must not make `dir` its data dir, if it must not: `dir` holds a
 * Livewall database that is not a demo's (`npm run serve`'s, which the demo would fill with
 * simulated streams and `--fresh` could then wipe), or files Livewall did not make. A
 * missing or empty dir is fine, and so is a demo's: the demo writes its demo-secrets.json
 * before the engine writes anything, so even a first start stopped half-way left one.
 */
export function demoTakeOverRefusal(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined
  const entries = readdirSync(dir).filter((entry) => !entry.startsWith(WRITE_PROBE_PREFIX))
  if (entries.length === 0 || entries.includes(DEMO_SECRETS_FILE)) return undefined
  const foreign = entries.filter((entry) => !isDataDirEntry(entry))
  if (foreign.length > 0) {
    return (
      `DATA_DIR ${dir} holds files Livewall did not make (${someEntries(foreign)}); the demo keeps ` +
      'its database in a directory of its own. Point DATA_DIR at a new or empty directory'
    )
  }
  return (
    `DATA_DIR ${dir} holds a Livewall database that is not a demo's (it has no ${DEMO_SECRETS_FILE}: ` +
    "npm run serve's?); the demo would write simulated streams into it. Give the demo its own " +
    'DATA_DIR (e.g. DATA_DIR=./demo-data npm start), or run npm run serve on this one'
  )
}

/**
 * The process that has the embedded engine open on `dir`, if another one does. The engine
 * holds a lock on its `status` file while open; on Linux the lock's holder is read from
 * /proc/locks (a `status` left by a crash names a PID that may since belong to anything).
 * Elsewhere, the PID the file names, if that process is alive.
 */
export function dataDirOwner(dir: string): number | undefined {
  const status = path.join(dir, 'status')
  let inode: number
  let text: string
  try {
    inode = statSync(status).ino
    text = readFileSync(status, 'utf8')
  } catch {
    return undefined
  }
  const holder = lockHolder(inode)
  const pid = holder === null ? Number(/^PID: (\d+)/m.exec(text)?.[1] ?? 0) : (holder ?? 0)
  if (pid <= 0 || pid === process.pid) return undefined
  if (holder !== null) return pid
  try {
    process.kill(pid, 0)
    return pid
  } catch (error) {
    // EPERM: alive, someone else's
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined
  }
}

/**
 * The PID holding a lock on the file with this inode, per /proc/locks (lines such as
 * `1: POSIX  ADVISORY  WRITE 4242 08:01:1234567 0 EOF`); undefined if none does, null if
 * /proc/locks cannot be read (not Linux).
 */
function lockHolder(inode: number): number | undefined | null {
  let locks: string
  try {
    locks = readFileSync('/proc/locks', 'utf8')
  } catch {
    return null
  }
  for (const line of locks.split('\n')) {
    const fields = line.trim().split(/\s+/)
    const at = fields.findIndex((field) => /^[0-9a-f]+:[0-9a-f]+:\d+$/i.test(field))
    if (at > 0 && Number(fields[at]!.split(':')[2]) === inode) return Number(fields[at - 1])
  }
  return undefined
}
