// HTTP read API of docs/API.md, with the read token as a bearer and typed errors.

import type {
  Marker,
  Me,
  ProductRow,
  ProductSeriesWire,
  QuarantineList,
  SeriesWire,
  SourceMixData,
  Step,
  Stream,
  StreamStatus,
} from './types.ts'

/** Error codes that mean "this link no longer works": the screen asks for a new one. */
export const TOKEN_ERROR_CODES = ['token_missing', 'token_invalid', 'token_expired'] as const
export type TokenErrorCode = (typeof TOKEN_ERROR_CODES)[number]

export function isTokenErrorCode(code: unknown): code is TokenErrorCode {
  return typeof code === 'string' && (TOKEN_ERROR_CODES as readonly string[]).includes(code)
}

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    /** HTTP status; 0 when the server could not be reached */
    readonly status: number,
    /** stable code from the server's `{ error: { code } }`, or a client-side one */
    readonly code: string,
    message: string,
  ) {
    super(message)
  }

  get isTokenError(): boolean {
    return isTokenErrorCode(this.code) || this.status === 401
  }

  get isNotFound(): boolean {
    return this.status === 404
  }
}

export interface ApiOptions {
  /** current read token (read on every call, so a new link takes effect without reload) */
  token: () => string | null
  /** base URL, '' for same origin */
  base?: string
  fetch?: typeof fetch
  /** the server's clock, from each answer's Date header (whole seconds) */
  onServerTime?: (serverMs: number) => void
}

export interface StreamsQuery {
  status?: StreamStatus | 'all'
  vertical?: string
  creator_id?: string
  limit?: number
}

export interface SeriesQuery {
  metrics?: readonly string[]
  step?: Step
  from?: number
  to?: number
}

/** An array value repeats its key (`product_id=a&product_id=b`). */
type Query = Record<string, string | number | readonly string[] | undefined>

function queryString(query: Query): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) for (const item of v) params.append(k, item)
    else if (v !== undefined && v !== '') params.set(k, String(v))
  }
  const s = params.toString()
  return s ? `?${s}` : ''
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`
  let message = `${response.status} ${response.statusText}`.trim()
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } }
    if (typeof body.error?.code === 'string') code = body.error.code
    if (typeof body.error?.message === 'string') message = body.error.message
  } catch {
    // not JSON (a proxy's error page): keep the status line
  }
  if (response.status === 401 && !isTokenErrorCode(code)) code = 'token_invalid'
  return new ApiError(response.status, code, message)
}

export type Api = ReturnType<typeof createApi>

export function createApi(options: ApiOptions) {
  const base = options.base ?? ''
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis)

  async function get<T>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T> {
    const token = options.token()
    if (!token) throw new ApiError(401, 'token_missing', 'No access token: open the dashboard with its link.')
    let response: Response
    try {
      response = await doFetch(base + path + queryString(query), {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal,
      })
    } catch (err) {
      if (signal?.aborted) throw err
      throw new ApiError(0, 'network', 'The Livewall server cannot be reached.')
    }
    const date = response.headers.get('date')
    if (date && options.onServerTime) {
      const serverMs = Date.parse(date)
      if (Number.isFinite(serverMs)) options.onServerTime(serverMs)
    }
    if (!response.ok) throw await errorFrom(response)
    return (await response.json()) as T
  }

  const streamPath = (id: string) => `/v1/streams/${encodeURIComponent(id)}`

  return {
    me: (signal?: AbortSignal) => get<Me>('/v1/me', {}, signal),
    streams: (q: StreamsQuery = {}, signal?: AbortSignal) =>
      get<{ streams: Stream[] }>('/v1/streams', { ...q }, signal).then((r) => r.streams),
    stream: (id: string, signal?: AbortSignal) => get<Stream>(streamPath(id), {}, signal),
    series: (id: string, q: SeriesQuery = {}, signal?: AbortSignal) =>
      get<SeriesWire>(
        `${streamPath(id)}/series`,
        { metrics: q.metrics?.join(','), step: q.step, from: q.from, to: q.to },
        signal,
      ),
    /** Some products' funnels per bucket, aligned as `series` for the same step, from and to. */
    productSeries: (id: string, productIds: readonly string[], q: SeriesQuery = {}, signal?: AbortSignal) =>
      get<ProductSeriesWire>(
        `${streamPath(id)}/products/series`,
        { product_id: productIds, step: q.step, from: q.from, to: q.to },
        signal,
      ),
    products: (id: string, signal?: AbortSignal) =>
      get<{ products: ProductRow[] }>(`${streamPath(id)}/products`, {}, signal).then((r) => r.products),
    sources: (id: string, signal?: AbortSignal) =>
      get<SourceMixData>(`${streamPath(id)}/sources`, {}, signal),
    markers: (id: string, signal?: AbortSignal) =>
      get<{ markers: Marker[] }>(`${streamPath(id)}/markers`, {}, signal).then((r) => r.markers),
    quarantine: (limit = 200, signal?: AbortSignal) =>
      get<QuarantineList>('/v1/quarantine', { limit }, signal),
  }
}
