/**
 * The best hit rate any cache that never serves stale data can reach on scripts/load's
 * workload, computed rather than measured. A key read r times a second and invalidated w
 * times a second (both Poisson) hits exactly when the event before the read was a read:
 * probability r / (r + w). Summed over the Zipf-distributed keys of each read kind, with
 * the invalidation rates the workload's writes cause under pgcascade's tag rules, this is
 * the ceiling for a cache that fills on a miss. With refresh-ahead, keys read at least as
 * often as they are invalidated are filled again before their next read.
 * Usage: scripts/hit-rate-ceiling [--users 1000] [--zipf 1.1] [--mix 80/15/5]
 */
import { parseLoadOptions } from './load';

interface Kind {
  name: string;
  /** Share of reads. */
  share: number;
  keys: number;
  /** Invalidations a second of one key, per request a second offered. */
  invalidationRate: number;
}

/** Probabilities of keys 1..n under Zipf(s). */
function zipf(n: number, s: number): number[] {
  const weights = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / sum);
}

/** Hit rate of reads of `kind` when `reads` of them arrive a second; refreshed keys always hit. */
function hitRate(kind: Kind, reads: number, zipfS: number, refresh: boolean): number {
  let hits = 0;
  for (const p of zipf(kind.keys, zipfS)) {
    const r = p * reads;
    const w = kind.invalidationRate;
    hits += refresh && r >= w ? p : (p * r) / (r + w);
  }
  return hits;
}

function main(): void {
  const options = parseLoadOptions(process.argv.slice(2));
  const { users, zipf: s } = options;
  const posts = users * 10; // scripts/load seeds ten posts per user
  const reads = options.mix.reads / 100;
  const mutations = options.mix.mutations / 100;
  const sql = options.mix.sql / 100;
  // The workload's writes (scripts/load, Workload.pickKind and write()), per request:
  const renames = mutations * 0.4 + sql * 0.5; // users, uniform
  const postUpdates = mutations * 0.4 + sql * 0.5; // posts' titles, uniform
  const creates = mutations * 0.2; // a new post by a uniform author
  // Per key: a user is invalidated by its renames and, as the parent of a new post, by
  // its authors' creates; an author's list by its new posts and its ten posts' updates;
  // a post with its author by its own updates and by its author's.
  const user = renames / users + creates / users;
  const kinds: Kind[] = [
    { name: 'user', share: 0.4, keys: users, invalidationRate: user },
    {
      name: 'posts',
      share: 0.3,
      keys: users,
      invalidationRate: creates / users + (10 * postUpdates) / posts,
    },
    { name: 'post', share: 0.3, keys: posts, invalidationRate: postUpdates / posts + user },
  ];
  // Every rate scales with the offered rate, so the hit rate does not depend on it.
  const rate = 1000;
  for (const refresh of [false, true]) {
    let total = 0;
    const parts = kinds.map((kind) => {
      const scaled = { ...kind, invalidationRate: kind.invalidationRate * rate };
      const kindHits = hitRate(scaled, reads * kind.share * rate, s, refresh);
      total += kind.share * kindHits;
      return `${kind.name} ${(100 * kindHits).toFixed(1)}%`;
    });
    const label = refresh
      ? 'with refresh-ahead of keys read as often as written'
      : 'filling on a miss';
    console.log(`${label}: ${(100 * total).toFixed(1)}% (${parts.join(', ')})`);
  }
}

main();
