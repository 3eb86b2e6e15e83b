/** An error a client can act on: HTTP status, stable code, message. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/**
 * The challenge a 401 carries (RFC 6750 §3): how to authenticate, for clients and proxies
 * that act on it.
 */
export const BEARER_CHALLENGE = { 'www-authenticate': 'Bearer realm="livewall"' }

export function errorBody(code: string, message: string) {
  return { error: { code, message } }
}
