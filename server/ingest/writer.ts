import { Readable } from 'node:stream'
import type { ClickHouseClient } from '@clickhouse/client'
import type { IngestConfig } from '../config.ts'
import type { IngestInstruments } from '../observability/prometheus.ts'
import { type EventRow, MAX_LISTED_EVENTS } from '../schemas/event.ts'
import { type CommitIds, commitIds, type Deduplicator, type DuplicateReason, type Precheck } from './dedup.ts'
import {
  type CommitJournal,
  joinSuspects,
  rebuildRollups,
  restoreLookups,
  type SuspectCommit,
  suspectOfLostJournal,
} from './repair.ts'
import { RollupBacklog, type RollupDebt } from './rollup-backlog.ts'
import { eventRowLine, INSERT_EVENTS_SQL, INSERT_ROLLUP_INPUT_SQL, secondsText } from './rows.ts'

/**
 * A request waits this long (ms) for the commit in flight before another starts beside it.
 * Not at once: two small commits side by side cost the engine more per event than one that
 * waited (measured at 75 000 events/s: p99 167 and 157 ms with this wait, 251 and 253 with
 * none, 174 and 175 with one lane).
 */
const SECOND_LANE_AFTER_MS = 25

/** After a failed rebuild, commits go on this long before it is tried again. */
const REBUILD_RETRY_MS = 30_000

export interface QuarantineRow {
  received_at: number
  reason: string
  idx: number
  event_id: string
  stream_id: string
  raw: string
  key_id: string
}

export interface CommitOutcome {
  accepted: number
  duplicates: number
  /**
   * Its first duplicates (as many as its answer lists): position among the request's events,
   * and why. Absent when it has none.
   */
  duplicateOf?: { position: number; reason: DuplicateReason }[]
}

/** What one group commit changed: the live push reads the touched buckets back. */
export interface CommitNotice {
  /** Commit time, epoch ms; strictly increasing from one commit to the next. */
  watermark: number
  /** Per touched stream, the ts range (epoch ms) of the events it gained. */
  streams: Map<string, { from: number; to: number }>
  events: number
}

export class IngestUnavailableError extends Error {
  constructor(
    readonly code: 'storage_unavailable' | 'overloaded' | 'shutting_down',
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message)
  }
}

/** The answer to the requests of a commit that stored nothing. */
function storageFailed(): IngestUnavailableError {
  return new IngestUnavailableError(
    'storage_unavailable',
    'storage did not take the events; nothing of this request was stored, retry it',
    2,
  )
}

/**
 * The answer to a request whose accepted events were stored and whose rejected events could
 * not be quarantined: a 503 to retry, as SPEC §2 keeps every rejected event, but saying what
 * was stored (its retry finds those events as duplicates and stores the quarantine rows).
 */
function quarantineFailed(): IngestUnavailableError {
  return new IngestUnavailableError(
    'storage_unavailable',
    "this request's accepted events were stored, but its rejected events could not be kept in " +
      'quarantine; retry it (the stored events will count as duplicates, once)',
    2,
  )
}

/**
 * A quarantine row as stored. Its text is the producer's (or quotes it) and ClickHouse
 * refuses a whole INSERT over one unpaired surrogate, which would fail every request of
 * the group commit: keep every string valid Unicode.
 */
function quarantineRecord(q: QuarantineRow) {
  return {
    received_at: secondsText(q.received_at),
    reason: q.reason.toWellFormed(),
    idx: q.idx,
    event_id: q.event_id.toWellFormed(),
    stream_id: q.stream_id.toWellFormed(),
    raw: q.raw.toWellFormed(),
    key_id: q.key_id,
  }
}

interface PendingRequest {
  events: EventRow[]
  /** The events' rows, built when the request came in (see `submit`). */
  rows: string
  /** Their `received_at` (epoch ms), to build them again without a duplicate. */
  receivedAt: number
  /** When it joined the queue (performance.now()). */
  queuedAt: number
  precheck: Precheck
  quarantine: QuarantineRow[]
  resolve: (outcome: CommitOutcome) => void
  reject: (error: Error) => void
}

export interface WriterOptions {
  client: ClickHouseClient
  /** The client the rollups of acknowledged commits are written on (see `RollupBacklog`). */
  rollupClient?: ClickHouseClient
  /**
   * Further clients for commits to run on beside `client`'s, each its own engine session
   * (see `GroupCommitWriter`); none = one commit at a time.
   */
  lanes?: ClickHouseClient[]
  dedup: Deduplicator
  config: IngestConfig
  now: () => number
  instruments: IngestInstruments
  onCommit: (notice: CommitNotice) => void
  onError: (error: unknown) => void
  /** Where commits that may have half-landed are kept across a crash (see repair.ts). */
  journal: CommitJournal
  /** A repair of the rollups happened (streams rebuilt) or could not be done yet. */
  onRepair: (outcome: { streams: string[]; error?: unknown }) => void
}

/**
 * Group commit: requests arriving close together share one INSERT. The buffer is flushed
 * when it holds `flushMaxEvents`, when its oldest request has waited `flushMaxWaitMs`,
 * and at close. A commit runs on a lane (an engine session of its own); what arrives while
 * every lane is busy forms the next one. With two lanes, a second commit starts beside the
 * first once a request has waited SECOND_LANE_AFTER_MS for it: one INSERT leaves much of
 * the machine idle, and a request no longer waits for a whole commit before its own.
 * Each request's promise settles only after its own commit: resolved = stored.
 *
 * A commit stores its events in `events` alone; their rollups follow (`RollupBacklog`), the
 * same rows sent again to the table whose view aggregates them, gathered over commits
 * under load. Why: the view's fixed cost per INSERT was half of a small commit, and every
 * request of it waited for it (measured at half the sustained rate, side by side: ack p50
 * ~45 ms with the view in the commit, ~22 ms without; BENCHMARKS.md). Until they are written a
 * commit stays in the journal, reads wait for them (`rollupsCaughtUp`), and a request
 * repeating one of its order_ids waits for them (the order look-up reads the rollups).
 */
export class GroupCommitWriter {
  private queue: PendingRequest[] = []
  private queuedEvents = 0
  private timer: NodeJS.Timeout | undefined
  private readonly lanes: Lane[]
  /** A repair running alone (no commit in flight, none starts meanwhile). */
  private repairing: Promise<void> | undefined
  private closed = false
  private lastWatermark = 0
  private readonly gates: (() => Promise<void>)[] = []
  /** Commits that may have stored their events and not their rollups: repaired before the next. */
  private suspect: SuspectCommit | undefined
  /**
   * Times a commit may have stored events whose accepted orders and event_ids did not reach
   * where the dedup look-ups read them (`halfLanded`): a commit whose look-up ran across
   * one looks up again.
   */
  private lookupsLost = 0
  /** `lookupsLost` when the last restore of those began: no commit may run while they differ. */
  private lookupsRestored = 0
  /** The journal could not be read at start: the suspect is found by the first repair. */
  private journalLost: boolean
  /** A rebuild that failed is tried again before the first commit after this (epoch ms). */
  private rebuildNotBefore = 0
  /** Acknowledged commits whose rollups are not written yet. */
  private readonly backlog = new RollupBacklog({
    busy: () => this.queue.length > 0 || this.running().length > 0,
    closing: () => this.closed,
    write: (debts) => this.writeRollups(debts),
    written: (debts, failure) => this.rollupsWritten(debts, failure),
    released: () => this.kick(),
    onError: (error) => this.options.onError(error),
  })

  constructor(private readonly options: WriterOptions) {
    this.lanes = [options.client, ...(options.lanes ?? [])].map((client) => ({ client, events: 0 }))
    const { suspect, problem } = options.journal.read()
    if (problem) options.onRepair({ streams: [], error: new Error(problem) })
    // An unreadable journal may have held commits whose event_ids and orders never reached
    // the look-ups: the repair finds what it may have held (`suspectOfLostJournal`).
    this.journalLost = problem !== undefined
    if (this.journalLost) this.halfLanded({ streams: [], from: 0, to: 0 })
    else if (suspect) this.halfLanded(suspect)
  }

  /**
   * A commit that may have stored its events without their rollups, and so without what
   * the dedup look-ups read (a failed INSERT or rollups write, or the journal at start):
   * repaired before the next commit, its orders and event_ids restored first.
   */
  private halfLanded(suspect: SuspectCommit): void {
    this.suspect = joinSuspects(this.suspect, suspect)
    this.lookupsLost++
    this.rebuildNotBefore = 0
  }

  /**
   * Repairs what a crash or a failed commit may have left half-written, now rather than
   * before the next commit (at start-up: a server nobody sends to still heals). Returns
   * at once when there is nothing to repair; a commit that runs first repairs before it.
   */
  async repairNow(): Promise<void> {
    // Not until no commit is in flight: under steady traffic one always is, and the first
    // commit to start repairs the suspect itself.
    while (this.suspect && (this.running().length > 0 || this.repairing)) await this.settled()
    if (!this.suspect) return
    this.rebuildNotBefore = 0
    try {
      await this.repairFirst()
    } finally {
      // (commits that arrived meanwhile waited for it: kick() starts none while it runs)
      if (this.queue.length > 0) this.kick()
    }
  }

  /** The commits in flight. */
  private running(): Promise<void>[] {
    return this.lanes.flatMap((lane) => (lane.running ? [lane.running] : []))
  }

  /** Resolves when the commits (and the repair, and the rollups' write) in flight now have settled. */
  private async settled(): Promise<void> {
    await Promise.allSettled([
      ...this.running(),
      ...(this.repairing ? [this.repairing] : []),
      ...(this.backlog.writing ? [this.backlog.writing] : []),
    ])
  }

  /** Events accepted into the buffer and not yet committed, or committed and not yet rolled up. */
  get pendingEvents(): number {
    return this.lanes.reduce((sum, lane) => sum + lane.events, this.queuedEvents) + this.backlog.events
  }

  /**
   * Resolves once the rollups of every commit acknowledged before the call are written (or
   * their write failed, and the repair owes them): a read that waits for it counts every
   * event whose 200 came before it. At once when nothing is owed, the usual case for a read
   * that is not beside heavy ingest.
   */
  rollupsCaughtUp(): Promise<void> {
    return this.backlog.caughtUp()
  }

  submit(events: EventRow[], quarantine: QuarantineRow[]): Promise<CommitOutcome> {
    if (this.closed) {
      return Promise.reject(
        new IngestUnavailableError('shutting_down', 'the server is shutting down; retry', 1),
      )
    }
    const size = events.length + quarantine.length
    if (this.pendingEvents > 0 && this.pendingEvents + size > this.options.config.maxPendingEvents) {
      this.options.instruments.shed.inc()
      return Promise.reject(
        new IngestUnavailableError('overloaded', 'the write buffer is full; retry after a moment', 1),
      )
    }
    // The rows are built now, while the engine runs the commit in flight, not in the
    // commit itself, where the engine would wait for them (~1.2 µs per event, measured:
    // about a fifth of a commit). `received_at` is therefore when the request came in.
    const receivedAt = this.options.now()
    // One flat string per request: the per-event lines die young (kept until the commit,
    // 1 000 strings per request made the garbage collector a quarter of the main thread).
    const rows = rowsOf(events, receivedAt)
    const precheck = this.options.dedup.precheck(events)
    return new Promise((resolve, reject) => {
      this.queue.push({
        events,
        rows,
        receivedAt,
        queuedAt: performance.now(),
        precheck,
        quarantine,
        resolve,
        reject,
      })
      this.queuedEvents += size
      if (this.queuedEvents >= this.options.config.flushMaxEvents) this.kick()
      else this.timer ??= setTimeout(() => this.kick(), this.options.config.flushMaxWaitMs)
    })
  }

  /**
   * Waited on before each commit (not before the answer of the previous one): the live
   * push uses it so that its read of the buckets the last notice named (a rollups write,
   * a repair) runs before the next INSERT rather than queued behind it.
   */
  addGate(gate: () => Promise<void>): void {
    this.gates.push(gate)
  }

  /** Stops taking requests and commits everything already taken, and its rollups. */
  async close(): Promise<void> {
    this.closed = true
    this.kick()
    this.backlog.kick()
    while (this.running().length > 0 || this.repairing || this.backlog.pending) {
      await this.settled()
      this.kick()
      this.backlog.kick()
    }
  }

  /**
   * Writes the rollups of acknowledged commits: their stored rows again, into the table
   * whose view aggregates them (migration 007), in one INSERT.
   */
  private async writeRollups(debts: RollupDebt[]): Promise<void> {
    // Not while a repair rebuilds rollups: this INSERT would race it.
    while (this.repairing) await this.repairing
    await (this.options.rollupClient ?? this.options.client).exec({
      query: INSERT_ROLLUP_INPUT_SQL,
      values: Readable.from([debts.map((debt) => debt.rows).join('\n')]),
    })
  }

  /**
   * A rollups write ended. Written: the journal lets its commits go, and the live push hears
   * of them. Failed: they become the writer's suspect, their orders and event_ids restored and their
   * streams rebuilt from `events` (at once, and before the next commit).
   */
  private rollupsWritten(debts: RollupDebt[], failure?: { error: unknown }): void {
    if (failure) {
      for (const debt of debts) this.halfLanded(debt.suspect)
      this.options.instruments.commitErrors.inc()
      this.options.onError(failure.error)
      this.forget()
      // Repair now, not only before the next commit (none may come for a while). Not after
      // close: the next start repairs what the journal lists.
      if (!this.closed)
        setTimeout(() => void this.repairNow().catch((e) => this.options.onError(e)), 0).unref?.()
      return
    }
    this.forget()
    const now = performance.now()
    const streams = new Map<string, { from: number; to: number }>()
    let events = 0
    for (const debt of debts) {
      this.options.instruments.rollupLagSeconds.observe((now - debt.at) / 1000)
      events += debt.events
      for (const [stream, range] of debt.streams) widen(streams, stream, range.from, range.to)
    }
    this.options.onCommit({ watermark: this.nextWatermark(), streams, events })
  }

  /** Starts a commit on every free lane while requests wait that it may take. */
  private kick(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.repairing) return
    for (const lane of this.lanes) {
      if (this.queue.length === 0) return
      if (lane.running) continue
      const others = this.running().length
      // A repair runs with no commit beside it: the first commit after the others end does it.
      if (this.suspect && others > 0) return
      // Beside another commit only once a request has waited long enough for it to matter,
      // or a full commit waits: small commits side by side cost the engine more per event.
      const waited = performance.now() - this.queue[0]!.queuedAt
      if (
        others > 0 &&
        waited < SECOND_LANE_AFTER_MS &&
        this.queuedEvents < this.options.config.flushMaxEvents
      ) {
        this.timer = setTimeout(() => this.kick(), SECOND_LANE_AFTER_MS - waited)
        return
      }
      lane.running = this.drain(lane)
        .catch((error) => {
          // (a gate or a listener that threw: the lane must not stay busy for ever)
          this.options.onError(error)
          return true
        })
        .then((started) => {
          lane.running = undefined
          this.backlog.kick()
          // What arrived during the commit has waited at least that long: go again now.
          // (Not after a turn that found nothing it could take: the commit it waits for will.)
          if (started && this.queue.length > 0) this.kick()
        })
    }
  }

  /** One commit on `lane`; false when every waiting request had to wait for another lane's. */
  private async drain(lane: Lane): Promise<boolean> {
    // What arrives while the gates hold joins this commit.
    if (this.gates.length > 0 && !this.closed) await Promise.all(this.gates.map((gate) => gate()))
    const others = this.lanes.flatMap((other) => (other !== lane && other.held ? [other.held] : []))
    const batch: PendingRequest[] = []
    const left: PendingRequest[] = []
    let size = 0
    for (const next of this.queue) {
      const nextSize = next.events.length + next.quarantine.length
      if (batch.length > 0 && size + nextSize > this.options.config.flushMaxEvents) left.push(next)
      else if (others.some((held) => sharesIds(next, held))) left.push(next)
      // (an order_paid whose rollups are not written is not yet where the look-up reads it)
      else if (this.backlog.holdsOrderOf(next.events)) left.push(next)
      else {
        batch.push(next)
        size += nextSize
      }
    }
    if (batch.length === 0) return false
    this.queue = left
    this.queuedEvents -= size
    lane.events = size
    // (asked by the other lanes, and remembered by dedup before the INSERT)
    lane.held = commitIds(batch.flatMap((request) => request.events))
    try {
      await this.commit(batch, lane)
    } finally {
      lane.events = 0
      lane.held = undefined
    }
    return true
  }

  private async commit(batch: PendingRequest[], lane: Lane): Promise<void> {
    const { dedup, instruments } = this.options
    const { client } = lane
    const started = performance.now()
    const events = batch.flatMap((r) => r.events)
    const quarantine = batch.flatMap((r) => r.quarantine)
    let remembered: Promise<void> | undefined
    try {
      const precheck = batchPrecheck(batch, events.length)
      let duplicate: Awaited<ReturnType<typeof dedup.whyDuplicate>>
      for (;;) {
        // (before the repair's answer: a write failing between it and the look-up is caught)
        const lost = this.lookupsLost
        // Not before the repair has restored a half-landed commit's accepted orders and
        // event_ids: the look-ups would miss them and count a repeated event again.
        if (!(await this.repairFirst(lane))) {
          throw new Error('the accepted orders and event_ids of a failed commit are not restored yet')
        }
        const lookupsBefore = dedup.lookups
        duplicate = await dedup.whyDuplicate(events, precheck, client, this.backlog.owedIds())
        instruments.dedupLookups.inc(undefined, dedup.lookups - lookupsBefore)
        // A rollups write that failed meanwhile took its debts' ids out of memory before
        // they reached the look-ups' tables: ask again once they are restored.
        if (this.lookupsLost === lost) break
      }
      const chunks: string[] = []
      const fresh: EventRow[] = []
      const streams = new Map<string, { from: number; to: number }>()
      // Per request, how many of its events are stored, and which are duplicates and why.
      const outcomes: CommitOutcome[] = []
      let offset = 0
      for (const request of batch) {
        let stored = 0
        let duplicates: CommitOutcome['duplicateOf']
        for (let i = 0; i < request.events.length; i++) {
          const reason = duplicate[offset + i]
          if (reason) {
            duplicates ??= []
            if (duplicates.length < MAX_LISTED_EVENTS) duplicates.push({ position: i, reason })
            continue
          }
          stored++
          const event = request.events[i]!
          fresh.push(event)
          widen(streams, event.stream_id, event.ts, event.ts)
        }
        if (stored === request.events.length) {
          if (stored > 0) chunks.push(request.rows)
        } else if (stored > 0) {
          const at = offset
          chunks.push(
            rowsOf(
              request.events.filter((_, i) => !duplicate[at + i]),
              request.receivedAt,
            ),
          )
        }
        outcomes.push({
          accepted: stored,
          duplicates: request.events.length - stored,
          ...(duplicates && { duplicateOf: duplicates }),
        })
        offset += request.events.length
      }
      // Before the INSERT, not after: if it fails half-way or its answer is lost, these ids
      // may be stored, and the seen-filter must send their retry to ClickHouse for the truth.
      // (Remembering an id that was not stored costs one look-up, never a wrong answer: so
      // the whole batch's ids go, the set the other lanes check, built once in `drain`.)
      // The filters take the ids while the engine writes (see Deduplicator.remember).
      remembered = dedup.remember(lane.held!)
      if (chunks.length > 0) {
        const suspect: SuspectCommit = {
          streams: [...streams.keys()],
          from: Math.min(...batch.map((r) => r.receivedAt)),
          to: Math.max(...batch.map((r) => r.receivedAt)),
        }
        lane.suspect = suspect
        try {
          this.options.journal.write(this.openSuspects())
        } catch (error) {
          // (nothing was sent: not a suspect, and not left in the next journal either)
          lane.suspect = undefined
          throw error
        }
        try {
          // Not while a repair (another lane's) rebuilds rollups: this INSERT would race it.
          while (this.repairing) await this.repairing
          // One INSERT, one block: the batch lands in one part.
          const rows = chunks.join('\n')
          lane.inserting = client.exec({ query: INSERT_EVENTS_SQL, values: Readable.from([rows]) })
          await lane.inserting
          // Stored: its requests are answered below, and its rollups are owed.
          this.backlog.add({
            rows,
            events: fresh.length,
            streams,
            // (the batch's ids when all were stored, the usual case: built once in `drain`)
            ids: fresh.length === events.length ? lane.held!.ids : new Set(fresh.map((e) => e.event_id)),
            orders: acceptedOrders(fresh),
            suspect,
            at: performance.now(),
          })
        } catch (error) {
          this.halfLanded(suspect)
          throw error
        } finally {
          lane.suspect = undefined
          lane.inserting = undefined
        }
        this.forget()
      }
      // After the events: if this fails, the retry finds the events stored (duplicates,
      // counted once) and stores the quarantine rows then. The other order would store
      // them twice.
      let quarantineLost = false
      if (quarantine.length > 0) {
        try {
          await client.insert({
            table: 'quarantine',
            values: quarantine.map(quarantineRecord),
            format: 'JSONEachRow',
          })
        } catch (error) {
          // The events are stored: the requests without rejected events are answered as
          // stored, and the others are told what happened (not "nothing was stored").
          quarantineLost = true
          instruments.commitErrors.inc()
          this.options.onError(error)
        }
      }
      instruments.batchSize.observe(events.length + quarantine.length)
      instruments.commitSeconds.observe((performance.now() - started) / 1000)
      for (const [r, request] of batch.entries()) {
        if (quarantineLost && request.quarantine.length > 0)
          request.reject(outcomes[r]!.accepted > 0 ? quarantineFailed() : storageFailed())
        else request.resolve(outcomes[r]!)
      }
      // The live push hears of stored events once their rollups are written (rollupsWritten);
      // a commit of rejected events alone changes the wall's quarantine count now.
      if (fresh.length > 0) this.backlog.kick()
      else if (quarantine.length > 0)
        this.options.onCommit({ watermark: this.nextWatermark(), streams, events: 0 })
    } catch (error) {
      instruments.commitErrors.inc()
      this.options.onError(error)
      const failure = storageFailed()
      for (const request of batch) request.reject(failure)
    }
    // Before the next commit asks the filters.
    await remembered
  }

  /**
   * Repairs the suspect, if there is one, before `lane` commits (or now, for no lane):
   * alone, once no other lane's INSERT is running (a rebuild beside an INSERT into its
   * streams would race it). False when the accepted orders and event_ids could not be restored.
   */
  private async repairFirst(lane?: Lane): Promise<boolean> {
    for (;;) {
      if (this.repairing) {
        await this.repairing
        continue
      }
      if (!this.suspect) return true
      // Not before the owed rollups are written: the rebuild would count their events, and
      // then their own write again.
      if (this.backlog.pending) {
        await this.backlog.caughtUp()
        continue
      }
      const inserting = this.lanes.flatMap((other) =>
        other !== lane && other.inserting ? [other.inserting] : [],
      )
      if (inserting.length > 0) {
        await Promise.allSettled(inserting)
        continue
      }
      const repaired = this.repair(this.suspect)
      // (other lanes only wait for it to end; this one is told how it ended)
      this.repairing = repaired.then(
        () => undefined,
        () => undefined,
      )
      try {
        return await repaired
      } finally {
        this.repairing = undefined
      }
    }
  }

  /**
   * Restores the suspect commits' accepted orders and event_ids, then rebuilds their streams' rollups
   * where they lack events. False when the orders and event_ids could not be restored (no commit may
   * run); a rebuild that fails is logged and tried again before a later commit (not
   * sooner than REBUILD_RETRY_MS: it may be large), and commits go on meanwhile.
   */
  private async repair(suspect: SuspectCommit): Promise<boolean> {
    // Nothing else runs meanwhile: commits wait for the repair (see `repairNow`, `commit`).
    if (this.journalLost) {
      try {
        suspect = await suspectOfLostJournal(this.options.client, this.options.now())
      } catch (error) {
        this.options.onRepair({ streams: [], error })
        return false
      }
      this.suspect = suspect
      this.journalLost = false
    }
    if (this.lookupsRestored !== this.lookupsLost) {
      const lost = this.lookupsLost
      try {
        await restoreLookups(this.options.client, suspect)
        this.lookupsRestored = lost
      } catch (error) {
        this.options.onRepair({ streams: [], error })
        return false
      }
    }
    if (this.options.now() < this.rebuildNotBefore) return true
    let repaired: Map<string, { from: number; to: number }>
    try {
      repaired = await rebuildRollups(this.options.client, suspect)
    } catch (error) {
      this.rebuildNotBefore = this.options.now() + REBUILD_RETRY_MS
      this.options.onRepair({ streams: [], error })
      return true
    }
    this.suspect = undefined
    this.forget()
    this.options.onRepair({ streams: [...repaired.keys()] })
    if (repaired.size > 0)
      this.options.onCommit({ watermark: this.nextWatermark(), streams: repaired, events: 0 })
    return true
  }

  /** What may have half-landed: the suspect, the commits in flight, and those owing rollups. */
  private openSuspects(): SuspectCommit | undefined {
    let open = this.suspect
    for (const lane of this.lanes) if (lane.suspect) open = joinSuspects(open, lane.suspect)
    for (const debt of this.backlog.debts()) open = joinSuspects(open, debt.suspect)
    return open
  }

  /** Now, or just after the last watermark given: the live push's watermarks only grow. */
  private nextWatermark(): number {
    this.lastWatermark = Math.max(this.options.now(), this.lastWatermark + 1)
    return this.lastWatermark
  }

  /**
   * The journal back to the suspect still open (none, mostly). If the file cannot be written, an entry
   * stays behind: the next start compares those streams again and finds them whole.
   */
  private forget(): void {
    try {
      this.options.journal.write(this.openSuspects())
    } catch (error) {
      this.options.onRepair({ streams: [], error })
    }
  }
}

/** A commit lane: its client, and what its commit in flight holds. */
interface Lane {
  client: ClickHouseClient
  running?: Promise<void>
  /** Its INSERT, while it runs. */
  inserting?: Promise<unknown>
  /** Events (and quarantine rows) of the commit in flight. */
  events: number
  /** Its event_ids and order_ids: a request sharing one waits for it to end (see `drain`). */
  held?: CommitIds
  suspect?: SuspectCommit
}

/**
 * Does the request repeat an id of a commit in flight? Its dedup look-up could not see that
 * commit's events before they are stored, so it waits for the commit to end.
 */
function sharesIds(request: PendingRequest, held: CommitIds): boolean {
  for (const event of request.events) {
    if (held.ids.has(event.event_id)) return true
    if (event.type === 'order_paid' && held.orders.has(event.order_id)) return true
  }
  return false
}

/** Makes a stream's ts range in `streams` cover [from, to]. */
function widen(streams: Map<string, { from: number; to: number }>, stream: string, from: number, to: number) {
  const range = streams.get(stream)
  if (!range) streams.set(stream, { from, to })
  else {
    if (from < range.from) range.from = from
    if (to > range.to) range.to = to
  }
}

/** The order_ids of these (stored) events. */
function acceptedOrders(events: readonly EventRow[]): Set<string> {
  const orders = new Set<string>()
  for (const event of events) if (event.type === 'order_paid') orders.add(event.order_id)
  return orders
}

/** The `events` rows of these events, one line each. */
function rowsOf(events: readonly EventRow[], receivedAt: number): string {
  const receivedText = secondsText(receivedAt)
  return events.map((event) => eventRowLine(event, receivedText)).join('\n')
}

/** The prechecks of a batch's requests as one, for its events in order. */
function batchPrecheck(batch: PendingRequest[], events: number): Precheck {
  const maybeId = new Uint8Array(events)
  const maybeOrder = new Uint8Array(events)
  let seq = Number.POSITIVE_INFINITY
  let offset = 0
  for (const { precheck } of batch) {
    maybeId.set(precheck.maybeId, offset)
    maybeOrder.set(precheck.maybeOrder, offset)
    offset += precheck.maybeId.length
    seq = Math.min(seq, precheck.seq)
  }
  return { seq: Number.isFinite(seq) ? seq : 0, maybeId, maybeOrder }
}
