import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { spawnServer } from '../../test/helpers/child-server.ts'
import { ndjsonBodies, ndjsonPoster, noteSlowCreates, percentile, processCpu } from './mix.ts'

/**
 * npm run bench:soak — ingest held at one paced rate for minutes, reported per window: ack
 * latency, the server's commits and dedup look-ups (from /metrics) and its CPU. What
 * bench:ingest cannot show in its first minute: merged-away parts piling up, merges of
 * ever larger parts, dedup filters filling. (BENCHMARKS.md, "Session 15".)
 */
const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '40000' },
    minutes: { type: 'string', default: '10' },
    window: { type: 'string', default: '30' },
    connections: { type: 'string', default: '16' },
  },
})
const RATE = Number(args.rate)
const MINUTES = Number(args.minutes)
const WINDOW_S = Number(args.window)
const CONNECTIONS = Number(args.connections)
for (const [name, value] of Object.entries({
  rate: RATE,
  minutes: MINUTES,
  window: WINDOW_S,
  connections: CONNECTIONS,
}))
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`)
const BATCH = 1000
const STREAMS = 50
const KEY = 'bench-soak-key-0001'
const log = (msg: string) => console.error(`bench:soak: ${msg}`)

const metric = (text: string, name: string) =>
  Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)

interface Sample {
  commits: number
  commitSeconds: number
  lookups: number
  /** The server's adaptive merge priority: parts in one partition, and 1 while merges are lowered. */
  parts: number
  lowered: number
  user: number
  system: number
  at: number
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'livewall-bench-soak-'))
  log(`${RATE} events/s in ${BATCH}-event requests for ${MINUTES} min, a line every ${WINDOW_S} s`)
  noteSlowCreates(dir, log)
  const server = await spawnServer({
    LIVEWALL_INGEST_KEYS: KEY,
    LIVEWALL_TOKEN_SECRET: 'bench-secret-0123456789',
    DATA_DIR: dir,
    INGEST_RATE_LIMIT_PER_KEY: '1000000',
  })
  const { post, close } = ndjsonPoster(KEY, CONNECTIONS)
  const rows: string[] = []
  try {
    const pid = server.process.pid!
    const url = new URL('/v1/events', server.url)
    const metricsUrl = new URL('/metrics', server.url)
    const sample = async (): Promise<Sample> => {
      const text = await (await fetch(metricsUrl)).text()
      const cpu = processCpu(pid)
      return {
        commits: metric(text, 'livewall_ingest_commit_seconds_count'),
        commitSeconds: metric(text, 'livewall_ingest_commit_seconds_sum'),
        lookups: metric(text, 'livewall_dedup_lookups_total'),
        parts: metric(text, 'livewall_storage_max_parts_per_partition'),
        lowered: metric(text, 'livewall_merges_lowered'),
        ...cpu,
        at: performance.now(),
      }
    }
    while (!/^livewall_dedup_warm 1$/m.test(await (await fetch(metricsUrl)).text())) {
      await new Promise((r) => setTimeout(r, 100))
    }
    const body = ndjsonBodies('soak', BATCH, STREAMS, Date.now())
    const interval = (BATCH / RATE) * 1000
    let latencies: number[] = []
    let failed = 0
    const inflight = new Set<Promise<void>>()
    const t0 = performance.now()
    let last = await sample()
    console.log(
      '\n| minute | ack p50 ms | ack p99 ms | not 200 | commits/s | mean commit ms | dedup look-ups/s | server CPU user | system | parts per partition | merges lowered |\n|---|---|---|---|---|---|---|---|---|---|---|',
    )
    for (let i = 0; performance.now() - t0 < MINUTES * 60_000; i++) {
      const wait = t0 + i * interval - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const request = post(url, body()).then(
        (r) => {
          latencies.push(r.ms)
          if (r.status !== 200) failed++
        },
        () => void failed++,
      )
      inflight.add(request)
      void request.finally(() => inflight.delete(request))
      if (performance.now() - last.at < WINDOW_S * 1000) continue
      const now = await sample()
      const seconds = (now.at - last.at) / 1000
      const commits = now.commits - last.commits
      latencies.sort((a, b) => a - b)
      const row = [
        ((now.at - t0) / 60_000).toFixed(1),
        percentile(latencies, 50).toFixed(0),
        percentile(latencies, 99).toFixed(0),
        String(failed),
        (commits / seconds).toFixed(1),
        ((1000 * (now.commitSeconds - last.commitSeconds)) / Math.max(1, commits)).toFixed(1),
        ((now.lookups - last.lookups) / seconds).toFixed(1),
        `${((now.user - last.user) / seconds).toFixed(2)} cores`,
        `${((now.system - last.system) / seconds).toFixed(2)} cores`,
        Number.isNaN(now.parts) ? '—' : String(now.parts),
        Number.isNaN(now.lowered) ? '—' : now.lowered ? 'yes' : 'no',
      ]
      rows.push(`| ${row.join(' | ')} |`)
      console.log(rows.at(-1))
      latencies = []
      failed = 0
      last = now
    }
    await Promise.all(inflight)
  } finally {
    server.process.kill('SIGTERM')
    await server.exited
    close()
    // (see bench:ingest: a run right after this one pays for these deletions in kernel time)
    log(`removing the data dir; on ext4 without a journal, wait 6 minutes before the next benchmark`)
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
