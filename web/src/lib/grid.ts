// Wall layout: how many tiles fit a screen, and which tiles a kiosk page shows.

export interface GridFit {
  cols: number
  rows: number
  perPage: number
}

/** Columns of at least `minTileWidth` and rows of `tileHeight` that fit `width` × `height`. */
export function gridFit(
  width: number,
  height: number,
  minTileWidth: number,
  tileHeight: number,
  gap: number,
): GridFit {
  const cols = Math.max(1, Math.floor((width + gap) / (minTileWidth + gap)))
  const rows = Math.max(1, Math.floor((height + gap) / (tileHeight + gap)))
  return { cols, rows, perPage: cols * rows }
}

export function pageCount(items: number, perPage: number): number {
  return Math.max(1, Math.ceil(items / Math.max(1, perPage)))
}

/**
 * Kiosk pages are laid side by side in one strip (the wall slides it, so turning a page creates
 * nothing): the 1-based grid column and row of the tile ranked `index` (0-based), row-major
 * within its page.
 */
export function kioskCell(index: number, cols: number, perPage: number): { column: number; row: number } {
  const page = Math.floor(index / perPage)
  const within = index % perPage
  return { column: page * cols + (within % cols) + 1, row: Math.floor(within / cols) + 1 }
}

/**
 * The rows `items` tiles fill on one screen: all their rows (which may be more than `fit.rows`:
 * the wall then scrolls), or, for kiosk pages, a full page's rows when there are `pages` > 1.
 */
export function rowsShown(items: number, fit: GridFit, pages = 1): number {
  if (pages > 1) return fit.rows
  return Math.max(1, Math.ceil(items / fit.cols))
}

export interface LargestGrid {
  cols: number
  rows: number
  /** the tiles' size against the base tile (1 = `minTileWidth` × `tileHeight`) */
  scale: number
}

/**
 * A wall of few tiles, all on one screen: the columns that make them largest while they keep
 * the base tile's proportions (a cell's scale is the smaller of its width over `minTileWidth`
 * and its height over `tileHeight`). Two tiles on a TV become two full-width rows rather than
 * two base-size tiles in the top left corner. Ties go to the grid with fewer empty cells, then
 * to more columns. Null when `items` tiles do not fit at the base size.
 */
export function largestGrid(
  items: number,
  width: number,
  height: number,
  minTileWidth: number,
  tileHeight: number,
  gap: number,
): LargestGrid | null {
  let best: LargestGrid | null = null
  for (let cols = 1; cols <= items; cols++) {
    const rows = Math.ceil(items / cols)
    const cellWidth = (width - (cols - 1) * gap) / cols
    const cellHeight = (height - (rows - 1) * gap) / rows
    const scale = Math.min(cellWidth / minTileWidth, cellHeight / tileHeight)
    if (scale < 1) continue
    const better =
      best === null ||
      scale > best.scale * 1.01 ||
      (scale > best.scale * 0.99 && cols * rows - items <= best.cols * best.rows - items)
    if (better) best = { cols, rows, scale }
  }
  return best
}
