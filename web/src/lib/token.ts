// The read token arrives in the URL fragment (`#token=…`, never sent to servers or logs), is kept
// in sessionStorage for reloads of this tab, and is removed from the address bar.

export const TOKEN_STORAGE_KEY = 'livewall.token'

/** Splits `#token=abc&x=1` into the token and what remains of the fragment (`#x=1`, or ''). */
export function takeTokenFromHash(hash: string): { token: string | null; hash: string } {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash
  if (!fragment) return { token: null, hash: '' }
  const params = new URLSearchParams(fragment)
  const token = params.get('token')
  if (token === null) return { token: null, hash: hash.startsWith('#') ? hash : `#${hash}` }
  params.delete('token')
  const rest = params.toString()
  return { token: token.trim() || null, hash: rest ? `#${rest}` : '' }
}

/** Minimal Storage (sessionStorage, or a Map-backed fake in tests). */
export interface TokenStore {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

/**
 * The token to use: a fresh one from the fragment wins and replaces the stored one.
 * Returns the fragment to leave in the address bar.
 */
export function resolveToken(hash: string, store: TokenStore | null): { token: string | null; hash: string } {
  const fromHash = takeTokenFromHash(hash)
  if (fromHash.token) {
    try {
      store?.setItem(TOKEN_STORAGE_KEY, fromHash.token)
    } catch {
      // storage disabled (private mode): the token still works until the tab reloads
    }
    return fromHash
  }
  let stored: string | null = null
  try {
    stored = store?.getItem(TOKEN_STORAGE_KEY) ?? null
  } catch {
    stored = null
  }
  return { token: stored, hash: fromHash.hash }
}
