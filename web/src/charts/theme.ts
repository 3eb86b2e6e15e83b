// uPlot settings shared by every chart: dark wall theme, axes, and per-chart option builders.

import uPlot from 'uplot'
import { formatClock, formatCompact, formatPercent } from '../lib/format.ts'

export const COLORS = {
  gmv: '#3ddc97',
  gmvFill: 'rgba(61, 220, 151, 0.12)',
  gmvBar: 'rgba(61, 220, 151, 0.45)',
  /** the per-bucket axis' labels: the bars' hue, opaque enough to read */
  gmvBarAxis: '#8fcfb0',
  conversion: '#4aa8ff',
  /** each bucket's own conversion: bars under the running line, which must stay the one read */
  conversionFaint: 'rgba(74, 168, 255, 0.22)',
  online: '#c792ff',
  /** the compared session: a colour no marker, pin, metric or the scrub line uses (app.css --compare) */
  compare: '#ff7eb6',
  axis: '#8d99ab',
  grid: 'rgba(255, 255, 255, 0.07)',
  pin: '#2dd4e8',
  marker: '#ffb547',
} as const

export type YFormat = 'money' | 'count' | 'percent'

export function formatTick(kind: YFormat, value: number, currencySymbol: string): string {
  if (kind === 'percent') return formatPercent(value, value !== 0 && Math.abs(value) < 0.1 ? 1 : 0)
  // "8K" and "1.5K" on an axis, not "8.00K" and "1.50K"
  const text = formatCompact(value, 1000)
    .replace(/(\.\d*?)0+(?=[A-Z]$)/, '$1')
    .replace(/\.(?=[A-Z]$)/, '')
  return kind === 'money' ? currencySymbol + text : text
}

/** Whole-unit steps (1, 2, 5, 10, 20, …): a count or a money axis never repeats "1 1 0 0" for 0.2 steps. */
const WHOLE_INCRS = Array.from({ length: 13 }, (_, k) => [1, 2, 5].map((m) => m * 10 ** k)).flat()

export function yAxis(kind: YFormat, currencySymbol: string, opts: Partial<uPlot.Axis> = {}): uPlot.Axis {
  return {
    stroke: COLORS.axis,
    grid: { stroke: COLORS.grid, width: 1 },
    ticks: { show: false },
    size: 56,
    font: '12px system-ui, sans-serif',
    values: (_u, splits) => splits.map((v) => formatTick(kind, v, currencySymbol)),
    ...(kind === 'percent' ? {} : { incrs: WHOLE_INCRS }),
    ...opts,
  }
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

/** 24-hour local clock labels; seconds only when the ticks are less than a minute apart. */
function clockLabels(_u: uPlot, splits: number[], _axis: number, _space: number, incr: number): string[] {
  return splits.map((v) => {
    const d = new Date(v)
    const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`
    return incr < 60_000 ? `${hm}:${pad2(d.getSeconds())}` : hm
  })
}

export function timeAxis(): uPlot.Axis {
  return {
    stroke: COLORS.axis,
    grid: { stroke: COLORS.grid, width: 1 },
    ticks: { show: false },
    font: '12px system-ui, sans-serif',
    size: 30,
    // room for "14:05:30" labels (uPlot's default spacing assumes shorter ones)
    space: 90,
    values: clockLabels,
  }
}

/** x as time since the stream started (replay, where two streams are laid over each other). */
export function elapsedAxis(): uPlot.Axis {
  return {
    ...timeAxis(),
    values: (_u, splits) => splits.map((v) => formatClock(v)),
  }
}

/** Splits for an elapsed-time axis: round minutes or hours, at least ~70 px apart. */
export function elapsedSplits(u: uPlot, _axis: number, min: number, max: number): number[] {
  const span = Math.max(1, max - min)
  const maxLabels = Math.max(2, Math.min(8, Math.floor(u.bbox.width / uPlot.pxRatio / 70)))
  const steps = [10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3]
  const step = steps.find((s) => span / s <= maxLabels) ?? 14_400e3
  const out: number[] = []
  for (let v = Math.ceil(min / step) * step; v <= max; v += step) out.push(v)
  return out
}

/** A bucket's bar, from its start (x) towards its end: the charts' x are bucket boundaries (`boundaries`). */
export const bars = uPlot.paths.bars?.({ size: [0.7, 40], gap: 1, align: 1 })

/** A tile's sparkline: cumulative GMV and conversion, no axes, no cursor; fixed-from-zero scales. */
export function sparkOptions(): Omit<uPlot.Options, 'width' | 'height'> {
  return {
    ms: 1,
    legend: { show: false },
    cursor: { show: false },
    select: { show: false, left: 0, top: 0, width: 0, height: 0 },
    padding: [3, 0, 3, 0],
    scales: {
      x: { time: true },
      // Cumulative GMV over 30 minutes: from the window's own low, so the climb fills the tile;
      // no sale in the window draws flat along the bottom (mid-height read as a level reached).
      gmv: {
        range: (_u, min, max) => {
          const lo = min ?? 0
          const hi = max ?? 0
          return hi > lo ? [lo, hi + (hi - lo) * 0.05] : [lo, lo + 1]
        },
      },
      conv: { range: (_u, _min, max) => [0, Math.max(0.02, max ?? 0) * 1.1] },
    },
    axes: [{ show: false }, { show: false, scale: 'gmv' }, { show: false, scale: 'conv' }],
    series: [
      {},
      { scale: 'gmv', stroke: COLORS.gmv, fill: COLORS.gmvFill, width: 2, points: { show: false } },
      { scale: 'conv', stroke: COLORS.conversion, width: 1.5, points: { show: false }, spanGaps: true },
    ],
  }
}
