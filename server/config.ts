import { randomBytes } from 'node:crypto'
import path from 'node:path'

/** Everything the server reads from its environment, validated once at boot. */
export interface Config {
  port: number
  host: string
  /** Unset: embedded ClickHouse (chDB) in `dataDir`. */
  clickhouseUrl: string | undefined
  clickhouseUser: string | undefined
  clickhousePassword: string | undefined
  database: string
  dataDir: string
  currency: string
  ingestKeys: string[]
  tokenSecret: string
  demo: boolean
  ingest: IngestConfig
  /** Origins allowed by CORS; empty = same-origin only. */
  corsOrigins: string[]
  logLevel: string
  /** Where the built dashboard lives; served at `/`. */
  webDistDir: string
}

export interface IngestConfig {
  /** Flush the write buffer when it holds this many events… */
  flushMaxEvents: number
  /** …or when its oldest event has waited this long, whichever comes first. */
  flushMaxWaitMs: number
  /** Above this many events waiting for storage, new requests get 503 (load shedding). */
  maxPendingEvents: number
  maxEventsPerRequest: number
  maxBodyBytes: number
  /** Memory budget of the event_id / order_id seen-filters (Bloom filters), in MiB. */
  dedupMemoryMb: number
  /** Per ingest key: sustained requests per second, and burst. */
  rateLimitPerKey: number
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

type Env = Record<string, string | undefined>

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
  }
  return value
}

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

/** Builds the config from the environment; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const demo = env.LIVEWALL_DEMO === '1'
  let ingestKeys = list(env.LIVEWALL_INGEST_KEYS)
  let tokenSecret = env.LIVEWALL_TOKEN_SECRET ?? ''
  if (!demo) {
    if (ingestKeys.length === 0) {
      throw new ConfigError(
        'LIVEWALL_INGEST_KEYS is required (comma-separated secrets), or set LIVEWALL_DEMO=1',
      )
    }
    if (tokenSecret.length < 16) {
      throw new ConfigError('LIVEWALL_TOKEN_SECRET is required and must be at least 16 characters')
    }
  } else {
    if (ingestKeys.length === 0) ingestKeys = [`demo-${randomBytes(12).toString('hex')}`]
    if (tokenSecret === '') tokenSecret = randomBytes(32).toString('hex')
  }
  for (const key of ingestKeys) {
    if (key.length < 8) throw new ConfigError('each LIVEWALL_INGEST_KEYS entry must be at least 8 characters')
  }
  const currency = (env.CURRENCY ?? 'USD').toUpperCase()
  if (!/^[A-Z]{3}$/.test(currency))
    throw new ConfigError(`CURRENCY must be an ISO 4217 code, got "${currency}"`)
  const database = env.CLICKHOUSE_DATABASE ?? 'livewall'
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(database)) {
    throw new ConfigError(`CLICKHOUSE_DATABASE must be a plain identifier, got "${database}"`)
  }
  const clickhouseUrl = env.CLICKHOUSE_URL || undefined
  if (clickhouseUrl !== undefined) {
    try {
      new URL(clickhouseUrl)
    } catch {
      throw new ConfigError(`CLICKHOUSE_URL is not a URL: "${clickhouseUrl}"`)
    }
  }
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '127.0.0.1',
    clickhouseUrl,
    clickhouseUser: env.CLICKHOUSE_USER || undefined,
    clickhousePassword: env.CLICKHOUSE_PASSWORD || undefined,
    database,
    dataDir: path.resolve(env.DATA_DIR || './data'),
    currency,
    ingestKeys,
    tokenSecret,
    demo,
    ingest: {
      flushMaxEvents: int(env, 'INGEST_FLUSH_MAX_EVENTS', 10_000, 1, 1_000_000),
      flushMaxWaitMs: int(env, 'INGEST_FLUSH_MAX_WAIT_MS', 15, 0, 10_000),
      maxPendingEvents: int(env, 'INGEST_MAX_PENDING_EVENTS', 200_000, 1, 100_000_000),
      maxEventsPerRequest: int(env, 'INGEST_MAX_EVENTS_PER_REQUEST', 10_000, 1, 1_000_000),
      maxBodyBytes: int(env, 'INGEST_MAX_BODY_BYTES', 5 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      dedupMemoryMb: int(env, 'INGEST_DEDUP_MEMORY_MB', 128, 1, 65_536),
      rateLimitPerKey: int(env, 'INGEST_RATE_LIMIT_PER_KEY', 1000, 1, 1_000_000),
    },
    corsOrigins: list(env.LIVEWALL_CORS_ORIGINS),
    logLevel: env.LOG_LEVEL || 'info',
    webDistDir: path.resolve(env.LIVEWALL_WEB_DIST || path.join(import.meta.dirname, '..', 'web', 'dist')),
  }
}
