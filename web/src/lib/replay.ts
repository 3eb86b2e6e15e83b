// Replay of a finished stream: the KPIs "as they stood" at a scrub position, computed from the
// per-bucket series alone, so scrubbing and playing need no request.
//
// Counts and money add up exactly across buckets (an order is counted in one bucket only).
// Distinct counts (viewers, buyers) do not: a viewer who came back in a later bucket is counted
// again, so their sum over buckets is an upper-bound approximation, and conversion computed from
// them is approximate too. Those are flagged in `approximate` for the screen to label.

import type { ChartMarker } from '../charts/markers.ts'
import { BUCKET_CONVERSION_MIN_VIEWERS, bucketRatio, type ColumnSeries, runningRatio } from './series.ts'
import { type ProductRow, STEP_MS, type Step, type Totals } from './types.ts'

const SUMMED = [
  'views',
  'impressions',
  'clicks',
  'carts',
  'orders',
  'items',
  'comments',
  'likes',
  'shares',
  'follows',
] as const
const MONEY = ['gmv', 'refunds'] as const
const APPROX_SUMMED = ['viewers', 'buyers'] as const

/** Per-bucket conversion is drawn in a replay of at most this many buckets. */
export const PER_BUCKET_CONVERSION_MAX = 240

/** The running conversion curve starts once this many viewers came (before that it is noise). */
export const CONVERSION_MIN_VIEWERS = 20

export const APPROXIMATE_METRICS: readonly (keyof Totals)[] = ['viewers', 'buyers', 'conversion']

export interface ReplayIndex {
  length: number
  /** prefix[m][i] = sum of bucket values 0..i (money in integer cents) */
  prefix: Record<string, Float64Array>
  online: Float64Array
  /** highest online (or peak_online when the series has it) over buckets 0..i */
  peak: Float64Array
}

function column(series: ColumnSeries, metric: string): readonly (number | null)[] {
  return series.cols[metric] ?? []
}

/** Precomputes running sums so that `kpisAt` is O(1) per scrub position. */
export function buildReplayIndex(series: ColumnSeries): ReplayIndex {
  const n = series.t.length
  const prefix: Record<string, Float64Array> = {}
  const sumInto = (metric: string, scale: number) => {
    const values = column(series, metric)
    const out = new Float64Array(n)
    let sum = 0
    for (let i = 0; i < n; i++) {
      sum += Math.round((values[i] ?? 0) * scale)
      out[i] = sum
    }
    prefix[metric] = out
  }
  for (const m of SUMMED) sumInto(m, 1)
  for (const m of APPROX_SUMMED) sumInto(m, 1)
  for (const m of MONEY) sumInto(m, 100)

  const onlineValues = column(series, 'online')
  const peakValues = column(series, 'peak_online')
  const online = new Float64Array(n)
  const peak = new Float64Array(n)
  let highest = 0
  for (let i = 0; i < n; i++) {
    const o = onlineValues[i] ?? 0
    online[i] = o
    highest = Math.max(highest, o, peakValues[i] ?? 0)
    peak[i] = highest
  }
  return { length: n, prefix, online, peak }
}

function ratio(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : numerator / denominator
}

/**
 * The stream's KPIs at scrub position `position`, a bucket boundary: over the buckets before it
 * (0 is the start, nothing yet; `length` is all of them). Clamped to the series.
 */
export function kpisAt(replay: ReplayIndex, position: number): Totals {
  const totals: Totals = {
    views: 0,
    viewers: 0,
    online: 0,
    peak_online: 0,
    impressions: 0,
    clicks: 0,
    ctr: null,
    carts: 0,
    orders: 0,
    items: 0,
    buyers: 0,
    gmv: 0,
    refunds: 0,
    net_gmv: 0,
    conversion: null,
    co_rate: null,
    gpm: null,
    comments: 0,
    likes: 0,
    shares: 0,
    follows: 0,
  }
  if (replay.length === 0 || position < 1) return totals
  const i = Math.min(Math.floor(position), replay.length) - 1
  const at = (m: string) => replay.prefix[m]?.[i] ?? 0
  for (const m of SUMMED) totals[m] = at(m)
  for (const m of APPROX_SUMMED) totals[m] = at(m)
  const gmvCents = at('gmv')
  const refundCents = at('refunds')
  totals.gmv = gmvCents / 100
  totals.refunds = refundCents / 100
  totals.net_gmv = (gmvCents - refundCents) / 100
  totals.online = replay.online[i] ?? 0
  totals.peak_online = replay.peak[i] ?? 0
  totals.ctr = ratio(totals.clicks, totals.impressions)
  totals.co_rate = ratio(totals.orders, totals.clicks)
  totals.conversion = ratio(totals.buyers, totals.viewers)
  totals.gpm = totals.views === 0 ? null : Math.round((gmvCents * 1000) / totals.views) / 100
  return totals
}

/**
 * The products table as it stood at scrub position `position` (`kpisAt`): every product that has its own series
 * in `indexes`, from that series' running sums (exact: counts and money add up across
 * buckets), ranked as the server ranks (GMV, then clicks, then id). Products without a
 * series are left out.
 */
export function productsAt(
  products: readonly ProductRow[],
  indexes: ReadonlyMap<string, ReplayIndex>,
  position: number,
): ProductRow[] {
  const rows: ProductRow[] = []
  for (const { product_id } of products) {
    const replay = indexes.get(product_id)
    if (!replay) continue
    const { impressions, clicks, carts, orders, items, gmv, ctr, co_rate } = kpisAt(replay, position)
    rows.push({ product_id, impressions, clicks, carts, orders, items, gmv, ctr, co_rate })
  }
  return rows.sort(
    (a, b) =>
      b.gmv - a.gmv ||
      b.clicks - a.clicks ||
      (a.product_id < b.product_id ? -1 : a.product_id > b.product_id ? 1 : 0),
  )
}

const REPLAY_STEPS: readonly Step[] = ['1s', '10s', '1m', '5m']

/** The finest step that draws a session of `durationMs` in at most `maxBuckets` buckets. */
export function replayStep(durationMs: number, maxBuckets = 2000): Step {
  for (const step of REPLAY_STEPS) {
    if (Math.ceil(Math.max(durationMs, 1) / STEP_MS[step]) + 1 <= maxBuckets) return step
  }
  return '5m'
}

/** Bucket index whose span holds `elapsedMs` after the first bucket's start. */
export function indexAtElapsed(stepMs: number, length: number, elapsedMs: number): number {
  if (length === 0) return -1
  return Math.max(0, Math.min(length - 1, Math.floor(elapsedMs / stepMs)))
}

/** A tick under the scrubber: one or more pins and markers too close to tell apart. */
export interface ScrubberTick {
  /** ms since the first bucket's start: the first of the group (where a click goes) */
  x: number
  label: string
  kind: ChartMarker['kind']
}

/**
 * The scrubber's ticks at `widthPx` for a session of `totalMs`: pins and markers (x in ms since
 * the start, outside the session left out) closer than `minGapPx` to the previous tick share
 * it, named together, so none hides under another (a pin and a flash sale at one second were
 * one spot where only the top one could be tapped).
 */
export function scrubberTicks(
  markers: readonly ChartMarker[],
  totalMs: number,
  widthPx: number,
  minGapPx = 24,
): ScrubberTick[] {
  const px = (x: number) => (x / Math.max(1, totalMs)) * widthPx
  const ticks: (ScrubberTick & { names: string[] })[] = []
  for (const m of [...markers].filter((m) => m.x >= 0 && m.x <= totalMs).sort((a, b) => a.x - b.x)) {
    const last = ticks[ticks.length - 1]
    if (last && px(m.x) - px(last.x) < minGapPx) {
      last.names.push(m.label)
      if (last.kind !== m.kind) last.kind = 'marker'
      continue
    }
    ticks.push({ x: m.x, label: m.label, kind: m.kind, names: [m.label] })
  }
  return ticks.map(({ x, kind, names }) => ({ x, kind, label: names.join(' · ') }))
}

export const PLAY_SPEEDS = [1, 5, 15, 60] as const
export type PlaySpeed = (typeof PLAY_SPEEDS)[number]

/**
 * A loaded replay laid out for drawing. x is ms since the first bucket, so two streams align,
 * at every bucket boundary (`boundaries` in series.ts): curves hold the value at each boundary,
 * per-bucket columns each bucket's own from its start (nothing at the last boundary). The scrub
 * position is a boundary too: 0 … length.
 */
export interface ReplayLayout {
  stepMs: number
  /** buckets on the timeline: the longer of the two streams */
  length: number
  /** buckets of the main stream */
  mainLength: number
  /** length + 1 boundaries */
  x: number[]
  gmvCumulative: (number | null)[]
  gmvBucket: (number | null)[]
  /** running conversion (approximate, like the KPI) and each bucket's own */
  conversionRunning: (number | null)[]
  conversion: (number | null)[]
  /** at the end of each bucket (SPEC §3), so at each boundary: 0 at the start */
  online: (number | null)[]
  compare: {
    gmvCumulative: (number | null)[]
    conversionRunning: (number | null)[]
    online: (number | null)[]
  } | null
  /** scale maxima over the whole session, so playing never rescales the charts */
  yMax: { cum: number; bucket: number; conv: number; online: number }
}

function padded<T>(values: readonly T[], length: number): (T | null)[] {
  const out = new Array<T | null>(length).fill(null)
  for (let i = 0; i < Math.min(length, values.length); i++) out[i] = values[i] as T
  return out
}

function maxOf(...columns: readonly (readonly (number | null)[])[]): number {
  let max = 0
  for (const column of columns) for (const v of column) if (v !== null && v > max) max = v
  return max
}

export function layoutReplay(main: ColumnSeries, compare: ColumnSeries | null): ReplayLayout {
  const stepMs = main.stepMs
  const mainLength = main.t.length
  const length = Math.max(mainLength, compare?.t.length ?? 0)
  const points = length + 1
  const x = Array.from({ length: points }, (_, i) => i * stepMs)
  const col = (s: ColumnSeries, m: string) => s.cols[m] ?? []
  const layout: ReplayLayout = {
    stepMs,
    length,
    mainLength,
    x,
    gmvCumulative: padded(cumulativeSum(col(main, 'gmv')), points),
    gmvBucket: padded(col(main, 'gmv'), points),
    conversionRunning: padded(
      runningRatio(col(main, 'buyers'), col(main, 'viewers'), CONVERSION_MIN_VIEWERS),
      points,
    ),
    // Over many buckets each one's own conversion is a solid wall of spikes that hides the
    // running curve: drawn only while a bucket is wide enough to see, and where it had
    // viewers enough to mean something.
    conversion:
      length <= PER_BUCKET_CONVERSION_MAX
        ? padded(
            bucketRatio(col(main, 'conversion'), col(main, 'viewers'), BUCKET_CONVERSION_MIN_VIEWERS),
            points,
          )
        : new Array(points).fill(null),
    online: padded(onlineAtBoundaries(col(main, 'online')), points),
    compare: compare
      ? {
          gmvCumulative: padded(cumulativeSum(col(compare, 'gmv')), points),
          conversionRunning: padded(
            runningRatio(col(compare, 'buyers'), col(compare, 'viewers'), CONVERSION_MIN_VIEWERS),
            points,
          ),
          online: padded(onlineAtBoundaries(col(compare, 'online')), points),
        }
      : null,
    yMax: { cum: 0, bucket: 0, conv: 0, online: 0 },
  }
  const c = layout.compare
  layout.yMax = {
    cum: maxOf(layout.gmvCumulative, c?.gmvCumulative ?? []),
    bucket: maxOf(layout.gmvBucket),
    conv: maxOf(layout.conversionRunning, c?.conversionRunning ?? []),
    online: maxOf(layout.online, c?.online ?? []),
  }
  return layout
}

/** Money summed from 0 in cents, at each bucket boundary. */
function cumulativeSum(values: readonly (number | null)[]): number[] {
  const out = new Array<number>(values.length + 1)
  let cents = 0
  out[0] = 0
  for (let i = 0; i < values.length; i++) {
    cents += Math.round((values[i] ?? 0) * 100)
    out[i + 1] = cents / 100
  }
  return out
}

/** `online` at each bucket boundary: none before the stream's first bucket. */
function onlineAtBoundaries(values: readonly (number | null)[]): (number | null)[] {
  return [0, ...values]
}

export type Columns = [number[], ...(number | null)[][]]

/**
 * The three charts' data as they stood at scrub position `position` (a boundary): curves unfold
 * up to it, and only the buckets before it have their bars.
 */
export function replayFrame(
  layout: ReplayLayout,
  position: number,
): { gmv: Columns; conversion: Columns; online: Columns } {
  const at = Math.max(0, Math.min(layout.length, Math.floor(position)))
  const x = layout.x.slice(0, at + 1)
  const cut = (values: (number | null)[]) => values.slice(0, at + 1)
  const bucketsBefore = (values: (number | null)[]) => [...values.slice(0, at), null]
  const c = layout.compare
  return {
    gmv: c
      ? [x, cut(layout.gmvCumulative), bucketsBefore(layout.gmvBucket), cut(c.gmvCumulative)]
      : [x, cut(layout.gmvCumulative), bucketsBefore(layout.gmvBucket)],
    conversion: c
      ? [x, cut(layout.conversionRunning), bucketsBefore(layout.conversion), cut(c.conversionRunning)]
      : [x, cut(layout.conversionRunning), bucketsBefore(layout.conversion)],
    online: c ? [x, cut(layout.online), cut(c.online)] : [x, cut(layout.online)],
  }
}

/** What a marker or pin did: GMV and orders in the window after it against the window before. */
export interface MomentImpact {
  /** ms since the first bucket's start */
  elapsed: number
  /** bucket index the moment falls in; "Go there" goes to its start (the scrub position of that number) */
  index: number
  before: { gmv: number; orders: number }
  after: { gmv: number; orders: number }
  /** the windows as measured: shorter than asked near the session's edges */
  beforeMs: number
  afterMs: number
}

/**
 * The window compared around each moment: a twelfth of the session, between 1 and 10
 * minutes, in whole buckets (at least one).
 */
export function momentWindowMs(sessionMs: number, stepMs: number): number {
  const wanted = Math.min(10 * 60_000, Math.max(60_000, sessionMs / 12))
  return Math.max(1, Math.round(wanted / stepMs)) * stepMs
}

/**
 * GMV and orders in the `windowMs` from the bucket a moment falls in on, against the
 * `windowMs` before it. Exact: both add up across buckets.
 */
export function momentImpact(
  replay: ReplayIndex,
  stepMs: number,
  elapsedMs: number,
  windowMs: number,
): MomentImpact {
  const index = indexAtElapsed(stepMs, replay.length, elapsedMs)
  const width = Math.max(1, Math.round(windowMs / stepMs))
  const sum = (metric: string, from: number, to: number) => {
    // buckets from..to inclusive; empty when to < from
    const prefix = replay.prefix[metric]
    if (!prefix || to < from || to < 0) return 0
    return (prefix[to] ?? 0) - (from > 0 ? (prefix[from - 1] ?? 0) : 0)
  }
  const beforeFrom = Math.max(0, index - width)
  const afterTo = Math.min(replay.length - 1, index + width - 1)
  return {
    elapsed: elapsedMs,
    index,
    before: { gmv: sum('gmv', beforeFrom, index - 1) / 100, orders: sum('orders', beforeFrom, index - 1) },
    after: { gmv: sum('gmv', index, afterTo) / 100, orders: sum('orders', index, afterTo) },
    beforeMs: (index - beforeFrom) * stepMs,
    afterMs: (afterTo - index + 1) * stepMs,
  }
}
