import { expect, test } from 'vitest'
import { type MarkerLabel, mergeCoinciding, placeLabels } from '../../web/src/charts/markers.ts'

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
