import { expect, test } from 'vitest'
import { isStorageUnreachable, logError } from '../../server/storage/unreachable.ts'

test('a storage that does not answer is logged as one line; anything else keeps its stack', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' })
  expect(isStorageUnreachable(refused)).toBe(true)
  expect(logError(refused)).toEqual({ error: 'connect ECONNREFUSED 127.0.0.1:8123' })
  const unknownHost = Object.assign(new Error('getaddrinfo ENOTFOUND clickhouse'), { code: 'ENOTFOUND' })
  expect(logError(unknownHost)).toEqual({ error: 'getaddrinfo ENOTFOUND clickhouse' })
  const bug = new TypeError('x is undefined')
  expect(isStorageUnreachable(bug)).toBe(false)
  expect(logError(bug)).toEqual({ err: bug })
})
