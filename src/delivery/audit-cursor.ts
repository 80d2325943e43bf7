/**
 * A position in the audit trail that never skips an entry, even though sequences
 * commit out of order: besides the highest sequence seen it remembers the transactions
 * that were still in progress at the last read, and asks for their entries again.
 * A read that fails leaves the position unchanged, so the next read repeats it.
 */
import type { QueryConfig, QueryResult } from 'pg';

/** Anything that runs a query: a pg Client, a Pool, or a pooled client. */
export interface Queryable {
  query(text: string | QueryConfig, values?: unknown[]): Promise<QueryResult>;
}

/** One audit entry as the delivery path needs it. */
export interface AuditEntry {
  seq: number;
  xid: string;
  tags: string[];
  /** When the entry was written (its statement ran), as epoch milliseconds. */
  createdAtMs: number;
}

/** The result of one read. */
export interface CursorRead {
  entries: AuditEntry[];
  /** True when the read hit its limit and another read should follow at once. */
  more: boolean;
}

/** A parsed pg_snapshot: xids below xmin are finished; those in xip were running. */
export interface Snapshot {
  xmin: string;
  xmax: string;
  xip: string[];
}

/** Parses pg_snapshot text (`xmin:xmax:xip1,xip2`). */
export function parseSnapshot(text: string): Snapshot {
  const [xmin, xmax, xip] = text.split(':');
  return { xmin, xmax, xip: xip ? xip.split(',') : [] };
}

// Entries not seen yet are new (seq above the highest seen: a sequence is taken when
// the row is written) or belong to a transaction that was running at the last read,
// whatever their seq. A snapshot lists running transactions only below its xmax (one
// past the latest completed xid), so those at or above it are asked for by range.
// One statement, one snapshot, so the parts agree.
//
// Each part has its own index: the new entries the primary key, in order and up to the
// limit; the running transactions' ones the xid index, fenced by offset 0 so the planner
// cannot fold seq <= $1 into that scan. Written as one filter (seq > $1 or xid ...), the
// planner walked the whole primary key for the ordered limit: 100 ms a read at 200,000
// entries. Entries of the second part are at or below the highest seen, so a read cut
// at the limit still leaves everything above its last entry for the next read.
//
// The parameters are typed xid8 themselves: cast from text[] inside the filter, they were
// converted again for every row a scan looked at. A session that reads often should also
// refuse sequential scans (READ_SESSION_OPTIONS): see there.
export const READ_SQL = `
  select s.snapshot, e.seq, e.xid::text as xid, e.tags,
    (extract(epoch from e.created_at) * 1000)::float8 as created_at_ms
  from (select pg_current_snapshot()::text as snapshot) s
  left join lateral (
    (select seq, xid, tags, created_at from pgcascade.audit
      where seq > $1 order by seq limit $3)
    union all
    (select * from (
        select seq, xid, tags, created_at from pgcascade.audit
        where xid = any ($2::xid8[]) or xid >= $4::xid8
        offset 0) running
      where running.seq <= $1)
  ) e on true
  order by e.seq`;

/**
 * Startup options for a connection that runs READ_SQL many times a second. A named
 * statement keeps the generic plan made when it was first planned; made while the audit
 * trail was nearly empty (a fresh install, after pruning) that plan scans the whole table,
 * and it stays until the next ANALYZE, however much the trail grows: 3.5 ms a read at
 * 8,000 entries, against 0.2 ms through the indexes.
 */
export const READ_SESSION_OPTIONS = '-c enable_seqscan=off';

const START_SQL = `
  select pg_current_snapshot()::text as snapshot,
    coalesce((select max(seq) from pgcascade.audit), 0) as max_seq`;

/** The read position of one consumer of the audit trail. */
export class AuditCursor {
  private maxSeq = 0;
  private pending: string[] = [];
  private snapshot: Snapshot | undefined;

  /**
   * @param limit most entries one read returns. Default 2000.
   */
  constructor(private readonly limit = 2000) {}

  /** Whether start() has run. */
  get started(): boolean {
    return this.snapshot !== undefined;
  }

  /** Highest sequence seen. */
  get highestSeq(): number {
    return this.maxSeq;
  }

  /** The snapshot of the last read: every entry of a transaction below xmin was read. */
  get lastSnapshot(): Snapshot | undefined {
    return this.snapshot;
  }

  /** Transactions still running at the last read. */
  get pendingXids(): readonly string[] {
    return this.pending;
  }

  /**
   * Starts at the present: entries committed before now are of no interest to an empty
   * cache, but those of transactions still running are.
   */
  async start(db: Queryable): Promise<void> {
    const { rows } = await db.query(START_SQL);
    this.snapshot = parseSnapshot(rows[0].snapshot);
    this.pending = this.snapshot.xip;
    this.maxSeq = Number(rows[0].max_seq);
  }

  /** Starts at exactly the position of `other`, so two cursors see the same entries. */
  startFrom(other: AuditCursor): void {
    if (!other.snapshot) throw new Error('AuditCursor.startFrom a cursor that has not started');
    this.snapshot = other.snapshot;
    this.pending = other.pending;
    this.maxSeq = other.maxSeq;
  }

  /** Reads the entries committed since the last read, in sequence order. */
  async read(db: Queryable): Promise<CursorRead> {
    if (!this.snapshot) throw new Error('AuditCursor.read before start');
    // Named, so each connection plans it once: the listener reads every few ms.
    const { rows } = await db.query({
      name: 'pgcascade_read_audit',
      text: READ_SQL,
      values: [this.maxSeq, this.pending, this.limit, this.snapshot.xmax],
    });
    const snapshot = parseSnapshot(rows[0].snapshot);
    const entries: AuditEntry[] = [];
    let above = 0;
    for (const row of rows) {
      if (row.seq === null) continue;
      const seq = Number(row.seq);
      entries.push({ seq, xid: row.xid, tags: row.tags, createdAtMs: row.created_at_ms });
      if (seq > this.maxSeq) {
        this.maxSeq = seq;
        above++;
      }
    }
    // Only the part above the highest seen is limited.
    const more = above >= this.limit;
    // When the read was cut short, transactions that were pending may still have
    // entries above the cut; they have seq > maxSeq, so the next read finds them.
    this.pending = snapshot.xip;
    this.snapshot = snapshot;
    return { entries, more };
  }
}
