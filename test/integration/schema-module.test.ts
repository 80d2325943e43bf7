import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSchemaModule } from '../../src/graphql/schema-module';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { startTestService, type TestService } from '../helpers/service';

const examples = path.join(__dirname, '..', '..', 'examples');

describe('serving a schema module (examples/notes-schema.js)', () => {
  let db: TestDatabase;
  let t: TestService;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(fs.readFileSync(path.join(examples, 'notes.sql'), 'utf8'));
    const module = await loadSchemaModule(path.join(examples, 'notes-schema.js'));
    t = await startTestService({ db, service: { module } });
  });

  afterAll(async () => {
    await t.stop();
    await db.drop();
  });

  it('caches its queries and keeps them fresh through the capture triggers', async () => {
    await t.gql('mutation { addNote(title: "first", body: "a") { id } }');
    const query = '{ notes { title pinned } }';
    expect((await t.gql(query)).body.data.notes).toEqual([{ title: 'first', pinned: false }]);
    expect((await t.gql(query)).cache).toBe('hit');

    await t.gql('mutation { addNote(title: "second", body: "b") { id } }');
    const after = await t.gql(query);
    expect(after.cache).toBe('miss');
    expect(after.body.data.notes.map((n: { title: string }) => n.title)).toEqual([
      'first',
      'second',
    ]);
  });

  it('moves a note between cached pinned lists using its listTags hint', async () => {
    const pinned = '{ notes(pinned: true) { title } }';
    expect((await t.gql(pinned)).body.data.notes).toEqual([]);
    await t.db.pool.query(`update notes.notes set pinned = true where title = 'second'`);
    await t.service.delivery.sync();
    expect((await t.gql(pinned)).body.data.notes).toEqual([{ title: 'second' }]);
  });

  it('refuses a module without a schema with one clear error', async () => {
    const file = path.join(os.tmpdir(), `not-a-schema-${process.pid}.js`);
    fs.writeFileSync(file, 'module.exports = { hello: 1 };');
    try {
      await expect(loadSchemaModule(file)).rejects.toThrow(
        /expected an export named schema, or typeDefs with resolvers/,
      );
    } finally {
      fs.rmSync(file);
    }
  });
});
