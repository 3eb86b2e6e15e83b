import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { issueToken } from '../../server/auth/tokens.ts'
import { formatCount, formatMoney, formatMoneyCompact, formatPercent } from '../../web/src/lib/format.ts'
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.ts'
import {
  dashboardUrl,
  ensureDashboardBuilt,
  kpiValue,
  launchBrowser,
  openPage,
  textOf,
  type UiPage,
  wallTile,
  wallTileAtRank,
} from './helpers.ts'
import { SEED_STREAMS, seedEvents } from './seed.ts'

// Every screen of the dashboard in real Chromium, served by the real server from web/dist, on
// data ingested through the real endpoint. The numbers on screen are compared with the API's.

let server: TestServer
let browser: Browser
const { miaLive, noahLive, miaEnded } = SEED_STREAMS

interface ApiStream {
  stream_id: string
  title: string
  status: 'live' | 'ended'
  totals: Record<string, number | null>
}

async function apiStream(id: string): Promise<ApiStream> {
  const { status, body } = await server.get(`/v1/streams/${id}`)
  expect(status).toBe(200)
  return body
}

/** Resource errors the browser logs for answers the test asked for (a 401, a 404). */
function unexpectedErrors(ui: UiPage, ...expectedStatus: number[]): string[] {
  return [
    ...ui.consoleErrors.filter((e) => !expectedStatus.some((status) => e.includes(`status of ${status}`))),
    ...ui.pageErrors,
  ]
}

/**
 * A finished session of its own, stored through the endpoint: a stream_start at `from`, the
 * events (their ids and stream filled in), a stream_end at `to`. Its own creator and ended,
 * so the other tests' walls and lists stay as seeded.
 */
async function endedSession(
  id: string,
  from: number,
  to: number,
  events: Record<string, unknown>[],
): Promise<void> {
  const stored = await server.ingest([
    {
      event_id: `${id}-start`,
      type: 'stream_start',
      stream_id: id,
      ts: from,
      creator_id: `${id}-creator`,
      title: id,
    },
    ...events.map((event, i) => ({ event_id: `${id}-${i}`, stream_id: id, ...event })),
    { event_id: `${id}-end`, type: 'stream_end', stream_id: id, ts: to },
  ])
  expect(stored.status, JSON.stringify(stored.body)).toBe(200)
}

beforeAll(async () => {
  const [, launched] = await Promise.all([ensureDashboardBuilt(), launchBrowser()])
  browser = launched
  server = await startTestServer()
  const { valid, invalid } = seedEvents(Date.now())
  const stored = await server.ingest(valid)
  expect(stored.status, JSON.stringify(stored.body)).toBe(200)
  const rejected = await server.ingest([invalid])
  expect(rejected.status).toBe(422)
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

describe('the dashboard views (README: views)', () => {
  test('every view opens from its link without a console error and shows the API numbers', async () => {
    const ui = await openPage(browser, { width: 1920, height: 1080 })
    const { page } = ui

    // The wall: one tile per live stream, each tile's GMV the stream's GMV.
    await page.goto(dashboardUrl(server.url, '/', server.opsToken))
    const live: ApiStream[] = (await server.get('/v1/streams?status=live')).body.streams
    expect(live.map((s) => s.stream_id).sort()).toEqual(
      [miaLive.stream_id, noahLive.stream_id, SEED_STREAMS.avaLive.stream_id].sort(),
    )
    await expect.poll(() => page.locator('a.tile').count(), { timeout: 20_000 }).toBe(live.length)
    for (const stream of live) {
      const tile = wallTile(page, stream.stream_id)
      expect(await textOf(tile.locator('.gmv')), stream.stream_id).toBe(formatMoneyCompact(stream.totals.gmv))
      expect(await textOf(tile), stream.stream_id).toContain(stream.title)
    }
    // The top tile is the stream with the most GMV.
    const ranked = [...live].sort((a, b) => (b.totals.gmv ?? 0) - (a.totals.gmv ?? 0))
    expect(await wallTileAtRank(page, 1).getAttribute('href')).toBe(`/stream/${ranked[0]!.stream_id}`)
    await expect
      .poll(() => textOf(page.locator('.total', { hasText: 'Live streams' }).locator('.v')))
      .toBe(String(live.length))
    // The token left the address bar (it lives in sessionStorage now).
    expect(page.url()).toBe(`${server.url}/`)
    expect(await page.locator('header .scope').count()).toBe(0)

    // One vertical: only its streams, and the header says every figure is of it.
    await page.getByRole('group', { name: 'Vertical' }).getByRole('button', { name: 'Beauty' }).click()
    await expect.poll(() => page.locator('a.tile').count()).toBe(1)
    expect(await wallTile(page, noahLive.stream_id).count()).toBe(1)
    expect(await textOf(page.locator('header .scope'))).toBe('Beauty only')
    await expect
      .poll(() => textOf(page.locator('.total', { hasText: 'Live streams' }).locator('.v')))
      .toBe('1')
    await page.getByRole('group', { name: 'Vertical' }).getByRole('button', { name: 'All' }).click()
    await expect.poll(() => page.locator('a.tile').count()).toBe(live.length)

    // Streams: live and ended, each with its GMV.
    await page.goto(`${server.url}/streams`)
    const all: ApiStream[] = (await server.get('/v1/streams?status=all')).body.streams
    await expect.poll(() => page.locator('table.data tbody tr').count()).toBe(all.length)
    for (const stream of all) {
      const row = page.locator('table.data tbody tr', { hasText: stream.title })
      expect(await textOf(row.locator('td.gmv')), stream.stream_id).toBe(formatMoney(stream.totals.gmv))
    }
    expect(await textOf(page.locator('tr', { hasText: miaEnded.title }).locator('.badge'))).toBe('ended')

    // A live stream: the KPIs are the stream's totals.
    const noah = await apiStream(noahLive.stream_id)
    await page.goto(`${server.url}/stream/${noahLive.stream_id}`)
    await page.getByRole('heading', { name: noahLive.title }).waitFor()
    await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(formatMoney(noah.totals.gmv))
    expect(await textOf(kpiValue(page, 'Orders'))).toBe(formatCount(noah.totals.orders))
    expect(await textOf(kpiValue(page, 'Viewers'))).toBe(formatCount(noah.totals.viewers))
    expect(await textOf(kpiValue(page, 'Conversion'))).toBe(formatPercent(noah.totals.conversion, 2))
    expect(await textOf(kpiValue(page, 'Clicks'))).toBe(formatCount(noah.totals.clicks))
    // Hero products as the API ranks them.
    const { products } = (await server.get(`/v1/streams/${noahLive.stream_id}/products`)).body
    const topProduct = page.locator('.products tbody tr').first()
    await expect.poll(() => textOf(topProduct.locator('.name'))).toBe(products[0].product_id)
    expect(await textOf(topProduct.locator('td.gmv'))).toBe(formatMoney(products[0].gmv))
    expect(await textOf(page.locator('.panel', { hasText: 'Pins & markers' }))).toContain('flash sale starts')

    // The replay of the finished stream, standing at its end: the session's totals.
    const ended = await apiStream(miaEnded.stream_id)
    expect(ended.status).toBe('ended')
    await page.goto(`${server.url}/replay/${miaEnded.stream_id}`)
    await page.getByRole('slider', { name: 'Position in the session' }).waitFor()
    await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(formatMoney(ended.totals.gmv))
    expect(await textOf(kpiValue(page, 'Orders'))).toBe(formatCount(ended.totals.orders))
    // At the end the figures a bucket sum can only approximate are the exact ones, unmarked.
    expect(await textOf(kpiValue(page, 'Viewers'))).toBe(formatCount(ended.totals.viewers))
    expect(await textOf(kpiValue(page, 'Buyers'))).toBe(formatCount(ended.totals.buyers))
    expect(await textOf(kpiValue(page, 'Peak online'))).toBe(formatCount(ended.totals.peak_online))
    // Not "now": the replay stands at the session's end.
    expect(await textOf(kpiValue(page, 'Online at end'))).toBe(formatCount(ended.totals.online))
    expect(await textOf(kpiValue(page, 'Conversion'))).toBe(formatPercent(ended.totals.conversion, 2))
    expect(await page.locator('.kpi .approx').count()).toBe(0)
    // The ended stream's own page leads with its peak audience, not an online count of ~0.
    await page.goto(`${server.url}/stream/${miaEnded.stream_id}`)
    await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(formatMoney(ended.totals.gmv))
    const heroes = await page.locator('.kpi.primary .label').allTextContents()
    expect(heroes.map((t) => t.trim()).slice(0, 4)).toEqual(['GMV', 'Orders', 'Peak online', 'Conversion'])
    expect(await textOf(kpiValue(page, 'Online at end'))).toBe(formatCount(ended.totals.online))

    // Quarantine: the rejected event with its reason.
    await page.goto(`${server.url}/quarantine`)
    const row = page.locator('tr', { hasText: 'e2e-bad-amount' })
    await row.waitFor()
    expect(await textOf(row.locator('.reason'))).toMatch(/amount/)

    // In-app navigation: a wall tile opens its stream.
    await page.goto(`${server.url}/`)
    await wallTile(page, miaLive.stream_id).click()
    await page.waitForURL(`${server.url}/stream/${miaLive.stream_id}`)
    await page.getByRole('heading', { name: miaLive.title }).waitFor()

    expect(ui.errors()).toEqual([])
  })

  test("on a phone the stream view shows each product's GMV and orders, and who is signed in, without a sideways swipe", async () => {
    // The widest a row gets: a long product name, a five-figure GMV.
    const now = Date.now()
    await endedSession('phone-products', now - 60_000, now - 30_000, [
      {
        type: 'order_paid',
        ts: now - 60_000,
        viewer_id: 'v',
        product_id: 'Limited edition hydrating serum with hyaluronic acid, 50 ml',
        order_id: 'pp-o1',
        amount: '12345.67',
      },
      {
        type: 'order_paid',
        ts: now - 59_000,
        viewer_id: 'v',
        product_id: 'Limited edition hydrating serum with hyaluronic acid, 30 ml',
        order_id: 'pp-o2',
        amount: '10.00',
      },
    ])
    const ui = await openPage(browser, { width: 390, height: 844 })
    const { page } = ui
    await page.goto(dashboardUrl(server.url, '/stream/phone-products', server.opsToken))
    const table = page.locator('table.data', { has: page.locator('th', { hasText: 'Orders' }) })
    await table.waitFor()
    const visibleRight = await page.evaluate(() => document.documentElement.clientWidth)
    for (const header of ['GMV', 'Orders']) {
      const box = await table.locator('th', { hasText: header }).first().boundingBox()
      expect(box, header).not.toBeNull()
      expect(
        box!.x + box!.width,
        `${header} ends at ${box!.x + box!.width} of ${visibleRight} px`,
      ).toBeLessThanOrEqual(visibleRight)
    }
    const firstGmv = await table.locator('tbody tr').first().locator('td.gmv').boundingBox()
    expect(firstGmv!.x + firstGmv!.width).toBeLessThanOrEqual(visibleRight)
    // Two names alike but for their end: the ends stay on screen, cut in the middle.
    for (const [i, end] of [
      [0, '50 ml'],
      [1, '30 ml'],
    ] as const) {
      const tail = table.locator('tbody tr').nth(i).locator('.name .tail')
      expect(await textOf(tail)).toContain(end)
      const box = (await tail.boundingBox())!
      expect(box.x + box.width).toBeLessThanOrEqual(visibleRight)
    }
    // The nav bar wraps instead of scrolling who is signed in out of sight.
    const who = await page.locator('nav .who').boundingBox()
    expect(who!.x + who!.width).toBeLessThanOrEqual(visibleRight)
    expect(await textOf(page.locator('nav .who'))).toBe('ops')
    expect(ui.errors()).toEqual([])
  })

  test('a seven-figure GMV is never cut off, and a label without spaces does not widen the page', async () => {
    const now = Date.now()
    await endedSession('big-gmv', now - 60_000, now - 30_000, [
      {
        type: 'order_paid',
        ts: now - 50_000,
        viewer_id: 'v',
        product_id: 'p',
        order_id: 'big-o1',
        amount: '2345678.80',
      },
      { type: 'marker', ts: now - 40_000, label: 'Z'.repeat(200) },
    ])
    for (const viewport of [
      { width: 390, height: 844 },
      { width: 1280, height: 800 },
    ]) {
      const ui = await openPage(browser, viewport)
      const { page } = ui
      await page.goto(dashboardUrl(server.url, '/stream/big-gmv', server.opsToken))
      await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(formatMoney(2345678.8))
      await page.locator('.panel', { hasText: 'ZZZZ' }).waitFor()
      const clipped = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('.kpi .value')]
          .filter((el) => el.scrollWidth > el.clientWidth)
          .map((el) => el.textContent),
      )
      expect(clipped, `${viewport.width} px`).toEqual([])
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      expect(sideways, `${viewport.width} px`).toBeLessThanOrEqual(0)
      expect(ui.errors()).toEqual([])
    }
  })

  test('a six-figure GMV on a wall tile is shown whole and stays inside its tile', async () => {
    const now = Date.now()
    await server.ingest([
      {
        event_id: 'six-s',
        type: 'stream_start',
        stream_id: 'six-figures',
        ts: now - 60_000,
        creator_id: 'six',
        vertical: 'Beauty',
      },
      {
        event_id: 'six-o',
        type: 'order_paid',
        stream_id: 'six-figures',
        ts: now - 30_000,
        viewer_id: 'v',
        product_id: 'p',
        order_id: 'six-o1',
        amount: '987654.32',
      },
    ])
    try {
      for (const viewport of [
        { width: 390, height: 844 },
        { width: 1366, height: 768 },
      ]) {
        const ui = await openPage(browser, viewport)
        const { page } = ui
        await page.goto(dashboardUrl(server.url, '/', server.opsToken))
        const tile = wallTile(page, 'six-figures')
        await expect.poll(() => textOf(tile.locator('.gmv'))).toBe('$987,654')
        const [gmv, box] = [(await tile.locator('.gmv').boundingBox())!, (await tile.boundingBox())!]
        expect(gmv.x + gmv.width, `${viewport.width} px`).toBeLessThanOrEqual(box.x + box.width)
        expect(ui.errors()).toEqual([])
      }
    } finally {
      // (ended, so the views tested after this one see the seeded live streams only)
      await server.ingest([{ event_id: 'six-e', type: 'stream_end', stream_id: 'six-figures', ts: now }])
    }
  })

  test("on a phone a chart's readout stays inside the chart, wherever the finger is", async () => {
    const ui = await openPage(browser, { width: 390, height: 844 })
    const { page } = ui
    await page.goto(dashboardUrl(server.url, `/replay/${miaEnded.stream_id}`, server.opsToken))
    const chart = page.locator('.chart-big')
    await expect.poll(() => chart.locator('canvas').count()).toBe(1)
    const over = chart.locator('.u-over')
    await over.scrollIntoViewIfNeeded()
    const plot = (await over.boundingBox())!
    for (const at of [0.05, 0.5, 0.95]) {
      await page.mouse.move(plot.x + plot.width * at, plot.y + plot.height / 2)
      const tip = over.locator('.chart-tip')
      await tip.waitFor()
      const box = (await tip.boundingBox())!
      expect(box.x, `finger at ${at}`).toBeGreaterThanOrEqual(plot.x - 0.5)
      expect(box.x + box.width, `finger at ${at}`).toBeLessThanOrEqual(plot.x + plot.width + 0.5)
    }
    expect(ui.errors()).toEqual([])
  })

  test("on a phone the replay's marker ticks are targets a finger can hit, and jump there", async () => {
    const ui = await openPage(browser, { width: 390, height: 844 })
    const { page } = ui
    await page.goto(dashboardUrl(server.url, `/replay/${miaEnded.stream_id}`, server.opsToken))
    const slider = page.getByRole('slider', { name: 'Position in the session' })
    await slider.waitFor()
    const ticks = page.getByRole('button', { name: /^Jump to / })
    await expect.poll(() => ticks.count()).toBeGreaterThan(0)
    const boxes = []
    for (const tick of await ticks.all()) {
      const box = await tick.boundingBox()
      expect(box!.width).toBeGreaterThanOrEqual(24)
      expect(box!.height).toBeGreaterThanOrEqual(24)
      // pointer targets: the keyboard has [ ] and the moments list
      expect(await tick.getAttribute('tabindex')).toBe('-1')
      boxes.push(box!)
    }
    // none hides another: moments too close for a finger share one tick
    boxes.sort((a, b) => a.x - b.x)
    for (let i = 1; i < boxes.length; i++) expect(boxes[i]!.x).toBeGreaterThanOrEqual(boxes[i - 1]!.x + 23.5)
    const before = await slider.inputValue()
    await ticks.first().click()
    await expect.poll(() => slider.inputValue()).not.toBe(before)
    expect(ui.errors()).toEqual([])
  })

  test('a replay playing at 1x over minute buckets moves its clock every second', async () => {
    const now = Date.now()
    const HOUR = 3_600_000
    await endedSession('long-replay', now - 6 * HOUR, now - HOUR, [
      { type: 'view_start', viewer_id: 'v', ts: now - 5 * HOUR },
    ])
    const ui = await openPage(browser)
    const { page } = ui
    await page.goto(dashboardUrl(server.url, '/replay/long-replay', server.opsToken))
    const slider = page.getByRole('slider', { name: 'Position in the session' })
    await slider.waitFor()
    // Five hours in ~2 000 buckets or fewer: 1-minute buckets.
    await slider.focus()
    await page.keyboard.press('Home')
    const clock = () => textOf(page.locator('.transport .clock'))
    await expect.poll(clock).toMatch(/^\+0:00 /)
    await page.getByRole('button', { name: '1×' }).click()
    await page.getByRole('button', { name: 'Play' }).click()
    // Within the first bucket: the clock runs, not stands for 60 s.
    await expect.poll(clock, { timeout: 5_000 }).toMatch(/^\+0:0[1-9] /)
    expect(ui.errors()).toEqual([])
  })

  test('on a phone each quarantined event is a card whose raw text stays one line until opened', async () => {
    const raw = JSON.stringify({
      event_id: 'phone-bad',
      type: 'comment',
      stream_id: 'x',
      note: 'n'.repeat(400),
    })
    const { status } = await server.ingest(raw)
    expect(status).toBe(422)
    const ui = await openPage(browser, { width: 390, height: 844 })
    const { page } = ui
    await page.goto(dashboardUrl(server.url, '/quarantine', server.opsToken))
    const card = page.locator('tr', { hasText: 'phone-bad' })
    await card.waitFor()
    const visibleRight = await page.evaluate(() => document.documentElement.clientWidth)
    const box = await card.boundingBox()
    expect(box!.x + box!.width).toBeLessThanOrEqual(visibleRight)
    // Time, id, reason and a one-line raw text: well under a screen's height (it was ~400 px).
    expect(box!.height).toBeLessThan(200)
    expect(await textOf(card.locator('.reason'))).toMatch(/ts: is required/)
    // The event_id has a line of its own (beside a time with seconds it had 0 px), and the
    // closed raw text spans the card (it kept the desktop column's 40 %).
    const id = await card.locator('.event-id').boundingBox()
    expect(id!.width).toBeGreaterThan(box!.width * 0.8)
    expect(await card.locator('.event-id').evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true)
    expect((await card.locator('summary').boundingBox())!.width).toBeGreaterThan(box!.width * 0.8)
    await card.locator('summary').click()
    await expect.poll(async () => (await card.locator('pre').textContent())?.length).toBe(raw.length)
    expect(ui.errors()).toEqual([])
  })

  test("a session longer than the charts' window says what they show and links the whole", async () => {
    const now = Date.now()
    const HOUR = 3_600_000
    await endedSession('three-hours', now - 4 * HOUR, now - HOUR, [
      { type: 'view_start', viewer_id: 'v', ts: now - 4 * HOUR + 1_000 },
      { type: 'view_start', viewer_id: 'w', ts: now - HOUR - 1_000 },
    ])
    const ui = await openPage(browser)
    const { page } = ui
    await page.goto(dashboardUrl(server.url, '/stream/three-hours', server.opsToken))
    const note = page.locator('.window-note')
    await expect
      .poll(() => textOf(note))
      .toBe('The charts show the last 2 hours at 10s; 1m shows more. The whole session is in the replay.')
    expect(await note.getByRole('link', { name: 'replay' }).getAttribute('href')).toBe('/replay/three-hours')
    // At 1m four hours fit: nothing is cut, nothing said.
    await page.getByRole('button', { name: '1m' }).click()
    await page.waitForURL(/step=1m/)
    await expect.poll(() => note.count()).toBe(0)
    expect(ui.errors()).toEqual([])
  })

  test('the replay tells what followed each pin and marker, and lists products and sources', async () => {
    // 20 minutes at 1 s buckets: each moment is weighed over 100 s before and after it.
    const from = Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
    const at = (minutes: number) => from + minutes * 60_000
    const order = (minutes: number, n: number, amount: string) => ({
      type: 'order_paid',
      ts: at(minutes),
      viewer_id: `buyer-${n}`,
      product_id: n < 3 ? 'serum' : 'lipstick',
      order_id: `moments-o${n}`,
      amount,
    })
    await endedSession('moments', from, at(20), [
      { type: 'view_start', ts: at(0.5), viewer_id: 'buyer-0', source: 'ads' },
      { type: 'product_pin', ts: at(2), product_id: 'serum' },
      order(5, 0, '10.00'),
      order(9, 1, '5.00'),
      { type: 'marker', ts: at(10), label: 'flash sale starts' },
      order(10.5, 2, '20.00'),
      order(11, 3, '20.00'),
      order(11.5, 4, '20.00'),
    ])
    const ui = await openPage(browser)
    const { page } = ui
    await page.goto(dashboardUrl(server.url, '/replay/moments', server.creatorToken('moments-creator')))
    const panel = page.locator('.panel', { has: page.getByRole('heading', { name: /Pins & markers/ }) })
    const flash = panel.locator('tr', { hasText: 'flash sale starts' })
    await flash.waitFor()
    expect(await textOf(flash)).toContain('$5.00 → $60.00')
    expect(await textOf(flash)).toContain('1 → 3')
    expect(await textOf(flash)).toContain('biggest GMV lift')
    // ...and said above the list, which may be longer than its box.
    const callout = await textOf(panel.locator('.best-callout'))
    expect(callout).toContain('flash sale starts at +10:00: GMV $5.00 → $60.00')
    expect(await textOf(panel.locator('tr', { hasText: 'Pinned serum' }))).toContain('$0.00 → $0.00')
    expect(await textOf(panel.locator('.explain'))).toContain('1m 40s')
    // Going there stops at the marker's bucket: 600 s into 1 s buckets.
    const slider = page.getByRole('slider', { name: 'Position in the session' })
    await flash.getByRole('button', { name: 'Go to flash sale starts' }).click()
    await expect.poll(() => slider.inputValue()).toBe('600')
    // ...and brings the scrubber into view (the list is below it, often below the fold).
    await expect
      .poll(() =>
        slider.evaluate(
          // (a fraction of a pixel above the top is the scroll's rounding)
          (el) => el.getBoundingClientRect().top > -1 && el.getBoundingClientRect().bottom <= innerHeight,
        ),
      )
      .toBe(true)
    // From the keyboard: [ and ] go to the previous and next moment, Space plays.
    await page.locator('h1').click()
    await page.keyboard.press('[')
    await expect.poll(() => slider.inputValue()).toBe('120')
    await page.keyboard.press(']')
    await expect.poll(() => slider.inputValue()).toBe('600')
    await page.keyboard.press(' ')
    await page.getByRole('button', { name: 'Pause' }).waitFor()
    await page.keyboard.press(' ')
    await page.getByRole('button', { name: 'Play' }).waitFor()
    // Products as they stood at the position (just past the flash sale's start: the serum's
    // two orders, not yet the lipstick's three), sources for the whole session beside them.
    const products = page.locator('.panel', { has: page.getByRole('heading', { name: /^Products/ }) })
    await expect.poll(() => textOf(products.locator('h2'))).toContain('at +10:0')
    expect(await textOf(products.locator('tbody tr').first())).toContain('serum $15.00')
    const sources = page.locator('.panel', { has: page.getByRole('heading', { name: /^Traffic sources/ }) })
    expect(await textOf(sources)).toContain('Ads')
    // buyer-0 came from Ads before ordering; the other four buyers had no view before.
    expect(await textOf(sources)).toContain('1 order · $10.00 · 100.0% conversion most GMV')
    expect(await textOf(sources)).toContain(
      '4 orders ($65.00) not credited: no view by the buyer before the order',
    )

    // On a phone each moment is a card: neither the page nor the list scrolls sideways.
    const phone = await openPage(browser, { width: 390, height: 844, suffix: 'phone' })
    await phone.page.goto(dashboardUrl(server.url, '/replay/moments', server.creatorToken('moments-creator')))
    await phone.page.locator('.moments').waitFor()
    const sideways = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(sideways).toBeLessThanOrEqual(0)
    const list = phone.page.locator('.moments')
    expect(await list.evaluate((el) => el.scrollWidth - el.clientWidth)).toBeLessThanOrEqual(0)
    expect(await textOf(list.locator('tr', { hasText: 'flash sale starts' }))).toContain('$5.00 → $60.00')
    expect(phone.errors()).toEqual([])

    // A compare link to a stream this creator may not see leaves their own replay standing.
    await page.goto(`${server.url}/replay/moments?compare=${miaEnded.stream_id}`)
    await page.locator('.compare-hidden').waitFor()
    expect(await textOf(page.locator('.compare-hidden'))).toContain(miaEnded.stream_id)
    // (the picker says "— none —", not a blank box)
    expect(await page.getByLabel('Compare with').inputValue()).toBe('')
    await expect.poll(() => textOf(kpiValue(page, 'GMV'))).toBe(formatMoney(75))
    expect(await page.locator('.compare-row').count()).toBe(0)
    expect(unexpectedErrors(ui, 404)).toEqual([])
  })

  test('a pin is weighed by what it did for the pinned product; products stand as at the scrub position', async () => {
    const from = Math.floor((Date.now() - 40 * 60_000) / 1000) * 1000
    const at = (minutes: number) => from + minutes * 60_000
    const order = (minutes: number, n: number, product: string, amount: string) => ({
      type: 'order_paid',
      ts: at(minutes),
      viewer_id: `pins-buyer-${n}`,
      product_id: product,
      order_id: `pins-o${n}`,
      amount,
    })
    // 100 s windows around the pin at 10 min: the serum sold before it, the lipstick after.
    await endedSession('pins', from, at(20), [
      order(9, 0, 'serum', '30.00'),
      { type: 'product_pin', ts: at(10), product_id: 'lipstick' },
      order(10.5, 1, 'lipstick', '15.00'),
      order(11, 2, 'lipstick', '25.00'),
      order(11.2, 3, 'serum', '7.00'),
    ])
    const ui = await openPage(browser)
    await ui.page.goto(dashboardUrl(server.url, '/replay/pins', server.creatorToken('pins-creator')))
    const pin = ui.page.locator('tr', { hasText: 'Pinned lipstick' })
    await expect.poll(() => textOf(pin)).toContain('pinned product $0.00 → $40.00')
    const text = await textOf(pin)
    expect(text).toContain('$30.00 → $47.00') // the whole stream
    expect(text).toContain('pinned product 0 → 2')
    // The products table stands as it did at the scrub position: at the pin, only the
    // serum had sold; at the end the lipstick leads (40 against 37).
    const products = ui.page.locator('.panel', { has: ui.page.getByRole('heading', { name: /^Products/ }) })
    expect(await textOf(products.locator('tbody tr').first())).toContain('lipstick')
    await pin.getByRole('button', { name: 'Go to Pinned lipstick' }).click()
    await expect.poll(() => textOf(products.locator('h2'))).toContain('at +10:00')
    expect(await textOf(products.locator('tbody tr').first())).toContain('serum')
    expect(await textOf(products.locator('tbody tr').first())).toContain('$30.00')
    expect(ui.errors()).toEqual([])
  })

  test('on a phone the streams list can still be sorted', async () => {
    const ui = await openPage(browser, { width: 390, height: 844 })
    const { page } = ui
    await page.goto(dashboardUrl(server.url, '/streams', server.opsToken))
    const sort = page.getByRole('combobox', { name: 'Sort' })
    await sort.waitFor()
    const all: ApiStream[] = (await server.get('/v1/streams?status=all')).body.streams
    const most = Math.max(...all.map((s) => s.totals.orders ?? 0))
    // (Streams tied for the most orders may come in either order.)
    const leaders = all.filter((s) => s.totals.orders === most).map((s) => s.title)
    await sort.selectOption('orders:desc')
    await page.waitForURL(/sort=orders/)
    await expect
      .poll(async () => {
        const first = await textOf(page.locator('table.data tbody tr').first())
        return leaders.some((title) => first?.includes(title))
      })
      .toBe(true)
    expect(ui.errors()).toEqual([])
  })

  test('the pins & markers list says when it shows only the latest of them', async () => {
    const now = Date.now()
    await endedSession(
      'many-markers',
      now - 120_000,
      now - 60_000,
      Array.from({ length: 14 }, (_, i) => ({
        type: 'marker',
        ts: now - 100_000 + i * 1000,
        label: `moment ${i + 1}`,
      })),
    )
    const ui = await openPage(browser)
    await ui.page.goto(dashboardUrl(server.url, '/stream/many-markers', server.opsToken))
    const panel = ui.page.locator('.panel', { hasText: 'Pins & markers' })
    await expect.poll(() => textOf(panel)).toContain('The latest 12 of 14; all are marked on the charts.')
    expect(await textOf(panel)).toContain('moment 14')
    // The newest 12: moments 3 to 14.
    expect(await panel.locator('li').count()).toBe(12)
    expect(await textOf(panel.locator('li').last())).toContain('moment 3')
    expect(ui.errors()).toEqual([])
  })

  test('a live stream whose producer went silent says so on its own page, as its wall tile does', async () => {
    const at = Date.now() - 150_000
    await server.ingest([
      {
        event_id: 'quiet-start',
        type: 'stream_start',
        stream_id: 'quiet-live',
        ts: at,
        creator_id: 'quiet-creator',
      },
      {
        event_id: 'quiet-like',
        type: 'like',
        stream_id: 'quiet-live',
        ts: at + 1000,
        viewer_id: 'v',
        quantity: 1,
      },
    ])
    const ui = await openPage(browser, { width: 390, height: 844 })
    await ui.page.goto(dashboardUrl(server.url, '/stream/quiet-live', server.creatorToken('quiet-creator')))
    // still live (SPEC §3: 5 minutes after its last event), and not taken for a feed that flows
    await expect.poll(() => textOf(ui.page.locator('.meta .badge'))).toBe('● LIVE')
    await expect.poll(() => textOf(ui.page.locator('.meta .quiet-note'))).toBe('no events for 2 min')
    // events again: the note goes
    await server.ingest([
      {
        event_id: 'quiet-like-2',
        type: 'like',
        stream_id: 'quiet-live',
        ts: Date.now(),
        viewer_id: 'v',
        quantity: 1,
      },
    ])
    await expect.poll(() => ui.page.locator('.meta .quiet-note').count()).toBe(0)
    expect(ui.errors()).toEqual([])
    // (ended, so the walls of the tests after this one hold the seeded streams only)
    await server.ingest([
      { event_id: 'quiet-end', type: 'stream_end', stream_id: 'quiet-live', ts: Date.now() },
    ])
  })

  test('a vertical outside the usual four gets its own filter on the wall and in the streams list', async () => {
    await server.ingest([
      {
        event_id: 'elec-start',
        type: 'stream_start',
        stream_id: 'elec-live',
        ts: Date.now() - 5_000,
        creator_id: 'elec-creator',
        title: 'Gadget hour',
        vertical: 'Electronics',
      },
    ])
    const ui = await openPage(browser)
    const { page } = ui
    // (opened on another vertical: the wall's messages hold none of Electronics' streams)
    await page.goto(dashboardUrl(server.url, '/?vertical=Beauty', server.opsToken))
    const filter = page.getByRole('group', { name: 'Vertical' }).getByRole('button', { name: 'Electronics' })
    await filter.click()
    await page.waitForURL(`${server.url}/?vertical=Electronics`)
    expect(await filter.getAttribute('aria-pressed')).toBe('true')
    await expect.poll(() => page.locator('.tile').count()).toBe(1)
    expect(await textOf(page.locator('.tile'))).toContain('Gadget hour')
    await page.goto(`${server.url}/streams?vertical=Electronics`)
    const select = page.getByRole('combobox', { name: 'Vertical' })
    await expect.poll(() => select.inputValue()).toBe('Electronics')
    await expect.poll(() => textOf(page.locator('tbody'))).toContain('Gadget hour')
    expect(ui.errors()).toEqual([])
    // (ended, so the walls of the tests after this one hold the seeded streams only)
    await server.ingest([
      { event_id: 'elec-end', type: 'stream_end', stream_id: 'elec-live', ts: Date.now() },
    ])
  })

  test('a mistyped link opens the dashboard saying the page is not found; the API keeps its JSON 404', async () => {
    const ui = await openPage(browser)
    await ui.page.goto(dashboardUrl(server.url, '/', server.opsToken))
    const response = await ui.page.goto(`${server.url}/strems`)
    expect(response!.status()).toBe(404)
    await ui.page.getByRole('heading', { name: 'Page not found' }).waitFor()
    expect(await ui.page.getByRole('link', { name: 'Go to the wall' }).getAttribute('href')).toBe('/')
    const api = await fetch(`${server.url}/v1/nope`, { headers: { accept: 'text/html' } })
    expect(api.status).toBe(404)
    expect((await api.json()).error.code).toBe('not_found')
    expect(unexpectedErrors(ui, 404)).toEqual([])
  })

  test('the kiosk wall opens without a console error', async () => {
    const ui = await openPage(browser, { width: 1920, height: 1080 })
    await ui.page.goto(dashboardUrl(server.url, '/?kiosk=1', server.opsToken))
    await expect.poll(() => ui.page.locator('.tile').count(), { timeout: 20_000 }).toBe(3)
    expect(ui.errors()).toEqual([])
  })
})

describe('access on screen (SPEC §6)', () => {
  test("a creator's link cannot open another creator's stream or replay, and shows none of its numbers", async () => {
    const ui = await openPage(browser)
    const { page } = ui
    const mia = await apiStream(miaLive.stream_id)
    const miaReplay = await apiStream(miaEnded.stream_id)
    const noahToken = server.creatorToken(noahLive.creator_id)

    await page.goto(dashboardUrl(server.url, `/stream/${miaLive.stream_id}`, noahToken))
    await page.getByRole('heading', { name: 'Stream not found — or not yours' }).waitFor()
    let body = (await page.locator('body').textContent()) ?? ''
    expect(body).not.toContain(miaLive.title)
    expect(body).not.toContain(formatMoney(mia.totals.gmv))
    expect(await page.locator('.kpi').count()).toBe(0)

    await page.goto(`${server.url}/replay/${miaEnded.stream_id}`)
    await page.getByRole('heading', { name: 'Stream not found — or not yours' }).waitFor()
    body = (await page.locator('body').textContent()) ?? ''
    expect(body).not.toContain(miaEnded.title)
    expect(body).not.toContain(formatMoney(miaReplay.totals.gmv))
    expect(await page.locator('.kpi').count()).toBe(0)

    // Their own stream opens; the wall shows their streams only.
    await page.goto(`${server.url}/stream/${noahLive.stream_id}`)
    await page.getByRole('heading', { name: noahLive.title }).waitFor()
    await page.goto(`${server.url}/`)
    await wallTile(page, noahLive.stream_id).waitFor()
    expect(await page.locator('a.tile').count()).toBe(1)
    // Every tile is theirs: the title leads (not their own id on every tile), then the start.
    expect(await textOf(wallTile(page, noahLive.stream_id).locator('.creator'))).toBe(noahLive.title)
    expect(await textOf(wallTile(page, noahLive.stream_id).locator('.title'))).toMatch(/^started \d\d:\d\d/)
    // Their wall is their own streams: no vertical filter to pick among verticals they are not in.
    await page.locator('.toolbar .muted', { hasText: 'creator' }).waitFor()
    expect(await page.getByRole('group', { name: 'Vertical' }).count()).toBe(0)
    // No link to the quarantine, which is for ops tokens only.
    await page.goto(`${server.url}/streams`)
    await page.locator('nav .who', { hasText: 'creator' }).waitFor()
    expect(await page.locator('nav a').allTextContents()).toEqual(['Livewall', 'Wall', 'Streams'])
    // ...and opened by its address, a page saying so, not the API's message under a Refresh button.
    await page.goto(`${server.url}/quarantine`)
    await page.getByRole('heading', { name: 'The quarantine is for operations' }).waitFor()
    expect(await page.getByRole('button', { name: 'Refresh' }).count()).toBe(0)
    // A creator with no stream yet is told why the list is empty.
    await page.goto(dashboardUrl(server.url, '/streams', server.creatorToken('c-nobody')))
    await expect
      .poll(() => textOf(page.locator('main > p.muted')))
      .toBe('No streams for c-nobody yet: a stream shows here once its stream_start names you.')

    expect(unexpectedErrors(ui, 404, 403)).toEqual([])
  })

  test('an expired or missing link shows a clear message, not a blank page', async () => {
    const expired = issueToken(TEST_SECRET, { role: 'ops', ttlMs: -60_000 })
    for (const view of ['/', `/stream/${noahLive.stream_id}`, '/streams']) {
      const ui = await openPage(browser, { suffix: `expired ${view}` })
      await ui.page.goto(dashboardUrl(server.url, view, expired))
      await ui.page.getByRole('heading', { name: 'This link has expired' }).waitFor()
      expect(await textOf(ui.page.locator('main'))).toContain('Ask whoever gave you this link for a new one')
      expect(await ui.page.locator('.tile, .kpi, table').count()).toBe(0)
      expect(unexpectedErrors(ui, 401), view).toEqual([])
    }

    const noToken = await openPage(browser, { suffix: 'no token' })
    await noToken.page.goto(`${server.url}/`)
    await noToken.page.getByRole('heading', { name: 'Open Livewall with your link' }).waitFor()
    // The new link, opened in the same tab: only the fragment changes, and the wall comes up.
    await noToken.page.evaluate((token) => {
      window.location.hash = `token=${token}`
    }, server.opsToken)
    await wallTile(noToken.page, miaLive.stream_id).waitFor()
    expect(new URL(noToken.page.url()).hash).toBe('')
    expect(noToken.errors()).toEqual([])
  })

  test('a link that expires while the wall is open leaves its last numbers under a loud banner', async () => {
    const ui = await openPage(browser)
    const shortLived = issueToken(TEST_SECRET, { role: 'ops', ttlMs: 8_000 })
    await ui.page.goto(dashboardUrl(server.url, '/', shortLived))
    await wallTile(ui.page, miaLive.stream_id).waitFor()
    const gmvBefore = await textOf(wallTile(ui.page, miaLive.stream_id).locator('.gmv'))
    // Warned before it happens.
    expect(await textOf(ui.page.getByRole('status').filter({ hasText: 'expires' }))).toContain(
      'This link expires in 1 min',
    )
    const expired = ui.page.getByRole('alert')
    await expired.filter({ hasText: 'ACCESS EXPIRED' }).waitFor({ timeout: 20_000 })
    expect(await textOf(expired)).toMatch(
      /^ACCESS EXPIRED — these numbers stopped at \d\d:\d\d:\d\d UTC\. Open a new link/,
    )
    // One banner (not a second one for the connection the server closed), over the last frame.
    expect(await expired.count()).toBe(1)
    expect(await textOf(wallTile(ui.page, miaLive.stream_id).locator('.gmv'))).toBe(gmvBefore)
    // Other views have nothing to keep: the stream page turns into the message.
    await ui.page
      .getByRole('link', { name: new RegExp(miaLive.creator_id) })
      .first()
      .click()
    await ui.page.getByRole('heading', { name: 'This link has expired' }).waitFor()
    expect(unexpectedErrors(ui, 401)).toEqual([])
  })
})
