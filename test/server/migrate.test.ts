import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { ClickHouseClient } from '@clickhouse/client'
import { afterAll, describe, expect, test } from 'vitest'
import { eventRowLine, INSERT_EVENTS_SQL, secondsText } from '../../server/ingest/rows.ts'
import { validateEvent } from '../../server/ingest/validate.ts'
import { METRICS } from '../../server/metrics/definitions.ts'
import { readMarkers, readProducts, readSources } from '../../server/metrics/details.ts'
import { readSeries } from '../../server/metrics/series.ts'
import { listStreams } from '../../server/metrics/streams.ts'
import { MIGRATIONS_DIR, MigrationError, migrate } from '../../server/storage/migrate.ts'
import { closeEmbeddedClients, embeddedDatabase, wholeHourAgo } from '../helpers/server.ts'

const T0 = wholeHourAgo(3)
const dirs: string[] = []

/** A migrations folder holding the real files whose number is at most `upTo`. */
function migrationsUpTo(upTo: number): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'livewall-migrations-'))
  dirs.push(dir)
  for (const file of readdirSync(MIGRATIONS_DIR)) {
    if (/^\d{3}_/.test(file) && Number(file.slice(0, 3)) <= upTo) {
      copyFileSync(path.join(MIGRATIONS_DIR, file), path.join(dir, file))
    }
  }
  return dir
}

/** Writes events the way the server's group commit does. */
async function store(client: ClickHouseClient, events: Record<string, unknown>[]): Promise<void> {
  const lines = events.map((raw) => {
    const v = validateEvent(raw, T0 + 3_600_000, 'USD')
    if (!v.ok) throw new Error(v.message)
    return eventRowLine(v.event, secondsText(T0 + 3_600_000))
  })
  await client.exec({ query: INSERT_EVENTS_SQL, values: lines.join('\n') as never })
}

function session(prefix: string, count: number): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [
    {
      event_id: `${prefix}-s`,
      type: 'stream_start',
      stream_id: 's1',
      ts: T0,
      creator_id: 'c1',
      title: 'Drop',
      vertical: 'Beauty',
    },
  ]
  for (let i = 0; i < count; i++) {
    const ts = T0 + 1000 + i * 7_300 // spans several minutes
    const viewer = `v${i % 13}`
    events.push({
      event_id: `${prefix}-v${i}`,
      type: 'view_start',
      stream_id: 's1',
      ts,
      viewer_id: viewer,
      source: i % 3 === 0 ? 'search' : 'for_you',
    })
    events.push({
      event_id: `${prefix}-i${i}`,
      type: 'product_impression',
      stream_id: 's1',
      ts: ts + 10,
      product_id: `p${i % 4}`,
    })
    if (i % 2 === 0)
      events.push({
        event_id: `${prefix}-c${i}`,
        type: 'product_click',
        stream_id: 's1',
        ts: ts + 20,
        viewer_id: viewer,
        product_id: `p${i % 4}`,
      })
    if (i % 5 === 0) {
      events.push({
        event_id: `${prefix}-o${i}`,
        type: 'order_paid',
        stream_id: 's1',
        ts: ts + 30,
        viewer_id: viewer,
        product_id: `p${i % 4}`,
        order_id: `${prefix}-order-${i}`,
        amount: '12.34',
        quantity: 2,
      })
    }
    if (i % 4 === 3)
      events.push({
        event_id: `${prefix}-e${i}`,
        type: 'view_end',
        stream_id: 's1',
        ts: ts + 40,
        viewer_id: viewer,
      })
  }
  events.push({
    event_id: `${prefix}-m`,
    type: 'marker',
    stream_id: 's1',
    ts: T0 + 5000,
    label: 'flash sale',
  })
  return events
}

/** Everything the read API serves for stream s1, through the real readers. */
async function readAll(client: ClickHouseClient) {
  const now = T0 + 3_600_000
  const [streams, products, sources, markers, perSecond, perMinute] = await Promise.all([
    listStreams(client, { status: 'all', limit: 10, now }),
    readProducts(client, 's1', 50),
    readSources(client, 's1'),
    readMarkers(client, 's1'),
    readSeries(client, 's1', { stepMs: 1000, from: T0, to: T0 + 600_000, metrics: METRICS }),
    readSeries(client, 's1', { stepMs: 60_000, from: T0, to: T0 + 600_000, metrics: METRICS }),
  ])
  return { streams, products, sources, markers, perSecond, perMinute }
}

afterAll(async () => {
  await closeEmbeddedClients()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('migrations', () => {
  test('each file is applied once, in order, and recorded with its checksum', async () => {
    const client = await embeddedDatabase()
    const first = await migrate(client, () => {})
    expect(first).toEqual(
      readdirSync(MIGRATIONS_DIR)
        .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
        .sort(),
    )
    expect(await migrate(client, () => {})).toEqual([])
    const rows = await (
      await client.query({
        query: 'SELECT name, length(checksum) AS n FROM schema_migrations ORDER BY name',
        format: 'JSONEachRow',
      })
    ).json<{ name: string; n: number }>()
    expect(rows.map((r) => r.name)).toEqual(first)
    expect(rows.every((r) => r.n === 64)).toBe(true)
  })

  test('table settings the engine knows are set after the migrations (and skipped where a table is not there yet)', async () => {
    const client = await embeddedDatabase()
    const early = await embeddedDatabase()
    await migrate(client, () => {})
    await migrate(early, () => {}, migrationsUpTo(1))
    const engines = async (c: ClickHouseClient) =>
      (
        await (
          await c.query({
            query:
              "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND name IN ('events', 'rollups', 'event_ids', 'quarantine') ORDER BY name",
            format: 'JSONEachRow',
          })
        ).json<{ name: string; engine_full: string }>()
      ).map((t) => [
        t.name,
        t.engine_full.includes('merge_selector_base = 20') &&
          t.engine_full.includes('concurrent_part_removal_threshold = 1000000000'),
        // chDB's own default is 0: merged-away parts deleted at once (see TABLE_TUNING).
        t.engine_full.includes('old_parts_lifetime = 120'),
      ])
    // chDB (ClickHouse 26) knows every setting.
    expect(await engines(client)).toEqual([
      ['event_ids', true, true],
      ['events', true, true],
      ['quarantine', false, true],
      ['rollups', true, true],
    ])
    expect(await engines(early)).toEqual([['events', true, true]])
  })

  test('a server that refuses the table tuning still starts, with the defaults and a log line', async () => {
    const client = await embeddedDatabase()
    const refusing = new Proxy(client, {
      get(target, prop, receiver) {
        if (prop !== 'command') return Reflect.get(target, prop, receiver)
        return (params: { query: string }) =>
          params.query.includes('MODIFY SETTING')
            ? Promise.reject(new Error('Not enough privileges (ALTER MODIFY SETTING)'))
            : target.command(params as never)
      },
    })
    const logged: string[] = []
    await migrate(refusing, (msg) => logged.push(msg))
    expect(logged.filter((l) => l.includes('left at its default'))).toEqual([
      'events: merge_selector_base left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'rollups: merge_selector_base left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'event_ids: merge_selector_base left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'events: concurrent_part_removal_threshold left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'rollups: concurrent_part_removal_threshold left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'event_ids: concurrent_part_removal_threshold left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'events: old_parts_lifetime left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'rollups: old_parts_lifetime left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'event_ids: old_parts_lifetime left at its default (Not enough privileges (ALTER MODIFY SETTING))',
      'quarantine: old_parts_lifetime left at its default (Not enough privileges (ALTER MODIFY SETTING))',
    ])
  })

  test('an applied file that was edited stops the start', async () => {
    const client = await embeddedDatabase()
    const dir = migrationsUpTo(999)
    await migrate(client, () => {}, dir)
    writeFileSync(path.join(dir, '003_quarantine.sql'), '-- edited\nSELECT 1;\n')
    await expect(migrate(client, () => {}, dir)).rejects.toThrow(MigrationError)
    await expect(migrate(client, () => {}, dir)).rejects.toThrow(/003_quarantine\.sql was edited/)
  })

  test('005 and 006 rebuild the rollups of data stored before them, and every reader answers the same', async () => {
    const client = await embeddedDatabase()
    await migrate(client, () => {}, migrationsUpTo(4))
    await store(client, session('a', 60))
    await store(client, session('b', 30))
    const before = await readAll(client)
    expect(before.streams[0]!.totals.orders).toBe(18)

    expect(await migrate(client, () => {}, migrationsUpTo(5))).toEqual(['005_one_rollup.sql'])
    expect(await readAll(client)).toEqual(before)

    expect(await migrate(client, () => {}, migrationsUpTo(6))).toEqual(['006_fold_small_views.sql'])
    expect(await readAll(client)).toEqual(before)
    // The order_id dedup look-up still finds every order stored before.
    const orders = await (
      await client.query({ query: 'SELECT count() AS n FROM order_ids', format: 'JSONEachRow' })
    ).json<{ n: number }>()
    expect(Number(orders[0]!.n)).toBe(18)

    // New events now flow through the one view into the same readers.
    await store(client, session('c', 10))
    const more = await readAll(client)
    expect(more.streams[0]!.totals.orders).toBe(18 + 2)
    expect(more.sources.sources.reduce((a, s) => a + s.views, 0)).toBe(60 + 30 + 10)
  })
})
