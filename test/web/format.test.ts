import { describe, expect, test } from 'vitest'
import {
  currencySymbol,
  formatAge,
  formatClock,
  formatCompact,
  formatCount,
  formatDateTime,
  formatDuration,
  formatMoney,
  formatMoneyCompact,
  formatMoneyWhole,
  formatPercent,
  NONE,
} from '../../web/src/lib/format.ts'

describe('money', () => {
  test('exact money has the symbol, thousands separators and two decimals', () => {
    expect(formatMoney(1234567.891)).toBe('$1,234,567.89')
    expect(formatMoney(0)).toBe('$0.00')
    expect(formatMoney(19.9)).toBe('$19.90')
    expect(formatMoney(-42.5)).toBe('-$42.50')
  })

  test('other deployment currencies use their symbol', () => {
    expect(formatMoney(1234.5, 'EUR')).toBe('€1,234.50')
    expect(currencySymbol('GBP')).toBe('£')
  })

  test('whole money rounds to units', () => {
    expect(formatMoneyWhole(1234.5)).toBe('$1,235')
    expect(formatMoneyWhole(999.49)).toBe('$999')
  })

  test('compact money for tiles: full below ten thousand, three significant digits above', () => {
    expect(formatMoneyCompact(9876.4)).toBe('$9,876')
    expect(formatMoneyCompact(12_345)).toBe('$12,345')
    expect(formatMoneyCompact(123_456)).toBe('$123,456')
    expect(formatMoneyCompact(999_999.4)).toBe('$999,999')
    expect(formatMoneyCompact(1_234_567)).toBe('$1.23M')
    expect(formatMoneyCompact(1_200_000)).toBe('$1.20M')
    expect(formatMoneyCompact(45_600_000_000)).toBe('$45.6B')
    expect(formatMoneyCompact(-12_345)).toBe('-$12,345')
    expect(formatMoneyCompact(-1_234_567)).toBe('-$1.23M')
  })

  test('compact rounding that reaches the next unit moves up a unit', () => {
    expect(formatCompact(999_950)).toBe('1.00M')
    expect(formatCompact(99_960)).toBe('100K')
  })

  test('missing values are a dash, never $0', () => {
    expect(formatMoney(null)).toBe(NONE)
    expect(formatMoneyCompact(undefined)).toBe(NONE)
    expect(formatMoney(Number.NaN)).toBe(NONE)
  })
})

describe('counts and ratios', () => {
  test('counts have thousands separators', () => {
    expect(formatCount(0)).toBe('0')
    expect(formatCount(1234567)).toBe('1,234,567')
    expect(formatCount(null)).toBe('—')
  })

  test('ratios are percentages; null (denominator 0) is a dash', () => {
    expect(formatPercent(0.0345)).toBe('3.5%')
    expect(formatPercent(0.0345, 2)).toBe('3.45%')
    expect(formatPercent(1)).toBe('100.0%')
    expect(formatPercent(0)).toBe('0.0%')
    expect(formatPercent(null)).toBe('—')
  })
})

describe('durations and data age', () => {
  test('durations', () => {
    expect(formatDuration(0)).toBe('0s')
    expect(formatDuration(45_900)).toBe('45s')
    expect(formatDuration(725_000)).toBe('12m 05s')
    expect(formatDuration(3 * 3600_000 + 7 * 60_000)).toBe('3h 07m')
    expect(formatDuration(52 * 3600_000)).toBe('2d 04h')
    expect(formatDuration(-5)).toBe('0s')
  })

  test('data age says now under a second', () => {
    expect(formatAge(400)).toBe('now')
    expect(formatAge(12_300)).toBe('12s')
    expect(formatAge(190_000)).toBe('3m 10s')
    expect(formatAge(null)).toBe('—')
  })

  test('replay clock', () => {
    expect(formatClock(245_000)).toBe('4:05')
    expect(formatClock(3_723_000)).toBe('1:02:03')
  })
})

describe('chart axis labels', () => {
  test('compact without trailing zeros, whole numbers kept whole', async () => {
    const { formatTick } = await import('../../web/src/charts/theme.ts')
    expect(formatTick('money', 8000, '$')).toBe('$8K')
    expect(formatTick('count', 1500, '$')).toBe('1.5K')
    expect(formatTick('count', 100_000, '$')).toBe('100K')
    expect(formatTick('money', 12_000, '$')).toBe('$12K')
    expect(formatTick('money', 2_350_000, '$')).toBe('$2.35M')
    expect(formatTick('money', 500, '$')).toBe('$500')
  })
})

describe('time zone', () => {
  test('times on screen say which zone they are in', async () => {
    const { timeZoneLabel } = await import('../../web/src/lib/format.ts')
    const previous = process.env.TZ
    try {
      process.env.TZ = 'UTC'
      expect(timeZoneLabel(Date.UTC(2026, 0, 15))).toBe('UTC')
      process.env.TZ = 'Europe/Berlin'
      expect(timeZoneLabel(Date.UTC(2026, 0, 15))).toBe('GMT+1')
      process.env.TZ = 'America/Los_Angeles'
      expect(timeZoneLabel(Date.UTC(2026, 6, 15))).toBe('PDT')
    } finally {
      if (previous === undefined) delete process.env.TZ
      else process.env.TZ = previous
    }
  })
})

test('a date and time to the minute, or to the second where rows come seconds apart', () => {
  const at = new Date(2026, 10, 24, 9, 5, 7).getTime()
  expect(formatDateTime(at)).toBe('2026-11-24 09:05')
  expect(formatDateTime(at, true)).toBe('2026-11-24 09:05:07')
  expect(formatDateTime(null)).toBe('—')
})
