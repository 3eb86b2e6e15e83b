// uPlot plugin: product pins and markers as labelled vertical lines on the time axis.

import uPlot from 'uplot'
import type { Marker } from '../lib/types.ts'
import { COLORS } from './theme.ts'

/** Top padding a chart with markers reserves for their labels (CSS px). */
export const MARKER_BAND_PX = 16

export interface ChartMarker {
  /** position on the x scale (epoch ms, or ms since start on a replay) */
  x: number
  label: string
  kind: 'product_pin' | 'marker' | 'playhead'
}

/** A pin or marker as the charts label it, at `x` (its ts; ms since the start on a replay). */
export function chartMarker(m: Marker, x = m.ts): ChartMarker {
  return { x, kind: m.type, label: m.type === 'product_pin' ? `Pin ${m.product_id}` : m.label }
}

export interface MarkerLabel {
  /** canvas x of the marker's line */
  x: number
  text: string
  kind: ChartMarker['kind']
}

/**
 * Where the labels go in the one row above the plot: centred on their line, kept over the
 * plot (clear of the y-axis gutter and its tick values). A label that would run into one
 * already placed is left out (its line stays), and a marker's label is placed before any
 * pin's: a flash sale and the pin of its product come at the same moment, and the sale is
 * the news.
 */
/** Lines this close (canvas px) are one moment on screen: one label for them. */
const SAME_MOMENT_PX = 3

/**
 * Labels of lines drawn at the same place become one, the first of them by kind (marker,
 * then pin) with "+N" for the others: two labels there could never both be placed, and the
 * second then went unnamed (a flash sale and the pin of its product, the same second).
 */
export function mergeCoinciding<T extends MarkerLabel>(labels: readonly T[]): T[] {
  const rank = (kind: MarkerLabel['kind']) => (kind === 'playhead' ? 0 : kind === 'marker' ? 1 : 2)
  const sorted = [...labels].sort((a, b) => a.x - b.x)
  const merged: T[] = []
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1
    while (j < sorted.length && sorted[j]!.x - sorted[i]!.x <= SAME_MOMENT_PX) j++
    const group = sorted.slice(i, j).sort((a, b) => rank(a.kind) - rank(b.kind))
    const first = group[0]!
    merged.push(group.length === 1 ? first : { ...first, text: `${first.text} +${group.length - 1}` })
    i = j
  }
  return merged
}

export function placeLabels<T extends MarkerLabel>(
  labels: readonly T[],
  measure: (text: string) => number,
  left: number,
  width: number,
  gap: number,
): (T & { tx: number })[] {
  const placed: (T & { tx: number; right: number })[] = []
  for (const kind of ['playhead', 'marker', 'product_pin'] as const) {
    for (const label of labels) {
      if (label.kind !== kind) continue
      const textWidth = measure(label.text)
      const tx = Math.max(left, Math.min(label.x - textWidth / 2, left + width - textWidth))
      const right = tx + textWidth
      if (placed.some((other) => tx < other.right + gap && right + gap > other.tx)) continue
      placed.push({ ...label, tx, right })
    }
  }
  return placed
}

export function markersPlugin(markers: () => readonly ChartMarker[]): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u) => {
          const list = markers()
          if (list.length === 0) return
          const { ctx } = u
          const { left, top, width, height } = u.bbox
          const min = u.scales.x?.min ?? 0
          const max = u.scales.x?.max ?? 0
          const px = uPlot.pxRatio
          ctx.save()
          ctx.font = `${Math.round(11 * px)}px system-ui, sans-serif`
          ctx.textBaseline = 'top'
          ctx.textAlign = 'left'
          const labels: (MarkerLabel & { color: string })[] = []
          for (const m of list) {
            if (m.x < min || m.x > max) continue
            const x = Math.round(u.valToPos(m.x, 'x', true))
            if (x < left || x > left + width) continue
            const color =
              m.kind === 'product_pin' ? COLORS.pin : m.kind === 'marker' ? COLORS.marker : '#ffffff'
            ctx.strokeStyle = color
            ctx.lineWidth = m.kind === 'playhead' ? 2 * px : px
            ctx.setLineDash(m.kind === 'playhead' ? [] : [4 * px, 3 * px])
            ctx.beginPath()
            ctx.moveTo(x + 0.5, top)
            ctx.lineTo(x + 0.5, top + height)
            ctx.stroke()
            if (!m.label) continue
            const text = m.label.length > 28 ? `${m.label.slice(0, 27)}…` : m.label
            labels.push({ x, color, kind: m.kind, text })
          }
          const gap = 6 * px
          const measure = (text: string) => ctx.measureText(text).width
          for (const label of placeLabels(mergeCoinciding(labels), measure, left, width, gap)) {
            ctx.fillStyle = label.color
            ctx.fillText(label.text, label.tx, top - (MARKER_BAND_PX - 3) * px)
          }
          ctx.restore()
        },
      ],
    },
  }
}
