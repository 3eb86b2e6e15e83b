import { existsSync, rmSync } from 'node:fs'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { ConfigError, ensureDataDir, loadConfig } from '../../server/config.ts'
import { runTempDir } from '../helpers/server.ts'

const root = runTempDir('livewall-datadir-')
afterAll(() => rmSync(root, { recursive: true, force: true }))

test('a DATA_DIR that cannot be written is refused at once, naming the variable', () => {
  // Under /proc Node's recursive mkdir spins forever: this must return, with a reason.
  expect(() => ensureDataDir('/proc/livewall-cannot-be-here')).toThrow(ConfigError)
  expect(() => ensureDataDir('/proc/livewall-cannot-be-here')).toThrow(
    /^DATA_DIR \/proc\/livewall-cannot-be-here cannot be written \(ENOENT/,
  )
  expect(() => ensureDataDir(path.join(import.meta.filename, 'below-a-file'))).toThrow(/ENOTDIR/)
})

test('a DATA_DIR that does not exist yet is made, parents included, and left without probes', () => {
  const dir = path.join(root, 'a', 'b', 'data')
  ensureDataDir(dir)
  expect(existsSync(dir)).toBe(true)
  ensureDataDir(dir)
  expect(existsSync(path.join(dir, `.livewall-write-test-${process.pid}`))).toBe(false)
})

test('CURRENCY must be a real ISO 4217 code and LOG_LEVEL a level, named as typed', () => {
  const base = { LIVEWALL_INGEST_KEYS: 'config-test-key', LIVEWALL_TOKEN_SECRET: 'config-test-secret-0123' }
  expect(loadConfig({ ...base, CURRENCY: 'eur' }).currency).toBe('EUR')
  expect(() => loadConfig({ ...base, CURRENCY: 'XYZ' })).toThrow(
    /^CURRENCY must be an ISO 4217 code .*got "XYZ"/,
  )
  expect(() => loadConfig({ ...base, CURRENCY: 'dollars' })).toThrow(/got "dollars"/)
  expect(loadConfig({ ...base, LOG_LEVEL: 'debug' }).logLevel).toBe('debug')
  expect(() => loadConfig({ ...base, LOG_LEVEL: 'verbose' })).toThrow(
    new ConfigError('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"'),
  )
})

test('numbers are decimal digits and CLICKHOUSE_URL an http(s) URL, each refused by name', () => {
  const base = { LIVEWALL_INGEST_KEYS: 'key-0123456789', LIVEWALL_TOKEN_SECRET: 'secret-0123456789abcdef' }
  expect(() => loadConfig({ ...base, PORT: '0x10' })).toThrow(
    'PORT must be an integer from 0 to 65535, got "0x10"',
  )
  expect(() => loadConfig({ ...base, PORT: '3e3' })).toThrow(/PORT must be an integer/)
  expect(loadConfig({ ...base, PORT: '3001' }).port).toBe(3001)
  expect(() => loadConfig({ ...base, LIVEWALL_MERGE_NICE: '20' })).toThrow(
    'LIVEWALL_MERGE_NICE must be an integer from 0 to 19, got "20"',
  )
  // (unset: the server decides, see merge-priority.ts; 0 asks for no lowering)
  expect(loadConfig(base).mergeNice).toBeUndefined()
  expect(loadConfig({ ...base, LIVEWALL_MERGE_NICE: '0' }).mergeNice).toBe(0)
  expect(loadConfig({ ...base, LIVEWALL_MERGE_NICE: '12' }).mergeNice).toBe(12)
  // `localhost:8123` parses, as a URL of scheme "localhost:".
  expect(() => loadConfig({ ...base, CLICKHOUSE_URL: 'localhost:8123' })).toThrow(
    'CLICKHOUSE_URL must start with http:// or https://, got "localhost:8123"',
  )
})

test('every problem of the environment is named in one error, not only the first', () => {
  const bad = () =>
    loadConfig({
      LIVEWALL_TOKEN_SECRET: 'short',
      PORT: 'eighty',
      CURRENCY: 'XYZ',
      HTTP_HEADERS_TIMEOUT_MS: 'soon',
      HTTP_REQUEST_TIMEOUT_MS: '5000',
    })
  let error: ConfigError | undefined
  try {
    bad()
  } catch (thrown) {
    error = thrown as ConfigError
  }
  expect(error).toBeInstanceOf(ConfigError)
  // (HTTP_HEADERS_TIMEOUT_MS is bad, so it is not also compared with the request timeout)
  expect(error!.problems).toEqual([
    'LIVEWALL_INGEST_KEYS is required (comma-separated secrets), or set LIVEWALL_DEMO=1',
    'LIVEWALL_TOKEN_SECRET is required and must be at least 16 characters',
    'CURRENCY must be an ISO 4217 code such as USD or EUR, got "XYZ"',
    'HTTP_HEADERS_TIMEOUT_MS must be an integer from 100 to 600000, got "soon"',
    'PORT must be an integer from 0 to 65535, got "eighty"',
  ])
  expect(error!.message).toBe(`5 problems:\n${error!.problems.map((p) => `  - ${p}`).join('\n')}`)
})

test('a CLICKHOUSE_URL refused by loadConfig is echoed without its user and password', () => {
  const base = { LIVEWALL_INGEST_KEYS: 'key-0123456789', LIVEWALL_TOKEN_SECRET: 'secret-0123456789abcdef' }
  const message = (url: string) => {
    try {
      loadConfig({ ...base, CLICKHOUSE_URL: url })
    } catch (error) {
      return (error as Error).message
    }
    throw new Error(`${url} was taken`)
  }
  expect(message('clickhouse://default:hunter2pw@db:9000')).toBe(
    'CLICKHOUSE_URL must start with http:// or https://, got "clickhouse://…@db:9000"',
  )
  // too broken to parse, and a password holding / and @
  expect(message('http://default:hun/ter@2pw@db:notaport')).toBe(
    'CLICKHOUSE_URL is not a URL: "http://…@db:notaport"',
  )
  // a password in the query, as some clients take it
  expect(message('clickhouse://db:9000/?user=default&password=hunter2pw')).toBe(
    'CLICKHOUSE_URL must start with http:// or https://, got "clickhouse://db:9000/?…"',
  )
  for (const url of [
    'clickhouse://default:hunter2pw@db:9000',
    'http://default:hun/ter@2pw@db:notaport',
    'clickhouse://db:9000/?user=default&password=hunter2pw',
  ])
    expect(message(url)).not.toMatch(/hunter|hun\/ter|2pw|default/)
})
