import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { runScript } from '../helpers/run-script.ts'

const ROOT = path.resolve(import.meta.dirname, '..', '..')

/** `npm start -- …`, for options it must refuse before starting anything. */
function start(args: string[]) {
  // A data dir that must not be created: refused options start nothing.
  return runScript('start', args, { DATA_DIR: path.join(ROOT, 'test-results', 'never-created') })
}

describe('npm start options', () => {
  test('an unknown or unusable option is refused up front with the usage, not a stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['--bogus'], /Unknown option '--bogus'/],
      [['--streams', 'abc'], /--streams: "abc" must be an integer/],
      [['--backfill', 'x'], /--backfill/],
    ]
    const results = await Promise.all(cases.map(([args]) => start(args)))
    for (const [i, result] of results.entries()) {
      expect(result.code, cases[i]![0].join(' ')).toBe(2)
      expect(result.stderr).toMatch(cases[i]![1])
      expect(result.stderr).toContain('Usage: npm start --')
      expect(result.stderr).not.toMatch(/\n\s+at /)
      expect(result.stdout).not.toContain('#token=')
    }
  })

  test('--help lists the options', async () => {
    const help = await start(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--no-simulate')
  })
})
