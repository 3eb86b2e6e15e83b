import { EventEmitter } from 'node:events'
import fp from 'fastify-plugin'
import { IngestKeys } from '../auth/tokens.ts'
import { Deduplicator } from '../ingest/dedup.ts'
import { CommitJournal } from '../ingest/repair.ts'
import { type CommitNotice, GroupCommitWriter } from '../ingest/writer.ts'
import { type IngestInstruments, ingestInstruments } from '../observability/prometheus.ts'
import { commitJournalFile } from '../storage/data-dir.ts'

/** How often the dedup filters' fill is looked at (ms). */
const FILL_CHECK_MS = 60_000

declare module 'fastify' {
  interface FastifyInstance {
    writer: GroupCommitWriter
    dedup: Deduplicator
    ingestKeys: IngestKeys
    ingestInstruments: IngestInstruments
    /** Emits 'commit' (CommitNotice) after every group commit that stored events or quarantine rows. */
    commits: EventEmitter<{ commit: [CommitNotice] }>
  }
}

/** The write side: ingest keys, dedup, and the group-commit writer. */
export default fp(
  async (app) => {
    const instruments = ingestInstruments(app.registry)
    // Commits and their look-ups go before the reads waiting for the engine (`clickhouseFirst`).
    const dedup = new Deduplicator(
      app.clickhouseFirst,
      () => app.clock.now(),
      app.config.ingest.dedupMemoryMb,
    )
    const commits = new EventEmitter<{ commit: [CommitNotice] }>()
    commits.setMaxListeners(0)
    const journal = new CommitJournal(commitJournalFile(app.config.dataDir, app.config.database))
    const writer = new GroupCommitWriter({
      client: app.clickhouseCommitLanes[0]!,
      lanes: app.clickhouseCommitLanes.slice(1),
      rollupClient: app.clickhouseRollups,
      dedup,
      config: app.config.ingest,
      now: () => app.clock.now(),
      instruments,
      onCommit: (notice) => commits.emit('commit', notice),
      onError: (err) => app.log.error({ err }, 'group commit failed; its requests were answered 503'),
      // Beside the data (embedded) or on this host (server mode): it lists this process's
      // own commits, one file per database.
      journal,
      onRepair: ({ streams, error }) => {
        if (error)
          app.log.error(
            { err: error },
            'rollup repair (or its journal) failed; tried again before the next commit, which waits for it',
          )
        else if (streams.length > 0)
          app.log.warn({ streams }, 'rollups rebuilt from raw events after a commit that half-landed')
      },
    })
    app.registry.gauge(
      'livewall_ingest_pending_events',
      'Events waiting in the write buffer, or stored and waiting for their rollups',
      () => writer.pendingEvents,
    )
    app.registry.gauge(
      'livewall_dedup_filter_bytes',
      'Memory held by the dedup seen-filters',
      () => dedup.memoryBytes,
    )
    app.registry.gauge('livewall_dedup_warm', '1 once the dedup filters are loaded from storage', () =>
      dedup.isWarm ? 1 : 0,
    )
    app.registry.gauge(
      'livewall_dedup_event_id_false_positive_ratio',
      'Estimated share of new event_ids the dedup filters cannot rule out (each sends its commit to a ClickHouse look-up)',
      () => dedup.falsePositiveRates.eventId,
    )
    app.registry.gauge(
      'livewall_dedup_order_id_false_positive_ratio',
      'Estimated share of new order_ids the dedup filters cannot rule out',
      () => dedup.falsePositiveRates.orderId,
    )
    // Filters holding more ids than their memory suits send more and more commits to a
    // look-up: said in the log after the warm-up or at the minute it happens, when it is
    // news (Deduplicator.overfullNotice).
    const checkFill = () => {
      const overfull = dedup.overfullNotice()
      if (overfull)
        app.log.warn(
          { falsePositiveRate: overfull.falsePositiveRate, suggestedMemoryMb: overfull.suggestedMemoryMb },
          overfull.message,
        )
    }
    const fillTimer = setInterval(checkFill, FILL_CHECK_MS).unref()

    // Warm the dedup filters in the background; until then every id is looked up.
    let closing = false
    const warm = async () => {
      await app.storage.whenReady
      // First, whatever a crash left half-written (nothing, almost always). A failure is
      // logged and the repair tried again before the next commit.
      await writer.repairNow().catch((err) => app.log.warn({ err }, 'start-up rollup repair stopped'))
      for (let attempt = 1; !closing; attempt++) {
        try {
          const started = Date.now()
          const loaded = await dedup.warmUp(() => closing)
          app.log.info({ ids: loaded, ms: Date.now() - started }, 'dedup filters warmed from storage')
          checkFill()
          return
        } catch (err) {
          // Still correct meanwhile: every id is looked up in storage until the filters are warm.
          app.log.warn({ err, attempt }, 'dedup warm-up failed; retrying')
          await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * attempt)).unref())
        }
      }
    }
    warm().catch((err) =>
      app.log.warn({ err }, 'dedup warm-up stopped; every id will be looked up in storage'),
    )

    app.decorate('ingestKeys', new IngestKeys(app.config.ingestKeys))
    app.decorate('ingestInstruments', instruments)
    app.decorate('dedup', dedup)
    app.decorate('writer', writer)
    app.decorate('commits', commits)
    // Flush the write buffer before the server stops: every taken request gets its answer.
    app.addHook('preClose', async () => {
      closing = true
      clearInterval(fillTimer)
      await writer.close()
      journal.close()
    })
  },
  { name: 'ingest', dependencies: ['clickhouse'] },
)
