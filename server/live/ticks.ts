import type { ClickHouseClient } from '@clickhouse/client'
import type { CommitNotice } from '../ingest/writer.ts'
import { METRICS, type MetricName, type Totals } from '../metrics/definitions.ts'
import { alignDown, alignUp, buildDenseSeries, readBucketsMany, type Series } from '../metrics/series.ts'
import { readRound, type Stream } from '../metrics/streams.ts'
import type { ViewBalances } from './view-balance.ts'

/** Every §3 metric has a per-bucket column except peak_online, which is a running total (in `totals`). */
export const LIVE_METRICS: readonly MetricName[] = METRICS.filter((m) => m !== 'peak_online')

/**
 * How far back a snapshot and a tick reach, per step: as many buckets as the stream view
 * keeps (web/src/views/StreamView.svelte, WINDOW: 1 800, 720 and 240 buckets), so a screen
 * at 1m shows four hours, and a late event anywhere in them reaches it. Older changes are
 * on /series; a `since` further back is cut too: the screen could not hold more.
 */
export const LIVE_SPAN_MS: Readonly<Record<number, number>> = {
  1000: 30 * 60 * 1000,
  10000: 2 * 3600 * 1000,
  60000: 4 * 3600 * 1000,
}
/** At most this many buckets per snapshot or tick. */
export const MAX_LIVE_BUCKETS = 3600

export interface TickPayload {
  stream_id: string
  step_ms: number
  series: Series
  totals: Totals
  watermark: number
}

interface DirtyRange {
  from: number
  to: number
}

export interface TickEngineOptions {
  client: ClickHouseClient
  balances: ViewBalances
  now: () => number
  /** No two rounds start closer than this (ms): bounds the query rate whatever the commit rate. */
  minIntervalMs: number
  /** The steps (ms) subscribers of a stream watch; empty when nobody does. */
  stepsOf: (streamId: string) => number[]
  /** A tick for the stream's room; `creatorId` is the stream's creator as the round read it. */
  deliver: (payload: TickPayload, creatorId: string) => void
  onError: (error: unknown) => void
  /** seconds a round took; seconds from the first commit it covers to its ticks being sent */
  observe?: (roundSeconds: number, commitToTickSeconds: number) => void
}

/**
 * [from, to) of the buckets at `stepMs` from `from` to the newest, at most the step's live
 * window long; a `from` past the newest bucket gives an empty range at the end.
 */
export function liveRange(from: number, lastEventAt: number, stepMs: number): { from: number; to: number } {
  // (every live step has its span; MAX_LIVE_BUCKETS caps any other)
  const spanMs = LIVE_SPAN_MS[stepMs] ?? MAX_LIVE_BUCKETS * stepMs
  const to = alignUp(lastEventAt + 1, stepMs)
  return { from: Math.min(Math.max(alignDown(from, stepMs), to - spanMs), to), to }
}

/**
 * Turns commits into ticks. A commit marks the streams it touched dirty over the ts range
 * it changed; one round at a time then reads every dirty stream back from the rollups
 * with a fixed number of queries (one per step in use, one for totals, one for viewer
 * balances), so a hot stream costs one read per round however many commits it had.
 * A later bucket's `online` depends on earlier events, so a tick covers from the
 * earliest change to the stream's newest bucket. Notices that arrive while a round reads
 * also re-cover that round's range: the round after a race always reads settled data.
 */
export class TickEngine {
  private dirty = new Map<string, DirtyRange>()
  private inflight = new Map<string, DirtyRange>()
  private running = false
  private timer: NodeJS.Timeout | undefined
  private lastRoundAt = 0
  /**
   * The newest commit's watermark; at first the start time, which every commit stored before
   * a restart precedes: a snapshot read before the first commit does not step back a
   * watermark its client saw before the restart.
   */
  private pendingWatermark: number
  /** When the oldest commit not yet covered by a round arrived (performance.now()). */
  private dirtySince: number | undefined
  private closed = false
  private readonly idleWaiters = new Set<() => void>()
  /**
   * Per stream and step: every subscriber holds the buckets up to here. The next tick
   * starts no later, so empty buckets that came into being as time went on (whose
   * `online` carries on) are sent too and a screen has no holes.
   */
  private heldUpTo = new Map<string, number>()
  rounds = 0
  /** Watermark of the newest round started: every later tick carries at least this one. */
  private startedWatermark = 0

  /**
   * The watermark a snapshot read now may carry: no tick sent after it carries less. While
   * a round runs, that round's (its ticks may reach the new subscriber); otherwise the
   * newest commit's, which every later round starts from. (Rounds run only for watched
   * streams: the round watermark alone stayed 0 for a first subscriber.)
   */
  snapshotWatermark(): number {
    return this.running ? this.startedWatermark : this.pendingWatermark
  }

  constructor(private readonly options: TickEngineOptions) {
    this.pendingWatermark = options.now()
  }

  onCommit(notice: CommitNotice): void {
    for (const [streamId, range] of notice.streams) {
      this.options.balances.noteEvent(streamId, range.to)
      if (this.options.stepsOf(streamId).length === 0) {
        for (const step of [1000, 10_000, 60_000]) this.heldUpTo.delete(`${step}:${streamId}`)
        // Nobody watches it, so no round will bring its viewer balance up to date: drop it,
        // and the next subscriber loads it whole. (Kept, it went stale, and a stream watched
        // again showed a peak_online below its online.)
        this.options.balances.forget(streamId)
        continue
      }
      this.markDirty(streamId, range.from, range.to)
    }
    this.pendingWatermark = Math.max(this.pendingWatermark, notice.watermark)
    if (this.dirty.size > 0) this.dirtySince ??= performance.now()
    this.schedule()
  }

  /**
   * The range of `streamId` whose commits no round has brought into the viewer balances yet
   * (waiting for the next round, or read by the one running), if any.
   */
  unsettled(streamId: string): DirtyRange | undefined {
    const waiting = this.dirty.get(streamId)
    const reading = this.inflight.get(streamId)
    if (!waiting && !reading) return undefined
    const from = Math.min(
      waiting?.from ?? Number.POSITIVE_INFINITY,
      reading?.from ?? Number.POSITIVE_INFINITY,
    )
    const to = Math.max(waiting?.to ?? 0, reading?.to ?? 0)
    return this.balanceRange(streamId, { from, to })
  }

  /** The whole seconds of the viewer balance that a change of [from, to] (ms) touches. */
  private balanceRange(streamId: string, range: DirtyRange): DirtyRange {
    const last = Math.max(range.to, this.options.balances.lastEventAt(streamId))
    return { from: alignDown(range.from, 1000), to: alignUp(last + 1, 1000) }
  }

  /** Marks a range dirty by hand (e.g. after a subscribe, to close a race with a round). */
  markDirty(streamId: string, from: number, to: number): void {
    const existing = this.dirty.get(streamId)
    const inflight = this.inflight.get(streamId)
    const lo = Math.min(from, existing?.from ?? from, inflight?.from ?? from)
    const hi = Math.max(to, existing?.to ?? to, inflight?.to ?? to)
    this.dirty.set(streamId, { from: lo, to: hi })
  }

  /** A subscriber got a snapshot up to `to` (exclusive). */
  noteSnapshot(streamId: string, stepMs: number, to: number): void {
    const key = `${stepMs}:${streamId}`
    this.heldUpTo.set(key, Math.min(this.heldUpTo.get(key) ?? to, to))
  }

  /** Nobody watches the stream at this step any more. */
  forget(streamId: string, stepMs: number): void {
    this.heldUpTo.delete(`${stepMs}:${streamId}`)
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    this.releaseIdle()
  }

  /**
   * Resolves once no round is due or running, or after `maxWaitMs`. The group commit
   * waits on it before its next INSERT, so a round reading the last commit's buckets
   * is not queued behind a whole INSERT in the engine (which runs one statement at a
   * time); a round that is due starts at once.
   */
  idle(maxWaitMs: number): Promise<void> {
    if (this.closed || (!this.running && this.dirty.size === 0)) return Promise.resolve()
    if (!this.running && this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
      void this.round()
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters.delete(done)
        resolve()
      }, maxWaitMs)
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      this.idleWaiters.add(done)
    })
  }

  private releaseIdle(): void {
    for (const done of this.idleWaiters) done()
    this.idleWaiters.clear()
  }

  private schedule(): void {
    if (this.running || this.timer || this.closed || this.dirty.size === 0) return
    const wait = Math.max(0, this.lastRoundAt + this.options.minIntervalMs - Date.now())
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.round()
    }, wait)
  }

  private async round(): Promise<void> {
    if (this.running || this.closed) return
    this.running = true
    this.inflight = this.dirty
    this.dirty = new Map()
    const watermark = this.pendingWatermark
    this.startedWatermark = watermark
    const since = this.dirtySince ?? performance.now()
    this.dirtySince = undefined
    const started = performance.now()
    let failed = false
    try {
      await this.read(this.inflight, watermark)
      this.rounds++
      const done = performance.now()
      this.options.observe?.((done - started) / 1000, (done - since) / 1000)
    } catch (error) {
      // Nothing was sent for these streams: read them again next round.
      for (const [id, range] of this.inflight) this.markDirty(id, range.from, range.to)
      this.dirtySince ??= since
      failed = true
      this.options.onError(error)
    } finally {
      this.inflight = new Map()
      this.running = false
      this.lastRoundAt = Date.now()
      // A failed round is retried at the normal pace, and the commit waiting on it goes on.
      if (this.dirty.size === 0 || failed) this.releaseIdle()
      else if (this.idleWaiters.size > 0) void this.round()
      this.schedule()
    }
  }

  private async read(dirty: Map<string, DirtyRange>, watermark: number): Promise<void> {
    const { client, balances } = this.options
    const ids = [...dirty.keys()]
    await balances.ensure(ids)
    // The viewer balance of every second from the earliest change on, however old: online
    // at every later bucket depends on it, not only in the window a tick carries.
    const balanceRanges = new Map<string, { from: number; to: number }>()
    const byStep = new Map<number, Map<string, { from: number; to: number }>>()
    for (const [id, range] of dirty) {
      const last = Math.max(range.to, balances.lastEventAt(id))
      balanceRanges.set(id, this.balanceRange(id, range))
      for (const step of this.options.stepsOf(id)) {
        let ranges = byStep.get(step)
        if (!ranges) {
          ranges = new Map()
          byStep.set(step, ranges)
        }
        const held = this.heldUpTo.get(`${step}:${id}`) ?? range.from
        ranges.set(id, liveRange(Math.min(range.from, held), last, step))
      }
    }
    // online and peak of every bucket depend on the viewer balance: the 1 s rows refresh
    // it where 1 s subscribers' window covers the change, else a query of its own does.
    const seconds = byStep.get(1000)
    const toRefresh = new Map(
      [...balanceRanges].filter(([id, range]) => !(seconds?.has(id) && seconds.get(id)!.from <= range.from)),
    )
    // A round is one statement (totals + 1 s buckets), plus one per other step in use:
    // a chDB session runs one statement at a time; a small read of the rollup costs ~7–12 ms. They go
    // to the engine together, so none waits behind an INSERT sent in between.
    const others = [...byStep].filter(([step]) => step !== 1000)
    const [round, otherRows] = await Promise.all([
      readRound(client, ids, 1000, byStep.get(1000) ?? new Map(), this.options.now()),
      Promise.all(others.map(([step, ranges]) => readBucketsMany(client, step, ranges))),
      balances.refresh(toRefresh),
    ])
    const secondRows = byStep.has(1000) ? round.buckets : undefined
    if (secondRows) {
      for (const [id, range] of byStep.get(1000)!) balances.apply(id, range, secondRows.get(id) ?? [])
    }
    const streams = round.streams
    for (const stream of streams) stream.totals.peak_online = balances.peak(stream.stream_id)
    const steps = secondRows ? [[1000, byStep.get(1000)!] as const, ...others] : others
    const stepRows = secondRows ? [secondRows, ...otherRows] : otherRows
    const streamById = new Map<string, Stream>(streams.map((s) => [s.stream_id, s]))
    steps.forEach(([step, ranges], i) => {
      const rows = stepRows[i]!
      for (const [id, range] of ranges) {
        const stream = streamById.get(id)
        if (!stream) continue
        const series = buildDenseSeries(
          id,
          { stepMs: step, from: range.from, to: range.to, metrics: LIVE_METRICS },
          rows.get(id) ?? [],
          balances.balanceBefore(id, range.from),
          0,
        )
        this.heldUpTo.set(`${step}:${id}`, range.to - step)
        this.options.deliver(
          { stream_id: id, step_ms: step, series, totals: stream.totals, watermark },
          stream.creator_id,
        )
      }
    })
  }
}
