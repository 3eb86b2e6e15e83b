import { parseArgs } from 'node:util'
import { issueToken, parseDuration } from '../server/auth/tokens.ts'
import { npmTookOption } from './npm-options.ts'

/** `npm run token -- --role ops|creator [--creator <id>] [--ttl 12h]`: prints a read token. */
const USAGE = 'usage: npm run token -- --role ops|creator [--creator <creator_id>] [--ttl 12h]'
function die(message: string): never {
  console.error(`token: ${message}`)
  console.error(USAGE)
  process.exit(2)
}
let values: { role?: string; creator?: string; ttl?: string; help?: boolean }
try {
  ;({ values } = parseArgs({
    options: {
      role: { type: 'string' },
      creator: { type: 'string' },
      ttl: { type: 'string', default: '12h' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }))
} catch (error) {
  die((error as Error).message)
}
const took = npmTookOption(['role', 'creator', 'ttl'], 'npm run token')
if (took) die(took)
if (values.help) {
  console.log(
    `${USAGE}\n` +
      '  --role ops        sees every stream\n' +
      '  --role creator    sees only streams whose stream_start named --creator\n' +
      '  --ttl             how long the token is valid: 30m, 12h, 7d (at most 365d; default 12h)\n' +
      'Signs with LIVEWALL_TOKEN_SECRET, the secret the server uses. Prints the token on stdout.',
  )
  process.exit(0)
}
const secret = process.env.LIVEWALL_TOKEN_SECRET ?? ''
if (secret.length < 16)
  die('LIVEWALL_TOKEN_SECRET must be set (at least 16 characters), the same secret the server uses')
if (values.role !== 'ops' && values.role !== 'creator') die('--role must be ops or creator')
if (values.role === 'creator' && !values.creator) die('--role creator needs --creator <creator_id>')
// SPEC §1: a creator_id is 1–128 characters; a longer one could never match a stream.
if (values.creator !== undefined && [...values.creator].length > 128)
  die(`--creator must be at most 128 characters (a stream's creator_id), got ${[...values.creator].length}`)
if (values.role === 'ops' && values.creator !== undefined)
  die('--creator is for --role creator: an ops token sees every stream')
/** Longer-lived access is a new token, not a token that outlives a year of secret rotations. */
const MAX_TTL_MS = 365 * 86_400_000
let ttlMs: number
try {
  ttlMs = parseDuration(values.ttl ?? '12h')
} catch (error) {
  die((error as Error).message)
}
if (ttlMs <= 0 || ttlMs > MAX_TTL_MS) die(`--ttl must be more than 0 and at most 365d, got ${values.ttl}`)
const token = issueToken(secret, { role: values.role, creator_id: values.creator ?? null, ttlMs })
console.error(
  `token: ${values.role} token${values.creator ? ` for creator ${values.creator}` : ''}, valid until ${new Date(Date.now() + ttlMs).toISOString()}`,
)
console.log(token)
