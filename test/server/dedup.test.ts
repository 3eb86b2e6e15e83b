import { afterAll, expect, test } from 'vitest'
import { buildApp } from '../../server/app.ts'
import { loadConfig } from '../../server/config.ts'
import { commitIds, Deduplicator } from '../../server/ingest/dedup.ts'
import { eventRowLine, secondsText } from '../../server/ingest/rows.ts'
import { validateEvent } from '../../server/ingest/validate.ts'
import type { EventRow } from '../../server/schemas/event.ts'
import { migrate } from '../../server/storage/migrate.ts'
import { logCapture } from '../helpers/log-capture.ts'
import {
  closeEmbeddedClients,
  embeddedDatabase,
  storeRows,
  TEST_KEY,
  testDataDir,
  wholeHourAgo,
} from '../helpers/server.ts'

afterAll(closeEmbeddedClients)

const NOW = wholeHourAgo(1)
const HOUR = 3_600_000

function row(id: string, fields: Record<string, unknown> = {}): EventRow {
  const v = validateEvent(
    { event_id: id, type: 'like', stream_id: 's', viewer_id: 'v', ts: NOW - HOUR, ...fields },
    NOW,
    'USD',
  )
  if (!v.ok) throw new Error(v.message)
  return v.event
}

test('after a restart the filters are refilled from storage: stored ids and orders are found, new ones cost no look-up', async () => {
  const client = await embeddedDatabase()
  await migrate(client, () => {})
  // Accepted 2 h ago, 30 h ago (outside the event_id window) and an order 3 days ago.
  const stored: [EventRow, number][] = [
    [row('recent'), NOW - 2 * HOUR],
    [row('day-old'), NOW - 30 * HOUR],
    [
      row('order-ev', {
        type: 'order_paid',
        viewer_id: 'v',
        product_id: 'p',
        order_id: 'o-1',
        amount: '5.00',
        ts: NOW - 72 * HOUR,
      }),
      NOW - 72 * HOUR,
    ],
  ]
  for (const [event, receivedAt] of stored)
    await storeRows(client, eventRowLine(event, secondsText(receivedAt)))

  const dedup = new Deduplicator(client, () => NOW, 4)
  expect(await dedup.warmUp()).toBe(3)
  expect(dedup.isWarm).toBe(true)

  const fresh = Array.from({ length: 500 }, (_, i) => row(`new-${i}`))
  const before = dedup.lookups
  expect((await dedup.whyDuplicate(fresh)).some(Boolean)).toBe(false)
  expect(dedup.lookups - before).toBe(0)

  const again = [
    row('recent'),
    row('day-old'),
    row('order-ev-2', {
      type: 'order_paid',
      viewer_id: 'v',
      product_id: 'p',
      order_id: 'o-1',
      amount: '9.00',
    }),
  ]
  // 'day-old' was accepted 30 h ago: outside the 24 h event_id window, so it counts again.
  expect(await dedup.whyDuplicate(again)).toEqual(['event_id', undefined, 'order_id'])
})

test('warm-up of an empty database is one statement, not a slice per hour of the window', async () => {
  const client = await embeddedDatabase()
  await migrate(client, () => {})
  let statements = 0
  const counting = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query') statements++
      return Reflect.get(target, prop, receiver)
    },
  })
  const dedup = new Deduplicator(counting, () => NOW, 4)
  expect(await dedup.warmUp()).toBe(0)
  expect(statements).toBe(1)
})

test('a precheck taken before a commit reached the filters still finds that commit’s ids and orders', async () => {
  const client = await embeddedDatabase()
  await migrate(client, () => {})
  const dedup = new Deduplicator(client, () => NOW, 4)
  await dedup.warmUp()
  const order = (id: string, orderId: string) =>
    row(id, { type: 'order_paid', viewer_id: 'v', product_id: 'p', order_id: orderId, amount: '5.00' })
  const committed = [row('a-1'), row('a-2'), order('a-3', 'o-a')]
  // A request comes in while the commit of `committed` has not yet reached the filters.
  const later = [row('a-1'), row('b-1'), order('b-2', 'o-a'), order('b-3', 'o-b')]
  const precheck = dedup.precheck(later)
  expect([...precheck.maybeId]).toEqual([0, 0, 0, 0])

  const remembered = dedup.remember(commitIds(committed))
  await storeRows(client, committed.map((e) => eventRowLine(e, secondsText(NOW))).join('\n'))
  await remembered
  const before = dedup.lookups
  expect(await dedup.whyDuplicate(later, precheck)).toEqual(['event_id', undefined, 'order_id', undefined])
  // Only the ids of the commit since the precheck were looked up in storage.
  expect(dedup.lookups - before).toBe(2)

  // A precheck taken now asks the filters, which hold the commit.
  const now = dedup.precheck(later)
  expect([...now.maybeId]).toEqual([1, 0, 0, 0])
  expect([...now.maybeOrder]).toEqual([0, 0, 1, 0])
  expect(await dedup.whyDuplicate(later, now)).toEqual(['event_id', undefined, 'order_id', undefined])
})

/** For events inserted straight into `events`: their ids where the rollups' write puts them. */
const COPY_IDS = 'INSERT INTO event_ids (event_id, received_at) SELECT event_id, received_at FROM events'

/** A fresh migrated database holding 300 000 events accepted an hour before `now`, and its name. */
async function filledDatabase(now: number) {
  const client = await embeddedDatabase()
  await migrate(client, () => {})
  await client.command({
    query: `INSERT INTO events (event_id, type, stream_id, viewer_id, ts, received_at)
            SELECT concat('fill-', toString(number)), 'like', 'fill-stream', 'v',
                   fromUnixTimestamp64Milli({at:Int64}, 'UTC'), fromUnixTimestamp64Milli({at:Int64}, 'UTC')
            FROM numbers(300000)`,
    query_params: { at: now - HOUR },
  })
  await client.command({ query: COPY_IDS })
  const [current] = await (
    await client.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' })
  ).json<{ db: string }>()
  return { client, database: current!.db }
}

test('filters holding more ids than their memory suits say so, with the memory that would do; with that memory they say nothing', async () => {
  // With 1 MiB the filters hold ~120 ids per block.
  const { client } = await filledDatabase(NOW)
  const small = new Deduplicator(client, () => NOW, 1)
  expect(await small.warmUp()).toBe(300_000)
  expect(small.falsePositiveRates.eventId).toBeGreaterThan(0.1)
  const overfull = small.overfull()
  expect(overfull).toBeDefined()
  expect(overfull!.falsePositiveRate).toBe(small.falsePositiveRates.eventId)
  expect(overfull!.message).toContain('INGEST_DEDUP_MEMORY_MB=1 suits')
  expect(overfull!.message).toContain(`INGEST_DEDUP_MEMORY_MB=${overfull!.suggestedMemoryMb} or more`)
  // ~10 bits per id at ~1 %: 300 000 ids in one generation of five, in three quarters of the memory.
  expect(overfull!.suggestedMemoryMb).toBeGreaterThanOrEqual(2)
  expect(overfull!.suggestedMemoryMb).toBeLessThanOrEqual(4)
  // What it costs: new ids the filters cannot rule out go to ClickHouse, and are new.
  const fresh = Array.from({ length: 1000 }, (_, i) => row(`fresh-${i}`))
  const before = small.lookups
  expect((await small.whyDuplicate(fresh)).some(Boolean)).toBe(false)
  expect(small.lookups - before).toBeGreaterThan(0)

  // The memory it suggests holds the same ids at ~1 %.
  const suggested = new Deduplicator(client, () => NOW, overfull!.suggestedMemoryMb)
  await suggested.warmUp()
  expect(suggested.falsePositiveRates.eventId).toBeLessThan(0.011)
  expect(suggested.overfull()).toBeUndefined()
  expect(suggested.memoryMbFor(0.01)).toBe(overfull!.suggestedMemoryMb)
})

test('after a restart a day of stored ids spreads over the generations it came in, not all into the newest', async () => {
  const client = await embeddedDatabase()
  await migrate(client, () => {})
  // 240 000 events accepted over the last 24 h, 10 000 an hour.
  await client.command({
    query: `INSERT INTO events (event_id, type, stream_id, viewer_id, ts, received_at)
            SELECT concat('day-', toString(number)), 'like', 's', 'v',
                   fromUnixTimestamp64Milli({now:Int64} - 1 - intDiv(number, 10000) * 3600000, 'UTC'),
                   fromUnixTimestamp64Milli({now:Int64} - 1 - intDiv(number, 10000) * 3600000, 'UTC')
            FROM numbers(240000)`,
    query_params: { now: NOW },
  })
  await client.command({ query: COPY_IDS })
  const dedup = new Deduplicator(client, () => NOW, 1)
  expect(await dedup.warmUp()).toBe(240_000)
  // In one generation of 1 MiB they would answer ~14 % (5 bits per id); spread, ~0.01 %.
  expect(dedup.falsePositiveRates.eventId).toBeLessThan(0.001)
  expect(dedup.overfull()).toBeUndefined()
  const before = dedup.lookups
  const fresh = Array.from({ length: 1000 }, (_, i) => row(`fresh-${i}`))
  expect((await dedup.whyDuplicate(fresh)).some(Boolean)).toBe(false)
  expect(dedup.lookups - before).toBeLessThanOrEqual(1)
  // Every stored id is still found.
  const stored = [0, 119_999, 239_999].map((n) => row(`day-${n}`))
  expect((await dedup.whyDuplicate(stored)).every((reason) => reason === 'event_id')).toBe(true)
})

test('a server whose filters warm up overfull says so in its log, with the memory to set', async () => {
  const { database } = await filledDatabase(Date.now())
  const { stream, lines } = logCapture()
  const config = loadConfig({
    LIVEWALL_INGEST_KEYS: TEST_KEY,
    LIVEWALL_TOKEN_SECRET: 'secret-0123456789abcdef',
    DATA_DIR: testDataDir(),
    CLICKHOUSE_DATABASE: database,
    INGEST_DEDUP_MEMORY_MB: '1',
  })
  const app = await buildApp({ config, logger: { level: 'warn', stream } as never })
  try {
    const overfull = (l: { msg: string }) => l.msg.startsWith('the dedup filters hold more ids')
    await expect.poll(() => lines.some(overfull), { timeout: 30_000, interval: 100 }).toBe(true)
    const line = lines.find(overfull)!
    expect(line.level).toBe(40) // warn
    expect(line.msg).toContain(`INGEST_DEDUP_MEMORY_MB=${line.suggestedMemoryMb} or more`)
    expect(line.suggestedMemoryMb).toBeGreaterThan(1)
    expect(lines.filter(overfull)).toHaveLength(1)
  } finally {
    await app.close()
  }
})

test('an overfull notice is news once: again when the memory it names has doubled, or after a rotation cleared it', async () => {
  const client = await embeddedDatabase()
  await migrate(client, () => {})
  let now = NOW
  const dedup = new Deduplicator(client, () => now, 1)
  await dedup.warmUp() // (nothing stored: warm, and empty)
  let next = 0
  const accept = async (count: number) => {
    const ids = new Set(Array.from({ length: count }, () => `n-${next++}`))
    await dedup.remember({ ids, orders: new Set() })
  }
  await accept(100_000)
  expect(dedup.overfullNotice()).toBeUndefined() // ~12 bits per id: under the threshold
  await accept(150_000)
  const first = dedup.overfullNotice()
  expect(first?.falsePositiveRate).toBeGreaterThan(0.02)
  expect(dedup.overfullNotice()).toBeUndefined() // the same news
  await accept(50_000)
  expect(dedup.overfull()!.suggestedMemoryMb).toBeLessThan(first!.suggestedMemoryMb * 2)
  expect(dedup.overfullNotice()).toBeUndefined() // worse, not twice the memory
  await accept(400_000)
  const second = dedup.overfullNotice()
  expect(second!.suggestedMemoryMb).toBeGreaterThanOrEqual(first!.suggestedMemoryMb * 2)
  // A day later those ids have left the window: the rate is back under 1 %, the notice
  // forgets, and the next fill is news again.
  for (let hour = 1; hour <= 31; hour++) {
    now = NOW + hour * HOUR
    await accept(1)
  }
  expect(dedup.falsePositiveRates.eventId).toBeLessThan(0.01)
  expect(dedup.overfullNotice()).toBeUndefined()
  await accept(250_000)
  expect(dedup.overfullNotice()).toBeDefined()
})
