import { collectAndStrip } from '../../src/cache/result-tags';
import { PgcascadeError } from '../../src/errors';
import type { ListTagFunction } from '../../src/graphql/schema-module';
import { runBoth, schema } from './result-tags.fixture';

function tagsOf(
  query: string,
  options: {
    variables?: Record<string, unknown>;
    listTags?: Record<string, ListTagFunction>;
    operationName?: string;
  } = {},
): { tags: string[]; typenames: string[] } {
  const { augmented, prepared } = runBoth(query, options.variables, options.operationName);
  expect(augmented.errors).toBeUndefined();
  const result = collectAndStrip(
    schema,
    prepared.plan,
    augmented.data as Record<string, unknown>,
    options.variables,
    options.listTags,
    options.operationName,
  );
  return { tags: [...result.tags].sort(), typenames: [...result.typenames].sort() };
}

const postsByAuthor: Record<string, ListTagFunction> = {
  'Query.posts': (args) =>
    args.authorId === undefined ? ['Post[]'] : [`Post[author_id=${String(args.authorId)}]`],
  'User.posts': (_args, parent) => [`Post[author_id=${parent.id}]`],
};

describe('collectAndStrip tags a result with what it depends on', () => {
  it('tags every entity, three levels deep, with its type and id', () => {
    const { tags, typenames } = tagsOf('{ post(id: "11") { author { posts { title } } } }');

    expect(tags).toEqual(['Post:11', 'Post:14', 'Post[]', 'User:1', 'query:post']);
    expect(typenames).toEqual(['Post', 'User']);
  });

  it('tags the root fields of a query by field name, not by alias', () => {
    const { tags } = tagsOf('{ total: count mine: user(id: "3") { name } }');

    expect(tags).toEqual(['User:3', 'query:count', 'query:user']);
  });

  it('tags lists without a list-tag function as T[] of each type they can hold', () => {
    const { tags } = tagsOf('{ search(text: "x") { ... on Post { title } ... on User { name } } }');

    expect(tags.filter((tag) => tag.endsWith('[]'))).toEqual(['Label[]', 'Post[]', 'User[]']);
    expect(tags).toContain('Post:11');
    expect(tags).toContain('User:2');
  });

  it('does not tag union members whose fields the query does not read', () => {
    const { tags, typenames } = tagsOf('{ search(text: "x") { ... on Label { text } } }');

    expect(tags).toEqual(['Label[]', 'Post[]', 'User[]', 'query:search']);
    expect(typenames).toEqual(['Label', 'Post', 'User']);
  });

  it('passes list-tag functions the arguments from literals, variables and defaults', () => {
    const seen: Array<Record<string, unknown>> = [];
    const listTags: Record<string, ListTagFunction> = {
      'Query.posts': (args) => {
        seen.push({ ...args });
        return [`Post[author_id=${String(args.authorId)}]`];
      },
      'User.posts': (args, parent) => {
        seen.push({ ...args, parent: parent.id });
        return [`Post[author_id=${parent.id}]`];
      },
    };

    const { tags } = tagsOf(
      `query Q($author: ID = "2", $published: Boolean) {
        posts(authorId: $author, published: $published) { title author { posts { title } } }
      }`,
      { variables: { published: true }, listTags },
    );

    expect(seen[0]).toEqual({ authorId: '2', published: true, first: 20 });
    expect(seen.slice(1)).toContainEqual({ first: 2, parent: '2' });
    expect(tags).toContain('Post[author_id=2]');
    expect(tags).not.toContain('Post[]');
  });

  it('calls a list-tag function once per parent with that parent id', () => {
    const { tags } = tagsOf('{ users { posts(published: false) { title } } }', {
      listTags: postsByAuthor,
    });

    expect(tags.filter((tag) => tag.startsWith('Post['))).toEqual([
      'Post[author_id=1]',
      'Post[author_id=2]',
      'Post[author_id=3]',
    ]);
  });

  it('tags a null single object with T[], since a new row may fill it', () => {
    const { tags } = tagsOf('{ post(id: "999") { title } }');

    expect(tags).toEqual(['Post[]', 'query:post']);
  });

  it('tags interface and union members by their concrete type, Int ids included', () => {
    const { tags } = tagsOf(
      '{ node(id: "2") { id } mixed { ... on Legacy { label } ... on Post { title } } }',
    );

    expect(tags).toContain('User:2');
    expect(tags).toContain('Legacy:7');
    expect(tags).toContain('Post:12');
  });

  it('tags nested lists once per list field, not per item', () => {
    const { tags } = tagsOf('{ matrix { labels { text } } }');

    expect(tags).toEqual(['Label[]', 'Post:11', 'Post:13', 'Post[]', 'query:matrix']);
  });

  it('uses the named operation of a document with several', () => {
    const query = 'query A { count } query B { user(id: "1") { name } }';

    expect(tagsOf(query, { operationName: 'B' }).tags).toEqual(['User:1', 'query:user']);
  });

  it('gives mutations no query tags', () => {
    expect(tagsOf('mutation { touch(id: "12") { title } }').tags).toEqual(['Post:12']);
  });

  it('still strips the data, then throws, when a list-tag function fails', () => {
    const { augmented, prepared, plain } = runBoth('{ users { posts { title } } }');
    const data = augmented.data as Record<string, unknown>;
    const listTags = {
      'User.posts': () => {
        throw new Error('boom');
      },
    };

    const call = () => collectAndStrip(schema, prepared.plan, data, {}, listTags);

    expect(call).toThrow(PgcascadeError);
    expect(call).toThrow("listTags['User.posts'] failed: boom");
    expect(JSON.stringify(data)).toBe(JSON.stringify(plain.data));
  });

  it('still strips the data, then throws, when the operation is ambiguous', () => {
    const query = 'query A { post(id: "11") { title } } query B { count }';
    const { augmented, prepared } = runBoth(query, undefined, 'A');
    const data = augmented.data as Record<string, unknown>;

    expect(() => collectAndStrip(schema, prepared.plan, data)).toThrow(/single operation/);
    expect(JSON.stringify(data)).toBe('{"post":{"title":"post 1"}}');
  });
});
