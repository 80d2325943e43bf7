import pg from 'pg';
import { migrate } from '../../src/db/migrate';
import { silentLogger } from '../../src/logger';
import { adminUrl, databaseUrl } from '../helpers/database';

describe('migrations', () => {
  const name = `pgcascade_t${process.pid}_migrate_${process.env.PGC_TEST_TEMPLATE?.split('_').pop()}`;

  beforeAll(async () => {
    const admin = new pg.Client(adminUrl());
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
  });

  afterAll(async () => {
    const admin = new pg.Client(adminUrl());
    await admin.connect();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  });

  it('applies each migration once when two instances start at the same time', async () => {
    const clients = [new pg.Client(databaseUrl(name)), new pg.Client(databaseUrl(name))];
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const results = await Promise.all(clients.map((c) => migrate(c, 'core', silentLogger)));
      const applied = results.flat();
      expect(applied.length).toBeGreaterThan(0);
      expect(new Set(applied).size).toBe(applied.length);
      expect(results.some((r) => r.length === 0)).toBe(true);

      const { rows } = await clients[0].query(
        "select count(*)::int as n from pgcascade.migrations where migration_set = 'core'",
      );
      expect(rows[0].n).toBe(applied.length);
      expect(await migrate(clients[0], 'core', silentLogger)).toEqual([]);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});
