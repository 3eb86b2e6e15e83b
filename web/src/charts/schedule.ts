// Chart creation is the costly part of a first render (a wall mounts dozens of uPlot instances
// at once). Creations are queued and run on animation frames, a few milliseconds' worth per
// frame, so no single task blocks the main thread for long.

const FRAME_BUDGET_MS = 8

const queue = new Set<() => void>()
let scheduled = false

function run(): void {
  scheduled = false
  const start = performance.now()
  for (const create of queue) {
    queue.delete(create)
    create()
    if (performance.now() - start > FRAME_BUDGET_MS) break
  }
  if (queue.size > 0) schedule()
}

function schedule(): void {
  if (scheduled) return
  scheduled = true
  requestAnimationFrame(run)
}

/** Runs `create` on a coming frame; the returned function cancels it if it has not run yet. */
export function scheduleCreation(create: () => void): () => void {
  queue.add(create)
  schedule()
  return () => {
    queue.delete(create)
  }
}
