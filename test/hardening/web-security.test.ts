import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ConfigError, loadConfig } from '../../server/config.ts'
import { ensureDashboardBuilt } from '../e2e/build.ts'
import { startTestServer, TEST_KEY, TEST_SECRET, type TestServer } from '../helpers/server.ts'

/**
 * Browser-facing hardening: security headers with a CSP that allows what the dashboard
 * needs and nothing else (a relaxed one scoped to /docs), and CORS closed unless
 * LIVEWALL_CORS_ORIGINS names an origin.
 */

const DIST = path.join(import.meta.dirname, '..', '..', 'web', 'dist')

/** `content-security-policy` as { directive: [sources] }. */
function csp(header: string | null): Record<string, string[]> {
  expect(header).toBeTruthy()
  return Object.fromEntries(
    header!
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const [name, ...sources] = d.split(/\s+/)
        return [name!, sources]
      }),
  )
}

function expectHardened(headers: Headers, host: string) {
  const policy = csp(headers.get('content-security-policy'))
  expect(policy['default-src']).toEqual(["'self'"])
  expect(policy['script-src']).toEqual(["'self'"])
  expect(policy['script-src-attr']).toEqual(["'none'"])
  expect(policy['style-src']).toEqual(["'self'"])
  expect(policy['img-src']).toEqual(["'self'", 'data:'])
  expect(policy['connect-src']).toEqual(["'self'", `ws://${host}`, `wss://${host}`])
  expect(policy['object-src']).toEqual(["'none'"])
  expect(policy['frame-ancestors']).toEqual(["'none'"])
  expect(policy['base-uri']).toEqual(["'self'"])
  expect(policy).not.toHaveProperty('upgrade-insecure-requests') // plain-http LAN walls keep working
  expect(headers.get('x-content-type-options')).toBe('nosniff')
  expect(headers.get('x-frame-options')).toBe('DENY')
  expect(headers.get('referrer-policy')).toBe('no-referrer')
  expect(headers.get('cross-origin-opener-policy')).toBe('same-origin')
  expect(headers.get('cross-origin-resource-policy')).toBe('same-origin')
  expect(headers.get('strict-transport-security')).toMatch(/max-age=\d+/)
  expect(headers.get('x-powered-by')).toBeNull()
}

describe('security headers', () => {
  let server: TestServer
  let host: string
  beforeAll(async () => {
    // The web plugin looks for the build when the server starts: build first.
    await ensureDashboardBuilt()
    server = await startTestServer()
    host = new URL(server.url).host
  })
  afterAll(() => server.close())

  test('the dashboard, the API, its errors and 404s all carry them', async () => {
    const auth = { authorization: `Bearer ${server.opsToken}` }
    for (const [path, headers, status] of [
      ['/', {}, 200],
      ['/stream/anything', {}, 200],
      ['/v1/streams', auth, 200],
      ['/v1/streams', {}, 401],
      ['/v1/nowhere', {}, 404],
      ['/healthz', {}, 200],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, { headers })
      expect(response.status, path).toBe(status)
      expectHardened(response.headers, host)
    }
    const ingest = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/x-ndjson' },
      body: JSON.stringify({
        event_id: 'h1',
        type: 'view_start',
        stream_id: 'h',
        ts: Date.now(),
        viewer_id: 'v',
      }),
    })
    expect(ingest.status).toBe(200)
    expectHardened(ingest.headers, host)
  })

  test('a forged Host header cannot write into the policy', async () => {
    const response = await server.app.inject({
      url: '/',
      headers: { host: "evil.example; script-src 'unsafe-inline' *" },
    })
    const policy = csp(response.headers['content-security-policy'] as string)
    expect(policy['connect-src']).toEqual(["'self'", "'self'"])
    expect(policy['script-src']).toEqual(["'self'"])
  })

  test('Swagger UI at /docs gets its own policy: inline styles allowed there only, scripts still self', async () => {
    for (const path of ['/docs', '/docs/static/index.html']) {
      const response = await fetch(`${server.url}${path}`)
      expect(response.status, path).toBe(200)
      const policy = csp(response.headers.get('content-security-policy'))
      expect(policy['script-src']).toEqual(["'self'"])
      expect(policy['style-src']).toEqual(["'self'", "'unsafe-inline'"])
      expect(policy['img-src']).toEqual(["'self'", 'data:'])
    }
    const dashboard = csp((await fetch(`${server.url}/`)).headers.get('content-security-policy'))
    expect(dashboard['style-src']).toEqual(["'self'"])
  })

  test('the built dashboard has no inline script or style, so the strict policy fits it', async () => {
    const html = readFileSync(path.join(DIST, 'index.html'), 'utf8')
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]
    expect(scripts.length).toBeGreaterThan(0)
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc="\/[^"/][^"]*"/) // same origin
      expect(body!.trim()).toBe('')
    }
    expect(html).not.toMatch(/<style\b/i)
    expect(html).not.toMatch(/\son[a-z]+\s*=/i) // no inline event handlers
    expect(html).not.toMatch(/\sstyle\s*=/i)
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i) // nothing from another origin
    const served = await (await fetch(`${server.url}/`)).text()
    expect(served).toBe(html)
  })
})

describe('CORS', () => {
  const preflight = (server: TestServer, origin: string, path = '/v1/events') =>
    fetch(`${server.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    })

  test('closed by default: no origin gets an Access-Control-Allow-Origin', async () => {
    const server = await startTestServer()
    try {
      for (const origin of ['https://shop.example', 'null', server.url.replace('127.0.0.1', 'localhost')]) {
        const response = await preflight(server, origin)
        expect(response.headers.get('access-control-allow-origin')).toBeNull()
        expect(response.headers.get('access-control-allow-headers')).toBeNull()
        const read = await fetch(`${server.url}/v1/streams`, {
          headers: { origin, authorization: `Bearer ${server.opsToken}` },
        })
        expect(read.headers.get('access-control-allow-origin')).toBeNull()
      }
    } finally {
      await server.close()
    }
  })

  test('LIVEWALL_CORS_ORIGINS opens the API to exactly the named origins, without credentials', async () => {
    const server = await startTestServer({
      env: { LIVEWALL_CORS_ORIGINS: 'https://shop.example, https://wall.example:8443' },
    })
    try {
      for (const origin of ['https://shop.example', 'https://wall.example:8443']) {
        const response = await preflight(server, origin)
        expect(response.status).toBe(204)
        expect(response.headers.get('access-control-allow-origin')).toBe(origin)
        expect(response.headers.get('access-control-allow-methods')).toMatch(/POST/)
        expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(
          /authorization.*content-type|content-type.*authorization/,
        )
        expect(response.headers.get('access-control-allow-credentials')).toBeNull()
        expect(response.headers.get('access-control-max-age')).toBe('600')
        expect(response.headers.get('vary')).toMatch(/origin/i)
      }
      for (const origin of [
        'https://evil.example',
        'https://shop.example.evil.example',
        'http://shop.example',
      ]) {
        const response = await preflight(server, origin)
        expect(response.headers.get('access-control-allow-origin'), origin).toBeNull()
      }
      const read = await fetch(`${server.url}/v1/streams`, {
        headers: { origin: 'https://shop.example', authorization: `Bearer ${server.opsToken}` },
      })
      expect(read.status).toBe(200)
      expect(read.headers.get('access-control-allow-origin')).toBe('https://shop.example')
      expect(read.headers.get('access-control-expose-headers')).toMatch(/retry-after/i)
    } finally {
      await server.close()
    }
  })

  test('a wildcard or anything but an origin in LIVEWALL_CORS_ORIGINS fails at boot', () => {
    const base = { LIVEWALL_INGEST_KEYS: TEST_KEY, LIVEWALL_TOKEN_SECRET: TEST_SECRET }
    for (const bad of [
      '*',
      'https://shop.example/',
      'https://shop.example/path',
      'shop.example',
      'ftp://shop.example',
    ]) {
      expect(() => loadConfig({ ...base, LIVEWALL_CORS_ORIGINS: bad }), bad).toThrow(ConfigError)
    }
    expect(
      loadConfig({ ...base, LIVEWALL_CORS_ORIGINS: 'https://a.example,http://b.example:3000' }).corsOrigins,
    ).toEqual(['https://a.example', 'http://b.example:3000'])
  })
})
