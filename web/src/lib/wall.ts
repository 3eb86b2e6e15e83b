// The wall's data: ranking and the per-tile sparkline columns.

import { cumulativeToTotal } from './series.ts'
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

export type SparkColumns = [number[], number[], (number | null)[]]

/**
 * [t, cumulative GMV, conversion] of a tile. The spark holds per-bucket GMV of the last 30
 * minutes; anchoring the running sum on the stream's total GMV makes the curve end at the number
 * printed on the tile.
 */
export function sparkColumns(stream: WallStream): SparkColumns {
  const spark = stream.spark
  const n = Math.min(spark.t.length, spark.gmv.length)
  const t = spark.t.length === n ? spark.t : spark.t.slice(0, n)
  const gmv = spark.gmv.length === n ? spark.gmv : spark.gmv.slice(0, n)
  const conversion = Array.from({ length: n }, (_, i) => spark.conversion[i] ?? null)
  return [t, cumulativeToTotal(gmv, stream.totals.gmv), conversion]
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
