import type { ClickHouseClient } from '@clickhouse/client'
import type { Reader } from '../auth/tokens.ts'
import { countQuarantine } from '../metrics/details.ts'
import { listStreams, type Stream } from '../metrics/streams.ts'
import type { ViewBalances } from './view-balance.ts'

export const SPARK_STEP_MS = 60_000
export const SPARK_POINTS = 30
/** Tiles of one wall view: its top streams by GMV. */
export const WALL_MAX_STREAMS = 200
/**
 * Live streams read for all views at once, before each view is cut from them: a vertical's or
 * a creator's wall must not lose its streams to the 200 biggest of the whole platform.
 */
export const WALL_READ_MAX_STREAMS = 5000

export interface WallStream extends Stream {
  spark: { step_ms: number; t: number[]; gmv: number[]; conversion: (number | null)[] }
}

export interface WallSummary {
  gmv_today: number
  orders_today: number
  live_streams: number
  online: number
  quarantined: number
}

export interface WallMessage {
  streams: WallStream[]
  summary: WallSummary
}

export interface WallRead {
  /** every live stream, biggest GMV first */
  streams: Stream[]
  /** the sparklines of the streams some view of the read shows as tiles */
  sparks: Map<string, WallStream['spark']>
  /** the sparklines' bucket starts */
  sparkT: number[]
  today: { gmvCents: number; orders: number; creatorId: string; vertical: string }[]
  quarantined: number
}

/** Which wall a socket watches: a vertical ('' = all) seen by ops or by one creator. */
export interface WallView {
  vertical: string
  creatorId: string | null
}

/**
 * The room of a wall view, and back. JSON, not a separator: creator ids and verticals are
 * the producers' text, and a creator "*" or "bob:Home" must not read as another view.
 */
export function wallRoom(view: WallView): string {
  return `wall:${JSON.stringify([view.creatorId, view.vertical])}`
}

export function wallViewOf(room: string): WallView {
  const [creatorId, vertical] = JSON.parse(room.slice('wall:'.length)) as [string | null, string]
  return { creatorId, vertical }
}

export function readerWallView(reader: Reader, vertical: string | undefined): WallView {
  return { vertical: vertical ?? '', creatorId: reader.role === 'creator' ? reader.creator_id : null }
}

/** A view's streams, of every live stream read (biggest GMV first). */
/** Whether a stream of this vertical and creator is on a view's wall. */
function inView(view: WallView, vertical: string, creatorId: string): boolean {
  return (
    (view.vertical === '' || vertical === view.vertical) &&
    (view.creatorId === null || creatorId === view.creatorId)
  )
}

function viewStreams<T extends Stream>(streams: readonly T[], view: WallView): T[] {
  return streams.filter((s) => inView(view, s.vertical, s.creator_id))
}

/**
 * The wall: every live stream's totals, 30 minutes of per-minute GMV and conversion for the
 * tiles of `views`, and the header figures. Read in four queries, then cut per view.
 */
export async function readWall(
  client: ClickHouseClient,
  balances: ViewBalances,
  now: number,
  views: readonly WallView[],
): Promise<WallRead> {
  const live = await listStreams(client, {
    status: 'live',
    limit: WALL_READ_MAX_STREAMS,
    now,
    // The wall does not show peak_online; it is given where the live cache knows it
    // (watched streams) and null otherwise, rather than scanning every stream's history.
    peaks: async (ids) => new Map(ids.map((id) => [id, balances.has(id) ? balances.peak(id) : null])),
  })
  // Sparklines only for tiles: of thousands of live streams, a view shows its top 200.
  const shown = new Set<string>()
  for (const view of views)
    for (const s of viewStreams(live, view).slice(0, WALL_MAX_STREAMS)) shown.add(s.stream_id)
  const ids = [...shown]
  const sparkFrom = Math.floor(now / SPARK_STEP_MS) * SPARK_STEP_MS - (SPARK_POINTS - 1) * SPARK_STEP_MS
  const dayStart = Math.floor(now / 86_400_000) * 86_400_000
  const [sparkRows, todayRows, quarantined] = await Promise.all([
    client
      .query({
        query: `
          SELECT stream_id, toUnixTimestamp(bucket) * 1000 AS t, toString(sum(gmv)) AS gmv,
                 uniqExactMerge(buyers) AS buyers, uniqExactMerge(viewers) AS viewers
          FROM stream_buckets_1m
          WHERE stream_id IN {ids:Array(String)} AND bucket >= toDateTime(intDiv({from:Int64}, 1000), 'UTC')
          GROUP BY stream_id, bucket`,
        query_params: { ids, from: sparkFrom },
        clickhouse_settings: { prefer_column_name_to_alias: 1 },
        format: 'JSONCompactEachRow',
      })
      .then((r) => r.json<[string, number, string, number, number]>()),
    client
      .query({
        query: `
          SELECT day.stream_id, day.gmv, day.orders, meta.creator_id, meta.vertical
          FROM (
            SELECT stream_id, toString(sum(gmv)) AS gmv, sum(orders) AS orders
            FROM stream_buckets_1m
            WHERE bucket >= toDateTime(intDiv({day:Int64}, 1000), 'UTC')
            GROUP BY stream_id
          ) AS day
          LEFT JOIN (
            SELECT stream_id, tupleElement(argMinMerge(meta), 1) AS creator_id,
                   tupleElement(argMinMerge(meta), 3) AS vertical
            FROM stream_totals GROUP BY stream_id
          ) AS meta USING (stream_id)`,
        query_params: { day: dayStart },
        clickhouse_settings: { prefer_column_name_to_alias: 1 },
        format: 'JSONCompactEachRow',
      })
      .then((r) => r.json<[string, string, number, string, string]>()),
    // Today's, as the wall's other totals: a count that only grows says nothing about now.
    countQuarantine(client, undefined, dayStart),
  ])
  const sparkByStream = new Map<string, Map<number, [number, number, number]>>()
  for (const [id, t, gmv, buyers, viewers] of sparkRows) {
    let points = sparkByStream.get(id)
    if (!points) {
      points = new Map()
      sparkByStream.set(id, points)
    }
    points.set(t, [Number(gmv), buyers, viewers])
  }
  const t = Array.from({ length: SPARK_POINTS }, (_, i) => sparkFrom + i * SPARK_STEP_MS)
  const sparks = new Map<string, WallStream['spark']>()
  for (const id of ids) {
    const points = sparkByStream.get(id)
    sparks.set(id, {
      step_ms: SPARK_STEP_MS,
      t,
      gmv: t.map((time) => points?.get(time)?.[0] ?? 0),
      conversion: t.map((time) => {
        const p = points?.get(time)
        return p && p[2] > 0 ? Math.round((p[1] / p[2]) * 1e6) / 1e6 : null
      }),
    })
  }
  const today = todayRows.map(([, gmv, orders, creatorId, vertical]) => ({
    gmvCents: Math.round(Number(gmv) * 100),
    orders,
    creatorId,
    vertical: vertical || 'Other',
  }))
  return { streams: live, sparks, sparkT: t, today, quarantined }
}

/** (a view the read was not asked for: its sparklines flat until the next read) */
function emptySpark(read: WallRead): WallStream['spark'] {
  const t = read.sparkT
  return { step_ms: SPARK_STEP_MS, t, gmv: t.map(() => 0), conversion: t.map(() => null) }
}

/** One view's wall message from the shared read. Money sums are kept in whole cents. */
export function cutWall(read: WallRead, view: WallView): WallMessage {
  // (the read is sorted by GMV: a view's tiles are its top streams; its header counts them all)
  const all = viewStreams(read.streams, view)
  const streams = all
    .slice(0, WALL_MAX_STREAMS)
    .map(
      (stream): WallStream => ({ ...stream, spark: read.sparks.get(stream.stream_id) ?? emptySpark(read) }),
    )
  let gmvCents = 0
  let orders = 0
  for (const day of read.today) {
    if (!inView(view, day.vertical, day.creatorId)) continue
    gmvCents += day.gmvCents
    orders += day.orders
  }
  return {
    streams,
    summary: {
      gmv_today: gmvCents / 100,
      orders_today: orders,
      live_streams: all.length,
      online: all.reduce((sum, s) => sum + (s.totals.online ?? 0), 0),
      quarantined: view.creatorId === null ? read.quarantined : 0,
    },
  }
}
