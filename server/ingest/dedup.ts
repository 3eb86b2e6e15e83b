import type { ClickHouseClient } from '@clickhouse/client'
import type { EventRow } from '../schemas/event.ts'
import { SeenFilter } from './seen-filter.ts'

export const EVENT_ID_WINDOW_MS = 24 * 3600 * 1000
/** order_paid is accepted up to 7 days late, so its order_id is remembered a little longer. */
export const ORDER_ID_WINDOW_MS = 8 * 24 * 3600 * 1000

/**
 * Estimated false positives above which the filters hold more ids than their memory suits:
 * past the README's sizing (~1.4 % when every generation holds its slice of the window), so the traffic has outgrown
 * INGEST_DEDUP_MEMORY_MB. (Look-ups start well before: a commit of 5 000 new ids makes one
 * from ~0.02 % on. Measured at 130 000 events/s with the default memory: ~25 look-ups a
 * second from the second minute, commits 58–60 ms instead of 41–44; BENCHMARKS.md, session 18.)
 */
export const OVERFULL_FALSE_POSITIVES = 0.02
/** What `Deduplicator.overfull` tells: the rate, the memory that would do, and a log message. */
export interface Overfull {
  falsePositiveRate: number
  suggestedMemoryMb: number
  message: string
}
/** The rate the suggested memory aims at: the README's sizing. */
const SIZED_FALSE_POSITIVES = 0.01
/** INGEST_DEDUP_MEMORY_MB's largest value (config.ts). */
const MAX_MEMORY_MB = 65_536
const LOOKUP_CHUNK = 1000
/** Commits whose ids are kept beside the filters for prechecks taken before they were added. */
const RECENT_COMMITS = 16

/**
 * What the seen-filters said about a request's events when it came in (see `precheck`).
 * Asking them then, while the engine writes the commit in flight, keeps their memory
 * accesses (~3 ms per 10 000 ids: the filters are far larger than the CPU caches) out of
 * the commit, where the engine would wait for them.
 */
export interface Precheck {
  /** Commits whose ids were in the filters when they were asked. */
  seq: number
  /** Per event: 1 when its event_id may have been seen (or the filters were not warm). */
  maybeId: Uint8Array
  /** Per event: 1 when it is an order_paid whose order_id may have been seen. */
  maybeOrder: Uint8Array
}

/** Why an event is not counted again: its event_id, or (order_paid) its order_id, was already. */
export type DuplicateReason = 'event_id' | 'order_id'

/** The event_ids of a commit's events, and the order_ids of its order_paid events. */
export interface CommitIds {
  ids: Set<string>
  orders: Set<string>
}

export function commitIds(events: readonly EventRow[]): CommitIds {
  const held: CommitIds = { ids: new Set(), orders: new Set() }
  for (const event of events) {
    held.ids.add(event.event_id)
    if (event.type === 'order_paid') held.orders.add(event.order_id)
  }
  return held
}

interface RecentCommit extends CommitIds {
  seq: number
}
const WARM_SLICE_MS = 3600 * 1000

/**
 * Exactly-once in the numbers (SPEC §2): decides which events of a batch were already
 * accepted (same event_id within 24 h) or repeat an accepted order (same order_id of an
 * order_paid). ClickHouse is the truth; the in-memory seen-filters only spare it the
 * look-up for ids that are certainly new, which is almost all of them. Until the filters
 * are warmed from storage after a start, every id is looked up.
 */
export class Deduplicator {
  private readonly eventIds: SeenFilter
  private readonly orderIds: SeenFilter
  private warm = false
  /** Commits whose ids are in the filters. */
  private seq = 0
  /** Commits remembered (two may be in flight at once: their ids reach the filters in turn). */
  private remembered = 0
  /** The ids of the last commits, for prechecks taken before they reached the filters. */
  private readonly recent: RecentCommit[] = []
  lookups = 0
  /** The memory the last overfull notice named (0: none since the filters were last fine). */
  private noticedMb = 0

  constructor(
    private readonly client: ClickHouseClient,
    private readonly now: () => number,
    private readonly memoryMb: number,
  ) {
    const bytes = memoryMb * 1024 * 1024
    this.eventIds = new SeenFilter({
      windowMs: EVENT_ID_WINDOW_MS,
      generations: 5,
      memoryBytes: bytes * 0.75,
      now,
    })
    this.orderIds = new SeenFilter({
      windowMs: ORDER_ID_WINDOW_MS,
      generations: 5,
      memoryBytes: bytes * 0.25,
      now,
    })
  }

  get memoryBytes(): number {
    return this.eventIds.memoryBytes + this.orderIds.memoryBytes
  }

  get isWarm(): boolean {
    return this.warm
  }

  /**
   * The filters' estimated false-positive rates (SeenFilter.falsePositiveRate): the share of
   * new ids they cannot rule out, each of which sends its commit to ClickHouse for a look-up.
   */
  get falsePositiveRates(): { eventId: number; orderId: number } {
    return { eventId: this.eventIds.falsePositiveRate, orderId: this.orderIds.falsePositiveRate }
  }

  /**
   * The memory (MiB, as INGEST_DEDUP_MEMORY_MB) with which both filters would answer at most
   * `target` false positives for the ids they hold now: the configured memory when they do.
   * A floor, as the newest generations are still filling.
   */
  memoryMbFor(target: number): number {
    const factor = Math.max(this.eventIds.memoryFactorFor(target), this.orderIds.memoryFactorFor(target))
    return factor === 1 ? this.memoryMb : Math.min(MAX_MEMORY_MB, Math.ceil(this.memoryMb * factor))
  }

  /**
   * What to tell the operator when a filter answers more than OVERFULL_FALSE_POSITIVES
   * false positives, with the memory that would bring both back to the README's sizing;
   * else undefined. Not before the warm-up: half-loaded filters say too little.
   */
  overfull(): Overfull | undefined {
    return this.overfullAt(this.falsePositiveRates)
  }

  /**
   * `overfull()` when it is news: the first time, then only once the memory it names has
   * doubled, or after the rate fell below half the threshold (a rotation dropped the oldest
   * generation's ids) and rose past it again. For a log looked at every minute.
   */
  overfullNotice(): Overfull | undefined {
    const rates = this.falsePositiveRates
    const overfull = this.overfullAt(rates)
    if (!overfull) {
      if (Math.max(rates.eventId, rates.orderId) < OVERFULL_FALSE_POSITIVES / 2) this.noticedMb = 0
      return undefined
    }
    if (overfull.suggestedMemoryMb < this.noticedMb * 2) return undefined
    this.noticedMb = overfull.suggestedMemoryMb
    return overfull
  }

  private overfullAt({ eventId, orderId }: { eventId: number; orderId: number }): Overfull | undefined {
    if (!this.warm) return undefined
    const falsePositiveRate = Math.max(eventId, orderId)
    if (falsePositiveRate <= OVERFULL_FALSE_POSITIVES) return undefined
    const suggestedMemoryMb = this.memoryMbFor(SIZED_FALSE_POSITIVES)
    const percent = (falsePositiveRate * 100).toFixed(falsePositiveRate < 0.1 ? 1 : 0)
    return {
      falsePositiveRate,
      suggestedMemoryMb,
      message:
        `the dedup filters hold more ids than INGEST_DEDUP_MEMORY_MB=${this.memoryMb} suits: about ` +
        `${percent} % of new ${eventId >= orderId ? 'event_ids' : 'order_ids'} need a ClickHouse look-up ` +
        `(a commit holding one waits for it); INGEST_DEDUP_MEMORY_MB=${suggestedMemoryMb} or more ` +
        'would bring that back to ~1 %, the README\'s sizing (answers stay exact either way; README, "Exactly once")',
    }
  }

  /** Loads the ids stored within the windows into the filters, an hour at a time. */
  async warmUp(stopped: () => boolean = () => false): Promise<number> {
    const end = this.now()
    let loaded = 0
    // Start at the oldest id still inside the window: a young database has only minutes
    // of events, not 8 days of hourly slices (192 statements, one at a time in chDB) to read.
    const oldest = await (
      await this.client.query({
        query: `SELECT toUnixTimestamp64Milli(min(received_at)) AS oldest, count() AS n FROM events
                WHERE received_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')`,
        query_params: { from: end - ORDER_ID_WINDOW_MS },
        format: 'JSONEachRow',
      })
    ).json<{ oldest: number | string; n: number | string }>()
    const first = Number(oldest[0]?.n ?? 0) === 0 ? end : Number(oldest[0]!.oldest)
    const start =
      end -
      ORDER_ID_WINDOW_MS +
      Math.floor((first - (end - ORDER_ID_WINDOW_MS)) / WARM_SLICE_MS) * WARM_SLICE_MS
    for (let from = start; from < end; from += WARM_SLICE_MS) {
      if (stopped()) return loaded
      const to = Math.min(end, from + WARM_SLICE_MS)
      const rows = await (
        await this.client.query({
          query: `SELECT event_id, if(type = 'order_paid', order_id, '') AS order_id
                  FROM events
                  WHERE received_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
                    AND received_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
          query_params: { from, to },
          format: 'JSONCompactEachRow',
        })
      ).json<[string, string]>()
      // Into the generations they were accepted in (not all into the newest: see addManyAt).
      if (from >= end - EVENT_ID_WINDOW_MS - WARM_SLICE_MS)
        this.eventIds.addManyAt(
          rows.map(([eventId]) => eventId),
          to,
        )
      this.orderIds.addManyAt(
        rows.flatMap(([, orderId]) => (orderId === '' ? [] : [orderId])),
        to,
      )
      loaded += rows.length
    }
    this.warm = true
    return loaded
  }

  /** Asks the filters about these events now; `findDuplicates` then completes the answer. */
  precheck(events: readonly EventRow[]): Precheck {
    const maybeId = new Uint8Array(events.length)
    this.filterSaysMany(
      'ids',
      events.map((event) => event.event_id),
      maybeId,
    )
    const orderAt: number[] = []
    for (let i = 0; i < events.length; i++) if (events[i]!.type === 'order_paid') orderAt.push(i)
    const orders = new Uint8Array(orderAt.length)
    this.filterSaysMany(
      'orders',
      orderAt.map((i) => events[i]!.order_id),
      orders,
    )
    const maybeOrder = new Uint8Array(events.length)
    for (let k = 0; k < orderAt.length; k++) maybeOrder[orderAt[k]!] = orders[k]!
    return { seq: this.seq, maybeId, maybeOrder }
  }

  /**
   * For every event of the batch that must not be counted again, why: its event_id was
   * accepted already (or comes earlier in the batch), or its order_id was counted already
   * (the same). With a precheck (of exactly these events, its `seq` the oldest of theirs),
   * the filters are not asked again: only the ids of commits added to them since are.
   * `owed`: is this event_id stored in `events` and not yet in `event_ids`, where the
   * look-up reads (the writer's rollups debts: they reach it with their rollups)? Asked
   * before the look-up: an id whose debt is written meanwhile is in `event_ids` by then
   * (one whose write fails is the writer's to catch: it looks up again after the repair).
   */
  async whyDuplicate(
    events: readonly EventRow[],
    precheck?: Precheck,
    client: ClickHouseClient = this.client,
    owed: (eventId: string) => boolean = () => false,
  ): Promise<(DuplicateReason | undefined)[]> {
    const since =
      precheck && (this.seq === precheck.seq || this.recent.some((c) => c.seq === precheck.seq + 1))
        ? this.recent.filter((c) => c.seq > precheck.seq)
        : undefined
    const maybeSeen = (i: number, column: 'ids' | 'orders', id: string): boolean => {
      if (precheck && since) {
        if ((column === 'ids' ? precheck.maybeId : precheck.maybeOrder)[i] === 1) return true
        return since.some((commit) => commit[column].has(id))
      }
      return this.filterSays(column, id)
    }
    const duplicate = new Array<DuplicateReason | undefined>(events.length).fill(undefined)
    // event_id -> where it first comes in the batch; later copies are duplicates of it
    const firstOfId = new Map<string, number>()
    let repeats: [at: number, first: number][] | undefined
    const maybeIds: string[] = []
    for (let i = 0; i < events.length; i++) {
      const id = events[i]!.event_id
      const first = firstOfId.get(id)
      if (first !== undefined) {
        duplicate[i] = 'event_id'
        repeats ??= []
        repeats.push([i, first])
        continue
      }
      firstOfId.set(id, i)
      if (maybeSeen(i, 'ids', id)) maybeIds.push(id)
    }
    const owedIds: string[] = []
    const askIds: string[] = []
    for (const id of maybeIds) (owed(id) ? owedIds : askIds).push(id)
    const storedIds = await this.lookup(client, 'event_id', askIds)
    for (const id of owedIds) storedIds.add(id)
    const firstOfOrder = new Set<string>()
    const maybeOrders: string[] = []
    for (let i = 0; i < events.length; i++) {
      if (duplicate[i]) continue
      const event = events[i]!
      if (storedIds.has(event.event_id)) {
        duplicate[i] = 'event_id'
        continue
      }
      if (event.type !== 'order_paid') continue
      if (firstOfOrder.has(event.order_id)) {
        duplicate[i] = 'order_id'
        continue
      }
      firstOfOrder.add(event.order_id)
      if (maybeSeen(i, 'orders', event.order_id)) maybeOrders.push(event.order_id)
    }
    const storedOrders = await this.lookup(client, 'order_id', maybeOrders)
    if (storedOrders.size > 0) {
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!
        if (!duplicate[i] && event.type === 'order_paid' && storedOrders.has(event.order_id))
          duplicate[i] = 'order_id'
      }
    }
    // A later copy of an event dropped for its order_id is dropped for the same reason: its
    // event_id was never accepted.
    if (repeats) for (const [at, first] of repeats) duplicate[at] = duplicate[first] ?? 'event_id'
    return duplicate
  }

  /** May this id have been accepted? */
  private filterSays(column: 'ids' | 'orders', id: string): boolean {
    const out = new Uint8Array(1)
    this.filterSaysMany(column, [id], out)
    return out[0] === 1
  }

  /** `out[i] = 1` where `ids[i]` may have been accepted (until the filters are warm: all, ask storage). */
  private filterSaysMany(column: 'ids' | 'orders', ids: readonly string[], out: Uint8Array): void {
    if (!this.warm) out.fill(1)
    else (column === 'ids' ? this.eventIds : this.orderIds).mightContainMany(ids, out)
  }

  /**
   * Before a commit's INSERT: its events' ids are (about to be) stored. They are kept
   * beside the filters at once; adding them to the filters (~3.5 ms per 10 000 ids) is
   * left to the returned promise, which the caller lets run while the engine writes.
   * (Ids that are not stored after all cost a look-up when they come again, never a
   * wrong answer.)
   */
  remember(held: CommitIds): Promise<void> {
    const commit: RecentCommit = { seq: ++this.remembered, ...held }
    this.recent.push(commit)
    if (this.recent.length > RECENT_COMMITS) this.recent.shift()
    return new Promise((resolve) => {
      setImmediate(() => {
        this.eventIds.addMany([...commit.ids])
        this.orderIds.addMany([...commit.orders])
        this.seq = commit.seq
        resolve()
      })
    })
  }

  private async lookup(
    client: ClickHouseClient,
    column: 'event_id' | 'order_id',
    ids: string[],
  ): Promise<Set<string>> {
    const found = new Set<string>()
    const windowMs = column === 'event_id' ? EVENT_ID_WINDOW_MS : ORDER_ID_WINDOW_MS
    const since = this.now() - windowMs
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      this.lookups++
      const chunk = ids.slice(i, i + LOOKUP_CHUNK)
      // event_id: the event_ids table (migration 008); order_id: the order_ids view (006).
      // Both ordered by the id.
      const query =
        column === 'event_id'
          ? `SELECT DISTINCT event_id FROM event_ids
             WHERE event_id IN {ids:Array(String)} AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`
          : `SELECT DISTINCT order_id FROM order_ids
             WHERE order_id IN {ids:Array(String)} AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`
      const rows = await (
        await client.query({ query, query_params: { ids: chunk, since }, format: 'JSONCompactEachRow' })
      ).json<[string]>()
      for (const [id] of rows) found.add(id)
    }
    return found
  }
}
