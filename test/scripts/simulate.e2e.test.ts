// The simulator against the real server: whatever the server acknowledged, its read API
// must show exactly (SPEC §2: ack means stored, exactly once, one order one count), and
// every invalid event must sit in the quarantine.

import { afterAll, beforeAll, expect, test } from 'vitest'
import { manualClock } from '../../scripts/sim/clock.ts'
import { parseCents } from '../../scripts/sim/money.ts'
import type { StreamTally } from '../../scripts/sim/tally.ts'
import { runSimulation, type SimulationResult } from '../../scripts/simulate.ts'
import { startTestServer } from '../helpers/server.ts'

interface Server {
  url: string
  ingestKey: string
  opsToken: string
  close(): Promise<void>
}

let server: Server

beforeAll(async () => {
  server = await startTestServer()
})

afterAll(async () => {
  await server?.close()
})

async function read<T>(path: string): Promise<T> {
  const response = await fetch(new URL(path, server.url), {
    headers: { authorization: `Bearer ${server.opsToken}` },
  })
  expect(response.status, `GET ${path}`).toBe(200)
  return (await response.json()) as T
}

/** The totals we compare, money as cents, from the API and from the tally. */
function fromApi(totals: Record<string, unknown>) {
  return {
    views: totals.views,
    viewers: totals.viewers,
    orders: totals.orders,
    items: totals.items,
    gmv: parseCents(totals.gmv),
    refunds: parseCents(totals.refunds),
  }
}

function fromTally(s: StreamTally) {
  return {
    views: s.views,
    viewers: s.viewers,
    orders: s.orders,
    items: s.items,
    gmv: s.gmvCents,
    refunds: s.refundsCents,
  }
}

test('every stream shows what the simulator had acknowledged, and every invalid event is quarantined', async () => {
  const result: SimulationResult = await runSimulation({
    url: server.url,
    key: server.ingestKey,
    streams: 6,
    rate: 400,
    seed: 2024,
    durationMs: 5000,
    backfill: 2,
    backfillRate: 3,
    dupRate: 0.05,
    lateRate: 0.03,
    invalidRate: 0.01,
    orderRepeatRate: 0.1,
    progress: false,
  })
  const c = result.tally.counters
  expect(c.failedRequests).toBe(0)
  expect(c.inconsistencyExamples).toEqual([])
  expect(c.acked).toBe(result.sent)
  expect(c.duplicates).toBeGreaterThan(0)
  expect(c.expected.rejected).toBeGreaterThan(0)

  const streams = result.tally.streams
  expect(streams.length).toBe(8)
  expect(streams.reduce((n, s) => n + s.orders, 0)).toBeGreaterThan(0)

  // Ack means stored: the numbers are there when the answer is (the rollups are written by
  // the same INSERT), so they are read once, with no grace.
  const mismatches: string[] = []
  for (const s of streams) {
    const stream = await read<{ totals: Record<string, unknown> }>(
      `/v1/streams/${encodeURIComponent(s.stream_id)}`,
    )
    const actual = fromApi(stream.totals)
    const expected = fromTally(s)
    if (JSON.stringify(actual, bigints) !== JSON.stringify(expected, bigints)) {
      mismatches.push(
        `${s.stream_id}: server ${JSON.stringify(actual, bigints)} vs tally ${JSON.stringify(expected, bigints)}`,
      )
    }
  }
  expect(mismatches).toEqual([])

  const quarantine = await read<{ total: number }>('/v1/quarantine?limit=1')
  expect(quarantine.total).toBe(c.expected.rejected)
}, 120_000)

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value
}

test('a simulator sending another currency than the server is told so at the first answer, with the fix', async () => {
  const lines: string[] = []
  const result = await runSimulation({
    url: server.url,
    key: server.ingestKey,
    streams: 2,
    rate: 300,
    seed: 77,
    durationMs: 1000,
    // a finished session has orders at once; a live one ramps up for minutes
    backfill: 1,
    backfillRate: 3,
    invalidRate: 0,
    // the server runs in USD
    currency: 'EUR',
    progress: { write: (text: string) => lines.push(text), isTTY: false },
  })
  expect(result.tally.counters.inconsistencies).toBeGreaterThan(0)
  const notes = lines.filter((line) => line.startsWith("sim: the server's answer disagrees"))
  // once, not once per answer
  expect(notes).toHaveLength(1)
  expect(notes[0]).toContain('differs from the deployment currency USD')
  expect(notes[0]).toContain('pass --currency')
  // said before the run ended, not only in its summary
  expect(lines.indexOf(notes[0]!)).toBeLessThan(lines.findIndex((line) => line.startsWith('sim done')))
}, 60_000)

test('the --currency hint comes with the first rejection naming the currency, whichever answer brings it', async () => {
  const lines: string[] = []
  await runSimulation({
    url: server.url,
    key: server.ingestKey,
    streams: 4,
    rate: 400,
    seed: 13,
    durationMs: 30_000,
    // invalid events the simulator makes in USD (the server's) are accepted: an answer that
    // disagrees before any rejection names the currency
    invalidRate: 0.05,
    currency: 'EUR',
    // one answer at a time, on a clock of its own: the same answers in the same order each run
    concurrency: 1,
    clock: manualClock(Date.now()),
    progress: { write: (text: string) => lines.push(text), isTTY: false },
  })
  const disagreement = lines.findIndex((line) => line.startsWith("sim: the server's answer disagrees"))
  const hints = lines.filter((line) => line.includes("the server's CURRENCY is USD: pass --currency USD"))
  // the case this test is for: the first disagreeing answer names no currency
  expect(lines[disagreement]).not.toContain('currency')
  expect(hints).toEqual([
    "sim: the server rejects the orders that name EUR, the simulator's currency; the server's CURRENCY is USD: pass --currency USD\n",
  ])
  expect(lines.indexOf(hints[0]!)).toBeGreaterThan(disagreement)
  expect(lines.indexOf(hints[0]!)).toBeLessThan(lines.findIndex((line) => line.startsWith('sim done')))
}, 60_000)
