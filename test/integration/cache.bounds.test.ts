import { startTestService, type TestService } from '../helpers/service';

describe('cache bounds', () => {
  describe('with a 16 KiB bound', () => {
    let t: TestService;

    beforeAll(async () => {
      t = await startTestService({ users: 20, env: { PGCASCADE_CACHE_MAX_BYTES: '16384' } });
    });

    afterAll(() => t.stop());

    it('never holds more bytes than the bound under a flood of distinct queries', async () => {
      for (let n = 0; n < 200; n++) {
        const response = await t.gql(`{ a${n}: users(first: ${(n % 20) + 1}) { id name email } }`);
        expect(response.status).toBe(200);
        expect(t.service.store.stats().bytes).toBeLessThanOrEqual(16384);
      }
      expect(t.service.store.stats().entries).toBeGreaterThan(0);
      expect(t.service.metrics.evictions.get('size') ?? 0).toBeGreaterThan(0);

      const metrics = await (await fetch(`${t.service.url}/metrics`)).text();
      const bytes = Number(/^pgcascade_cache_bytes\{[^}]*\} (\d+)/m.exec(metrics)![1]);
      expect(bytes).toBeLessThanOrEqual(16384);
      expect(metrics).toMatch(/^pgcascade_cache_evictions_total\{reason="size"[^}]*\} [1-9]/m);
    });
  });

  describe('expiry', () => {
    let t: TestService;
    let clock = 1_000_000;

    beforeAll(async () => {
      t = await startTestService({
        users: 3,
        env: { PGCASCADE_CACHE_TTL_SECONDS: '60' },
        service: { now: () => clock },
      });
    });

    afterAll(() => t.stop());

    it('expires an entry after PGCASCADE_CACHE_TTL_SECONDS', async () => {
      const query = '{ user(id: 1) { name } }';
      await t.gql(query);
      clock += 59_000;
      expect((await t.gql(query)).cache).toBe('hit');
      clock += 2_000;
      expect((await t.gql(query)).cache).toBe('miss');
      expect((await t.gql(query)).cache).toBe('hit');
    });
  });

  describe('with PGCASCADE_CACHE_TTL_SECONDS=0', () => {
    let t: TestService;

    beforeAll(async () => {
      t = await startTestService({ users: 3, env: { PGCASCADE_CACHE_TTL_SECONDS: '0' } });
    });

    afterAll(() => t.stop());

    it('bypasses the cache entirely', async () => {
      const query = '{ user(id: 1) { name } }';
      expect((await t.gql(query)).cache).toBe('bypass');
      expect((await t.gql(query)).cache).toBe('bypass');
      expect(t.service.store.stats().entries).toBe(0);
    });
  });
});
