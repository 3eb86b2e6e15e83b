import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { getHeapStatistics } from 'node:v8'
import { WRITE_PROBE_PREFIX } from './storage/data-dir.ts'

/** Everything the server reads from its environment, validated once at boot. */
export interface Config {
  port: number
  host: string
  /** Unset: embedded ClickHouse (chDB) in `dataDir`. */
  clickhouseUrl: string | undefined
  clickhouseUser: string | undefined
  clickhousePassword: string | undefined
  /** ClickHouse server only: a query or insert that takes longer fails (and ingest answers 503). */
  clickhouseRequestTimeoutMs: number
  /**
   * Embedded only: the nice value of the engine's merge threads while merges keep up (0 =
   * the process's own); unset, DEFAULT_MERGE_NICE where the process can give it back, else
   * 0. See server/storage/merge-priority.ts for the trade.
   */
  mergeNice: number | undefined
  database: string
  dataDir: string
  currency: string
  ingestKeys: string[]
  tokenSecret: string
  demo: boolean
  ingest: IngestConfig
  http: HttpConfig
  shed: ShedConfig
  /** Origins allowed by CORS (`https://shop.example`); empty = same-origin only. */
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
  /** Group commits that may be in flight at once, each in its own engine session. */
  commitLanes: number
  maxEventsPerRequest: number
  maxBodyBytes: number
  /** Memory budget of the event_id / order_id seen-filters (Bloom filters), in MiB. */
  dedupMemoryMb: number
  /** Per ingest key: requests per second (a fixed one-second window). */
  rateLimitPerKey: number
  /** Body bytes of all ingest requests not yet answered, together; above it, 503 before reading. */
  maxInflightBytes: number
}

/** Limits on what a client can hold open (slowloris, idle floods, huge headers). */
export interface HttpConfig {
  /** A client must have sent all its headers within this. */
  headersTimeoutMs: number
  /** …and its whole request, body included, within this. */
  requestTimeoutMs: number
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number
  /** A connection with no traffic either way (e.g. a client that stopped reading) is closed after this. */
  idleTimeoutMs: number
  /** Request line plus headers; above it, 431. */
  maxHeaderBytes: number
  /** Open connections at once (0 = no limit); above it, new ones are dropped. */
  maxConnections: number
}

/** Load shedding of the /v1 API: 503 + Retry-After instead of queueing when the process is saturated. */
export interface ShedConfig {
  /** Mean event-loop delay over a half-second sample above which requests are shed (0 = off). */
  eventLoopDelayMs: number
  /** V8 heap in use above which requests are shed (0 = off). */
  heapUsedBytes: number
}

/**
 * What is wrong with the configuration: every problem found, not only the first, so that
 * one start names all there is to fix. One problem is the message as it is; several are
 * counted, one per line.
 */
export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly problems: string[]

  constructor(problems: string | string[]) {
    const list = typeof problems === 'string' ? [problems] : problems
    super(list.length === 1 ? list[0] : `${list.length} problems:\n${list.map((p) => `  - ${p}`).join('\n')}`)
    this.problems = list
  }
}

type Env = Record<string, string | undefined>

/** The integer in `name`, or `fallback` when unset; a bad value is noted in `problems`. */
function intOf(
  env: Env,
  problems: string[],
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  // Decimal digits only: Number() would also take 0x10 or 1e3.
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
    return fallback
  }
  return value
}

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text
  } catch {
    return false
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function logLevel(text: string | undefined, problems: string[]): string {
  if (!text) return 'info'
  if (!LOG_LEVELS.includes(text)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${text}"`)
    return 'info'
  }
  return text
}

/**
 * `url` with any `user:password@` and any query blanked, for messages: nothing secret reaches
 * a log line, even from a URL too broken to parse (`?password=` is how some clients take it).
 */
function withoutUserinfo(url: string): string {
  // Up to the last @ anywhere: a password may itself hold @, : or /, and a URL that did not
  // parse says nothing reliable about where its userinfo ends.
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, (_match, scheme: string | undefined) => `${scheme ?? ''}…@`)
    .replace(/\?.*$/s, '?…')
}

/** DATA_DIR, resolved (default ./data): where embedded ClickHouse and the commit journal live. */
export function dataDirOf(env: Env = process.env): string {
  return path.resolve(env.DATA_DIR || './data')
}

/** Builds the config from the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = []
  const int = (name: string, fallback: number, min: number, max: number) =>
    intOf(env, problems, name, fallback, min, max)
  const demo = env.LIVEWALL_DEMO === '1'
  let ingestKeys = list(env.LIVEWALL_INGEST_KEYS)
  let tokenSecret = env.LIVEWALL_TOKEN_SECRET ?? ''
  if (!demo) {
    if (ingestKeys.length === 0) {
      problems.push('LIVEWALL_INGEST_KEYS is required (comma-separated secrets), or set LIVEWALL_DEMO=1')
    }
    if (tokenSecret.length < 16) {
      problems.push('LIVEWALL_TOKEN_SECRET is required and must be at least 16 characters')
    }
  } else {
    // The demo makes up what is not given; what is given obeys the same rules as without it.
    if (ingestKeys.length === 0) ingestKeys = [`demo-${randomBytes(12).toString('hex')}`]
    if (tokenSecret === '') tokenSecret = randomBytes(32).toString('hex')
    if (tokenSecret.length < 16) {
      problems.push(
        'LIVEWALL_TOKEN_SECRET must be at least 16 characters (or unset: with LIVEWALL_DEMO=1 the demo makes its own)',
      )
    }
  }
  if (ingestKeys.some((key) => key.length < 8))
    problems.push('each LIVEWALL_INGEST_KEYS entry must be at least 8 characters')
  const currency = (env.CURRENCY ?? 'USD').toUpperCase()
  // ISO 4217 as this Node knows it (the dashboard formats money with the same list)
  if (!/^[A-Z]{3}$/.test(currency) || !Intl.supportedValuesOf('currency').includes(currency))
    problems.push(`CURRENCY must be an ISO 4217 code such as USD or EUR, got "${env.CURRENCY}"`)
  const database = env.CLICKHOUSE_DATABASE ?? 'livewall'
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(database)) {
    problems.push(`CLICKHOUSE_DATABASE must be a plain identifier, got "${database}"`)
  }
  const corsOrigins = list(env.LIVEWALL_CORS_ORIGINS)
  for (const origin of corsOrigins) {
    // No wildcard: every origin allowed to call the API with a token is named.
    if (!isOrigin(origin)) {
      problems.push(
        `LIVEWALL_CORS_ORIGINS entries must be origins like https://shop.example (scheme, host, optional port), got "${origin}"`,
      )
    }
  }
  const problemsBeforeTimeouts = problems.length
  const headersTimeoutMs = int('HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000)
  const requestTimeoutMs = int('HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000)
  // (compared only when both are good: a bad one's stand-in would be compared)
  const timeoutsGood = problems.length === problemsBeforeTimeouts
  const http: HttpConfig = {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: int('HTTP_KEEP_ALIVE_TIMEOUT_MS', 65_000, 100, 3_600_000),
    idleTimeoutMs: int('HTTP_IDLE_TIMEOUT_MS', 60_000, 100, 3_600_000),
    maxHeaderBytes: int('HTTP_MAX_HEADER_BYTES', 16 * 1024, 1024, 1024 * 1024),
    maxConnections: int('HTTP_MAX_CONNECTIONS', 10_000, 0, 1_000_000),
  }
  if (timeoutsGood && headersTimeoutMs > requestTimeoutMs) {
    problems.push('HTTP_HEADERS_TIMEOUT_MS must not be larger than HTTP_REQUEST_TIMEOUT_MS')
  }
  const heapLimitMb = Math.floor(getHeapStatistics().heap_size_limit / 1024 / 1024)
  const clickhouseUrl = env.CLICKHOUSE_URL || undefined
  if (clickhouseUrl !== undefined) {
    let protocol: string | undefined
    try {
      protocol = new URL(clickhouseUrl).protocol
    } catch {
      problems.push(`CLICKHOUSE_URL is not a URL: "${withoutUserinfo(clickhouseUrl)}"`)
    }
    // (`localhost:8123` parses, as a URL of scheme "localhost:")
    if (protocol !== undefined && protocol !== 'http:' && protocol !== 'https:') {
      problems.push(
        `CLICKHOUSE_URL must start with http:// or https://, got "${withoutUserinfo(clickhouseUrl)}"`,
      )
    }
  }
  const config: Config = {
    port: int('PORT', 3000, 0, 65535),
    host: env.HOST || '127.0.0.1',
    clickhouseUrl,
    clickhouseUser: env.CLICKHOUSE_USER || undefined,
    clickhousePassword: env.CLICKHOUSE_PASSWORD || undefined,
    clickhouseRequestTimeoutMs: int('CLICKHOUSE_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    mergeNice:
      env.LIVEWALL_MERGE_NICE === undefined || env.LIVEWALL_MERGE_NICE === ''
        ? undefined
        : int('LIVEWALL_MERGE_NICE', 0, 0, 19),
    database,
    dataDir: dataDirOf(env),
    currency,
    ingestKeys,
    tokenSecret,
    demo,
    ingest: {
      flushMaxEvents: int('INGEST_FLUSH_MAX_EVENTS', 10_000, 1, 1_000_000),
      flushMaxWaitMs: int('INGEST_FLUSH_MAX_WAIT_MS', 15, 0, 10_000),
      maxPendingEvents: int('INGEST_MAX_PENDING_EVENTS', 200_000, 1, 100_000_000),
      commitLanes: int('INGEST_COMMIT_LANES', 2, 1, 4),
      maxEventsPerRequest: int('INGEST_MAX_EVENTS_PER_REQUEST', 10_000, 1, 1_000_000),
      maxBodyBytes: int('INGEST_MAX_BODY_BYTES', 5 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      dedupMemoryMb: int('INGEST_DEDUP_MEMORY_MB', 128, 1, 65_536),
      rateLimitPerKey: int('INGEST_RATE_LIMIT_PER_KEY', 1000, 1, 1_000_000),
      maxInflightBytes: int('INGEST_MAX_INFLIGHT_MB', 256, 1, 1_000_000) * 1024 * 1024,
    },
    http,
    shed: {
      eventLoopDelayMs: int('LOAD_SHED_EVENT_LOOP_DELAY_MS', 1000, 0, 600_000),
      // Default: 90 % of V8's heap limit, well before an out-of-memory crash.
      heapUsedBytes: int('LOAD_SHED_HEAP_USED_MB', Math.floor(heapLimitMb * 0.9), 0, 1_000_000) * 1024 * 1024,
    },
    corsOrigins,
    logLevel: logLevel(env.LOG_LEVEL, problems),
    webDistDir: path.resolve(env.LIVEWALL_WEB_DIST || path.join(import.meta.dirname, '..', 'web', 'dist')),
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

/**
 * Makes sure DATA_DIR is a directory this process can write (embedded ClickHouse's data,
 * the commit journal), before the engine starts: chDB given a path it cannot use spins or
 * fails with its own errno text, naming no variable.
 */
export function ensureDataDir(dir: string): void {
  const probe = path.join(dir, `${WRITE_PROBE_PREFIX}${process.pid}`)
  try {
    // One level at a time: Node's recursive mkdir spins forever under /proc (ENOENT again
    // and again), which is how a DATA_DIR there used to hang the start with no message.
    const missing: string[] = []
    for (let at = path.resolve(dir); !existsSync(at); at = path.dirname(at)) missing.unshift(at)
    for (const level of missing) mkdirSync(level)
    writeFileSync(probe, '')
    rmSync(probe)
  } catch (error) {
    throw new ConfigError(`DATA_DIR ${dir} cannot be written (${(error as Error).message})`)
  }
}
