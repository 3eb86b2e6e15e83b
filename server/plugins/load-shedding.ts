import underPressure, { type FastifyUnderPressureOptions } from '@fastify/under-pressure'
import type { FastifyInstance, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { errorBody } from '../errors.ts'

const RETRY_AFTER_SECONDS = 2
const SAMPLE_INTERVAL_MS = 500

type UnderPressureHandler = NonNullable<FastifyUnderPressureOptions['pressureHandler']>

/**
 * Whole-process load shedding for the routes of the context it is registered in (the /v1
 * API): when the event loop lags or the heap nears its limit, requests are answered at once
 * with 503 + Retry-After instead of queueing behind the work already in hand. The ingest
 * route sheds on its own too, by events waiting for storage and bytes being received.
 * https://github.com/fastify/under-pressure
 */
export default fp(
  async (app: FastifyInstance) => {
    const { eventLoopDelayMs, heapUsedBytes } = app.config.shed
    if (eventLoopDelayMs === 0 && heapUsedBytes === 0) return
    const shed = app.registry.counter(
      'livewall_load_shed_total',
      'API requests answered 503 because the process was saturated',
    )
    // Booting (loading the engine, migrating) blocks the loop for long stretches; the first
    // samples after it would shed a server that is in fact idle.
    let delayCountsFrom = Number.POSITIVE_INFINITY
    app.addHook('onReady', async () => {
      delayCountsFrom = Date.now() + 2 * SAMPLE_INTERVAL_MS
    })
    await app.register(underPressure, {
      maxEventLoopDelay: eventLoopDelayMs,
      maxHeapUsedBytes: heapUsedBytes,
      sampleInterval: SAMPLE_INTERVAL_MS,
      // A handler that returns a value has it sent as the answer (and the route is skipped);
      // one that returns undefined lets the request through.
      pressureHandler: ((_request: unknown, reply: FastifyReply, type: string) => {
        if (type === underPressure.TYPE_EVENT_LOOP_DELAY && Date.now() < delayCountsFrom) return undefined
        shed.inc({ reason: type })
        reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS))
        return errorBody('overloaded', `the server is saturated (${type}); retry in ${RETRY_AFTER_SECONDS} s`)
      }) as unknown as UnderPressureHandler,
    })
  },
  { name: 'load-shedding' },
)
