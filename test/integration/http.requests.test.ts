import { demoSchemaModule } from '../../src/demo';
import { startTestService, type TestService } from '../helpers/service';

describe('HTTP behaviour of /graphql', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ users: 3 });
  });

  afterAll(() => t.stop());

  async function raw(body: string | Buffer, headers: Record<string, string> = {}) {
    const response = await fetch(`${t.service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    return {
      status: response.status,
      cache: response.headers.get('x-cache'),
      text: await response.text(),
    };
  }

  it('answers malformed JSON with 400 and a GraphQL error, and keeps serving', async () => {
    const response = await raw('{"query": ');
    expect(response.status).toBe(400);
    expect(response.cache).toBe('bypass');
    expect(JSON.parse(response.text).errors[0].message).toMatch(/not valid JSON/);
    expect((await t.gql('{ user(id: 1) { name } }')).status).toBe(200);
  });

  it('answers a body over 1 MiB with 413 without caching anything', async () => {
    const entries = t.service.store.stats().entries;
    const big = JSON.stringify({ query: `{ user(id: 1) { name } }${' '.repeat(1024 * 1024)}` });
    const response = await raw(big);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(t.service.store.stats().entries).toBe(entries);
    expect((await t.gql('{ user(id: 2) { name } }')).status).toBe(200);
  });

  it('answers an invalid document with 400 and never caches it', async () => {
    for (let i = 0; i < 2; i++) {
      const response = await t.gql('{ user(id: 1) { nope } }');
      expect(response.status).toBe(400);
      expect(response.cache).toBe('bypass');
      expect(response.body.errors![0].message).toMatch(/Cannot query field "nope"/);
    }
    const syntax = await t.gql('{ user(id: 1) { name }');
    expect(syntax.status).toBe(400);
    expect(syntax.body.errors![0].message).toMatch(/Syntax Error/);
  });

  it('does not cache results with errors', async () => {
    const bad = await t.gql('{ users(first: 1000) { id } }');
    expect(bad.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await t.gql('{ users(first: 1000) { id } }')).cache).toBe('miss');
  });

  it('bypasses the cache for mutations and introspection', async () => {
    const mutation = await t.gql('mutation { renameUser(id: 1, name: "M") { status } }');
    expect(mutation.cache).toBe('bypass');
    expect(mutation.body.data.renameUser.status).toBe('success');
    for (let i = 0; i < 2; i++) {
      expect((await t.gql('{ __schema { queryType { name } } }')).cache).toBe('bypass');
    }
  });

  it('sends an ETag with cacheable responses and 304 for If-None-Match', async () => {
    const query = '{ user(id: 3) { name email } }';
    const first = await t.gql(query);
    expect(first.etag).toMatch(/^".+"$/);
    const response = await fetch(`${t.service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'if-none-match': first.etag! },
      body: JSON.stringify({ query }),
    });
    expect(response.status).toBe(304);
    expect(response.headers.get('x-cache')).toBe('hit');
    expect(await response.text()).toBe('');
  });

  it('strips the __typename and id it adds to collect tags', async () => {
    const response = await t.gql('{ user(id: 2) { name posts { title } } }');
    const text = JSON.stringify(response.body);
    expect(text).not.toContain('__typename');
    expect(Object.keys(response.body.data.user)).toEqual(['name', 'posts']);
    expect(Object.keys(response.body.data.user.posts[0])).toEqual(['title']);
    const hit = await t.gql('{ user(id: 2) { name posts { title } } }');
    expect(hit.cache).toBe('hit');
    expect(hit.body).toEqual(response.body);
  });

  it('never shares an entry between operations that differ only in their selection', async () => {
    const a = await t.gql('{ user(id: 1) { name } }');
    const b = await t.gql('{ user(id: 1) { email } }');
    expect(b.cache).toBe('miss');
    expect(b.body.data.user).not.toEqual(a.body.data.user);
  });

  it('serves GraphiQL on GET and answers unknown paths with 404', async () => {
    const page = await fetch(`${t.service.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('x-cache')).toBe('bypass');
    expect(await page.text()).toMatch(/graphiql/i);
    expect((await fetch(`${t.service.url}/nothing`)).status).toBe(404);
  });
});

describe('a request that fails inside the server before it executes', () => {
  let t: TestService;

  beforeAll(async () => {
    const module = {
      ...demoSchemaModule,
      context: () => Promise.reject(new Error('the session store is down')),
    };
    t = await startTestService({ users: 1, service: { module } });
  });

  afterAll(() => t.stop());

  it('answers 500 with a masked error, not 400', async () => {
    const response = await t.gql('{ user(id: 1) { name } }');

    expect(response.status).toBe(500);
    expect(response.body).toEqual({
      errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
    });
    expect(JSON.stringify(response.body)).not.toContain('session store');
  });
});
