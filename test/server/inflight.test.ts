import { expect, test } from 'vitest'
import { InflightBudget } from '../../server/ingest/inflight.ts'

const MiB = 1024 * 1024

test("a key's share is the budget divided among the keys, at least one full body, at most the budget", () => {
  expect(new InflightBudget(256 * MiB, 1, 5 * MiB).perKeyBytes).toBe(256 * MiB)
  expect(new InflightBudget(256 * MiB, 4, 5 * MiB).perKeyBytes).toBe(64 * MiB)
  expect(new InflightBudget(256 * MiB, 200, 5 * MiB).perKeyBytes).toBe(5 * MiB)
  expect(new InflightBudget(1 * MiB, 200, 5 * MiB).perKeyBytes).toBe(1 * MiB)
})

test("a body is refused past its key's share while the key holds others, and past the budget while anyone does", () => {
  const budget = new InflightBudget(8 * MiB, 2, 1 * MiB)
  const held = budget.open('a')
  expect(held.grow(3 * MiB)).toBeUndefined()
  expect(budget.open('a').grow(2 * MiB)).toBe('key')
  const other = budget.open('b')
  expect(other.grow(4 * MiB)).toBeUndefined()
  // a body that grows counts its own bytes once: alone in its key's share it may go on
  expect(held.grow(1 * MiB)).toBeUndefined()
  expect(held.grow(1)).toBe('server')
  held.release()
  held.release() // once
  expect(budget.bytes).toBe(4 * MiB)
  expect(budget.keyBytes('a')).toBe(0)
  other.release()
  // alone, a body may pass the budget (one body over a small budget must still go through)
  expect(budget.open('a').grow(10 * MiB)).toBeUndefined()
  expect(budget.open('c').grow(1)).toBe('server')
})
