import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import path from 'node:path'
import { type ClickHouseClient, createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import type { FastifyInstance } from 'fastify'
import { buildApp, type Clock } from '../../server/app.ts'
import { issueToken } from '../../server/auth/tokens.ts'
import { loadConfig } from '../../server/config.ts'
import { INSERT_EVENTS_SQL, INSERT_ROLLUP_INPUT_SQL } from '../../server/ingest/rows.ts'
import { type FaultInjector, scopedConnection } from '../../server/storage/connection.ts'
import { testRunRoot } from '../global-setup.ts'

export const TEST_SECRET = 'test-secret-0123456789abcdef'
export const TEST_KEY = 'test-ingest-key-0001'
export const OTHER_KEY = 'test-ingest-key-0002'

let processDataDir: string | undefined

/** A new directory inside the run's, which the run removes at its end (test/global-setup.ts). */
export function runTempDir(prefix: string): string {
  const root = testRunRoot(process.ppid)
  mkdirSync(root, { recursive: true })
  return mkdtempSync(path.join(root, prefix))
}

/**
 * One chDB data dir per test process (chDB is one engine per process), inside the run's
 * directory (test/global-setup.ts: the workers are forks of vitest's process), which the
 * run removes at its end; removed at this process's exit too when it gets one.
 */
export function testDataDir(): string {
  if (!processDataDir) {
    const dir = runTempDir('livewall-test-')
    processDataDir = dir
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  }
  return processDataDir
}

const embeddedClients: ClickHouseClient[] = []

/** A client on a fresh, empty database of this process's embedded ClickHouse (no server, no migrations). */
export async function embeddedDatabase(): Promise<ClickHouseClient> {
  const database = `db_${process.pid}_${Math.random().toString(36).slice(2, 10)}`
  const boot = createClient({ connection: createChdbConnection({ path: testDataDir() }) as never })
  await boot.command({ query: `CREATE DATABASE ${database}` })
  embeddedClients.push(boot)
  const client = createClient({
    connection: scopedConnection(createChdbConnection({ path: testDataDir() }), database) as never,
  })
  embeddedClients.push(client)
  return client
}

export async function closeEmbeddedClients(): Promise<void> {
  for (const client of embeddedClients.splice(0).reverse()) await client.close()
}

export interface TestServer {
  app: FastifyInstance
  url: string
  database: string
  ingestKey: string
  opsToken: string
  creatorToken(creatorId: string, ttlMs?: number): string
  /** POSTs events (array → NDJSON by default) with the ingest key. */
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON bodies; tests assert on their shape
  ingest(events: unknown[] | string, contentType?: string): Promise<{ status: number; body: any }>
  /** GET with the ops token (or the given one); returns status and parsed JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON bodies; tests assert on their shape
  get(pathAndQuery: string, token?: string): Promise<{ status: number; body: any }>
  close(): Promise<void>
}

export interface TestServerOptions {
  clock?: Clock
  faults?: FaultInjector
  env?: Record<string, string>
  /** Reuse a database (to test restarts); default: a fresh one. */
  database?: string
}

/**
 * The real app on a real port with the same options production uses, on the embedded
 * ClickHouse of this test process, in a database of its own.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? `t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`
  const config = loadConfig({
    LIVEWALL_INGEST_KEYS: `${TEST_KEY},${OTHER_KEY}`,
    LIVEWALL_TOKEN_SECRET: TEST_SECRET,
    DATA_DIR: testDataDir(),
    CLICKHOUSE_DATABASE: database,
    LOG_LEVEL: 'warn',
    INGEST_FLUSH_MAX_WAIT_MS: '5',
    INGEST_DEDUP_MEMORY_MB: '4',
    // In-process test servers share their event loop with the test (browsers, fuzzers,
    // hundreds of clients): the saturation shedder is off unless a test turns it on.
    LOAD_SHED_EVENT_LOOP_DELAY_MS: '0',
    LOAD_SHED_HEAP_USED_MB: '0',
    ...options.env,
  })
  const app = await buildApp({ config, clock: options.clock, faults: options.faults, logger: false })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const now = () => (options.clock ?? { now: () => Date.now() }).now()
  const opsToken = issueToken(TEST_SECRET, { role: 'ops', ttlMs: 3_600_000 }, now())
  return {
    app,
    url,
    database,
    ingestKey: TEST_KEY,
    opsToken,
    creatorToken: (creatorId, ttlMs = 3_600_000) =>
      issueToken(TEST_SECRET, { role: 'creator', creator_id: creatorId, ttlMs }, now()),
    async ingest(events, contentType) {
      const body = typeof events === 'string' ? events : events.map((e) => JSON.stringify(e)).join('\n')
      const response = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_KEY}`,
          'content-type': contentType ?? 'application/x-ndjson',
        },
        body,
      })
      const text = await response.text()
      return { status: response.status, body: text ? JSON.parse(text) : undefined }
    },
    async get(pathAndQuery, token = opsToken) {
      const response = await fetch(`${url}${pathAndQuery}`, { headers: { authorization: `Bearer ${token}` } })
      const text = await response.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {}
      return { status: response.status, body }
    },
    close: () => app.close(),
  }
}

/** A clock the test moves by hand. */
/**
 * A whole UTC hour, `hours` before the real now: the start of a manual clock. Not a fixed
 * date: the tables drop rows by the engine's own clock (event_ids after 2 days, accepted
 * orders after 8), so a clock days behind it would see its ids vanish as they are written.
 */
export function wholeHourAgo(hours: number): number {
  return (Math.floor(Date.now() / 3_600_000) - hours) * 3_600_000
}

export function manualClock(start: number): Clock & { set(ms: number): void; advance(ms: number): void } {
  let current = start
  return {
    now: () => current,
    set: (ms) => {
      current = ms
    },
    advance: (ms) => {
      current += ms
    },
  }
}

/**
 * `events` rows (TabSeparated lines) stored as the group commit stores them: into `events`,
 * then into the rollups' view; `rollups: false` stops after the first (what a crash between
 * the two leaves).
 */
export async function storeRows(
  client: ClickHouseClient,
  rows: string,
  { rollups = true } = {},
): Promise<void> {
  await client.exec({ query: INSERT_EVENTS_SQL, values: rows as never })
  if (rollups) await client.exec({ query: INSERT_ROLLUP_INPUT_SQL, values: rows as never })
}
