// `npm run simulate -- --url … --key … --streams 12 --rate 500 --duration 10m`
// The CLI around runSimulation (scripts/sim/run.ts); `npm start` and tests import it instead.

import { pathToFileURL } from 'node:url'
import { parseCli, USAGE, UsageError } from './sim/cli.ts'
import { runSimulation } from './sim/run.ts'
import { IngestError } from './sim/sender.ts'

export type { SimulationOptions, SimulationResult } from './sim/run.ts'
export { runSimulation }

async function main(argv: readonly string[]): Promise<number> {
  let command: ReturnType<typeof parseCli>
  try {
    command = parseCli(argv)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`simulate: ${err.message}\n\n${USAGE}`)
      return 2
    }
    throw err
  }
  if (command.help) {
    process.stdout.write(USAGE)
    return 0
  }

  // first Ctrl-C: stop generating, send what is queued, print the summary; second: abort now
  const stop = new AbortController()
  const abort = new AbortController()
  const onSignal = () => {
    if (!stop.signal.aborted) {
      process.stderr.write('\nsimulate: stopping (Ctrl-C again to abort requests in flight)\n')
      stop.abort()
    } else {
      abort.abort()
    }
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // Started by `npm start` (an IPC channel to it): when that process goes, however it went,
  // stop too, rather than feed whatever listens on its port next.
  const onParentGone = () => {
    process.stderr.write('simulate: the demo that started me is gone; stopping\n')
    stop.abort()
    setTimeout(() => abort.abort(), 5_000).unref()
  }
  if (process.send) process.once('disconnect', onParentGone)

  const { options } = command
  const seed = options.seed ?? Math.floor(Date.now() / 1000) % 1_000_000
  process.stderr.write(
    `simulate: ${options.url} seed ${seed}, ${options.streams ?? 12} streams at ${options.rate ?? 500} events/s` +
      `${options.backfill ? `, backfill ${options.backfill} sessions` : ''}\n`,
  )
  try {
    const result = await runSimulation({ ...options, seed, signal: stop.signal, abortSignal: abort.signal })
    if (command.json) {
      process.stdout.write(
        `${JSON.stringify(result, (_key, value) => (typeof value === 'bigint' ? value.toString() : value), 2)}\n`,
      )
    }
    const { failedRequests, failedEvents, inconsistencies } = result.tally.counters
    if (failedRequests > 0) {
      process.stderr.write(
        `simulate: ${failedRequests} requests (${failedEvents} events) were never acknowledged\n`,
      )
      return 1
    }
    if (inconsistencies > 0) {
      process.stderr.write(
        `simulate: exit 3: ${inconsistencies} of the server's answers disagreed with what was sent (above)\n`,
      )
      return 3
    }
    return 0
  } catch (err) {
    if (err instanceof IngestError) {
      process.stderr.write(`simulate: ${err.message}\n`)
      return 1
    }
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('disconnect', onParentGone)
    // (the channel would keep this process alive)
    if (process.connected) process.disconnect()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      process.stderr.write(`simulate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exitCode = 1
    },
  )
}
