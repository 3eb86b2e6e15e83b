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
  /** Orders credited to this source (last touch: see `readSourceCredit`), their buyers and GMV. */
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

export interface CreditRow {
  credited: 0 | 1
  src: string
  orders: number
  buyers: number
  gmv: string
}

/**
 * Which source each of a stream's orders came through, grouped: an order is credited to
 * the source of its buyer's latest `view_start` in the stream at or before the order's
 * `ts` (last touch), so a viewer who came from Search and later from For You buys through
 * For You from then on. Of two views at the same millisecond, the one received last
 * counts (then the greater event_id), whatever join algorithm the server picks. Orders
 * whose buyer had no such view (bought from the shop without watching, or before their
 * view began) come back as `credited = 0`, not guessed.
 *
 * Each order must meet its buyer's views, which no rollup keeps, so this reads the
 * stream's raw `order_paid` rows and its buyers' `view_start` rows: one key range of
 * `events` (measured: 0.15–0.3 s for a stream of 3 million events with 600 000 views and
 * 30 000 orders). Callers that poll should reuse the answer for a while (read.ts does).
 */
export async function readSourceCredit(client: ClickHouseClient, streamId: string): Promise<CreditRow[]> {
  return (
    await client.query({
      // ASOF LEFT JOIN: each order meets its buyer's latest view at or before it; an order
      // with none keeps the defaults (credited = 0, src = ''). Only buyers' views are joined.
      query: `
        SELECT v.credited AS credited, toString(v.source) AS src, count() AS orders,
               uniqExact(p.viewer_id) AS buyers, toString(sum(p.amount)) AS gmv
        FROM (
          SELECT viewer_id, ts, amount FROM events
          WHERE stream_id = {id:String} AND type = 'order_paid'
        ) AS p
        ASOF LEFT JOIN (
          SELECT viewer_id, ts, argMax(source, (received_at, event_id)) AS source, toUInt8(1) AS credited
          FROM events
          WHERE stream_id = {id:String} AND type = 'view_start'
            AND viewer_id IN (
              SELECT viewer_id FROM events WHERE stream_id = {id:String} AND type = 'order_paid'
            )
          GROUP BY viewer_id, ts
        ) AS v ON p.viewer_id = v.viewer_id AND p.ts >= v.ts
        GROUP BY credited, src`,
      query_params: { id: streamId },
      // Unmatched rows must keep the defaults above, not NULLs, whatever the server's profile says.
      // https://clickhouse.com/docs/operations/settings/settings#join_use_nulls
      clickhouse_settings: { join_use_nulls: 0 },
      format: 'JSONEachRow',
    })
  ).json<CreditRow>()
}

/**
 * Traffic-source mix of a stream's views (from the rollups), and the orders, buyers and GMV
 * credited to each source (see `readSourceCredit`; `credit` may serve a recent answer).
 */
export async function readSources(
  client: ClickHouseClient,
  streamId: string,
  credit: typeof readSourceCredit = readSourceCredit,
): Promise<SourceMix> {
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
    credit(client, streamId),
  ])
  const none = { orders: 0, buyers: 0, gmv: 0 }
  const total = (row: CreditRow | undefined) =>
    row ? { orders: Number(row.orders), buyers: Number(row.buyers), gmv: Number(row.gmv) } : none
  const credited = new Map(credits.filter((r) => r.credited === 1).map((r) => [r.src, r]))
  return {
    sources: views.map((row) => {
      const { orders, buyers, gmv } = total(credited.get(row.source))
      return { ...row, orders, buyers, gmv, conversion: ratio(buyers, row.viewers) }
    }),
    unattributed: total(credits.find((r) => r.credited === 0)),
  }
}

/** Per-bucket funnel of some products: what a pin of each did to its own sales. */
export interface ProductSeries {
  stream_id: string
  step_ms: number
  from: number
  to: number
  t: number[]
  products: {
    product_id: string
    impressions: number[]
    clicks: number[]
    carts: number[]
    orders: number[]
    items: number[]
    gmv: number[]
  }[]
}

/**
 * The given products' impressions, clicks, carts, orders, items and GMV per bucket of [from, to)
 * at a whole-second step, dense, aligned as `readSeries` aligns. The rollups keep products
 * for the whole stream only, so this reads the stream's raw events of those products: one
 * pass over the stream's key range of `events` for all of them (a replay asks it once for
 * every pinned product; one read per product would hold the engine, and the commits
 * queued behind it, ~50 ms each on a 3-million-event stream).
 */
export async function readProductSeries(
  client: ClickHouseClient,
  streamId: string,
  productIds: readonly string[],
  range: { stepMs: number; from: number; to: number },
): Promise<ProductSeries> {
  const { stepMs, from, to } = range
  const ids = [...new Set(productIds)]
  const rows =
    ids.length === 0
      ? []
      : await (
          await client.query({
            query: `
              SELECT product_id,
                     toUnixTimestamp(toStartOfInterval(toDateTime(ts, 'UTC'), toIntervalSecond({step:UInt32}))) * 1000 AS t,
                     countIf(type = 'product_impression') AS impressions,
                     countIf(type = 'product_click') AS clicks,
                     countIf(type = 'add_to_cart') AS carts,
                     countIf(type = 'order_paid') AS orders,
                     sumIf(toUInt64(quantity), type = 'order_paid') AS items,
                     toString(sumIf(amount, type = 'order_paid')) AS gmv
              FROM events
              WHERE stream_id = {id:String} AND product_id IN {products:Array(String)}
                AND type IN ('product_impression', 'product_click', 'add_to_cart', 'order_paid')
                AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
                AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
              GROUP BY product_id, t`,
            query_params: { id: streamId, products: ids, step: stepMs / 1000, from, to },
            clickhouse_settings: COLUMN_NAMES_FIRST,
            format: 'JSONEachRow',
          })
        ).json<{
          product_id: string
          t: number
          impressions: number
          clicks: number
          carts: number
          orders: number
          items: number
          gmv: string
        }>()
  const count = Math.max(0, Math.round((to - from) / stepMs))
  const zeros = () => new Array<number>(count).fill(0)
  const products = ids.map((product_id) => ({
    product_id,
    impressions: zeros(),
    clicks: zeros(),
    carts: zeros(),
    orders: zeros(),
    items: zeros(),
    gmv: zeros(),
  }))
  const byId = new Map(products.map((p) => [p.product_id, p]))
  for (const row of rows) {
    const product = byId.get(row.product_id)
    const i = Math.round((row.t - from) / stepMs)
    if (!product || i < 0 || i >= count) continue
    product.impressions[i] = row.impressions
    product.clicks[i] = row.clicks
    product.carts[i] = row.carts
    product.orders[i] = row.orders
    product.items[i] = row.items
    product.gmv[i] = Number(row.gmv)
  }
  return {
    stream_id: streamId,
    step_ms: stepMs,
    from,
    to,
    t: Array.from({ length: count }, (_, i) => from + i * stepMs),
    products,
  }
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
function quarantineFilter(streamId: string | undefined, sinceMs?: number) {
  const conditions: string[] = []
  if (streamId !== undefined) conditions.push('stream_id = {stream:String}')
  if (sinceMs !== undefined) conditions.push("received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')")
  return {
    where: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`,
    params: { stream: streamId ?? '', since: sinceMs ?? 0 },
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

/** Rows in the quarantine, of one stream or all, received since `sinceMs` or ever (30 days kept). */
export async function countQuarantine(
  client: ClickHouseClient,
  streamId?: string,
  sinceMs?: number,
): Promise<number> {
  const { where, params } = quarantineFilter(streamId, sinceMs)
  const rows = await (
    await client.query({
      query: `SELECT count() AS n FROM quarantine ${where}`,
      query_params: params,
      format: 'JSONEachRow',
    })
  ).json<{ n: number | string }>()
  return Number(rows[0]?.n ?? 0)
}
