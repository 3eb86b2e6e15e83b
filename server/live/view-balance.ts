import type { ClickHouseClient } from '@clickhouse/client'

/** One stream's view_start − view_end per 1 s bucket, in time order, with prefix sums. */
class StreamBalance {
  seconds: number[] = []
  deltas: number[] = []
  prefix: number[] = []
  peak = 0
  lastEventAt = 0

  /** Replaces the deltas of buckets in [fromSec, toSec) by `entries` (sorted by second). */
  replace(fromSec: number, toSec: number, entries: [number, number][]): void {
    const lo = lowerBound(this.seconds, fromSec)
    const hi = lowerBound(this.seconds, toSec)
    this.seconds.splice(lo, hi - lo, ...entries.map((e) => e[0]))
    this.deltas.splice(lo, hi - lo, ...entries.map((e) => e[1]))
    this.recompute()
  }

  private recompute(): void {
    let sum = 0
    let peak = 0
    this.prefix = new Array(this.deltas.length)
    for (let i = 0; i < this.deltas.length; i++) {
      sum += this.deltas[i]!
      this.prefix[i] = sum
      if (sum > peak) peak = sum
    }
    this.peak = peak
  }

  /** view_start − view_end of every bucket before `sec`. */
  before(sec: number): number {
    const i = lowerBound(this.seconds, sec)
    return i === 0 ? 0 : this.prefix[i - 1]!
  }
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < value) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * A cache, per watched stream, of the 1 s viewer balance (view_start − view_end), so
 * `online` at any bucket end and the exact `peak_online` come without re-reading the
 * stream's history on every tick: a stream is loaded once, then only the buckets a
 * commit touched are read again. Memory: one entry per second that had viewers come
 * or go, for at most `maxStreams` streams (least recently used are dropped).
 */
export class ViewBalances {
  private readonly streams = new Map<string, StreamBalance>()

  constructor(
    private readonly client: ClickHouseClient,
    private readonly maxStreams = 2000,
  ) {}

  has(streamId: string): boolean {
    return this.streams.has(streamId)
  }

  /** Streams whose balance is cached. */
  get size(): number {
    return this.streams.size
  }

  /** Loads the streams not cached yet (one query for all of them). */
  async ensure(streamIds: string[]): Promise<void> {
    const missing = streamIds.filter((id) => !this.streams.has(id))
    for (const id of streamIds) this.touch(id)
    if (missing.length === 0) return
    const rows = await this.read(new Map(missing.map((id) => [id, { from: 0, to: 8_000_000_000_000 }])))
    for (const id of missing) {
      const balance = new StreamBalance()
      const entries = rows.get(id)
      if (entries) {
        balance.replace(0, Number.MAX_SAFE_INTEGER, entries.buckets)
        balance.lastEventAt = entries.lastEventAt
      }
      this.streams.set(id, balance)
    }
    while (this.streams.size > this.maxStreams) this.streams.delete(this.streams.keys().next().value!)
  }

  /** Re-reads the 1 s buckets of [from, to) (ms) for each stream and replaces them. */
  async refresh(ranges: ReadonlyMap<string, { from: number; to: number }>): Promise<void> {
    const cached = new Map([...ranges].filter(([id]) => this.streams.has(id)))
    if (cached.size === 0) return
    const rows = await this.read(cached)
    for (const [id, range] of cached) {
      const balance = this.streams.get(id)!
      balance.replace(Math.floor(range.from / 1000), Math.ceil(range.to / 1000), rows.get(id)?.buckets ?? [])
    }
  }

  /** Same as refresh, from 1 s bucket rows already read for [from, to). */
  apply(
    streamId: string,
    range: { from: number; to: number },
    rows: readonly { t: number; views: number; view_ends: number }[],
  ): void {
    const balance = this.streams.get(streamId)
    if (!balance) return
    const entries: [number, number][] = []
    for (const row of rows)
      if (row.views > 0 || row.view_ends > 0) entries.push([row.t / 1000, row.views - row.view_ends])
    balance.replace(Math.floor(range.from / 1000), Math.ceil(range.to / 1000), entries)
  }

  noteEvent(streamId: string, ts: number): void {
    const balance = this.streams.get(streamId)
    if (balance && ts > balance.lastEventAt) balance.lastEventAt = ts
  }

  lastEventAt(streamId: string): number {
    return this.streams.get(streamId)?.lastEventAt ?? 0
  }

  /** view_start − view_end of the stream before `ms`. */
  balanceBefore(streamId: string, ms: number): number {
    return this.streams.get(streamId)?.before(Math.ceil(ms / 1000)) ?? 0
  }

  peak(streamId: string): number {
    return this.streams.get(streamId)?.peak ?? 0
  }

  forget(streamId: string): void {
    this.streams.delete(streamId)
  }

  private touch(streamId: string): void {
    const balance = this.streams.get(streamId)
    if (balance) {
      this.streams.delete(streamId)
      this.streams.set(streamId, balance)
    }
  }

  private async read(
    ranges: ReadonlyMap<string, { from: number; to: number }>,
  ): Promise<Map<string, { buckets: [number, number][]; lastEventAt: number }>> {
    const ids = [...ranges.keys()]
    const rows = await (
      await this.client.query({
        query: `
          SELECT stream_id, toUnixTimestamp(bucket) AS sec,
                 toInt64(sum(views)) - toInt64(sum(view_ends)) AS delta
          FROM stream_buckets_1s
          WHERE stream_id IN {ids:Array(String)}
            AND bucket >= toDateTime(intDiv(transform(stream_id, {ids:Array(String)}, {froms:Array(Int64)}, toInt64(0)), 1000), 'UTC')
            AND bucket < toDateTime(intDiv(transform(stream_id, {ids:Array(String)}, {tos:Array(Int64)}, toInt64(0)), 1000), 'UTC')
          GROUP BY stream_id, bucket
          HAVING sum(views) > 0 OR sum(view_ends) > 0
          ORDER BY stream_id, bucket`,
        query_params: {
          ids,
          froms: ids.map((id) => ranges.get(id)!.from),
          tos: ids.map((id) => Math.min(8_000_000_000_000, ranges.get(id)!.to)),
        },
        format: 'JSONCompactEachRow',
      })
    ).json<[string, number, number]>()
    const out = new Map<string, { buckets: [number, number][]; lastEventAt: number }>()
    for (const [id, sec, delta] of rows) {
      let entry = out.get(id)
      if (!entry) {
        entry = { buckets: [], lastEventAt: 0 }
        out.set(id, entry)
      }
      entry.buckets.push([sec, delta])
    }
    return out
  }
}
