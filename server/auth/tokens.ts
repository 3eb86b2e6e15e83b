import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

export type Role = 'ops' | 'creator'

export interface Reader {
  role: Role
  /** Set for role creator: the only creator whose streams this token reads. */
  creator_id: string | null
  /** epoch ms */
  expires_at: number
}

export type TokenErrorCode = 'token_missing' | 'token_invalid' | 'token_expired'

export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message)
  }
}

const PREFIX = 'lw1'

function sign(secret: string, body: string): Buffer {
  return createHmac('sha256', secret).update(`${PREFIX}.${body}`).digest()
}

/** Issues a read token: `lw1.<payload>.<HMAC-SHA256>`, base64url, with an expiry. */
export function issueToken(
  secret: string,
  claims: { role: Role; creator_id?: string | null; ttlMs: number },
  now = Date.now(),
): string {
  if (claims.role === 'creator' && !claims.creator_id) throw new Error('a creator token needs a creator_id')
  const payload = {
    role: claims.role,
    creator_id: claims.role === 'creator' ? claims.creator_id : null,
    iat: Math.floor(now / 1000),
    exp: Math.floor((now + claims.ttlMs) / 1000),
  }
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  return `${PREFIX}.${body}.${sign(secret, body).toString('base64url')}`
}

/** Checks signature and expiry; throws TokenError with a stable code. */
export function verifyToken(secret: string, token: string | undefined, now = Date.now()): Reader {
  if (!token) throw new TokenError('token_missing', 'a read token is required')
  const parts = token.split('.')
  if (parts.length !== 3 || parts[0] !== PREFIX)
    throw new TokenError('token_invalid', 'the token is not a Livewall read token')
  const [, body, signature] = parts as [string, string, string]
  // Compared as text: decoding first would let other spellings of the same bytes pass
  // (base64url's unused last bits, trailing junk), so one token would have many forms.
  const expected = Buffer.from(sign(secret, body).toString('base64url'))
  const given = Buffer.from(signature)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new TokenError('token_invalid', 'the token signature does not match')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
  } catch {
    throw new TokenError('token_invalid', 'the token payload is unreadable')
  }
  // Signed is not the same as well formed: a token made by hand with the secret is read
  // as carefully as a request.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TokenError('token_invalid', 'the token payload is unreadable')
  }
  const payload = parsed as { role?: unknown; creator_id?: unknown; exp?: unknown }
  if ((payload.role !== 'ops' && payload.role !== 'creator') || typeof payload.exp !== 'number') {
    throw new TokenError('token_invalid', 'the token payload is incomplete')
  }
  // An empty creator would match the streams listing's "no creator filter".
  if (payload.role === 'creator' && (typeof payload.creator_id !== 'string' || payload.creator_id === '')) {
    throw new TokenError('token_invalid', 'a creator token must name its creator')
  }
  const expiresAt = payload.exp * 1000
  if (expiresAt <= now) throw new TokenError('token_expired', 'the token has expired; ask for a new link')
  return {
    role: payload.role,
    creator_id: payload.role === 'creator' ? (payload.creator_id as string) : null,
    expires_at: expiresAt,
  }
}

/** Parses "12h", "30m", "7d", "45s" into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim())
  if (!m) throw new Error(`"${text}" is not a duration like 30m, 12h or 7d`)
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']
  return Number(m[1]) * unit
}

/** Ingest keys are compared by digest in constant time; `keyId` names a key in logs without revealing it. */
export class IngestKeys {
  private readonly digests: Buffer[]
  constructor(keys: readonly string[]) {
    this.digests = keys.map((k) => createHash('sha256').update(k).digest())
  }
  /** The key's id if it is one of ours, else undefined. */
  check(key: string | undefined): string | undefined {
    if (!key) return undefined
    const digest = createHash('sha256').update(key).digest()
    let match: Buffer | undefined
    for (const known of this.digests) if (timingSafeEqual(known, digest)) match = known
    return match ? keyId(match) : undefined
  }
}

function keyId(digest: Buffer): string {
  return `key-${digest.subarray(0, 4).toString('hex')}`
}

export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m?.[1]
}
