import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from './config.ts'
import { ApiError, errorBody } from './errors.ts'
import { BodyError } from './ingest/parse.ts'
import { IngestUnavailableError } from './ingest/writer.ts'
import { Registry } from './observability/prometheus.ts'
import authPlugin from './plugins/auth.ts'
import clickhousePlugin from './plugins/clickhouse.ts'
import ingestPlugin from './plugins/ingest.ts'
import livePlugin from './plugins/live.ts'
import securityPlugin from './plugins/security.ts'
import webPlugin from './plugins/web.ts'
import { healthRoutes } from './routes/health.ts'
import { ingestRoutes } from './routes/ingest.ts'
import { readRoutes } from './routes/read.ts'
import type { FaultInjector } from './storage/connection.ts'

export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

export interface AppOptions {
  config: Config
  clock?: Clock
  /** Tests only: fail chosen storage operations at the connection boundary. */
  faults?: FaultInjector
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    clock: Clock
    registry: Registry
  }
}

/** Maps every error to SPEC's `{ error: { code, message } }`; never a 5xx for a client's mistake. */
function errorHandler(
  this: FastifyInstance,
  error: unknown,
  request: import('fastify').FastifyRequest,
  reply: import('fastify').FastifyReply,
) {
  if (error instanceof ApiError) {
    return reply.code(error.statusCode).headers(error.headers).send(errorBody(error.code, error.message))
  }
  if (error instanceof BodyError)
    return reply.code(error.statusCode).send(errorBody(error.code, error.message))
  if (error instanceof IngestUnavailableError) {
    return reply
      .code(503)
      .header('retry-after', String(error.retryAfterSeconds))
      .send(errorBody(error.code, error.message))
  }
  const fastifyError = error as { statusCode?: number; code?: string; message?: string; validation?: unknown }
  const status = fastifyError.statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    const code =
      status === 413
        ? 'payload_too_large'
        : status === 415
          ? 'unsupported_media_type'
          : fastifyError.validation
            ? 'invalid_request'
            : status === 429
              ? 'rate_limited'
              : 'bad_request'
    const message =
      status === 415
        ? 'Content-Type must be application/x-ndjson or application/json'
        : status === 413
          ? `the body is larger than ${this.config.ingest.maxBodyBytes} bytes`
          : (fastifyError.message ?? 'bad request')
    return reply.code(status).send(errorBody(code, message))
  }
  request.log.error({ err: error }, 'unhandled error')
  return reply.code(500).send(errorBody('internal', 'internal error; it has been logged'))
}

/** The whole application as a plugin: what main.ts listens with and what tests build. */
export const livewall = fp<AppOptions>(
  async (app, opts) => {
    app.decorate('config', opts.config)
    app.decorate('clock', opts.clock ?? systemClock)
    app.decorate('registry', new Registry())
    app.setErrorHandler(errorHandler)
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
    )

    await app.register(swagger, {
      openapi: {
        info: {
          title: 'Livewall API',
          version: '1.0.0',
          description: 'Live-shopping analytics. See SPEC.md and docs/API.md.',
        },
        components: {
          securitySchemes: {
            ingestKey: {
              type: 'http',
              scheme: 'bearer',
              description: 'an ingest key (LIVEWALL_INGEST_KEYS)',
            },
            readToken: { type: 'http', scheme: 'bearer', description: 'a read token (npm run token)' },
          },
        },
      },
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
    await app.register(securityPlugin)
    await app.register(rateLimit, { global: false })
    await app.register(clickhousePlugin, { config: opts.config, faults: opts.faults })
    await app.register(authPlugin)
    await app.register(ingestPlugin)
    await app.register(healthRoutes)
    await app.register(readRoutes)
    await app.register(ingestRoutes)
    await app.register(livePlugin)
    await app.register(webPlugin, { distDir: opts.config.webDistDir })
  },
  { name: 'livewall' },
)

/** Fastify with the server options production uses (limits, timeouts, redacted logs). */
export function serverOptions(
  config: Config,
  logger: FastifyServerOptions['logger'] = { level: config.logLevel },
): FastifyServerOptions {
  return {
    logger:
      logger === false
        ? false
        : {
            ...(typeof logger === 'object' ? logger : {}),
            // Keys and tokens travel in headers; they never reach a log line.
            redact: {
              paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
              censor: '[redacted]',
            },
          },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.ingest.maxBodyBytes,
    // Slow clients cannot hold a request open forever.
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 65_000,
    trustProxy: false,
    return503OnClosing: true,
  }
}

export async function buildApp(
  options: AppOptions & { logger?: FastifyServerOptions['logger'] },
): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(options.config, options.logger)).withTypeProvider<TypeBoxTypeProvider>()
  // A client must finish sending its headers quickly (slowloris).
  app.server.headersTimeout = 10_000
  await app.register(livewall, options)
  await app.ready()
  return app
}
