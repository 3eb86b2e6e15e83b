import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import type { Browser, CDPSession } from 'playwright-core'
import { issueToken } from '../../server/auth/tokens.ts'
import { ensureDashboardBuilt, launchBrowser, ROOT } from '../../test/e2e/build.ts'
import { type SeedStream, streamEvents } from '../../test/e2e/seed.ts'
import { type ChildServer, spawnServer } from '../../test/helpers/child-server.ts'
import { ndjsonPoster } from './mix.ts'

/**
 * npm run bench:web — the wall's cost in the browser: 48 live tiles at 1920×1080 in headless
 * Chromium, every stream receiving events every second (so every tile ticks about once a
 * second), for --seconds (60). Measures main-thread busy share, the longest task, JS heap growth
 * (after forced GCs), the first render of the wall, and the production JS bundle gzipped; prints
 * them against the budgets as a markdown table, then when the tasks over 50 ms came and what the
 * longest frames spent their time on (Long Animation Frames API). The browser's own API sees only
 * tasks over 50 ms; a cheap Chromium trace ('toplevel' category) of the window gives the longest
 * task whatever its length, and how much of it the main thread spent on the CPU.
 * --kiosk measures the kiosk wall (?kiosk=1); --trace <file.json> saves a detailed trace of the
 * window instead (open it in DevTools; detailed tracing costs time, so budgets then read high).
 */
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    streams: { type: 'string', default: '48' },
    kiosk: { type: 'boolean', default: false },
    /** exit with status 3 when a budget is exceeded */
    check: { type: 'boolean', default: false },
    /** save a Chromium performance trace of the measured window (open it in DevTools) */
    trace: { type: 'string' },
  },
})
const SECONDS = Number(args.seconds)
const STREAMS = Number(args.streams)
if (!(SECONDS > 0) || !(STREAMS > 0)) {
  console.error('bench:web: --seconds and --streams must be positive numbers')
  process.exit(2)
}
/** Not measured: the page settles (charts created, first pushes) before the window opens. */
const WARMUP_MS = 5_000
const KEY = 'bench-web-key-0001'
const SECRET = 'bench-web-secret-0123456789'
const VIEWPORT = { width: 1920, height: 1080 }
const VERTICALS = ['Fashion', 'Beauty', 'Home & Living', 'Other']
const TRACE_CATEGORIES = [
  'devtools.timeline',
  'disabled-by-default-devtools.timeline',
  'disabled-by-default-devtools.timeline.frame',
  'disabled-by-default-devtools.timeline.stack',
  'v8.execute',
  'blink.user_timing',
]
/** Enough for the renderer's task lengths, at little cost (the scheduler's own task events). */
const TASK_TRACE_CATEGORIES = ['toplevel']
const log = (msg: string) => console.error(`bench:web: ${msg}`)

/** A long animation frame, as the page's probe keeps it (times in ms, relative to the frame). */
interface LongFrame {
  at: number
  duration: number
  /** style, layout and paint at the end of the frame (0: the frame rendered nothing) */
  render: number
  /** the scripts that ran in it, longest first: "invoker 12 ms (forced layout 3 ms)" */
  scripts: string[]
}

declare global {
  interface Window {
    __probes: { longTasks: [number, number][]; longFrames: LongFrame[]; firstTileAt?: number }
  }
}

// Runs in the page before any of its scripts. A string, because tsx would add helpers to a
// function's source that do not exist in the page.
const PAGE_PROBES = `
  window.__probes = { longTasks: [], longFrames: [] }
  new PerformanceObserver(function (list) {
    for (const entry of list.getEntries()) window.__probes.longTasks.push([entry.startTime, entry.duration])
  }).observe({ type: 'longtask', buffered: true })
  // Where a long task's time went: frames over 50 ms with their scripts and rendering.
  new PerformanceObserver(function (list) {
    for (const entry of list.getEntries()) {
      const scripts = entry.scripts.slice().sort(function (a, b) { return b.duration - a.duration })
      window.__probes.longFrames.push({
        at: entry.startTime,
        duration: entry.duration,
        render: entry.renderStart ? entry.startTime + entry.duration - entry.renderStart : 0,
        scripts: scripts.slice(0, 3).map(function (s) {
          return s.invoker + ' ' + Math.round(s.duration) + ' ms' +
            (s.forcedStyleAndLayoutDuration >= 1 ? ' (forced layout ' + Math.round(s.forcedStyleAndLayoutDuration) + ' ms)' : '')
        }),
      })
    }
  }).observe({ type: 'long-animation-frame', buffered: true })
  // First render: the frame in which the first wall tile is on screen (ms since navigation start).
  new MutationObserver(function (_records, observer) {
    const tile = document.querySelector('.tile')
    if (!tile || tile.getBoundingClientRect().height === 0) return
    observer.disconnect()
    requestAnimationFrame(function () { window.__probes.firstTileAt = performance.now() })
  }).observe(document, { subtree: true, childList: true })
`

function seedStreams(): SeedStream[] {
  return Array.from({ length: STREAMS }, (_, s) => ({
    stream_id: `bench-web-${s}`,
    creator_id: `creator-${s}`,
    title: `Evening live #${s + 1}`,
    vertical: VERTICALS[s % VERTICALS.length]!,
    startedAgoMs: (10 + (s % 20)) * 60_000,
    viewers: 30 + (s % 5) * 10,
  }))
}

const poster = ndjsonPoster(KEY, 4)
const post = (url: string, lines: string[]): Promise<number> =>
  poster.post(new URL('/v1/events', url), lines.join('\n')).then((r) => r.status)

let seq = 0
/** One second of an evening: viewers come and go on every stream, some buy. */
function secondOfTraffic(streams: SeedStream[]): string[] {
  const now = Date.now()
  const lines: string[] = []
  for (const stream of streams) {
    const add = (type: string, fields: Record<string, unknown>) =>
      lines.push(
        JSON.stringify({ event_id: `bw-${++seq}`, type, stream_id: stream.stream_id, ts: now, ...fields }),
      )
    const viewer_id = `bw-viewer-${seq}`
    add('view_start', { viewer_id, source: 'for_you' })
    add('product_impression', { viewer_id, product_id: 'p1' })
    add('like', { viewer_id, quantity: 3 })
    if (seq % 3 === 0) add('view_end', { viewer_id: `${stream.creator_id}-viewer-${seq % 30}` })
    if (Math.random() < 0.4) {
      add('product_click', { viewer_id, product_id: 'p2' })
      add('order_paid', {
        viewer_id,
        product_id: 'p2',
        order_id: `bw-order-${seq}`,
        amount: (5 + Math.floor(Math.random() * 9000) / 100).toFixed(2),
      })
    }
  }
  return lines
}

/** utime + stime of a process, in seconds (Linux; NaN elsewhere). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics: list } = await cdp.send('Performance.getMetrics')
  return Object.fromEntries(list.map((m) => [m.name, m.value]))
}

async function heapAfterGc(cdp: CDPSession): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage')
  await cdp.send('HeapProfiler.collectGarbage')
  return (await metrics(cdp)).JSHeapUsedSize ?? Number.NaN
}

function bundleGzipBytes(): { files: number; raw: number; gzip: number } {
  const assets = path.join(ROOT, 'web', 'dist', 'assets')
  let raw = 0
  let gzip = 0
  let files = 0
  for (const name of readdirSync(assets)) {
    if (!name.endsWith('.js')) continue
    const code = readFileSync(path.join(assets, name))
    files++
    raw += code.length
    gzip += gzipSync(code).length
  }
  return { files, raw, gzip }
}

interface TraceEvent {
  name: string
  ph: string
  pid: number
  tid: number
  ts: number
  dur?: number
  /** thread (CPU) time, where the trace has it */
  tdur?: number
  args?: { name?: string }
}

/**
 * The page's main-thread tasks in a Chromium trace: the renderer main thread with the most task
 * time (the page's), its longest task (wall and CPU time, ms) and a counter of tasks over a length.
 */
function rendererTasks(
  file: string,
): { longest: number; longestCpu: number; over(ms: number): number } | null {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as TraceEvent[] | { traceEvents: TraceEvent[] }
  const events = Array.isArray(parsed) ? parsed : parsed.traceEvents
  const mains = new Set(
    events
      .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
      .map((e) => `${e.pid}:${e.tid}`),
  )
  const byThread = new Map<string, TraceEvent[]>()
  for (const e of events) {
    const thread = `${e.pid}:${e.tid}`
    // 'toplevel' names a task ThreadControllerImpl::RunTask, the detailed categories RunTask
    if (e.ph !== 'X' || !mains.has(thread)) continue
    if (e.name !== 'ThreadControllerImpl::RunTask' && e.name !== 'RunTask') continue
    const tasks = byThread.get(thread)
    if (tasks) tasks.push(e)
    else byThread.set(thread, [e])
  }
  const total = (tasks: TraceEvent[]) => tasks.reduce((sum, e) => sum + (e.dur ?? 0), 0)
  const tasks = [...byThread.values()].sort((a, b) => total(b) - total(a))[0]
  if (!tasks) return null
  const longest = tasks.reduce((max, e) => ((e.dur ?? 0) > (max.dur ?? 0) ? e : max))
  return {
    longest: (longest.dur ?? 0) / 1000,
    longestCpu: (longest.tdur ?? Number.NaN) / 1000,
    over: (ms) => tasks.filter((e) => (e.dur ?? 0) > ms * 1000).length,
  }
}

interface Row {
  what: string
  measured: string
  budget: string
  ok: boolean | null
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'livewall-bench-web-'))
  let server: ChildServer | undefined
  let browser: Browser | undefined
  let traffic: ReturnType<typeof setInterval> | undefined
  const inflight = new Set<Promise<unknown>>()
  let stopping = false
  const cleanup = async () => {
    stopping = true
    clearInterval(traffic)
    await Promise.allSettled(inflight)
    await browser?.close().catch(() => {})
    if (server) {
      server.process.kill('SIGTERM')
      await server.exited
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
  const interrupted = () => {
    log('interrupted: cleaning up')
    cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)

  const rows: Row[] = []
  let summary = ''
  let frames: LongFrame[] = []
  let longTaskTimes: [number, number][] = []
  try {
    log('building the dashboard if web/src changed since the last build')
    await ensureDashboardBuilt()
    const bundle = bundleGzipBytes()

    server = await spawnServer({
      LIVEWALL_INGEST_KEYS: KEY,
      LIVEWALL_TOKEN_SECRET: SECRET,
      DATA_DIR: dataDir,
      INGEST_RATE_LIMIT_PER_KEY: '100000',
    })
    const url = server.url
    const running = server
    running.exited.then((code) => {
      if (!stopping)
        log(`the server exited (${code}) during the run; its last output:\n${running.output().slice(-3000)}`)
    })
    const streams = seedStreams()
    const now = Date.now()
    log(`seeding ${streams.length} live streams`)
    for (let i = 0; i < streams.length; i += 8) {
      const lines = streams
        .slice(i, i + 8)
        .flatMap((stream, j) => streamEvents(stream, now, i + j + 1).map((e) => JSON.stringify(e)))
      const status = await post(url, lines)
      if (status !== 200) throw new Error(`seeding answered ${status}`)
    }

    browser = await launchBrowser()
    const context = await browser.newContext({ viewport: VIEWPORT, timezoneId: 'UTC', locale: 'en-US' })
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.addInitScript(PAGE_PROBES)
    const cdp = await context.newCDPSession(page)
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' })
    await cdp.send('Network.enable')
    let wallPushes = 0
    cdp.on('Network.webSocketFrameReceived', (frame) => {
      if (/^42\/live,\["wall"/.test(frame.response.payloadData)) wallPushes++
    })

    // Traffic on every stream, every second, from before the page opens to the end of the run.
    let posted = 0
    let failed = 0
    traffic = setInterval(() => {
      if (stopping || inflight.size > 2) return
      const request = post(url, secondOfTraffic(streams))
        .then((status) => (status === 200 ? posted++ : failed++))
        .catch(() => failed++)
        .finally(() => inflight.delete(request))
      inflight.add(request)
    }, 1000)

    const token = issueToken(SECRET, { role: 'ops', ttlMs: 3_600_000 })
    const view = args.kiosk ? '/?kiosk=1' : '/'
    log(`opening ${view} at ${VIEWPORT.width}×${VIEWPORT.height}`)
    await page.goto(`${url}${view}#token=${token}`)
    // Predicates as inline anonymous functions: the page's CSP forbids evaluating strings.
    await page.waitForFunction(() => 'firstTileAt' in window.__probes, undefined, { timeout: 30_000 })
    const firstRenderMs = (await page.evaluate(() => window.__probes.firstTileAt)) ?? Number.NaN
    await page.waitForFunction((n) => document.querySelectorAll('.tile').length >= n, STREAMS, {
      timeout: 30_000,
    })
    const tiles = await page.evaluate(() => document.querySelectorAll('.tile').length)
    await page.waitForTimeout(WARMUP_MS)

    log(`measuring for ${SECONDS} s with ${tiles} tiles`)
    const heapStart = await heapAfterGc(cdp)
    const start = await metrics(cdp)
    const windowStart = await page.evaluate(() => performance.now())
    const pushesAtStart = wallPushes
    const postedAtStart = posted
    const tracePath = args.trace ?? path.join(dataDir, 'tasks-trace.json')
    await browser.startTracing(page, {
      path: tracePath,
      categories: args.trace ? TRACE_CATEGORIES : TASK_TRACE_CATEGORIES,
    })
    const serverCpuStart = cpuSeconds(server.process.pid!)
    const t0 = performance.now()
    await page.waitForTimeout(SECONDS * 1000)
    const wallSeconds = (performance.now() - t0) / 1000
    const serverCpu = ((cpuSeconds(server.process.pid!) - serverCpuStart) / wallSeconds) * 100
    const end = await metrics(cdp)
    const windowEnd = await page.evaluate(() => performance.now())
    // Read before the forced GC below, whose own task is not the wall's.
    const longTasks = await page.evaluate(() => window.__probes.longTasks)
    const longFrames = await page.evaluate(() => window.__probes.longFrames)
    await browser.stopTracing()
    if (args.trace) log(`trace saved to ${args.trace}`)
    const traced = rendererTasks(tracePath)
    const heapEnd = await heapAfterGc(cdp)
    const delta = (name: string) => (end[name] ?? 0) - (start[name] ?? 0)

    const busy = (delta('TaskDuration') / wallSeconds) * 100
    const inWindow = longTasks.filter(([at]) => at >= windowStart && at < windowEnd)
    longTaskTimes = inWindow.map(([at, duration]) => [at - windowStart, duration])
    frames = longFrames
      .filter((frame) => frame.at >= windowStart && frame.at < windowEnd)
      .sort((a, b) => b.duration - a.duration)
      .map((frame) => ({ ...frame, at: frame.at - windowStart }))
    const longest = inWindow.reduce((max, [, duration]) => Math.max(max, duration), 0)
    const longestAtLoad = longTasks
      .filter(([at]) => at < windowStart)
      .reduce((max, [, duration]) => Math.max(max, duration), 0)
    const growth = ((heapEnd - heapStart) / heapStart) * 100
    const pct = (seconds: number) => `${((seconds / wallSeconds) * 100).toFixed(1)} %`
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`

    rows.push(
      {
        what: 'main thread busy (TaskDuration / wall clock)',
        measured: `${busy.toFixed(1)} %`,
        budget: '< 20 %',
        ok: busy < 20,
      },
      {
        what: '  of which script / style / layout',
        measured: `${pct(delta('ScriptDuration'))} / ${pct(delta('RecalcStyleDuration'))} / ${pct(delta('LayoutDuration'))}`,
        budget: '',
        ok: null,
      },
      {
        what: 'longest task during the run',
        measured:
          inWindow.length === 0
            ? 'none over 50 ms'
            : `${longest.toFixed(0)} ms (${inWindow.length} task${inWindow.length === 1 ? '' : 's'} over 50 ms)`,
        budget: '≤ 50 ms',
        ok: inWindow.length === 0,
      },
      {
        what: '  longest task of any length (Chromium trace)',
        measured: traced
          ? `${traced.longest.toFixed(0)} ms, ${traced.longestCpu.toFixed(0)} ms of it on the CPU; ` +
            `${traced.over(16)} over 16 ms, ${traced.over(33)} over 33 ms`
          : 'no renderer tasks in the trace',
        budget: '',
        ok: null,
      },
      {
        what: 'JS heap growth over the run (after GC)',
        measured: `${growth >= 0 ? '+' : ''}${growth.toFixed(1)} % (${mib(heapStart)} → ${mib(heapEnd)})`,
        budget: '< 10 %',
        ok: growth < 10,
      },
      {
        what: 'first render (navigation → first tile on screen)',
        measured: `${firstRenderMs.toFixed(0)} ms`,
        budget: '< 1 000 ms',
        ok: firstRenderMs < 1000,
      },
      {
        what: `JS bundle, gzipped (${bundle.files} file${bundle.files === 1 ? '' : 's'} in web/dist/assets)`,
        measured: `${kb(bundle.gzip)} (${kb(bundle.raw)} raw)`,
        budget: '< 150 KB',
        ok: bundle.gzip < 150 * 1024,
      },
      {
        what: 'longest task while loading (not budgeted)',
        measured: `${longestAtLoad.toFixed(0)} ms`,
        budget: '',
        ok: null,
      },
    )
    const pushes = wallPushes - pushesAtStart
    summary =
      `${tiles} tiles (${args.kiosk ? 'kiosk' : 'wall'}) at ${VIEWPORT.width}×${VIEWPORT.height}, ${wallSeconds.toFixed(0)} s measured after ${WARMUP_MS / 1000} s of warm-up; ` +
      `${pushes} wall pushes (${(pushes / wallSeconds).toFixed(2)}/s), ${posted - postedAtStart} ingest requests ` +
      `into all ${streams.length} streams (${failed} failed), ${pageErrors.length} page errors; ` +
      `the server on the same machine used ${serverCpu.toFixed(0)} % of a core`
    if (pageErrors.length > 0) log(`page errors:\n${pageErrors.join('\n')}`)
  } finally {
    await cleanup()
  }

  console.log(`\n${summary}\n`)
  console.log('| measure | measured | budget | |')
  console.log('|---|---|---|---|')
  for (const row of rows) {
    const verdict = row.ok === null ? '' : row.ok ? 'ok' : 'OVER'
    console.log(`| ${row.what} | ${row.measured} | ${row.budget} | ${verdict} |`)
  }
  if (longTaskTimes.length > 0) {
    console.log(
      `\ntasks over 50 ms: ${longTaskTimes.map(([at, ms]) => `${ms.toFixed(0)} ms at ${(at / 1000).toFixed(1)} s`).join(', ')}`,
    )
  }
  if (frames.length > 0) {
    console.log(`\nlong animation frames during the run (${frames.length}, longest first):`)
    for (const frame of frames.slice(0, 8)) {
      const scripts = frame.scripts.length > 0 ? frame.scripts.join(', ') : 'no script'
      console.log(
        `- at ${(frame.at / 1000).toFixed(1)} s: ${frame.duration.toFixed(0)} ms, rendering ${frame.render.toFixed(0)} ms; ${scripts}`,
      )
    }
  }
  const over = rows.filter((row) => row.ok === false).length
  console.log(`\n${over === 0 ? 'every budget met' : `${over} budget(s) exceeded`}`)
  process.exit(args.check && over > 0 ? 3 : 0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
