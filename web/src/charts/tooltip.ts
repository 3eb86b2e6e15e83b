// uPlot plugin: a small readout of the hovered bucket (the built-in legend table would change
// the chart's height; this floats over the plot instead).

import type uPlot from 'uplot'

export type ValueFormatter = (seriesIndex: number, value: number | null | undefined) => string
export type XFormatter = (x: number) => string

export function tooltipPlugin(formatX: XFormatter, formatValue: ValueFormatter): uPlot.Plugin {
  let box: HTMLDivElement | null = null
  return {
    hooks: {
      init: [
        (u) => {
          box = document.createElement('div')
          box.className = 'chart-tip'
          box.style.display = 'none'
          u.over.appendChild(box)
          u.over.addEventListener('mouseleave', () => {
            if (box) box.style.display = 'none'
          })
        },
      ],
      setCursor: [
        (u) => {
          if (!box) return
          const idx = u.cursor.idx
          const left = u.cursor.left ?? -1
          if (idx == null || left < 0) {
            box.style.display = 'none'
            return
          }
          // Each series at its own index (`cursor.dataIdx`: a bucket's bar, the curves at its
          // end), under the bucket's span when the x are bucket boundaries.
          const at = u.cursor.idxs ?? []
          const i = at[0] ?? idx
          const x = u.data[0][i]
          if (x == null) return
          const end = u.data[0][i + 1]
          const lines = [end == null ? formatX(x) : `${formatX(x)} – ${formatX(end)}`]
          for (let s = 1; s < u.series.length; s++) {
            const series = u.series[s]
            if (!series?.show) continue
            const j = at[s] ?? idx
            lines.push(`${String(series.label ?? '')}: ${formatValue(s, u.data[s]?.[j] as number | null)}`)
          }
          box.textContent = lines.join('\n')
          box.style.display = 'block'
          // Beside the cursor, on the side with more room, and never past the plot's edges
          // (on a phone the readout is wider than the room left of a tap on the right).
          const overWidth = u.over.clientWidth
          const width = box.offsetWidth
          const wanted = left > overWidth / 2 ? left - 12 - width : left + 12
          box.style.left = `${Math.max(0, Math.min(wanted, overWidth - width))}px`
        },
      ],
    },
  }
}
