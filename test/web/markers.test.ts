import type uPlot from 'uplot'
import { expect, test } from 'vitest'
import { type MarkerLabel, mergeCoinciding, placeLabels } from '../../web/src/charts/markers.ts'
import { bucketIdx } from '../../web/src/charts/stream-charts.ts'
import { bars } from '../../web/src/charts/theme.ts'

// Every character 6 px wide.
const measure = (text: string) => text.length * 6

test('a flash sale at the moment of its product pin is labelled, the pin is not', () => {
  const labels: MarkerLabel[] = [
    { x: 400, text: 'Pin p-denim-jacket', kind: 'product_pin' },
    { x: 400, text: 'flash sale starts', kind: 'marker' },
    { x: 700, text: 'Pin p-boots', kind: 'product_pin' },
  ]
  const placed = placeLabels(labels, measure, 50, 800, 6)
  expect(placed.map((l) => l.text)).toEqual(['flash sale starts', 'Pin p-boots'])
})

test('labels stay over the plot, clear of the y-axis gutter, and never overlap', () => {
  const labels: MarkerLabel[] = [
    { x: 52, text: 'stream opens', kind: 'marker' },
    { x: 845, text: 'last call', kind: 'marker' },
    { x: 90, text: 'Pin p-1', kind: 'product_pin' },
  ]
  const placed = placeLabels(labels, measure, 50, 800, 6)
  expect(placed.map((l) => [l.text, l.tx])).toEqual([
    ['stream opens', 50],
    ['last call', 850 - 9 * 6],
  ])
})

test('lines at the same place share one label, the marker first, with +N for the rest', () => {
  const labels: MarkerLabel[] = [
    { x: 400, text: 'Pin linen-shirt', kind: 'product_pin' },
    { x: 401, text: 'flash sale starts', kind: 'marker' },
    { x: 402, text: 'Pin sandals', kind: 'product_pin' },
    { x: 600, text: 'Pin cap', kind: 'product_pin' },
  ]
  expect(mergeCoinciding(labels).map((l) => [l.text, l.x])).toEqual([
    ['flash sale starts +2', 401],
    ['Pin cap', 600],
  ])
  // and so both moments are named once placed
  expect(placeLabels(mergeCoinciding(labels), measure, 50, 800, 6).map((l) => l.text)).toEqual([
    'flash sale starts +2',
    'Pin cap',
  ])
})

test('the chart readout reads the bucket under the cursor: its bar, and the curves at its end', () => {
  // boundaries 0, 10, 20, 30 s: three buckets; series 1 the bars, 2 a curve
  const u = { data: [[0, 10_000, 20_000, 30_000]], series: [{}, { paths: bars }, {}] } as unknown as uPlot
  // a quarter and three quarters into the second bucket: the nearest point differs, the bucket not
  for (const [closest, x] of [
    [1, 12_500],
    [2, 17_500],
  ] as const) {
    expect(bucketIdx(u, 0, closest, x)).toBe(1)
    expect(bucketIdx(u, 1, closest, x)).toBe(1)
    expect(bucketIdx(u, 2, closest, x)).toBe(2)
  }
  // past the last boundary: the last point, never beyond
  expect(bucketIdx(u, 2, 3, 31_000)).toBe(3)
  expect(bucketIdx(u, 1, 3, 31_000)).toBe(3)
})
