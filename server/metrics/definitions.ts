/**
 * The metrics of SPEC §3, defined once. Rollup tables hold mergeable states; the SQL
 * below merges them over any set of buckets, and `finalizeMetrics` derives the ratios.
 */
export const METRICS = [
  'views',
  'viewers',
  'online',
  'peak_online',
  'impressions',
  'clicks',
  'ctr',
  'carts',
  'orders',
  'items',
  'buyers',
  'gmv',
  'refunds',
  'net_gmv',
  'conversion',
  'co_rate',
  'gpm',
  'comments',
  'likes',
  'shares',
  'follows',
] as const
export type MetricName = (typeof METRICS)[number]
export type Totals = Record<MetricName, number | null>

/** Merges rollup states of the selected rows. Money is summed as Decimal and sent as text. */
export const AGGREGATES_SQL = `
  sum(views) AS views,
  sum(view_ends) AS view_ends,
  uniqExactMerge(viewers) AS viewers,
  sum(impressions) AS impressions,
  sum(clicks) AS clicks,
  sum(carts) AS carts,
  sum(orders) AS orders,
  sum(items) AS items,
  uniqExactMerge(buyers) AS buyers,
  toString(sum(gmv)) AS gmv,
  toString(sum(refunds)) AS refunds,
  toString(sum(gmv) - sum(refunds)) AS net_gmv,
  sum(comments) AS comments,
  sum(likes) AS likes,
  sum(shares) AS shares,
  sum(follows) AS follows`

export interface AggregateRow {
  views: number
  view_ends: number
  viewers: number
  impressions: number
  clicks: number
  carts: number
  orders: number
  items: number
  buyers: number
  gmv: string
  refunds: string
  net_gmv: string
  comments: number
  likes: number
  shares: number
  follows: number
}

export const EMPTY_AGGREGATE: AggregateRow = {
  views: 0,
  view_ends: 0,
  viewers: 0,
  impressions: 0,
  clicks: 0,
  carts: 0,
  orders: 0,
  items: 0,
  buyers: 0,
  gmv: '0',
  refunds: '0',
  net_gmv: '0',
  comments: 0,
  likes: 0,
  shares: 0,
  follows: 0,
}

function ratio(numerator: number, denominator: number, digits = 6): number | null {
  if (denominator === 0) return null
  const scale = 10 ** digits
  return Math.round((numerator / denominator) * scale) / scale
}

/** `online` = max(0, view_start − view_end since stream start); its value at the end of the span. */
export function onlineFrom(balance: number): number {
  return Math.max(0, balance)
}

/**
 * Every metric from merged states. `balance` is view_start − view_end counted from the
 * stream's start to the end of the span; `peak` the highest online so far.
 */
export function finalizeMetrics(row: AggregateRow, balance: number, peak: number | null): Totals {
  const gmv = Number(row.gmv)
  return {
    views: row.views,
    viewers: row.viewers,
    online: onlineFrom(balance),
    peak_online: peak,
    impressions: row.impressions,
    clicks: row.clicks,
    ctr: ratio(row.clicks, row.impressions),
    carts: row.carts,
    orders: row.orders,
    items: row.items,
    buyers: row.buyers,
    gmv,
    refunds: Number(row.refunds),
    net_gmv: Number(row.net_gmv),
    conversion: ratio(row.buyers, row.viewers),
    co_rate: ratio(row.orders, row.clicks),
    // GMV per thousand views: a ratio, shown to the cent.
    gpm: row.views === 0 ? null : Math.round((gmv / row.views) * 1000 * 100) / 100,
    comments: row.comments,
    likes: row.likes,
    shares: row.shares,
    follows: row.follows,
  }
}

/** Products one product-series read (`/products/series`) may ask for. */
export const MAX_SERIES_PRODUCTS = 50

export const STEPS = { '1s': 1_000, '10s': 10_000, '1m': 60_000, '5m': 300_000 } as const
export type StepName = keyof typeof STEPS
