import type { Browser, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { formatClock, formatCount, formatMoney } from '../../web/src/lib/format.ts'
import { replayStep } from '../../web/src/lib/replay.ts'
import { startTestServer, type TestServer } from '../helpers/server.ts'
import {
  dashboardUrl,
  ensureDashboardBuilt,
  launchBrowser,
  openPage,
  saveScreenshot,
  textOf,
  wallTileAtRank,
} from './helpers.ts'
import { SEED_STREAMS, type SeedStream, seedEvents, streamEvents } from './seed.ts'

// Two screens built for a room, not a desk: the kiosk wall (no chrome; pages that take turns
// when the tiles do not fit one screen) and the replay laid over a second finished session.

let server: TestServer
let browser: Browser
const { miaEnded } = SEED_STREAMS

/** Six more live streams: nine in all, more than a small kiosk screen shows at once. */
const MORE_LIVE: SeedStream[] = Array.from({ length: 6 }, (_, i) => ({
  stream_id: `e2e-kiosk-${i + 1}`,
  creator_id: `host-${i + 1}`,
  title: `Late show #${i + 1}`,
  vertical: ['Fashion', 'Beauty', 'Home & Living', 'Other'][i % 4] as string,
  startedAgoMs: (10 + 3 * i) * 60_000,
  viewers: 20 + 9 * i,
}))

/** A second finished session to compare Mia's with: longer, so it sets the replay's timeline. */
const noahEnded: SeedStream = {
  stream_id: 'e2e-noah-replay',
  creator_id: 'noah',
  title: 'Serum launch (ended)',
  vertical: 'Beauty',
  startedAgoMs: 100 * 60_000,
  endedAgoMs: 65 * 60_000,
  viewers: 70,
}

interface ApiStream {
  stream_id: string
  creator_id: string
  title: string
  started_at: number
  last_event_at: number
  ended_at: number | null
  totals: Record<string, number | null>
}

async function apiStream(id: string): Promise<ApiStream> {
  const { status, body } = await server.get(`/v1/streams/${id}`)
  expect(status).toBe(200)
  return body
}

beforeAll(async () => {
  const [, launched] = await Promise.all([ensureDashboardBuilt(), launchBrowser()])
  browser = launched
  server = await startTestServer()
  const now = Date.now()
  const events = [
    ...seedEvents(now).valid,
    ...[...MORE_LIVE, noahEnded].flatMap((stream, i) => streamEvents(stream, now, 100 + i)),
  ]
  const stored = await server.ingest(events)
  expect(stored.status, JSON.stringify(stored.body)).toBe(200)
  expect(stored.body.accepted).toBe(events.length)
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

/** Ranks and creators of the tiles wholly inside the wall's viewport, best rank first. */
function tilesOnScreen(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const view = document.querySelector('.viewport')?.getBoundingClientRect()
    if (!view) return []
    return [...document.querySelectorAll('.tile')]
      .filter((tile) => {
        const r = tile.getBoundingClientRect()
        return (
          r.left >= view.left - 1 &&
          r.right <= view.right + 1 &&
          r.top >= view.top - 1 &&
          r.bottom <= view.bottom + 1
        )
      })
      .map(
        (tile) =>
          `${tile.querySelector('.rank')?.textContent?.trim()} ${tile.querySelector('.creator')?.textContent?.trim()}`,
      )
      .sort((a, b) => Number.parseInt(a.slice(1), 10) - Number.parseInt(b.slice(1), 10))
  })
}

describe('kiosk wall (README: `?kiosk=1` hides chrome and rotates pages)', () => {
  test('no chrome, and tiles that do not fit one screen take turns, page after page and round again', async () => {
    const ui = await openPage(browser, { width: 960, height: 540 })
    const { page } = ui
    // rotate=2: a page every 2 s instead of 12, so the test sees every page and the wrap-around
    await page.goto(dashboardUrl(server.url, '/?kiosk=1&rotate=2', server.opsToken))

    const live: ApiStream[] = (await server.get('/v1/streams?status=live')).body.streams
    expect(live).toHaveLength(9)
    await expect.poll(() => page.locator('.tile').count(), { timeout: 20_000 }).toBe(live.length)
    // The wall's ranking: most GMV first (the seed has no ties), as "#rank creator".
    const byGmv = [...live].sort((a, b) => (b.totals.gmv ?? 0) - (a.totals.gmv ?? 0))
    const ranked = byGmv.map((s, i) => `#${i + 1} ${s.creator_id}`)
    await expect.poll(() => textOf(wallTileAtRank(page, 1).locator('.creator'))).toBe(byGmv[0]!.creator_id)

    // No chrome: no filter, no links out (tiles are not links), nothing to click.
    expect(await page.locator('.toolbar').count()).toBe(0)
    expect(await page.getByRole('link').count()).toBe(0)
    expect(await page.getByRole('button').count()).toBe(0)
    expect(await page.locator('a.tile').count()).toBe(0)
    expect(await page.locator('div.tile').count()).toBe(live.length)
    expect(await page.locator('.wall.kiosk').evaluate((el) => getComputedStyle(el).cursor)).toBe('none')

    // The pager says how many pages there are; the first one shows the best ranks.
    const pager = page.locator('.pager .num')
    await expect.poll(() => textOf(pager), { timeout: 10_000 }).toMatch(/^1\/\d+$/)
    const pages = Number((await textOf(pager))?.split('/')[1])
    expect(pages).toBeGreaterThanOrEqual(3)
    const firstPage = await tilesOnScreen(page)
    const perPage = firstPage.length
    expect(perPage).toBeGreaterThan(0)
    expect(pages).toBe(Math.ceil(live.length / perPage))
    expect(firstPage).toEqual(ranked.slice(0, perPage))
    await saveScreenshot(page, 'page 1')

    // Each page in turn shows the next ranks, then the first page comes round again.
    const TURN = { timeout: 8_000, interval: 100 }
    for (let p = 2; p <= pages; p++) {
      await expect.poll(() => textOf(pager), TURN).toBe(`${p}/${pages}`)
      await expect.poll(() => tilesOnScreen(page), TURN).toEqual(ranked.slice((p - 1) * perPage, p * perPage))
      await saveScreenshot(page, `page ${p}`)
    }
    await expect.poll(() => textOf(pager), TURN).toBe(`1/${pages}`)
    await expect.poll(() => tilesOnScreen(page), TURN).toEqual(firstPage)

    expect(ui.errors()).toEqual([])
  })

  test('a few streams fill the TV: tiles as large as the screen makes them, not base tiles in a corner', async () => {
    const ui = await openPage(browser, { width: 1920, height: 1080 })
    const { page } = ui
    await page.goto(dashboardUrl(server.url, '/?kiosk=1&vertical=Beauty', server.opsToken))
    const beauty = ((await server.get('/v1/streams?status=live&vertical=Beauty')).body.streams as ApiStream[])
      .length
    expect(beauty).toBeGreaterThanOrEqual(2)
    await expect.poll(() => page.locator('.tile').count(), { timeout: 20_000 }).toBe(beauty)
    const header = (await page.locator('header').boundingBox())!
    const tiles = await page
      .locator('.tile')
      .evaluateAll((els) => els.map((el) => el.getBoundingClientRect().toJSON()))
    const bottom = Math.max(...tiles.map((t) => t.bottom))
    const right = Math.max(...tiles.map((t) => t.right))
    // The tiles reach the bottom and the right of the screen (16 px margins), and no further.
    expect(bottom).toBeGreaterThan(1080 - 40)
    expect(bottom).toBeLessThanOrEqual(1080)
    expect(right).toBeGreaterThan(1920 - 40)
    expect(right).toBeLessThanOrEqual(1920)
    for (const t of tiles) expect(t.top).toBeGreaterThanOrEqual(header.y + header.height)
    // Each tile is well over the base size (26 × 13 rem at 16 px: 416 × 208 px).
    for (const t of tiles) expect(Math.min(t.width / 416, t.height / 208)).toBeGreaterThan(1.8)
    // ...and so is its GMV (2.6 rem at the base size: 41.6 px).
    const gmvSize = await page
      .locator('.tile .gmv')
      .first()
      .evaluate((el) => Number.parseFloat(getComputedStyle(el).fontSize))
    expect(gmvSize).toBeGreaterThan(41.6 * 1.8)
    expect(ui.errors()).toEqual([])
  })
})

/** Columns of the canvas with the compared stream's colour (#ff7eb6) under the marker labels. */
function compareColourColumns(chart: Locator): Promise<number> {
  return chart.locator('canvas').evaluate((canvas: HTMLCanvasElement) => {
    const context = canvas.getContext('2d')
    if (!context) return 0
    const { width, height } = canvas
    const pixels = context.getImageData(0, 0, width, height).data
    // below the band that holds marker labels (16 CSS px at the top), which share the colour
    const top = Math.ceil(20 * devicePixelRatio)
    let columns = 0
    for (let x = 0; x < width; x++) {
      for (let y = top; y < height; y++) {
        const i = (y * width + x) * 4
        const [r, g, b] = [pixels[i] ?? 0, pixels[i + 1] ?? 0, pixels[i + 2] ?? 0]
        if (r > 220 && g > 95 && g < 160 && b > 150 && b < 215) {
          columns++
          break
        }
      }
    }
    return columns
  })
}

describe('replay compare (README: overlay a second session aligned by time since start)', () => {
  test('a second ended stream is drawn over the first, named, with its KPIs at the same time since start', async () => {
    const ui = await openPage(browser)
    const { page } = ui
    const [main, other] = await Promise.all([apiStream(miaEnded.stream_id), apiStream(noahEnded.stream_id)])
    const length = (s: ApiStream) => (s.ended_at ?? s.last_event_at) - s.started_at
    // The buckets the replay loads: one step for both, from the longer session.
    const step = replayStep(Math.max(length(main), length(other)))
    const { body: series } = await server.get(
      `/v1/streams/${other.stream_id}/series?step=${step}&metrics=gmv,orders`,
    )
    const gmvCents: number[] = series.gmv.map((v: number) => Math.round(v * 100))
    // (a scrub position is a bucket boundary: the buckets before it)
    const otherAsOf = (position: number) => ({
      gmv: formatMoney(gmvCents.slice(0, position).reduce((a, b) => a + b, 0) / 100),
      orders: formatCount(series.orders.slice(0, position).reduce((a: number, b: number) => a + b, 0)),
    })

    await page.goto(dashboardUrl(server.url, `/replay/${main.stream_id}`, server.opsToken))
    const scrubber = page.getByRole('slider', { name: 'Position in the session' })
    await scrubber.waitFor()
    const gmvChart = page.locator('.chart-big')
    await expect.poll(() => gmvChart.locator('canvas').count()).toBe(1)
    // Alone, nothing is drawn in the compare colour (no marker shares it).
    const alone = await compareColourColumns(gmvChart)
    expect(alone).toBe(0)
    expect(await page.locator('.compare-row').count()).toBe(0)

    // Pick the other session in "Compare with" (only ended streams are offered).
    const picker = page.getByLabel('Compare with')
    expect(await picker.locator('option').allTextContents()).toEqual([
      '— none —',
      expect.stringContaining(noahEnded.title),
    ])
    await picker.selectOption(other.stream_id)
    await page.waitForURL(`${server.url}/replay/${main.stream_id}?compare=${other.stream_id}`)

    // The compared stream is named, with its KPIs where the timeline stands: at the end, its whole
    // session (it is the longer one, so the timeline ends with it).
    const row = page.locator('.compare-row')
    await expect.poll(() => textOf(row.locator('strong')), { timeout: 20_000 }).toBe(noahEnded.title)
    const last = series.t.length
    expect(Number(await scrubber.getAttribute('max'))).toBe(last)
    expect(otherAsOf(last).gmv).toBe(formatMoney(other.totals.gmv))
    expect(await textOf(row)).toContain(`GMV ${formatMoney(other.totals.gmv)}`)
    expect(await textOf(row)).toContain(`Orders ${formatCount(other.totals.orders)}`)
    expect(await textOf(gmvChart.locator('xpath=..').locator('h2'))).toContain('dashed: compared stream')

    // Its curve is drawn: the compare colour now runs across the chart, not just the marker line.
    await expect.poll(() => compareColourColumns(gmvChart)).toBeGreaterThan(alone + 200)

    // The chart's readout names it too, with its cumulative GMV at the hovered bucket.
    const plot = await gmvChart.locator('.u-over').boundingBox()
    expect(plot).not.toBeNull()
    await page.mouse.move(plot!.x + plot!.width * 0.8, plot!.y + plot!.height / 2)
    await expect
      .poll(() => textOf(gmvChart.locator('.chart-tip')))
      .toMatch(
        new RegExp(`${noahEnded.title.replace(/[()]/g, '\\$&')} \\(cumulative\\): \\$[\\d,]+\\.\\d\\d`),
      )
    await saveScreenshot(page, 'compared')

    // Scrubbing moves both: the compared stream's KPIs as they stood at the same time since start.
    const middle = Math.floor(last * 0.4)
    expect(otherAsOf(middle).gmv).not.toBe(otherAsOf(last).gmv)
    await scrubber.fill(String(middle))
    await expect.poll(() => textOf(row)).toContain(`GMV ${otherAsOf(middle).gmv}`)
    expect(await textOf(row)).toContain(`Orders ${otherAsOf(middle).orders}`)
    // (time since the main stream's start; positions count from its first bucket's)
    const { body: mainAtStep } = await server.get(
      `/v1/streams/${main.stream_id}/series?step=${step}&metrics=gmv`,
    )
    const sinceStart = Math.max(0, middle * series.step_ms - (main.started_at - mainAtStep.t[0]))
    expect(await textOf(row)).toContain(`at +${formatClock(sinceStart)}`)

    // "— none —" takes the overlay away again, and the position stays at the same time in
    // the session (alone, the replay has its own step, so another bucket number).
    await picker.selectOption('')
    await expect.poll(() => page.locator('.compare-row').count()).toBe(0)
    await expect.poll(() => compareColourColumns(gmvChart)).toBeLessThan(alone + 20)
    const aloneStep = replayStep(length(main))
    const { body: mainSeries } = await server.get(
      `/v1/streams/${main.stream_id}/series?step=${aloneStep}&metrics=gmv`,
    )
    // The same moment (floored: another step never shows more than had been reached), from
    // the first bucket's start at each step.
    const at = mainAtStep.t[0] + middle * series.step_ms
    const kept = Math.min(mainSeries.t.length, Math.floor((at - mainSeries.t[0]) / mainSeries.step_ms))
    expect(kept).toBeLessThan(mainSeries.t.length)
    await expect.poll(async () => Number(await scrubber.inputValue())).toBe(kept)

    expect(ui.errors()).toEqual([])
  })
})
