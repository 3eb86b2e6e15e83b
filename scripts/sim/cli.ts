// Command-line options of `npm run simulate`, parsed with node:util parseArgs.

import { parseArgs } from 'node:util'
import { npmTookOption } from '../npm-options.ts'
import { DEFAULTS, type SimulationOptions } from './run.ts'

export const USAGE = `Usage: npm run simulate -- [options]

Drives a Livewall server with realistic live-shopping traffic.

  --url URL              server base URL (default http://127.0.0.1:3000)
  --key KEY              ingest key (default: $LIVEWALL_INGEST_KEY, else the first of $LIVEWALL_INGEST_KEYS)
  --streams N            concurrent live streams (default ${DEFAULTS.streams})
  --rate N|max           events per second, or max: as fast as the server acknowledges (default ${DEFAULTS.rate})
  --seed N               same seed and clock, same events and ids (default: from the clock, printed)
  --duration D           live phase length, e.g. 90s, 10m, 2h (default: until Ctrl-C)
  --backfill N           first write N finished sessions from the past hours (default ${DEFAULTS.backfill})
  --backfill-rate N      events per simulated second per backfill session (default ${DEFAULTS.backfillRate})
  --dup-rate P           share of events resent with the same event_id (default ${DEFAULTS.dupRate})
  --late-rate P          share of events sent late, out of order (default ${DEFAULTS.lateRate})
  --invalid-rate P       share of events followed by an invalid one (default ${DEFAULTS.invalidRate})
  --order-repeat-rate P  share of orders paid twice under a new event_id (default ${DEFAULTS.orderRepeatRate})
  --batch N              events per request, at most (default ${DEFAULTS.batch})
  --concurrency N        requests in flight (default ${DEFAULTS.concurrency})
  --currency CODE        deployment currency (default ${DEFAULTS.currency})
  --max-retries N        retries of a failed request before it is given up (default ${DEFAULTS.maxRetries})
  --json                 print the final tally (per-stream expected totals) as JSON on stdout
  -h, --help             this text
`

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export interface CliCommand {
  help: boolean
  json: boolean
  options: SimulationOptions
}

/** "90s", "10m", "2h", "1500ms", or a bare number of seconds → ms. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (!match) throw new UsageError(`--duration: "${text}" is not a duration like 90s, 10m or 2h`)
  const value = Number(match[1])
  const unit = match[2] ?? 's'
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000
  return Math.round(value * factor)
}

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name}: "${text}" must be an integer from ${min} to ${max}`)
  }
  return value
}

function share(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new UsageError(`--${name}: "${text}" must be a share from 0 to 1`)
  }
  return value
}

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliCommand {
  let values: ReturnType<typeof parse>['values']
  try {
    values = parse(argv).values
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  // (not `key` nor `json`: npm has settings of those names, which a user may have set)
  const took = npmTookOption(
    ['url', 'streams', 'rate', 'seed', 'duration', 'backfill', 'currency', 'batch', 'concurrency'],
    'npm run simulate',
    env,
  )
  if (took) throw new UsageError(took)
  const key = values.key ?? env.LIVEWALL_INGEST_KEY ?? env.LIVEWALL_INGEST_KEYS?.split(',')[0]?.trim()
  if (!values.help && !key) {
    throw new UsageError('an ingest key is needed: --key KEY (or LIVEWALL_INGEST_KEY in the environment)')
  }
  let rate: number | 'max' | undefined
  if (values.rate === 'max') rate = 'max'
  else if (values.rate !== undefined) {
    rate = Number(values.rate)
    if (!Number.isFinite(rate) || rate <= 0)
      throw new UsageError(`--rate: "${values.rate}" must be > 0 or max`)
  }
  let url = values.url ?? 'http://127.0.0.1:3000'
  let parsed: URL | undefined
  try {
    parsed = new URL(url)
  } catch {
    parsed = undefined
  }
  // (`localhost:3000` parses, as a URL of scheme "localhost:")
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.host) {
    throw new UsageError(`--url: "${url}" must be an http:// or https:// URL, e.g. http://127.0.0.1:3000`)
  }
  url = parsed.toString()
  const currency = values.currency
  if (currency !== undefined && !/^[A-Z]{3}$/.test(currency)) {
    throw new UsageError(`--currency: "${currency}" is not an ISO 4217 code`)
  }
  const backfillRate = values['backfill-rate'] === undefined ? undefined : Number(values['backfill-rate'])
  if (backfillRate !== undefined && !(backfillRate > 0)) {
    throw new UsageError(`--backfill-rate: "${values['backfill-rate']}" must be > 0`)
  }
  return {
    help: values.help === true,
    json: values.json === true,
    options: {
      url,
      key: key ?? '',
      streams: integer('streams', values.streams, 1, 10_000),
      rate,
      seed: integer('seed', values.seed, 0, 4_294_967_295),
      durationMs: values.duration === undefined ? undefined : parseDuration(values.duration),
      backfill: integer('backfill', values.backfill, 0, 10_000),
      backfillRate,
      dupRate: share('dup-rate', values['dup-rate']),
      lateRate: share('late-rate', values['late-rate']),
      invalidRate: share('invalid-rate', values['invalid-rate']),
      orderRepeatRate: share('order-repeat-rate', values['order-repeat-rate']),
      batch: integer('batch', values.batch, 1, 10_000),
      concurrency: integer('concurrency', values.concurrency, 1, 64),
      currency,
      maxRetries: integer('max-retries', values['max-retries'], 0, 1000),
    },
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      streams: { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      duration: { type: 'string' },
      backfill: { type: 'string' },
      'backfill-rate': { type: 'string' },
      'dup-rate': { type: 'string' },
      'late-rate': { type: 'string' },
      'invalid-rate': { type: 'string' },
      'order-repeat-rate': { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      currency: { type: 'string' },
      'max-retries': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}
