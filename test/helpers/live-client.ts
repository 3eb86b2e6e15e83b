import { io, type Socket } from 'socket.io-client'

type Bucket = Record<string, number | null>

/** A /live subscriber that merges snapshot and ticks the way a screen does: per bucket, last value wins. */
export class LiveClient {
  readonly socket: Socket
  readonly buckets = new Map<number, Bucket>()
  totals: Record<string, number | null> | undefined
  ticks = 0
  lastWatermark = 0
  watermarkWentBack = false

  constructor(url: string, token: string | undefined, options: { autoConnect?: boolean } = {}) {
    this.socket = io(`${url}/live`, {
      auth: token === undefined ? {} : { token },
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      autoConnect: options.autoConnect ?? true,
    })
    this.socket.on(
      'tick',
      (tick: {
        series: Record<string, unknown>
        totals: Record<string, number | null>
        watermark: number
      }) => {
        this.ticks++
        if (tick.watermark < this.lastWatermark) this.watermarkWentBack = true
        this.lastWatermark = Math.max(this.lastWatermark, tick.watermark)
        this.merge(tick.series)
        this.totals = tick.totals
      },
    )
  }

  connected(): Promise<void> {
    if (this.socket.connected) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve())
      this.socket.once('connect_error', reject)
    })
  }

  // biome-ignore lint/suspicious/noExplicitAny: the server's JSON answer; tests assert on its shape
  async subscribe(streamId: string, step = '1s', since?: number): Promise<any> {
    await this.connected()
    const answer = await this.socket
      .timeout(30_000)
      .emitWithAck('subscribe', { stream_id: streamId, step, since })
    if (answer.ok) {
      this.merge(answer.snapshot.series)
      this.totals = answer.snapshot.totals
      this.lastWatermark = Math.max(this.lastWatermark, answer.snapshot.watermark)
    }
    return answer
  }

  merge(series: Record<string, unknown>): void {
    const t = series.t as number[]
    t.forEach((time, i) => {
      const bucket: Bucket = {}
      for (const [key, column] of Object.entries(series)) {
        if (key !== 't' && Array.isArray(column)) bucket[key] = column[i] as number | null
      }
      this.buckets.set(time, bucket)
    })
  }

  /** Columns over the buckets held, in time order, for comparing with GET /series. */
  columns(metrics: string[]): Record<string, unknown[]> {
    const times = [...this.buckets.keys()].sort((a, b) => a - b)
    const out: Record<string, unknown[]> = { t: times }
    for (const m of metrics) out[m] = times.map((t) => this.buckets.get(t)![m])
    return out
  }

  async waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
    const started = Date.now()
    while (!predicate()) {
      if (Date.now() - started > timeoutMs) throw new Error('timed out waiting for the live feed')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  close(): void {
    this.socket.close()
  }
}
