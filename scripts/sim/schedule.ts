// A min-heap of things due at a simulated time. Ties break by insertion order, so the
// output is deterministic.

interface Entry<T> {
  due: number
  seq: number
  item: T
}

export class Schedule<T> {
  private heap: Entry<T>[] = []
  private seq = 0

  get size(): number {
    return this.heap.length
  }

  push(due: number, item: T): void {
    this.heap.push({ due, seq: this.seq++, item })
    this.up(this.heap.length - 1)
  }

  /** Due time of the next item, or Infinity when empty. */
  peekDue(): number {
    return this.heap[0]?.due ?? Number.POSITIVE_INFINITY
  }

  /** Removes and returns the next item if it is due at or before `time`. */
  popDue(time: number): { due: number; item: T } | undefined {
    const top = this.heap[0]
    if (!top || top.due > time) return undefined
    const last = this.heap.pop() as Entry<T>
    if (this.heap.length > 0) {
      this.heap[0] = last
      this.down(0)
    }
    return { due: top.due, item: top.item }
  }

  /** Removes every item, in due order. */
  drain(): { due: number; item: T }[] {
    const out: { due: number; item: T }[] = []
    for (
      let next = this.popDue(Number.POSITIVE_INFINITY);
      next;
      next = this.popDue(Number.POSITIVE_INFINITY)
    ) {
      out.push(next)
    }
    return out
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i] as Entry<T>
    const b = this.heap[j] as Entry<T>
    return a.due < b.due || (a.due === b.due && a.seq < b.seq)
  }

  private swap(i: number, j: number): void {
    const tmp = this.heap[i] as Entry<T>
    this.heap[i] = this.heap[j] as Entry<T>
    this.heap[j] = tmp
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(i, parent)) return
      this.swap(i, parent)
      i = parent
    }
  }

  private down(i: number): void {
    const n = this.heap.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let smallest = i
      if (l < n && this.less(l, smallest)) smallest = l
      if (r < n && this.less(r, smallest)) smallest = r
      if (smallest === i) return
      this.swap(i, smallest)
      i = smallest
    }
  }
}
