import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { type ClickHouseClient, createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { afterAll, expect, test } from 'vitest'
import { CommitJournal, rebuildRollups, type SuspectCommit } from '../../server/ingest/repair.ts'
import { eventRowLine, secondsText } from '../../server/ingest/rows.ts'
import { validateEvent } from '../../server/ingest/validate.ts'
import { scopedConnection } from '../../server/storage/connection.ts'
import { migrate } from '../../server/storage/migrate.ts'
import {
  closeEmbeddedClients,
  embeddedDatabase,
  manualClock,
  startTestServer,
  storeRows,
  type TestServer,
  testDataDir,
  wholeHourAgo,
} from '../helpers/server.ts'

// A commit's events are stored, and answered, before their rollups are written (migration
// 007): the rollups' write can fail, or the process can die between the two. These tests
// make that state on purpose and check that the metrics count every stored event once again.

const T0 = wholeHourAgo(3)
const at = (seconds: number) => T0 + Math.round(seconds * 1000)
const clock = manualClock(at(120))

/** A small session: every grain of the rollups (1 s, 1 min, totals, products, sources, orders). */
function session(stream: string, prefix: string) {
  let n = 0
  const ev = (type: string, seconds: number, fields: Record<string, unknown> = {}) => ({
    event_id: `${prefix}-${++n}`,
    type,
    stream_id: stream,
    ts: at(seconds),
    ...fields,
  })
  const landed = [
    ev('stream_start', 0, { creator_id: 'c1', title: 'Repair', vertical: 'Beauty', campaign_id: 'k1' }),
    ev('view_start', 1.2, { viewer_id: 'v1', source: 'for_you' }),
    ev('product_impression', 2.5, { product_id: 'p1' }),
    ev('order_paid', 5.0, { viewer_id: 'v1', product_id: 'p1', order_id: `${prefix}-o1`, amount: '19.99' }),
  ]
  // The commit whose events were stored and whose rollups were not.
  const halfLanded = [
    ev('view_start', 3.0, { viewer_id: 'v2', source: 'search' }),
    ev('product_click', 61.0, { viewer_id: 'v2', product_id: 'p2' }),
    ev('order_paid', 62.0, {
      viewer_id: 'v2',
      product_id: 'p2',
      order_id: `${prefix}-o2`,
      amount: '5.01',
      quantity: 3,
    }),
    ev('like', 63.0, { viewer_id: 'v2', quantity: 7 }),
  ]
  return { landed, halfLanded }
}

let server: TestServer | undefined
let direct: ClickHouseClient | undefined
afterAll(async () => {
  await server?.close()
  await direct?.close()
  await closeEmbeddedClients()
})

/** A client straight on a test server's database (beside the server, or after it). */
function databaseClient(database: string): ClickHouseClient {
  return createClient({
    connection: scopedConnection(createChdbConnection({ path: testDataDir() }), database) as never,
  })
}

/** The journal as the writer leaves it before an INSERT (as a server that died in it left it). */
function writeJournal(file: string, suspect: SuspectCommit): void {
  const journal = new CommitJournal(file)
  journal.write(suspect)
  journal.close()
}

/**
 * Events stored as the writer stores them (received at `at(100)`): into `events`, then into
 * the rollups' view; `rollups: false` stops after the first (the state a crash can leave).
 */
async function store(
  client: ClickHouseClient,
  events: Record<string, unknown>[],
  { rollups = true } = {},
): Promise<void> {
  const rows = events.map((e) => {
    const v = validateEvent(e, at(100), 'USD')
    if (!v.ok) throw new Error(v.message)
    return eventRowLine(v.event, secondsText(at(100)))
  })
  await storeRows(client, rows.join('\n'), { rollups })
}

/** Every read of a stream, with its id taken out, to compare two streams. */
async function reads(s: TestServer, stream: string): Promise<string> {
  const parts = await Promise.all([
    s.get(`/v1/streams/${stream}`),
    s.get(`/v1/streams/${stream}/series?step=1s&from=${T0}&to=${at(70)}`),
    s.get(`/v1/streams/${stream}/series?step=1m&from=${T0}&to=${at(120)}`),
    s.get(`/v1/streams/${stream}/products`),
  ])
  for (const p of parts) expect(p.status).toBe(200)
  return JSON.stringify(parts.map((p) => p.body)).replaceAll(stream, '<stream>')
}

/**
 * The state a crash leaves: `broken`'s first commit and `control` whole, then `broken`'s
 * half-landed commit stored in `events` without its rollups (so without what the dedup
 * look-ups read), the journal as `journal` leaves it, and a new server on the same
 * database once it has repaired (its journal cleared).
 */
async function restartAfterHalfLanded(
  database: string,
  broken: ReturnType<typeof session>,
  control: ReturnType<typeof session>,
  journal: (file: string) => void,
): Promise<TestServer> {
  server = await startTestServer({ clock, database })
  expect((await server.ingest(broken.landed)).status).toBe(200)
  expect((await server.ingest([...control.landed, ...control.halfLanded])).status).toBe(200)
  await server.close()
  server = undefined
  direct = databaseClient(database)
  await store(direct, broken.halfLanded, { rollups: false })
  const journalFile = path.join(testDataDir(), `commit-journal-${database}.json`)
  journal(journalFile)
  // A moment later (the dedup warm-up reads what was received before its start).
  clock.advance(1000)
  server = await startTestServer({ clock, database })
  await expect.poll(() => new CommitJournal(journalFile).read(), { timeout: 20_000 }).toEqual({})
  return server
}

test('after a commit that stored its events but not their rollups, a restart rebuilds them and the metrics count each event once', async () => {
  const broken = session('rp-broken', 'b')
  const control = session('rp-control', 'c')
  // The journal lists the half-landed commit, as the writer does until its rollups are written.
  const s = await restartAfterHalfLanded(`t_${process.pid}_repair`, broken, control, (file) =>
    writeJournal(file, { streams: ['rp-broken'], from: at(100), to: at(100) }),
  )

  // The same events through the normal path and through the repair read the same.
  expect(await reads(s, 'rp-broken')).toBe(await reads(s, 'rp-control'))
  const { body } = await s.get('/v1/streams/rp-broken')
  expect(body.totals).toMatchObject({
    views: 2,
    viewers: 2,
    clicks: 1,
    orders: 2,
    items: 4,
    gmv: 25,
    likes: 7,
  })

  // The half-landed commit's retry: every event is a duplicate, nothing moves; its order
  // is still known under a new event_id.
  expect((await s.ingest(broken.halfLanded)).body).toMatchObject({ accepted: 0, duplicates: 4 })
  const repeatOrder = { ...broken.halfLanded[2]!, event_id: 'b-new-event' }
  expect((await s.ingest([repeatOrder])).body).toMatchObject({ accepted: 0, duplicates: 1 })
  expect((await s.get('/v1/streams/rp-broken')).body.totals).toEqual(body.totals)
}, 60_000)

test('after a crash that left the journal unreadable, the commits since the last rollups write are repaired all the same', async () => {
  await server?.close()
  server = undefined
  const broken = session('rp-lost', 'q')
  const control = session('rp-control5', 'u')
  // A journal that cannot be read: no list of what to repair.
  const s = await restartAfterHalfLanded(`t_${process.pid}_repair_lost_journal`, broken, control, (file) =>
    writeFileSync(file, '{"streams": ['),
  )
  // Its retry is known, event by event, and its order under a new event_id.
  expect((await s.ingest(broken.halfLanded)).body).toMatchObject({ accepted: 0, duplicates: 4 })
  const repeatOrder = { ...broken.halfLanded[2]!, event_id: 'q-new-event' }
  expect((await s.ingest([repeatOrder])).body).toMatchObject({ accepted: 0, duplicates: 1 })
  expect(await reads(s, 'rp-lost')).toBe(await reads(s, 'rp-control5'))
}, 60_000)

test('a commit whose INSERT fails after the events landed is repaired; commits wait only for its orders', async () => {
  await server?.close()
  // The first order restore is refused (the commit after it must wait), and so is the
  // first rebuild (commits go on; the rebuild is tried again later).
  const refuse = { restore: 1, rebuild: 1 }
  server = await startTestServer({
    clock,
    faults: {
      failNext(op, sql) {
        if (op !== 'command') return undefined
        const restore = sql.includes('INSERT INTO rollups (grain') && sql.includes('{from:Int64}')
        const step = restore
          ? 'restore'
          : sql.startsWith('DELETE FROM rollups WHERE grain IN (1, 2, 3, 4, 5)')
            ? 'rebuild'
            : undefined
        if (step === undefined || refuse[step] === 0) return undefined
        refuse[step]--
        return new Error(`injected fault: ${step} refused`)
      },
    },
  })
  const s = server
  const extra = databaseClient(s.database)
  // A second view on `events` that fails the INSERT for one event, after `events` took it.
  await extra.command({ query: 'CREATE TABLE a_boom_sink (x UInt8) ENGINE = Null' })
  await extra.command({
    query: `CREATE MATERIALIZED VIEW a_boom_mv TO a_boom_sink AS
            SELECT throwIf(event_id = 'f-5', 'boom') AS x FROM events`,
  })
  const failing = session('rp-failing', 'f')
  const control = session('rp-control2', 'g')
  expect((await s.ingest(failing.landed)).status).toBe(200)
  const first = await s.ingest(failing.halfLanded)
  expect(first.status).toBe(503)
  // The state this test is about: the events stored, their rollups not.
  const [stored, rolled] = (
    await (
      await extra.query({
        query: `SELECT (SELECT count() FROM events WHERE stream_id = 'rp-failing'),
                       (SELECT sum(views) FROM rollups WHERE grain = 3 AND stream_id = 'rp-failing')`,
        format: 'JSONCompactEachRow',
        clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
      })
    ).json<[number, number]>()
  )[0]!
  expect([stored, rolled]).toEqual([8, 1])
  await extra.command({ query: 'DROP VIEW a_boom_mv' })
  await extra.close()

  // A repeat of the half-landed commit's order under a new event_id, while the repair
  // before it fails: refused (503), not counted a second time.
  const repeatOrder = { ...failing.halfLanded[2]!, event_id: 'f-new-event' }
  expect((await s.ingest([repeatOrder])).status).toBe(503)
  // The clients retry, as a 503 tells them to; the orders are restored first, the
  // rebuild fails, and the commits go on.
  const retry = await s.ingest(failing.halfLanded)
  expect(retry.body).toMatchObject({ accepted: 0, duplicates: 4 })
  expect(refuse).toEqual({ restore: 0, rebuild: 0 })
  expect((await s.ingest([repeatOrder])).body).toMatchObject({ accepted: 0, duplicates: 1 })
  expect((await s.ingest([...control.landed, ...control.halfLanded])).status).toBe(200)
  expect((await s.get('/v1/streams/rp-failing')).body.totals.views).toBe(1) // not rebuilt yet
  await s.app.writer.repairNow()
  expect(await reads(s, 'rp-failing')).toBe(await reads(s, 'rp-control2'))
  expect((await s.get('/v1/streams/rp-failing')).body.totals).toMatchObject({
    views: 2,
    orders: 2,
    items: 4,
    gmv: 25,
  })
}, 60_000)

test('rollups whose write fails after the 200 are rebuilt, and a repeated order still counts once', async () => {
  await server?.close()
  let refused = 0
  server = await startTestServer({
    clock,
    faults: {
      failNext(op, sql) {
        if (op !== 'exec' || !sql.startsWith('INSERT INTO rollup_input') || refused > 0) return undefined
        refused++
        return new Error('injected fault: rollups refused')
      },
    },
  })
  const s = server
  const late = session('rp-late', 'l')
  const control = session('rp-control3', 'm')
  // Stored, so answered 200; the rollups of this commit are refused a moment later.
  expect((await s.ingest([...late.landed, ...late.halfLanded])).status).toBe(200)
  await s.app.writer.rollupsCaughtUp()
  expect(refused).toBe(1)
  await s.app.writer.repairNow()
  expect((await s.ingest([...control.landed, ...control.halfLanded])).status).toBe(200)
  expect(await reads(s, 'rp-late')).toBe(await reads(s, 'rp-control3'))
  expect((await s.get('/v1/streams/rp-late')).body.totals).toMatchObject({ views: 2, orders: 2, gmv: 25 })
  // Its order, under a new event_id: known from the restored orders.
  const repeatOrder = { ...late.halfLanded[2]!, event_id: 'l-new-event' }
  expect((await s.ingest([repeatOrder])).body).toMatchObject({ accepted: 0, duplicates: 1 })
  // Its events, retried: known from the restored event_ids.
  expect((await s.ingest([...late.landed, ...late.halfLanded])).body).toMatchObject({
    accepted: 0,
    duplicates: 8,
  })
  expect((await s.get('/v1/streams/rp-late')).body.totals).toMatchObject({ orders: 2, gmv: 25 })
  expect(s.app.registry.render()).toMatch(/^livewall_ingest_commit_errors_total 1$/m)
}, 60_000)

test("an order repeated while the first one's rollups are still owed waits for them, and counts once", async () => {
  await server?.close()
  server = await startTestServer({ clock })
  const s = server
  // The first rollups' write held back for a moment, as by a busy engine.
  const rollups = s.app.clickhouseRollups
  const exec = rollups.exec.bind(rollups)
  let held = 0
  rollups.exec = async (params) => {
    if (held++ === 0) await new Promise((resolve) => setTimeout(resolve, 300))
    return exec(params)
  }
  const { landed } = session('rp-owed', 'w')
  expect((await s.ingest(landed)).status).toBe(200)
  // Its order_id is accepted, but not yet where the order look-up reads it.
  const repeat = await s.ingest([{ ...landed[3]!, event_id: 'w-again' }])
  expect(repeat.body).toMatchObject({ accepted: 0, duplicates: 1 })
  expect(held).toBe(1)
  expect((await s.get('/v1/streams/rp-owed')).body.totals).toMatchObject({ orders: 1, gmv: 19.99 })
}, 60_000)

test('rollups refused at shutdown leave their commit in the journal, and the next start repairs it', async () => {
  await server?.close()
  const database = `t_${process.pid}_repair_close`
  server = await startTestServer({ clock, database })
  // The rollups' write held until the shutdown has begun, and then refused.
  const rollups = server.app.clickhouseRollups
  let shutdown!: () => void
  const shuttingDown = new Promise<void>((resolve) => {
    shutdown = resolve
  })
  rollups.exec = async () => {
    await shuttingDown
    throw new Error('injected fault: rollups refused')
  }
  const shut = session('rp-shut', 'z')
  const control = session('rp-control4', 'y')
  expect((await server.ingest([...shut.landed, ...shut.halfLanded])).status).toBe(200)
  const closed = server.close()
  shutdown()
  await closed
  server = undefined
  const journalFile = path.join(testDataDir(), `commit-journal-${database}.json`)
  expect(new CommitJournal(journalFile).read().suspect?.streams).toEqual(['rp-shut'])
  // A moment later (the dedup warm-up reads what was received before its start).
  clock.advance(1000)

  server = await startTestServer({ clock, database })
  const s = server
  await expect.poll(() => new CommitJournal(journalFile).read(), { timeout: 20_000 }).toEqual({})
  expect((await s.ingest([...control.landed, ...control.halfLanded])).status).toBe(200)
  expect(await reads(s, 'rp-shut')).toBe(await reads(s, 'rp-control4'))
  const repeatOrder = { ...shut.halfLanded[2]!, event_id: 'z-new-event' }
  expect((await s.ingest([repeatOrder])).body).toMatchObject({ accepted: 0, duplicates: 1 })
  expect((await s.ingest(shut.halfLanded)).body).toMatchObject({ accepted: 0, duplicates: 4 })
}, 60_000)

test("a retry while the first commit's rollups are still owed is answered at once, and counts once", async () => {
  await server?.close()
  server = await startTestServer({ clock })
  const s = server
  // The first rollups' write held until the retry is answered (or 10 s), as by a busy engine.
  const rollups = s.app.clickhouseRollups
  const exec = rollups.exec.bind(rollups)
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
    setTimeout(resolve, 10_000)
  })
  let held = 0
  rollups.exec = async (params) => {
    if (held++ === 0) await released
    return exec(params)
  }
  const { landed, halfLanded } = session('rp-owed-ids', 'r')
  expect((await s.ingest([...landed, ...halfLanded])).status).toBe(200)
  // Its event_ids are stored, and not yet where the event_id look-up reads them: the
  // writer knows them from the rollups it owes, without waiting for their write.
  const retry = await s.ingest([...halfLanded, { ...landed[1]!, event_id: 'r-fresh' }])
  const writesBeforeTheAnswer = held
  release()
  expect(retry.body).toMatchObject({ accepted: 1, duplicates: 4 })
  expect(writesBeforeTheAnswer).toBe(1)
  expect((await s.get('/v1/streams/rp-owed-ids')).body.totals).toMatchObject({ views: 3, orders: 2, gmv: 25 })
}, 60_000)

test('a repair cut short after its rebuild still restores the accepted orders next time', async () => {
  await server?.close()
  const database = `t_${process.pid}_repair_orders`
  server = await startTestServer({ clock, database })
  const { landed } = session('rp-orders', 'o')
  expect((await server.ingest(landed)).status).toBe(200)
  await server.close()
  server = undefined
  // The rollups are whole except the accepted order (as if the repair had died between
  // its rebuild and its order restore); the journal still lists the commit.
  const client = databaseClient(database)
  await client.command({ query: "DELETE FROM rollups WHERE grain = 6 AND key = 'o-o1'" })
  await client.close()
  const journalFile = path.join(testDataDir(), `commit-journal-${database}.json`)
  writeJournal(journalFile, { streams: ['rp-orders'], from: at(0), to: at(200) })
  // A moment later (the dedup warm-up reads what was received before its start).
  clock.advance(1000)

  server = await startTestServer({ clock, database })
  const s = server
  await expect.poll(() => new CommitJournal(journalFile).read(), { timeout: 20_000 }).toEqual({})
  const repeatOrder = { ...landed[3]!, event_id: 'o-new-event' }
  expect((await s.ingest([repeatOrder])).body).toMatchObject({ accepted: 0, duplicates: 1 })
  expect((await s.get('/v1/streams/rp-orders')).body.totals).toMatchObject({ orders: 1, gmv: 19.99 })
}, 60_000)

test('a healthy stream is left alone, even with two stream_starts at the same instant', async () => {
  const client = await embeddedDatabase()
  await migrate(client, () => {})
  const start = { type: 'stream_start', stream_id: 'rp-tie', ts: at(0), creator_id: 'c1', vertical: 'Food' }
  await store(client, [{ ...start, event_id: 't-1', title: 'A' }])
  await store(client, [
    { ...start, event_id: 't-2', title: 'B' },
    { event_id: 't-3', type: 'view_start', stream_id: 'rp-tie', ts: at(1), viewer_id: 'v1' },
  ])
  await client.command({ query: 'OPTIMIZE TABLE rollups FINAL' })
  const repaired = await rebuildRollups(client, { streams: ['rp-tie'], from: at(100), to: at(100) })
  expect([...repaired.keys()]).toEqual([])
})
