import type { ClickHouseClient } from '@clickhouse/client'
import {
  AGGREGATES_SQL,
  type AggregateRow,
  EMPTY_AGGREGATE,
  finalizeMetrics,
  METRICS,
  type MetricName,
} from './definitions.ts'
import { COLUMN_NAMES_FIRST, viewerLevelsSql } from './streams.ts'

export const MAX_BUCKETS = 20_000

/** Columnar series for charts: `t` holds each bucket's start; one array per metric. */
export interface Series {
  stream_id: string
  step_ms: number
  from: number
  to: number
  t: number[]
  [metric: string]: number[] | (number | null)[] | number | string
}

export interface SeriesRequest {
  stepMs: number
  /** inclusive, aligned down to the step */
  from: number
  /** exclusive, aligned up to the step */
  to: number
  metrics: readonly MetricName[]
}

export function alignDown(ms: number, stepMs: number): number {
  return Math.floor(ms / stepMs) * stepMs
}

export function alignUp(ms: number, stepMs: number): number {
  return Math.ceil(ms / stepMs) * stepMs
}

export interface BucketRow extends AggregateRow {
  t: number
}

/**
 * Reads the buckets of [from, to) at the step, dense (empty buckets are zeros).
 * Steps under a minute read the 1 s rollup, longer ones the 1 min rollup, so the rows
 * read grow with the span asked for, not with the stream's age.
 */
export async function readSeries(
  client: ClickHouseClient,
  streamId: string,
  request: SeriesRequest,
): Promise<Series> {
  const { stepMs, from, to } = request
  const table = stepMs < 60_000 ? 'stream_buckets_1s' : 'stream_buckets_1m'
  const [rows, balanceBefore, peaks] = await Promise.all([
    client
      .query({
        query: `
          SELECT toUnixTimestamp(toStartOfInterval(bucket, toIntervalSecond({step:UInt32}))) * 1000 AS t,
                 ${AGGREGATES_SQL}
          FROM ${table}
          WHERE stream_id = {id:String}
            AND bucket >= toDateTime(intDiv({from:Int64}, 1000), 'UTC')
            AND bucket < toDateTime(intDiv({to:Int64}, 1000), 'UTC')
          GROUP BY t
          ORDER BY t`,
        query_params: { id: streamId, step: stepMs / 1000, from, to },
        clickhouse_settings: COLUMN_NAMES_FIRST,
        format: 'JSONEachRow',
      })
      .then((r) => r.json<BucketRow>()),
    viewerBalanceBefore(client, streamId, from),
    request.metrics.includes('peak_online') ? peaksByBucket(client, streamId, request) : undefined,
  ])

  return buildDenseSeries(streamId, request, rows, balanceBefore, peaks?.before ?? 0, peaks?.within)
}

/**
 * The highest `online` at the end of any 1 s bucket before `from`, and within each bucket
 * of [from, to) at the step: a bucket's peak_online is the running maximum of those, so
 * it is the same whatever `from` and step a chart asks for, and the last bucket's equals
 * the stream's peak_online. Reads only the seconds where viewers came or went.
 */
async function peaksByBucket(
  client: ClickHouseClient,
  streamId: string,
  { stepMs, from, to }: SeriesRequest,
): Promise<{ before: number; within: Map<number, number> }> {
  const rows = await (
    await client.query({
      query: `
        SELECT if(bucket < toDateTime(intDiv({from:Int64}, 1000), 'UTC'), 0,
                  toUnixTimestamp(toStartOfInterval(bucket, toIntervalSecond({step:UInt32}))) * 1000) AS t,
               max(cum) AS peak
        FROM (${viewerLevelsSql("stream_id = {id:String} AND bucket < toDateTime(intDiv({to:Int64}, 1000), 'UTC')")})
        GROUP BY t`,
      query_params: { id: streamId, step: stepMs / 1000, from, to },
      format: 'JSONCompactEachRow',
    })
  ).json<[number, number]>()
  const within = new Map<number, number>()
  let before = 0
  for (const [t, peak] of rows) {
    if (t === 0) before = peak
    else within.set(t, peak)
  }
  return { before, within }
}

/** view_start − view_end of a stream before `ms`: whole minutes from the 1 min rollup, the rest from 1 s. */
async function viewerBalanceBefore(client: ClickHouseClient, streamId: string, ms: number): Promise<number> {
  const minute = alignDown(ms, 60_000)
  const rows = await (
    await client.query({
      query: `
        SELECT
          (SELECT toInt64(sum(views)) - toInt64(sum(view_ends)) FROM stream_buckets_1m
            WHERE stream_id = {id:String} AND bucket < toDateTime(intDiv({minute:Int64}, 1000), 'UTC'))
          +
          (SELECT toInt64(sum(views)) - toInt64(sum(view_ends)) FROM stream_buckets_1s
            WHERE stream_id = {id:String}
              AND bucket >= toDateTime(intDiv({minute:Int64}, 1000), 'UTC')
              AND bucket < toDateTime(intDiv({ms:Int64}, 1000), 'UTC')) AS balance`,
      query_params: { id: streamId, minute, ms },
      format: 'JSONEachRow',
    })
  ).json<{ balance: number }>()
  return rows[0]?.balance ?? 0
}

/** Parses `metrics=a,b`; unknown names are the client's mistake. */
export function parseMetricList(text: string | undefined): MetricName[] | { unknown: string[] } {
  if (!text) return [...METRICS]
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const known = new Set<string>(METRICS)
  const unknown = names.filter((n) => !known.has(n))
  if (unknown.length > 0) return { unknown }
  return [...new Set(names)] as MetricName[]
}

/**
 * Dense columns for [from, to) from merged bucket rows. `balanceBefore` is view_start −
 * view_end before `from`; `peakBefore` the highest online before `from`; `peaksWithin`
 * the highest online at any second within each bucket, where known (else its end's).
 */
export function buildDenseSeries(
  streamId: string,
  request: SeriesRequest,
  rows: readonly BucketRow[],
  balanceBefore: number,
  peakBefore: number,
  peaksWithin?: ReadonlyMap<number, number>,
): Series {
  const { stepMs, from, to } = request
  const count = Math.max(0, Math.round((to - from) / stepMs))
  const series: Series = { stream_id: streamId, step_ms: stepMs, from, to, t: new Array<number>(count) }
  const columns = request.metrics.map((name) => {
    const column = new Array<number | null>(count)
    series[name] = column
    return [name, column] as const
  })
  const byTime = new Map<number, BucketRow>()
  for (const row of rows) byTime.set(row.t, row)
  let balance = balanceBefore
  let peak = Math.max(0, peakBefore)
  for (let i = 0; i < count; i++) {
    const t = from + i * stepMs
    series.t[i] = t
    const row = byTime.get(t) ?? EMPTY_AGGREGATE
    balance += row.views - row.view_ends
    peak = Math.max(peak, balance, peaksWithin?.get(t) ?? 0)
    const metrics = finalizeMetrics(row, balance, peak)
    for (const [name, column] of columns) column[i] = metrics[name]
  }
  return series
}

/**
 * Bucket rows of several streams at one step, each over its own [from, to), in one
 * query (the live push reads every dirty stream of a round at once).
 */
export async function readBucketsMany(
  client: ClickHouseClient,
  stepMs: number,
  ranges: ReadonlyMap<string, { from: number; to: number }>,
): Promise<Map<string, BucketRow[]>> {
  if (ranges.size === 0) return new Map()
  const table = stepMs < 60_000 ? 'stream_buckets_1s' : 'stream_buckets_1m'
  const rows = await (
    await client.query({
      query: `
        SELECT stream_id,
               toUnixTimestamp(toStartOfInterval(bucket, toIntervalSecond({step:UInt32}))) * 1000 AS t,
               ${AGGREGATES_SQL}
        FROM ${table}
        WHERE ${STREAM_RANGES_SQL}
        GROUP BY stream_id, t
        ORDER BY stream_id, t`,
      query_params: { ...streamRangeParams(ranges), step: stepMs / 1000 },
      clickhouse_settings: COLUMN_NAMES_FIRST,
      format: 'JSONEachRow',
    })
  ).json<BucketRow & { stream_id: string }>()
  return groupByStream(rows)
}

/**
 * Buckets of several streams, each within its own [from, to) (ms). Takes the parameters
 * of `streamRangeParams`.
 */
export const STREAM_RANGES_SQL = `stream_id IN {ids:Array(String)}
  AND bucket >= toDateTime(intDiv(transform(stream_id, {ids:Array(String)}, {froms:Array(Int64)}, toInt64(0)), 1000), 'UTC')
  AND bucket < toDateTime(intDiv(transform(stream_id, {ids:Array(String)}, {tos:Array(Int64)}, toInt64(0)), 1000), 'UTC')`

export function streamRangeParams(ranges: ReadonlyMap<string, { from: number; to: number }>) {
  const ids = [...ranges.keys()]
  return { ids, froms: ids.map((id) => ranges.get(id)!.from), tos: ids.map((id) => ranges.get(id)!.to) }
}

/** Rows ordered by stream, as lists per stream. */
export function groupByStream<T extends { stream_id: string }>(rows: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const row of rows) {
    const list = out.get(row.stream_id)
    if (list) list.push(row)
    else out.set(row.stream_id, [row])
  }
  return out
}
