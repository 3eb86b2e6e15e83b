import { execFile } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { issueToken } from '../../server/auth/tokens.ts'
import { spawnServer } from '../helpers/child-server.ts'
import { runTempDir } from '../helpers/server.ts'

const dataDir = runTempDir('livewall-demo-')
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

test('LIVEWALL_DEMO=1 npm run serve says where its key is and prints a link that opens', async () => {
  // No key, no secret: the demo makes its own, and they must be usable.
  const server = await spawnServer({
    LIVEWALL_DEMO: '1',
    LIVEWALL_INGEST_KEYS: '',
    LIVEWALL_TOKEN_SECRET: '',
    DATA_DIR: dataDir,
  })
  try {
    const file = path.join(dataDir, 'demo-secrets.json')
    await expect.poll(() => server.output()).toContain(`the ingest key and token secret are in ${file}`)
    const { ingestKey, tokenSecret } = JSON.parse(readFileSync(file, 'utf8'))
    const link = /open (http\S+)\/#token=(\S+)/.exec(server.output())
    expect(link).not.toBeNull()
    // The key is in the file, not in the output; the link carries only its own token.
    expect(server.output()).not.toContain(ingestKey)
    expect(server.output()).not.toContain(tokenSecret)

    const ingest = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ingestKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        event_id: 'd1',
        type: 'stream_start',
        stream_id: 'demo',
        ts: Date.now(),
        creator_id: 'c',
      }),
    })
    expect(ingest.status).toBe(200)
    const read = await fetch(`${server.url}/v1/streams/demo`, {
      headers: { authorization: `Bearer ${decodeURIComponent(link![2]!)}` },
    })
    expect(read.status).toBe(200)
  } finally {
    server.process.kill('SIGTERM')
    await server.exited
  }
}, 90_000)

test('LIVEWALL_DEMO=1 holds a given key or secret to the usual lengths, and refuses it before making anything', async () => {
  const dir = path.join(runTempDir('livewall-demo-short-'), 'data')
  const serve = (env: Record<string, string>) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', path.join(import.meta.dirname, '..', '..', 'server', 'main.ts')],
        {
          env: { ...process.env, LIVEWALL_DEMO: '1', DATA_DIR: dir, PORT: '0', ...env },
          // killed if it starts instead of refusing, rather than left running
          timeout: 30_000,
          killSignal: 'SIGKILL',
        },
        (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
      )
    })
  const [secret, key] = await Promise.all([
    serve({ LIVEWALL_TOKEN_SECRET: 'abc', LIVEWALL_INGEST_KEYS: '' }),
    serve({ LIVEWALL_INGEST_KEYS: 'short', LIVEWALL_TOKEN_SECRET: '' }),
  ])
  expect(secret.code).toBe(2)
  expect(secret.stderr).toContain(
    'configuration error: LIVEWALL_TOKEN_SECRET must be at least 16 characters (or unset: with LIVEWALL_DEMO=1 the demo makes its own)',
  )
  expect(key.code).toBe(2)
  expect(key.stderr).toContain(
    'configuration error: each LIVEWALL_INGEST_KEYS entry must be at least 8 characters',
  )
  expect(existsSync(dir)).toBe(false)
})

test('LIVEWALL_DEMO=1 with a token secret given says only the key is in the file, and links with the given secret', async () => {
  const dir = runTempDir('livewall-demo-given-')
  const tokenSecret = 'given-token-secret-0123456789'
  const server = await spawnServer({
    LIVEWALL_DEMO: '1',
    LIVEWALL_INGEST_KEYS: '',
    LIVEWALL_TOKEN_SECRET: tokenSecret,
    DATA_DIR: dir,
  })
  try {
    const file = path.join(dir, 'demo-secrets.json')
    await expect
      .poll(() => server.output())
      .toContain(`LIVEWALL_DEMO=1: the ingest key is in ${file} (the token secret is LIVEWALL_TOKEN_SECRET)`)
    expect(server.output()).not.toContain('the ingest key and token secret are in')
    const link = /open (http\S+)\/#token=(\S+)/.exec(server.output())
    const read = await fetch(`${server.url}/v1/streams`, {
      headers: { authorization: `Bearer ${decodeURIComponent(link![2]!)}` },
    })
    expect(read.status).toBe(200)
    const own = await fetch(`${server.url}/v1/streams`, {
      headers: { authorization: `Bearer ${issueToken(tokenSecret, { role: 'ops', ttlMs: 60_000 })}` },
    })
    expect(own.status).toBe(200)
  } finally {
    server.process.kill('SIGTERM')
    await server.exited
  }
}, 90_000)
