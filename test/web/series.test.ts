import { describe, expect, test } from 'vitest'
import {
  boundaries,
  bucketRatio,
  createSeries,
  cumulativeToTotal,
  lastBucketStart,
  liveEdge,
  mergeBuckets,
  perBucket,
  runningRatio,
  seriesFromWire,
} from '../../web/src/lib/series.ts'

const S = 1000 // 1s step
const T0 = 1_700_000_000_000 // a whole second

function tick(t: number[], cols: Record<string, (number | null)[]>, step_ms = S) {
  return { step_ms, t, ...cols }
}

describe('merging ticks into a columnar series', () => {
  test('a tick of new buckets appends them in time order', () => {
    const s = createSeries(S, ['gmv', 'orders'])
    expect(mergeBuckets(s, tick([T0, T0 + S], { gmv: [10, 20.5], orders: [1, 2] }), 100)).toBe(true)
    expect(s.t).toEqual([T0, T0 + S])
    expect(s.cols.gmv).toEqual([10, 20.5])
    expect(s.cols.orders).toEqual([1, 2])
  })

  test('a late bucket in the past updates that bucket in place', () => {
    const s = createSeries(S, ['gmv'])
    mergeBuckets(s, tick([T0, T0 + S, T0 + 2 * S], { gmv: [10, 0, 30] }), 100)
    // an order for the middle second arrives late: the server re-sends that bucket's full value
    mergeBuckets(s, tick([T0 + S], { gmv: [7.25] }), 100)
    expect(s.t).toEqual([T0, T0 + S, T0 + 2 * S])
    expect(s.cols.gmv).toEqual([10, 7.25, 30])
  })

  test('a duplicate tick changes nothing and says so', () => {
    const s = createSeries(S, ['gmv'])
    const t = tick([T0, T0 + S], { gmv: [10, 20] })
    mergeBuckets(s, t, 100)
    expect(mergeBuckets(s, t, 100)).toBe(false)
    expect(s.t).toEqual([T0, T0 + S])
    expect(s.cols.gmv).toEqual([10, 20])
  })

  test('reordered ticks end with the same series as ordered ones', () => {
    const a = tick([T0], { gmv: [5] })
    const b = tick([T0 + S], { gmv: [6] })
    const c = tick([T0 + 2 * S], { gmv: [7] })
    const ordered = createSeries(S, ['gmv'])
    for (const x of [a, b, c]) mergeBuckets(ordered, x, 100)
    const reordered = createSeries(S, ['gmv'])
    for (const x of [c, a, b]) mergeBuckets(reordered, x, 100)
    expect(reordered.t).toEqual([T0, T0 + S, T0 + 2 * S])
    expect(reordered.cols.gmv).toEqual([5, 6, 7])
    expect(reordered).toEqual(ordered)
  })

  test('buckets inside one tick may come in any order', () => {
    const s = createSeries(S, ['orders'])
    mergeBuckets(s, tick([T0 + 2 * S, T0, T0 + S], { orders: [3, 1, 2] }), 100)
    expect(s.t).toEqual([T0, T0 + S, T0 + 2 * S])
    expect(s.cols.orders).toEqual([1, 2, 3])
  })

  test('without watermarks (GET /series answers), the value merged last stands', () => {
    const s = createSeries(S, ['gmv'])
    mergeBuckets(s, tick([T0], { gmv: [10] }), 100)
    mergeBuckets(s, tick([T0], { gmv: [15] }), 100)
    expect(s.cols.gmv).toEqual([15])
  })

  test('two ticks of one bucket that arrive out of order leave the newer value (SPEC §5)', () => {
    // The bucket was 10 at watermark 100 and 15 at watermark 200; 200's tick comes first.
    const s = createSeries(S, ['gmv', 'orders'])
    expect(mergeBuckets(s, tick([T0, T0 + S], { gmv: [15, 4], orders: [3, 1] }), 100, 200)).toBe(true)
    expect(mergeBuckets(s, tick([T0], { gmv: [10], orders: [2] }), 100, 100)).toBe(false)
    expect(s.cols.gmv).toEqual([15, 4])
    expect(s.cols.orders).toEqual([3, 1])
    // A bucket the older tick alone carries is still taken: nothing newer wrote it.
    mergeBuckets(s, tick([T0 + 2 * S], { gmv: [1], orders: [1] }), 100, 100)
    expect(s.cols.gmv).toEqual([15, 4, 1])
    // The same watermark again (a repeated tick) is the same state: nothing changes.
    expect(mergeBuckets(s, tick([T0], { gmv: [14], orders: [3] }), 100, 200)).toBe(false)
    expect(s.cols.gmv).toEqual([15, 4, 1])
    // And a newer one replaces it.
    mergeBuckets(s, tick([T0], { gmv: [16], orders: [4] }), 100, 300)
    expect(s.cols.gmv).toEqual([16, 4, 1])
  })

  test('a snapshot older than a tick already merged does not step its buckets back', () => {
    const s = seriesFromWire(tick([T0, T0 + S], { gmv: [1, 2] }), ['gmv'], 100, 50)
    mergeBuckets(s, tick([T0 + S], { gmv: [9] }), 100, 300)
    // a gap-fill snapshot read at watermark 200 comes after
    mergeBuckets(s, tick([T0, T0 + S, T0 + 2 * S], { gmv: [1, 5, 7] }), 100, 200)
    expect(s.cols.gmv).toEqual([1, 9, 7])
  })

  test('watermarks of buckets trimmed off the window are forgotten', () => {
    const s = createSeries(S, ['gmv'])
    for (let i = 0; i < 8; i++) mergeBuckets(s, tick([T0 + i * S], { gmv: [i] }), 5, 100 + i)
    expect([...s.marks.keys()]).toEqual(s.t)
  })

  test('the window is trimmed to the newest maxLen buckets', () => {
    const s = createSeries(S, ['gmv'])
    for (let i = 0; i < 8; i++) mergeBuckets(s, tick([T0 + i * S], { gmv: [i] }), 5)
    expect(s.t).toEqual([T0 + 3 * S, T0 + 4 * S, T0 + 5 * S, T0 + 6 * S, T0 + 7 * S])
    expect(s.cols.gmv).toEqual([3, 4, 5, 6, 7])
  })

  test('a late bucket older than the full window is dropped', () => {
    const s = createSeries(S, ['gmv'])
    mergeBuckets(s, tick([T0 + 10 * S, T0 + 11 * S, T0 + 12 * S], { gmv: [1, 2, 3] }), 3)
    expect(mergeBuckets(s, tick([T0], { gmv: [99] }), 3)).toBe(false)
    expect(s.t).toEqual([T0 + 10 * S, T0 + 11 * S, T0 + 12 * S])
    expect(s.cols.gmv).toEqual([1, 2, 3])
  })

  test('quiet seconds the server did not re-send are filled as empty buckets; online carries over', () => {
    const s = createSeries(S, ['gmv', 'online', 'conversion'])
    mergeBuckets(s, tick([T0], { gmv: [10], online: [42], conversion: [0.5] }), 100)
    mergeBuckets(s, tick([T0 + 3 * S], { gmv: [4], online: [40], conversion: [0.25] }), 100)
    expect(s.t).toEqual([T0, T0 + S, T0 + 2 * S, T0 + 3 * S])
    expect(s.cols.gmv).toEqual([10, 0, 0, 4])
    expect(s.cols.online).toEqual([42, 42, 42, 40])
    expect(s.cols.conversion).toEqual([0.5, null, null, 0.25])
  })

  test('a jump longer than the window restarts it without allocating the whole gap', () => {
    const s = createSeries(S, ['gmv', 'online'])
    mergeBuckets(s, tick([T0], { gmv: [5], online: [9] }), 4)
    mergeBuckets(s, tick([T0 + 1000 * S], { gmv: [8], online: [3] }), 4)
    expect(s.t).toEqual([T0 + 997 * S, T0 + 998 * S, T0 + 999 * S, T0 + 1000 * S])
    expect(s.cols.gmv).toEqual([0, 0, 0, 8])
    expect(s.cols.online).toEqual([9, 9, 9, 3])
  })

  test('a bucket before the first one is prepended with the gap filled', () => {
    const s = createSeries(S, ['orders'])
    mergeBuckets(s, tick([T0 + 2 * S], { orders: [2] }), 10)
    mergeBuckets(s, tick([T0], { orders: [1] }), 10)
    expect(s.t).toEqual([T0, T0 + S, T0 + 2 * S])
    expect(s.cols.orders).toEqual([1, 0, 2])
  })

  test('a tick of another step (an old subscription) is ignored', () => {
    const s = createSeries(S, ['gmv'])
    mergeBuckets(s, tick([T0], { gmv: [1] }), 10)
    expect(mergeBuckets(s, tick([T0], { gmv: [500] }, 10_000), 10)).toBe(false)
    expect(s.cols.gmv).toEqual([1])
  })

  test('metrics missing from a tick keep their values; unknown metrics are ignored', () => {
    const s = createSeries(S, ['gmv', 'orders'])
    mergeBuckets(s, tick([T0], { gmv: [10], orders: [1] }), 10)
    mergeBuckets(s, tick([T0], { gmv: [12], likes: [7] }), 10)
    expect(s.cols.gmv).toEqual([12])
    expect(s.cols.orders).toEqual([1])
    expect(s.cols.likes).toBeUndefined()
  })

  test('a snapshot builds the series and gives the gap-fill position', () => {
    const s = seriesFromWire(
      {
        stream_id: 'x',
        step_ms: 10_000,
        from: T0,
        to: T0 + 30_000,
        t: [T0, T0 + 10_000, T0 + 20_000],
        gmv: [1, 2, 3],
      },
      ['gmv'],
      100,
    )
    expect(s.stepMs).toBe(10_000)
    expect(s.cols.gmv).toEqual([1, 2, 3])
    expect(lastBucketStart(s)).toBe(T0 + 20_000)
    expect(lastBucketStart(createSeries(S, ['gmv']))).toBeUndefined()
  })
})

describe('curves at bucket boundaries', () => {
  test('x is each bucket start and then the last one end; per-bucket values end with nothing', () => {
    expect(boundaries([0, 60_000, 120_000], 60_000)).toEqual([0, 60_000, 120_000, 180_000])
    expect(perBucket([5, 0, 7])).toEqual([5, 0, 7, undefined])
    expect(boundaries([], 60_000)).toEqual([])
    expect(perBucket([])).toEqual([])
  })

  test("a live stream's newest bucket ends now, not a step ahead (never before its start)", () => {
    expect(liveEdge([0, 60_000, 120_000], 75_000)).toEqual([0, 60_000, 75_000])
    expect(liveEdge([0, 60_000, 120_000], 200_000)).toEqual([0, 60_000, 120_000])
    expect(liveEdge([0, 60_000, 120_000], 30_000)).toEqual([0, 60_000, 60_001])
    expect(liveEdge([], 30_000)).toEqual([])
  })

  test('cumulative, anchored on the total: a window that starts mid-stream shows the running total', () => {
    // total GMV 100 of which 10 + 0 + 25.5 fell in the window's three buckets: 64.5 before the
    // first, then after each bucket (a sale shows after its bucket began, not before)
    expect(cumulativeToTotal([10, 0, 25.5], 100)).toEqual([64.5, 74.5, 74.5, 100])
  })

  test('cumulative money is summed to the cent without float drift', () => {
    expect(cumulativeToTotal([0.1, 0.2, null, 0.3], 0.6)).toEqual([0, 0.1, 0.3, 0.3, 0.6])
  })
})

describe('running conversion', () => {
  test('from zero: cumulative buyers over cumulative viewers', () => {
    // buyers [0, 1, 2, 0], viewers [0, 10, 30, 10] → before: nothing, then 0/0, 1/10, 3/40, 3/50
    expect(runningRatio([0, 1, 2, 0], [0, 10, 30, 10])).toEqual([null, null, 0.1, 0.075, 0.06])
  })

  test('summed from the first bucket, never anchored on the totals: per-bucket viewers overcount', () => {
    // A stream at 8 buyers of 200 distinct viewers whose buckets count 20 + 140 + 80 = 240 viewers
    // (returning viewers count again): the curve stays an honest approximation from the start,
    // where subtracting later buckets from the totals left nothing before the second bucket's
    // end (200 − 220 viewers) and 7/120 = 5.8 % after it, against 7/160 summed.
    expect(runningRatio([1, 6, 1], [20, 140, 80])).toEqual([null, 1 / 20, 7 / 160, 8 / 240])
  })

  test('points over too few viewers are left out as noise', () => {
    expect(runningRatio([1, 0, 1], [2, 10, 20], 10)).toEqual([null, null, 1 / 12, 2 / 32])
  })
})

test("a bucket's own conversion is drawn only where it had viewers enough", () => {
  // 1 buyer of 2 viewers is not a 50 % bucket; a half-filled last bucket is not a drop to 0 %.
  expect(bucketRatio([0.5, 0.04, 0, null], [2, 25, 3, 0], 10)).toEqual([null, 0.04, null, null])
})
