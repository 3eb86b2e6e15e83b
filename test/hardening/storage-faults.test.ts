import { createServer } from 'node:http'
import net from 'node:net'
import { describe, expect, test } from 'vitest'
import { buildApp } from '../../server/app.ts'
import { loadConfig } from '../../server/config.ts'
import type { FaultInjector } from '../../server/storage/connection.ts'
import { logCapture } from '../helpers/log-capture.ts'
import { startTestServer, TEST_KEY, type TestServer, testDataDir } from '../helpers/server.ts'

/**
 * Storage that is away or failing: the server starts anyway and says it is not ready,
 * ingest answers 503 + Retry-After at once and stores nothing half-way, nothing
 * acknowledged is lost, and everything recovers by itself when storage does.
 */

const PATIENCE_MS = 10_000
let seq = 0

function events(stream: string, valid: number, invalid = 0) {
  const ids: string[] = []
  const lines: string[] = []
  for (let i = 0; i < valid; i++) {
    const id = `${stream}-${++seq}`
    ids.push(id)
    lines.push(
      JSON.stringify({ event_id: id, type: 'view_start', stream_id: stream, ts: Date.now(), viewer_id: id }),
    )
  }
  for (let i = 0; i < invalid; i++)
    lines.push(
      JSON.stringify({
        event_id: `${stream}-bad-${++seq}`,
        type: 'view_start',
        stream_id: stream,
        ts: Date.now(),
      }),
    )
  return { ids, body: lines.join('\n'), valid, invalid }
}
type Batch = ReturnType<typeof events>

async function post(server: TestServer, batch: Batch) {
  const started = performance.now()
  const response = await fetch(`${server.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/x-ndjson' },
    body: batch.body,
    signal: AbortSignal.timeout(PATIENCE_MS),
  })
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: await response.json(),
    ms: performance.now() - started,
  }
}

async function count(
  server: TestServer,
  table: 'events' | 'quarantine',
  stream: string,
): Promise<Map<string, number>> {
  const rows = await (
    await server.app.clickhouse.query({
      query: `SELECT event_id, count() AS n FROM ${table} WHERE stream_id = {stream:String} GROUP BY event_id`,
      query_params: { stream },
      format: 'JSONEachRow',
    })
  ).json<{ event_id: string; n: number }>()
  return new Map(rows.map((r) => [r.event_id, r.n]))
}

async function closedPort(): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as net.AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

async function until(check: () => Promise<boolean>, ms = PATIENCE_MS): Promise<number> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return Date.now() - started
}

/** Switchable faults at the connection boundary, counted. */
function faultSwitch() {
  const state = {
    /** which operations fail while on */
    failing: new Set<'events' | 'quarantine' | 'lookups' | 'everything'>(),
    injected: 0,
  }
  const faults: FaultInjector = {
    failNext(op, sql) {
      const hit =
        state.failing.has('everything') ||
        (state.failing.has('events') && op === 'exec' && sql.startsWith('INSERT INTO events')) ||
        (state.failing.has('quarantine') && op === 'insert') ||
        (state.failing.has('lookups') && op === 'query' && sql.includes('SELECT DISTINCT'))
      if (!hit) return undefined
      state.injected++
      return new Error(`injected fault: ${op} refused`)
    },
  }
  return { state, faults }
}

describe('storage that is not there at boot', () => {
  async function expectNotReady(server: TestServer) {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    const ready = await fetch(`${server.url}/readyz`)
    expect(ready.status).toBe(503)
    expect((await ready.json()).ready).toBe(false)
    const ingest = await post(server, events('away', 3))
    expect(ingest.status).toBe(503)
    expect(ingest.body.error.code).toBe('storage_unavailable')
    expect(Number(ingest.retryAfter)).toBeGreaterThan(0)
    const read = await server.get('/v1/streams')
    expect(read.status).toBe(503)
    expect(read.body.error.code).toBe('storage_unavailable')
    return ingest.ms
  }

  test('CLICKHOUSE_URL where nothing listens: starts, not ready, ingest 503 + Retry-After at once, healthz 200', async () => {
    const port = await closedPort()
    const started = performance.now()
    const server = await startTestServer({ env: { CLICKHOUSE_URL: `http://127.0.0.1:${port}` } })
    const bootMs = performance.now() - started
    try {
      const ingestMs = await expectNotReady(server)
      console.log(
        `storage away (refused): booted in ${bootMs.toFixed(0)} ms, ingest answered 503 in ${ingestMs.toFixed(0)} ms`,
      )
      expect(bootMs).toBeLessThan(PATIENCE_MS)
    } finally {
      await server.close()
    }
  })

  test('a ClickHouse server that refuses the credentials is logged as such, not as one that is away', async () => {
    // Answers every request as ClickHouse does a wrong password.
    const refusing = createServer((_req, res) => {
      res.writeHead(516, { 'X-ClickHouse-Exception-Code': '516' })
      res.end(
        'Code: 516. DB::Exception: default: Authentication failed: password is incorrect. (AUTHENTICATION_FAILED)',
      )
    })
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve))
    const { port } = refusing.address() as net.AddressInfo
    const { stream, lines } = logCapture()
    const config = loadConfig({
      LIVEWALL_INGEST_KEYS: TEST_KEY,
      LIVEWALL_TOKEN_SECRET: 'secret-0123456789abcdef',
      CLICKHOUSE_URL: `http://127.0.0.1:${port}`,
      CLICKHOUSE_PASSWORD: 'wrong-password',
      DATA_DIR: testDataDir(),
    })
    const app = await buildApp({ config, logger: { level: 'warn', stream } as never })
    try {
      const refused = (l: { msg: string }) => l.msg.startsWith('the ClickHouse server refused access')
      await until(async () => lines.some(refused))
      const line = lines.find(refused)!
      expect(line.level).toBe(50) // error, not warn
      expect(line.msg).toContain('check CLICKHOUSE_USER, CLICKHOUSE_PASSWORD and the user')
      expect(lines.some((l) => l.msg.startsWith('storage not reachable'))).toBe(false)
      expect(JSON.stringify(lines)).not.toContain('wrong-password')
    } finally {
      await app.close()
      refusing.close()
    }
  })

  test('CLICKHOUSE_URL where a server accepts but never answers: the same, without hanging', async () => {
    const silent = net.createServer(() => {}) // takes the connection, says nothing
    const sockets = new Set<net.Socket>()
    silent.on('connection', (s) => sockets.add(s))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as net.AddressInfo
    const started = performance.now()
    const server = await startTestServer({
      env: { CLICKHOUSE_URL: `http://127.0.0.1:${port}`, CLICKHOUSE_REQUEST_TIMEOUT_MS: '1000' },
    })
    const bootMs = performance.now() - started
    try {
      const ingestMs = await expectNotReady(server)
      console.log(
        `storage silent: booted in ${bootMs.toFixed(0)} ms, ingest answered 503 in ${ingestMs.toFixed(0)} ms`,
      )
      expect(bootMs).toBeLessThan(PATIENCE_MS)
    } finally {
      await server.close()
      for (const s of sockets) s.destroy()
      silent.close()
    }
  })

  test('embedded storage failing at boot: not ready, then ready by itself once it answers', async () => {
    const { state, faults } = faultSwitch()
    state.failing.add('everything')
    const server = await startTestServer({ faults })
    try {
      await expectNotReady(server)
      state.failing.clear()
      const recoveredMs = await until(async () => (await fetch(`${server.url}/readyz`)).status === 200)
      const batch = events('reborn', 5)
      expect((await post(server, batch)).status).toBe(200)
      expect((await count(server, 'events', 'reborn')).size).toBe(5)
      console.log(`boot faults: ${state.injected} injected; ready ${recoveredMs} ms after storage answered`)
    } finally {
      await server.close()
    }
  })
})

describe('INSERT failures while running', () => {
  test('a failed commit answers 503 to every request in it, stores nothing of them, loses nothing acknowledged before, and ingest recovers without a restart', async () => {
    const { state, faults } = faultSwitch()
    const server = await startTestServer({ faults })
    try {
      // acknowledged before the fault
      const before = events('fault', 200, 2)
      const first = await post(server, before)
      expect(first.status).toBe(422)
      expect(first.body).toMatchObject({ accepted: 200, rejected: 2 })

      // storage refuses the events INSERT: every request of the group commit gets 503
      state.failing.add('events')
      const during = Array.from({ length: 10 }, () => events('fault', 50, 1))
      const refused = await Promise.all(during.map((b) => post(server, b)))
      for (const answer of refused) {
        expect(answer.status).toBe(503)
        expect(answer.body.error.code).toBe('storage_unavailable')
        expect(Number(answer.retryAfter)).toBeGreaterThan(0)
        expect(answer.ms).toBeLessThan(PATIENCE_MS)
      }
      // ...and so does a failing dedup look-up (the refused ids may be stored, so their
      // retry is looked up in storage)
      state.failing.clear()
      state.failing.add('lookups')
      const lookupRefused = await post(server, during[0]!)
      expect(lookupRefused.status).toBe(503)

      // nothing of the refused requests is stored, in events or in quarantine; all of before is
      state.failing.clear()
      let stored = await count(server, 'events', 'fault')
      expect(new Set(stored.keys())).toEqual(new Set(before.ids))
      expect([...stored.values()].every((n) => n === 1)).toBe(true)
      expect((await count(server, 'quarantine', 'fault')).size).toBe(2)

      // the faults stop: the same process takes the retries, each event exactly once
      const retried = await Promise.all(during.map((b) => post(server, b)))
      retried.forEach((answer, i) => {
        expect(answer.status).toBe(during[i]!.invalid > 0 ? 422 : 200)
        expect(answer.body).toMatchObject({ accepted: during[i]!.valid, duplicates: 0 })
      })
      stored = await count(server, 'events', 'fault')
      expect(stored.size).toBe(200 + 10 * 50)
      expect([...stored.values()].every((n) => n === 1)).toBe(true)
      expect((await count(server, 'quarantine', 'fault')).size).toBe(2 + 10)
      const metrics = await (await fetch(`${server.url}/metrics`)).text()
      expect(metrics).toMatch(/livewall_ingest_commit_errors_total [1-9]/)
      console.log(
        `insert faults: ${state.injected} injected; ${stored.size} events stored once each after the retries`,
      )
    } finally {
      await server.close()
    }
  })

  test('a commit whose quarantine rows fail after its events were written: each request is told what was stored, and the retry stores the rest once', async () => {
    const { state, faults } = faultSwitch()
    // a wide window, so that the two requests below share one commit
    const server = await startTestServer({ faults, env: { INGEST_FLUSH_MAX_WAIT_MS: '300' } })
    try {
      await until(async () => server.app.dedup.isWarm) // the seen-filter answers "new" without a look-up
      state.failing.add('quarantine')
      const batch = events('partial', 30, 3)
      const clean = events('partial-clean', 20)
      const [refused, stored] = await Promise.all([post(server, batch), post(server, clean)])
      // The request with rejected events: a 503 to retry, saying its events were stored.
      expect(refused.status).toBe(503)
      expect(refused.body.error.code).toBe('storage_unavailable')
      expect(refused.body.error.message).toContain('accepted events were stored')
      expect(Number(refused.retryAfter)).toBeGreaterThan(0)
      // The request beside it in the same commit had nothing to quarantine: it is stored, and told so.
      expect(stored.status).toBe(200)
      expect(stored.body).toMatchObject({ accepted: 20, duplicates: 0, rejected: 0 })
      expect((await server.get('/v1/streams/partial-clean')).body.totals.views).toBe(20)
      // (one commit held both: the quarantine insert was tried once)
      expect(state.injected).toBe(1)

      state.failing.clear()
      const retry = await post(server, batch)
      expect(retry.status).toBe(422)
      expect(retry.body).toMatchObject({ accepted: 0, duplicates: 30, rejected: 3 })
      const rows = await count(server, 'events', 'partial')
      expect(rows.size).toBe(30)
      expect([...rows.values()].every((n) => n === 1)).toBe(true)
      expect([...(await count(server, 'quarantine', 'partial')).values()]).toEqual([1, 1, 1])
      // and the stream's numbers count each view once
      expect((await server.get('/v1/streams/partial')).body.totals.views).toBe(30)
    } finally {
      await server.close()
    }
  })
})
