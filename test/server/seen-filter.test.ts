import { expect, test } from 'vitest'
import { SeenFilter } from '../../server/ingest/seen-filter.ts'

const filter = (memoryBytes: number, now: () => number = () => 0) =>
  new SeenFilter({ windowMs: 24 * 3_600_000, generations: 5, memoryBytes, now })

test('every id added is found; ids like a producer’s (run-1, run-2, …) give no false positive in a roomy filter', () => {
  const f = filter(8 * 1024 * 1024)
  for (let i = 0; i < 100_000; i++) f.add(`run-7-${i}`)
  for (let i = 0; i < 100_000; i++) expect(f.mightContain(`run-7-${i}`)).toBe(true)
  let falsePositives = 0
  for (let i = 0; i < 200_000; i++) if (f.mightContain(`run-8-${i}`)) falsePositives++
  expect(falsePositives).toBe(0)
})

test('at the README’s sizing (~9.6 bits per id) the false-positive rate stays near 1 %', () => {
  const f = filter(5 * 256 * 1024)
  const ids = Math.floor(f.bitsPerGeneration / 9.6)
  for (let i = 0; i < ids; i++) f.add(`ev-${i}`)
  let falsePositives = 0
  const probes = 200_000
  for (let i = 0; i < probes; i++) if (f.mightContain(`other-${i}`)) falsePositives++
  const rate = falsePositives / probes
  console.log(`${ids} ids in ${f.bitsPerGeneration} bits: ${(rate * 100).toFixed(2)} % false positives`)
  expect(rate).toBeGreaterThan(0.005)
  expect(rate).toBeLessThan(0.02)
})

test('with traffic every hour, an id is found for the whole 24 h window and forgotten within a slice after it', () => {
  let now = 0
  const f = filter(1024 * 1024, () => now)
  f.add('old')
  for (let hour = 1; hour <= 24; hour++) {
    now = hour * 3_600_000 - 1
    f.add(`traffic-${hour}`)
    expect(f.mightContain('old')).toBe(true)
  }
  for (let hour = 25; hour <= 31; hour++) {
    now = hour * 3_600_000
    f.add(`traffic-${hour}`)
  }
  expect(f.mightContain('old')).toBe(false)
})
