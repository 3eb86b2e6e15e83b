import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import {
  eventRowLine,
  INSERT_EVENTS_SQL,
  INSERT_ROLLUP_INPUT_SQL,
  secondsText,
} from '../../server/ingest/rows.ts'
import { validateEvent } from '../../server/ingest/validate.ts'
import { scopedConnection } from '../../server/storage/connection.ts'
import { migrate } from '../../server/storage/migrate.ts'
import { spawnServer } from '../../test/helpers/child-server.ts'
import { eventMix, ndjsonBodies, ndjsonPoster, noteSlowCreates, percentile } from './mix.ts'

/**
 * npm run bench:ingest — sustained events/s through POST /v1/events next to the raw
 * ceiling of the same engine and tables in the same run, and ack latency at half rate.
 */
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    settle: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    'batch-size': { type: 'string', default: '1000' },
    'raw-events': { type: 'string', default: '1000000' },
  },
})
const SECONDS = Number(args.seconds)
const SETTLE = Number(args.settle)
const CONNECTIONS = Number(args.connections)
const BATCH = Number(args['batch-size'])
const RAW_EVENTS = Number(args['raw-events'])
const STREAMS = 50
const KEY = 'bench-ingest-key-0001'
const log = (msg: string) => console.error(`bench:ingest: ${msg}`)

/**
 * Data dirs are removed when the run ends, not between phases: on ext4 without a journal
 * (as here), creating files is slow for about 30 s after many were deleted (the inode
 * allocator skips recently freed inodes one by one; measured: a 3 000-event INSERT took
 * 50 ms right after deleting 60 000 files and 25 ms a minute later). Removing the raw
 * ceiling's dir before the HTTP phases would tax them with the raw phase's cleanup.
 */
const dirs: string[] = []
function dataDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

async function rawCeiling(): Promise<number> {
  const dir = dataDir('livewall-bench-raw-')
  const bootstrap = createClient({ connection: createChdbConnection({ path: dir }) as never })
  await bootstrap.command({ query: 'CREATE DATABASE IF NOT EXISTS livewall' })
  const client = createClient({
    connection: scopedConnection(createChdbConnection({ path: dir }), 'livewall') as never,
  })
  await migrate(client, () => {})
  const now = Date.now()
  log(`raw ceiling: preparing ${RAW_EVENTS} events as stored rows`)
  const bodies: string[] = []
  for (let start = 0; start < RAW_EVENTS; start += 10_000) {
    const rows = eventMix('raw', start, 10_000, STREAMS, now).map((line) => {
      const v = validateEvent(JSON.parse(line), now, 'USD')
      if (!v.ok) throw new Error(v.message)
      return eventRowLine(v.event, secondsText(now))
    })
    bodies.push(rows.join('\n'))
  }
  log(
    'raw ceiling: inserting in 10 000-event INSERTs, the rows the server would write, in its format ' +
      '(into events, then into the rollups view)',
  )
  const started = performance.now()
  for (const body of bodies) {
    await client.exec({ query: INSERT_EVENTS_SQL, values: body as never })
    await client.exec({ query: INSERT_ROLLUP_INPUT_SQL, values: body as never })
  }
  const seconds = (performance.now() - started) / 1000
  await client.close()
  await bootstrap.close()
  return RAW_EVENTS / seconds
}

const { post, close: closeAgent } = ndjsonPoster(KEY, CONNECTIONS)

async function main() {
  log(`connections ${CONNECTIONS}, ${BATCH} events per request, ${SECONDS} s per phase, ${STREAMS} streams`)
  noteSlowCreates(tmpdir(), log)
  const raw = await rawCeiling()
  log(`raw ceiling: ${Math.round(raw)} events/s`)

  const server = await spawnServer({
    LIVEWALL_INGEST_KEYS: KEY,
    LIVEWALL_TOKEN_SECRET: 'bench-secret-0123456789',
    DATA_DIR: dataDir('livewall-bench-http-'),
    INGEST_RATE_LIMIT_PER_KEY: '1000000',
  })
  try {
    const url = new URL('/v1/events', server.url)
    // Each request: the same mix, its own unique ids (see ndjsonBodies).
    const body = ndjsonBodies('h', BATCH, STREAMS, Date.now())
    // Steady state: the dedup filters loaded from storage (until then every id is looked
    // up in ClickHouse), then connections and JIT warmed by a few seconds of traffic.
    const metricsUrl = new URL('/metrics', server.url)
    while (!/^livewall_dedup_warm 1$/m.test(await (await fetch(metricsUrl)).text())) {
      await new Promise((r) => setTimeout(r, 100))
    }
    const warmUntil = performance.now() + 3000
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < warmUntil) await post(url, body())
      }),
    )

    log('sustained: as fast as the server acknowledges')
    let acked = 0
    let failed = 0
    const deadline = performance.now() + SECONDS * 1000
    const started = performance.now()
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < deadline) {
          const r = await post(url, body())
          if (r.status === 200) acked += BATCH
          else failed++
        }
      }),
    )
    const sustained = acked / ((performance.now() - started) / 1000)
    log(`sustained: ${Math.round(sustained)} events/s (${failed} requests not 200)`)

    const halfRate = sustained / 2
    const interval = (BATCH / halfRate) * 1000
    log(
      `latency: one ${BATCH}-event request every ${interval.toFixed(1)} ms (${Math.round(halfRate)} events/s)`,
    )
    // The paced load starts right after the full-rate phase, whose merges and part clean-up
    // the server is still working off: the first SETTLE seconds run at the same pace and are
    // reported apart, not in the figures (the latency asked for is at half rate).
    log(`latency: the first ${SETTLE} s settle the server after the full-rate phase and are not measured`)
    const settling: number[] = []
    // The measured latencies by 5 s window of their send time: one run shows its own spread.
    const windows: number[][] = Array.from({ length: Math.ceil(SECONDS / 5) }, () => [])
    const inflight: Promise<void>[] = []
    const t0 = performance.now()
    for (let i = 0; performance.now() - t0 < (SETTLE + SECONDS) * 1000; i++) {
      const due = t0 + i * interval
      const wait = due - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const sentAt = performance.now() - t0
      // (a request sent just past the end, after its wait, counts in the last window)
      const bucket = windows[Math.min(windows.length - 1, Math.floor((sentAt - SETTLE * 1000) / 5000))]
      inflight.push(
        post(url, body()).then((r) => {
          if (sentAt < SETTLE * 1000) settling.push(r.ms)
          else bucket!.push(r.ms)
        }),
      )
    }
    await Promise.all(inflight)
    const latencies = windows.flat().sort((a, b) => a - b)
    settling.sort((a, b) => a - b)

    const ratio = sustained / raw
    console.log('\n| measure | value |\n|---|---|')
    console.log(
      `| raw ceiling (same engine + tables, 10 000-event INSERTs) | ${Math.round(raw).toLocaleString('en-US')} events/s |`,
    )
    console.log(
      `| sustained via POST /v1/events (${CONNECTIONS} keep-alive connections, ${BATCH}/request) | ${Math.round(sustained).toLocaleString('en-US')} events/s |`,
    )
    console.log(`| ratio sustained / raw | ${ratio.toFixed(2)} |`)
    console.log(
      `| ack latency at ${Math.round(halfRate).toLocaleString('en-US')} events/s: p50 | ${percentile(latencies, 50).toFixed(1)} ms |`,
    )
    console.log(`| ack latency p99 | ${percentile(latencies, 99).toFixed(1)} ms |`)
    console.log(`| requests measured for latency | ${latencies.length} |`)
    const perWindow = windows.filter((w) => w.length > 0).map((w) => w.sort((a, b) => a - b))
    console.log(
      `| (the same requests, p99 per 5 s) | ${perWindow.map((w) => percentile(w, 99).toFixed(0)).join(', ')} ms |`,
    )
    console.log(
      `| (not measured: the first ${SETTLE} s at that rate, ${settling.length} requests) | p50 ${percentile(settling, 50).toFixed(1)} ms, p99 ${percentile(settling, 99).toFixed(1)} ms |`,
    )
    console.log(`\ntargets: sustained >= 150 000 events/s, ratio >= 0.5, ack p99 < 100 ms`)
  } finally {
    server.process.kill('SIGTERM')
    await server.exited
    closeAgent()
  }
}

main()
  .catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(() => {
    log(`removing the run's data dirs (${dirs.length})`)
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
