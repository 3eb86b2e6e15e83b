import type { IncomingMessage, ServerResponse } from 'node:http'
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

type Directives = Record<string, Iterable<string | ((req: IncomingMessage, res: ServerResponse) => string)>>

/** The same host over WebSocket, for Socket.IO: older Safari does not let 'self' cover ws:/wss:. */
function sameOriginSockets(req: IncomingMessage): string {
  const host = req.headers.host ?? ''
  // The Host header is the client's; anything but a plain host[:port] would be a CSP injection.
  return /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)
    ? `ws://${host} wss://${host}`
    : "'self'"
}

/**
 * The dashboard (a Vite build of the Svelte app: web/dist/index.html loads one module script
 * and one stylesheet, no inline code) needs its own origin and nothing else.
 * https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy
 */
export const APP_CSP: Directives = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'"],
  'connect-src': ["'self'", sameOriginSockets],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  // No upgrade-insecure-requests: a wall screen on a LAN is often served over plain http.
}

/** Swagger UI (/docs) sets inline styles and draws its icons from data: URLs; scripts stay 'self'. */
export const DOCS_CSP: Directives = {
  ...APP_CSP,
  'style-src': ["'self'", "'unsafe-inline'"],
  'connect-src': ["'self'"],
}

/**
 * Security headers (helmet) on every answer Fastify makes, and CORS closed unless
 * LIVEWALL_CORS_ORIGINS names the origins allowed to call the API from a browser. Register
 * it before other plugins: its onRoute hook gives /docs its own policy.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.addHook('onRoute', (route) => {
      if (route.url === '/docs' || route.url.startsWith('/docs/')) {
        route.config = {
          ...(route.config as object),
          helmet: { contentSecurityPolicy: { useDefaults: false, directives: DOCS_CSP } },
        } as typeof route.config
      }
    })
    await app.register(helmet, {
      contentSecurityPolicy: { useDefaults: false, directives: APP_CSP },
      // Tokens must not leak to other sites through the Referer header.
      referrerPolicy: { policy: 'no-referrer' },
      xFrameOptions: { action: 'deny' },
      crossOriginResourcePolicy: { policy: 'same-origin' },
    })

    const origins = app.config.corsOrigins
    await app.register(cors, {
      // false: no Access-Control-* headers at all, so browsers keep other origins out.
      origin: origins.length > 0 ? origins : false,
      methods: ['GET', 'POST'],
      allowedHeaders: ['Authorization', 'Content-Type'],
      exposedHeaders: ['Retry-After'],
      // Bearer tokens in a header, never cookies: credentials stay off.
      credentials: false,
      maxAge: 600,
      strictPreflight: true,
    })
  },
  { name: 'security' },
)
