import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
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
