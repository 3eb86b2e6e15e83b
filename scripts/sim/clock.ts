// Time for the simulator's loops, injectable so tests run a 10-minute simulation in milliseconds.

import { setTimeout as delay } from 'node:timers/promises'

export interface Clock {
  /** epoch milliseconds */
  now(): number
  /** resolves after `ms`, or early (never rejecting) when `signal` aborts */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    if (signal?.aborted || ms <= 0) return
    await delay(ms, undefined, { signal }).catch(() => undefined)
  },
}

/** A clock that only moves when slept on: every sleep returns at once, `ms` later. */
export function manualClock(startMs: number): Clock & { advance(ms: number): void } {
  let now = startMs
  return {
    now: () => now,
    sleep: async (ms) => {
      now += Math.max(0, ms)
    },
    advance: (ms) => {
      now += ms
    },
  }
}
