// What every view shares: the token, who it belongs to, the HTTP client, the one socket, the
// connection state, and the current location (a tiny router over the history API).

import { type Api, ApiError, createApi, isTokenErrorCode, type TokenErrorCode } from './lib/api.ts'
import { type ConnectionState, connectLive, type LiveClient } from './lib/live.ts'
import { parseRoute, type Route } from './lib/route.ts'
import { resolveToken, takeTokenFromHash } from './lib/token.ts'
import type { Me } from './lib/types.ts'

export const session = $state({
  token: null as string | null,
  /** set once the token is refused: the app shows a full-page "ask for a new link" */
  tokenError: null as TokenErrorCode | null,
  me: null as Me | null,
  /** deployment currency; the server may announce it in /v1/me as `currency` */
  currency: 'USD',
  connection: 'connecting' as ConnectionState,
  /** when the wall last received its numbers (epoch ms): what an expired link froze */
  lastDataAt: null as number | null,
  /** the server's clock minus this screen's, as last seen in an answer (ms, ±1 s) */
  clockOffsetMs: 0,
})

export const nav = $state({ path: '/', search: '' })

export const api: Api = createApi({
  token: () => session.token,
  // (a Date header is cut to the second: half a second on average)
  onServerTime: (serverMs) => {
    session.clockOffsetMs = serverMs + 500 - Date.now()
  },
})

let live: LiveClient | null = null

/** The socket, opened on first use and kept for the life of the page. */
export function getLive(): LiveClient {
  if (!live) {
    live = connectLive(() => session.token, {
      onState: (state) => {
        session.connection = state
      },
      onTokenError: (code) => {
        session.tokenError = code
      },
    })
    session.connection = live.state
  }
  return live
}

export function reportTokenError(code: TokenErrorCode): void {
  session.tokenError ??= code
}

/**
 * What a view should say about a failed request. Token errors switch the whole app to the
 * "ask for a new link" page; 404 reads "not found or not yours" (a creator's token gets 404 for
 * other creators' streams, on purpose).
 */
export function describeError(err: unknown): string {
  if (err instanceof DOMException && err.name === 'AbortError') return ''
  if (err instanceof ApiError) {
    if (err.isTokenError) {
      reportTokenError(isTokenErrorCode(err.code) ? err.code : 'token_invalid')
      return err.message
    }
    if (err.isNotFound) return 'Not found — or not yours. Check the link, or ask for one that includes it.'
    if (err.status === 0) return 'The Livewall server cannot be reached. Retrying…'
    return err.message
  }
  return err instanceof Error ? err.message : String(err)
}

export function route(): Route {
  return parseRoute(nav.path)
}

export function queryParam(name: string): string | null {
  return new URLSearchParams(nav.search).get(name)
}

/** Goes to an in-app URL without reloading. */
export function navigate(url: string, options: { replace?: boolean } = {}): void {
  const target = new URL(url, window.location.href)
  if (options.replace) history.replaceState(null, '', target)
  else history.pushState(null, '', target)
  syncLocation()
  if (!options.replace) window.scrollTo(0, 0)
}

/** Sets or clears one query parameter of the current URL (filters, compare, kiosk). */
export function setQueryParam(name: string, value: string | null): void {
  const params = new URLSearchParams(nav.search)
  if (value === null || value === '') params.delete(name)
  else params.set(name, value)
  const search = params.toString()
  navigate(nav.path + (search ? `?${search}` : ''), { replace: true })
}

function syncLocation(): void {
  nav.path = window.location.pathname
  nav.search = window.location.search
}

/** Reads the token from the link (then hides it), fetches who it is, follows back/forward. */
export function startSession(): void {
  let storage: Storage | null = null
  try {
    storage = window.sessionStorage
  } catch {
    storage = null
  }
  const { token, hash } = resolveToken(window.location.hash, storage)
  if (hash !== window.location.hash) {
    history.replaceState(null, '', window.location.pathname + window.location.search + hash)
  }
  session.token = token
  syncLocation()
  window.addEventListener('popstate', syncLocation)
  // A new link opened over this page changes only the fragment when its path is the same,
  // and the browser does not load it: start again with its token (the "ask for a new link"
  // pages depend on it).
  window.addEventListener('hashchange', () => {
    if (takeTokenFromHash(window.location.hash).token) window.location.reload()
  })
  if (!token) {
    session.tokenError = 'token_missing'
    return
  }
  api
    .me()
    .then((me) => {
      session.me = me
      const currency = (me as Me & { currency?: unknown }).currency
      if (typeof currency === 'string' && /^[A-Z]{3}$/.test(currency)) session.currency = currency
    })
    .catch(describeError)
}

/** Lets plain <a href="/…"> links navigate in-app (left click, no modifier, same origin). */
export function interceptLinks(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0) return
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
  const anchor = (event.target as Element | null)?.closest?.('a')
  if (!anchor || anchor.target || anchor.hasAttribute('download')) return
  const url = new URL(anchor.href, window.location.href)
  if (url.origin !== window.location.origin) return
  if (parseRoute(url.pathname).view === 'notfound') return
  event.preventDefault()
  navigate(url.pathname + url.search)
}
