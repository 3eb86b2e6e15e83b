import { buildApp } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'
import { missingNodeFlags } from './node-flags.ts'

/** `npm run serve`: the server alone, configured by environment (SPEC §7). */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>
  try {
    config = loadConfig()
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
  const address = await app.listen({ port: config.port, host: config.host })
  app.log.info(`listening on ${address}`)
  // The parent (npm start, tests) reads this line to learn the port.
  process.stdout.write(`LIVEWALL_LISTENING ${address}\n`)
}

main().catch((error) => {
  console.error('livewall: failed to start:', error instanceof Error ? error.message : error)
  process.exit(1)
})
