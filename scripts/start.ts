import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { buildApp } from '../server/app.ts'
import { issueToken } from '../server/auth/tokens.ts'
import { type Config, ConfigError, ensureDataDir, loadConfig } from '../server/config.ts'
import { demoSecrets } from '../server/demo.ts'
import { listStreams } from '../server/metrics/streams.ts'
import {
  DEMO_SECRETS_FILE,
  dataDirOwner,
  demoTakeOverRefusal,
  foreignEntries,
  someEntries,
} from '../server/storage/data-dir.ts'
import { npmTookOption } from './npm-options.ts'
import { parseCli, UsageError } from './sim/cli.ts'

/**
 * `npm start`: the whole product on one machine. The server with embedded ClickHouse in
 * ./data, the dashboard, and the simulator driving about a dozen live streams; prints a
 * ready-to-open link; Ctrl-C stops everything.
 */
const ROOT = path.join(import.meta.dirname, '..')
const say = (msg: string) => process.stderr.write(`livewall: ${msg}\n`)

const USAGE =
  'npm start: the demo. The server with embedded ClickHouse, the dashboard and simulated live\n' +
  'streams on this machine; prints a link to open. Ctrl-C stops everything.\n\n' +
  'Usage: npm start -- [--fresh] [--streams 12] [--rate 300] [--backfill 6] [--no-simulate]\n' +
  '  --fresh        wipe ./data (DATA_DIR) first: a new key and secret, earlier links answer 401\n' +
  '  --streams N    live streams the simulator drives\n' +
  '  --rate N       simulated events per second\n' +
  '  --backfill N   finished past sessions written while there is none (for replay)\n' +
  '  --no-simulate  the server and dashboard only, no simulated traffic\n' +
  'Environment: PORT (3000), HOST (127.0.0.1), DATA_DIR (./data), and the other variables of\n' +
  '  npm run serve (README.md, "Configuration"), e.g. CURRENCY=EUR, which the simulator sends too;\n' +
  '  not the CLICKHOUSE_* ones (the demo always runs embedded ClickHouse) nor the ingest keys\n' +
  '  and token secret (the demo keeps its own in DATA_DIR/demo-secrets.json).\n'

function usageError(message: string): never {
  say(message)
  process.stderr.write(`\n${USAGE}`)
  process.exit(2)
}

let args: {
  fresh: boolean
  streams: string
  rate: string
  backfill: string
  'no-simulate': boolean
  help: boolean
}
try {
  ;({ values: args } = parseArgs({
    options: {
      fresh: { type: 'boolean', default: false },
      streams: { type: 'string', default: '12' },
      rate: { type: 'string', default: '300' },
      backfill: { type: 'string', default: '6' },
      'no-simulate': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }))
} catch (error) {
  usageError((error as Error).message)
}
if (args.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
// `npm start --fresh` (no `--`): npm keeps the option for itself and passes nothing on, so
// the demo would start on the old data as if asked to. (`--no-simulate` is npm's `simulate`.)
if (process.env.npm_config_simulate !== undefined)
  usageError('npm took --no-simulate for itself; pass it after --, as in: npm start -- --no-simulate')
const took = npmTookOption(['fresh', 'streams', 'rate', 'backfill'], 'npm start')
if (took) usageError(took)

/**
 * What the simulator will be given, checked by its own rules before anything starts. It
 * sends the server's deployment currency (CURRENCY): orders naming another are rejected.
 */
function simulatorArgs(url: string, backfill: string, currency: string): string[] {
  return [
    '--url',
    url,
    '--currency',
    currency,
    '--streams',
    args.streams,
    '--rate',
    args.rate,
    '--backfill',
    backfill,
    '--backfill-rate',
    '6',
  ]
}

/** The newest modification time (ms) of the files under `paths` (directories walked). */
function newestMtime(paths: string[]): number {
  let newest = 0
  for (const p of paths) {
    if (!existsSync(p)) continue
    const stat = statSync(p)
    if (stat.isDirectory()) {
      const entries = readdirSync(p).map((name) => path.join(p, name))
      newest = Math.max(newest, stat.mtimeMs, newestMtime(entries))
    } else newest = Math.max(newest, stat.mtimeMs)
  }
  return newest
}

/**
 * Builds the dashboard when it has no build yet, or when its sources (or the dependencies)
 * changed since the build: after a `git pull`, the demo would otherwise serve the old one.
 */
async function buildDashboardIfStale(): Promise<void> {
  // A dashboard built elsewhere is served as it is; rebuilding web/dist would serve nothing.
  if (process.env.LIVEWALL_WEB_DIST) return
  const built = path.join(ROOT, 'web', 'dist', 'index.html')
  const web = (name: string) => path.join(ROOT, 'web', name)
  const sources = [
    web('src'),
    web('public'),
    web('index.html'),
    web('vite.config.ts'),
    path.join(ROOT, 'package-lock.json'),
  ]
  if (existsSync(built) && statSync(built).mtimeMs >= newestMtime(sources)) return
  say(
    existsSync(built)
      ? 'building the dashboard (its sources changed since the last build)…'
      : 'building the dashboard (first start only)…',
  )
  const started = Date.now()
  const { build } = await import('vite')
  await build({ configFile: path.join(ROOT, 'web', 'vite.config.ts'), logLevel: 'warn' })
  say(`dashboard built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

/**
 * Why `--fresh` must not wipe `dir`, if it must not: it holds files Livewall did not make
 * (DATA_DIR pointed at the wrong place), or a running Livewall has it open.
 */
function wipeRefusal(dir: string): string | undefined {
  const foreign = foreignEntries(dir)
  // What the demo writes at its first start: proof the directory is one (engine directories
  // such as data/ or tmp/ alone could be anyone's).
  if (foreign.length === 0 && readdirSync(dir).length > 0 && !existsSync(path.join(dir, DEMO_SECRETS_FILE))) {
    return `${dir} has no ${DEMO_SECRETS_FILE}, so it is not a demo's data dir; not wiping it. Delete it yourself if it is to go`
  }
  if (foreign.length > 0) {
    return `${dir} holds files Livewall did not make (${someEntries(foreign)}); not wiping it. Point DATA_DIR at a Livewall data dir, or delete it yourself`
  }
  const owner = dataDirOwner(dir)
  return owner === undefined
    ? undefined
    : `${dir} is in use by a running Livewall (process ${owner}); stop it first`
}

/** Exits 2 with `error`'s message when it is a configuration error (and rethrows anything else). */
function configurationError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error
  say(`configuration error: ${error.message}`)
  process.exit(2)
}

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.DATA_DIR || path.join(ROOT, 'data'))
  // The demo is the embedded engine in DATA_DIR (SPEC §7), whatever a shell left set for
  // `npm run serve`.
  const serverVariables = Object.keys(process.env).filter((name) => name.startsWith('CLICKHOUSE_'))
  const env = { ...process.env }
  for (const name of serverVariables) delete env[name]
  // Everything is checked before anything is wiped, made or built: a mistyped variable must
  // leave no data dir or secrets file behind. The demo's own key and secret come later, from
  // DATA_DIR (loadConfig makes up stand-ins meanwhile).
  let config: Config
  try {
    config = loadConfig({
      ...env,
      LIVEWALL_DEMO: '1',
      LIVEWALL_INGEST_KEYS: '',
      LIVEWALL_TOKEN_SECRET: '',
      DATA_DIR: dataDir,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    })
    // A DATA_DIR that is a file, or that this user cannot write, is said so before --fresh
    // looks inside it.
    if (existsSync(dataDir)) ensureDataDir(dataDir)
  } catch (error) {
    configurationError(error)
  }
  if (!args['no-simulate']) {
    try {
      parseCli(simulatorArgs('http://localhost', args.backfill, config.currency), {
        LIVEWALL_INGEST_KEY: 'checking-options',
      })
    } catch (error) {
      if (!(error instanceof UsageError)) throw error
      usageError(error.message)
    }
  }
  if (args.fresh && existsSync(dataDir)) {
    const refusal = wipeRefusal(dataDir)
    if (refusal) {
      say(`--fresh: ${refusal}`)
      process.exit(2)
    }
    say(`--fresh: wiping ${dataDir}…`)
    const wipeStarted = Date.now()
    rmSync(dataDir, { recursive: true, force: true })
    say(`--fresh: wiped in ${((Date.now() - wipeStarted) / 1000).toFixed(1)} s`)
  }
  const takeOver = demoTakeOverRefusal(dataDir)
  if (takeOver) {
    say(takeOver)
    process.exit(2)
  }
  try {
    ensureDataDir(dataDir)
  } catch (error) {
    configurationError(error)
  }
  // Written before the engine writes anything into DATA_DIR: it is what marks the directory
  // as a demo's (for --fresh), even after a first start interrupted half-way.
  const { secrets, file: secretsFile } = demoSecrets(dataDir)
  config = { ...config, ingestKeys: [secrets.ingestKey], tokenSecret: secrets.tokenSecret }
  await buildDashboardIfStale()

  if (serverVariables.length > 0)
    say(`ignoring ${serverVariables.join(', ')}: the demo runs embedded ClickHouse`)
  say(`starting the server with embedded ClickHouse in ${dataDir}`)
  say(`the demo's ingest key and token secret are in ${secretsFile}`)
  const app = await buildApp({ config })
  let address: string
  try {
    address = await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    say(
      `cannot listen on ${config.host}:${config.port} (${(error as Error).message}); set PORT to another port`,
    )
    await app.close()
    process.exit(1)
  }
  const token = issueToken(config.tokenSecret, { role: 'ops', ttlMs: 7 * 86_400_000 })
  const base = address.replace('127.0.0.1', 'localhost')
  process.stdout.write(`\n  Livewall is running. Open the wall:\n\n    ${base}/#token=${token}\n\n`)
  process.stdout.write(`  API docs: ${base}/docs    ·    Ctrl-C stops everything\n\n`)

  const stop = new AbortController()
  let stopping = false
  let stopSignal = 'SIGINT'
  let firstSignalAt = 0
  const shutdown = async (signal: string) => {
    // Under `npm start`, tsx relays the terminal's Ctrl-C to this process a second time
    // right after the first: that is not the user pressing it again.
    if (stopping && Date.now() - firstSignalAt < 1500) return
    stopSignal = signal
    if (stopping) {
      say('second interrupt: exiting now')
      process.exit(130)
    }
    stopping = true
    firstSignalAt = Date.now()
    say(`${signal}: ${args['no-simulate'] ? 'flushing' : 'stopping the simulator and flushing'} the server…`)
    stop.abort()
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))

  let simulator: ChildProcess | undefined
  if (!args['no-simulate']) {
    // Backfill only while there is no finished session to replay yet.
    const ended = await listStreams(app.clickhouse, { status: 'ended', limit: 1, now: Date.now() })
    const backfill = ended.length > 0 ? 0 : Number(args.backfill)
    if (backfill > 0) {
      // (not "first start": a first start with --no-simulate wrote none)
      const sessions = backfill === 1 ? 'session' : 'sessions'
      say(`no finished session yet: writing ${backfill} finished past ${sessions} for the replay view`)
    }
    say(`simulating ${args.streams} live streams at about ${args.rate} events/s`)
    // Its own process: generating traffic never takes the server's event loop.
    simulator = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'scripts', 'simulate.ts'),
        ...simulatorArgs(address, String(backfill), config.currency),
      ],
      {
        cwd: ROOT,
        // ipc: the simulator stops when this process goes, even by SIGKILL
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, LIVEWALL_INGEST_KEY: secrets.ingestKey },
      },
    )
    simulator.on('exit', (code, signal) => {
      if (!stop.signal.aborted) say(`the simulator stopped (${signal ?? code}); the server keeps running`)
    })
  }
  if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener('abort', resolve))
  if (simulator && simulator.exitCode === null && simulator.signalCode === null) {
    const child = simulator
    const exited = new Promise((resolve) => child.once('exit', resolve))
    // A terminal's Ctrl-C reaches the simulator too (same process group) and it stops by
    // itself, sending what it holds; a second SIGINT would abort that. So wait first.
    const nudge = setTimeout(() => child.kill('SIGINT'), stopSignal === 'SIGINT' ? 5_000 : 0)
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(nudge)
    clearTimeout(force)
  }
  await app.close()
  say('stopped cleanly')
  process.exit(0)
}

main().catch((error) => {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
