import type { FastifyPluginAsync } from 'fastify'

/** Liveness, readiness and Prometheus metrics: no token (SPEC §4). */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'The process is up (no token)',
        response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } },
      },
    },
    async () => ({ ok: true }),
  )

  const ready = {
    type: 'object',
    properties: { ready: { type: 'boolean' }, reason: { type: 'string' } },
  } as const
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Storage answers and is migrated (no token); 503 until then',
        response: { 200: ready, 503: ready },
      },
    },
    async (_request, reply) => {
      if (!app.storage.migrated)
        return reply.code(503).send({ ready: false, reason: 'storage not reachable or not migrated yet' })
      const ping = await app.clickhouse.ping()
      if (!ping.success) return reply.code(503).send({ ready: false, reason: 'storage does not answer' })
      return { ready: true }
    },
  )

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary:
          'Prometheus text format (no token): ingest rates, batch sizes, commit latency, sockets, errors',
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => {
      const memory = process.memoryUsage()
      const process_metrics =
        `# HELP livewall_process_rss_bytes Resident memory\n# TYPE livewall_process_rss_bytes gauge\nlivewall_process_rss_bytes ${memory.rss}\n` +
        `# HELP livewall_process_heap_used_bytes V8 heap in use\n# TYPE livewall_process_heap_used_bytes gauge\nlivewall_process_heap_used_bytes ${memory.heapUsed}\n`
      return reply.type('text/plain; version=0.0.4').send(app.registry.render() + process_metrics)
    },
  )
}
