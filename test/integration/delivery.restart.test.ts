import pg from 'pg';
import { migrate } from '../../src/db/migrate';
import { silentLogger } from '../../src/logger';
import { startTestDelivery } from '../helpers/delivery';
import { spawnEmbedded, type EmbeddedProcess } from '../helpers/embedded-process';

describe('delivery across a PostgreSQL restart', () => {
  let server: EmbeddedProcess;

  beforeAll(async () => {
    server = await spawnEmbedded();
    const client = new pg.Client(server.url);
    await client.connect();
    await migrate(client, 'core', silentLogger);
    await client.query(`
      create schema t;
      create table t.items (id bigint primary key);
      select pgcascade.track('t.items', 'Item', 'id', '{}', '{}');`);
    await client.end();
  }, 60_000);

  afterAll(() => server.stop());

  it('reconnects, catches up and applies writes made before and after it is back', async () => {
    const { cache, bus, delivery, stop } = await startTestDelivery(server.url, {
      instanceId: 'restart-test',
      listener: { backoffMinMs: 20, backoffMaxMs: 200 },
    });
    try {
      const lost = bus.next('listener:disconnected');
      const back = bus.next('listener:connected');
      await server.restart();
      await lost;

      // Written as soon as the server is back, possibly before the listener is.
      const writer = new pg.Client(server.url);
      writer.on('error', () => undefined);
      await writer.connect();
      await writer.query('insert into t.items values (1)');
      await back;
      await delivery.sync();
      expect(cache.count('Item:1')).toBe(1);

      const live = bus.next('invalidation:applied', () => cache.saw('Item:2'));
      await writer.query('insert into t.items values (2)');
      expect((await live).source).toBe('listener');
      await writer.end();
    } finally {
      await stop();
    }
  }, 60_000);
});
