import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { runTempDir, startTestServer, type TestServer } from '../helpers/server.ts'

let server: TestServer

beforeAll(async () => {
  const dist = runTempDir('livewall-dist-')
  mkdirSync(path.join(dist, 'assets'))
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>Livewall</title>')
  writeFileSync(path.join(dist, 'assets', 'app-abc123.js'), 'export {}')
  server = await startTestServer({ env: { LIVEWALL_WEB_DIST: dist } })
})
afterAll(() => server.close())

test('a static path that climbs out of the build is a 403 whose code says forbidden', async () => {
  for (const climb of ['/assets/..%2f..%2fpackage.json', '/assets/..%2F..%2F..%2Fetc%2Fpasswd']) {
    const response = await fetch(`${server.url}${climb}`)
    expect(response.status, climb).toBe(403)
    expect((await response.json()).error.code).toBe('forbidden')
  }
  expect((await fetch(`${server.url}/assets/app-abc123.js`)).status).toBe(200)
})
