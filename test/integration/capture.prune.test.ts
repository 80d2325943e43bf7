/**
 * Retention: pgcascade.prune(older_than) deletes the audit entries created before that
 * age and returns how many it deleted. With no service instance registered nothing holds
 * entries back. The test ages its own entries by rewriting their created_at.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

async function invalidate(id: string): Promise<string> {
  const { rows } = await db.pool.query<{ seq: string }>(
    "select pgcascade.invalidate('Pruned', $1)::text as seq",
    [id],
  );
  return rows[0].seq;
}

it('deletes the entries older than the interval and returns their count', async () => {
  const old = [await invalidate('1'), await invalidate('2'), await invalidate('3')];
  const recent = [await invalidate('4'), await invalidate('5')];
  await db.pool.query(
    "update pgcascade.audit set created_at = now() - interval '2 days' where seq = any($1)",
    [old],
  );

  const { rows } = await db.pool.query("select pgcascade.prune('1 day')::int as pruned");

  expect(rows[0].pruned).toBe(3);
  const left = await db.pool.query<{ seq: string }>(
    'select seq::text from pgcascade.audit where seq = any($1) order by seq',
    [[...old, ...recent]],
  );
  expect(left.rows.map((r) => r.seq)).toEqual(recent);
});

it('returns zero when nothing is old enough', async () => {
  await invalidate('6');

  const { rows } = await db.pool.query("select pgcascade.prune('1 hour')::int as pruned");

  expect(rows[0].pruned).toBe(0);
});
