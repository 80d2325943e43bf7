import pg from 'pg';
import type { Delivery } from '../../src/delivery/delivery';
import type { EventBus } from '../../src/events';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { startTestDelivery, type TestDelivery } from '../helpers/delivery';
import type { RecordingCache } from '../helpers/recording-cache';

describe('delivery through the listener', () => {
  let db: TestDatabase;
  let running: TestDelivery;
  let cache: RecordingCache;
  let bus: EventBus;
  let delivery: Delivery;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`
      create schema t;
      create table t.items (id bigint primary key, list int not null default 0, note text);
      select pgcascade.track('t.items', 'Item', 'id', '{}', '{list}');`);
  });

  beforeEach(async () => {
    running = await startTestDelivery(db.url, { instanceId: 'listener-test' });
    ({ cache, bus, delivery } = running);
  });

  afterEach(() => running.stop());

  afterAll(() => db.drop());

  it('applies a committed write and never a rolled-back one', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query('insert into t.items (id) values (1)');
      await client.query('rollback');
    } finally {
      client.release();
    }
    const applied = bus.next('invalidation:applied');
    await db.pool.query('insert into t.items (id) values (2)');
    const event = await applied;

    expect(event.source).toBe('listener');
    expect(cache.saw('Item:2')).toBe(true);
    expect(cache.saw('Item:1')).toBe(false);
    expect(event.lagMs).toBeLessThan(1000);
  });

  it('skips a malformed notification and still applies the next change', async () => {
    const garbage = bus.next('listener:garbage');
    await db.pool.query(`select pg_notify('pgcascade', 'not json at all')`);
    expect((await garbage).payload).toBe('not json at all');

    const applied = bus.next('invalidation:applied', () => cache.saw('Item:3'));
    await db.pool.query('insert into t.items (id) values (3)');
    await applied;
    expect(delivery.listener.connected).toBe(true);
  });

  it('applies a 10,000-row statement whose tags do not fit in a notification', async () => {
    await db.pool.query('insert into t.items (id) select g from generate_series(100001, 110000) g');
    await delivery.sync();
    expect(cache.saw('Item:100001')).toBe(true);
    expect(cache.saw('Item:110000')).toBe(true);
    const big = cache.calls.find((tags) => tags.includes('Item:105000'))!;
    expect(big.length).toBeGreaterThanOrEqual(10_000);
  });

  it('applies each of a burst of 5,000 one-row transactions exactly once', async () => {
    const writers = Array.from({ length: 8 }, () => new pg.Client(db.url));
    await Promise.all(writers.map((w) => w.connect()));
    try {
      await Promise.all(
        writers.map(async (w, i) => {
          for (let n = 0; n < 625; n++) {
            await w.query('insert into t.items (id) values ($1)', [200_000 + i * 1000 + n]);
          }
        }),
      );
    } finally {
      await Promise.all(writers.map((w) => w.end()));
    }
    await delivery.sync();

    const counts = new Map<string, number>();
    for (const tags of cache.calls) for (const t of tags) counts.set(t, (counts.get(t) ?? 0) + 1);
    const notOnce: string[] = [];
    for (let i = 0; i < 8; i++) {
      for (let n = 0; n < 625; n++) {
        const tag = `Item:${200_000 + i * 1000 + n}`;
        if (counts.get(tag) !== 1) notOnce.push(tag);
      }
    }
    expect(notOnce).toEqual([]);
    expect(delivery.applier.missedCount).toBe(0);
  });

  it('sync() makes every change committed before it visible to the cache', async () => {
    await db.pool.query(`update t.items set list = 1 where id = 2`);
    await delivery.sync();
    expect(cache.saw('Item[list=1]')).toBe(true);
  });

  it('starts over on a new connection when a read fails without the connection failing', async () => {
    const lost = bus.next('listener:disconnected');
    await db.pool.query('alter table pgcascade.audit rename to audit_away');
    try {
      // A wake-up without tags makes the idle listener read, and the read fails.
      await db.pool.query(`select pg_notify('pgcascade', '{"s": 1}')`);
      expect((await lost).reason).toMatch(/^drain failed: relation "pgcascade.audit"/);
    } finally {
      await db.pool.query('alter table pgcascade.audit_away rename to audit');
    }
    await bus.next('listener:idle');
    const applied = bus.next('invalidation:applied', () => cache.saw('Item:9'));
    await db.pool.query('insert into t.items (id) values (9)');
    expect((await applied).source).toBe('listener');
  });
});
