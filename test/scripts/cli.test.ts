import { describe, expect, test } from 'vitest'
import { parseCli, parseDuration, UsageError } from '../../scripts/sim/cli.ts'
import { Rng } from '../../scripts/sim/rng.ts'

describe('simulate CLI', () => {
  test('reads every option of the README command line', () => {
    const { options, json, help } = parseCli(
      [
        '--url',
        'http://127.0.0.1:3000',
        '--key',
        'KEY',
        '--streams',
        '12',
        '--rate',
        '500',
        '--seed',
        '42',
        '--duration',
        '10m',
        '--backfill',
        '3',
        '--dup-rate',
        '0.02',
        '--late-rate',
        '0.02',
        '--invalid-rate',
        '0.005',
        '--batch',
        '500',
        '--json',
      ],
      {},
    )
    expect(help).toBe(false)
    expect(json).toBe(true)
    expect(options).toMatchObject({
      url: 'http://127.0.0.1:3000/',
      key: 'KEY',
      streams: 12,
      rate: 500,
      seed: 42,
      durationMs: 600_000,
      backfill: 3,
      dupRate: 0.02,
      lateRate: 0.02,
      invalidRate: 0.005,
      batch: 500,
    })
  })

  test('--rate max, and the key from the environment', () => {
    const { options } = parseCli(['--rate', 'max'], { LIVEWALL_INGEST_KEYS: 'first, second' })
    expect(options.rate).toBe('max')
    expect(options.key).toBe('first')
    expect(options.durationMs).toBeUndefined()
  })

  test('refuses what it cannot use, saying which option is wrong', () => {
    expect(() => parseCli([], {})).toThrow(/ingest key/)
    expect(() => parseCli(['--key', 'k', '--rate', 'fast'], {})).toThrow(/--rate/)
    expect(() => parseCli(['--key', 'k', '--dup-rate', '2'], {})).toThrow(/--dup-rate/)
    expect(() => parseCli(['--key', 'k', '--streams', '0'], {})).toThrow(/--streams/)
    expect(() => parseCli(['--key', 'k', '--duration', 'ten'], {})).toThrow(/--duration/)
    expect(() => parseCli(['--key', 'k', '--nope'], {})).toThrow(UsageError)
    // `localhost:3557` parses as a URL of scheme "localhost:": refused here, not a stack later.
    for (const url of ['localhost:3557', 'ftp://localhost:3557', 'http://']) {
      expect(() => parseCli(['--key', 'k', '--url', url], {})).toThrow(
        `--url: "${url}" must be an http:// or https:// URL`,
      )
    }
  })

  test('durations', () => {
    expect(parseDuration('1500ms')).toBe(1500)
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('90')).toBe(90_000)
    expect(parseDuration('2h')).toBe(7_200_000)
    expect(parseDuration('0.5m')).toBe(30_000)
  })
})

describe('Rng', () => {
  test('the same seed gives the same numbers; forks are independent of draws made before them', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const seqA = Array.from({ length: 100 }, () => a.nextU32())
    expect(Array.from({ length: 100 }, () => b.nextU32())).toEqual(seqA)
    expect(new Rng(43).nextU32()).not.toBe(seqA[0])
    const forked = new Rng(42).fork('traffic').next()
    expect(a.fork('traffic').next()).toBe(forked)
    expect(new Rng(42).fork('format').next()).not.toBe(forked)
  })

  test('draws stay in range and are roughly uniform', () => {
    const rng = new Rng(7)
    const buckets = [0, 0, 0, 0, 0, 0]
    let outside = 0
    for (let i = 0; i < 60_000; i++) {
      const n = rng.int(1, 6)
      if (n < 1 || n > 6) outside++
      else buckets[n - 1] = (buckets[n - 1] as number) + 1
    }
    expect(outside).toBe(0)
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500)
  })
})

test('an option npm took for itself (npm run simulate --rate=50) is named, with how to pass it', () => {
  expect(() => parseCli(['--key', 'k'], { npm_config_rate: '50' })).toThrow(
    new UsageError('npm took --rate for itself; pass it after --, as in: npm run simulate -- --rate 50'),
  )
})
