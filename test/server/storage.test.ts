import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { afterAll, expect, test } from 'vitest'
import { scopedConnection } from '../../server/storage/connection.ts'
import { testDataDir } from '../helpers/server.ts'

const connection = scopedConnection(createChdbConnection({ path: testDataDir() }), 'default')
const client = createClient({ connection: connection as never })
const first = createClient({ connection: connection.first as never })
afterAll(async () => {
  await client.close()
  await first.close()
})

const setting = async (settings?: Record<string, number>) =>
  (
    await (
      await client.query({
        query: "SELECT getSetting('prefer_column_name_to_alias') AS v",
        format: 'JSONEachRow',
        clickhouse_settings: settings,
      })
    ).json<{ v: boolean }>()
  )[0]!.v

test("a statement's settings apply to it only, as on a server (chDB keeps SETs in its session)", async () => {
  expect(await setting()).toBe(false)
  expect(await setting({ prefer_column_name_to_alias: 1 })).toBe(true)
  expect(await setting()).toBe(false)
  expect(await setting({ prefer_column_name_to_alias: 1 })).toBe(true)
  expect(await setting({ prefer_column_name_to_alias: 0 })).toBe(false)
})

test('a statement that fails before its text runs leaves no setting behind', async () => {
  expect(await setting({ prefer_column_name_to_alias: 1 })).toBe(true)
  // A parameter that cannot be bound: the statement (and the reset in front of it) never runs.
  await expect(
    client.query({ query: 'SELECT {n:Float64} AS n', query_params: { n: Number.POSITIVE_INFINITY } }),
  ).rejects.toThrow()
  expect(await setting()).toBe(false)
  expect(await client.ping()).toEqual({ success: true })
  expect(await setting()).toBe(false)
})

test('statements of two connections on one data dir each run in their own database, with their own settings', async () => {
  const scoped = (database: string) =>
    createClient({
      connection: scopedConnection(createChdbConnection({ path: testDataDir() }), database) as never,
    })
  await client.command({ query: 'CREATE DATABASE IF NOT EXISTS storage_a' })
  await client.command({ query: 'CREATE DATABASE IF NOT EXISTS storage_b' })
  const a = scoped('storage_a')
  const b = scoped('storage_b')
  try {
    for (const c of [a, b]) {
      await c.command({ query: 'CREATE TABLE IF NOT EXISTS t (v String) ENGINE = MergeTree ORDER BY v' })
    }
    const where = async (c: typeof a, settings?: Record<string, number>) =>
      (
        await (
          await c.query({
            query: "SELECT currentDatabase() AS db, getSetting('prefer_column_name_to_alias') AS alias",
            format: 'JSONEachRow',
            clickhouse_settings: settings,
          })
        ).json<{ db: string; alias: boolean }>()
      )[0]
    // Interleaved and concurrent; an INSERT with a body (its preamble runs apart) right
    // after a statement that set a setting.
    const answers = await Promise.all([
      where(a, { prefer_column_name_to_alias: 1 }),
      a.exec({ query: 'INSERT INTO t FORMAT TabSeparated', values: 'from-a\n' as never }),
      where(b),
      b.exec({ query: 'INSERT INTO t FORMAT TabSeparated', values: 'from-b\n' as never }),
      where(a),
      where(b, { prefer_column_name_to_alias: 1 }),
    ])
    expect(answers[0]).toEqual({ db: 'storage_a', alias: true })
    expect(answers[2]).toEqual({ db: 'storage_b', alias: false })
    expect(answers[4]).toEqual({ db: 'storage_a', alias: false })
    expect(answers[5]).toEqual({ db: 'storage_b', alias: true })
    const rows = async (c: typeof a) =>
      (await (await c.query({ query: 'SELECT v FROM t', format: 'JSONEachRow' })).json<{ v: string }>()).map(
        (r) => r.v,
      )
    expect(await rows(a)).toEqual(['from-a'])
    expect(await rows(b)).toEqual(['from-b'])
  } finally {
    await a.close()
    await b.close()
  }
})

test('a statement of the first view goes before the reads waiting for the engine, not after them', async () => {
  // (a group commit behind a flood of reads: the engine runs one statement at a time)
  const order: string[] = []
  const run = (via: typeof client, name: string, query: string) =>
    via
      .query({ query, format: 'JSONEachRow' })
      .then((answer) => answer.json())
      .then(() => order.push(name))
  const reads = [0, 1, 2, 3].map((i) => run(client, `read ${i}`, 'SELECT sleep(0.05)'))
  const commit = run(first, 'first', 'SELECT 1')
  await Promise.all([...reads, commit])
  // read 0 was in the engine already; the others waited
  expect(order).toEqual(['read 0', 'first', 'read 1', 'read 2', 'read 3'])
  // and the two views share the session's corrections: settings still apply per statement
  expect(await setting({ prefer_column_name_to_alias: 1 })).toBe(true)
  expect(
    (
      await (
        await first.query({
          query: "SELECT getSetting('prefer_column_name_to_alias') AS v",
          format: 'JSONEachRow',
        })
      ).json<{ v: boolean }>()
    )[0]!.v,
  ).toBe(false)
})

test('a read waits behind back-to-back first statements for a bounded time, not for as long as they come', async () => {
  const order: string[] = []
  const loop = async (name: string) => {
    for (let i = 0; i < 30; i++) {
      await (await first.query({ query: 'SELECT sleep(0.01)', format: 'JSONEachRow' })).json()
      order.push(name)
    }
  }
  const loops = [loop('a'), loop('b')]
  // (the loops keep a first statement waiting at every turn: 60 of ~10 ms)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const read = (async () => {
    await (await client.query({ query: 'SELECT 1', format: 'JSONEachRow' })).json()
    order.push('read')
  })()
  await Promise.all([...loops, read])
  // after ~100 ms of waiting it goes, well before the 60 are done
  expect(order.indexOf('read')).toBeGreaterThan(0)
  expect(order.indexOf('read')).toBeLessThan(40)
})
