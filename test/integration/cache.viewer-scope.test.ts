import { startTestService, type TestService } from '../helpers/service';

describe('private results', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ users: 5 });
  });

  afterAll(() => t.stop());

  const viewer = '{ viewer { id name } }';
  const as = (id: string) => ({ authorization: `Bearer ${id}` });

  it('never serves one Authorization the viewer cached for another, or for none', async () => {
    const one = await t.gql(viewer, undefined, as('1'));
    expect(one.body.data.viewer.id).toBe('1');
    expect((await t.gql(viewer, undefined, as('1'))).cache).toBe('hit');

    const two = await t.gql(viewer, undefined, as('2'));
    expect(two.cache).toBe('miss');
    expect(two.body.data.viewer.id).toBe('2');

    const anonymous = await t.gql(viewer);
    expect(anonymous.cache).toBe('miss');
    expect(anonymous.body.data.viewer).toBeNull();
    expect((await t.gql(viewer)).body.data.viewer).toBeNull();
    expect((await t.gql(viewer, undefined, as('1'))).body.data.viewer.id).toBe('1');
  });

  it('keeps viewer private when hidden behind an alias and a fragment', async () => {
    const hidden = `query Q { me: viewer { ...F } users(first: 1) { id } }
      fragment F on User { id }`;
    const one = await t.gql(hidden, undefined, as('3'));
    expect(one.body.data.me.id).toBe('3');
    const other = await t.gql(hidden, undefined, as('4'));
    expect(other.cache).toBe('miss');
    expect(other.body.data.me.id).toBe('4');
  });

  it('shares results without viewer across Authorizations', async () => {
    const shared = '{ user(id: 5) { name } }';
    await t.gql(shared, undefined, as('1'));
    expect((await t.gql(shared, undefined, as('2'))).cache).toBe('hit');
    expect((await t.gql(shared)).cache).toBe('hit');
  });
});
