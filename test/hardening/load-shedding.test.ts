import { connect, type Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, test } from 'vitest'
import { OTHER_KEY, startTestServer, TEST_KEY, type TestServer } from '../helpers/server.ts'

/**
 * Above capacity the ingest answers 503 + Retry-After at once instead of queueing without
 * bound: memory stays bounded, and what was acknowledged is stored exactly once.
 */

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heapUsedMb = () => {
  gc()
  return process.memoryUsage().heapUsed / 1024 / 1024
}

interface Sent {
  ids: string[]
  body: string
}

let seq = 0
function request(stream: string, events: number, padding = 0): Sent {
  const ids: string[] = []
  const lines: string[] = []
  for (let i = 0; i < events; i++) {
    const id = `${stream}-${++seq}`
    ids.push(id)
    const event: Record<string, unknown> = {
      event_id: id,
      type: 'view_start',
      stream_id: stream,
      ts: Date.now(),
      viewer_id: id,
    }
    if (padding > 0) event.padding = 'p'.repeat(padding)
    lines.push(JSON.stringify(event))
  }
  return { ids, body: lines.join('\n') }
}

async function post(server: TestServer, sent: Sent, key = TEST_KEY) {
  const started = performance.now()
  const response = await fetch(`${server.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
    body: sent.body,
    signal: AbortSignal.timeout(30_000),
  })
  const body = await response.json()
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body,
    ms: performance.now() - started,
  }
}

async function storedCounts(server: TestServer, stream: string): Promise<Map<string, number>> {
  const rows = await (
    await server.app.clickhouse.query({
      query: 'SELECT event_id, count() AS n FROM events WHERE stream_id = {stream:String} GROUP BY event_id',
      query_params: { stream },
      format: 'JSONEachRow',
    })
  ).json<{ event_id: string; n: number }>()
  return new Map(rows.map((r) => [r.event_id, r.n]))
}

const ms = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0
    ? 'none'
    : `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms`
}

/** Samples `read` on every turn of the event loop until stopped; returns the maximum seen. */
function sampleMax(read: () => number): () => number {
  let max = read()
  let running = true
  const tick = () => {
    max = Math.max(max, read())
    if (running) setImmediate(tick)
  }
  setImmediate(tick)
  return () => {
    running = false
    return max
  }
}

describe('a flood of ingest requests', () => {
  test('pending events never exceed INGEST_MAX_PENDING_EVENTS; the excess gets 503 + Retry-After at once; every 2xx event is stored exactly once', async () => {
    const MAX_PENDING = 2000
    const server = await startTestServer({
      env: {
        INGEST_MAX_PENDING_EVENTS: String(MAX_PENDING),
        INGEST_FLUSH_MAX_EVENTS: '1000',
        INGEST_RATE_LIMIT_PER_KEY: '1000000',
      },
    })
    try {
      const heapBefore = heapUsedMb()
      const stopSampling = sampleMax(() => server.app.writer.pendingEvents)
      const requests = Array.from({ length: 600 }, () => request('flood', 100))
      const answers = await Promise.all(requests.map((r) => post(server, r)))
      const maxPending = stopSampling()
      const heapAfter = heapUsedMb()

      const ok = answers.filter((a) => a.status === 200)
      const shed = answers.filter((a) => a.status === 503)
      console.log(
        `flood: 600 requests × 100 events; ${ok.length} stored (${ms(ok.map((a) => a.ms))}), ` +
          `${shed.length} shed with 503 (${ms(shed.map((a) => a.ms))}); pending peaked at ${maxPending} ` +
          `(bound ${MAX_PENDING}); heap ${heapBefore.toFixed(0)} → ${heapAfter.toFixed(0)} MB`,
      )
      expect(ok.length + shed.length).toBe(answers.length) // nothing else: no 5xx but the 503s
      expect(shed.length).toBeGreaterThan(0)
      expect(maxPending).toBeLessThanOrEqual(MAX_PENDING)
      for (const a of shed) {
        expect(a.body.error.code).toBe('overloaded')
        expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1)
      }
      // Bounded: 60 000 events passed through, and the heap holds none of them afterwards.
      expect(heapAfter - heapBefore).toBeLessThan(100)

      // Ack means stored; 503 means nothing of the request was stored.
      const acked = new Set(requests.flatMap((r, i) => (answers[i]!.status === 200 ? r.ids : [])))
      let stored = await storedCounts(server, 'flood')
      expect([...stored.values()].every((n) => n === 1)).toBe(true)
      expect(new Set(stored.keys())).toEqual(acked)

      // The clients retry what was shed, as Retry-After tells them, until all is in.
      // (Fifty clients at a time: a real fleet backs off and spreads out.)
      let pending = requests.filter((_, i) => answers[i]!.status === 503)
      let rounds = 0
      while (pending.length > 0 && rounds++ < 100) {
        const wave = pending.slice(0, 50)
        const retried = await Promise.all(wave.map((r) => post(server, r)))
        expect(retried.every((a) => a.status === 200 || a.status === 503)).toBe(true)
        pending = [...pending.slice(50), ...wave.filter((_, i) => retried[i]!.status === 503)]
        if (retried.some((a) => a.status === 503)) await new Promise((resolve) => setTimeout(resolve, 200))
      }
      expect(pending).toEqual([])
      stored = await storedCounts(server, 'flood')
      expect(stored.size).toBe(600 * 100)
      expect([...stored.values()].every((n) => n === 1)).toBe(true)
    } finally {
      await server.close()
    }
  }, 120_000)

  test('request bodies in flight are bounded by INGEST_MAX_INFLIGHT_MB: big bodies beyond it get 503 before they are read', async () => {
    const server = await startTestServer({
      env: { INGEST_MAX_INFLIGHT_MB: '8', INGEST_RATE_LIMIT_PER_KEY: '1000000' },
    })
    try {
      const inflight = () =>
        Number(/^livewall_ingest_inflight_bytes (\d+)$/m.exec(server.app.registry.render())?.[1] ?? 0)
      // The first commit held, as by a slow disk: meanwhile every body that was let in waits
      // in memory for its answer, and the budget must turn the rest away. Held until one
      // is turned away (or 10 s: then none will be), not for a fixed time: on a busy machine
      // the client may take longer than that to send them all.
      let held = false
      server.app.writer.addGate(async () => {
        if (held) return
        held = true
        const until = Date.now() + 10_000
        while (Date.now() < until && server.app.ingestInstruments.requests.get({ status: '503' }) === 0)
          await new Promise((resolve) => setTimeout(resolve, 20))
      })
      const stopSampling = sampleMax(inflight)
      // 40 requests of ~1 MiB (4 events of 256 KiB) at once: 40 MiB against a budget of 8,
      // from both keys (each may hold half of it)
      const requests = Array.from({ length: 40 }, () => request('big', 4, 256 * 1024))
      const answers = await Promise.all(
        requests.map((r, i) => post(server, r, i % 2 === 0 ? TEST_KEY : OTHER_KEY)),
      )
      const maxInflight = stopSampling()
      const ok = answers.filter((a) => a.status === 200)
      const shed = answers.filter((a) => a.status === 503)
      console.log(
        `big bodies: 40 × 1 MiB; ${ok.length} stored, ${shed.length} shed; ` +
          `bytes in flight peaked at ${(maxInflight / 1048576).toFixed(1)} MiB (bound 8 MiB)`,
      )
      expect(ok.length + shed.length).toBe(40)
      expect(shed.length).toBeGreaterThan(0)
      expect(maxInflight).toBeLessThanOrEqual(8 * 1024 * 1024)
      for (const a of shed) expect(a.body.error.code).toBe('overloaded')
      expect(inflight()).toBe(0) // every share given back
      const acked = new Set(requests.flatMap((r, i) => (answers[i]!.status === 200 ? r.ids : [])))
      expect(new Set((await storedCounts(server, 'big')).keys())).toEqual(acked)
    } finally {
      await server.close()
    }
  }, 60_000)
})

/** An upload written by hand, to hold a request open half-sent. */
interface Upload {
  socket: Socket
  /** What the server has answered so far. */
  answer(): string
}

async function openUpload(server: TestServer, key: string, framing: string, first: string): Promise<Upload> {
  const { port } = new URL(server.url)
  const socket = connect(Number(port), '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  let received = ''
  socket.on('data', (chunk) => {
    received += chunk.toString('utf8')
  })
  socket.on('error', () => {})
  socket.write(
    `POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/x-ndjson\r\n${framing}\r\nConnection: close\r\n\r\n${first}`,
  )
  return { socket, answer: () => received }
}

const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe("one key's slow uploads", () => {
  const MiB = 1024 * 1024
  const env = {
    INGEST_MAX_INFLIGHT_MB: '8',
    INGEST_MAX_BODY_BYTES: String(MiB),
    INGEST_RATE_LIMIT_PER_KEY: '1000000',
  }
  const inflightOf = (server: TestServer) => () =>
    Number(/^livewall_ingest_inflight_bytes (\d+)$/m.exec(server.app.registry.render())?.[1] ?? 0)
  /** NDJSON of about `bytes` bytes. */
  const batch = (stream: string, bytes: number) => request(stream, Math.floor(bytes / 2048), 1900)

  async function postAs(server: TestServer, key: string, sent: Sent) {
    const response = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
      body: sent.body,
    })
    return { status: response.status, body: await response.json() }
  }

  test('a key holds at most its share of the in-flight budget: another key is still served', async () => {
    const server = await startTestServer({ env })
    const uploads: Upload[] = []
    try {
      const inflight = inflightOf(server)
      // Eight uploads of TEST_KEY that declare 1 MiB and send 10 bytes: the whole 8 MiB if
      // nothing caps a key. Each is either charged (the gauge grows) or refused (answered).
      for (let i = 0; i < 8; i++) {
        const before = inflight()
        const upload = await openUpload(server, TEST_KEY, `Content-Length: ${MiB}`, '{"event_id"')
        uploads.push(upload)
        await until(() => inflight() > before || upload.answer() !== '')
      }
      const refused = uploads.filter((u) => u.answer() !== '')
      // two keys: each may hold half of 8 MiB
      expect(inflight()).toBe(4 * MiB)
      expect(refused).toHaveLength(4)
      for (const u of refused) {
        expect(u.answer()).toMatch(/^HTTP\/1\.1 503 /)
        expect(u.answer()).toContain('"code":"overloaded"')
      }
      const victim = await postAs(server, OTHER_KEY, batch('victim', 900 * 1024))
      expect(victim.status).toBe(200)
      expect(victim.body.accepted).toBeGreaterThan(400)
      // the stuck key itself is over its share
      const own = await postAs(server, TEST_KEY, batch('stuck', 900 * 1024))
      expect(own.status).toBe(503)
      for (const u of uploads) u.socket.destroy()
      await until(() => inflight() === 0) // every share given back
    } finally {
      for (const u of uploads) u.socket.destroy()
      await server.close()
    }
  }, 60_000)

  test('a chunked body is charged by the bytes received, not the body limit up front, and bounded as it grows', async () => {
    const server = await startTestServer({ env })
    const uploads: Upload[] = []
    try {
      const inflight = inflightOf(server)
      // Twenty trickling chunked uploads: 10 bytes each, not 20 MiB.
      const opening = chunk('{"event_i"')
      for (let i = 0; i < 20; i++) {
        const before = inflight()
        const upload = await openUpload(server, TEST_KEY, 'Transfer-Encoding: chunked', opening)
        uploads.push(upload)
        await until(() => inflight() > before || upload.answer() !== '')
      }
      expect(uploads.map((u) => u.answer()).filter((answer) => answer !== '')).toEqual([])
      expect(inflight()).toBe(20 * 10)
      expect((await postAs(server, TEST_KEY, batch('beside-trickles', 900 * 1024))).status).toBe(200)
      for (const u of uploads.splice(0)) u.socket.destroy()
      await until(() => inflight() === 0)

      // Bodies that grow are charged as they grow: four of 0.9 MiB fit TEST_KEY's 4 MiB share,
      // the fifth is refused once it passes it, and the four then complete.
      const bodies = Array.from({ length: 5 }, (_, i) => batch(`grown-${i}`, 900 * 1024))
      for (const [i, sent] of bodies.entries()) {
        const upload = await openUpload(server, TEST_KEY, 'Transfer-Encoding: chunked', chunk(sent.body))
        uploads.push(upload)
        const target = uploads.length * sent.body.length
        await until(() => inflight() >= target || upload.answer() !== '')
        if (i < 4) expect(upload.answer(), `upload ${i}`).toBe('')
      }
      const fifth = uploads[4]!
      await until(() => fifth.answer() !== '')
      expect(fifth.answer()).toMatch(/^HTTP\/1\.1 503 /)
      expect(fifth.answer()).toContain('"code":"overloaded"')
      fifth.socket.destroy()
      expect(inflight()).toBeLessThanOrEqual(4 * MiB)
      for (const u of uploads.slice(0, 4)) u.socket.write('0\r\n\r\n')
      await until(() => uploads.slice(0, 4).every((u) => u.answer().includes('"accepted"')))
      for (const u of uploads.slice(0, 4)) expect(u.answer()).toMatch(/^HTTP\/1\.1 200 /)
      await until(() => inflight() === 0)
    } finally {
      for (const u of uploads) u.socket.destroy()
      await server.close()
    }
  }, 60_000)
})

describe('whole-process pressure (@fastify/under-pressure)', () => {
  test('over the heap limit the API answers 503 + Retry-After in the API error format; health checks still answer', async () => {
    const server = await startTestServer({ env: { LOAD_SHED_HEAP_USED_MB: '1' } })
    try {
      // the first sample is taken within half a second
      let answer = await post(server, request('heap', 1))
      for (let i = 0; i < 50 && answer.status !== 503; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        answer = await post(server, request('heap', 1))
      }
      expect(answer.status).toBe(503)
      expect(answer.retryAfter).toBe('2')
      expect(answer.body.error.code).toBe('overloaded')
      expect(answer.body.error.message).toContain('heapUsedBytes')
      const read = await server.get('/v1/streams')
      expect(read.status).toBe(503)
      expect(read.body.error.code).toBe('overloaded')
      for (const path of ['/healthz', '/readyz', '/metrics'])
        expect((await fetch(`${server.url}${path}`)).status).toBe(200)
      expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(
        /livewall_load_shed_total\{reason="heapUsedBytes"\} [1-9]/,
      )
    } finally {
      await server.close()
    }
  })

  test('a lagging event loop sheds the API until it recovers', async () => {
    const server = await startTestServer({ env: { LOAD_SHED_EVENT_LOOP_DELAY_MS: '50' } })
    try {
      // past the boot grace (two samples after ready)
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect((await post(server, request('lag', 1))).status).toBe(200)
      // Two seconds of 200 ms synchronous chunks: the mean loop delay is far above 50 ms,
      // and requests still get through between the chunks to be answered.
      let lagging = true
      const lag = (async () => {
        const until = Date.now() + 2000
        while (Date.now() < until) {
          const chunkEnd = Date.now() + 200
          while (Date.now() < chunkEnd) {}
          await new Promise((resolve) => setImmediate(resolve))
        }
        lagging = false
      })()
      const during: number[] = []
      while (lagging) during.push((await post(server, request('lag', 1))).status)
      await lag
      const after: number[] = []
      for (let i = 0; i < 100 && after.at(-1) !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        after.push((await post(server, request('lag', 1))).status)
      }
      console.log(`lag: statuses while lagging ${during.join(' ')}; after ${after.join(' ')}`)
      expect(during).toContain(503)
      expect(after.at(-1)).toBe(200)
    } finally {
      await server.close()
    }
  })
})
