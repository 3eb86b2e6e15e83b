// The dashboard build and the browser, shared by the browser tests (test/e2e) and the wall
// benchmark (scripts/bench/web.ts). No vitest in here: the benchmark runs outside it.

import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { type Browser, chromium } from 'playwright-core'

export const ROOT = path.join(import.meta.dirname, '..', '..')
const WEB = path.join(ROOT, 'web')
const DIST_INDEX = path.join(WEB, 'dist', 'index.html')
/** What a dashboard build is made from: any of these newer than dist/index.html means rebuild. */
const BUILD_INPUTS = ['src', 'public', 'index.html', 'vite.config.ts'].map((p) => path.join(WEB, p))
// Test files run in parallel processes: one builds, the others wait for it.
const CACHE_DIR = path.join(ROOT, 'node_modules', '.cache', 'livewall-e2e')
const BUILD_LOCK = path.join(CACHE_DIR, 'build.lock')
const BUILD_STAMP = path.join(CACHE_DIR, 'build-run.txt')
const STALE_LOCK_MS = 5 * 60_000

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function newestMtime(file: string): number {
  let stat: ReturnType<typeof statSync>
  try {
    stat = statSync(file)
  } catch {
    return 0
  }
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = 0
  for (const entry of readdirSync(file)) newest = Math.max(newest, newestMtime(path.join(file, entry)))
  return newest
}

function distIsCurrent(): boolean {
  let builtAt: number
  try {
    builtAt = statSync(DIST_INDEX).mtimeMs
  } catch {
    return false
  }
  return BUILD_INPUTS.every((input) => newestMtime(input) <= builtAt)
}

/** The vitest run (its main process) or, outside vitest, this process. */
function runId(): string {
  return process.env.VITEST ? `vitest-${process.ppid}` : `pid-${process.pid}`
}

function builtInThisRun(): boolean {
  try {
    return readFileSync(BUILD_STAMP, 'utf8') === runId()
  } catch {
    return false
  }
}

let built: Promise<void> | undefined

/**
 * Builds web/dist with the project's Vite config when it is missing or older than its sources
 * (so `npm test` works on a clean clone), once per run: a build made earlier in the same vitest
 * run is kept even if web/src changed since, so no test file rebuilds under another's feet.
 */
export function ensureDashboardBuilt(): Promise<void> {
  built ??= buildIfStale()
  return built
}

async function buildIfStale(): Promise<void> {
  if (distIsCurrent()) return
  mkdirSync(CACHE_DIR, { recursive: true })
  for (;;) {
    try {
      mkdirSync(BUILD_LOCK)
      break
    } catch {
      // held by another test process; a lock left by a killed run is taken over
      try {
        if (Date.now() - statSync(BUILD_LOCK).mtimeMs > STALE_LOCK_MS) rmSync(BUILD_LOCK, { recursive: true })
      } catch {}
      await sleep(200)
    }
  }
  try {
    if (distIsCurrent() || builtInThisRun()) return
    const { build } = await import('vite')
    // vitest sets NODE_ENV=test, which would make Vite and Svelte produce a development build.
    const nodeEnv = process.env.NODE_ENV
    process.env.NODE_ENV = 'production'
    try {
      await build({ configFile: path.join(WEB, 'vite.config.ts'), logLevel: 'warn' })
    } finally {
      if (nodeEnv === undefined) delete process.env.NODE_ENV
      else process.env.NODE_ENV = nodeEnv
    }
    writeFileSync(BUILD_STAMP, runId())
  } finally {
    rmSync(BUILD_LOCK, { recursive: true, force: true })
  }
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
}
