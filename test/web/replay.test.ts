import { describe, expect, test } from 'vitest'
import {
  buildReplayIndex,
  indexAtElapsed,
  kpisAt,
  layoutReplay,
  momentImpact,
  momentWindowMs,
  productsAt,
  replayFrame,
  replayStep,
  scrubberTicks,
} from '../../web/src/lib/replay.ts'
import { seriesFromWire } from '../../web/src/lib/series.ts'
import { METRICS } from '../../web/src/lib/types.ts'

const T0 = 1_700_000_000_000
// Three 1-minute buckets of a finished stream.
const wire = {
  step_ms: 60_000,
  t: [T0, T0 + 60_000, T0 + 120_000],
  views: [100, 50, 50],
  viewers: [90, 40, 45],
  online: [80, 110, 60],
  peak_online: [85, 120, 120],
  impressions: [200, 300, 0],
  clicks: [20, 30, 0],
  carts: [5, 6, 1],
  orders: [2, 3, 0],
  items: [2, 4, 0],
  buyers: [2, 3, 0],
  gmv: [19.99, 40.01, 0],
  refunds: [0, 10.5, 0],
  comments: [7, 3, 1],
  likes: [100, 200, 50],
  shares: [1, 0, 2],
  follows: [3, 1, 0],
}
const replay = buildReplayIndex(seriesFromWire(wire, METRICS, 10_000))

describe('replay KPIs at a scrub position (a bucket boundary: the buckets before it)', () => {
  test('at the start nothing has happened yet', () => {
    const k = kpisAt(replay, 0)
    expect(k.views).toBe(0)
    expect(k.gmv).toBe(0)
    expect(k.online).toBe(0)
    expect(k.conversion).toBeNull()
  })

  test('after the first bucket they are that bucket', () => {
    const k = kpisAt(replay, 1)
    expect(k.views).toBe(100)
    expect(k.gmv).toBe(19.99)
    expect(k.orders).toBe(2)
    expect(k.online).toBe(80)
    expect(k.peak_online).toBe(85)
    expect(k.ctr).toBeCloseTo(20 / 200, 12)
    expect(k.co_rate).toBeCloseTo(2 / 20, 12)
    expect(k.gpm).toBe(199.9) // 19.99 / 100 × 1000
  })

  test('counts and money are sums up to the position; ratios come from those sums', () => {
    const k = kpisAt(replay, 2)
    expect(k.views).toBe(150)
    expect(k.clicks).toBe(50)
    expect(k.impressions).toBe(500)
    expect(k.orders).toBe(5)
    expect(k.items).toBe(6)
    expect(k.gmv).toBe(60) // 19.99 + 40.01, exact
    expect(k.refunds).toBe(10.5)
    expect(k.net_gmv).toBe(49.5)
    expect(k.likes).toBe(300)
    expect(k.ctr).toBeCloseTo(0.1, 12) // 50 / 500
    expect(k.co_rate).toBeCloseTo(0.1, 12) // 5 / 50
    expect(k.gpm).toBe(400) // 60 / 150 × 1000
  })

  test('online is the value at the position, not a sum; peak is the highest so far', () => {
    const k = kpisAt(replay, 3)
    expect(k.online).toBe(60)
    expect(k.peak_online).toBe(120)
  })

  test('viewers and buyers are the (approximate) sums of per-bucket distinct counts', () => {
    const k = kpisAt(replay, 3)
    expect(k.viewers).toBe(175)
    expect(k.buyers).toBe(5)
    expect(k.conversion).toBeCloseTo(5 / 175, 12)
  })

  test('a ratio with nothing under it is null', () => {
    const empty = buildReplayIndex(
      seriesFromWire({ step_ms: 1000, t: [T0], views: [0], gmv: [0] }, METRICS, 10),
    )
    const k = kpisAt(empty, 1)
    expect(k.gpm).toBeNull()
    expect(k.ctr).toBeNull()
    expect(k.conversion).toBeNull()
  })

  test('positions past the end clamp to the end; before the start give zeros', () => {
    expect(kpisAt(replay, 99).gmv).toBe(60)
    expect(kpisAt(replay, -1).gmv).toBe(0)
  })
})

describe('replay timeline', () => {
  test('the step is the finest that keeps a session within 2000 buckets', () => {
    expect(replayStep(20 * 60_000)).toBe('1s') // 1200 buckets
    expect(replayStep(2 * 3600_000)).toBe('10s') // 720 buckets (7200 at 1s)
    expect(replayStep(10 * 3600_000)).toBe('1m') // 600 buckets
    expect(replayStep(200 * 3600_000)).toBe('5m')
  })

  test('elapsed time maps to the bucket holding it', () => {
    expect(indexAtElapsed(10_000, 50, 0)).toBe(0)
    expect(indexAtElapsed(10_000, 50, 25_000)).toBe(2)
    expect(indexAtElapsed(10_000, 50, 10_000_000)).toBe(49)
  })
})

describe('replay layout and unfolding', () => {
  const main = seriesFromWire(
    {
      step_ms: 10_000,
      t: [T0, T0 + 10_000, T0 + 20_000],
      gmv: [1.1, 2.2, 3.3],
      online: [5, 6, 7],
      buyers: [2, 0, 6],
      viewers: [20, 0, 20],
      conversion: [0.1, null, 0.3],
    },
    METRICS,
    100,
  )
  // The compared stream started a day later and ran one bucket longer.
  const other = seriesFromWire(
    {
      step_ms: 10_000,
      t: [T0 + 86_400_000, T0 + 86_410_000, T0 + 86_420_000, T0 + 86_430_000],
      gmv: [10, 0, 5, 1],
      online: [1, 2, 3, 4],
      buyers: [0, 0, 10, 0],
      viewers: [20, 0, 20, 10],
      conversion: [0, null, 0.5, 0],
    },
    METRICS,
    100,
  )

  test('two streams are aligned by time since their start, the shorter one padded with nulls', () => {
    const layout = layoutReplay(main, other)
    expect(layout.length).toBe(4)
    expect(layout.mainLength).toBe(3)
    // bucket boundaries: curves hold the value at each, bars each bucket's own from its start
    expect(layout.x).toEqual([0, 10_000, 20_000, 30_000, 40_000])
    expect(layout.gmvCumulative).toEqual([0, 1.1, 3.3, 6.6, null])
    expect(layout.gmvBucket).toEqual([1.1, 2.2, 3.3, null, null])
    expect(layout.compare?.gmvCumulative).toEqual([0, 10, 10, 15, 16])
    expect(layout.conversionRunning).toEqual([null, 0.1, 0.1, 0.2, null]) // 2/20, 2/20, 8/40
    expect(layout.compare?.conversionRunning).toEqual([null, 0, 0, 0.25, 0.2]) // 0/20, 0/20, 10/40, 10/50
    expect(layout.online).toEqual([0, 5, 6, 7, null])
    expect(layout.yMax).toEqual({ cum: 16, bucket: 3.3, conv: 0.25, online: 7 })
  })

  test('a frame holds the curves up to the scrub position only, and the bars of the buckets before it', () => {
    const frame = replayFrame(layoutReplay(main, null), 2)
    expect(frame.gmv).toEqual([
      [0, 10_000, 20_000],
      [0, 1.1, 3.3],
      [1.1, 2.2, null],
    ])
    expect(frame.online).toEqual([
      [0, 10_000, 20_000],
      [0, 5, 6],
    ])
    // running ≈ (2/20, then 2/20 again: the second bucket had nobody new), then per bucket
    expect(frame.conversion).toEqual([
      [0, 10_000, 20_000],
      [null, 0.1, 0.1],
      [0.1, null, null],
    ])
    // at the start: one point, nothing drawn yet; at the end: every bucket
    expect(replayFrame(layoutReplay(main, null), 0).gmv).toEqual([[0], [0], [null]])
    expect(replayFrame(layoutReplay(main, null), 3).gmv[2]).toEqual([1.1, 2.2, 3.3, null])
  })
})

describe('a long replay', () => {
  test("over more than 240 buckets each bucket's own conversion is left out, the running one stays", () => {
    const session = (n: number, viewers: (i: number) => number) =>
      seriesFromWire(
        {
          step_ms: 10_000,
          t: Array.from({ length: n }, (_, i) => T0 + i * 10_000),
          viewers: Array.from({ length: n }, (_, i) => viewers(i)),
          buyers: Array.from({ length: n }, (_, i) => i % 2),
          conversion: Array.from({ length: n }, (_, i) => (i % 2) / viewers(i)),
        },
        METRICS,
        10_000,
      )
    const long = layoutReplay(
      session(300, () => 12),
      null,
    )
    expect(long.conversion.every((v) => v === null)).toBe(true)
    expect(long.conversionRunning.filter((v) => v !== null).length).toBeGreaterThan(250)
    expect(
      layoutReplay(
        session(240, () => 12),
        null,
      ).conversion.filter((v) => v !== null),
    ).toHaveLength(240)
    // ...and only where a bucket had 10 viewers or more: 1 buyer of 5 is not a 20 % bucket.
    const thin = layoutReplay(
      session(240, (i) => (i < 100 ? 5 : 12)),
      null,
    )
    expect(thin.conversion.filter((v) => v !== null)).toHaveLength(140)
  })
})

describe('what a marker did: GMV and orders after it against before it', () => {
  test('one bucket each side, on the hand-made three minutes', () => {
    // A marker 70 s in falls in the second bucket: before = bucket 0, after = bucket 1.
    expect(momentImpact(replay, 60_000, 70_000, 60_000)).toEqual({
      elapsed: 70_000,
      index: 1,
      before: { gmv: 19.99, orders: 2 },
      after: { gmv: 40.01, orders: 3 },
      beforeMs: 60_000,
      afterMs: 60_000,
    })
  })

  test('windows are cut at the session edges and say how long they were', () => {
    const first = momentImpact(replay, 60_000, 0, 120_000)
    expect(first.before).toEqual({ gmv: 0, orders: 0 })
    expect(first.beforeMs).toBe(0)
    expect(first.after).toEqual({ gmv: 60, orders: 5 })
    expect(first.afterMs).toBe(120_000)
    const last = momentImpact(replay, 60_000, 150_000, 120_000)
    expect(last.before).toEqual({ gmv: 60, orders: 5 })
    expect(last.after).toEqual({ gmv: 0, orders: 0 })
    expect(last.afterMs).toBe(60_000)
  })

  test('the window is a twelfth of the session, 1 to 10 minutes, in whole buckets', () => {
    expect(momentWindowMs(3 * 3_600_000, 60_000)).toBe(600_000)
    expect(momentWindowMs(3_600_000, 10_000)).toBe(300_000)
    expect(momentWindowMs(5 * 60_000, 1_000)).toBe(60_000)
    expect(momentWindowMs(5 * 60_000, 300_000)).toBe(300_000)
  })
})

describe('the products table at a scrub position', () => {
  const product = (id: string, orders: number[], gmv: number[], clicks: number[]) => {
    const columns = { impressions: [10, 10, 10], clicks, carts: [0, 0, 0], orders, items: orders, gmv }
    return [
      id,
      buildReplayIndex(seriesFromWire({ step_ms: 60_000, t: wire.t, ...columns }, METRICS, 10_000)),
    ] as const
  }
  const indexes = new Map([
    product('early', [2, 0, 0], [30, 0, 0], [4, 0, 0]),
    product('late', [0, 1, 3], [0, 20.5, 60.25], [1, 2, 6]),
    product('quiet', [0, 0, 0], [0, 0, 0], [0, 3, 0]),
  ])
  // The server's whole-session table, best seller first; 'unseries' has no series of its own.
  const whole = ['late', 'early', 'quiet', 'unseries'].map((product_id) => ({
    product_id,
    impressions: 0,
    clicks: 0,
    carts: 0,
    orders: 0,
    items: 0,
    gmv: 0,
    ctr: null,
    co_rate: null,
  }))

  test('ranks by GMV as it stood, with running sums and ratios from them', () => {
    expect(productsAt(whole, indexes, 0).map((p) => p.gmv)).toEqual([0, 0, 0])
    const first = productsAt(whole, indexes, 1)
    expect(first.map((p) => p.product_id)).toEqual(['early', 'late', 'quiet'])
    expect(first[0]).toEqual({
      product_id: 'early',
      impressions: 10,
      clicks: 4,
      carts: 0,
      orders: 2,
      items: 2,
      gmv: 30,
      ctr: 0.4,
      co_rate: 0.5,
    })
    // A minute on, the early seller still leads on GMV (30 against 20.5).
    expect(productsAt(whole, indexes, 2).map((p) => [p.product_id, p.gmv, p.clicks])).toEqual([
      ['early', 30, 4],
      ['late', 20.5, 3],
      ['quiet', 0, 3],
    ])
    const last = productsAt(whole, indexes, 3)
    expect(last.map((p) => [p.product_id, p.gmv, p.orders])).toEqual([
      ['late', 80.75, 4],
      ['early', 30, 2],
      ['quiet', 0, 0],
    ])
  })
})

describe("the scrubber's marker ticks", () => {
  test('pins and markers too close to tell apart share one tick, named together; outside the session none', () => {
    const markers = [
      { x: 154_000, label: 'flash sale starts', kind: 'marker' as const },
      { x: 154_000, label: 'Pin glow-serum', kind: 'product_pin' as const },
      { x: 600_000, label: 'Pin lipstick', kind: 'product_pin' as const },
      { x: 605_000, label: 'Pin mascara', kind: 'product_pin' as const },
      { x: 1_000_000, label: 'after the end', kind: 'marker' as const },
    ]
    // a 20-minute session on 6 000 px: 5 px a second, the pins 25 px apart
    expect(scrubberTicks(markers, 1_200_000, 6_000)).toEqual([
      { x: 154_000, label: 'flash sale starts · Pin glow-serum', kind: 'marker' },
      { x: 600_000, label: 'Pin lipstick', kind: 'product_pin' },
      { x: 605_000, label: 'Pin mascara', kind: 'product_pin' },
      { x: 1_000_000, label: 'after the end', kind: 'marker' },
    ])
    // on 1 200 px the two pins 5 s apart are one tick too
    expect(scrubberTicks(markers, 1_200_000, 1_200).map((t) => t.label)).toEqual([
      'flash sale starts · Pin glow-serum',
      'Pin lipstick · Pin mascara',
      'after the end',
    ])
    expect(scrubberTicks(markers, 500_000, 1_000).map((t) => t.x)).toEqual([154_000])
  })
})
