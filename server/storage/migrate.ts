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
  return newlyApplied
}
