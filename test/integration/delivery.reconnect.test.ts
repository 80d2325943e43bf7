import pg from 'pg';
import type { EventBus } from '../../src/events';
import { adminUrl, createTestDatabase, type TestDatabase } from '../helpers/database';
import { startTestDelivery } from '../helpers/delivery';
import { TcpProxy } from '../helpers/tcp-proxy';

describe('delivery when the listener loses its connection', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let writer: pg.Client;
  let nextId = 1;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`
      create schema t;
      create table t.items (id bigint primary key);
      select pgcascade.track('t.items', 'Item', 'id', '{}', '{}');`);
    admin = new pg.Client(adminUrl());
    writer = new pg.Client(db.url);
    await Promise.all([admin.connect(), writer.connect()]);
  });

  afterAll(async () => {
    await admin.query(`alter database ${db.name} allow_connections true`);
    await Promise.all([admin.end(), writer.end()]);
    await db.drop();
  });

  const startDelivery = (url = db.url, instanceId = 'reconnect-test') =>
    startTestDelivery(url, { instanceId });

  // Keeps the listener from reconnecting: the database refuses new connections while
  // the connections already open (the service's pool, the test's writer) keep working.
  async function refuseConnections(refuse: boolean) {
    await admin.query(`alter database ${db.name} allow_connections ${!refuse}`);
  }

  async function terminateListener(bus: EventBus) {
    const lost = bus.next('listener:disconnected');
    const { rows } = await admin.query(
      `select pg_terminate_backend(pid) as done from pg_stat_activity
       where datname = $1 and application_name = 'pgcascade-listener'`,
      [db.name],
    );
    expect(rows).toHaveLength(1);
    await lost;
  }

  it('repairs writes committed while the listener is down at the next reconciliation', async () => {
    const { cache, bus, delivery, stop } = await startDelivery();
    try {
      await refuseConnections(true);
      await terminateListener(bus);
      const id = nextId++;
      await writer.query('insert into t.items values ($1)', [id]);
      const { rows } = await writer.query('select max(seq)::int as seq from pgcascade.audit');
      expect(cache.saw(`Item:${id}`)).toBe(false);

      await delivery.reconciler.runOnce();
      expect(cache.saw(`Item:${id}`)).toBe(true);
      expect(delivery.applier.missedCount).toBe(1);
      const recorded = await db.pool.query(
        `select seq::int, found_by, delay_ms from pgcascade.missed where instance_id = 'reconnect-test'`,
      );
      expect(recorded.rows).toEqual([
        { seq: rows[0].seq, found_by: 'reconciliation', delay_ms: expect.any(Number) },
      ]);
      const instance = await db.pool.query(
        `select missed_count::int, listener_connected from pgcascade.instances where id = 'reconnect-test'`,
      );
      expect(instance.rows[0]).toEqual({ missed_count: 1, listener_connected: false });

      const back = bus.next('listener:connected');
      await refuseConnections(false);
      await back;
      await delivery.sync();
      expect(cache.count(`Item:${id}`)).toBe(1);
    } finally {
      await refuseConnections(false);
      await stop();
    }
  });

  it('finds a long transaction that wrote early and committed late, while down', async () => {
    const { cache, bus, delivery, stop } = await startDelivery();
    const long = new pg.Client(db.url);
    await long.connect();
    try {
      const early = nextId++;
      const late = nextId++;
      await long.query('begin');
      await long.query('insert into t.items values ($1)', [early]);

      await refuseConnections(true);
      await terminateListener(bus);
      await writer.query('insert into t.items values ($1)', [late]);
      await delivery.reconciler.runOnce();
      expect(cache.saw(`Item:${late}`)).toBe(true);
      expect(cache.saw(`Item:${early}`)).toBe(false);

      await long.query('commit');
      await delivery.reconciler.runOnce();
      expect(cache.saw(`Item:${early}`)).toBe(true);
      expect(delivery.applier.missedCount).toBe(2);
    } finally {
      await long.end();
      await refuseConnections(false);
      await stop();
    }
  });

  it('catches up after a reconnect and counts what it found as missed', async () => {
    const { cache, bus, delivery, stop } = await startDelivery();
    try {
      await refuseConnections(true);
      await terminateListener(bus);
      const id = nextId++;
      await writer.query('insert into t.items values ($1)', [id]);

      const missed = bus.next('delivery:missed');
      await refuseConnections(false);
      expect(await missed).toMatchObject({ foundBy: 'catch-up' });
      expect(cache.count(`Item:${id}`)).toBe(1);
      expect(delivery.listener.reconnectCount).toBeGreaterThanOrEqual(1);
    } finally {
      await refuseConnections(false);
      await stop();
    }
  });

  it('notices a stalled network through its heartbeat and reconnects', async () => {
    const target = new URL(db.url);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    const { cache, bus, delivery, stop } = await startTestDelivery(db.url, {
      listenerUrl: proxy.wrap(db.url),
      instanceId: 'stall-test',
      listener: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300, backoffMinMs: 20 },
    });
    try {
      const lost = bus.next('listener:disconnected');
      proxy.pause();
      const id = nextId++;
      await writer.query('insert into t.items values ($1)', [id]);
      expect(await lost).toEqual({ reason: 'heartbeat timed out' });

      const back = bus.next('listener:connected');
      proxy.resume();
      await back;
      await delivery.sync();
      expect(cache.count(`Item:${id}`)).toBe(1);
    } finally {
      await stop();
      await proxy.stop();
    }
  });

  it('invalidates on every instance when three share one database', async () => {
    const instances = await Promise.all(
      ['a', 'b', 'c'].map((name) => startDelivery(db.url, `many-${name}`)),
    );
    try {
      const id = nextId++;
      const applied = instances.map((i) =>
        i.bus.next('invalidation:applied', () => i.cache.saw(`Item:${id}`)),
      );
      await writer.query('insert into t.items values ($1)', [id]);
      await Promise.all(applied);
      for (const i of instances) expect(i.cache.count(`Item:${id}`)).toBe(1);
      const { rows } = await db.pool.query(
        `select count(*)::int as n from pgcascade.instances where id like 'many-%' and status = 'live'`,
      );
      expect(rows[0].n).toBe(3);
    } finally {
      await Promise.all(instances.map((i) => i.stop()));
    }
  });
});
