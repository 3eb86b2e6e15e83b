import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { DEMO_SECRETS_FILE } from './storage/data-dir.ts'

export interface DemoSecrets {
  ingestKey: string
  tokenSecret: string
}

/**
 * A demo's own ingest key and token secret (`npm start`, `LIVEWALL_DEMO=1 npm run serve`),
 * made up once and kept in the data dir (mode 600), so a printed link and a producer's key
 * survive a restart, and the key is read from a file rather than from a log. The data dir
 * exists already (`ensureDataDir`).
 */
export function demoSecrets(dataDir: string): { secrets: DemoSecrets; file: string } {
  const file = path.join(dataDir, DEMO_SECRETS_FILE)
  if (existsSync(file)) return { secrets: readSecrets(file), file }
  const secrets = {
    ingestKey: `demo-${randomBytes(16).toString('hex')}`,
    tokenSecret: randomBytes(32).toString('hex'),
  }
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 })
  return { secrets, file }
}

function readSecrets(file: string): DemoSecrets {
  const broken = (why: string) =>
    new Error(
      `${file} is not a valid demo secrets file (${why}); delete it to make new ones (links made with the old ones stop working)`,
    )
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // Another user's demo: the file is fine, and deleting it would break that demo's links.
    if (code === 'EACCES' || code === 'EPERM') throw new Error(unreadable(file))
    throw broken((error as Error).message)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw broken('not JSON')
  }
  const { ingestKey, tokenSecret } = (parsed ?? {}) as Partial<Record<keyof DemoSecrets, unknown>>
  if (typeof ingestKey !== 'string' || ingestKey.length < 8)
    throw broken('no ingestKey of 8 characters or more')
  if (typeof tokenSecret !== 'string' || tokenSecret.length < 16)
    throw broken('no tokenSecret of 16 characters or more')
  return { ingestKey, tokenSecret }
}

function unreadable(file: string): string {
  let owner = ''
  try {
    owner = ` belongs to uid ${statSync(file).uid} and`
  } catch {
    // the directory itself cannot be searched: say what is known
  }
  const uid = process.geteuid ? ` (uid ${process.geteuid()})` : ''
  return (
    `${file}${owner} cannot be read by this user${uid}; run as the user that started the demo ` +
    'in this DATA_DIR, or give this one a DATA_DIR of its own'
  )
}
