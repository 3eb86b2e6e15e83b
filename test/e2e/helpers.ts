// What the browser tests share: the built dashboard, one Chromium, pages whose console is
// watched and whose last state is saved to test-results/, and locators for the screens.

import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { expect, onTestFinished } from 'vitest'
import { ROOT } from './build.ts'

export { ensureDashboardBuilt, launchBrowser } from './build.ts'

export interface UiPage {
  page: Page
  context: BrowserContext
  /** console.error lines and uncaught exceptions, as they happened */
  consoleErrors: string[]
  pageErrors: string[]
  /** both lists, for an assertion message */
  errors(): string[]
}

function fileName(name: string): string {
  return name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 150)
}

/**
 * A fresh browser context (own sessionStorage) and page. When the current test finishes, pass
 * or fail, the page is saved to test-results/<test name>[-<suffix>].png and the context closed.
 */
export async function openPage(
  browser: Browser,
  options: { width?: number; height?: number; suffix?: string } = {},
): Promise<UiPage> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1440, height: options.height ?? 900 },
    // A fixed timezone so formatted times do not depend on the machine.
    timezoneId: 'UTC',
    locale: 'en-US',
  })
  const page = await context.newPage()
  const consoleErrors: string[] = []
  const pageErrors: string[] = []
  page.on('console', (message) => {
    if (message.type() !== 'error') return
    const where = message.location()
    consoleErrors.push(`${message.text()}${where.url ? ` (${where.url}:${where.lineNumber})` : ''}`)
  })
  page.on('pageerror', (error) => pageErrors.push(error.stack ?? error.message))

  const shot = screenshotPath(options.suffix)
  onTestFinished(async () => {
    try {
      mkdirSync(path.dirname(shot), { recursive: true })
      // animations finished: a wall caught mid re-rank shows tiles on top of each other
      await page.screenshot({ path: shot, timeout: 10_000, animations: 'disabled' })
    } catch (error) {
      console.warn(`could not save ${shot}: ${error instanceof Error ? error.message : error}`)
    }
    await context.close()
  })
  return {
    page,
    context,
    consoleErrors,
    pageErrors,
    errors: () => [...consoleErrors, ...pageErrors],
  }
}

/** test-results/<current test name>[-<suffix>].png */
function screenshotPath(suffix?: string): string {
  const testName = expect.getState().currentTestName ?? 'e2e'
  return path.join(ROOT, 'test-results', `${fileName(testName)}${suffix ? `-${fileName(suffix)}` : ''}.png`)
}

/** Saves the page as it is now to test-results/<test name>-<suffix>.png (a step of a longer test). */
export async function saveScreenshot(page: Page, suffix: string): Promise<void> {
  const shot = screenshotPath(suffix)
  mkdirSync(path.dirname(shot), { recursive: true })
  await page.screenshot({ path: shot, animations: 'disabled' })
}

/** The dashboard URL of a view, carrying the read token in the fragment as links do. */
export function dashboardUrl(base: string, view: string, token?: string): string {
  return `${base}${view}${token ? `#token=${encodeURIComponent(token)}` : ''}`
}

/** Text of the first match, trimmed, or null when nothing matches yet (never waits). */
export async function textOf(locator: Locator): Promise<string | null> {
  const texts = await locator.allTextContents()
  return texts.length > 0 ? (texts[0] as string).replace(/\s+/g, ' ').trim() : null
}

/** The value cell of a KPI tile by its label (`GMV`, `Orders` …) on the stream and replay views. */
export function kpiValue(page: Page, label: string): Locator {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return page
    .locator('.kpi')
    .filter({ has: page.locator('.label', { hasText: new RegExp(`^\\s*${escaped}\\s*≈?\\s*$`) }) })
    .locator('.value')
}

/** A wall tile by stream id (tiles link to their stream view). */
export function wallTile(page: Page, streamId: string): Locator {
  return page.locator(`a.tile[href="/stream/${encodeURIComponent(streamId)}"]`)
}

/**
 * The wall tile shown at a rank (`#1` …). By the rank it shows, not by its place in the DOM: the
 * wall keeps tiles in the DOM in the order they came and places them by rank with CSS.
 */
export function wallTileAtRank(page: Page, rank: number): Locator {
  return page
    .locator('.tile')
    .filter({ has: page.locator('.rank', { hasText: new RegExp(`^\\s*#${rank}\\s*$`) }) })
}

/** A port nobody listens on right now (for a child server that must come back on the same one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()))
    })
  })
}
