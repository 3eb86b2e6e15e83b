// Option sets of the three charts of a stream (live view and replay): GMV, conversion, online.

import type uPlot from 'uplot'
import { formatClock, formatCount, formatMoney, formatPercent, formatTime } from '../lib/format.ts'
import { MARKER_BAND_PX } from './markers.ts'
import { bars, COLORS, elapsedAxis, elapsedSplits, formatTick, timeAxis, yAxis } from './theme.ts'
import { tooltipPlugin } from './tooltip.ts'

export type ChartOptions = Omit<uPlot.Options, 'width' | 'height'>

export interface StreamChartConfig {
  currency: string
  currencySymbol: string
  /** x is ms since the stream started (replay) instead of epoch ms */
  elapsed?: boolean
  /**
   * With `elapsed`: where the stream started on x (x is from its first bucket's start, the start
   * rounded down to the step): axis, readout and clock then count from the start itself.
   */
  elapsedOffset?: number
  /** fixed x range (replay: the whole session, so curves unfold left to right) */
  xRange?: [number, number]
  /** fixed y maxima per scale (replay: no rescaling while playing) */
  yMax?: Partial<Record<'cum' | 'bucket' | 'conv' | 'online', number>>
  /** label of a second (compared) stream; adds a dashed series to each chart */
  compareLabel?: string
}

/** Room right of the plot when no axis is there: half the newest time label ("01:44:05"). */
const RIGHT_EDGE_PX = 30

function base(
  cfg: StreamChartConfig,
  plugins: uPlot.Plugin[],
  rightAxis: (u: uPlot) => boolean = () => false,
): Pick<uPlot.Options, 'ms' | 'legend' | 'cursor' | 'scales' | 'plugins' | 'padding'> {
  const range = cfg.xRange
  return {
    ms: 1,
    // the band above the plot holds the marker labels; with no axis on the right, room for
    // the last time label's right half (on a phone it was cut to "01:44:0")
    padding: [MARKER_BAND_PX, (u) => (rightAxis(u) ? 18 : RIGHT_EDGE_PX), 0, 0],
    legend: { show: false },
    cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 }, dataIdx: bucketIdx },
    scales: {
      x: range ? { time: !cfg.elapsed, range: () => [range[0], range[1]] } : { time: !cfg.elapsed },
    },
    plugins,
  }
}

/**
 * What the cursor reads, on x at bucket boundaries (`boundaries`): the bucket it is in (the
 * last boundary at or before it), that bucket's own bar, and the curves at the bucket's end.
 * uPlot's default, the nearest point, read the next bucket's bar over the right half of a bar.
 */
export function bucketIdx(u: uPlot, seriesIdx: number, closest: number, xValue: number): number {
  const xs = u.data[0]
  let i = closest
  while (i > 0 && (xs[i] as number) > xValue) i--
  if (seriesIdx === 0 || u.series[seriesIdx]?.paths === bars) return i
  return Math.min(i + 1, xs.length - 1)
}

function xAxis(cfg: StreamChartConfig): uPlot.Axis {
  if (!cfg.elapsed) return timeAxis()
  const offset = cfg.elapsedOffset ?? 0
  return {
    ...elapsedAxis(),
    // round times since the start, placed on the bucket grid's x
    splits: (u, axis, min, max) => elapsedSplits(u, axis, min - offset, max - offset).map((v) => v + offset),
    values: (_u, splits) => splits.map((v) => formatClock(v - offset)),
  }
}

function formatX(cfg: StreamChartConfig) {
  const offset = cfg.elapsedOffset ?? 0
  return (x: number) => (cfg.elapsed ? `+${formatClock(Math.max(0, x - offset))}` : formatTime(x))
}

/** A y range from 0 (fixed `max` if given) with headroom; `empty` when there is nothing yet. */
function fromZero(max: number | undefined, headroom: number, empty = 1) {
  return (_u: uPlot, _min: number | null, dataMax: number | null): uPlot.Range.MinMax => {
    const top = max ?? dataMax ?? 0
    return [0, top > 0 ? top * headroom : empty]
  }
}

/** Narrower than this (CSS px), the GMV chart leaves out the per-bucket bars' axis. */
export const NARROW_CHART_PX = 480

/** Cumulative GMV (line, left axis) and GMV per bucket (bars, right axis, when there is room). */
export function gmvChart(cfg: StreamChartConfig): ChartOptions {
  const series: uPlot.Series[] = [
    {},
    {
      label: 'GMV (cumulative)',
      scale: 'cum',
      stroke: COLORS.gmv,
      fill: COLORS.gmvFill,
      width: 2,
      points: { show: false },
    },
    {
      label: 'GMV per bucket',
      scale: 'bucket',
      stroke: COLORS.gmvBar,
      // fill only: an outline would draw empty buckets as a line along the axis
      width: 0,
      fill: COLORS.gmvBar,
      paths: bars,
      points: { show: false },
    },
  ]
  if (cfg.compareLabel) {
    series.push({
      label: `${cfg.compareLabel} (cumulative)`,
      scale: 'cum',
      stroke: COLORS.compare,
      width: 2,
      dash: [6, 4],
      points: { show: false },
    })
  }
  const b = base(
    cfg,
    [tooltipPlugin(formatX(cfg), (_s, v) => formatMoney(v, cfg.currency))],
    (u) => u.width >= NARROW_CHART_PX,
  )
  return {
    ...b,
    scales: {
      ...b.scales,
      cum: { range: fromZero(cfg.yMax?.cum, 1.05) },
      bucket: { range: fromZero(cfg.yMax?.bucket, 1.6) },
    },
    axes: [
      xAxis(cfg),
      // Two money axes: each in its series' colour, so $20 of a bar is not read on the line's scale.
      yAxis('money', cfg.currencySymbol, { scale: 'cum', stroke: COLORS.gmv }),
      yAxis('money', cfg.currencySymbol, {
        scale: 'bucket',
        side: 1,
        grid: { show: false },
        // A phone has no width to spare for the bars' own axis (it took 40 % of the plot):
        // there the bars stay unlabelled, and the readout gives their values.
        size: (u) => (u.width < NARROW_CHART_PX ? 0 : 48),
        values: (u, splits) =>
          splits.map((v) => (u.width < NARROW_CHART_PX ? '' : formatTick('money', v, cfg.currencySymbol))),
        stroke: COLORS.gmvBarAxis,
      }),
    ],
    series,
  }
}

/**
 * Conversion: the running value (bold; buyers ÷ viewers up to each bucket, approximate) and the
 * bucket's own (faint bars). The scale follows the running curve; per-bucket spikes may leave the top.
 */
export function conversionChart(cfg: StreamChartConfig): ChartOptions {
  const series: uPlot.Series[] = [
    {},
    {
      label: 'Conversion ≈',
      scale: 'conv',
      stroke: COLORS.conversion,
      width: 2.5,
      spanGaps: true,
      points: { show: false },
    },
    {
      // each bucket's own, as a bar from its start to its end (a line through bucket starts
      // drew a bucket's conversion half a bucket early)
      label: 'Per bucket',
      scale: 'conv',
      stroke: COLORS.conversionFaint,
      width: 0,
      fill: COLORS.conversionFaint,
      paths: bars,
      points: { show: false },
    },
  ]
  if (cfg.compareLabel) {
    series.push({
      label: `${cfg.compareLabel} ≈`,
      scale: 'conv',
      stroke: COLORS.compare,
      width: 1.5,
      dash: [6, 4],
      spanGaps: true,
      points: { show: false },
    })
  }
  const b = base(cfg, [tooltipPlugin(formatX(cfg), (_s, v) => formatPercent(v, 2))])
  const fixed = cfg.yMax?.conv
  return {
    ...b,
    scales: {
      ...b.scales,
      conv: {
        range: (u) => {
          const top = fixed ?? Math.max(maxValue(u.data[1]), maxValue(u.data[3]))
          return [0, top > 0 ? Math.min(1, top * 1.4) : 0.05]
        },
      },
    },
    axes: [xAxis(cfg), yAxis('percent', cfg.currencySymbol, { scale: 'conv' })],
    series,
  }
}

function maxValue(values: ArrayLike<number | null | undefined> | undefined): number {
  let max = 0
  if (!values) return max
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v != null && v > max) max = v
  }
  return max
}

/** Concurrent viewers at the end of each bucket. */
export function onlineChart(cfg: StreamChartConfig): ChartOptions {
  const series: uPlot.Series[] = [
    {},
    { label: 'Online', scale: 'online', stroke: COLORS.online, width: 2, points: { show: false } },
  ]
  if (cfg.compareLabel) {
    series.push({
      label: cfg.compareLabel,
      scale: 'online',
      stroke: COLORS.compare,
      width: 1.5,
      dash: [6, 4],
      points: { show: false },
    })
  }
  const b = base(cfg, [tooltipPlugin(formatX(cfg), (_s, v) => formatCount(v))])
  return {
    ...b,
    scales: { ...b.scales, online: { range: fromZero(cfg.yMax?.online, 1.1) } },
    axes: [xAxis(cfg), yAxis('count', cfg.currencySymbol, { scale: 'online' })],
    series,
  }
}
