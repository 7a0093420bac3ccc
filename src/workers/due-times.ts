/**
 * The times (ms since the epoch) at which retries this process recorded fall due, earliest first: a
 * binary min-heap, so a process that recorded many retries (a flaky host) adds and drops each in
 * O(log n). The dispatcher sleeps no longer than until the earliest, without asking the database.
 */
export class DueTimes {
  readonly #heap: number[] = [];

  get size(): number {
    return this.#heap.length;
  }

  add(atMs: number): void {
    const heap = this.#heap;
    heap.push(atMs);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]! <= atMs) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = atMs;
  }

  /** The earliest time still held, if any. */
  earliest(): number | undefined {
    return this.#heap[0];
  }

  /** Forgets every time at or before `nowMs`: a claim made from now on sees those as due. */
  dropUntil(nowMs: number): void {
    while (this.#heap.length > 0 && this.#heap[0]! <= nowMs) this.#removeEarliest();
  }

  #removeEarliest(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]! < heap[left]! ? right : left;
      if (heap[child]! >= last) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
