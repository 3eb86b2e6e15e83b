import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { openEngineElsewhere } from '../helpers/engine.ts'
import { runScript } from '../helpers/run-script.ts'
import { runTempDir } from '../helpers/server.ts'

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

  test('an option npm took for itself (no --) is named, with how to pass it', async () => {
    const dir = path.join(ROOT, 'test-results', 'never-created')
    const fresh = await runScript('start', [], { DATA_DIR: dir, npm_config_fresh: 'true' })
    expect(fresh.code).toBe(2)
    expect(fresh.stderr).toContain(
      'npm took --fresh for itself; pass it after --, as in: npm start -- --fresh',
    )
    const rate = await runScript('start', [], { DATA_DIR: dir, npm_config_rate: '50' })
    expect(rate.stderr).toContain('as in: npm start -- --rate 50')
  })

  test('--help lists the options', async () => {
    const help = await start(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--no-simulate')
    // npm start passes its environment on to the server: npm run serve's variables apply
    expect(help.stdout).toContain('the other variables of\n  npm run serve')
    expect(help.stdout).toContain('CURRENCY=EUR')
    expect(help.stdout).toContain(
      '--fresh        wipe ./data (DATA_DIR) first: a new key and secret, earlier links answer 401',
    )
  })
})

describe("npm start takes over no data dir but a demo's", () => {
  /** npm start, which must refuse; killed if it starts instead, rather than left running. */
  const refused = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', path.join(ROOT, 'scripts', 'start.ts'), '--no-simulate'],
        { cwd: ROOT, env: { ...process.env, PORT: '0', ...env }, timeout: 45_000, killSignal: 'SIGKILL' },
        (error, _stdout, stderr) => resolve({ code: error ? (error.code as number | null) : 0, stderr }),
      )
    })

  test('a database npm run serve made, or a directory of other files, is refused and left as it was', async () => {
    const served = runTempDir('take-over-served-')
    const engine = await openEngineElsewhere(served)
    engine.kill('SIGKILL')
    await new Promise((resolve) => engine.once('exit', resolve))
    const servedBefore = readdirSync(served).sort()
    const foreign = runTempDir('take-over-foreign-')
    writeFileSync(path.join(foreign, 'notes.txt'), 'precious')

    const [fromServe, fromForeign] = await Promise.all([
      refused({ DATA_DIR: served }),
      refused({ DATA_DIR: foreign }),
    ])
    expect(fromServe.code).toBe(2)
    expect(fromServe.stderr).toContain(
      `livewall: DATA_DIR ${served} holds a Livewall database that is not a demo's (it has no demo-secrets.json`,
    )
    expect(fromServe.stderr).toContain('Give the demo its own DATA_DIR')
    expect(readdirSync(served).sort()).toEqual(servedBefore)
    expect(fromForeign.code).toBe(2)
    expect(fromForeign.stderr).toContain(`DATA_DIR ${foreign} holds files Livewall did not make (notes.txt)`)
    expect(readdirSync(foreign)).toEqual(['notes.txt'])
  })
})

describe('npm start -- --fresh wipes only a Livewall data dir nobody is using', () => {
  test('a DATA_DIR holding anything else is left as it is', async () => {
    const dir = runTempDir('fresh-foreign-')
    mkdirSync(path.join(dir, 'metadata'), { recursive: true })
    writeFileSync(path.join(dir, 'thesis.txt'), 'precious')
    const result = await runScript('start', ['--fresh', '--no-simulate'], { DATA_DIR: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('holds files Livewall did not make (thesis.txt); not wiping it')
    expect(existsSync(path.join(dir, 'thesis.txt'))).toBe(true)
  })

  test('a data dir a running engine has open is not wiped', async () => {
    const dir = runTempDir('fresh-in-use-')
    writeFileSync(path.join(dir, 'demo-secrets.json'), '{}')
    const engine = await openEngineElsewhere(dir)
    try {
      const result = await runScript('start', ['--fresh', '--no-simulate'], { DATA_DIR: dir })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(
        `is in use by a running Livewall (process ${engine.pid}); stop it first`,
      )
      expect(existsSync(path.join(dir, 'status'))).toBe(true)
    } finally {
      engine.kill('SIGKILL')
    }
  })

  test('a DATA_DIR that is a file is a configuration error, as without --fresh', async () => {
    const file = path.join(runTempDir('fresh-file-'), 'afile')
    writeFileSync(file, 'precious')
    const result = await runScript('start', ['--fresh', '--no-simulate'], { DATA_DIR: file })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`configuration error: DATA_DIR ${file} cannot be written (ENOTDIR`)
    expect(readFileSync(file, 'utf8')).toBe('precious')
  })

  test("a directory of engine-like names without the demo's secrets is not the demo's", async () => {
    const dir = runTempDir('fresh-lookalike-')
    mkdirSync(path.join(dir, 'data'))
    writeFileSync(path.join(dir, 'data', 'sales-2026.csv'), 'precious')
    mkdirSync(path.join(dir, 'tmp'))
    const result = await runScript('start', ['--fresh', '--no-simulate'], { DATA_DIR: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("has no demo-secrets.json, so it is not a demo's data dir; not wiping it")
    expect(existsSync(path.join(dir, 'data', 'sales-2026.csv'))).toBe(true)
  })
})

/** `npm run serve -- …` as its own process, for what it must refuse before starting anything. */
const serve = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'server', 'main.ts'), ...args],
      { cwd: ROOT, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    )
  })

describe('a configuration error leaves nothing behind', () => {
  test('npm start: no DATA_DIR made, no demo secrets written into an empty one', async () => {
    const parent = runTempDir('config-error-start-')
    const missing = path.join(parent, 'data')
    const empty = path.join(parent, 'empty')
    mkdirSync(empty)
    const results = await Promise.all(
      [missing, empty].map((dir) => runScript('start', ['--no-simulate'], { DATA_DIR: dir, PORT: 'abc' })),
    )
    for (const result of results) {
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(
        'configuration error: PORT must be an integer from 0 to 65535, got "abc"',
      )
    }
    expect(existsSync(missing)).toBe(false)
    expect(readdirSync(empty)).toEqual([])
  })

  test('npm run serve: no DATA_DIR made, with or without LIVEWALL_DEMO=1', async () => {
    const parent = runTempDir('config-error-serve-')
    const dirs = [path.join(parent, 'serve'), path.join(parent, 'demo')]
    const results = await Promise.all([
      serve([], {
        DATA_DIR: dirs[0]!,
        PORT: 'abc',
        LIVEWALL_INGEST_KEYS: 'config-test-key',
        LIVEWALL_TOKEN_SECRET: 'config-test-secret-0123',
      }),
      serve([], { DATA_DIR: dirs[1]!, PORT: 'abc', LIVEWALL_DEMO: '1' }),
    ])
    for (const result of results) {
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('configuration error: PORT must be an integer')
    }
    for (const dir of dirs) expect(existsSync(dir)).toBe(false)
  })
})

describe('npm run serve takes no arguments', () => {
  test('--help says what it is and how it is configured; anything else is refused', async () => {
    const [help, port] = await Promise.all([serve(['--help']), serve(['--port', '3557'])])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('configured by environment only')
    expect(port.code).toBe(2)
    expect(port.stderr).toContain('npm run serve takes no arguments (got --port 3557)')
  })
})
