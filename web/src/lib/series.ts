// Columnar time series kept by the browser, fed by a snapshot and then by ticks.
//
// A tick carries only the buckets that changed, each as its full absolute value (never a delta),
// so merging is "overwrite the bucket with that start time": a duplicate tick rewrites the same
// numbers, a reordered or late tick lands in its own (possibly past) bucket. The series stays
// dense like the server's (every step present): buckets the server never re-sent because nothing
// happened in them are filled the way the server fills them, so charts do not draw a line across
// a quiet minute as if it were busy.

import type { SeriesWire } from './types.ts'

export type Column = (number | null)[]

export interface ColumnSeries {
  stepMs: number
  /** bucket start, epoch ms, strictly increasing */
  t: number[]
  /** metric → one value per entry of `t` */
  cols: Record<string, Column>
  /**
   * bucket start → the watermark of the answer that last wrote it: an answer of an older
   * state (a reordered tick) does not step a bucket back (SPEC §5)
   */
  marks: Map<number, number>
}

/** Metrics that are a level at the end of a bucket, not a count within it. */
const LEVEL_METRICS = new Set(['online', 'peak_online'])
/** Metrics that are undefined (null) in a bucket where nothing happened. */
const RATIO_METRICS = new Set(['ctr', 'conversion', 'co_rate', 'gpm'])

/** The value the server gives a bucket in which no event happened. */
export function emptyBucketValue(metric: string, previous: number | null | undefined): number | null {
  if (LEVEL_METRICS.has(metric)) return previous ?? 0
  if (RATIO_METRICS.has(metric)) return null
  return 0
}

export function createSeries(stepMs: number, metrics: readonly string[]): ColumnSeries {
  const cols: Record<string, Column> = {}
  for (const m of metrics) cols[m] = []
  return { stepMs, t: [], cols, marks: new Map() }
}

/**
 * A series holding `metrics` from a wire answer (GET /series, or a subscribe snapshot with its
 * watermark).
 */
export function seriesFromWire(
  wire: SeriesWire,
  metrics: readonly string[],
  maxLen: number,
  watermark?: number,
): ColumnSeries {
  const series = createSeries(wire.step_ms, metrics)
  mergeBuckets(series, wire, maxLen, watermark)
  return series
}

function readColumn(wire: SeriesWire, metric: string): unknown[] | undefined {
  const column = wire[metric]
  return Array.isArray(column) ? column : undefined
}

function asValue(v: unknown): number | null | undefined {
  if (v === null) return null
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'string' && v !== '' && Number.isFinite(Number(v))) return Number(v)
  return undefined
}

/** Index of the first bucket with start >= t (binary search; `t` is sorted). */
export function lowerBound(t: readonly number[], value: number): number {
  let lo = 0
  let hi = t.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((t[mid] as number) < value) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Merges the buckets of `update` into `series` in place and trims it to the newest `maxLen`
 * buckets. Returns whether anything changed. Updates of another step are ignored (a tick of an
 * older subscription arriving after a step switch). With the update's `watermark`, a bucket
 * that an answer of a newer state wrote is left as it is.
 */
export function mergeBuckets(
  series: ColumnSeries,
  update: SeriesWire,
  maxLen: number,
  watermark?: number,
): boolean {
  if (update.step_ms !== series.stepMs || !Array.isArray(update.t) || update.t.length === 0) return false
  const metrics = Object.keys(series.cols)
  const incoming = metrics.map((m) => readColumn(update, m))
  // Visit the update's buckets in time order whatever order they were sent in.
  const order = update.t.map((_, i) => i).sort((a, b) => (update.t[a] as number) - (update.t[b] as number))
  let changed = false
  for (const i of order) {
    const bucketStart = update.t[i]
    if (typeof bucketStart !== 'number' || !Number.isFinite(bucketStart)) continue
    if (watermark !== undefined) {
      const mark = series.marks.get(bucketStart)
      // (an equal watermark is the same state, or a snapshot read later than its watermark
      // says: either way no newer than what the bucket holds)
      if (mark !== undefined && mark >= watermark) continue
      series.marks.set(bucketStart, watermark)
    }
    const length = series.t.length
    const first = series.t[0]
    const at = placeBucket(series, bucketStart, maxLen)
    if (at < 0) continue
    if (series.t.length !== length || series.t[0] !== first) changed = true
    for (let k = 0; k < metrics.length; k++) {
      const column = incoming[k]
      if (!column) continue
      const value = asValue(column[i])
      if (value === undefined) continue
      const target = series.cols[metrics[k] as string] as Column
      if (target[at] !== value) {
        target[at] = value
        changed = true
      }
    }
  }
  if (trim(series, maxLen)) changed = true
  return changed
}

/**
 * Finds or makes the slot of the bucket starting at `bucketStart` and returns its index, or -1
 * when the bucket is too old to fit in the window. New slots (and the gap before them) get the
 * empty-bucket values until the update's values are written over them.
 */
function placeBucket(series: ColumnSeries, bucketStart: number, maxLen: number): number {
  const { t, cols, stepMs } = series
  const n = t.length
  const last = t[n - 1]
  if (n === 0 || bucketStart > (last as number)) {
    const missing = n === 0 ? 0 : Math.round((bucketStart - (last as number)) / stepMs) - 1
    if (missing >= maxLen - 1) {
      // The whole window is older than the new bucket's window: start over, keeping levels.
      const carried: Record<string, number | null | undefined> = {}
      for (const m in cols) carried[m] = cols[m]?.[n - 1]
      t.length = 0
      for (const m in cols) (cols[m] as Column).length = 0
      appendEmpty(series, bucketStart - (maxLen - 1) * stepMs, maxLen - 1, carried)
    } else if (missing > 0) {
      appendEmpty(series, (last as number) + stepMs, missing)
    }
    appendEmpty(series, bucketStart, 1)
    return t.length - 1
  }
  const first = t[0] as number
  if (bucketStart < first) {
    const missing = Math.round((first - bucketStart) / stepMs) - 1
    if (n + missing + 1 > maxLen) return -1
    const fill = missing + 1
    const starts = Array.from({ length: fill }, (_, k) => bucketStart + k * stepMs)
    t.unshift(...starts)
    for (const m in cols) {
      // Levels before the first known bucket are unknown: the first known value is the best guess.
      const value = emptyBucketValue(m, LEVEL_METRICS.has(m) ? (cols[m]?.[0] ?? 0) : 0)
      ;(cols[m] as Column).unshift(...new Array<number | null>(fill).fill(value))
    }
    return 0
  }
  const at = lowerBound(t, bucketStart)
  if (t[at] === bucketStart) return at
  // Off the step grid (should not happen with aligned buckets): keep order, no fill.
  t.splice(at, 0, bucketStart)
  for (const m in cols) {
    const column = cols[m] as Column
    column.splice(at, 0, emptyBucketValue(m, column[at - 1]))
  }
  return at
}

function appendEmpty(
  series: ColumnSeries,
  start: number,
  count: number,
  carried?: Record<string, number | null | undefined>,
): void {
  const { t, cols, stepMs } = series
  for (let k = 0; k < count; k++) t.push(start + k * stepMs)
  for (const m in cols) {
    const column = cols[m] as Column
    const previous = carried ? carried[m] : column[column.length - 1]
    const value = emptyBucketValue(m, previous)
    for (let k = 0; k < count; k++) column.push(value)
  }
}

/** Drops the oldest buckets beyond `maxLen`. */
export function trim(series: ColumnSeries, maxLen: number): boolean {
  const excess = series.t.length - maxLen
  if (excess <= 0) return false
  series.t.splice(0, excess)
  for (const m in series.cols) (series.cols[m] as Column).splice(0, excess)
  const first = series.t[0] as number
  for (const start of series.marks.keys()) if (start < first) series.marks.delete(start)
  return true
}

/** Start of the newest bucket, or undefined for an empty series (used as `since` for gap fill). */
export function lastBucketStart(series: ColumnSeries): number | undefined {
  return series.t[series.t.length - 1]
}

/**
 * The x of a stream's charts: every bucket boundary, i.e. each bucket's start and then the last
 * one's end. A value that stands at a bucket's end (cumulative GMV, `online` — "at the end of the
 * bucket", SPEC §3 — and the running conversion) is drawn at the boundary that ends its bucket,
 * so a sale shows on the curve after the start of the bucket it fell in, never before (a pin at
 * 10:05:30 is not preceded by the rise its sales make). A bucket's own value (its GMV bar, its
 * conversion) is drawn from its start to its end: `perBucket` on this x.
 */
export function boundaries(t: readonly number[], stepMs: number): number[] {
  const last = t[t.length - 1]
  return last === undefined ? [] : [...t, last + stepMs]
}

/**
 * A per-bucket column on `boundaries`: each value at its bucket's start, nothing at the last end
 * (undefined, not null: uPlot sizes bars by the spacing of the points that have one, and a live
 * stream's last boundary is nearer than a step: `liveEdge`).
 */
export function perBucket<T>(values: readonly T[]): (T | undefined)[] {
  return values.length === 0 ? [] : [...values, undefined]
}

/**
 * `boundaries` of a live stream, its last one at `now` while the newest bucket is under way: the
 * curves end at the present with the running values, not up to a step in the future.
 */
export function liveEdge(x: number[], now: number): number[] {
  const n = x.length
  if (n < 2) return x
  const start = x[n - 2] as number
  x[n - 1] = Math.max(start + 1, Math.min(x[n - 1] as number, now))
  return x
}

/**
 * Cumulative curve of a per-bucket money or count column at each bucket boundary (`boundaries`),
 * anchored on the known total at the end: value[i] = total − sum(bucket values from i on). A
 * window that starts mid-stream then shows the real running total instead of restarting from 0.
 * Rounded to cents against float drift.
 */
export function cumulativeToTotal(perBucketValues: readonly (number | null)[], total: number): number[] {
  const n = perBucketValues.length
  if (n === 0) return []
  const out = new Array<number>(n + 1)
  let after = 0
  for (let i = n; i >= 0; i--) {
    out[i] = Math.round((total - after) * 100) / 100
    after += perBucketValues[i - 1] ?? 0
  }
  return out
}

/** Fewest viewers in a bucket for its own conversion to be drawn. */
export const BUCKET_CONVERSION_MIN_VIEWERS = 10

/**
 * Each bucket's own ratio where its denominator reached `min`, else null: one buyer of two
 * viewers is not a 50 % minute, and a half-filled last bucket is not a drop to 0 %.
 */
export function bucketRatio(
  ratio: readonly (number | null)[],
  denominator: readonly (number | null)[],
  min: number,
): (number | null)[] {
  return ratio.map((value, i) => ((denominator[i] ?? 0) >= min ? value : null))
}

/**
 * A running ratio (e.g. conversion = buyers / viewers) at each bucket boundary (`boundaries`):
 * the ratio of the buckets before it, summed from the first. Per-bucket ratios of 1 s buckets
 * are mostly 0/0 or spikes; the running one reads like the KPI tile. Distinct counts summed over
 * buckets are an approximation (a viewer who stays counts again in every bucket), so this curve
 * is labelled approximate; it cannot be anchored on the exact totals by subtracting later
 * buckets (their overcount took the early points to 54 % for a stream at 1.4 %). Points over
 * fewer than `minDenominator` (e.g. the first handful of viewers) are left out (null) as noise.
 */
export function runningRatio(
  numerator: readonly (number | null)[],
  denominator: readonly (number | null)[],
  minDenominator = 1,
): (number | null)[] {
  const floor = Math.max(1e-9, minDenominator)
  const n = Math.min(numerator.length, denominator.length)
  if (n === 0) return []
  const out = new Array<number | null>(n + 1)
  let num = 0
  let den = 0
  out[0] = null
  for (let i = 0; i < n; i++) {
    num += numerator[i] ?? 0
    den += denominator[i] ?? 0
    out[i + 1] = den >= floor ? num / den : null
  }
  return out
}
