import { describe, expect, test } from 'vitest'
import { freshness, shouldProbe } from '../../web/src/lib/freshness.ts'
import { gridFit, kioskCell, largestGrid, pageCount, rowsShown } from '../../web/src/lib/grid.ts'
import { verticalChoices, type WallStream } from '../../web/src/lib/types.ts'
import {
  creationOrder,
  holdRanking,
  quietStreams,
  rankStreams,
  sameColumns,
  sameOrder,
  sparkColumns,
} from '../../web/src/lib/wall.ts'

function wallStream(id: string, vertical: string, gmv: number, online: number): WallStream {
  const totals = {
    views: 0,
    viewers: 0,
    online,
    peak_online: online,
    impressions: 0,
    clicks: 0,
    ctr: null,
    carts: 0,
    orders: 0,
    items: 0,
    buyers: 0,
    gmv,
    refunds: 0,
    net_gmv: gmv,
    conversion: null,
    co_rate: null,
    gpm: null,
    comments: 0,
    likes: 0,
    shares: 0,
    follows: 0,
  }
  return {
    stream_id: id,
    creator_id: `c-${id}`,
    title: '',
    vertical,
    campaign_id: '',
    status: 'live',
    started_at: 0,
    last_event_at: 0,
    ended_at: null,
    totals,
    spark: { step_ms: 60_000, t: [0, 60_000, 120_000], gmv: [5, 0, 10], conversion: [0.1, null, 0.2] },
  }
}

describe('wall ranking and sparklines', () => {
  const streams = [
    wallStream('a', 'Beauty', 100, 5),
    wallStream('b', 'Fashion', 300, 1),
    wallStream('c', 'Beauty', 100, 9),
    wallStream('d', 'Home & Living', 0, 0),
  ]

  test('ranked by GMV; ties by most online, then id', () => {
    expect(rankStreams(streams, '').map((s) => s.stream_id)).toEqual(['b', 'c', 'a', 'd'])
  })

  test('a vertical filter keeps only that vertical', () => {
    expect(rankStreams(streams, 'Beauty').map((s) => s.stream_id)).toEqual(['c', 'a'])
  })

  test('the GMV sparkline is cumulative and ends at the total on the tile, each minute at its end', () => {
    const [t, gmv, conversion] = sparkColumns(wallStream('x', 'Other', 1015, 0))
    // minute boundaries: a minute's sales show after it began, never before
    expect(t).toEqual([0, 60_000, 120_000, 180_000])
    expect(gmv).toEqual([1000, 1005, 1005, 1015])
    expect(conversion).toEqual([null, 0.1, null, 0.2])
  })

  test("a stream that began inside the sparkline's 30 minutes is drawn from its start, not after a flat line", () => {
    const s = wallStream('x', 'Other', 7, 0)
    const t = Array.from({ length: 30 }, (_, i) => 1_800_000 + i * 60_000)
    s.spark = { step_ms: 60_000, t, gmv: t.map((_, i) => (i >= 27 ? 1 : 0)), conversion: t.map(() => null) }
    s.totals.gmv = 3
    // began 27 minutes into the window, at 12 s past the minute: from that minute's start
    s.started_at = t[27]! + 12_000
    const [times, gmv] = sparkColumns(s)
    expect(times).toEqual([...t.slice(27), t[29]! + 60_000])
    expect(gmv).toEqual([0, 1, 2, 3])
    // began in the window's newest minute: still two points, a line
    s.started_at = t[29]!
    expect(sparkColumns(s)[0]).toEqual([t[29], t[29]! + 60_000])
    // began before the window: all of it
    s.started_at = 0
    expect(sparkColumns(s)[0]).toEqual([...t, t[29]! + 60_000])
  })

  test('unchanged sparkline columns are recognised (the chart is not redrawn)', () => {
    const s = wallStream('x', 'Other', 1015, 0)
    expect(sameColumns(sparkColumns(s), sparkColumns(s))).toBe(true)
    expect(sameColumns(sparkColumns(s), sparkColumns(wallStream('x', 'Other', 1016, 0)))).toBe(false)
  })
})

describe('feed freshness', () => {
  const now = 1_000_000
  test('green under 10 s, amber above, red above 30 s', () => {
    expect(freshness('connected', now - 9_000, now, 0)).toBe('ok')
    expect(freshness('connected', now - 10_001, now, 0)).toBe('amber')
    expect(freshness('connected', now - 30_001, now, 0)).toBe('red')
  })

  test('disconnected is red whatever the age', () => {
    expect(freshness('disconnected', now - 100, now, 0)).toBe('red')
  })

  test('a first answer that never comes turns amber then red too', () => {
    expect(freshness('connecting', null, now, now - 2_000)).toBe('waiting')
    expect(freshness('connected', null, now, now - 11_000)).toBe('amber')
    expect(freshness('connected', null, now, now - 31_000)).toBe('red')
  })

  test('a quiet connected screen asks again every 5 s', () => {
    expect(shouldProbe('connected', now - 4_000, 0, now)).toBe(false)
    expect(shouldProbe('connected', now - 6_000, 0, now)).toBe(true)
    expect(shouldProbe('connected', now - 6_000, now - 1_000, now)).toBe(false)
    expect(shouldProbe('disconnected', now - 60_000, 0, now)).toBe(false)
  })
})

describe('kiosk grid', () => {
  test('tiles that fit a 1080p wall', () => {
    // 1880 × 900 px of grid, tiles at least 440 wide and 210 high, 20 px gaps
    expect(gridFit(1880, 900, 440, 210, 20)).toEqual({ cols: 4, rows: 4, perPage: 16 })
  })

  test('pages of 16 for 48 streams', () => {
    expect(pageCount(48, 16)).toBe(3)
    expect(pageCount(40, 16)).toBe(3)
    expect(pageCount(0, 16)).toBe(1)
  })

  test('kiosk pages sit side by side, ranks row-major within a page', () => {
    // 4 columns × 2 rows per page
    expect(kioskCell(0, 4, 8)).toEqual({ column: 1, row: 1 })
    expect(kioskCell(5, 4, 8)).toEqual({ column: 2, row: 2 })
    expect(kioskCell(8, 4, 8)).toEqual({ column: 5, row: 1 }) // first tile of page 2
    expect(kioskCell(15, 4, 8)).toEqual({ column: 8, row: 2 })
  })

  test('the rows the tiles fill: only those in use when they fit, a full page when pages turn', () => {
    const fit = { cols: 4, rows: 4, perPage: 16 }
    expect(rowsShown(12, fit)).toBe(3) // three rows grow to fill the screen
    expect(rowsShown(3, fit)).toBe(1)
    expect(rowsShown(0, fit)).toBe(1)
    expect(rowsShown(48, fit)).toBe(12) // more than fit: the wall scrolls, rows at the base size
    expect(rowsShown(48, fit, 3)).toBe(4) // kiosk: a page's rows
  })
})

describe('the shown ranking between re-ranks (the wall re-ranks every 10 s)', () => {
  const s = (id: string, gmv: number) => wallStream(id, 'Beauty', gmv, 0)

  test('a held order stays as shown while GMVs move, and is the same array when nobody joined or left', () => {
    const held = ['a', 'b', 'c']
    const ranked = [s('c', 300), s('a', 200), s('b', 100)]
    expect(holdRanking(held, ranked)).toBe(held)
  })

  test('a stream that ended drops out at once; a new one goes in before the first shown stream it outranks', () => {
    expect(holdRanking(['a', 'b', 'c'], [s('a', 300), s('c', 100)])).toEqual(['a', 'c'])
    // n ranks second in the current ranking: it goes before b (ranked third), not at the end.
    expect(holdRanking(['a', 'b', 'c'], [s('a', 300), s('n', 250), s('b', 200), s('c', 100)])).toEqual([
      'a',
      'n',
      'b',
      'c',
    ])
    // Ranked last: at the end.
    expect(holdRanking(['a', 'b'], [s('a', 3), s('b', 2), s('z', 1)])).toEqual(['a', 'b', 'z'])
    expect(holdRanking([], [s('x', 1), s('y', 2)])).toEqual(['x', 'y'])
  })

  test('tiles keep their creation order in the DOM: leavers removed, newcomers appended, same array if unchanged', () => {
    const previous = ['a', 'b', 'c']
    expect(creationOrder(previous, [s('c', 3), s('b', 2), s('a', 1)])).toBe(previous)
    expect(creationOrder(previous, [s('n', 9), s('c', 3), s('a', 1)])).toEqual(['a', 'c', 'n'])
    expect(sameOrder(['a', 'b'], ['a', 'b'])).toBe(true)
    expect(sameOrder(['a', 'b'], ['b', 'a'])).toBe(false)
    expect(sameOrder(['a'], ['a', 'b'])).toBe(false)
  })
})

test('a stream with no event for a minute, while others have had some, is quiet', () => {
  const at = (id: string, lastEventAt: number) => ({
    ...wallStream(id, 'Beauty', 0, 0),
    last_event_at: lastEventAt,
  })
  const t = 1_800_000_000_000
  const quiet = quietStreams([at('busy', t), at('paused', t - 59_999), at('broken', t - 135_000)], t + 1000)
  expect([...quiet]).toEqual([['broken', 135_000]])
  // Measured against the newest event, not a screen clock that runs ahead: all quiet
  // together is none.
  expect(quietStreams([at('a', t - 600_000), at('b', t - 600_000)], t).size).toBe(0)
  // A producer whose clock runs 90 s ahead does not make the others quiet.
  const ahead = quietStreams(
    [at('fast-clock', t + 90_000), at('busy', t - 2000), at('broken', t - 70_000)],
    t,
  )
  expect([...ahead]).toEqual([['broken', 70_000]])
})

describe('a wall of few tiles is laid out as large as the screen makes them', () => {
  // 1920 × 990 px of wall at a 16 px rem: base tiles 416 × 208 px, 16 px gaps
  const largest = (items: number) => largestGrid(items, 1920, 990, 416, 208, 16)

  test('one tile fills the screen', () => {
    expect(largest(1)).toEqual({ cols: 1, rows: 1, scale: 1920 / 416 })
  })

  test('two tiles are two full-width rows, not two base tiles in a corner', () => {
    // one column: 1920 × 487 (scale 2.34); two columns: 952 × 990 (2.29)
    expect(largest(2)).toMatchObject({ cols: 1, rows: 2 })
    expect(largest(2)!.scale).toBeCloseTo(487 / 208, 5)
  })

  test('eight tiles: three columns of about twice the base size, not four of barely more', () => {
    // 3 × 3: 629 × 319 (1.51); 4 × 2: 468 × 487 (1.13); 2 × 4: 952 × 235.5 (1.13)
    expect(largest(8)).toMatchObject({ cols: 3, rows: 3 })
  })

  test('what would need tiles under the base size is not offered', () => {
    // 4 columns × 4 rows of base tiles fit; 17 do not
    expect(largest(16)).toMatchObject({ cols: 4, rows: 4 })
    expect(largest(17)).toBeNull()
  })
})

test('vertical filters: the usual ones, every other one named, the one chosen; Other last', () => {
  expect(verticalChoices([])).toEqual(['Fashion', 'Beauty', 'Home & Living', 'Other'])
  expect(verticalChoices(['Beauty', 'Electronics', 'Books', 'Electronics'], 'Garden')).toEqual([
    'Fashion',
    'Beauty',
    'Home & Living',
    'Books',
    'Electronics',
    'Garden',
    'Other',
  ])
})
