/** A stand-in for the cache store that records every invalidation it receives. */
import type { Invalidator } from '../../src/delivery/applier';

export class RecordingCache implements Invalidator {
  readonly calls: string[][] = [];

  invalidate(tags: readonly string[]): number {
    this.calls.push([...tags]);
    return 0;
  }

  /** How many invalidations carried `tag`. */
  count(tag: string): number {
    return this.calls.filter((tags) => tags.includes(tag)).length;
  }

  saw(tag: string): boolean {
    return this.count(tag) > 0;
  }
}
