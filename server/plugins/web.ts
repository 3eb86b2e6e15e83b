import { existsSync, readFileSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The dashboard's index.html, for a browser that asks for a page no route serves. */
    dashboardPage: string | null
  }
}

export interface WebPluginOptions {
  /** the dashboard's production build (`npm run build` → web/dist) */
  distDir: string
}

/** The dashboard's client-side routes: each answers index.html and the app routes itself. */
export const SPA_ROUTES = ['/', '/streams', '/stream/*', '/replay/*', '/quarantine'] as const

// Vite names everything under assets/ by content hash: a changed file is a new URL, so those
// can be cached for a year. index.html (and the rest) must be revalidated, or a deploy would
// leave browsers on the old bundle.
const HASHED_ASSET_CACHE = 'public, max-age=31536000, immutable'
const REVALIDATE = 'no-cache'

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Livewall — dashboard not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>The dashboard is not built</h1>
<p>Run <code>npm run build</code> and reload this page (or use <code>npm run dev</code> for the dev server).
The API (<code>/v1</code>), the socket and <a href="/docs">/docs</a> work without it.</p>
</body></html>`

/**
 * Serves the dashboard (web/dist) at `/`: hashed assets with a long cache, index.html for the
 * client-side routes, revalidated on every load. /v1, /socket.io and /docs never get index.html:
 * they are not client routes, and a missing file falls through to the app's 404 (JSON, or
 * this index.html for a browser asking for a page: see `dashboardPage`).
 */
export default fp(
  async (app: FastifyInstance, opts: WebPluginOptions) => {
    const distDir = resolve(opts.distDir)
    const indexFile = join(distDir, 'index.html')
    const built = existsSync(indexFile)
    app.decorate('dashboardPage', built ? readFileSync(indexFile, 'utf8') : null)

    if (!built) {
      app.log.warn(
        { distDir },
        'dashboard not built: run `npm run build` to serve it at / (a placeholder page is served meanwhile)',
      )
      const placeholder = (_request: unknown, reply: FastifyReply) =>
        reply.header('cache-control', REVALIDATE).type('text/html; charset=utf-8').send(NOT_BUILT_PAGE)
      for (const url of SPA_ROUTES) app.get(url, { schema: { hide: true } }, placeholder)
      return
    }

    const assetsDir = join(distDir, 'assets') + sep
    // Registered in its own context so `reply.sendFile` cannot clash with another
    // @fastify/static instance (swagger-ui registers one too).
    await app.register(async (web) => {
      await web.register(fastifyStatic, {
        root: distDir,
        prefix: '/',
        index: false,
        redirect: false,
        wildcard: true,
        cacheControl: false,
        setHeaders: (res, path) => {
          res.setHeader('cache-control', path.startsWith(assetsDir) ? HASHED_ASSET_CACHE : REVALIDATE)
        },
      })
      const indexHtml = (_request: unknown, reply: FastifyReply) => reply.sendFile('index.html')
      // Pages of the dashboard, not the API: left out of /docs.
      for (const url of SPA_ROUTES) web.get(url, { schema: { hide: true } }, indexHtml)
    })
  },
  { name: 'web', fastify: '5.x' },
)
