import { mkdirSync } from 'node:fs'
import {
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  ClickHouseLogLevel,
  type ClickHouseSettings,
  createClient,
  type ErrorLogParams,
  type Logger,
  type LogParams,
} from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { type FaultInjector, scopedConnection } from '../storage/connection.ts'
import { dataDirOwner } from '../storage/data-dir.ts'
import {
  canRestorePriority,
  DEFAULT_MERGE_NICE,
  lowerMergePriority,
  MAX_PARTS_PER_PARTITION_SQL,
} from '../storage/merge-priority.ts'
import { migrate } from '../storage/migrate.ts'
import { isStorageUnreachable } from '../storage/unreachable.ts'

declare module 'fastify' {
  interface FastifyInstance {
    clickhouse: ClickHouseClient
    /**
     * The same storage, for what an acknowledgement or the live push waits on (group commits,
     * their dedup look-ups, tick rounds, the wall's once-a-second read): embedded, its
     * statements go before the reads clients asked for that wait for the engine
     * (`ScopedConnection.first`); over HTTP it is `clickhouse`.
     */
    clickhouseFirst: ClickHouseClient
    /**
     * The clients group commits run on, one per commit lane: the first is `clickhouseFirst`;
     * embedded, each other one is an engine session of its own, so two commits run side by
     * side (over HTTP they are all `clickhouse`).
     */
    clickhouseCommitLanes: ClickHouseClient[]
    /**
     * The client the rollups of acknowledged commits are written on: embedded, an engine
     * session of its own beside the commit lanes (over HTTP, `clickhouse`).
     */
    clickhouseRollups: ClickHouseClient
    storage: StorageState
  }
}

export interface StorageState {
  embedded: boolean
  /** True once migrations have run against a reachable ClickHouse. */
  migrated: boolean
  /** Resolves when storage is usable; retried in the background while it is not. */
  whenReady: Promise<void>
}

export interface ClickhousePluginOptions {
  config: Config
  /** Tests only: makes chosen operations fail at the connection boundary. */
  faults?: FaultInjector
}

const SETTINGS: ClickHouseSettings = {
  // Counts come back as JSON numbers, not strings (they stay far below 2^53).
  // https://clickhouse.com/docs/operations/settings/formats#output_format_json_quote_64bit_integers
  output_format_json_quote_64bit_integers: 0,
  // Wait for the INSERT to finish (parts written, views run) before answering, so an
  // acknowledged insert is a stored insert. https://clickhouse.com/docs/operations/settings/settings#async_insert
  async_insert: 0,
}

type ClientConnection = NonNullable<ClickHouseClientConfigOptions['connection']>

/** chdb ships its own copy of client-common's types; the shapes are the same contract. */
function asClientConnection(connection: unknown): ClientConnection {
  return connection as ClientConnection
}

/**
 * The HTTP client's own log lines go to the app's logger (structured, redacted), not to
 * the console. Its failures are logged again, with context, where they are handled, so
 * they are debug lines here.
 */
function clientLog(log: FastifyBaseLogger): ClickHouseClientConfigOptions['log'] {
  const line = ({ module, message, args }: LogParams, err?: Error) =>
    log.debug({ module, args, err }, `clickhouse client: ${message}`)
  class AppLogger implements Logger {
    trace(params: LogParams) {
      line(params)
    }
    debug(params: LogParams) {
      line(params)
    }
    info(params: LogParams) {
      line(params)
    }
    warn(params: LogParams & { err?: Error }) {
      line(params, params.err)
    }
    error(params: ErrorLogParams) {
      line(params, params.err)
    }
  }
  return { LoggerClass: AppLogger, level: ClickHouseLogLevel.WARN }
}

function buildClients(
  config: Config,
  log: FastifyBaseLogger,
  faults?: FaultInjector,
): {
  client: ClickHouseClient
  first: ClickHouseClient
  lanes: ClickHouseClient[]
  rollups: ClickHouseClient
} {
  if (config.clickhouseUrl !== undefined) {
    const client = createClient({
      log: clientLog(log),
      url: config.clickhouseUrl,
      username: config.clickhouseUser,
      password: config.clickhousePassword,
      database: config.database,
      clickhouse_settings: SETTINGS,
      request_timeout: config.clickhouseRequestTimeoutMs,
    })
    // (a server runs statements side by side: nothing waits behind a read)
    return {
      client,
      first: client,
      lanes: Array.from({ length: config.ingest.commitLanes }, () => client),
      rollups: client,
    }
  }
  mkdirSync(config.dataDir, { recursive: true })
  const connection = scopedConnection(embeddedConnection(config.dataDir), config.database, faults)
  const first = createClient({
    connection: asClientConnection(connection.first),
    clickhouse_settings: SETTINGS,
  })
  // Each further commit lane, and the rollups' writer, in an engine session of its own.
  const ownSession = () =>
    createClient({
      connection: asClientConnection(
        scopedConnection(embeddedConnection(config.dataDir), config.database, faults).first,
      ),
      clickhouse_settings: SETTINGS,
    })
  const lanes = [first]
  for (let lane = 1; lane < config.ingest.commitLanes; lane++) lanes.push(ownSession())
  return {
    client: createClient({ connection: asClientConnection(connection), clickhouse_settings: SETTINGS }),
    first,
    lanes,
    rollups: ownSession(),
  }
}

/** ClickHouse's answers to a wrong user or password (516, 192, 194) or missing grants (497). */
function isAccessRefused(error: unknown): boolean {
  const code = String((error as { code?: unknown } | null)?.code ?? '')
  return (
    ['516', '192', '194', '497'].includes(code) || /AUTHENTICATION_FAILED|ACCESS_DENIED/.test(String(error))
  )
}

/** The embedded engine on `dataDir`; a dir another process has open is said so, by name. */
function embeddedConnection(dataDir: string): ReturnType<typeof createChdbConnection> {
  try {
    return createChdbConnection({ path: dataDir })
  } catch (error) {
    const owner = dataDirOwner(dataDir)
    if (owner === undefined) throw error
    throw new Error(
      `DATA_DIR ${dataDir} is in use by another Livewall (process ${owner}); stop it, or give this one its own DATA_DIR`,
    )
  }
}

/** Creates the database if needed, from a client that does not select one yet. */
async function ensureDatabase(config: Config, log: FastifyBaseLogger): Promise<void> {
  const bootstrap =
    config.clickhouseUrl !== undefined
      ? createClient({
          log: clientLog(log),
          url: config.clickhouseUrl,
          username: config.clickhouseUser,
          password: config.clickhousePassword,
          // Short: the server starts (not ready) rather than wait long for a storage that is away.
          request_timeout: Math.min(5_000, config.clickhouseRequestTimeoutMs),
        })
      : createClient({ connection: asClientConnection(embeddedConnection(config.dataDir)) })
  try {
    await bootstrap.command({
      query: 'CREATE DATABASE IF NOT EXISTS {database:Identifier}',
      query_params: { database: config.database },
    })
  } finally {
    await bootstrap.close()
  }
}

/**
 * Owns the ClickHouse client. Embedded chDB by default, a server over HTTP when
 * CLICKHOUSE_URL is set; the SQL is the same. If storage does not answer at boot the
 * server still starts (readyz says not ready, ingest answers 503) and keeps retrying.
 */
export default fp(
  async (app, opts: ClickhousePluginOptions) => {
    const { config } = opts
    const { client, first, lanes, rollups } = buildClients(config, app.log, opts.faults)
    let stopped = false
    const state: StorageState = {
      embedded: config.clickhouseUrl === undefined,
      migrated: false,
      whenReady: Promise.resolve(),
    }

    // A storage that does not answer may come back; one that refuses the credentials or
    // the grants will not by itself, and is said so, louder; any other error is said as such.
    const logPrepareFailure = (error: unknown, fields: Record<string, unknown>, then: string) => {
      if (isStorageUnreachable(error))
        app.log.warn({ err: error, ...fields }, `storage not reachable; ${then}`)
      else if (config.clickhouseUrl !== undefined && isAccessRefused(error)) {
        app.log.error(
          { err: error, ...fields },
          `the ClickHouse server refused access (check CLICKHOUSE_USER, CLICKHOUSE_PASSWORD and the user's grants); ${then}`,
        )
      } else app.log.error({ err: error, ...fields }, `storage answered with an error; ${then}`)
    }
    const prepare = async () => {
      await ensureDatabase(config, app.log)
      await migrate(client, (msg) => app.log.info(msg))
      state.migrated = true
    }
    const prepareUntilReady = async (): Promise<void> => {
      for (let attempt = 1; !stopped; attempt++) {
        try {
          await prepare()
          app.log.info('storage ready')
          return
        } catch (error) {
          if (error instanceof Error && error.name === 'MigrationError') throw error
          logPrepareFailure(error, { attempt }, 'retrying')
          // unref: a retry pending must not keep a stopped process alive
          await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * attempt)).unref())
        }
      }
    }

    try {
      await prepare()
    } catch (error) {
      if (error instanceof Error && error.name === 'MigrationError') throw error
      logPrepareFailure(error, {}, 'starting anyway and retrying')
      state.whenReady = prepareUntilReady()
      state.whenReady.catch((err) => app.log.error({ err }, 'storage preparation failed'))
    }

    // Merges below commits and reads (embedded: the engine's threads are this process's),
    // while they keep up.
    const mergePriority = state.embedded ? mergesBelowCommits(app, config, client) : undefined

    app.decorate('clickhouse', client)
    app.decorate('clickhouseFirst', first)
    app.decorate('clickhouseCommitLanes', lanes)
    app.decorate('clickhouseRollups', rollups)
    app.decorate('storage', state)
    app.addHook('onClose', async () => {
      stopped = true
      mergePriority?.stop()
      // (each closed once, whatever another's close does)
      await Promise.allSettled([...new Set([client, first, ...lanes, rollups])].map((c) => c.close()))
    })
  },
  { name: 'clickhouse' },
)

/**
 * Lowers the engine's merge threads (see merge-priority.ts): by default where the process
 * can give them their priority back when merges fall behind, and then only until they do;
 * for good where it cannot, and only if LIVEWALL_MERGE_NICE asks.
 */
function mergesBelowCommits(app: FastifyInstance, config: Config, client: ClickHouseClient) {
  const adaptive = canRestorePriority()
  const nice = config.mergeNice ?? (adaptive ? DEFAULT_MERGE_NICE : 0)
  if (nice === 0) {
    if (config.mergeNice === undefined)
      app.log.info(
        'merge threads at the process priority: lowering them needs CAP_SYS_NICE to give it back when merges fall behind (LIVEWALL_MERGE_NICE)',
      )
    return undefined
  }
  if (!adaptive)
    app.log.warn(
      `merge threads at nice ${nice} for good (LIVEWALL_MERGE_NICE): without CAP_SYS_NICE they cannot be given their priority back when merges fall behind`,
    )
  const priority = lowerMergePriority({
    nice,
    adaptive,
    partCount: async () => {
      const rows = await (
        await client.query({ query: MAX_PARTS_PER_PARTITION_SQL, format: 'JSONEachRow' })
      ).json<{ parts: number | string }>()
      return Number(rows[0]?.parts ?? 0)
    },
    onChange: (change) =>
      app.log.warn(
        change.lowered
          ? `merges caught up (${change.parts} parts in a partition): merge threads back at nice ${nice}`
          : `merges fall behind (${change.parts} parts in a partition): merge threads at the process priority until they catch up`,
      ),
    onError: (err) =>
      app.log.warn({ err }, 'merge thread priority: could not set it, or read the part count'),
  })
  app.registry.gauge(
    'livewall_merges_lowered',
    '1 while the engine merge threads run below commits (LIVEWALL_MERGE_NICE), 0 while merges catch up',
    () => (priority.lowered ? 1 : 0),
  )
  app.registry.gauge(
    'livewall_storage_max_parts_per_partition',
    'the most active parts in one partition of any table, as last read (adaptive merge priority only)',
    () => priority.parts,
  )
  return priority
}
