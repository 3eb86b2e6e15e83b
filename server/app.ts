import { type Server, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, {
  type FastifyHttpOptions,
  type FastifyInstance,
  type FastifyReply,
  type FastifySchemaValidationError,
  type FastifyServerOptions,
  LogController,
} from 'fastify'
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
import loadSheddingPlugin from './plugins/load-shedding.ts'
import securityPlugin from './plugins/security.ts'
import webPlugin from './plugins/web.ts'
import { healthRoutes } from './routes/health.ts'
import { ingestRoutes } from './routes/ingest.ts'
import { readRoutes } from './routes/read.ts'
import type { FaultInjector } from './storage/connection.ts'
import { isStorageUnreachable, serializeError } from './storage/unreachable.ts'

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
    // Every 401 says how to authenticate (RFC 6750 §3), whichever check refused.
    if (error.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="livewall"')
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
              : status === 403
                ? 'forbidden'
                : 'bad_request'
    const message =
      status === 415
        ? 'Content-Type must be application/x-ndjson or application/json'
        : status === 413
          ? `the body is larger than ${this.config.ingest.maxBodyBytes} bytes`
          : (fastifyError.message ?? 'bad request')
    return reply.code(status).send(errorBody(code, message))
  }
  if (isStorageUnreachable(error) || this.storage?.migrated === false) {
    request.log.warn({ err: error }, 'storage unreachable')
    return reply
      .code(503)
      .header('retry-after', '2')
      .send(errorBody('storage_unavailable', 'storage is not reachable; retry'))
  }
  request.log.error({ err: error }, 'unhandled error')
  return reply.code(500).send(errorBody('internal', 'internal error; it has been logged'))
}

/** A page a browser navigates to (it asks for HTML), outside the API's own paths. */
function wantsPage(path: string, accept: string | undefined): boolean {
  if (!accept?.includes('text/html')) return false
  return !/^\/(v1|socket\.io|docs|metrics|healthz|readyz)(\/|$)/.test(path)
}

/** The whole application as a plugin: what main.ts listens with and what tests build. */
export const livewall = fp<AppOptions>(
  async (app, opts) => {
    app.decorate('config', opts.config)
    app.decorate('clock', opts.clock ?? systemClock)
    app.decorate('registry', new Registry())
    app.setErrorHandler(errorHandler)
    // Every answer by route pattern and status (bounded: patterns, not paths), so a dashboard
    // hammered by 401s after a secret rotation, or a client looping on 400s, shows in
    // /metrics; and how long the read API takes, where ingest has its own instruments.
    const answered = app.registry.counter(
      'livewall_http_requests_total',
      'HTTP answers by route pattern ("unmatched" for no route), method and status',
    )
    const readSeconds = app.registry.histogram(
      'livewall_read_seconds',
      'Time to answer a read API request (GET /v1/...), any status',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    )
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      answered.inc({ route, method: request.method, status: String(reply.statusCode) })
      if (request.method === 'GET' && route.startsWith('/v1/')) readSeconds.observe(reply.elapsedTime / 1000)
    })
    // Fastify closes the connection when it stops reading a body (e.g. past the size
    // limit). Closing a socket with unread bytes makes the kernel send a reset, and a
    // client still sending then often reads ECONNRESET instead of the 413 (seen in CI).
    // Node keeps reading and discarding the rest of a request it answered early, the same
    // as for a 401 before the body: keep the connection for that, bounded by the request
    // deadline, so the answer arrives.
    app.addHook('onSend', async (request, reply) => {
      if (reply.statusCode === 413 && !request.raw.complete && reply.getHeader('connection') === 'close') {
        reply.removeHeader('connection')
      }
    })
    // Which methods each route pattern answers, for a 405 that names them (wildcard routes,
    // the dashboard's files, are left out: they would make every path look like a GET).
    const patterns: { pattern: RegExp; methods: Set<string> }[] = []
    app.addHook('onRoute', (route) => {
      if (route.url.includes('*')) return
      const source = route.url
        .split('/')
        .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('/')
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      const pattern = new RegExp(`^${source}/?$`)
      const known = patterns.find((p) => p.pattern.source === pattern.source)
      if (known) for (const m of methods) known.methods.add(m)
      else patterns.push({ pattern, methods: new Set(methods) })
    })
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0]!
      // (every pattern the path fits: a static segment and a parameter may both)
      const allowed = new Set(patterns.filter((p) => p.pattern.test(path)).flatMap((p) => [...p.methods]))
      if (allowed.size > 0 && !allowed.has(request.method)) {
        const allow = [...allowed].sort().join(', ')
        return reply
          .code(405)
          .header('allow', allow)
          .send(
            errorBody('method_not_allowed', `${request.method} is not allowed on ${path}; allowed: ${allow}`),
          )
      }
      // A browser that opens a mistyped link gets the dashboard, which says "Page not found"
      // and links back; API clients keep the JSON answer.
      const page = app.dashboardPage
      if (page && request.method === 'GET' && wantsPage(path, request.headers.accept)) {
        return reply.code(404).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(page)
      }
      return reply.code(404).send(errorBody('not_found', `no route ${request.method} ${path}`))
    })

    // First: its hooks must see every route registered after it (/docs included).
    await app.register(securityPlugin)
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
    await app.register(rateLimit, { global: false })
    await app.register(clickhousePlugin, { config: opts.config, faults: opts.faults })
    await app.register(authPlugin)
    await app.register(ingestPlugin)
    await app.register(healthRoutes)
    // The API sheds load when the process is saturated; health checks and the dashboard do not.
    await app.register(async (api) => {
      await api.register(loadSheddingPlugin)
      await api.register(readRoutes)
      await api.register(ingestRoutes)
    })
    await app.register(livePlugin)
    await app.register(webPlugin, { distDir: opts.config.webDistDir })
  },
  { name: 'livewall' },
)

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (a timeout, headers over
 * the limit, bytes that are not HTTP), answered in SPEC's error format. The error carries
 * the raw bytes received (`rawPacket`), which may hold a key: only its code is logged.
 */
function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Duplex) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'the request was not received in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', `the request headers exceed ${this.config.http.maxHeaderBytes} bytes`]
        : [400, 'bad_request', 'the request is not valid HTTP/1.1']
  this.log.debug({ code: error.code, status }, 'client error')
  // A response already under way (say a 401 sent before a slow body finished) is not interrupted.
  const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && !response?.headersSent) {
    const body = JSON.stringify(errorBody(code, message))
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

/**
 * Fastify's validation message, except that a value outside an enum names the values
 * allowed: ajv's own text ("must be equal to one of the allowed values") leaves the client
 * guessing.
 */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const text = errors.map((e) => {
    const allowed =
      e.keyword === 'enum' ? (e.params as { allowedValues?: unknown[] }).allowedValues : undefined
    return `${dataVar}${e.instancePath} ${allowed ? `must be one of ${allowed.join(', ')}` : e.message}`
  })
  return new Error(text.join(', '))
}

/** Fastify with the server options production uses (limits, timeouts, redacted logs). */
export function serverOptions(
  config: Config,
  logger: FastifyServerOptions['logger'] = { level: config.logLevel },
): FastifyHttpOptions<Server> {
  return {
    logger:
      logger === false
        ? false
        : {
            ...(typeof logger === 'object' ? logger : {}),
            // A storage that is down logs one line per retry, not a stack trace.
            serializers: { err: serializeError },
            // Keys and tokens travel in headers; they never reach a log line.
            redact: {
              paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
              censor: '[redacted]',
            },
          },
    logController: new LogController({ disableRequestLogging: true }),
    schemaErrorFormatter: formatSchemaErrors,
    bodyLimit: config.ingest.maxBodyBytes,
    // Slow clients cannot hold a connection forever (slowloris): headers, the whole request,
    // an idle keep-alive and a silent socket each have a deadline.
    http: {
      headersTimeout: config.http.headersTimeoutMs,
      requestTimeout: config.http.requestTimeoutMs,
      // How often Node checks those two deadlines (its default, 30 s, would add up to 30 s to them).
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(
          30_000,
          Math.floor(Math.min(config.http.headersTimeoutMs, config.http.requestTimeoutMs) / 4),
        ),
      ),
      maxHeaderSize: config.http.maxHeaderBytes,
    },
    requestTimeout: config.http.requestTimeoutMs,
    connectionTimeout: config.http.idleTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    clientErrorHandler,
    // A stream_id is up to 128 characters: percent-encoded, up to 9 bytes each.
    routerOptions: { maxParamLength: 128 * 9 },
    // Malformed URLs (bad percent-encoding) in SPEC's error format, not Fastify's.
    frameworkErrors: (error, _request, reply) => {
      const status = error.statusCode ?? 400
      ;(reply as FastifyReply)
        .code(status)
        .send(errorBody(status === 414 ? 'uri_too_long' : 'bad_url', error.message))
    },
    trustProxy: false,
    return503OnClosing: true,
  }
}

export async function buildApp(
  options: AppOptions & { logger?: FastifyServerOptions['logger'] },
): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(options.config, options.logger)).withTypeProvider<TypeBoxTypeProvider>()
  // Thousands of idle sockets cost little, but not without bound; 0 = no limit.
  if (options.config.http.maxConnections > 0) app.server.maxConnections = options.config.http.maxConnections
  await app.register(livewall, options)
  await app.ready()
  return app
}
