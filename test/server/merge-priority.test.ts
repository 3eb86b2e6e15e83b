import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, expect, test } from 'vitest'
import {
  canRestorePriority,
  lowerMergePriority,
  MAX_PARTS_PER_PARTITION_SQL,
  MERGES_BEHIND_AT_PARTS,
} from '../../server/storage/merge-priority.ts'
import {
  closeEmbeddedClients,
  embeddedDatabase,
  startTestServer,
  type TestServer,
} from '../helpers/server.ts'

let server: TestServer | undefined
afterAll(async () => {
  await server?.close()
  await closeEmbeddedClients()
})

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

/** Parts to merge, in three commits: the engine's merge pool has threads, and they work. */
async function partsToMerge(target: TestServer, prefix: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const events = Array.from({ length: 20 }, (_, n) => ({
      event_id: `${prefix}-${i}-${n}`,
      type: 'like',
      stream_id: `${prefix}-stream`,
      viewer_id: `v${n}`,
      ts: Date.now(),
      quantity: 1,
    }))
    expect((await target.ingest(events)).status).toBe(200)
  }
}

/** Are there merge threads, all at `nice`? */
function allAt(nice: number): boolean {
  const threads = mergeThreads()
  return threads.length > 0 && threads.every((thread) => thread.nice === nice)
}

test.runIf(process.platform === 'linux')(
  "the embedded engine's merge threads run below the commits, at LIVEWALL_MERGE_NICE",
  async () => {
    server = await startTestServer({ env: { LIVEWALL_MERGE_NICE: '10' } })
    await partsToMerge(server, 'mp')
    await expect.poll(() => allAt(10), { timeout: 10_000, interval: 200 }).toBe(true)
    // (its lowering would fight the next test's)
    await server.close()
    server = undefined
  },
)

test.runIf(process.platform === 'linux' && canRestorePriority())(
  'merges get their priority back while the part count says they fall behind, and lose it once caught up',
  async () => {
    // (the server's own lowering off: this test drives one of its own)
    const own = await startTestServer({ env: { LIVEWALL_MERGE_NICE: '0' } })
    let parts = 10
    const changes: { lowered: boolean; parts: number }[] = []
    const errors: unknown[] = []
    const priority = lowerMergePriority({
      nice: 7,
      adaptive: true,
      partCount: async () => parts,
      onChange: (change) => changes.push(change),
      onError: (error) => errors.push(error),
      everyMs: 100,
    })
    try {
      await partsToMerge(own, 'mpa')
      await expect.poll(() => allAt(7), { timeout: 10_000, interval: 100 }).toBe(true)
      parts = MERGES_BEHIND_AT_PARTS
      await expect.poll(() => allAt(0), { timeout: 10_000, interval: 100 }).toBe(true)
      // Not lowered again above half the mark (no flapping at its edge)...
      parts = MERGES_BEHIND_AT_PARTS / 2 + 1
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(allAt(0)).toBe(true)
      // ...but once down to it.
      parts = MERGES_BEHIND_AT_PARTS / 2
      await expect.poll(() => allAt(7), { timeout: 10_000, interval: 100 }).toBe(true)
      expect(changes).toEqual([
        { lowered: false, parts: MERGES_BEHIND_AT_PARTS },
        { lowered: true, parts: MERGES_BEHIND_AT_PARTS / 2 },
      ])
      expect(errors).toEqual([])
    } finally {
      priority.stop()
      // (give the threads back to the next test file's server)
      parts = MERGES_BEHIND_AT_PARTS
      await own.close()
    }
  },
)

test('the part count that decides reads the most active parts of one partition', async () => {
  const client = await embeddedDatabase()
  await client.command({
    query: 'CREATE TABLE mp_parts (p UInt8, x UInt32) ENGINE = MergeTree PARTITION BY p ORDER BY x',
  })
  await client.command({ query: 'SYSTEM STOP MERGES mp_parts' })
  const count = async () =>
    Number(
      (
        await (
          await client.query({ query: MAX_PARTS_PER_PARTITION_SQL, format: 'JSONEachRow' })
        ).json<{
          parts: number | string
        }>()
      )[0]!.parts,
    )
  expect(await count()).toBe(0)
  // One part per INSERT: five in partition 1, two in partition 2.
  for (const p of [1, 1, 1, 1, 1, 2, 2])
    await client.insert({ table: 'mp_parts', values: [{ p, x: 1 }], format: 'JSONEachRow' })
  expect(await count()).toBe(5)
})
