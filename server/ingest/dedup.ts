import type { ClickHouseClient } from '@clickhouse/client'
import type { EventRow } from '../schemas/event.ts'
import { SeenFilter } from './seen-filter.ts'

export const EVENT_ID_WINDOW_MS = 24 * 3600 * 1000
/** order_paid is accepted up to 7 days late, so its order_id is remembered a little longer. */
export const ORDER_ID_WINDOW_MS = 8 * 24 * 3600 * 1000
const LOOKUP_CHUNK = 1000
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
  lookups = 0

  constructor(
    private readonly client: ClickHouseClient,
    private readonly now: () => number,
    memoryMb: number,
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
      for (const [eventId, orderId] of rows) {
        if (from >= end - EVENT_ID_WINDOW_MS - WARM_SLICE_MS) this.eventIds.add(eventId)
        if (orderId !== '') this.orderIds.add(orderId)
      }
      loaded += rows.length
    }
    this.warm = true
    return loaded
  }

  /** Marks `duplicate[i]` for every event of the batch that must not be counted again. */
  async findDuplicates(events: readonly EventRow[]): Promise<boolean[]> {
    const duplicate = new Array<boolean>(events.length).fill(false)
    const firstOfId = new Set<string>()
    const maybeIds: string[] = []
    for (let i = 0; i < events.length; i++) {
      const id = events[i]!.event_id
      if (firstOfId.has(id)) {
        duplicate[i] = true
        continue
      }
      firstOfId.add(id)
      if (!this.warm || this.eventIds.mightContain(id)) maybeIds.push(id)
    }
    const storedIds = await this.lookup('event_id', maybeIds)
    const firstOfOrder = new Set<string>()
    const maybeOrders: string[] = []
    for (let i = 0; i < events.length; i++) {
      if (duplicate[i]) continue
      const event = events[i]!
      if (storedIds.has(event.event_id)) {
        duplicate[i] = true
        continue
      }
      if (event.type !== 'order_paid') continue
      if (firstOfOrder.has(event.order_id)) {
        duplicate[i] = true
        continue
      }
      firstOfOrder.add(event.order_id)
      if (!this.warm || this.orderIds.mightContain(event.order_id)) maybeOrders.push(event.order_id)
    }
    const storedOrders = await this.lookup('order_id', maybeOrders)
    if (storedOrders.size > 0) {
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!
        if (!duplicate[i] && event.type === 'order_paid' && storedOrders.has(event.order_id))
          duplicate[i] = true
      }
    }
    return duplicate
  }

  /** After a commit: the stored events' ids are now known. */
  remember(events: readonly EventRow[]): void {
    for (const event of events) {
      this.eventIds.add(event.event_id)
      if (event.type === 'order_paid') this.orderIds.add(event.order_id)
    }
  }

  private async lookup(column: 'event_id' | 'order_id', ids: string[]): Promise<Set<string>> {
    const found = new Set<string>()
    const windowMs = column === 'event_id' ? EVENT_ID_WINDOW_MS : ORDER_ID_WINDOW_MS
    const since = this.now() - windowMs
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      this.lookups++
      const chunk = ids.slice(i, i + LOOKUP_CHUNK)
      // event_id: the events table through its projection ordered by event_id;
      // order_id: the order_ids table, ordered by order_id.
      const query =
        column === 'event_id'
          ? `SELECT DISTINCT event_id FROM events
             WHERE event_id IN {ids:Array(String)} AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`
          : `SELECT DISTINCT order_id FROM order_ids
             WHERE order_id IN {ids:Array(String)} AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`
      const rows = await (
        await this.client.query({ query, query_params: { ids: chunk, since }, format: 'JSONCompactEachRow' })
      ).json<[string]>()
      for (const [id] of rows) found.add(id)
    }
    return found
  }
}
