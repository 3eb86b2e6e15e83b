import { stdSerializers } from 'pino'

const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
])

/** A ClickHouse server that does not answer (refused, reset, timed out): the reader's retry may work. */
export function isStorageUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) return true
  // @clickhouse/client's request_timeout
  return error.message === 'Timeout error.'
}

/**
 * The logger's `err` serializer: a storage that does not answer is one expected line
 * ("connect ECONNREFUSED 127.0.0.1:8123"), repeated while it is down, so no stack trace;
 * anything else keeps pino's full form, stack included, for whoever debugs it.
 */
export function serializeError(error: Error): {
  type: string
  message: string
  stack: string
  [key: string]: unknown
} {
  if (isStorageUnreachable(error)) {
    const { name, message, code } = error as Error & { code?: unknown }
    // the stack's first line only
    return { type: name, message, code, stack: `${name}: ${message}` }
  }
  return stdSerializers.err(error)
}
