/** One event slot of a request body: parsed, or the reason it could not be. */
export interface BodyItem {
  index: number
  value?: unknown
  /** Why the slot could not be read as JSON at all. */
  error?: string
  /** The original text of the slot (NDJSON line), when we have it. */
  raw?: string
  /** The original text of an element of a JSON array, cut from the body when first asked for. */
  rawLater?: () => string | undefined
}

export class BodyError extends Error {
  constructor(
    readonly statusCode: 400 | 413,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const lenientUtf8 = new TextDecoder('utf-8')

/** V8 quotes a snippet of the text in its message and may cut it inside a surrogate pair. */
function describeJsonError(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).toWellFormed()
}

/**
 * NDJSON: one event per line; a line that is not JSON (or not UTF-8) is that event's
 * rejection, never the request's. Blank lines are skipped but keep their line number.
 */
export function parseNdjson(body: Buffer, maxEvents: number): BodyItem[] {
  const items: BodyItem[] = []
  // The common case, a body that is valid UTF-8, is decoded once and cut into lines as
  // text (per-line decoding was a tenth of the server's main thread at full ingest rate);
  // only a body with invalid UTF-8 is cut into byte lines, to reject exactly those lines.
  let text: string
  try {
    text = strictUtf8.decode(body)
  } catch {
    eachLine(
      body.length,
      (from) => body.indexOf(0x0a, from),
      (i) => body[i]!,
      maxEvents,
      (index, start, end) => {
        const bytes = body.subarray(start, end)
        try {
          pushJsonLine(items, index, strictUtf8.decode(bytes))
        } catch {
          items.push({ index, error: 'line is not valid UTF-8', raw: lenientUtf8.decode(bytes) })
        }
      },
    )
    return items
  }
  eachLine(
    text.length,
    (from) => text.indexOf('\n', from),
    (i) => text.charCodeAt(i),
    maxEvents,
    (index, start, end) => {
      let line = text.slice(start, end)
      // A byte order mark opening a line (as per-line decoding dropped it).
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1)
      pushJsonLine(items, index, line)
    },
  )
  return items
}

/**
 * Cuts a body (its text, or its bytes) into lines at LF, without the CR before it, and
 * hands each line that is not blank (spaces and tabs only) to `take` with its number and
 * bounds; blank lines keep their number. More than `maxEvents` lines is a 413.
 */
function eachLine(
  length: number,
  newlineFrom: (from: number) => number,
  codeAt: (i: number) => number,
  maxEvents: number,
  take: (index: number, start: number, end: number) => void,
): void {
  let taken = 0
  for (let start = 0, index = 0; start <= length; index++) {
    let end = newlineFrom(start)
    if (end === -1) end = length
    let lineEnd = end
    if (lineEnd > start && codeAt(lineEnd - 1) === 0x0d) lineEnd--
    let first = start
    while (first < lineEnd && (codeAt(first) === 0x20 || codeAt(first) === 0x09)) first++
    if (first < lineEnd) {
      if (taken++ >= maxEvents) {
        // (the rest of the body is not read: "more than", not a count)
        throw new BodyError(
          413,
          'too_many_events',
          `a request holds at most ${maxEvents} events, got more than ${maxEvents}`,
        )
      }
      take(index, start, lineEnd)
    }
    start = end + 1
  }
}

/**
 * Deepest nesting an event may have. JSON.parse takes time superlinear in the depth past
 * ~100 000 levels: a 5 MiB line of 2.5 million `[` held the event loop for 3 s (and every
 * request with it, shed as overloaded), where 5 MiB of lines 10 000 levels deep parse in
 * ~0.2 s. An event is a flat object; the limit leaves room for nested unknown fields.
 */
export const MAX_NESTING = 10_000

/**
 * Whether `text` opens more than `limit` arrays or objects inside each other (strings skipped).
 * Text that does not parse is scanned as far as it goes. Text no longer than `limit` cannot,
 * and is not scanned: ordinary NDJSON lines cost nothing; a JSON body longer than that (an
 * array of ~50 events or more) gets one pass, about 0.4 ms per 1 000 events.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  if (text.length <= limit) return false
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      for (i++; i < text.length; i++) {
        const k = text.charCodeAt(i)
        if (k === 0x5c) i++
        else if (k === 0x22) break
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

function pushJsonLine(items: BodyItem[], index: number, line: string): void {
  if (nestsDeeperThan(line, MAX_NESTING)) {
    items.push({
      index,
      error: `line nests deeper than ${MAX_NESTING} levels of arrays and objects`,
      raw: line,
    })
    return
  }
  try {
    items.push({ index, value: JSON.parse(line), raw: line })
  } catch (error) {
    // A body with old Mac line ends (CR alone) arrives as one line of many events.
    const hint = line.includes('\r') ? ' (it holds a bare CR: NDJSON lines end with LF or CRLF)' : ''
    items.push({ index, error: `line is not valid JSON: ${describeJsonError(error)}${hint}`, raw: line })
  }
}

/** JSON: one event object or an array of them. A body that does not parse is a 400. */
export function parseJsonBody(body: Buffer, maxEvents: number): BodyItem[] {
  let textBody: string
  try {
    textBody = strictUtf8.decode(body)
  } catch {
    const at = firstInvalidUtf8(body)
    // (at is found whenever the decoder refused; said without it otherwise, never a 500)
    const where =
      at >= 0 && at < body.length
        ? `: the first bad sequence is at byte offset ${at} (0x${body[at]!.toString(16).toUpperCase().padStart(2, '0')})`
        : ''
    throw new BodyError(
      400,
      'invalid_body',
      `body is not valid UTF-8${where}; a JSON body is read whole, NDJSON loses only the lines that hold bad bytes`,
    )
  }
  // (the array of events is one level more than its events)
  if (nestsDeeperThan(textBody, MAX_NESTING + 1))
    throw new BodyError(
      400,
      'invalid_json',
      `body nests deeper than ${MAX_NESTING + 1} levels of arrays and objects (an event at most ${MAX_NESTING})`,
    )
  let parsed: unknown
  try {
    parsed = JSON.parse(textBody)
  } catch (error) {
    throw new BodyError(400, 'invalid_json', `body is not valid JSON: ${describeJsonError(error)}`)
  }
  if (Array.isArray(parsed)) {
    if (parsed.length > maxEvents) {
      throw new BodyError(
        413,
        'too_many_events',
        `a request holds at most ${maxEvents} events, got ${parsed.length}`,
      )
    }
    // Each element keeps its own text, as an NDJSON line does: a JSON-number amount is judged
    // by the digits written, and the quarantine keeps what the producer sent. Cut from the
    // body only when first asked for (as long as JSON.parse on a 5 MiB body, and most bodies
    // never need it).
    let texts: string[] | undefined
    const textOf = (index: number): string | undefined => {
      texts ??= arrayElementTexts(textBody)
      return texts.length === parsed.length ? texts[index] : undefined
    }
    return parsed.map((value, index) => ({ index, value, rawLater: () => textOf(index) }))
  }
  if (parsed !== null && typeof parsed === 'object') return [{ index: 0, value: parsed, raw: textBody }]
  throw new BodyError(400, 'invalid_body', 'body must be one event object or an array of events')
}

/**
 * Byte offset of the first sequence in `bytes` that is not UTF-8 (an invalid or stray lead
 * byte, a bad or missing continuation, an overlong form, a surrogate, past U+10FFFF), or -1.
 * For the message of a body the decoder refused (TextDecoder does not say where).
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!
    if (lead < 0x80) {
      i++
      continue
    }
    // continuation bytes after the lead, and the range of the first (RFC 3629 §4)
    let count: number
    let low = 0x80
    let high = 0xbf
    if (lead >= 0xc2 && lead <= 0xdf) count = 1
    else if (lead >= 0xe0 && lead <= 0xef) {
      count = 2
      if (lead === 0xe0) low = 0xa0
      else if (lead === 0xed) high = 0x9f
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      count = 3
      if (lead === 0xf0) low = 0x90
      else if (lead === 0xf4) high = 0x8f
    } else return i
    if (i + count >= bytes.length) return i
    const first = bytes[i + 1]!
    if (first < low || first > high) return i
    for (let k = 2; k <= count; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i
    i += count + 1
  }
  return -1
}

/**
 * The source text of each element of a top-level JSON array, in one pass over `text`, which
 * JSON.parse has already accepted (so every string is closed and every bracket paired).
 */
export function arrayElementTexts(text: string): string[] {
  const texts: string[] = []
  let i = text.indexOf('[') + 1
  let depth = 0
  let start = -1
  let end = -1
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue
    if (c === 0x2c && depth === 0) {
      texts.push(text.slice(start, end + 1))
      start = -1
      continue
    }
    if ((c === 0x5d || c === 0x7d) && depth === 0) {
      // the array's own closing bracket
      if (start >= 0) texts.push(text.slice(start, end + 1))
      break
    }
    if (start < 0) start = i
    if (c === 0x22) {
      // a string: to its closing quote, escapes skipped
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++
    } else if (c === 0x5b || c === 0x7b) depth++
    else if (c === 0x5d || c === 0x7d) depth--
    end = i
  }
  return texts
}

/**
 * JSON text of a parsed value, cut at `limit` characters, nesting below `maxDepth` shown as
 * `"…"`. For quarantining a value whose text is not at hand (arrayElementTexts keeps it):
 * JSON.stringify would overflow the stack on deep nesting (`[[[[…]]]]` ten thousand deep
 * parses fine) and would print a 5 MiB value in full before it is cut.
 */
export function previewJson(value: unknown, limit: number, maxDepth = 64): string {
  let out = ''
  const write = (v: unknown, depth: number): void => {
    if (out.length > limit) return
    if (v === null || typeof v !== 'object') {
      out += JSON.stringify(v) ?? 'null'
      return
    }
    if (depth >= maxDepth) {
      out += '"…"'
      return
    }
    if (Array.isArray(v)) {
      out += '['
      for (let i = 0; i < v.length && out.length <= limit; i++) {
        if (i > 0) out += ','
        write(v[i], depth + 1)
      }
      out += ']'
      return
    }
    out += '{'
    let first = true
    for (const key of Object.keys(v)) {
      if (out.length > limit) break
      if (!first) out += ','
      first = false
      out += `${JSON.stringify(key)}:`
      write((v as Record<string, unknown>)[key], depth + 1)
    }
    out += '}'
  }
  write(value, 0)
  return out
}
