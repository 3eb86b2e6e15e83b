import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  formatClock,
  formatCount,
  formatMoney,
  formatMoneyCompact,
  formatPercent,
} from '../../web/src/lib/format.ts'
import { replayStep } from '../../web/src/lib/replay.ts'
import { startTestServer, type TestServer } from '../helpers/server.ts'
import {
  dashboardUrl,
  ensureDashboardBuilt,
  kpiValue,
  launchBrowser,
  openPage,
  textOf,
  wallTile,
  wallTileAtRank,
} from './helpers.ts'
import { orderPaid, SEED_STREAMS, seedEvents } from './seed.ts'

// Numbers on screen move with the data: an event acknowledged by the ingest endpoint shows on
// every open screen, equal to what the API answers; a replay shows the KPIs as they stood.

let server: TestServer
let browser: Browser
const { miaLive, noahLive, miaEnded } = SEED_STREAMS
const LIVE_TIMEOUT = { timeout: 20_000, interval: 100 }

async function totals(id: string): Promise<Record<string, number | null>> {
  const { status, body } = await server.get(`/v1/streams/${id}`)
  expect(status).toBe(200)
  return body.totals
}

async function ingest(events: Record<string, unknown>[]): Promise<void> {
  const answer = await server.ingest(events)
  expect(answer.status, JSON.stringify(answer.body)).toBe(200)
  expect(answer.body.accepted).toBe(events.length)
}

beforeAll(async () => {
  const [, launched] = await Promise.all([ensureDashboardBuilt(), launchBrowser()])
  browser = launched
  server = await startTestServer()
  await ingest(seedEvents(Date.now()).valid)
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

describe('live numbers (SPEC §5)', () => {
  test('an order posted to the ingest endpoint shows on an open wall and stream view, equal to the API', async () => {
    const wall = await openPage(browser, { width: 1920, height: 1080, suffix: 'wall' })
    const view = await openPage(browser, { suffix: 'stream view' })
    await Promise.all([
      wall.page.goto(dashboardUrl(server.url, '/', server.opsToken)),
      view.page.goto(dashboardUrl(server.url, `/stream/${noahLive.stream_id}`, server.opsToken)),
    ])
    const tile = wallTile(wall.page, noahLive.stream_id)
    const before = await totals(noahLive.stream_id)
    await expect.poll(() => textOf(tile.locator('.gmv')), LIVE_TIMEOUT).toBe(formatMoneyCompact(before.gmv))
    await expect.poll(() => textOf(kpiValue(view.page, 'GMV')), LIVE_TIMEOUT).toBe(formatMoney(before.gmv))
    // Noah starts behind Mia on the wall.
    expect(await wallTileAtRank(wall.page, 1).getAttribute('href')).toBe(`/stream/${miaLive.stream_id}`)
    // The first animation Noah's tile plays (its keyframe `transform`), watched from now on.
    const noahMoves = wall.page.evaluate(
      (id) =>
        new Promise<string>((resolve) => {
          const look = () => {
            const cell = document.querySelector(`.cell[data-id="${id}"]`)
            const animation = cell?.getAnimations()[0]
            if (animation?.effect instanceof KeyframeEffect) {
              resolve(String(animation.effect.getKeyframes()[0]?.transform))
            } else requestAnimationFrame(look)
          }
          look()
        }),
      noahLive.stream_id,
    )

    // A big order, and a new viewer who buys it.
    const order = orderPaid(noahLive.stream_id, '1234.56', { viewerId: 'e2e-big-spender' })
    await ingest([
      {
        event_id: 'e2e-big-spender-joins',
        type: 'view_start',
        stream_id: noahLive.stream_id,
        ts: order.ts - 500,
        viewer_id: 'e2e-big-spender',
        source: 'search',
      },
      order,
    ])
    const after = await totals(noahLive.stream_id)
    expect(after.gmv).toBeCloseTo((before.gmv ?? 0) + 1234.56, 2)

    await expect.poll(() => textOf(tile.locator('.gmv')), LIVE_TIMEOUT).toBe(formatMoneyCompact(after.gmv))
    expect(await textOf(tile.locator('.stats div', { hasText: 'Orders' }).locator('.v'))).toBe(
      formatCount(after.orders),
    )
    // …and the wall re-ranks (at its next re-sort, every 10 s): Noah's stream now leads, and
    // its tile slid there from where it was rather than jumping.
    await expect
      .poll(() => wallTileAtRank(wall.page, 1).getAttribute('href'), LIVE_TIMEOUT)
      .toBe(`/stream/${noahLive.stream_id}`)
    expect(await noahMoves).toMatch(/^translate\(-?\d/)
    expect(await noahMoves).not.toBe('translate(0px, 0px)')

    await expect.poll(() => textOf(kpiValue(view.page, 'GMV')), LIVE_TIMEOUT).toBe(formatMoney(after.gmv))
    await expect
      .poll(() => textOf(kpiValue(view.page, 'Orders')), LIVE_TIMEOUT)
      .toBe(formatCount(after.orders))
    await expect
      .poll(() => textOf(kpiValue(view.page, 'Viewers')), LIVE_TIMEOUT)
      .toBe(formatCount(after.viewers))
    expect(await textOf(kpiValue(view.page, 'Buyers'))).toBe(formatCount(after.buyers))
    expect(await textOf(kpiValue(view.page, 'Conversion'))).toBe(formatPercent(after.conversion, 2))

    expect(wall.errors()).toEqual([])
    expect(view.errors()).toEqual([])
  })

  test('a late order (its ts ten minutes back) moves the totals on the open stream view too', async () => {
    const view = await openPage(browser)
    await view.page.goto(dashboardUrl(server.url, `/stream/${miaLive.stream_id}`, server.opsToken))
    const before = await totals(miaLive.stream_id)
    await expect.poll(() => textOf(kpiValue(view.page, 'GMV')), LIVE_TIMEOUT).toBe(formatMoney(before.gmv))

    await ingest([orderPaid(miaLive.stream_id, '77.07', { ts: Date.now() - 10 * 60_000 })])
    const after = await totals(miaLive.stream_id)
    expect(after.gmv).toBeCloseTo((before.gmv ?? 0) + 77.07, 2)
    await expect.poll(() => textOf(kpiValue(view.page, 'GMV')), LIVE_TIMEOUT).toBe(formatMoney(after.gmv))
    await expect
      .poll(() => textOf(kpiValue(view.page, 'Orders')), LIVE_TIMEOUT)
      .toBe(formatCount(after.orders))
    expect(view.errors()).toEqual([])
  })
})

describe('the stream view tables', () => {
  test("an order's product shows in the open stream view's table after its tick, not at the next poll", async () => {
    const view = await openPage(browser)
    const productsAsked: number[] = []
    const productsAnswered: number[] = []
    const isProducts = (url: string) => new URL(url).pathname.endsWith('/products')
    view.page.on('request', (request) => {
      if (isProducts(request.url())) productsAsked.push(Date.now())
    })
    view.page.on('response', (response) => {
      if (isProducts(response.url())) productsAnswered.push(Date.now())
    })
    await view.page.goto(dashboardUrl(server.url, `/stream/${miaLive.stream_id}`, server.opsToken))
    // (the first answer in, so the order below cannot ride on it)
    await expect.poll(() => productsAnswered.length, LIVE_TIMEOUT).toBeGreaterThan(0)
    const polledAt = productsAsked[productsAsked.length - 1]!
    const ingestedAt = Date.now()
    const order = { ...orderPaid(miaLive.stream_id, '42.00'), product_id: 'e2e-fresh-product' }
    await ingest([order])
    const table = view.page.locator('.products tbody')
    await expect.poll(() => textOf(table), LIVE_TIMEOUT).toContain('e2e-fresh-product')
    // Asked again on the tick that brought the order (within 2 s of the last ask), well
    // before the 10 s poll that used to bring it.
    const next = productsAsked.find((at) => at >= ingestedAt)
    expect(next).toBeDefined()
    expect(next! - polledAt).toBeLessThan(9_000)

    // Ticks without orders ask for nothing: eight likes, each its own commit and tick.
    const askedBefore = productsAsked.length
    const likesBefore = Number((await textOf(kpiValue(view.page, 'Likes')))?.replace(/,/g, ''))
    for (let i = 0; i < 8; i++) {
      await ingest([
        {
          event_id: `e2e-like-${Date.now()}-${i}`,
          type: 'like',
          stream_id: miaLive.stream_id,
          ts: Date.now(),
          viewer_id: 'v',
        },
      ])
      await new Promise((resolve) => setTimeout(resolve, 120))
    }
    await expect
      .poll(async () => Number((await textOf(kpiValue(view.page, 'Likes')))?.replace(/,/g, '')), LIVE_TIMEOUT)
      .toBe(likesBefore + 8)
    // (one poll may fall in these seconds; a request per tick was eight or more)
    expect(productsAsked.length - askedBefore).toBeLessThanOrEqual(1)
    expect(await view.page.getByText('Loading…').count()).toBe(0)
    expect(view.errors()).toEqual([])
  })
})

describe('replay', () => {
  test('the scrubber sets the KPIs to the values as they stood at that point of the session', async () => {
    const ui = await openPage(browser)
    const { page } = ui
    const { body: stream } = await server.get(`/v1/streams/${miaEnded.stream_id}`)
    expect(stream.status).toBe('ended')
    // The same buckets the replay loads: the step it picks for this session's length.
    const step = replayStep((stream.ended_at ?? stream.last_event_at) - stream.started_at)
    const { body: series } = await server.get(
      `/v1/streams/${miaEnded.stream_id}/series?step=${step}&metrics=gmv,orders`,
    )
    const gmvCents: number[] = series.gmv.map((v: number) => Math.round(v * 100))
    // A scrub position is a bucket boundary: what stood then is the buckets before it.
    const asOf = (position: number) => ({
      gmv: formatMoney(gmvCents.slice(0, position).reduce((a, b) => a + b, 0) / 100),
      orders: formatCount(series.orders.slice(0, position).reduce((a: number, b: number) => a + b, 0)),
      // (the clock counts from the stream's start; positions from its first bucket's)
      clock: `+${formatClock(Math.max(0, position * series.step_ms - (stream.started_at - series.t[0])))}`,
    })
    const last = series.t.length

    await page.goto(dashboardUrl(server.url, `/replay/${miaEnded.stream_id}`, server.opsToken))
    const scrubber = page.getByRole('slider', { name: 'Position in the session' })
    await scrubber.waitFor()
    expect(Number(await scrubber.getAttribute('max'))).toBe(last)
    // It opens at the end: the whole session, and the clock says how long it ran, as the header
    // does (not to the end of its last bucket, nor from the start of its first).
    await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(formatMoney(stream.totals.gmv))
    const ended = formatClock((stream.ended_at ?? stream.last_event_at) - stream.started_at)
    expect(await textOf(page.locator('.clock'))).toContain(`+${ended} / ${ended}`)
    expect(asOf(last).gmv).toBe(formatMoney(stream.totals.gmv))

    // Drag to the middle of the session (the range input's value, with its input/change events).
    const middle = Math.floor(last * 0.6)
    expect(asOf(middle).gmv).not.toBe(asOf(last).gmv) // the seed has orders after this point
    await scrubber.fill(String(middle))
    await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(asOf(middle).gmv)
    expect(await textOf(kpiValue(page, 'Orders'))).toBe(asOf(middle).orders)
    expect(await textOf(page.locator('.clock'))).toContain(asOf(middle).clock)

    // Keyboard: Home goes to the start, before anything; End back to the whole session.
    await scrubber.focus()
    await page.keyboard.press('Home')
    await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(formatMoney(0))
    expect(asOf(0).gmv).toBe(formatMoney(0))
    expect(await textOf(kpiValue(page, 'Orders'))).toBe('0')
    await page.keyboard.press('End')
    await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(asOf(last).gmv)

    // Play from the start at 60×: the position and the KPIs move on by themselves.
    await page.keyboard.press('Home')
    await page.getByRole('button', { name: '60×' }).click()
    await page.getByRole('button', { name: 'Play' }).click()
    await expect.poll(() => scrubber.inputValue()).not.toBe('0')
    await expect.poll(() => textOf(kpiValue(page, 'Views')), { timeout: 20_000 }).not.toBe('0')
    await page.getByRole('button', { name: 'Pause' }).click()

    expect(ui.errors()).toEqual([])
  })
})
