import { buildApp } from './app.ts'
import { issueToken } from './auth/tokens.ts'
import { ConfigError, dataDirOf, ensureDataDir, loadConfig } from './config.ts'
import { demoSecrets } from './demo.ts'
import { missingNodeFlags } from './node-flags.ts'

/**
 * LIVEWALL_DEMO=1 without a key or secret: the demo's own, kept in DATA_DIR, so a producer
 * can read the key from a file and the printed link keeps working after a restart. `note`
 * says which values came from that file (and only those).
 */
function demoEnv(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; note?: string } {
  if (env.LIVEWALL_DEMO !== '1' || (env.LIVEWALL_INGEST_KEYS && env.LIVEWALL_TOKEN_SECRET)) return { env }
  const { secrets, file } = demoSecrets(dataDirOf(env))
  let note = `the ingest key and token secret are in ${file}`
  if (env.LIVEWALL_TOKEN_SECRET)
    note = `the ingest key is in ${file} (the token secret is LIVEWALL_TOKEN_SECRET)`
  else if (env.LIVEWALL_INGEST_KEYS)
    note = `the token secret is in ${file} (the ingest keys are LIVEWALL_INGEST_KEYS)`
  return {
    env: {
      ...env,
      LIVEWALL_INGEST_KEYS: env.LIVEWALL_INGEST_KEYS || secrets.ingestKey,
      LIVEWALL_TOKEN_SECRET: env.LIVEWALL_TOKEN_SECRET || secrets.tokenSecret,
    },
    note,
  }
}

const HELP = `npm run serve: the Livewall server alone (ingest, read API, live push, dashboard),
configured by environment only (README.md, "Configuration", lists every variable):

  LIVEWALL_INGEST_KEYS=k1,k2 LIVEWALL_TOKEN_SECRET=… PORT=3000 npm run serve

It refuses to start without ingest keys and a token secret unless LIVEWALL_DEMO=1.
SIGINT / SIGTERM stop it after the writes waiting for storage are flushed.
`

/** `npm run serve`: the server alone, configured by environment (SPEC §7). */
async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  if (argv.length > 0) {
    console.error(
      `livewall: npm run serve takes no arguments (got ${argv.join(' ').slice(0, 80)}); configure it by environment, e.g. PORT=3001 npm run serve`,
    )
    process.exit(2)
  }
  let config: ReturnType<typeof loadConfig>
  let demoNote: string | undefined
  try {
    // Checked before DATA_DIR or the demo's secrets file is made: a mistyped variable must
    // leave nothing behind (with LIVEWALL_DEMO=1, stand-ins for the demo's own are made up).
    loadConfig(process.env)
    ensureDataDir(dataDirOf())
    const demo = demoEnv(process.env)
    demoNote = demo.note
    config = loadConfig(demo.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`livewall: configuration error: ${error.message}`)
      process.exit(2)
    }
    throw error
  }
  console.error(
    `livewall: starting (storage: ${config.clickhouseUrl ? `ClickHouse server ${new URL(config.clickhouseUrl).host}` : `embedded chDB in ${config.dataDir}`}, database ${config.database})`,
  )
  const missing = missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS)
  if (missing.length > 0) {
    console.error(
      `livewall: note: started without ${missing.join(' ')} (npm run serve gives it); the garbage collector will take more CPU at high ingest rates`,
    )
  }
  const app = await buildApp({ config })
  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: flushing the write buffer')
    const force = setTimeout(() => {
      app.log.error('shutdown took over 20 s; exiting')
      process.exit(1)
    }, 20_000)
    force.unref()
    app.close().then(
      () => {
        app.log.info('stopped cleanly')
        process.exit(0)
      },
      (err) => {
        app.log.error({ err }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  let address: string
  try {
    address = await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const hint = code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL' ? 'check HOST' : 'set PORT to another port'
    console.error(
      `livewall: cannot listen on ${config.host}:${config.port} (${(error as Error).message}); ${hint}`,
    )
    // The embedded engine is closed before the process ends (exiting with it open could crash).
    await app.close()
    process.exit(1)
  }
  app.log.info(`listening on ${address}`)
  // The parent (npm start, tests) reads this line to learn the port.
  process.stdout.write(`LIVEWALL_LISTENING ${address}\n`)
  if (demoNote) {
    const token = issueToken(config.tokenSecret, { role: 'ops', ttlMs: 7 * 86_400_000 })
    console.error(
      `livewall: LIVEWALL_DEMO=1: ${demoNote}\n` +
        `livewall: open ${address.replace('127.0.0.1', 'localhost')}/#token=${token}`,
    )
  }
}

main().catch((error) => {
  console.error('livewall: failed to start:', error instanceof Error ? error.message : error)
  process.exit(1)
})
