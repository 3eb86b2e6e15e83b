import type { ClickHouseClient } from '@clickhouse/client'
import { buildDenseSeries, readBucketsMany, type Series } from '../metrics/series.ts'
import { getStream, type Stream } from '../metrics/streams.ts'
import { LIVE_METRICS, liveRange, type TickEngine } from './ticks.ts'
import type { ViewBalances } from './view-balance.ts'

export interface Snapshot {
  /** undefined: no such stream. Visibility to the reader is checked by the caller. */
  stream: Stream | undefined
  series: Series | undefined
}

export interface SnapshotOptions {
  client: ClickHouseClient
  balances: ViewBalances
  ticks: TickEngine
  now: () => number
}

/**
 * Snapshots for subscribers, shared by those who ask for the same stream, step and
 * `since` at about the same time: a wall of screens reconnecting after a restart is a
 * thousand subscribes at once, and a chDB session runs one statement at a time (a snapshot's reads
 * of the rollup take ~7–30 ms).
 * A batch is read only after every subscriber in it has joined the tick room (so no
 * commit falls between its snapshot and its first tick), and a key's next batch waits
 * for the one being read, gathering whoever arrives meanwhile.
 */
export class SnapshotBatcher {
  private readonly open = new Map<string, Promise<Snapshot>>()
  private readonly reading = new Map<string, Promise<unknown>>()

  constructor(private readonly options: SnapshotOptions) {}

  /** Call after the subscriber has joined the stream's tick room. */
  get(streamId: string, stepMs: number, since: number | undefined): Promise<Snapshot> {
    const key = `${stepMs}:${since ?? ''}:${streamId}`
    const existing = this.open.get(key)
    if (existing) return existing
    const before = this.reading.get(key) ?? Promise.resolve()
    const batch = before
      .catch(() => {})
      .then(() => new Promise((resolve) => setImmediate(resolve)))
      .then(() => {
        // From here on, later subscribers form the next batch.
        this.open.delete(key)
        const read = this.read(streamId, stepMs, since)
        this.reading.set(key, read)
        const done = () => {
          if (this.reading.get(key) === read) this.reading.delete(key)
        }
        read.then(done, done)
        return read
      })
    this.open.set(key, batch)
    return batch
  }

  private async read(streamId: string, stepMs: number, since: number | undefined): Promise<Snapshot> {
    const { client, balances, ticks } = this.options
    const now = this.options.now()
    // A cached balance lags the commits since the last round (the next round catches up):
    // read that range now, or the snapshot's online and peak_online would be behind its totals.
    // (One loaded now is read whole, those commits included.)
    const unsettled = balances.has(streamId) ? ticks.unsettled(streamId) : undefined
    await balances.ensure([streamId])
    if (unsettled) await balances.refresh(new Map([[streamId, unsettled]]))
    // peak_online comes from the live viewer-balance cache, not a scan of the history.
    const stream = await getStream(client, streamId, now, { withPeak: false })
    if (!stream) {
      // (a made-up id keeps no empty balance: 2 000 of them pushed real streams' out)
      if (!ticks.unsettled(streamId)) balances.forget(streamId)
      return { stream: undefined, series: undefined }
    }
    balances.noteEvent(streamId, stream.last_event_at)
    stream.totals.peak_online = balances.peak(streamId)
    const last = Math.max(stream.last_event_at, balances.lastEventAt(streamId))
    // (a since before the stream began, epoch seconds taken for ms among them, starts at its start)
    const range = liveRange(Math.max(since ?? stream.started_at, stream.started_at), last, stepMs)
    const rows = await readBucketsMany(client, stepMs, new Map([[streamId, range]]))
    const series = buildDenseSeries(
      streamId,
      { stepMs, from: range.from, to: range.to, metrics: LIVE_METRICS },
      rows.get(streamId) ?? [],
      balances.balanceBefore(streamId, range.from),
      0,
    )
    ticks.noteSnapshot(streamId, stepMs, range.to - stepMs)
    return { stream, series }
  }
}
