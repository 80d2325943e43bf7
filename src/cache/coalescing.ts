/**
 * Coalescing: identical misses in flight at the same time share one execution. The
 * first caller runs it; the others wait for its outcome, success or failure alike.
 * An invalidation closes the runs in flight to later callers (see seal()).
 */

/** Shares in-flight work per key. */
export class Coalescer<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  /** Executions in flight now. */
  get size(): number {
    return this.inflight.size;
  }

  /** Whether a run for `key` is in flight and open to new callers. */
  has(key: string): boolean {
    return this.inflight.has(key);
  }

  /**
   * Runs `work` for `key`, or joins the run already in flight for it. `coalesced` says
   * which: true when this caller joined another's run.
   */
  run(key: string, work: () => Promise<T>): { result: Promise<T>; coalesced: boolean } {
    const running = this.inflight.get(key);
    if (running) return { result: running, coalesced: true };

    const result: Promise<T> = work().finally(() => {
      if (this.inflight.get(key) === result) this.inflight.delete(key);
    });
    this.inflight.set(key, result);
    return { result, coalesced: false };
  }

  /**
   * Closes every run in flight to new callers; their current callers still share them.
   * Called when an invalidation is applied: a run that began before it may return what
   * the invalidation made stale, which is fine for requests older than the change but
   * not for requests that arrive after it.
   */
  seal(): void {
    this.inflight.clear();
  }
}
