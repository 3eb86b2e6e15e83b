import { Writable } from 'node:stream'

/** A log line as pino writes it: its level number, its message and its fields. */
export type LogLine = { level: number; msg: string } & Record<string, unknown>

/** A destination for the app's logger (`logger: { stream }`) that keeps each line, parsed. */
export function logCapture(): { stream: Writable; lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { stream, lines }
}
