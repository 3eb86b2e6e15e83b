import net from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildApp } from '../../server/app.ts'
import { issueToken } from '../../server/auth/tokens.ts'
import { loadConfig } from '../../server/config.ts'
import type { FaultInjector } from '../../server/storage/connection.ts'
import {
  manualClock,
  OTHER_KEY,
  startTestServer,
  TEST_KEY,
  TEST_SECRET,
  type TestServer,
  testDataDir,
} from '../helpers/server.ts'

/**
 * Read tokens and ingest keys on HTTP: what is refused, and that no secret ever reaches a
 * log line, whatever the request and whatever goes wrong.
 */

const START = Date.parse('2026-11-24T10:00:00Z')

describe('tokens on HTTP', () => {
  const clock = manualClock(START)
  let server: TestServer

  beforeAll(async () => {
    server = await startTestServer({ clock })
    const ts = START - 1000
    const result = await server.ingest([
      { event_id: 'alice-start', type: 'stream_start', stream_id: 'alice-live', ts, creator_id: 'alice' },
      { event_id: 'bob-start', type: 'stream_start', stream_id: 'bob-live', ts, creator_id: 'bob' },
    ])
    expect(result.body.accepted).toBe(2)
  })
  afterAll(() => server.close())

  const status = async (path: string, authorization?: string) => {
    const headers: Record<string, string> = {}
    if (authorization !== undefined) headers.authorization = authorization
    const response = await fetch(`${server.url}${path}`, { headers })
    const body = await response.json()
    return { status: response.status, code: body.error?.code as string | undefined }
  }

  test('a token works until it expires, then gets 401 token_expired', async () => {
    const token = issueToken(TEST_SECRET, { role: 'ops', ttlMs: 60_000 }, clock.now())
    expect((await status('/v1/streams', `Bearer ${token}`)).status).toBe(200)
    clock.advance(60_000)
    expect(await status('/v1/streams', `Bearer ${token}`)).toEqual({ status: 401, code: 'token_expired' })
    clock.set(START)
  })

  test('tampered tokens get 401 token_invalid', async () => {
    const token = issueToken(TEST_SECRET, { role: 'creator', creator_id: 'alice', ttlMs: 3_600_000 }, START)
    const [prefix, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const forge = (c: object) => Buffer.from(JSON.stringify(c)).toString('base64url')
    const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1)
    const tampered = [
      `${prefix}.${forge({ ...claims, role: 'ops', creator_id: null })}.${signature}`, // promoted to ops
      `${prefix}.${forge({ ...claims, creator_id: 'bob' })}.${signature}`, // someone else
      `${prefix}.${forge({ ...claims, exp: claims.exp + 86_400 })}.${signature}`, // extended
      `${prefix}.${payload}.${flipped}`,
      `${prefix}.${payload}.`, // no signature ("alg: none")
      `${prefix}.${payload}`,
      `${prefix}.${payload}.${signature}.extra`,
      `lw2.${payload}.${signature}`,
      issueToken('another-secret-entirely-0123', { role: 'ops', ttlMs: 3_600_000 }, START),
      'lw1..',
      '.',
      'lw1.ÿ.ÿ',
    ]
    for (const t of tampered)
      expect(await status('/v1/streams', `Bearer ${t}`), t).toEqual({ status: 401, code: 'token_invalid' })
  })

  test('a creator token on the quarantine gets 403; on another creator’s stream 404 on every endpoint', async () => {
    const alice = `Bearer ${server.creatorToken('alice')}`
    expect(await status('/v1/quarantine', alice)).toEqual({ status: 403, code: 'forbidden' })
    for (const path of ['', '/series', '/products', '/markers', '/sources'])
      expect(await status(`/v1/streams/bob-live${path}`, alice), path).toEqual({
        status: 404,
        code: 'stream_not_found',
      })
    expect((await status('/v1/streams/alice-live', alice)).status).toBe(200)
    const list = await fetch(`${server.url}/v1/streams?creator_id=bob`, { headers: { authorization: alice } })
    expect((await list.json()).streams).toEqual([])
  })

  test('ingest keys are not read tokens, and read tokens are not ingest keys', async () => {
    for (const key of [TEST_KEY, OTHER_KEY])
      expect(await status('/v1/streams', `Bearer ${key}`)).toEqual({ status: 401, code: 'token_invalid' })
    for (const token of [server.opsToken, server.creatorToken('alice'), TEST_SECRET]) {
      const response = await fetch(`${server.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
        body: JSON.stringify({
          event_id: 'x',
          type: 'view_start',
          stream_id: 's',
          ts: START,
          viewer_id: 'v',
        }),
      })
      expect(response.status).toBe(401)
      expect((await response.json()).error.code).toBe('unauthorized')
    }
  })

  test('a token is only read from the Authorization header: never from the URL', async () => {
    const token = server.opsToken
    for (const path of [`/v1/streams?token=${token}`, `/v1/streams?access_token=${token}`])
      expect(await status(path)).toEqual({ status: 401, code: 'token_missing' })
    expect((await status('/v1/streams', `Basic ${token}`)).status).toBe(401)
    expect((await status('/v1/streams', token)).status).toBe(401)
  })
})

describe('secrets never reach the logs', () => {
  const lines: string[] = []
  let app: FastifyInstance
  let url: string
  const faults = {
    failing: false as boolean,
    failNext(op: string, sql: string) {
      if (!this.failing) return undefined
      if (op === 'exec' && sql.startsWith('INSERT')) return new Error('injected: INSERT refused')
      if (op === 'query' && sql.includes('stream_totals')) return new Error('injected: read failed')
      return undefined
    },
  } satisfies FaultInjector & { failing: boolean }

  beforeAll(async () => {
    const capture = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean))
        done()
      },
    })
    const config = loadConfig({
      LIVEWALL_INGEST_KEYS: `${TEST_KEY},${OTHER_KEY}`,
      LIVEWALL_TOKEN_SECRET: TEST_SECRET,
      DATA_DIR: testDataDir(),
      CLICKHOUSE_DATABASE: `logs_${process.pid}`,
      INGEST_RATE_LIMIT_PER_KEY: '5',
      HTTP_HEADERS_TIMEOUT_MS: '500',
      HTTP_REQUEST_TIMEOUT_MS: '1000',
    })
    // The most talkative level: whatever any part of the server logs, it logs here.
    app = await buildApp({ config, faults, logger: { level: 'trace', stream: capture } as never })
    url = await app.listen({ port: 0, host: '127.0.0.1' })
  })
  afterAll(() => app.close())

  const opsToken = issueToken(TEST_SECRET, { role: 'ops', ttlMs: 3_600_000 })
  const creatorToken = issueToken(TEST_SECRET, { role: 'creator', creator_id: 'alice', ttlMs: 3_600_000 })
  const expiredToken = issueToken(TEST_SECRET, { role: 'ops', ttlMs: 1000 }, Date.now() - 60_000)
  const foreignToken = issueToken('another-secret-entirely-0123', { role: 'ops', ttlMs: 3_600_000 })
  const SECRETS = { TEST_KEY, OTHER_KEY, TEST_SECRET, opsToken, creatorToken, expiredToken, foreignToken }

  async function raw(text: string): Promise<void> {
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
    socket.on('error', () => {})
    socket.on('data', () => {})
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(text)
    await new Promise((resolve) => socket.once('close', resolve))
  }

  test('through successes, refusals, client errors, rate limits and storage failures', async () => {
    const post = (key: string, body: string, contentType = 'application/x-ndjson') =>
      fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
        body,
      }).then((r) => r.status)
    const get = (path: string, token: string) =>
      fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status)
    const event = (id: string) =>
      JSON.stringify({
        event_id: id,
        type: 'stream_start',
        stream_id: 'logs',
        ts: Date.now(),
        creator_id: 'alice',
      })

    const statuses = [
      await post(TEST_KEY, event('log-1')), // 200
      await post(OTHER_KEY, `${event('log-2')}\n{"broken`), // 422
      await post(TEST_KEY, '[{"broken', 'application/json'), // 400
      await post(TEST_KEY, 'x', 'text/plain'), // 415
      await post(TEST_KEY, 'x'.repeat(6 * 1024 * 1024)), // 413
      await post(`${TEST_KEY}x`, event('log-3')), // 401
      await post(TEST_SECRET, event('log-4')), // 401: the token secret pasted as a key
      await post(opsToken, event('log-5')), // 401
      await get('/v1/streams', opsToken), // 200
      await get('/v1/streams/logs', creatorToken), // 200
      await get('/v1/quarantine', creatorToken), // 403
      await get('/v1/streams', expiredToken), // 401
      await get('/v1/streams', foreignToken), // 401
      await get('/v1/streams', TEST_KEY), // 401
      await get(`/v1/nowhere?token=${opsToken}`, opsToken), // 404
    ]
    expect(statuses).toEqual([200, 422, 400, 415, 413, 401, 401, 401, 200, 200, 403, 401, 401, 401, 404])

    // over the rate (5/s)
    const burst = await Promise.all(
      Array.from({ length: 12 }, (_, i) => post(TEST_KEY, event(`log-burst-${i}`))),
    )
    expect(burst).toContain(429)

    // storage fails: a commit (503) and a read (500, logged with its error)
    faults.failing = true
    expect(await post(OTHER_KEY, event('log-6'))).toBe(503)
    expect(await get('/v1/streams/logs', opsToken)).toBe(500)
    faults.failing = false

    // errors Node raises before a request exists, with the key in the bytes received
    await raw(
      `GET /v1/streams HTTP/1.1\r\nAuthorization: Bearer ${opsToken}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    ) // 431
    await raw(`POST /v1/events HTTP/1.1\r\nAuthorization: Bearer ${TEST_KEY}\r\nContent-Length: nope\r\n\r\n`) // 400
    await raw(`GET /v1/streams HTTP/1.1\r\nAuthorization: Bearer ${creatorToken}\r\nX-Slow: `) // 408 after 0.5 s

    await new Promise((resolve) => setTimeout(resolve, 200))
    const log = lines.join('\n')
    // the capture works and saw the failures...
    expect(log).toContain('unhandled error')
    expect(log).toContain('group commit failed')
    expect(log).toContain('client error')
    // ...and no secret, in any form
    for (const [name, secret] of Object.entries(SECRETS)) {
      expect(log.includes(secret), `${name} in the logs`).toBe(false)
      const signature = secret.split('.').at(-1)!
      expect(log.includes(signature), `${name} (or its signature) in the logs`).toBe(false)
      expect(log.includes(Buffer.from(secret).toJSON().data.join(',')), `${name} as bytes in the logs`).toBe(
        false,
      )
      expect(log.includes(Buffer.from(secret).toString('base64')), `${name} as base64 in the logs`).toBe(
        false,
      )
    }
    expect(log).not.toContain('rawPacket')
    if (process.env.SHOW_LOGS) console.log(log)
    console.log(
      `logs: ${lines.length} lines captured at level trace; none holds a key, the token secret or a token`,
    )
  }, 30_000)
})
