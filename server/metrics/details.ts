import type { ClickHouseClient } from '@clickhouse/client'
import { COLUMN_NAMES_FIRST } from './streams.ts'

export interface ProductRow {
  product_id: string
  impressions: number
  clicks: number
  carts: number
  orders: number
  items: number
  gmv: number
  ctr: number | null
  co_rate: number | null
}

function ratio(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : Math.round((numerator / denominator) * 1e6) / 1e6
}

/** Per product of a stream, ranked by GMV (then clicks). */
export async function readProducts(
  client: ClickHouseClient,
  streamId: string,
  limit = 200,
): Promise<ProductRow[]> {
  const rows = await (
    await client.query({
      query: `
        SELECT product_id, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(carts) AS carts,
               sum(orders) AS orders, sum(items) AS items, toString(sum(gmv)) AS gmv
        FROM stream_products WHERE stream_id = {id:String}
        GROUP BY product_id
        ORDER BY sum(gmv) DESC, sum(clicks) DESC, product_id
        LIMIT {limit:UInt32}`,
      query_params: { id: streamId, limit },
      clickhouse_settings: COLUMN_NAMES_FIRST,
      format: 'JSONEachRow',
    })
  ).json<Omit<ProductRow, 'gmv' | 'ctr' | 'co_rate'> & { gmv: string }>()
  return rows.map((r) => ({
    ...r,
    gmv: Number(r.gmv),
    ctr: ratio(r.clicks, r.impressions),
    co_rate: ratio(r.orders, r.clicks),
  }))
}

export interface SourceRow {
  source: string
  views: number
  viewers: number
  /** Orders credited to this source (last touch: see `readSources`), their buyers and GMV. */
  orders: number
  buyers: number
  gmv: number
  /** buyers / viewers of this source. */
  conversion: number | null
}

export interface SourceMix {
  sources: SourceRow[]
  /** Orders whose buyer had no view_start in the stream at or before the order. */
  unattributed: { orders: number; buyers: number; gmv: number }
}

interface CreditRow {
  credited: 0 | 1
  src: string
  orders: number
  buyers: number
  gmv: string
}

/**
 * Traffic-source mix of a stream's views, and which source its orders came through.
 *
 * An order is credited to the source of its buyer's latest `view_start` in the stream at
 * or before the order's `ts` (last touch), so a viewer who came from Search and later
 * from For You buys through For You from then on. Orders whose buyer had no such
 * `view_start` (bought from the shop without watching, or before their view began) are
 * counted apart as unattributed, not guessed.
 *
 * Views and viewers come from the rollups. The credit needs each order beside its
 * buyer's views, which no rollup keeps, so it reads the stream's raw `order_paid` and the
 * buyers' `view_start` rows: one key range of `events` (measured: ~0.2–0.3 s for a
 * stream of 3 million events with 600 000 views and 30 000 orders).
 */
export async function readSources(client: ClickHouseClient, streamId: string): Promise<SourceMix> {
  const [views, credits] = await Promise.all([
    client
      .query({
        query: `
          SELECT source, sum(views) AS views, uniqExactMerge(viewers) AS viewers
          FROM stream_sources WHERE stream_id = {id:String}
          GROUP BY source ORDER BY sum(views) DESC, source`,
        query_params: { id: streamId },
        clickhouse_settings: COLUMN_NAMES_FIRST,
        format: 'JSONEachRow',
      })
      .then((result) => result.json<{ source: string; views: number; viewers: number }>()),
    client
      .query({
        // ASOF LEFT JOIN: each order meets its buyer's latest view at or before it; an order
        // with none keeps the defaults (credited = 0). Only buyers' views are joined.
        query: `
          SELECT v.credited AS credited, toString(v.source) AS src, count() AS orders,
                 uniqExact(p.viewer_id) AS buyers, toString(sum(p.amount)) AS gmv
          FROM (
            SELECT viewer_id, ts, amount FROM events
            WHERE stream_id = {id:String} AND type = 'order_paid'
          ) AS p
          ASOF LEFT JOIN (
            SELECT viewer_id, ts, source, toUInt8(1) AS credited FROM events
            WHERE stream_id = {id:String} AND type = 'view_start'
              AND viewer_id IN (
                SELECT viewer_id FROM events WHERE stream_id = {id:String} AND type = 'order_paid'
              )
          ) AS v ON p.viewer_id = v.viewer_id AND p.ts >= v.ts
          GROUP BY credited, src`,
        query_params: { id: streamId },
        format: 'JSONEachRow',
      })
      .then((result) => result.json<CreditRow>()),
  ])
  const none = { orders: 0, buyers: 0, gmv: 0 }
  const credit = (row: CreditRow | undefined) =>
    row ? { orders: Number(row.orders), buyers: Number(row.buyers), gmv: Number(row.gmv) } : none
  const credited = new Map(credits.filter((r) => r.credited === 1).map((r) => [r.src, r]))
  return {
    sources: views.map((row) => {
      const { orders, buyers, gmv } = credit(credited.get(row.source))
      return { ...row, orders, buyers, gmv, conversion: ratio(buyers, row.viewers) }
    }),
    unattributed: credit(credits.find((r) => r.credited === 0)),
  }
}

/** Per-bucket funnel of one product: what a pin of it did to its own sales. */
export interface ProductSeries {
  stream_id: string
  product_id: string
  step_ms: number
  from: number
  to: number
  t: number[]
  impressions: number[]
  clicks: number[]
  carts: number[]
  orders: number[]
  gmv: number[]
}

/**
 * One product's impressions, clicks, carts, orders and GMV per bucket of [from, to) at a
 * whole-second step, dense, aligned as `readSeries` aligns. The rollups keep products for
 * the whole stream only, so this reads the stream's raw events of that product: one key
 * range of `events`, filtered (a replay asks it for each pinned product).
 */
export async function readProductSeries(
  client: ClickHouseClient,
  streamId: string,
  productId: string,
  range: { stepMs: number; from: number; to: number },
): Promise<ProductSeries> {
  const { stepMs, from, to } = range
  const rows = await (
    await client.query({
      query: `
        SELECT toUnixTimestamp(toStartOfInterval(toDateTime(ts, 'UTC'), toIntervalSecond({step:UInt32}))) * 1000 AS t,
               countIf(type = 'product_impression') AS impressions,
               countIf(type = 'product_click') AS clicks,
               countIf(type = 'add_to_cart') AS carts,
               countIf(type = 'order_paid') AS orders,
               toString(sumIf(amount, type = 'order_paid')) AS gmv
        FROM events
        WHERE stream_id = {id:String} AND product_id = {product:String}
          AND type IN ('product_impression', 'product_click', 'add_to_cart', 'order_paid')
          AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
          AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
        GROUP BY t`,
      query_params: { id: streamId, product: productId, step: stepMs / 1000, from, to },
      clickhouse_settings: COLUMN_NAMES_FIRST,
      format: 'JSONEachRow',
    })
  ).json<{ t: number; impressions: number; clicks: number; carts: number; orders: number; gmv: string }>()
  const count = Math.max(0, Math.round((to - from) / stepMs))
  const zeros = () => new Array<number>(count).fill(0)
  const series: ProductSeries = {
    stream_id: streamId,
    product_id: productId,
    step_ms: stepMs,
    from,
    to,
    t: Array.from({ length: count }, (_, i) => from + i * stepMs),
    impressions: zeros(),
    clicks: zeros(),
    carts: zeros(),
    orders: zeros(),
    gmv: zeros(),
  }
  for (const row of rows) {
    const i = Math.round((row.t - from) / stepMs)
    if (i < 0 || i >= count) continue
    series.impressions[i] = row.impressions
    series.clicks[i] = row.clicks
    series.carts[i] = row.carts
    series.orders[i] = row.orders
    series.gmv[i] = Number(row.gmv)
  }
  return series
}

export interface MarkerRow {
  ts: number
  type: 'product_pin' | 'marker'
  product_id: string
  label: string
}

/** product_pin and marker events of a stream, in time order. */
export async function readMarkers(
  client: ClickHouseClient,
  streamId: string,
  limit = 2000,
): Promise<MarkerRow[]> {
  return (
    await client.query({
      query: `
        SELECT toUnixTimestamp64Milli(ts) AS ts, type, product_id, label
        FROM stream_markers WHERE stream_id = {id:String}
        ORDER BY ts, event_id LIMIT {limit:UInt32}`,
      query_params: { id: streamId, limit },
      format: 'JSONEachRow',
    })
  ).json<MarkerRow>()
}

export interface QuarantineItem {
  received_at: number
  reason: string
  index: number
  event_id: string
  stream_id: string
  raw: string
}

/** The rows of one stream (a rejected event's stream_id as it could be read), or all. */
function quarantineFilter(streamId: string | undefined) {
  return {
    where: streamId === undefined ? '' : 'WHERE stream_id = {stream:String}',
    params: { stream: streamId ?? '' },
  }
}

/**
 * The quarantine, newest first: `limit` rows after skipping `offset`, of one stream or of
 * all; `total` counts the same selection (so a client knows how far to page).
 */
export async function readQuarantine(
  client: ClickHouseClient,
  page: { limit: number; offset: number; streamId?: string },
): Promise<{ total: number; items: QuarantineItem[] }> {
  const { where, params } = quarantineFilter(page.streamId)
  const [items, total] = await Promise.all([
    client
      .query({
        query: `
          SELECT toUnixTimestamp64Milli(received_at) AS received_at, reason, idx AS index, event_id, stream_id, raw
          FROM quarantine ${where}
          ORDER BY received_at DESC, idx LIMIT {limit:UInt32} OFFSET {offset:UInt32}`,
        query_params: { ...params, limit: page.limit, offset: page.offset },
        format: 'JSONEachRow',
      })
      .then((r) => r.json<QuarantineItem>()),
    countQuarantine(client, page.streamId),
  ])
  return { total, items }
}

/** Rows in the quarantine, of one stream or of all. */
export async function countQuarantine(client: ClickHouseClient, streamId?: string): Promise<number> {
  const { where, params } = quarantineFilter(streamId)
  const rows = await (
    await client.query({
      query: `SELECT count() AS n FROM quarantine ${where}`,
      query_params: params,
      format: 'JSONEachRow',
    })
  ).json<{ n: number | string }>()
  return Number(rows[0]?.n ?? 0)
}
