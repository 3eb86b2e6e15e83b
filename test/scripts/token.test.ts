import { describe, expect, test } from 'vitest'
import { verifyToken } from '../../server/auth/tokens.ts'
import { runScript } from '../helpers/run-script.ts'

const SECRET = 'token-test-secret-0123456789'

/** `npm run token -- …`: exit code, stdout (the token, trimmed), stderr. */
async function token(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await runScript('token', args, { LIVEWALL_TOKEN_SECRET: SECRET })
  return { ...result, stdout: result.stdout.trim() }
}

describe('npm run token', () => {
  test('issues tokens the server accepts, with the role, creator and expiry asked for', async () => {
    const ops = await token(['--role', 'ops'])
    expect(ops.code).toBe(0)
    expect(verifyToken(SECRET, ops.stdout)).toMatchObject({ role: 'ops', creator_id: null })

    const creator = await token(['--role', 'creator', '--creator', 'mia', '--ttl', '30m'])
    expect(creator.code).toBe(0)
    expect(verifyToken(SECRET, creator.stdout)).toMatchObject({ role: 'creator', creator_id: 'mia' })
    // Valid for the 30 minutes asked, not beyond.
    expect(() => verifyToken(SECRET, creator.stdout, Date.now() + 31 * 60_000)).toThrow(/expired/)
    expect(creator.stderr).toMatch(/creator token for creator mia, valid until/)
  })

  test('an option npm took for itself (npm run token --role=ops) is named, with how to pass it', async () => {
    const result = await runScript('token', [], { LIVEWALL_TOKEN_SECRET: SECRET, npm_config_role: 'ops' })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(
      'npm took --role for itself; pass it after --, as in: npm run token -- --role ops',
    )
    expect(result.stdout.trim()).toBe('')
  })

  test('refuses what would issue a token other than the one asked for, naming the option', async () => {
    const cases: [string[], RegExp][] = [
      // An ops token ignores a creator: it would see every stream.
      [['--role', 'ops', '--creator', 'mia'], /--creator is for --role creator/],
      [['--role', 'creator'], /--role creator needs --creator/],
      [['--role', 'creator', '--creator', 'x'.repeat(129)], /--creator must be at most 128 characters/],
      [['--role', 'ops', '--ttl', '0s'], /--ttl must be more than 0 and at most 365d, got 0s/],
      [['--role', 'ops', '--ttl', '99999999d'], /--ttl must be more than 0 and at most 365d/],
      [['--role', 'ops', '--ttl', 'soon'], /"soon" is not a duration/],
      [['--role', 'admin'], /--role must be ops or creator/],
      [['--role', 'ops', '--bogus'], /Unknown option '--bogus'/],
    ]
    const results = await Promise.all(cases.map(([args]) => token(args)))
    for (const [i, result] of results.entries()) {
      expect(result.code, cases[i]![0].join(' ')).toBe(2)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(cases[i]![1])
      // A usage line, not a stack trace.
      expect(result.stderr).not.toMatch(/\n\s+at /)
    }
  })

  test('--help says how to use it', async () => {
    const help = await token(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^usage: npm run token -- --role ops\|creator/)
    expect(help.stdout).toContain('LIVEWALL_TOKEN_SECRET')
  })
})
