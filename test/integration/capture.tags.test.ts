/**
 * Capture tags: which tags one statement on a tracked table records, rule by rule. The
 * cache indexes results by the same strings, so a missing tag is a stale read. Each test
 * writes to a table of its own and reads the entry that table's triggers wrote.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { entriesOf } from '../helpers/capture';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create schema capture_tags');
});

afterAll(async () => {
  await db.drop();
});

/** An Item table whose owner_id points at an Owner; `filters` as track() takes them. */
async function items(name: string, filters: string[] | null): Promise<string> {
  const table = `capture_tags.${name}`;
  await db.pool.query(
    `create table ${table} (id bigint primary key, owner_id bigint, status text, title text)`,
  );
  await db.pool.query(`select pgcascade.track($1, 'Item', 'id', '{"owner_id": "Owner"}', $2)`, [
    table,
    filters,
  ]);
  return table;
}

async function lastTags(table: string): Promise<string[]> {
  const entries = await entriesOf(db.pool, table);
  return [...entries[entries.length - 1].tags].sort();
}

describe('with filters declared', () => {
  it('tags an inserted row, the unfiltered list, its filtered lists and its parent', async () => {
    const table = await items('insert_known', ['status']);

    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);

    expect(await lastTags(table)).toEqual(
      ['Item:1', 'Item[]', 'Item[owner_id=5]', 'Item[status=open]', 'Owner:5'].sort(),
    );
  });

  it('tags null list values as null and skips a null parent', async () => {
    const table = await items('insert_nulls', ['status']);

    await db.pool.query(`insert into ${table} values (2, null, null, 'a')`);

    expect(await lastTags(table)).toEqual(
      ['Item:2', 'Item[]', 'Item[owner_id=null]', 'Item[status=null]'].sort(),
    );
  });

  it('tags only the entity when an update leaves every list column alone', async () => {
    const table = await items('update_plain', ['status']);
    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);

    await db.pool.query(`update ${table} set title = 'b' where id = 1`);

    expect(await lastTags(table)).toEqual(['Item:1']);
  });

  it('tags the list a row left and the list it entered when a filter column changes', async () => {
    const table = await items('update_filter', ['status']);
    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);

    await db.pool.query(`update ${table} set status = 'closed' where id = 1`);

    const tags = await lastTags(table);
    expect(tags).toEqual(
      expect.arrayContaining(['Item:1', 'Item[status=open]', 'Item[status=closed]']),
    );
    // The row stays in every unfiltered list, so those keep their cached results.
    expect(tags).not.toContain('Item[]');
    expect(tags).not.toContain('Item[*]');
  });

  it('tags the old and the new parent when a parent key changes', async () => {
    const table = await items('update_parent', ['status']);
    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);

    await db.pool.query(`update ${table} set owner_id = 6 where id = 1`);

    const tags = await lastTags(table);
    expect(tags).toEqual(
      expect.arrayContaining([
        'Item:1',
        'Item[owner_id=5]',
        'Item[owner_id=6]',
        'Owner:5',
        'Owner:6',
      ]),
    );
    expect(tags).not.toContain('Item[]');
    expect(tags).not.toContain('Item[*]');
  });

  it('tags both ids and the unfiltered list when an update changes the id', async () => {
    const table = await items('update_id', ['status']);
    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);

    await db.pool.query(`update ${table} set id = 100 where id = 1`);

    expect(await lastTags(table)).toEqual(expect.arrayContaining(['Item:1', 'Item:100', 'Item[]']));
  });

  it('tags a deleted row like the insert that created it', async () => {
    const table = await items('delete_known', ['status']);
    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);
    const inserted = await lastTags(table);

    await db.pool.query(`delete from ${table} where id = 1`);

    expect(await lastTags(table)).toEqual(inserted);
    expect(inserted).toEqual(
      ['Item:1', 'Item[]', 'Item[owner_id=5]', 'Item[status=open]', 'Owner:5'].sort(),
    );
  });

  it('tags every entity, every list and every parent entity of the type on truncate', async () => {
    const table = await items('truncate', ['status']);
    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);

    await db.pool.query(`truncate ${table}`);

    expect(await lastTags(table)).toEqual(['Item:*', 'Item[*]', 'Owner:*'].sort());
  });

  it('renders list values the way to_jsonb prints them', async () => {
    const table = 'capture_tags.rendering';
    await db.pool.query(`create table ${table} (id bigint primary key, live boolean, rank int)`);
    await db.pool.query(`select pgcascade.track($1, 'Ranked', filters => '{live,rank}')`, [table]);

    await db.pool.query(`insert into ${table} values (1, true, 3)`);

    expect(await lastTags(table)).toEqual(
      ['Ranked:1', 'Ranked[]', 'Ranked[live=true]', 'Ranked[rank=3]'].sort(),
    );
  });

  it('names entities by the id column that track() was given', async () => {
    const table = 'capture_tags.labels';
    await db.pool.query(`create table ${table} (slug text primary key, title text)`);
    await db.pool.query(`select pgcascade.track($1, 'Label', 'slug', filters => '{}')`, [table]);

    await db.pool.query(`insert into ${table} values ('rust', 'Rust')`);

    expect(await lastTags(table)).toEqual(['Label:rust', 'Label[]']);
  });
});

describe('with filters unknown', () => {
  it('tags every list of the type on update, whichever column changed', async () => {
    const table = await items('update_unknown', null);
    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);

    await db.pool.query(`update ${table} set title = 'b' where id = 1`);

    expect(await lastTags(table)).toEqual(['Item:1', 'Item[*]']);
  });

  it('still tags both parents when an update moves a row to another parent', async () => {
    const table = await items('update_unknown_parent', null);
    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);

    await db.pool.query(`update ${table} set owner_id = 6 where id = 1`);

    expect(await lastTags(table)).toEqual(
      expect.arrayContaining(['Item:1', 'Item[*]', 'Owner:5', 'Owner:6']),
    );
  });

  it('tags every list of the type on insert and delete, as rows enter or leave any', async () => {
    const table = await items('insert_unknown', null);

    await db.pool.query(`insert into ${table} values (1, 5, 'open', 'a')`);
    const inserted = await lastTags(table);
    await db.pool.query(`delete from ${table} where id = 1`);
    const deleted = await lastTags(table);

    const expected = ['Item:1', 'Item[*]', 'Item[]', 'Item[owner_id=5]', 'Owner:5'].sort();
    expect(inserted).toEqual(expected);
    expect(deleted).toEqual(expected);
  });
});

describe.each([
  ['declared', ['status']],
  ['unknown', null],
])('with filters %s, a statement over several rows', (name, filters) => {
  it('tags exactly what its rows would tag one statement at a time', async () => {
    const together = await items(`together_${name}`, filters);
    const apart = await items(`apart_${name}`, filters);
    const rows = [
      [1, 5, 'open'],
      [2, 5, 'open'],
      [3, 6, 'closed'],
      [4, 6, 'open'],
    ];
    // Row 1 changes a filter, row 2 its parent, row 3 its id, row 4 only its title.
    const changes = [`status = 'closed'`, `owner_id = 7`, `id = 30`, `title = 'renamed'`];

    for (const [id, owner, status] of rows) {
      await db.pool.query(`insert into ${apart} values ($1, $2, $3, 'a')`, [id, owner, status]);
    }
    await db.pool.query(
      `insert into ${together} select * from unnest($1::bigint[], $2::bigint[], $3::text[]),
         lateral (select 'a') t`,
      [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])],
    );
    for (const [i, change] of changes.entries()) {
      await db.pool.query(`update ${apart} set ${change} where id = $1`, [rows[i][0]]);
    }
    await db.pool.query(
      `update ${together} set status = case id when 1 then 'closed' else status end,
         owner_id = case id when 2 then 7 else owner_id end,
         id = case id when 3 then 30 else id end,
         title = case id when 4 then 'renamed' else title end`,
    );
    await db.pool.query(`delete from ${apart} where id in (1, 2)`);
    await db.pool.query(`delete from ${together} where id in (1, 2)`);

    const byOperation = async (table: string) => {
      const union = new Map<string, Set<string>>();
      for (const entry of await entriesOf(db.pool, table)) {
        const tags = union.get(entry.operation!) ?? new Set<string>();
        entry.tags.forEach((tag) => tags.add(tag));
        union.set(entry.operation!, tags);
      }
      return new Map([...union].map(([op, tags]) => [op, [...tags].sort()]));
    };
    expect(await byOperation(together)).toEqual(await byOperation(apart));
  });
});
