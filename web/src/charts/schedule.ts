// Chart work is the costly part of the wall: it mounts dozens of uPlot instances at once, and a
// wall push changes the data of every tile. Creations and redraws are queued and run on
// animation frames, a few milliseconds' worth per frame, so no single task blocks the main
// thread for long and a chart draws at most once per frame.

const FRAME_BUDGET_MS = 8

const queue = new Set<() => void>()
let scheduled = false

function run(): void {
  scheduled = false
  const start = performance.now()
  for (const work of queue) {
    queue.delete(work)
    work()
    if (performance.now() - start > FRAME_BUDGET_MS) break
  }
  if (queue.size > 0) schedule()
}

function schedule(): void {
  if (scheduled) return
  scheduled = true
  requestAnimationFrame(run)
}

/** Runs `work` on a coming frame; the returned function cancels it if it has not run yet. */
export function onFrame(work: () => void): () => void {
  queue.add(work)
  schedule()
  return () => {
    queue.delete(work)
  }
}
