/**
 * Cascade drift: pgcascade.cascade_drift lists each entity that the triggers saw change in
 * a transaction whose cascade did not name it, i.e. what an incomplete mutation function
 * forgot. The mutation functions here are the test's own, over a table of its own.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(`
    create schema capture_drift;
    create table capture_drift.accounts (id bigint primary key, balance bigint not null);
    select pgcascade.track('capture_drift.accounts', 'Account', filters => '{}');
    insert into capture_drift.accounts select g, 100 from generate_series(1, 6) g;

    -- Moves money between two accounts but names only the payer in its cascade.
    create function capture_drift.transfer_forgetful(payer bigint, payee bigint, amount bigint)
    returns bigint language plpgsql as $$
    begin
      update capture_drift.accounts set balance = balance - amount where id = payer;
      update capture_drift.accounts set balance = balance + amount where id = payee;
      return pgcascade.emit(jsonb_build_object('updated', jsonb_build_array(
        jsonb_build_object('__typename', 'Account', 'id', payer::text))));
    end;
    $$;

    create function capture_drift.transfer(payer bigint, payee bigint, amount bigint)
    returns bigint language plpgsql as $$
    begin
      update capture_drift.accounts set balance = balance + case id when payer then -amount
        else amount end where id in (payer, payee);
      return pgcascade.emit(jsonb_build_object('updated', jsonb_build_array(
        jsonb_build_object('__typename', 'Account', 'id', payer),
        jsonb_build_object('__typename', 'Account', 'id', payee::text))));
    end;
    $$;
  `);
});

afterAll(async () => {
  await db.drop();
});

/** The drift rows of the transaction that wrote the audit entry `seq`. */
async function driftOf(seq: string) {
  const { rows } = await db.pool.query(
    `select missing_entity, relation, operation, cascade_seq::text, mutation_query
     from pgcascade.cascade_drift
     where xid = (select xid from pgcascade.audit where seq = $1)`,
    [seq],
  );
  return rows;
}

it('lists the entity that an incomplete mutation function left out of its cascade', async () => {
  const { rows } = await db.pool.query<{ seq: string }>(
    'select capture_drift.transfer_forgetful(1, 2, 10)::text as seq',
  );

  expect(await driftOf(rows[0].seq)).toEqual([
    {
      missing_entity: 'Account:2',
      relation: 'capture_drift.accounts',
      operation: 'UPDATE',
      cascade_seq: rows[0].seq,
      mutation_query: expect.stringContaining('transfer_forgetful'),
    },
  ]);
});

it('lists nothing for a mutation function whose cascade names every changed row', async () => {
  const { rows } = await db.pool.query<{ seq: string }>(
    'select capture_drift.transfer(3, 4, 10)::text as seq',
  );

  expect(await driftOf(rows[0].seq)).toEqual([]);
  const { rows: captured } = await db.pool.query(
    `select entities from pgcascade.audit
     where xid = (select xid from pgcascade.audit where seq = $1) and source = 'trigger'`,
    [rows[0].seq],
  );
  expect(captured.flatMap((r) => r.entities).sort()).toEqual(['Account:3', 'Account:4']);
});

it('lists nothing for a plain write that no mutation function made', async () => {
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    await client.query('update capture_drift.accounts set balance = 0 where id in (5, 6)');
    const { rows } = await client.query<{ xid: string }>('select pg_current_xact_id()::text xid');
    await client.query('commit');

    const drift = await db.pool.query('select 1 from pgcascade.cascade_drift where xid = $1', [
      rows[0].xid,
    ]);
    expect(drift.rows).toEqual([]);
  } finally {
    client.release();
  }
});
