import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { afterAll, expect, test } from 'vitest'
import { scopedConnection } from '../../server/storage/connection.ts'
import { testDataDir } from '../helpers/server.ts'

const client = createClient({
  connection: scopedConnection(createChdbConnection({ path: testDataDir() }), 'default') as never,
})
afterAll(() => client.close())

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
