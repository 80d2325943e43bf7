/**
 * This instance's row in pgcascade.instances: registered at start, refreshed by each
 * reconciliation run with its progress and misses, marked gone at shutdown. Rows whose
 * heartbeat is older than the stale limit are marked gone by whichever instance sees them.
 */
import os from 'node:os';
import type pg from 'pg';
import type { Logger } from '../logger';
import type { Applier } from './applier';

/** Options of {@link InstanceRegistry}. */
export interface RegistryOptions {
  /** PGCASCADE_INSTANCE_ID. */
  instanceId: string;
  /** A live row whose heartbeat is older than this many seconds is marked gone. */
  staleAfterSeconds: number;
}

/** Writes this instance's liveness and progress. */
export class InstanceRegistry {
  constructor(
    private readonly options: RegistryOptions,
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  /** Inserts or revives this instance's row. */
  async register(): Promise<void> {
    await this.pool.query(
      `insert into pgcascade.instances (id, host, pid)
       values ($1, $2, $3)
       on conflict (id) do update set
         host = excluded.host, pid = excluded.pid, status = 'live', started_at = now(),
         heartbeat_at = now(), applied_xmin = null, applied_seq = 0, applied_count = 0,
         missed_count = 0, listener_connected = false`,
      [this.options.instanceId, os.hostname(), process.pid],
    );
    this.log.info({ instanceId: this.options.instanceId }, 'instance registered');
  }

  /** Heartbeat with progress; records the misses gathered since the last report. */
  async report(
    applier: Applier,
    appliedXmin: string | undefined,
    listening: boolean,
  ): Promise<void> {
    const missed = applier.drainMissed();
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      await client.query(
        `update pgcascade.instances set heartbeat_at = now(), status = 'live',
           applied_xmin = $2::xid8, applied_seq = $3, applied_count = $4, missed_count = $5,
           listener_connected = $6
         where id = $1`,
        [
          this.options.instanceId,
          appliedXmin ?? null,
          applier.highestSeq,
          applier.appliedCount,
          applier.missedCount,
          listening,
        ],
      );
      if (missed.length > 0) {
        await client.query(
          `insert into pgcascade.missed (instance_id, seq, entry_created_at, delay_ms, found_by)
           select $1, m.seq, to_timestamp(m.created_ms / 1000.0), m.delay_ms, m.found_by
           from unnest($2::bigint[], $3::float8[], $4::float8[], $5::text[])
             as m(seq, created_ms, delay_ms, found_by)
           on conflict do nothing`,
          [
            this.options.instanceId,
            missed.map((m) => m.seq),
            missed.map((m) => m.createdAtMs),
            missed.map((m) => m.delayMs),
            missed.map((m) => m.foundBy),
          ],
        );
      }
      await client.query(
        `update pgcascade.instances set status = 'gone'
         where status = 'live' and id <> $1
           and heartbeat_at < now() - make_interval(secs => $2)`,
        [this.options.instanceId, this.options.staleAfterSeconds],
      );
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      // Keep the records for the next run rather than lose them.
      for (const record of missed) applier.requeueMissed(record);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Marks this instance gone (clean shutdown). */
  async deregister(): Promise<void> {
    await this.pool.query(
      `update pgcascade.instances set status = 'gone', listener_connected = false where id = $1`,
      [this.options.instanceId],
    );
  }
}
