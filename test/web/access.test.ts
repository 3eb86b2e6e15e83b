import { describe, expect, test } from 'vitest'
import { ApiError, createApi } from '../../web/src/lib/api.ts'
import { parseRoute, replayPath, streamPath } from '../../web/src/lib/route.ts'
import { resolveToken, TOKEN_STORAGE_KEY, takeTokenFromHash } from '../../web/src/lib/token.ts'

function memoryStore() {
  const m = new Map<string, string>()
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    m,
  }
}

describe('token from the link', () => {
  test('the token is taken out of the fragment and the rest is kept', () => {
    expect(takeTokenFromHash('#token=abc.def')).toEqual({ token: 'abc.def', hash: '' })
    expect(takeTokenFromHash('#token=abc&x=1')).toEqual({ token: 'abc', hash: '#x=1' })
    expect(takeTokenFromHash('#section')).toEqual({ token: null, hash: '#section' })
    expect(takeTokenFromHash('')).toEqual({ token: null, hash: '' })
  })

  test('a fresh token replaces the stored one; without one the stored token is used', () => {
    const store = memoryStore()
    store.setItem(TOKEN_STORAGE_KEY, 'old')
    expect(resolveToken('#token=new', store).token).toBe('new')
    expect(store.m.get(TOKEN_STORAGE_KEY)).toBe('new')
    expect(resolveToken('', store).token).toBe('new')
    expect(resolveToken('', memoryStore()).token).toBeNull()
  })
})

describe('routes', () => {
  test('paths map to views', () => {
    expect(parseRoute('/')).toEqual({ view: 'wall' })
    expect(parseRoute('/streams/')).toEqual({ view: 'streams' })
    expect(parseRoute('/quarantine')).toEqual({ view: 'quarantine' })
    expect(parseRoute('/stream/abc%2F1')).toEqual({ view: 'stream', id: 'abc/1' })
    expect(parseRoute('/replay/s-9')).toEqual({ view: 'replay', id: 's-9' })
    expect(parseRoute('/stream/')).toEqual({ view: 'notfound' })
    expect(parseRoute('/nope')).toEqual({ view: 'notfound' })
  })

  test('links encode ids', () => {
    expect(streamPath('a b')).toBe('/stream/a%20b')
    expect(replayPath('x', 'y&z')).toBe('/replay/x?compare=y%26z')
  })
})

describe('HTTP API client', () => {
  function fakeFetch(status: number, body: unknown) {
    const calls: { url: string; auth: string | null }[] = []
    const fetch = async (url: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(url), auth: new Headers(init?.headers).get('authorization') })
      return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
    }
    return { fetch: fetch as typeof globalThis.fetch, calls }
  }

  test('sends the bearer token and the query', async () => {
    const f = fakeFetch(200, { streams: [] })
    const api = createApi({ token: () => 'tok', fetch: f.fetch })
    await api.streams({ status: 'all', vertical: 'Home & Living' })
    expect(f.calls).toEqual([{ url: '/v1/streams?status=all&vertical=Home+%26+Living', auth: 'Bearer tok' }])
  })

  test("each answer's Date header tells the server's clock", async () => {
    const seen: number[] = []
    const fetch = (async () =>
      new Response('{"role":"ops"}', {
        status: 200,
        headers: { 'content-type': 'application/json', date: 'Tue, 24 Nov 2026 23:00:07 GMT' },
      })) as typeof globalThis.fetch
    const api = createApi({ token: () => 'tok', fetch, onServerTime: (ms) => seen.push(ms) })
    await api.me()
    expect(seen).toEqual([Date.UTC(2026, 10, 24, 23, 0, 7)])
  })

  test('an expired token is a typed token error', async () => {
    const f = fakeFetch(401, { error: { code: 'token_expired', message: 'expired' } })
    const api = createApi({ token: () => 'tok', fetch: f.fetch })
    const err = await api.me().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('token_expired')
    expect((err as ApiError).isTokenError).toBe(true)
  })

  test("another creator's stream is a 404 not found", async () => {
    const f = fakeFetch(404, { error: { code: 'stream_not_found', message: 'no such stream' } })
    const api = createApi({ token: () => 'tok', fetch: f.fetch })
    const err = (await api.stream('theirs').catch((e: unknown) => e)) as ApiError
    expect(err.isNotFound).toBe(true)
    expect(err.code).toBe('stream_not_found')
    expect(f.calls[0]?.url).toBe('/v1/streams/theirs')
  })

  test('no token at all fails before any request', async () => {
    const f = fakeFetch(200, {})
    const api = createApi({ token: () => null, fetch: f.fetch })
    const err = (await api.me().catch((e: unknown) => e)) as ApiError
    expect(err.code).toBe('token_missing')
    expect(f.calls).toEqual([])
  })
})
