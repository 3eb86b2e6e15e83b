import { rmSync } from 'node:fs'
import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { afterAll, expect, test } from 'vitest'
import { scopedConnection } from '../../server/storage/connection.ts'
import { type ChildServer, spawnServer, streamsWhoseRollupsMissEvents } from '../helpers/child-server.ts'
import { runTempDir } from '../helpers/server.ts'

/**
 * Twenty SIGKILLs at random moments under load (mid-request, mid-commit, mid-boot). After
 * each restart the acknowledged events are there; in the end every acknowledged event is
 * stored exactly once.
 */

const KEY = 'crash-loop-key-0001'
const KILLS = 20
const CLIENTS = 4
const BATCH = 50
/** Fail with the story so far rather than hit the test timeout silently. */
const BUDGET_MS = 200_000
const dataDir = runTempDir('livewall-crash-loop-')
const env = {
  LIVEWALL_INGEST_KEYS: KEY,
  LIVEWALL_TOKEN_SECRET: 'crash-loop-secret-0123456789',
  DATA_DIR: dataDir,
}
let server: ChildServer | undefined
afterAll(async () => {
  if (server && server.process.exitCode === null && server.process.signalCode === null) {
    server.process.kill('SIGKILL')
    await server.exited
  }
  rmSync(dataDir, { recursive: true, force: true })
})

/** A small seeded generator: a failing run can be replayed with its seed. */
function random(seed: number) {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

interface Batch {
  ids: string[]
  body: string
}

let batchSeq = 0
function makeBatch(client: number): Batch {
  const n = ++batchSeq
  const ids: string[] = []
  const lines: string[] = []
  for (let i = 0; i < BATCH; i++) {
    const id = `k${client}-b${n}-e${i}`
    ids.push(id)
    lines.push(
      JSON.stringify({
        event_id: id,
        type: 'view_start',
        stream_id: `loop-${client}`,
        ts: Date.now(),
        viewer_id: id,
      }),
    )
  }
  return { ids, body: lines.join('\n') }
}

/** The answer's counts, or undefined when there was none (refused, reset, killed). */
async function send(
  url: string,
  batch: Batch,
): Promise<{ accepted: number; duplicates: number } | undefined> {
  try {
    const response = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-ndjson' },
      body: batch.body,
      signal: AbortSignal.timeout(15_000),
    })
    const body = await response.json()
    return response.ok ? body : undefined
  } catch {
    return undefined
  }
}

test(`SIGKILL ${KILLS} times at random moments under load: every acknowledged event stored exactly once`, async () => {
  const seed = Number(process.env.CRASH_LOOP_SEED ?? Date.now() % 1_000_000)
  // First, so that a failure anywhere below can be replayed: CRASH_LOOP_SEED=<seed>.
  console.log(`crash loop: seed ${seed}`)
  const rand = random(seed)
  const acked: Batch[] = []
  let unacked: Batch[] = []
  let resentOk = 0
  let retriedFound = 0
  const progress: string[] = []
  const started = Date.now()

  for (let round = 0; round <= KILLS; round++) {
    const spawnStarted = Date.now()
    server = await spawnServer(env)
    const url = server.url
    const spawnMs = Date.now() - spawnStarted
    const retrying = unacked.length

    // What the last crash left unanswered is retried; each event is then stored or a duplicate.
    for (const batch of unacked) {
      const answer = await send(url, batch)
      expect(
        answer,
        `retry after kill ${round}:\n${progress.join('\n')}\n${server.output().slice(-2000)}`,
      ).toBeDefined()
      expect(answer!.accepted + answer!.duplicates).toBe(BATCH)
      retriedFound += answer!.duplicates
      acked.push(batch)
    }
    unacked = []
    // Acknowledged before a crash means there after it: a resend is all duplicates.
    for (let i = 0; i < 3 && acked.length > 0; i++) {
      const sample = acked[Math.floor(rand() * acked.length)]!
      const answer = await send(url, sample)
      expect(answer, `resend after kill ${round}`).toEqual({
        accepted: 0,
        duplicates: BATCH,
        rejected: 0,
        errors: [],
        // each named as a retry of an accepted event_id
        duplicate_events: sample.ids.map((event_id, index) => ({
          index,
          event_id,
          message: expect.stringMatching(/^duplicate: this event_id was already accepted/),
        })),
      })
      resentOk++
    }
    if (round === KILLS) break

    // Load, then a kill at a random moment of it (sometimes almost at once).
    let killed = false
    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      while (!killed) {
        const batch = makeBatch(client)
        const answer = await send(url, batch)
        if (answer) acked.push(batch)
        else unacked.push(batch)
      }
    })
    const delay = rand() < 0.2 ? rand() * 100 : 200 + rand() * 1300
    await new Promise((resolve) => setTimeout(resolve, delay))
    server.process.kill('SIGKILL')
    killed = true
    await Promise.all(clients)
    expect(await server.exited).toBe('SIGKILL')
    progress.push(
      `kill ${round + 1}: up in ${spawnMs} ms, ${retrying} batches retried, killed after ${delay.toFixed(0)} ms of load; ` +
        `${acked.length} batches acknowledged so far`,
    )
    if (Date.now() - started > BUDGET_MS) {
      throw new Error(
        `over ${BUDGET_MS} ms after ${round + 1} kills:\n${progress.join('\n')}\n${server.output().slice(-2000)}`,
      )
    }
  }
  if (process.env.CRASH_LOOP_VERBOSE) console.log(progress.join('\n'))
  server!.process.kill('SIGTERM')
  expect(await server!.exited).toBe(0)

  const client = createClient({
    connection: scopedConnection(createChdbConnection({ path: dataDir }), 'livewall') as never,
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  })
  const rows = await (
    await client.query({
      query: 'SELECT event_id, count() AS n FROM events GROUP BY event_id',
      format: 'JSONEachRow',
    })
  ).json<{ event_id: string; n: number }>()
  // Every stored event also in the metrics: kills between a commit's events part and its
  // rollup part are repaired at the next start (server/ingest/repair.ts).
  const rollupsBehind = await streamsWhoseRollupsMissEvents(client)
  await client.close()
  const stored = new Map(rows.map((r) => [r.event_id, r.n]))
  const ackedIds = acked.flatMap((b) => b.ids)
  const missing = ackedIds.filter((id) => !stored.has(id))
  const duplicated = rows.filter((r) => r.n > 1)
  console.log(
    `crash loop (seed ${seed}): ${KILLS} kills survived; ${ackedIds.length} events acknowledged ` +
      `(${retriedFound} of the retried ones had been stored before their answer was lost); ` +
      `${stored.size} found, ${missing.length} missing, ${duplicated.length} stored twice; ${resentOk} resends after restarts were all duplicates`,
  )
  expect(missing).toEqual([])
  expect(duplicated).toEqual([])
  expect(stored.size).toBe(new Set(ackedIds).size)
  expect(rollupsBehind).toEqual([])
}, 280_000)
