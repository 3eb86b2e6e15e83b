import type { ClickHouseClient } from '@clickhouse/client'
import { AGGREGATES_SQL, type AggregateRow, finalizeMetrics, type Totals } from './definitions.ts'
import { type BucketRow, groupByStream, STREAM_RANGES_SQL, streamRangeParams } from './series.ts'

/** SPEC §3: live until stream_end, or until its newest event is more than 5 minutes old. */
export const LIVE_TIMEOUT_MS = 5 * 60 * 1000

export interface StreamMeta {
  stream_id: string
  creator_id: string
  title: string
  vertical: string
  campaign_id: string
  status: 'live' | 'ended'
  started_at: number
  last_event_at: number
  ended_at: number | null
}

export interface Stream extends StreamMeta {
  totals: Totals
}

export interface StreamFilter {
  status: 'live' | 'ended' | 'all'
  vertical?: string
  creatorId?: string
  streamIds?: string[]
  limit: number
  now: number
  /** Where peak_online comes from; default: computed from the 1 s rollup. */
  peaks?: (streamIds: string[]) => Promise<Map<string, number | null>>
}

interface TotalsRow extends AggregateRow {
  stream_id: string
  started_at: number
  last_event_at: number
  ended_ms: number
  stream_meta: [string, string, string, string]
}

// Rollup columns and output aliases share names; make names in expressions mean the column.
// https://clickhouse.com/docs/operations/settings/settings#prefer_column_name_to_alias
export const COLUMN_NAMES_FIRST = { prefer_column_name_to_alias: 1 } as const

/** A stream's metadata, status inputs and merged totals, over its totals rows. */
const STREAM_TOTALS_SQL = `
  toUnixTimestamp64Milli(min(first_ts)) AS started_at,
  toUnixTimestamp64Milli(max(last_ts)) AS last_event_at,
  toUnixTimestamp64Milli(max(ended_at)) AS ended_ms,
  argMinMerge(meta) AS stream_meta,
  ${AGGREGATES_SQL}`

export function statusOf(lastEventAt: number, endedMs: number, now: number): 'live' | 'ended' {
  // Ended when the newest event is *more than* the timeout old (SPEC §3).
  return endedMs === 0 && lastEventAt >= now - LIVE_TIMEOUT_MS ? 'live' : 'ended'
}

/** Streams with metadata and totals, filtered as asked, biggest GMV first. */
export async function listStreams(client: ClickHouseClient, filter: StreamFilter): Promise<Stream[]> {
  const rows = await (
    await client.query({
      query: `
        SELECT
          stream_id,
          ${STREAM_TOTALS_SQL}
        FROM stream_totals
        WHERE {all_ids:UInt8} = 1 OR stream_id IN {ids:Array(String)}
        GROUP BY stream_id
        HAVING ({vertical:String} = '' OR if(tupleElement(stream_meta, 3) = '', 'Other', tupleElement(stream_meta, 3)) = {vertical:String})
          AND ({creator:String} = '' OR tupleElement(stream_meta, 1) = {creator:String})
          AND ({status:String} = 'all'
               OR ({status:String} = 'live') = (ended_ms = 0 AND last_event_at >= {now:Int64} - ${LIVE_TIMEOUT_MS}))
        ORDER BY sum(gmv) DESC, stream_id
        LIMIT {limit:UInt32}`,
      query_params: {
        all_ids: filter.streamIds === undefined ? 1 : 0,
        ids: filter.streamIds ?? [],
        vertical: filter.vertical ?? '',
        creator: filter.creatorId ?? '',
        status: filter.status,
        now: filter.now,
        limit: filter.limit,
      },
      clickhouse_settings: COLUMN_NAMES_FIRST,
      format: 'JSONEachRow',
    })
  ).json<TotalsRow>()
  const ids = rows.map((r) => r.stream_id)
  const peaks = await (filter.peaks ? filter.peaks(ids) : peakOnline(client, ids))
  return rows.map((row) => ({
    ...metaOf(row, filter.now),
    totals: finalizeMetrics(row, row.views - row.view_ends, peaks.get(row.stream_id) ?? null),
  }))
}

/**
 * One live-push round in one statement: the totals and metadata of `ids`, and their
 * buckets at `stepMs` over each stream's own [from, to) of `ranges`. chDB runs one
 * statement at a time and even a small read of the rollup costs ~7–12 ms (measured with
 * 50 streams), so a round is one query.
 * peak_online is null here; the live push fills it from its viewer-balance cache.
 */
export async function readRound(
  client: ClickHouseClient,
  ids: readonly string[],
  stepMs: number,
  ranges: ReadonlyMap<string, { from: number; to: number }>,
  now: number,
): Promise<{ streams: Stream[]; buckets: Map<string, BucketRow[]> }> {
  const rows = await (
    await client.query({
      query: `
        SELECT
          grain,
          stream_id,
          if(grain = 3, 0, toUnixTimestamp(toStartOfInterval(bucket, toIntervalSecond({step:UInt32}))) * 1000) AS t,
          ${STREAM_TOTALS_SQL}
        FROM rollups
        WHERE (grain = 3 AND stream_id IN {totals_ids:Array(String)})
           OR (grain = {bucket_grain:UInt8} AND ${STREAM_RANGES_SQL})
        GROUP BY grain, stream_id, t
        ORDER BY grain, stream_id, t`,
      query_params: {
        ...streamRangeParams(ranges),
        totals_ids: ids,
        step: stepMs / 1000,
        bucket_grain: stepMs < 60_000 ? 1 : 2,
      },
      clickhouse_settings: COLUMN_NAMES_FIRST,
      format: 'JSONEachRow',
    })
  ).json<TotalsRow & { grain: number; t: number }>()
  const streams = rows
    .filter((row) => row.grain === 3)
    .map((row) => ({ ...metaOf(row, now), totals: finalizeMetrics(row, row.views - row.view_ends, null) }))
  return { streams, buckets: groupByStream(rows.filter((row) => row.grain !== 3)) }
}

/** One stream; `withPeak: false` skips the peak_online scan (null) when only metadata is needed. */
export async function getStream(
  client: ClickHouseClient,
  streamId: string,
  now: number,
  { withPeak = true } = {},
): Promise<Stream | undefined> {
  const peaks = withPeak ? undefined : async () => new Map<string, number | null>()
  const [stream] = await listStreams(client, { status: 'all', streamIds: [streamId], limit: 1, now, peaks })
  return stream
}

function metaOf(row: TotalsRow, now: number): StreamMeta {
  const [creator_id, title, vertical, campaign_id] = row.stream_meta
  return {
    stream_id: row.stream_id,
    creator_id,
    title,
    vertical: vertical || 'Other',
    campaign_id,
    status: statusOf(row.last_event_at, row.ended_ms, now),
    started_at: row.started_at,
    last_event_at: row.last_event_at,
    ended_at: row.ended_ms === 0 ? null : row.ended_ms,
  }
}

/**
 * Each second where viewers came or went, per stream, with `cum`: view_start − view_end
 * from the stream's start to that second's end (`online` there, before the floor at 0).
 * `where` narrows `stream_buckets_1s`: SQL with parameters, never values.
 */
export function viewerLevelsSql(where: string): string {
  return `
    SELECT stream_id, bucket,
           sum(delta) OVER (PARTITION BY stream_id ORDER BY bucket ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
    FROM (
      SELECT stream_id, bucket, toInt64(sum(views)) - toInt64(sum(view_ends)) AS delta
      FROM stream_buckets_1s
      WHERE ${where}
      GROUP BY stream_id, bucket
      HAVING sum(views) > 0 OR sum(view_ends) > 0
    )`
}

/** Highest `online` at the end of any 1 s bucket, per stream. */
export async function peakOnline(
  client: ClickHouseClient,
  streamIds: string[],
): Promise<Map<string, number>> {
  const peaks = new Map<string, number>()
  if (streamIds.length === 0) return peaks
  const rows = await (
    await client.query({
      query: `
        SELECT stream_id, max(cum) AS peak
        FROM (${viewerLevelsSql('stream_id IN {ids:Array(String)}')})
        GROUP BY stream_id`,
      query_params: { ids: streamIds },
      format: 'JSONEachRow',
    })
  ).json<{ stream_id: string; peak: number }>()
  for (const row of rows) peaks.set(row.stream_id, Math.max(0, row.peak))
  return peaks
}

/** The creator named by the stream's stream_start ('' if none yet); undefined if no such stream. */
export async function streamCreator(client: ClickHouseClient, streamId: string): Promise<string | undefined> {
  const rows = await (
    await client.query({
      query: `SELECT tupleElement(argMinMerge(meta), 1) AS creator_id FROM stream_totals
              WHERE stream_id = {id:String} GROUP BY stream_id`,
      query_params: { id: streamId },
      format: 'JSONEachRow',
    })
  ).json<{ creator_id: string }>()
  return rows[0]?.creator_id
}
