import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { io, type Socket } from 'socket.io-client'
import { issueToken } from '../../server/auth/tokens.ts'
import { spawnServer } from '../../test/helpers/child-server.ts'
import { ndjsonPoster, noteSlowCreates, percentile, processCpu } from './mix.ts'

/**
 * npm run bench:live — event-to-screen latency: from the moment an ingest request is
 * acknowledged to the moment each socket.io client watching one of its streams receives
 * the tick that contains it (and, beside it, from the moment the request was sent). 50 live
 * streams, 1 000 clients (20 per stream), at 5 000 and 20 000 events/s, with the server's
 * CPU and RSS.
 */
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    clients: { type: 'string', default: '1000' },
    streams: { type: 'string', default: '50' },
    rates: { type: 'string', default: '5000,20000' },
  },
})
const SECONDS = Number(args.seconds)
const CLIENTS = Number(args.clients)
const STREAMS = Number(args.streams)
const RATES = args.rates!.split(',').map(Number)
const BATCH = 1000
const KEY = 'bench-live-key-0001'
const SECRET = 'bench-live-secret-0123456789'
const log = (msg: string) => console.error(`bench:live: ${msg}`)

const poster = ndjsonPoster(KEY, 16)
const post = (url: URL, body: string) => poster.post(url, body).then((r) => r.status)

/** CPU seconds the process has used so far, user and system. */
function cpuSeconds(pid: number): number {
  const { user, system } = processCpu(pid)
  return user + system
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : Number.NaN
}

let seq = 0
/** One request: BATCH events spread over every stream, exactly one order_paid per stream. */
function requestBody(): string {
  const lines: string[] = []
  const now = Date.now()
  const perStream = Math.floor(BATCH / STREAMS)
  for (let s = 0; s < STREAMS; s++) {
    const stream = `live-bench-${s}`
    for (let i = 0; i < perStream; i++) {
      const id = `lb-${++seq}`
      const viewer = `v${seq % 5000}`
      const type =
        i === 0
          ? 'order_paid'
          : ['view_start', 'product_impression', 'like', 'comment', 'product_click', 'view_end'][i % 6]!
      const event: Record<string, unknown> = {
        event_id: id,
        type,
        stream_id: stream,
        ts: now,
        viewer_id: viewer,
      }
      if (type === 'order_paid')
        Object.assign(event, { product_id: 'p1', order_id: `o-${id}`, amount: '19.99' })
      if (type === 'product_impression' || type === 'product_click') event.product_id = 'p1'
      lines.push(JSON.stringify(event))
    }
  }
  return lines.join('\n')
}

/** "p50 ≤ X s, p99 ≤ Y s (n)" from a Prometheus histogram's cumulative buckets. */
function histogramSummary(text: string, name: string): string {
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm'))].map(
    (m) => [m[1]!, Number(m[2])] as const,
  )
  const total = buckets.find(([le]) => le === '+Inf')?.[1] ?? 0
  const at = (q: number) => buckets.find(([, count]) => count >= q * total)?.[0] ?? '?'
  return `p50 ≤ ${at(0.5)} s, p99 ≤ ${at(0.99)} s over ${total}`
}

interface Watcher {
  socket: Socket
  stream: number
  /** (receive time, orders visible) per tick */
  seen: [number, number][]
}

async function main() {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'livewall-bench-live-'))
  noteSlowCreates(dataDir, log)
  const server = await spawnServer({
    LIVEWALL_INGEST_KEYS: KEY,
    LIVEWALL_TOKEN_SECRET: SECRET,
    DATA_DIR: dataDir,
    INGEST_RATE_LIMIT_PER_KEY: '1000000',
  })
  const pid = server.process.pid!
  const url = new URL('/v1/events', server.url)
  const token = issueToken(SECRET, { role: 'ops', ttlMs: 3_600_000 })
  const results: string[] = []
  try {
    const now = Date.now()
    const starts = Array.from({ length: STREAMS }, (_, s) =>
      JSON.stringify({
        event_id: `start-${s}`,
        type: 'stream_start',
        stream_id: `live-bench-${s}`,
        ts: now,
        creator_id: `creator-${s % 10}`,
        vertical: 'Beauty',
      }),
    )
    await post(url, starts.join('\n'))
    log(`connecting ${CLIENTS} clients, ${CLIENTS / STREAMS} per stream`)
    const watchers: Watcher[] = []
    for (let i = 0; i < CLIENTS; i++) {
      const socket = io(`${server.url}/live`, {
        auth: { token },
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
      })
      const watcher: Watcher = { socket, stream: i % STREAMS, seen: [] }
      socket.on('tick', (tick: { totals: { orders: number } }) =>
        watcher.seen.push([performance.now(), tick.totals.orders]),
      )
      watchers.push(watcher)
    }
    await Promise.all(
      watchers.map(async (w) => {
        const answer = await w.socket
          .timeout(60_000)
          .emitWithAck('subscribe', { stream_id: `live-bench-${w.stream}`, step: '1s' })
        if (!answer.ok) throw new Error(JSON.stringify(answer))
      }),
    )
    log('all subscribed')

    let ordersAcked = 0
    for (const rate of RATES) {
      for (const w of watchers) w.seen = []
      // (ack time, orders acked per stream after it, send time)
      const acks: [number, number, number][] = []
      const interval = (BATCH / rate) * 1000
      log(`${rate} events/s: one ${BATCH}-event request every ${interval.toFixed(0)} ms for ${SECONDS} s`)
      const cpuStart = cpuSeconds(pid)
      const t0 = performance.now()
      const inflight: Promise<void>[] = []
      let failed = 0
      for (let i = 0; performance.now() - t0 < SECONDS * 1000; i++) {
        const wait = t0 + i * interval - performance.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        const sentAt = performance.now()
        inflight.push(
          post(url, requestBody()).then((status) => {
            if (status !== 200) {
              failed++
              return
            }
            ordersAcked++
            acks.push([performance.now(), ordersAcked, sentAt])
          }),
        )
      }
      await Promise.all(inflight)
      const elapsed = (performance.now() - t0) / 1000
      await new Promise((r) => setTimeout(r, 2000)) // let the last ticks arrive
      const cpu = ((cpuSeconds(pid) - cpuStart) / elapsed) * 100
      const rss = rssMb(pid)

      const latencies: number[] = []
      // The same ticks from the request's sending: what a producer's event takes to show.
      const fromSend: number[] = []
      let missed = 0
      for (const w of watchers) {
        let j = 0
        for (const [ackAt, orders, sentAt] of acks) {
          while (j < w.seen.length && w.seen[j]![1] < orders) j++
          if (j === w.seen.length) {
            missed++
            continue
          }
          latencies.push(Math.max(0, w.seen[j]![0] - ackAt))
          fromSend.push(w.seen[j]![0] - sentAt)
        }
      }
      latencies.sort((a, b) => a - b)
      fromSend.sort((a, b) => a - b)
      const row = `| ${rate.toLocaleString('en-US')} events/s | ${percentile(latencies, 50).toFixed(0)} ms | ${percentile(latencies, 95).toFixed(0)} ms | ${percentile(latencies, 99).toFixed(0)} ms | ${percentile(fromSend, 50).toFixed(0)} / ${percentile(fromSend, 99).toFixed(0)} ms | ${latencies.length.toLocaleString('en-US')} | ${missed} | ${failed} | ${cpu.toFixed(0)} % | ${rss.toFixed(0)} MiB |`
      log(row)
      results.push(row)
    }
    for (const w of watchers) w.socket.close()
    const metrics = await (await fetch(new URL('/metrics', server.url))).text()
    for (const name of [
      'livewall_live_round_seconds',
      'livewall_live_commit_to_tick_seconds',
      'livewall_ingest_commit_seconds',
      'livewall_ingest_rollup_lag_seconds',
    ]) {
      results.push(`| server: ${name} | ${histogramSummary(metrics, name)} |`)
    }
    if (process.env.BENCH_HISTOGRAMS) {
      for (const line of metrics.split('\n'))
        if (/^livewall_(live|ingest_commit)\w*_bucket/.test(line)) log(line)
    }
  } finally {
    server.process.kill('SIGTERM')
    await server.exited
    poster.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
  console.log(`\n${CLIENTS} clients, ${STREAMS} streams, ${SECONDS} s per rate, ticks at step 1s\n`)
  console.log(
    '| load | p50 | p95 | p99 | from sending: p50 / p99 | samples (ack × client) | not seen | failed requests | server CPU (1 core = 100 %) | server RSS |',
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const row of results) console.log(row)
  console.log('\ntarget: p99 < 250 ms at 20 000 events/s')
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
