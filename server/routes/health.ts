import type { FastifyPluginAsync } from 'fastify'

/** Liveness, readiness and Prometheus metrics: no token (SPEC §4). */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }))

  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    if (!app.storage.migrated)
      return reply.code(503).send({ ready: false, reason: 'storage not reachable or not migrated yet' })
    const ping = await app.clickhouse.ping()
    if (!ping.success) return reply.code(503).send({ ready: false, reason: 'storage does not answer' })
    return { ready: true }
  })

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const memory = process.memoryUsage()
    const process_metrics =
      `# HELP livewall_process_rss_bytes Resident memory\n# TYPE livewall_process_rss_bytes gauge\nlivewall_process_rss_bytes ${memory.rss}\n` +
      `# HELP livewall_process_heap_used_bytes V8 heap in use\n# TYPE livewall_process_heap_used_bytes gauge\nlivewall_process_heap_used_bytes ${memory.heapUsed}\n`
    return reply.type('text/plain; version=0.0.4').send(app.registry.render() + process_metrics)
  })
}
