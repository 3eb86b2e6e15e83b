// How trustworthy the numbers on screen are right now. A wall that silently froze is the worst
// failure in a war room, so age and connection turn into a loud signal.
//
// Age = now − the last message from the server (a push or an ack). Pushes only come on change,
// so a screen asks again (`wall`, or `subscribe` with `since`) once it has been quiet for
// PROBE_AFTER_MS: a server that is up answers, which resets the age; one that is stuck does not.

import type { ConnectionState } from './live.ts'

export type Freshness = 'waiting' | 'ok' | 'amber' | 'red'

export const PROBE_AFTER_MS = 5_000
export const AMBER_AFTER_MS = 10_000
export const RED_AFTER_MS = 30_000

/**
 * @param waitingSince when the screen started waiting for its first message (page open, filter
 *   change): a first answer that never comes is as bad as a feed that stopped.
 */
export function freshness(
  state: ConnectionState,
  lastMessageAt: number | null,
  now: number,
  waitingSince: number,
): Freshness {
  if (state === 'disconnected') return 'red'
  const age = now - (lastMessageAt ?? waitingSince)
  if (age > RED_AFTER_MS) return 'red'
  if (age > AMBER_AFTER_MS) return 'amber'
  return lastMessageAt === null ? 'waiting' : 'ok'
}

/** Whether the screen should ask the server again (quiet for a while, connected, not just asked). */
export function shouldProbe(
  state: ConnectionState,
  lastMessageAt: number | null,
  lastProbeAt: number,
  now: number,
): boolean {
  if (state !== 'connected') return false
  const quietSince = lastMessageAt ?? 0
  return now - quietSince >= PROBE_AFTER_MS && now - lastProbeAt >= PROBE_AFTER_MS
}
