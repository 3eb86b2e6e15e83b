// The wall's data: ranking and the per-tile sparkline columns.

import { boundaries, cumulativeToTotal } from './series.ts'
import type { WallStream } from './types.ts'

/** Live streams of a vertical ('' = all), ranked by GMV (ties: most online, then id, stable). */
export function rankStreams(streams: readonly WallStream[], vertical: string): WallStream[] {
  const shown = vertical ? streams.filter((s) => s.vertical === vertical) : streams.slice()
  return shown.sort(
    (a, b) =>
      b.totals.gmv - a.totals.gmv ||
      b.totals.online - a.totals.online ||
      (a.stream_id < b.stream_id ? -1 : a.stream_id > b.stream_id ? 1 : 0),
  )
}

/** A live stream with no event for this long, while others on the wall have had some, shows as quiet. */
export const QUIET_AFTER_MS = 60_000

/**
 * How long each stream has gone without an event, for those quiet past QUIET_AFTER_MS:
 * measured against the newest event on the wall, but never later than `now`, the server's
 * clock as the screen knows it (a producer whose clock runs ahead, which ingest allows by
 * up to 5 minutes, would otherwise make every other stream look quiet). A stream stays live for 5 minutes after its last
 * event (SPEC §3), so one whose feed broke would otherwise hold its rank with frozen numbers.
 */
export function quietStreams(streams: readonly WallStream[], now = Date.now()): Map<string, number> {
  let newest = Number.NEGATIVE_INFINITY
  for (const s of streams) newest = Math.max(newest, s.last_event_at)
  const reference = Math.min(newest, now)
  const quiet = new Map<string, number>()
  for (const s of streams) {
    const silent = reference - s.last_event_at
    if (silent >= QUIET_AFTER_MS) quiet.set(s.stream_id, silent)
  }
  return quiet
}

export type SparkColumns = [number[], number[], (number | null)[]]

/**
 * [t, cumulative GMV, conversion] of a tile, at minute boundaries (`boundaries`: each minute's
 * values at its end). The spark holds per-minute GMV of the last 30 minutes; anchoring the running
 * sum on the stream's total GMV makes the curve end at the number printed on the tile.
 */
export function sparkColumns(stream: WallStream): SparkColumns {
  const spark = stream.spark
  const n = Math.min(spark.t.length, spark.gmv.length)
  // From the minute the stream began: minutes before it are not "nothing sold", and would
  // squeeze a new stream's curve into the last pixels of its tile.
  let first = 0
  while (first < n - 1 && (spark.t[first + 1] as number) <= stream.started_at) first++
  const t = spark.t.slice(first, n)
  const gmv = spark.gmv.slice(first, n)
  const conversion = [
    null,
    ...Array.from({ length: n - first }, (_, i) => spark.conversion[first + i] ?? null),
  ]
  return [
    boundaries(t, spark.step_ms),
    cumulativeToTotal(gmv, stream.totals.gmv),
    n === first ? [] : conversion,
  ]
}

/** Same numbers in the same places (lets a tile skip redrawing a chart that did not change). */
export function sameColumns(
  a: readonly (readonly (number | null)[])[],
  b: readonly (readonly (number | null)[])[],
) {
  if (a.length !== b.length) return false
  for (let c = 0; c < a.length; c++) {
    const x = a[c] as readonly (number | null)[]
    const y = b[c] as readonly (number | null)[]
    if (x.length !== y.length) return false
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  }
  return true
}

/**
 * The wall's shown ranking between re-ranks: `held` (ids in the order shown) keeps its order;
 * streams that left drop out and newcomers go in before the first shown stream they outrank
 * in `ranked` (the current ranking). Returns `held` itself when nothing joined or left.
 */
export function holdRanking(held: readonly string[], ranked: readonly WallStream[]): readonly string[] {
  const rankOf = new Map(ranked.map((s, i) => [s.stream_id, i]))
  const kept = held.filter((id) => rankOf.has(id))
  if (kept.length === held.length && kept.length === ranked.length) return held
  const shown = new Set(kept)
  for (const stream of ranked) {
    if (shown.has(stream.stream_id)) continue
    const rank = rankOf.get(stream.stream_id) as number
    const at = kept.findIndex((id) => (rankOf.get(id) as number) > rank)
    kept.splice(at < 0 ? kept.length : at, 0, stream.stream_id)
  }
  return kept
}

/**
 * Ids in the order their tiles were created: `previous` minus the streams that left, then
 * newcomers. The wall keeps its tiles in this order in the DOM and places them by rank with
 * CSS, so a re-rank moves boxes instead of DOM nodes (which would lay out and paint each tile anew).
 */
export function creationOrder(
  previous: readonly string[],
  streams: readonly WallStream[],
): readonly string[] {
  const present = new Set(streams.map((s) => s.stream_id))
  const kept = previous.filter((id) => present.has(id))
  const known = new Set(kept)
  for (const stream of streams) if (!known.has(stream.stream_id)) kept.push(stream.stream_id)
  return kept.length === previous.length && kept.every((id, i) => id === previous[i]) ? previous : kept
}

export function sameOrder(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i])
}
