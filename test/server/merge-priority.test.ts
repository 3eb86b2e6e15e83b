import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, expect, test } from 'vitest'
import { startTestServer, type TestServer } from '../helpers/server.ts'

let server: TestServer | undefined
afterAll(() => server?.close())

/** This process's threads named like the engine's merge pool, with their nice values. */
function mergeThreads(): { task: string; nice: number }[] {
  const threads: { task: string; nice: number }[] = []
  for (const task of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      // (fields after the name: state is the 3rd of stat, nice the 19th)
      const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
      if (name.startsWith('MergeMutate')) threads.push({ task, nice })
    } catch {
      // (ended meanwhile)
    }
  }
  return threads
}

test.runIf(process.platform === 'linux')(
  "the embedded engine's merge threads run below the commits, at LIVEWALL_MERGE_NICE",
  async () => {
    server = await startTestServer({ env: { LIVEWALL_MERGE_NICE: '10' } })
    // Parts to merge: the pool has threads, and they work.
    for (let i = 0; i < 3; i++) {
      const events = Array.from({ length: 20 }, (_, n) => ({
        event_id: `mp-${i}-${n}`,
        type: 'like',
        stream_id: 'mp-stream',
        viewer_id: `v${n}`,
        ts: Date.now(),
        quantity: 1,
      }))
      expect((await server.ingest(events)).status).toBe(200)
    }
    await expect
      .poll(
        () => {
          const threads = mergeThreads()
          return threads.length > 0 && threads.every((thread) => thread.nice === 10)
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe(true)
  },
)
