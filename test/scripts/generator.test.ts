import { beforeAll, describe, expect, test } from 'vitest'
import { VERTICALS, type Vertical } from '../../scripts/sim/catalog.ts'
import type { SimEvent, WireEvent } from '../../scripts/sim/events.ts'
import { tsMillis } from '../../scripts/sim/events.ts'
import { type GeneratorOptions, TrafficGenerator } from '../../scripts/sim/generator.ts'
import { parseCents } from '../../scripts/sim/money.ts'
import { planSession } from '../../scripts/sim/plan.ts'
import { Rng } from '../../scripts/sim/rng.ts'
import { hasAtMostTwoDecimals, specViolations } from './spec-event.ts'

const START = Date.parse('2025-03-14T18:00:00.000Z')
const MINUTE = 60_000
/** deterministic, but any seed must pass: SIM_TEST_SEED=7 npx vitest run test/scripts */
const SEED = Number(process.env.SIM_TEST_SEED ?? 42)

function liveGenerator(overrides: Partial<GeneratorOptions> = {}): TrafficGenerator {
  return new TrafficGenerator({
    seed: SEED,
    startMs: START,
    mode: 'live',
    streams: 12,
    eventsPerSecond: 500,
    ...overrides,
  })
}

/** Drives a live generator like the paced runner: `rate` events/s in 100 ms steps. */
function runLive(gen: TrafficGenerator, minutes: number, rate = 500): SimEvent[] {
  const out: SimEvent[] = []
  const steps = (minutes * MINUTE) / 100
  for (let i = 1; i <= steps; i++) out.push(...gen.advance(START + i * 100, rate / 10))
  out.push(...gen.finish())
  return out
}

/** Drives a backfill generator as the runner does: whole simulated seconds, `rate` events/s a session. */
function runBackfill(gen: TrafficGenerator, rate: number): SimEvent[] {
  const out: SimEvent[] = []
  let carry = 0
  for (let t = gen.cursor; !gen.done; ) {
    t += 1000
    carry += rate * gen.liveSessions
    const batch = gen.advance(t, Math.floor(carry))
    carry -= batch.length
    out.push(...batch)
  }
  out.push(...gen.finish())
  return out
}

function firstEvents(seed: number, count: number): WireEvent[] {
  const gen = liveGenerator({
    seed,
    dupRate: 0.02,
    lateRate: 0.02,
    invalidRate: 0.005,
    orderRepeatRate: 0.02,
  })
  const out: WireEvent[] = []
  for (let t = START + 100; out.length < count; t += 100) {
    for (const sim of gen.advance(t, 50)) out.push(sim.event)
  }
  return out.slice(0, count)
}

describe('determinism', () => {
  test('the same seed and clock give the same events, in the same order, with the same ids', () => {
    const a = firstEvents(SEED, 5000)
    const b = firstEvents(SEED, 5000)
    expect(a).toHaveLength(5000)
    expect(b).toEqual(a)
    expect(a[0]?.event_id).toBe(`e-${SEED}-${Math.floor(START / 1000).toString(36)}-1`)
  })

  test('backfill: the same seed and clock give the same finished sessions, event for event', () => {
    const backfill = (seed: number) => {
      const gen = new TrafficGenerator({
        seed,
        startMs: START,
        mode: 'backfill',
        streams: 2,
        eventsPerSecond: 3,
        dupRate: 0.02,
        lateRate: 0.02,
        invalidRate: 0.01,
        orderRepeatRate: 0.02,
      })
      return runBackfill(gen, 3).map((sim) => sim.event)
    }
    const a = backfill(SEED)
    expect(a.length).toBeGreaterThan(1000)
    expect(a.filter((e) => e.type === 'stream_end')).toHaveLength(2)
    expect(backfill(SEED)).toEqual(a)
    expect(backfill(SEED + 1).map((e) => e.event_id)).not.toEqual(a.map((e) => e.event_id))
  })

  test('a different seed gives different events', () => {
    const a = firstEvents(SEED, 2000)
    const b = firstEvents(SEED + 1, 2000)
    expect(b.map((e) => e.event_id)).not.toEqual(a.map((e) => e.event_id))
    expect(b.map((e) => `${e.type} ${e.viewer_id}`)).not.toEqual(a.map((e) => `${e.type} ${e.viewer_id}`))
  })

  test('a later start clock gives other ids, so a rerun of a seed is not all duplicates', () => {
    const a = liveGenerator().advance(START + 1000, 100)
    const b = liveGenerator({ startMs: START + 60_000 }).advance(START + 61_000, 100)
    const ids = new Set(a.map((s) => s.event.event_id))
    expect(b.some((s) => ids.has(s.event.event_id))).toBe(false)
  })

  test('anomaly rates change what is added, never the traffic itself', () => {
    const key = (e: WireEvent) => JSON.stringify(e)
    const clean = runLive(liveGenerator(), 2).map((s) => key(s.event))
    const noisy = runLive(
      liveGenerator({ dupRate: 0.05, lateRate: 0.05, invalidRate: 0.02, orderRepeatRate: 0.05 }),
      2,
    ).filter((s) => s.note === 'traffic')
    expect(noisy.map((s) => key(s.event)).sort()).toEqual(clean.slice().sort())
  })
})

describe('a 10-minute live run with every anomaly on', () => {
  let events: SimEvent[]
  let gen: TrafficGenerator
  const endMs = START + 10 * MINUTE

  beforeAll(() => {
    gen = liveGenerator({ dupRate: 0.02, lateRate: 0.02, invalidRate: 0.005, orderRepeatRate: 0.02 })
    events = runLive(gen, 10)
  })

  test('sends about --rate events per second', () => {
    expect(events.length).toBeGreaterThan(0.95 * 500 * 600)
    expect(events.length).toBeLessThan(1.1 * 500 * 600)
  })

  test('every event follows SPEC §1 except the deliberately invalid ones, which break it', () => {
    const wrong: string[] = []
    for (const sim of events) {
      const problems = specViolations(sim.event, { nowMs: endMs })
      if (sim.valid && problems.length > 0) wrong.push(`${sim.event.event_id}: ${problems.join(', ')}`)
      if (!sim.valid && problems.length === 0)
        wrong.push(`${sim.event.event_id} (${sim.invalidReason}) passes`)
    }
    expect(wrong.slice(0, 5)).toEqual([])
  })

  test('invalid events are about --invalid-rate of all, with every kind of mistake', () => {
    const invalid = events.filter((s) => !s.valid)
    expect(invalid.length / events.length).toBeGreaterThan(0.003)
    expect(invalid.length / events.length).toBeLessThan(0.008)
    expect(new Set(invalid.map((s) => s.invalidReason)).size).toBe(8)
  })

  test('stream_start comes before every other event of its stream, in order and in time', () => {
    const started = new Map<string, number>()
    const wrong: string[] = []
    for (const { event, valid } of events) {
      if (event.stream_id === undefined) continue
      if (event.type === 'stream_start') {
        if (!started.has(event.stream_id)) started.set(event.stream_id, tsMillis(event.ts))
        continue
      }
      const startTs = started.get(event.stream_id)
      if (startTs === undefined) wrong.push(`${event.event_id} sent before its stream_start`)
      else if (valid && tsMillis(event.ts) < startTs)
        wrong.push(`${event.event_id} happens before its stream_start`)
    }
    expect(wrong.slice(0, 5)).toEqual([])
    expect(started.size).toBe(12)
  })

  test('money has at most 2 decimals, and an order costs a whole number of cents per item', () => {
    for (const { event, valid } of events) {
      if (!valid || event.amount === undefined) continue
      expect(hasAtMostTwoDecimals(event.amount), String(event.amount)).toBe(true)
      const cents = parseCents(event.amount)
      expect(cents !== null && cents >= 0n).toBe(true)
      if (event.type === 'order_paid') expect((cents as bigint) % BigInt(event.quantity ?? 1)).toBe(0n)
    }
  })

  test('a duplicate is an exact copy of an event sent before it', () => {
    const seen = new Map<string, WireEvent>()
    let duplicates = 0
    for (const sim of events) {
      const first = seen.get(sim.event.event_id)
      if (sim.note === 'duplicate') {
        duplicates++
        expect(sim.sentTwice).toBe(true)
        // the original may be a late one still held back: then the copy goes first
        if (first) expect(sim.event).toEqual(first)
      } else if (first) {
        // the late original of an id whose copy went first: the tally must know it comes twice
        expect(first).toEqual(sim.event)
        expect(sim.sentTwice).toBe(true)
      }
      if (!first) seen.set(sim.event.event_id, sim.event)
    }
    expect(duplicates / events.length).toBeGreaterThan(0.015)
    expect(duplicates / events.length).toBeLessThan(0.025)
  })

  test('a repeated order_paid has a new event_id, the same order_id and amount, and a later ts', () => {
    const isRepeat = (e: WireEvent) => /-r\d+$/.test(e.event_id)
    const paid = new Map<string, WireEvent>()
    const repeats = events.filter((s) => s.valid && isRepeat(s.event))
    for (const { event, valid } of events) {
      if (valid && event.type === 'order_paid' && !isRepeat(event)) paid.set(event.order_id as string, event)
    }
    expect(repeats.length).toBeGreaterThan(0)
    for (const { event } of repeats) {
      const original = paid.get(event.order_id as string)
      expect(original).toBeDefined()
      expect(event.event_id).not.toBe(original?.event_id)
      expect(parseCents(event.amount)).toBe(parseCents(original?.amount))
      expect(event.quantity).toBe(original?.quantity)
      expect(tsMillis(event.ts)).toBeGreaterThan(tsMillis(original?.ts ?? 0))
    }
  })

  test('late events carry a ts from seconds to minutes before they are sent', () => {
    const late = events.filter((s) => s.late)
    expect(late.length / events.length).toBeGreaterThan(0.015)
    for (const sim of late) {
      const lag = sim.emittedAt - tsMillis(sim.event.ts)
      expect(lag).toBeGreaterThanOrEqual(0)
      if (sim.emittedAt < endMs) {
        expect(lag).toBeGreaterThanOrEqual(3000)
        expect(lag).toBeLessThanOrEqual(240_000)
      }
    }
  })

  test('the funnel holds together: paid after carted, refunded after paid, never more than paid', () => {
    const valid = events.filter((s) => s.valid).map((s) => s.event)
    const byTime = valid.slice().sort((a, b) => tsMillis(a.ts) - tsMillis(b.ts))
    const carted = new Set<string>()
    const paid = new Map<string, bigint>()
    for (const e of byTime) {
      const key = `${e.stream_id} ${e.viewer_id} ${e.product_id}`
      if (e.type === 'add_to_cart') carted.add(key)
      if (e.type === 'order_paid') {
        expect(carted.has(key), `${e.event_id} paid without a cart`).toBe(true)
        paid.set(e.order_id as string, parseCents(e.amount) as bigint)
      }
      if (e.type === 'order_refunded') {
        const amount = paid.get(e.order_id as string)
        expect(amount, `${e.event_id} refunds an unknown order`).toBeDefined()
        expect(parseCents(e.amount) as bigint).toBeLessThanOrEqual(amount as bigint)
      }
    }
    expect(paid.size).toBeGreaterThan(100)
  })

  test('viewers leave only after they joined', () => {
    const online = new Map<string, Set<string>>()
    // in the order they happened: late ones were sent later, but their counter tells
    const counter = (e: WireEvent) => Number(e.event_id.slice(e.event_id.lastIndexOf('-') + 1))
    const ordered = events
      .filter((s) => s.note === 'traffic')
      .map((s) => s.event)
      .sort((a, b) => counter(a) - counter(b))
    const wrong: string[] = []
    for (const e of ordered) {
      const room = online.get(e.stream_id as string) ?? new Set<string>()
      online.set(e.stream_id as string, room)
      if (e.type === 'view_start') {
        if (room.has(e.viewer_id as string)) wrong.push(`${e.event_id}: ${e.viewer_id} joins twice`)
        room.add(e.viewer_id as string)
      }
      if (e.type === 'view_end' && !room.delete(e.viewer_id as string)) {
        wrong.push(`${e.event_id}: ${e.viewer_id} leaves without having joined`)
      }
    }
    expect(wrong.slice(0, 5)).toEqual([])
  })

  test('flash sales visibly spike the click-through rate', () => {
    const windows = new Map<string, [number, number][]>()
    for (const { event } of events) {
      if (event.type !== 'marker' || !event.stream_id) continue
      const list = windows.get(event.stream_id) ?? []
      windows.set(event.stream_id, list)
      if (event.label === 'flash sale starts') list.push([tsMillis(event.ts), endMs])
      if (event.label === 'flash sale ends') {
        const open = list[list.length - 1]
        if (open) open[1] = tsMillis(event.ts)
      }
    }
    expect(windows.size).toBeGreaterThanOrEqual(10)
    // clicks per impression inside a sale vs outside, over every stream
    const rate = { sale: { clicks: 0, impressions: 0 }, normal: { clicks: 0, impressions: 0 } }
    for (const { event, note } of events) {
      if (note !== 'traffic' || (event.type !== 'product_click' && event.type !== 'product_impression'))
        continue
      const t = tsMillis(event.ts)
      const inSale = (windows.get(event.stream_id as string) ?? []).some(([from, to]) => t >= from && t < to)
      const bucket = inSale ? rate.sale : rate.normal
      if (event.type === 'product_click') bucket.clicks++
      else bucket.impressions++
    }
    const saleCtr = rate.sale.clicks / rate.sale.impressions
    const normalCtr = rate.normal.clicks / rate.normal.impressions
    expect(saleCtr).toBeGreaterThan(1.8 * normalCtr)
  })

  test('viewers from Following and Search buy more readily than For You’s passers-by', () => {
    // Credited as the server credits them: to the source of the buyer's latest view before.
    const ordered = events
      .filter(({ note }) => note === 'traffic')
      .map(({ event }) => event)
      .filter((e) => e.type === 'view_start' || e.type === 'order_paid')
      .sort((a, b) => tsMillis(a.ts) - tsMillis(b.ts))
    const viewers = new Map<string, Set<string>>()
    const buyers = new Map<string, Set<string>>()
    const lastSource = new Map<string, string>()
    const add = (map: Map<string, Set<string>>, source: string, viewer: string) =>
      map.set(source, (map.get(source) ?? new Set()).add(viewer))
    for (const e of ordered) {
      const viewer = `${e.stream_id} ${e.viewer_id}`
      if (e.type === 'view_start') {
        lastSource.set(viewer, e.source ?? '')
        add(viewers, e.source ?? '', viewer)
      } else if (lastSource.has(viewer)) add(buyers, lastSource.get(viewer) as string, viewer)
    }
    const conversion = (source: string) =>
      (buyers.get(source)?.size ?? 0) / (viewers.get(source)?.size as number)
    expect(buyers.get('for_you')?.size).toBeGreaterThan(20)
    expect(conversion('following')).toBeGreaterThan(2 * conversion('for_you'))
    expect(conversion('search')).toBeGreaterThan(2 * conversion('for_you'))
  })

  test('a viral stream draws several times the audience of a typical one', () => {
    // once the surge is on (it starts 1–3 minutes in and takes 2): the last 4 minutes
    const views = new Map<string, number>()
    for (const { event, note } of events) {
      if (note === 'traffic' && event.type === 'view_start' && tsMillis(event.ts) >= endMs - 4 * MINUTE) {
        views.set(event.stream_id as string, (views.get(event.stream_id as string) ?? 0) + 1)
      }
    }
    const counts = [...views.values()].sort((a, b) => a - b)
    const median = counts[Math.floor(counts.length / 2)] as number
    expect(counts[counts.length - 1]).toBeGreaterThan(2.5 * median)
  })

  test('streams carry creator, title, vertical, and campaign metadata', () => {
    const starts = events
      .filter((s) => s.event.type === 'stream_start' && s.note === 'traffic')
      .map((s) => s.event)
    expect(new Set(starts.map((e) => e.vertical))).toEqual(
      new Set(['Fashion', 'Beauty', 'Home & Living', 'Other']),
    )
    for (const e of starts) {
      expect(e.creator_id).toMatch(/^c-/)
      expect(e.title?.length).toBeGreaterThan(0)
    }
    expect(starts.some((e) => e.campaign_id)).toBe(true)
  })
})

describe('backfill', () => {
  const now = START
  let events: SimEvent[]
  let gen: TrafficGenerator

  beforeAll(() => {
    gen = new TrafficGenerator({
      seed: SEED,
      startMs: now,
      mode: 'backfill',
      streams: 4,
      eventsPerSecond: 10,
    })
    events = runBackfill(gen, 10)
  })

  test('writes N finished sessions of 20–60 minutes within the past hours', () => {
    const starts = events.filter((s) => s.event.type === 'stream_start')
    const ends = events.filter((s) => s.event.type === 'stream_end')
    expect(starts).toHaveLength(4)
    expect(ends).toHaveLength(4)
    for (const start of starts) {
      const end = ends.find((s) => s.event.stream_id === start.event.stream_id)
      expect(end).toBeDefined()
      const minutes = (tsMillis(end?.event.ts ?? 0) - tsMillis(start.event.ts)) / MINUTE
      expect(minutes).toBeGreaterThanOrEqual(20)
      expect(minutes).toBeLessThanOrEqual(60)
      expect(tsMillis(start.event.ts)).toBeGreaterThanOrEqual(now - 6 * 60 * MINUTE)
      expect(tsMillis(end?.event.ts ?? 0)).toBeLessThanOrEqual(now - 10 * MINUTE)
    }
  })

  test('every event of a session lies between its start and end, and is valid at the time of the run', () => {
    const spans = new Map<string, [number, number]>()
    for (const { event } of events) {
      if (event.type === 'stream_start') spans.set(event.stream_id as string, [tsMillis(event.ts), Infinity])
      if (event.type === 'stream_end') {
        const span = spans.get(event.stream_id as string)
        if (span) span[1] = tsMillis(event.ts)
      }
    }
    const wrong: string[] = []
    for (const sim of events) {
      if (!sim.valid) continue
      const problems = specViolations(sim.event, { nowMs: now })
      if (problems.length > 0) wrong.push(`${sim.event.event_id}: ${problems.join(', ')}`)
      const [from, to] = spans.get(sim.event.stream_id as string) ?? [0, 0]
      const t = tsMillis(sim.event.ts)
      if (t < from || t > to) wrong.push(`${sim.event.event_id} outside its session`)
    }
    expect(wrong.slice(0, 5)).toEqual([])
  })

  test('everyone has left when a stream ends', () => {
    const online = new Map<string, number>()
    for (const { event, note } of events) {
      if (note !== 'traffic') continue
      const id = event.stream_id as string
      if (event.type === 'view_start') online.set(id, (online.get(id) ?? 0) + 1)
      if (event.type === 'view_end') online.set(id, (online.get(id) ?? 0) - 1)
    }
    for (const count of online.values()) expect(count).toBe(0)
  })

  test('ids do not collide with a live run of the same seed and clock', () => {
    const live = new TrafficGenerator({
      seed: SEED,
      startMs: now,
      mode: 'live',
      streams: 4,
      eventsPerSecond: 100,
    })
    const liveIds = new Set(live.advance(now + 5000, 500).map((s) => s.event.event_id))
    expect(events.some((s) => liveIds.has(s.event.event_id))).toBe(false)
  })
})

describe('stopping', () => {
  test('finish ends every live session: its viewers leave and a stream_end follows', () => {
    const gen = liveGenerator()
    const events = runLive(gen, 3).map((s) => s.event)
    const started = new Set(events.filter((e) => e.type === 'stream_start').map((e) => e.stream_id))
    const ended = new Set(events.filter((e) => e.type === 'stream_end').map((e) => e.stream_id))
    expect(started.size).toBeGreaterThanOrEqual(12)
    expect(ended).toEqual(started)
    expect(gen.liveSessions).toBe(0)
    // Nobody is left watching a stream that ended: starts and ends balance per stream.
    for (const id of started) {
      const mine = events.filter((e) => e.stream_id === id)
      const starts = mine.filter((e) => e.type === 'view_start').length
      const ends = mine.filter((e) => e.type === 'view_end').length
      expect(ends, id).toBe(starts)
    }
  })
})

describe('products', () => {
  test("a session's product ids are readable names of its vertical, none twice", () => {
    for (const [vertical, model] of Object.entries(VERTICALS)) {
      expect(model.goods.length, vertical).toBeGreaterThanOrEqual(model.products[1])
      for (let i = 0; i < 20; i++) {
        const plan = planSession(new Rng(SEED + i), {
          streamId: `s-${SEED}-${i}-${vertical}`,
          creator: { creatorId: 'c', vertical: vertical as Vertical },
          startAt: START,
          minutes: [30, 60],
          audience: 100,
          slot: null,
        })
        const ids = plan.products.map((p) => p.productId)
        expect(new Set(ids).size).toBe(ids.length)
        for (const id of ids) expect(model.goods).toContain(id)
      }
    }
  })
})
