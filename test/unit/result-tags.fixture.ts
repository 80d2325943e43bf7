/**
 * A small in-memory blog schema for the result-tags tests, with an interface, unions,
 * nested lists, a type without id and one whose id is a nullable Int. Shared read-only data.
 */
import {
  type DocumentNode,
  type ExecutionResult,
  buildSchema,
  execute,
  parse,
  validate,
} from 'graphql';
import { type PreparedDocument, prepareDocument } from '../../src/cache/result-tags';

export const schema = buildSchema(`
  interface Node { id: ID! }
  type User implements Node {
    id: ID!
    name: String!
    posts(first: Int = 2, published: Boolean): [Post!]!
  }
  type Post implements Node {
    id: ID!
    title: String!
    author: User!
    comments: [Comment!]!
    labels: [[Label]]
  }
  type Comment implements Node { id: ID! body: String! author: User! }
  type Label { text: String! }
  type Legacy { id: Int label: String! }
  union SearchResult = Post | User | Label
  union Mixed = Post | Legacy
  type Query {
    user(id: ID!): User
    users(first: Int = 20): [User!]!
    post(id: ID!): Post
    posts(authorId: ID, published: Boolean, first: Int = 20): [Post!]!
    node(id: ID!): Node
    search(text: String!): [SearchResult!]!
    mixed: [Mixed]
    matrix: [[Post]]
    count: Int!
  }
  type Mutation { touch(id: ID!): Post }
`);

interface Row {
  __typename: string;
  [field: string]: unknown;
}

const users: Row[] = [1, 2, 3].map((n) => ({
  __typename: 'User',
  id: String(n),
  name: `user ${n}`,
}));
const posts: Row[] = [1, 2, 3, 4, 5, 6].map((n) => ({
  __typename: 'Post',
  id: String(10 + n),
  title: `post ${n}`,
  published: n % 2 === 0,
  authorId: String(((n - 1) % 3) + 1),
}));
const comments: Row[] = posts.flatMap((post, i) => [
  { __typename: 'Comment', id: `c${i}a`, body: 'first', postId: post.id, authorId: '1' },
  { __typename: 'Comment', id: `c${i}b`, body: 'second', postId: post.id, authorId: '2' },
]);

function userById(id: unknown) {
  const user = users.find((u) => u.id === id);
  return user && { ...user, posts: postsOf };
}

function postById(id: unknown) {
  const post = posts.find((p) => p.id === id);
  return post && withPostFields(post);
}

function withPostFields(post: Row) {
  return {
    ...post,
    author: () => userById(post.authorId),
    comments: () =>
      comments
        .filter((c) => c.postId === post.id)
        .map((c) => ({ ...c, author: () => userById(c.authorId) })),
    labels: () => [[{ text: 'a' }, null], null, [{ text: 'b' }]],
  };
}

function postsOf(this: Row, args: { first: number; published?: boolean }) {
  return posts
    .filter((p) => p.authorId === this.id)
    .filter((p) => args.published === undefined || p.published === args.published)
    .slice(0, args.first)
    .map(withPostFields);
}

const rootValue = {
  user: (args: { id: string }) => userById(args.id) ?? null,
  users: (args: { first: number }) => users.slice(0, args.first).map((u) => userById(u.id)),
  post: (args: { id: string }) => postById(args.id) ?? null,
  posts: (args: { authorId?: string; published?: boolean; first: number }) =>
    posts
      .filter((p) => args.authorId === undefined || p.authorId === args.authorId)
      .filter((p) => args.published === undefined || p.published === args.published)
      .slice(0, args.first)
      .map(withPostFields),
  node: (args: { id: string }) => userById(args.id) ?? postById(args.id) ?? null,
  search: () => [postById('11'), { __typename: 'Label', text: 'x' }, userById('2')],
  mixed: () => [postById('12'), { __typename: 'Legacy', id: 7, label: 'old' }, null],
  matrix: () => [[postById('11'), null], [], [postById('13')]],
  count: () => posts.length,
  touch: (args: { id: string }) => postById(args.id) ?? null,
};

/** Executes `document` against the fixture data. */
export function run(
  document: DocumentNode,
  variableValues?: Record<string, unknown>,
  operationName?: string,
): ExecutionResult {
  return execute({ schema, document, rootValue, variableValues, operationName }) as ExecutionResult;
}

/** Prepares `query` and checks that the augmented document is still valid GraphQL. */
export function prepare(query: string): PreparedDocument {
  const prepared = prepareDocument(schema, parse(query));
  const errors = validate(schema, prepared.document);
  if (errors.length > 0) throw new Error(`augmented document invalid: ${errors[0].message}`);
  return prepared;
}

/** Executes `query` as-is and augmented: the plain result and the augmented one. */
export function runBoth(
  query: string,
  variables?: Record<string, unknown>,
  operationName?: string,
): { plain: ExecutionResult; augmented: ExecutionResult; prepared: PreparedDocument } {
  const prepared = prepare(query);
  return {
    plain: run(parse(query), variables, operationName),
    augmented: run(prepared.document, variables, operationName),
    prepared,
  };
}
