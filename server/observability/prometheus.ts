/**
 * A small Prometheus text-format registry: counters, gauges and histograms with
 * optional labels. Enough for /metrics without pulling in a client library.
 */
type Labels = Record<string, string>

function labelText(labels: Labels | undefined): string {
  if (!labels) return ''
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  )
  return parts.length ? `{${parts.join(',')}}` : ''
}

interface Metric {
  render(): string
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>()
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels?: Labels, by = 1): void {
    const key = labelText(labels)
    this.values.set(key, (this.values.get(key) ?? 0) + by)
  }
  get(labels?: Labels): number {
    return this.values.get(labelText(labels)) ?? 0
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    if (this.values.size === 0) lines.push(`${this.name} 0`)
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`)
    return lines.join('\n')
  }
}

/** A value read when scraped: a gauge, or a counter another object keeps (`_total`, only grows). */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
    private readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}
  render(): string {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} ${this.type}`,
      `${this.name} ${this.read()}`,
    ].join('\n')
  }
}

export class Histogram implements Metric {
  private readonly counts: number[]
  private sum = 0
  private count = 0
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0)
  }
  observe(value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    this.buckets.forEach((le, i) => {
      lines.push(`${this.name}_bucket{le="${le}"} ${this.counts[i]}`)
    })
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    )
    return lines.join('\n')
  }
}

export class Registry {
  private readonly metrics: Metric[] = []
  counter(name: string, help: string): Counter {
    const metric = new Counter(name, help)
    this.metrics.push(metric)
    return metric
  }
  gauge(name: string, help: string, read: () => number): Gauge {
    const metric = new Gauge(name, help, read)
    this.metrics.push(metric)
    return metric
  }
  /** A counter whose value another object keeps (read when scraped). */
  counterFrom(name: string, help: string, read: () => number): Gauge {
    const metric = new Gauge(name, help, read, 'counter')
    this.metrics.push(metric)
    return metric
  }
  histogram(name: string, help: string, buckets: number[]): Histogram {
    const metric = new Histogram(name, help, buckets)
    this.metrics.push(metric)
    return metric
  }
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`
  }
}

/** The ingest path's instruments, shared by the writer and the route. */
export function ingestInstruments(registry: Registry) {
  return {
    requests: registry.counter('livewall_ingest_requests_total', 'Ingest requests by HTTP status'),
    events: registry.counter(
      'livewall_ingest_events_total',
      'Ingested events by outcome (accepted, duplicate, rejected)',
    ),
    batchSize: registry.histogram(
      'livewall_ingest_batch_events',
      'Events per group commit',
      [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000],
    ),
    commitSeconds: registry.histogram(
      'livewall_ingest_commit_seconds',
      'Group commit latency (dedup + INSERT)',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
    rollupLagSeconds: registry.histogram(
      'livewall_ingest_rollup_lag_seconds',
      "From a group commit's acknowledgement to its rollups written (reads and the live push count it from then)",
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
    commitErrors: registry.counter(
      'livewall_ingest_commit_errors_total',
      "Group commits that failed, and writes of acknowledged commits' rollups that failed",
    ),
    dedupLookups: registry.counter('livewall_dedup_lookups_total', 'ClickHouse look-ups made by dedup'),
    shed: registry.counter(
      'livewall_ingest_shed_total',
      'Requests answered 503 because the write buffer was full',
    ),
  }
}
export type IngestInstruments = ReturnType<typeof ingestInstruments>
