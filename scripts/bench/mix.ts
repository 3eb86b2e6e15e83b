import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { Agent, request } from 'node:http'

/**
 * A realistic live-shopping event mix for benchmarks: mostly impressions, views and
 * engagement, a thin funnel down to orders. Unique event ids; timestamps near `now`.
 */
const MIX: [string, number][] = [
  ['product_impression', 30],
  ['view_start', 14],
  ['view_end', 11],
  ['like', 15],
  ['comment', 10],
  ['product_click', 8],
  ['add_to_cart', 4],
  ['share', 2],
  ['follow', 2],
  ['order_paid', 2.5],
  ['order_refunded', 0.3],
  ['product_pin', 0.1],
  ['marker', 0.1],
]
const TOTAL = MIX.reduce((a, [, w]) => a + w, 0)

function pick(r: number): string {
  let x = r * TOTAL
  for (const [type, w] of MIX) {
    x -= w
    if (x <= 0) return type
  }
  return 'like'
}

/** NDJSON lines of `count` events across `streams` streams, id prefix `run`. */
export function eventMix(run: string, start: number, count: number, streams: number, now: number): string[] {
  const lines: string[] = []
  let seed = start * 2654435761
  const rand = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 2246822507) + 0x9e3779b9) >>> 0
    return seed / 4294967296
  }
  for (let i = start; i < start + count; i++) {
    const type = pick(rand())
    const stream = `bench-${i % streams}`
    const viewer = `v${Math.floor(rand() * 50_000)}`
    const product = `p${Math.floor(rand() * 40)}`
    const event: Record<string, unknown> = {
      event_id: `${run}-${i}`,
      type,
      stream_id: stream,
      ts: now - Math.floor(rand() * 5000),
    }
    if (
      type !== 'product_impression' &&
      type !== 'product_pin' &&
      type !== 'marker' &&
      type !== 'order_refunded'
    )
      event.viewer_id = viewer
    if (type.startsWith('product') || type === 'add_to_cart' || type.startsWith('order'))
      event.product_id = product
    if (type === 'order_paid' || type === 'order_refunded') {
      event.order_id = `${run}-o${i}`
      event.amount = (Math.floor(rand() * 20000) / 100).toFixed(2)
      event.quantity = 1 + Math.floor(rand() * 3)
    }
    if (type === 'view_start') event.source = 'for_you'
    if (type === 'like') event.quantity = 1 + Math.floor(rand() * 20)
    if (type === 'marker') event.label = 'flash sale starts'
    lines.push(JSON.stringify(event))
  }
  return lines
}

/**
 * Request bodies of the mix, `count` events each, every call with its own unique ids. The
 * load generator shares the machine's two cores with the server under test, so a body is
 * one copy of a template encoded once, with a fixed-width request number written over the
 * id placeholders: building the events per request (JSON.stringify), or even replacing
 * text in a string and encoding it, took CPU the server would otherwise have had.
 */
export function ndjsonBodies(prefix: string, count: number, streams: number, now: number): () => Buffer {
  const placeholder = '~'.repeat(8)
  const template = Buffer.from(eventMix(placeholder, 0, count, streams, now).join('\n'))
  const marker = Buffer.from(placeholder)
  const offsets: number[] = []
  for (let at = template.indexOf(marker); at !== -1; at = template.indexOf(marker, at + marker.length)) {
    offsets.push(at)
  }
  let next = 0
  return () => {
    const run = Buffer.from(`${prefix}${(next++).toString(36).padStart(8 - prefix.length, '0')}`)
    if (run.length !== 8) throw new Error('ndjsonBodies: prefix too long or too many bodies')
    const body = Buffer.allocUnsafe(template.length)
    template.copy(body)
    for (const at of offsets) run.copy(body, at)
    return body
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/**
 * POSTs NDJSON bodies with an ingest key over `connections` keep-alive connections;
 * resolves with the status and the time to the last byte of the answer.
 */
export function ndjsonPoster(key: string, connections: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  const post = (url: URL, body: string | Buffer): Promise<{ status: number; ms: number }> => {
    const started = performance.now()
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  }
  return { post, close: () => agent.destroy() }
}

/** CPU a process has used so far, in seconds (Linux: /proc/<pid>/stat, at 100 ticks/s). */
export function processCpu(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }
}

/**
 * Logs a note when `dir` is on ext4 without a journal (as this project's VM is). There the
 * kernel's inode allocator skips each inode freed in the last 60 s, or 360 s while its inode
 * table block is dirty, one look-up at a time (`recently_deleted` in fs/ext4/ialloc.c): for
 * minutes after many files were deleted (a test run, a previous benchmark's data dirs)
 * every file the engine creates costs up to a millisecond, and a commit creates ~36.
 * Measured: 7–28 % of all CPU in that function during the paced phase, against 0.02 % on a
 * disk left alone for 6 minutes.
 */
export function noteSlowCreates(dir: string, log: (msg: string) => void): void {
  try {
    const dev = statSync(dir).dev
    const id = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((Math.floor(dev / 4096) & 0xfff00) >>> 0)}`
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const fields = line.split(' ')
      const tail = line.split(' - ')[1]?.split(' ')
      if (fields[2] !== id || !tail || tail[0] !== 'ext4') continue
      const device = tail[1]!.split('/').pop()!
      const journaled =
        existsSync('/proc/fs/jbd2') &&
        readdirSync('/proc/fs/jbd2').some((entry) => entry.startsWith(`${device}-`))
      if (!journaled)
        log(
          `note: ${dir} is on ext4 without a journal (${tail[1]}): creating files there is slow for ` +
            'up to 6 minutes after many were deleted (a test run, an earlier benchmark), and the ' +
            'figures with it; run this at least 6 minutes after such deletions (BENCHMARKS.md)',
        )
      return
    }
  } catch {
    // (no /proc: not Linux, nothing to say)
  }
}
