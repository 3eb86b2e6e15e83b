// Wire shapes of docs/API.md. The server owns the TypeBox schemas; the browser bundle must not
// pull TypeBox in, so the shapes the dashboard reads are restated here (keep in step with API.md).

export type Step = '1s' | '10s' | '1m' | '5m'

export const STEP_MS: Record<Step, number> = { '1s': 1_000, '10s': 10_000, '1m': 60_000, '5m': 300_000 }

export interface Totals {
  views: number
  viewers: number
  online: number
  peak_online: number
  impressions: number
  clicks: number
  ctr: number | null
  carts: number
  orders: number
  items: number
  buyers: number
  gmv: number
  refunds: number
  net_gmv: number
  conversion: number | null
  co_rate: number | null
  gpm: number | null
  comments: number
  likes: number
  shares: number
  follows: number
}

export type Metric = keyof Totals

// The metric list of SPEC §3 and the product-series cap are defined once, on the server (the
// module has no imports).
export { MAX_SERIES_PRODUCTS, METRICS } from '../../../server/metrics/definitions.ts'

export type StreamStatus = 'live' | 'ended'

export interface Stream {
  stream_id: string
  creator_id: string
  title: string
  vertical: string
  campaign_id: string
  status: StreamStatus
  started_at: number
  last_event_at: number
  ended_at: number | null
  totals: Totals
}

/** Columnar series as sent by GET /series, the subscribe snapshot and ticks. */
export interface SeriesWire {
  stream_id?: string
  step_ms: number
  from?: number
  to?: number
  t: number[]
  [metric: string]: unknown
}

export interface Snapshot {
  stream: Stream
  totals: Totals
  series: SeriesWire
  watermark: number
}

export interface Tick {
  stream_id: string
  step_ms: number
  series: SeriesWire
  totals: Totals
  watermark: number
}

export interface Spark {
  step_ms: number
  t: number[]
  gmv: number[]
  conversion: (number | null)[]
}

export type WallStream = Stream & { spark: Spark }

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

export interface SourceRow {
  source: string
  views: number
  viewers: number
  /** Orders credited to this source: the buyer's latest view before the order came through it. */
  orders: number
  buyers: number
  gmv: number
  conversion: number | null
}

/** GET /v1/streams/:id/products/series: the server's own type (a type, erased from the bundle). */
export type { ProductSeries as ProductSeriesWire } from '../../../server/metrics/details.ts'

/** GET /v1/streams/:id/sources */
export interface SourceMixData {
  sources: SourceRow[]
  /** Orders whose buyer had no view in the stream before the order. */
  unattributed: { orders: number; buyers: number; gmv: number }
}

export interface Marker {
  ts: number
  type: 'product_pin' | 'marker'
  product_id: string
  label: string
}

export interface QuarantineItem {
  received_at: number
  reason: string
  index: number
  event_id: string
  raw: string
}

export interface QuarantineList {
  total: number
  items: QuarantineItem[]
}

export interface Me {
  role: 'ops' | 'creator'
  creator_id: string | null
  expires_at: number
}

export const VERTICALS = ['Fashion', 'Beauty', 'Home & Living', 'Other'] as const

/**
 * The verticals to offer as filters: the usual ones, every other one the streams named (SPEC §1
 * allows any; an "Electronics" stream had no button), and the one chosen now (opened by a link
 * before any of its streams is here). "Other" stays last.
 */
export function verticalChoices(seen: Iterable<string>, current = ''): string[] {
  const known = new Set<string>(VERTICALS)
  const extra = new Set<string>()
  for (const v of [...seen, current]) if (v && !known.has(v)) extra.add(v)
  const others = [...extra].sort((a, b) => a.localeCompare(b))
  return [...VERTICALS.filter((v) => v !== 'Other'), ...others, 'Other']
}
