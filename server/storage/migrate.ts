import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { ClickHouseClient } from '@clickhouse/client'

export const MIGRATIONS_DIR = path.join(import.meta.dirname, '..', '..', 'migrations')

export class MigrationError extends Error {
  override name = 'MigrationError'
}

interface AppliedMigration {
  name: string
  checksum: string
}

/** Splits a migration file into statements: `;` at the end of a line ends one. */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) =>
      s
        .split('\n')
        .filter((line) => !line.trim().startsWith('--'))
        .join('\n')
        .trim(),
    )
    .filter((s) => s.length > 0)
}

/**
 * Applies `migrations/NNN_name.sql` in order. Each applied file is recorded with its
 * sha256; a recorded file is never applied again, and one whose text changed since it
 * was applied stops the boot (edit history by adding a new migration instead). Every
 * statement is written to be re-runnable (IF NOT EXISTS), so a crash half-way through a
 * file is repaired by the next start.
 */
export async function migrate(
  client: ClickHouseClient,
  log: (msg: string) => void,
  dir = MIGRATIONS_DIR,
): Promise<string[]> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS schema_migrations (
      name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = MergeTree ORDER BY name`,
  })
  const applied = new Map<string, string>()
  const rows = await (
    await client.query({ query: 'SELECT name, checksum FROM schema_migrations', format: 'JSONEachRow' })
  ).json<AppliedMigration>()
  for (const row of rows) applied.set(row.name, row.checksum)

  const files = (await readdir(dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort()
  const newlyApplied: string[] = []
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8')
    const checksum = createHash('sha256').update(text).digest('hex')
    const known = applied.get(file)
    if (known !== undefined) {
      if (known !== checksum) {
        throw new MigrationError(
          `migration ${file} was edited after it was applied (checksum ${known.slice(0, 12)}… is now ${checksum.slice(0, 12)}…); add a new migration instead`,
        )
      }
      continue
    }
    log(`applying migration ${file}`)
    for (const statement of splitStatements(text)) {
      await client.command({ query: statement })
    }
    await client.insert({
      table: 'schema_migrations',
      values: [{ name: file, checksum }],
      format: 'JSONEachRow',
    })
    newlyApplied.push(file)
  }
  // Tuning is an optimisation: a server that refuses it (e.g. a user without ALTER
  // rights) runs with the defaults rather than not at all.
  await tuneTables(client, log).catch((error: unknown) => log(`table tuning skipped: ${messageOf(error)}`))
  return newlyApplied
}

/** A part count no table reaches: merged-away parts are never deleted concurrently. */
const NEVER_CONCURRENT = 1_000_000_000

/**
 * Table settings that only some engine versions know, or whose embedded default differs
 * from the server's, set when the engine knows them (a migration must run on every
 * supported version, 24.8 included, and a server may refuse ALTER ... MODIFY SETTING, so
 * these are not migrations). Re-applied at every start; each is idempotent.
 *
 * `merge_selector_base` (default 5): the MergeTree merge selector waits for about this
 * many parts of a size before merging them. Group commits write small parts many times a
 * second, and rewriting them through five-way merges took a third of the server's CPU at
 * full ingest rate (measured: background merges 4.5 of 14 CPU-seconds). At 20 each row
 * is rewritten fewer times: merge CPU per INSERT fell from 23 to 9 ms in the same run, at
 * the price of more parts on disk between merges (tens, far below the limits that slow
 * INSERTs, 150+ per partition), which reads open one by one.
 * https://clickhouse.com/docs/operations/settings/merge-tree-settings#merge_selector_base
 *
 * `concurrent_part_removal_threshold` (default 100): with at least this many merged-away
 * parts to delete, ClickHouse deletes them from many threads at once. They all unlink and
 * rmdir in the one table directory, so they queue on its lock (and spin on it), and so
 * does the INSERT that must create its part there: profiled, each such burst stalled
 * commits for up to a second (a 4 000-event INSERT took 199 ms instead of ~40). Deleted
 * one at a time by the clean-up thread, the same parts go at the same total cost, without
 * the stall: bench:ingest's ack p99 fell from 233–303 ms to 141–205 ms in four
 * alternated pairs of runs.
 * https://clickhouse.com/docs/operations/settings/merge-tree-settings#concurrent_part_removal_threshold
 *
 * `old_parts_lifetime` (ClickHouse server: 480 s; embedded chDB: 0): how long the parts a
 * merge replaced are kept. Parts are written without fsync, so a merged part may live only
 * in the page cache for a while (the kernel writes dirty pages back once they are 30 s
 * old). With 0, chDB deletes the merged-away parts at the next clean-up, and a power loss
 * in that window loses rows that were acknowledged minutes earlier. Kept, they are there
 * when a start-up finds a merged part damaged: ClickHouse falls back to them.
 * 120 s, four times the kernel's write-back age, not the server's 480: merged-away parts
 * slow the commits as they pile up (~60 new parts a second at 40 000 events/s, so ~30 000
 * kept after 8 minutes). At a steady 40 000 events/s (BENCHMARKS.md, "Session 15") the ack
 * p99 per 30 s climbed from ~90 ms to 270–910 ms from the 8th minute on with 480; with 120
 * it was 94–223 ms from the 5th to the 9th. Deleting costs the same either way: as many
 * parts go as come, only later.
 * https://clickhouse.com/docs/operations/settings/merge-tree-settings#old_parts_lifetime
 */
export const TABLE_TUNING: { setting: string; value: number; tables: string[] }[] = [
  { setting: 'merge_selector_base', value: 20, tables: ['events', 'rollups', 'event_ids'] },
  {
    setting: 'concurrent_part_removal_threshold',
    value: NEVER_CONCURRENT,
    tables: ['events', 'rollups', 'event_ids'],
  },
  { setting: 'old_parts_lifetime', value: 120, tables: ['events', 'rollups', 'event_ids', 'quarantine'] },
]

async function tuneTables(client: ClickHouseClient, log: (msg: string) => void): Promise<void> {
  // The `name`s a statement (filtering by {names}) returns.
  const found = async (query: string, names: string[]) =>
    new Set(
      (
        await (
          await client.query({ query, query_params: { names }, format: 'JSONEachRow' })
        ).json<{ name: string }>()
      ).map((row) => row.name),
    )
  const known = await found(
    'SELECT name FROM system.merge_tree_settings WHERE name IN {names:Array(String)}',
    TABLE_TUNING.map((t) => t.setting),
  )
  const present = await found(
    'SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN {names:Array(String)}',
    TABLE_TUNING.flatMap((t) => t.tables),
  )
  for (const { setting, value, tables } of TABLE_TUNING) {
    if (!known.has(setting)) {
      log(`table setting ${setting} is not known to this ClickHouse; left at its default`)
      continue
    }
    // Constants of this file, never input: ALTER takes no query parameters here.
    for (const table of tables.filter((t) => present.has(t))) {
      try {
        await client.command({ query: `ALTER TABLE ${table} MODIFY SETTING ${setting} = ${value}` })
      } catch (error) {
        log(`${table}: ${setting} left at its default (${messageOf(error)})`)
      }
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
