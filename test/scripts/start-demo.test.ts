// `npm start` run whole: the server, the simulator it drives, and what they say.

import { spawn } from 'node:child_process'
import path from 'node:path'
import { expect, test } from 'vitest'
import { runTempDir } from '../helpers/server.ts'

const ROOT = path.resolve(import.meta.dirname, '..', '..')

test('CURRENCY=EUR npm start: its simulator sends EUR, the server takes every valid order, the backfill is named truly', async () => {
  const parent = runTempDir('start-eur-')
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ROOT, 'scripts', 'start.ts'),
      '--streams',
      '2',
      '--rate',
      '50',
      '--backfill',
      '1',
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        CURRENCY: 'EUR',
        PORT: '0',
        DATA_DIR: path.join(parent, 'data'),
        // the dashboard is not what is tested: nothing is built, a placeholder is served
        LIVEWALL_WEB_DIST: path.join(parent, 'no-dashboard'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout.on('data', (chunk) => {
    output += chunk
  })
  child.stderr.on('data', (chunk) => {
    output += chunk
  })
  const exited = new Promise<number | string | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  )
  try {
    await expect.poll(() => output, { timeout: 60_000 }).toMatch(/#token=\S+/)
    const [, base, token] = /(http\S+)\/#token=(\S+)/.exec(output)!
    const endedWithOrders = async () => {
      const response = await fetch(`${base}/v1/streams?status=ended`, {
        headers: { authorization: `Bearer ${token}` },
      })
      const { streams } = (await response.json()) as { streams: { totals: { orders: number } }[] }
      return streams.filter((stream) => stream.totals.orders > 0).length
    }
    // The past session's orders, some naming the currency, have all been answered.
    await expect.poll(endedWithOrders, { timeout: 60_000, interval: 500 }).toBe(1)
  } finally {
    child.kill('SIGTERM')
  }
  expect(await exited).toBe(0)
  expect(output).toMatch(/^sim done in .*, GMV \d+\.\d\d EUR$/m)
  expect(output).not.toContain('disagree')
  expect(output).toContain(
    'livewall: no finished session yet: writing 1 finished past session for the replay view',
  )
  expect(output).toContain('livewall: stopped cleanly')
}, 150_000)
