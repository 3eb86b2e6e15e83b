import { type AddressInfo, createServer } from 'node:net'
import { describe, expect, test } from 'vitest'
import { type Clock, manualClock } from '../../scripts/sim/clock.ts'
import { runSimulation } from '../../scripts/sim/run.ts'
import { IngestError } from '../../scripts/sim/sender.ts'
import { type Fault, fakeIngest } from './fake-ingest.ts'

const START = Date.parse('2025-03-14T18:00:00.000Z')
const KEY = 'test-key'

/** A clock that moves 1 ms whenever it is read, as real time would under a busy loop. */
function tickingClock(startMs: number): Clock {
  let now = startMs
  return {
    now: () => now++,
    sleep: async (ms) => {
      now += Math.max(0, ms)
    },
  }
}

describe('runSimulation against an in-memory ingest', () => {
  test('the tally equals what a SPEC-following server stores, through faults, duplicates and invalid events', async () => {
    const clock = manualClock(START)
    const faults = new Map<number, Fault>([
      [3, 'unavailable'],
      [5, 'lost_answer'],
      [8, 'rate_limited'],
      [12, 'refused'],
      [20, 'lost_answer'],
    ])
    const server = fakeIngest({ key: KEY, now: clock.now, faults })
    const result = await runSimulation({
      url: 'http://livewall.test',
      key: KEY,
      streams: 6,
      rate: 400,
      seed: 9,
      durationMs: 45_000,
      backfill: 2,
      backfillRate: 4,
      dupRate: 0.05,
      lateRate: 0.05,
      invalidRate: 0.01,
      orderRepeatRate: 0.2,
      batch: 300,
      clock,
      fetch: server.fetch,
      progress: false,
    })

    const c = result.tally.counters
    expect(result.retries).toBe(faults.size)
    expect(c.failedRequests).toBe(0)
    expect(c.inconsistencies).toBe(0)
    expect(c.acked).toBe(result.sent)
    expect(c.accepted + c.duplicates + c.rejected).toBe(c.acked)
    expect(c.expected.rejected).toBe(server.rejectedAnswered)
    expect(c.rejected).toBe(c.expected.rejected)
    // retried requests whose first answer was lost come back as duplicates
    expect(c.accepted).toBeLessThanOrEqual(c.expected.accepted)

    expect(result.tally.streams.length).toBe(8)
    expect(result.liveStreamIds.length).toBe(6)
    let orders = 0
    for (const s of result.tally.streams) {
      const stored = server.totals.get(s.stream_id)
      expect(stored, s.stream_id).toBeDefined()
      expect({
        views: s.views,
        viewers: s.viewers,
        orders: s.orders,
        items: s.items,
        gmv: s.gmvCents,
        refunds: s.refundsCents,
      }).toEqual({
        views: stored?.views,
        viewers: stored?.viewers.size,
        orders: stored?.orders,
        items: stored?.items,
        gmv: stored?.gmvCents,
        refunds: stored?.refundsCents,
      })
      orders += s.orders
    }
    expect(orders).toBeGreaterThan(50)
    expect(result.generator.live.orderRepeats).toBeGreaterThan(0)
    expect(result.generator.backfill?.sessionsEnded).toBe(2)
  })

  test('paces live traffic at --rate events per second', async () => {
    const clock = manualClock(START)
    const server = fakeIngest({ key: KEY, now: clock.now })
    const result = await runSimulation({
      url: 'http://livewall.test',
      key: KEY,
      rate: 200,
      seed: 1,
      durationMs: 60_000,
      dupRate: 0,
      lateRate: 0,
      invalidRate: 0,
      orderRepeatRate: 0,
      clock,
      fetch: server.fetch,
      progress: false,
    })
    // Paced while live; at the end the sessions still live are closed (viewers leave, stream_end).
    const paced = result.sent - result.generator.live.closing
    expect(paced).toBeGreaterThan(0.97 * 200 * 60)
    expect(paced).toBeLessThan(1.03 * 200 * 60)
    expect(result.generator.live.closing).toBeGreaterThan(0)
    // one request per 200 ms flush at most, so a wall updates smoothly
    expect(server.requests).toBeGreaterThanOrEqual(250)
  })

  test('--rate max fills whole batches', async () => {
    const clock = tickingClock(START)
    const server = fakeIngest({ key: KEY, now: clock.now })
    const result = await runSimulation({
      url: 'http://livewall.test',
      key: KEY,
      rate: 'max',
      seed: 2,
      durationMs: 3000,
      batch: 250,
      clock,
      fetch: server.fetch,
      progress: false,
    })
    expect(result.sent).toBeGreaterThan(2000)
    expect(result.tally.counters.inconsistencies).toBe(0)
    expect(server.requests).toBeLessThanOrEqual(Math.ceil(result.sent / 250) + 2)
  })

  test('a stop signal ends the run cleanly with everything queued sent', async () => {
    const clock = manualClock(START)
    const server = fakeIngest({ key: KEY, now: clock.now })
    const stop = new AbortController()
    const realSleep = clock.sleep
    clock.sleep = async (ms, signal) => {
      await realSleep(ms, signal)
      if (clock.now() >= START + 5000) stop.abort()
    }
    const result = await runSimulation({
      url: 'http://livewall.test',
      key: KEY,
      seed: 3,
      clock,
      fetch: server.fetch,
      progress: false,
      signal: stop.signal,
    })
    expect(result.sent).toBeGreaterThan(2000)
    expect(result.tally.counters.acked).toBe(result.sent)
  })

  test('a wrong key stops the run with an error saying so', async () => {
    const clock = manualClock(START)
    const server = fakeIngest({ key: KEY, now: clock.now })
    const run = runSimulation({
      url: 'http://livewall.test',
      key: 'wrong',
      seed: 4,
      durationMs: 10_000,
      clock,
      fetch: server.fetch,
      progress: false,
    })
    await expect(run).rejects.toBeInstanceOf(IngestError)
    await expect(run).rejects.toMatchObject({ code: 'unauthorized' })
  })

  test('writes a progress line per update and a summary', async () => {
    const clock = manualClock(START)
    const server = fakeIngest({ key: KEY, now: clock.now })
    let written = ''
    await runSimulation({
      url: 'http://livewall.test',
      key: KEY,
      seed: 5,
      durationMs: 2000,
      clock,
      fetch: server.fetch,
      progress: { write: (text: string) => (written += text), isTTY: false },
    })
    expect(written).toMatch(
      /^sim done in \d+s: [\d,]+ events sent, [\d,]+ accepted, [\d,]+ duplicates, [\d,]+ rejected/m,
    )
  })
})

describe('a server that is down', () => {
  test('the run ends after its duration and a grace, saying why requests were retried', async () => {
    const lines: string[] = []
    // A port nothing listens on any more: every attempt is refused. Without the grace,
    // backoff (up to 10 s a step, 8 retries) would keep the run going for over a minute.
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const { port } = probe.address() as AddressInfo
    await new Promise((resolve) => probe.close(resolve))
    const result = await runSimulation({
      url: `http://127.0.0.1:${port}`,
      key: KEY,
      rate: 50,
      seed: 7,
      durationMs: 500,
      stopGraceMs: 1_000,
      progress: { write: (text: string) => lines.push(text) },
    })
    expect(result.tally.counters.failedRequests).toBeGreaterThan(0)
    expect(result.tally.counters.accepted).toBe(0)
    expect(lines.join('')).toMatch(/retries \d+ \(last: .*ECONNREFUSED/)
  }, 30_000)
})
