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
          let lastRight = Number.NEGATIVE_INFINITY
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
            // Labels sit in the band above the plot (MARKER_BAND_PX of top padding), one row:
            // a label that would run into the previous one is left out (its line stays).
            const text = m.label.length > 28 ? `${m.label.slice(0, 27)}…` : m.label
            const textWidth = ctx.measureText(text).width
            // Kept over the plot, clear of the y-axis gutter and its tick values.
            const tx = Math.max(left, Math.min(x - textWidth / 2, left + width - textWidth))
            if (tx < lastRight + 6 * px) continue
            ctx.fillStyle = color
            ctx.fillText(text, tx, top - (MARKER_BAND_PX - 3) * px)
            lastRight = tx + textWidth
          }
          ctx.restore()
        },
      ],
    },
  }
}
