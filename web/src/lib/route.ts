// The dashboard's routes (a handful, so no router package): pathname → view.

export type Route =
  | { view: 'wall' }
  | { view: 'streams' }
  | { view: 'stream'; id: string }
  | { view: 'replay'; id: string }
  | { view: 'quarantine' }
  | { view: 'notfound' }

function decode(segment: string): string | null {
  try {
    const id = decodeURIComponent(segment)
    return id === '' ? null : id
  } catch {
    return null
  }
}

export function parseRoute(pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname
  if (path === '/' || path === '') return { view: 'wall' }
  if (path === '/streams') return { view: 'streams' }
  if (path === '/quarantine') return { view: 'quarantine' }
  const match = /^\/(stream|replay)\/([^/]+)$/.exec(path)
  if (match) {
    const id = decode(match[2] as string)
    if (id !== null) return { view: match[1] as 'stream' | 'replay', id }
  }
  return { view: 'notfound' }
}

export function streamPath(id: string): string {
  return `/stream/${encodeURIComponent(id)}`
}

export function replayPath(id: string, compare?: string): string {
  const base = `/replay/${encodeURIComponent(id)}`
  return compare ? `${base}?compare=${encodeURIComponent(compare)}` : base
}
