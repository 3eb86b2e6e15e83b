import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import webPlugin from '../../server/plugins/web.ts'

let dir: string
let app: FastifyInstance

const INDEX = '<!doctype html><title>Livewall</title><div id="app"></div>'

async function build(distDir: string, logs: string[] = []): Promise<FastifyInstance> {
  const instance = Fastify({
    logger: {
      level: 'warn',
      stream: { write: (line: string) => void logs.push(line) },
    },
  })
  instance.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${request.url}` } }),
  )
  instance.get('/v1/streams', async () => ({ streams: [] }))
  await instance.register(webPlugin, { distDir })
  await instance.ready()
  return instance
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'livewall-web-'))
})

afterEach(async () => {
  await app?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('serving the built dashboard', () => {
  beforeEach(async () => {
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), INDEX)
    writeFileSync(join(dir, 'assets', 'index-AbC123.js'), 'console.log(1)')
    writeFileSync(join(dir, 'favicon.svg'), '<svg/>')
    app = await build(dir)
  })

  test('every client-side route answers index.html, revalidated on each load', async () => {
    for (const url of [
      '/',
      '/streams',
      '/stream/s-1',
      '/replay/s-1?compare=s-2',
      '/quarantine',
      '/?kiosk=1',
    ]) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.statusCode, url).toBe(200)
      expect(res.headers['content-type'], url).toMatch(/^text\/html/)
      expect(res.headers['cache-control'], url).toBe('no-cache')
      expect(res.body, url).toBe(INDEX)
    }
  })

  test('hashed assets are cached for a year; other files are revalidated', async () => {
    const js = await app.inject({ method: 'GET', url: '/assets/index-AbC123.js' })
    expect(js.statusCode).toBe(200)
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    const icon = await app.inject({ method: 'GET', url: '/favicon.svg' })
    expect(icon.statusCode).toBe(200)
    expect(icon.headers['cache-control']).toBe('no-cache')
  })

  test('API, socket and docs paths never fall back to index.html', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/streams' })).json()).toEqual({ streams: [] })
    for (const url of ['/v1/nope', '/socket.io/x', '/docs', '/docs/json', '/assets/missing.js', '/other']) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.statusCode, url).toBe(404)
      expect(res.json().error.code, url).toBe('not_found')
    }
  })

  test('only GET (and HEAD) get the fallback', async () => {
    expect((await app.inject({ method: 'HEAD', url: '/streams' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: '/streams' })).statusCode).toBe(404)
  })
})

test('without a build it warns and serves a page saying to run npm run build', async () => {
  const logs: string[] = []
  app = await build(join(dir, 'missing'), logs)
  expect(logs.join('\n')).toContain('npm run build')
  const res = await app.inject({ method: 'GET', url: '/stream/s-1' })
  expect(res.statusCode).toBe(200)
  expect(res.headers['content-type']).toMatch(/^text\/html/)
  expect(res.body).toContain('npm run build')
  expect((await app.inject({ method: 'GET', url: '/v1/streams' })).statusCode).toBe(200)
})
