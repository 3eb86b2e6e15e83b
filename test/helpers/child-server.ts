import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import type { ClickHouseClient } from '@clickhouse/client'
import { SERVER_NODE_FLAGS } from '../../server/node-flags.ts'

const ROOT = path.join(import.meta.dirname, '..', '..')

// A test that fails or times out half-way must not leave servers running behind it.
const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

export interface ChildServer {
  url: string
  process: ChildProcess
  output(): string
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string | null>
}

/** Starts `server/main.ts` as its own process (as `npm run serve` does) and waits until it listens. */
export async function spawnServer(env: Record<string, string>, timeoutMs = 60_000): Promise<ChildServer> {
  const child = spawn(
    process.execPath,
    [...SERVER_NODE_FLAGS, '--import', 'tsx', path.join(ROOT, 'server', 'main.ts')],
    {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  children.add(child)
  child.on('exit', () => children.delete(child))
  let output = ''
  const exited = new Promise<number | string | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  )
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    )
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const m = /LIVEWALL_LISTENING (\S+)/.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited (${code}) before listening:\n${output}`))
    })
  })
  return { url, process: child, output: () => output, exited }
}

/**
 * Streams whose totals in the rollups count fewer (or more) events than `events` holds
 * (every event of the crash tests is a view_start): [stream, in events, in rollups].
 */
export async function streamsWhoseRollupsMissEvents(client: ClickHouseClient): Promise<unknown[]> {
  return (
    await client.query({
      query: `SELECT e.stream_id, e.n, r.n FROM
                (SELECT stream_id, count() AS n FROM events GROUP BY stream_id) AS e
                LEFT JOIN (SELECT stream_id, sum(views) AS n FROM rollups WHERE grain = 3 GROUP BY stream_id) AS r
                USING stream_id
              WHERE e.n != r.n`,
      format: 'JSONCompactEachRow',
    })
  ).json<unknown[]>()
}
