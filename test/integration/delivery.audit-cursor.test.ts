import pg from 'pg';
import { AuditCursor, READ_SQL } from '../../src/delivery/audit-cursor';
import { listenerClientConfig } from '../../src/delivery/listener';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

describe('the audit cursor', () => {
  let db: TestDatabase;
  let a: pg.Client;
  let b: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`
      create schema c;
      create table c.rows (id bigint primary key);
      select pgcascade.track('c.rows', 'Row', 'id', '{}', '{}');`);
    a = new pg.Client(db.url);
    b = new pg.Client(db.url);
    await Promise.all([a.connect(), b.connect()]);
  });

  afterAll(async () => {
    await Promise.all([a.end(), b.end()]);
    await db.drop();
  });

  async function readTags(cursor: AuditCursor): Promise<string[]> {
    const { entries } = await cursor.read(db.pool);
    return entries.flatMap((e) => e.tags.filter((t) => t.startsWith('Row:')));
  }

  it('finds an entry written early by a transaction that commits after later ones', async () => {
    const cursor = new AuditCursor();
    await cursor.start(db.pool);

    await a.query('begin');
    await a.query('insert into c.rows values (1)');
    await b.query('insert into c.rows values (2)');
    expect(await readTags(cursor)).toEqual(['Row:2']);

    await a.query('commit');
    expect(await readTags(cursor)).toEqual(['Row:1']);
    expect(await readTags(cursor)).toEqual([]);
  });

  it('finds an entry of a transaction at or above the snapshot xmax, which xip omits', async () => {
    const cursor = new AuditCursor();
    await cursor.start(db.pool);

    // a takes the lower xid but the higher seq; b the higher xid and the lower seq.
    await a.query('begin');
    await a.query('select pg_current_xact_id()');
    await b.query('begin');
    await b.query('select pg_current_xact_id()');
    await b.query('insert into c.rows values (10)');
    await a.query('insert into c.rows values (11)');
    await a.query('commit');
    // Only a has completed: the snapshot's xmax is b's xid, so b is not in its xip.
    expect(await readTags(cursor)).toEqual(['Row:11']);

    await b.query('commit');
    expect(await readTags(cursor)).toEqual(['Row:10']);
  });

  it('reads a backlog larger than its limit in several reads without losing entries', async () => {
    const cursor = new AuditCursor(3);
    await cursor.start(db.pool);
    for (let id = 100; id < 110; id++) await db.pool.query('insert into c.rows values ($1)', [id]);

    const seen: string[] = [];
    for (;;) {
      const { entries, more } = await cursor.read(db.pool);
      seen.push(...entries.flatMap((e) => e.tags.filter((t) => t.startsWith('Row:'))));
      if (!more) break;
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `Row:${100 + i}`));
  });

  it("finds a running transaction's entry across reads cut at the limit, once", async () => {
    const cursor = new AuditCursor(2);
    await cursor.start(db.pool);
    await a.query('begin');
    await a.query('insert into c.rows values (200)');
    for (let id = 201; id < 206; id++) await db.pool.query('insert into c.rows values ($1)', [id]);

    const seen: string[] = [];
    const readUntilDone = async () => {
      for (;;) {
        const { entries, more } = await cursor.read(db.pool);
        seen.push(...entries.flatMap((e) => e.tags.filter((t) => t.startsWith('Row:'))));
        if (!more) break;
      }
    };
    await readUntilDone();
    await a.query('commit');
    await readUntilDone();
    await readUntilDone();

    expect(seen).toEqual(['Row:201', 'Row:202', 'Row:203', 'Row:204', 'Row:205', 'Row:200']);
  });

  // Each read walked the whole primary key once the audit trail grew: 100 ms at 200,000
  // entries, on a listener that reads every 2 ms while writes arrive.
  it('reads a few pages however long the audit trail is', async () => {
    await db.pool.query(`insert into pgcascade.audit (source, tags)
      select 'manual', array['Row:' || g] from generate_series(1, 100000) g`);
    const cursor = new AuditCursor();
    await cursor.start(db.pool);
    await a.query('begin');
    await a.query('insert into c.rows values (300)');
    await db.pool.query('insert into c.rows values (301)');
    const { rows: xids } = await a.query('select pg_current_xact_id()::text as xid');

    const { rows } = await db.pool.query(`explain (analyze, buffers, format json) ${READ_SQL}`, [
      cursor.highestSeq,
      [xids[0].xid],
      2000,
      cursor.lastSnapshot!.xmax,
    ]);
    await a.query('commit');

    const plan = rows[0]['QUERY PLAN'][0].Plan;
    const pages = plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
    expect(pages).toBeLessThan(100);
  });

  it('ignores entries of transactions that committed before it started', async () => {
    await db.pool.query('insert into c.rows values (500)');
    const cursor = new AuditCursor();
    await cursor.start(db.pool);
    expect(await readTags(cursor)).toEqual([]);
  });

  // Pages one read touches on `client` once the trail has grown from nearly empty to
  // 20,000 entries, with the plan its named statement got while the trail was small.
  async function pagesAfterGrowth(client: pg.Client, row: number): Promise<number> {
    // Truncated, not deleted: a heap that keeps its pages does not look small.
    await db.pool.query('truncate pgcascade.audit');
    await db.pool.query('insert into c.rows values ($1)', [row]);
    await db.pool.query('analyze pgcascade.audit');
    // The generic plan at once, instead of after five custom ones.
    await client.query('set plan_cache_mode = force_generic_plan');
    const cursor = new AuditCursor();
    await cursor.start(client);
    await cursor.read(client);
    await db.pool.query(`insert into pgcascade.audit (source, tags)
      select 'manual', array['Row:' || g] from generate_series(1, 20000) g`);
    while ((await cursor.read(client)).more);
    // The next read, which finds nothing new. EXPLAIN cannot bind parameters.
    const pending = `'{${cursor.pendingXids.join(',')}}'`;
    const args = `${cursor.highestSeq}, ${pending}, 2000, '${cursor.lastSnapshot!.xmax}'`;
    const { rows } = await client.query(
      `explain (analyze, buffers, format json) execute pgcascade_read_audit(${args})`,
    );
    const plan = rows[0]['QUERY PLAN'][0].Plan;
    return plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
  }

  it("keeps the listener's reads on the indexes when its plan was made on a small trail", async () => {
    const listenerLike = new pg.Client(listenerClientConfig(db.url));
    const plain = new pg.Client(db.url);
    await Promise.all([listenerLike.connect(), plain.connect()]);
    try {
      // The trap: a plain session keeps a plan that scans the whole trail.
      expect(await pagesAfterGrowth(plain, 700)).toBeGreaterThan(100);
      expect(await pagesAfterGrowth(listenerLike, 701)).toBeLessThan(20);
    } finally {
      await Promise.all([listenerLike.end(), plain.end()]);
    }
  });
});
