/**
 * The load test's staleness check: what a run read and wrote, and which reads returned
 * data older than a write whose invalidation the instance had applied before the read
 * was sent. scripts/load and scripts/chaos report its count as "stale reads".
 */

/** What the load test sends. */
export type Kind = 'user' | 'posts' | 'post' | 'renameUser' | 'updatePost' | 'createPost' | 'sql';

/** An entity in a read's answer, and the version its name or title carries. */
export interface Observation {
  entity: string;
  version: number;
}

/** A read: when it was sent, and the version of each entity in its answer. */
export interface ReadRecord {
  kind: Kind;
  sentAt: number;
  /** The response's x-cache header: hit, miss or bypass. */
  cache: string | null;
  observations: Observation[];
  list?: { author: number; ids: number[]; full: boolean };
}

/** A write of one entity; versions grow with each write the workload sends. */
export interface WriteRecord {
  entity: string;
  version: number;
  /** When its invalidation was applied (mutations: when the response arrived). */
  appliedAt?: number;
  /** The audit entry of a direct SQL write, whose applied time the server reports. */
  seq?: number;
}

/** A post created through a mutation, which lists of its author must show from then on. */
export interface CreateRecord {
  author: number;
  id: number;
  appliedAt: number;
}

/** What a run recorded, for the check. */
export interface RecordedWorkload {
  reads: ReadRecord[];
  writes: WriteRecord[];
  creates: CreateRecord[];
}

/**
 * Reads that returned data older than a write applied before the read was sent, and lists
 * that missed a post created before they were asked for. Times are `wall()` in both
 * processes: with whole milliseconds on the server's side, reads sent up to a millisecond
 * before an invalidation was applied were counted stale (1 in a run at 2,500/s).
 */
export function findStaleReads(w: RecordedWorkload): {
  stale: number;
  examples: string[];
} {
  const byEntity = new Map<string, WriteRecord[]>();
  for (const write of w.writes) {
    if (write.appliedAt === undefined) continue;
    const list = byEntity.get(write.entity) ?? [];
    list.push(write);
    byEntity.set(write.entity, list);
  }
  for (const list of byEntity.values()) list.sort((a, b) => a.appliedAt! - b.appliedAt!);
  const createsByAuthor = new Map<number, CreateRecord[]>();
  for (const c of w.creates) {
    const list = createsByAuthor.get(c.author) ?? [];
    list.push(c);
    createsByAuthor.set(c.author, list);
  }

  let stale = 0;
  const examples: string[] = [];
  for (const read of w.reads) {
    let isStale = false;
    for (const o of read.observations) {
      const writes = byEntity.get(o.entity);
      if (!writes) continue;
      let latest: WriteRecord | undefined;
      for (const write of writes) {
        if (write.appliedAt! >= read.sentAt) break;
        if (!latest || write.version > latest.version) latest = write;
      }
      if (latest && o.version < latest.version) {
        isStale = true;
        if (examples.length < 5) {
          const by = latest.seq === undefined ? 'mutation' : `SQL, seq ${latest.seq}`;
          const before = (read.sentAt - latest.appliedAt!).toFixed(1);
          examples.push(
            `${o.entity} read v${o.version} after v${latest.version} (${by}) was applied, ` +
              `${before} ms before the ${read.kind} read (${read.cache}) was sent`,
          );
        }
      }
    }
    if (read.list) {
      const floor = read.list.full ? Math.min(...read.list.ids) : 0;
      for (const c of createsByAuthor.get(read.list.author) ?? []) {
        if (c.appliedAt < read.sentAt && c.id > floor && !read.list.ids.includes(c.id)) {
          isStale = true;
          if (examples.length < 5)
            examples.push(`posts(authorId: ${read.list.author}) missed new Post:${c.id}`);
        }
      }
    }
    if (isStale) stale++;
  }
  return { stale, examples };
}
