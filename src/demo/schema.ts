/**
 * The demo's GraphQL schema: the SDL fixed by PRODUCT.md plus the mutation payloads, and
 * resolvers that read through the request's loaders. Malformed query arguments are
 * BAD_USER_INPUT errors; mutations report bad input as a status instead (mutations.ts).
 */
import { GraphQLScalarType, valueFromASTUntyped } from 'graphql';
import { requireFirst, requireId } from './arguments';
import type { DemoContext } from './context';
import { listPosts, listUsers, type CommentRow, type PostRow, type UserRow } from './loaders';
import * as mutations from './mutations';
import { viewerId } from './viewer';

/** SDL of the demo schema. */
export const demoTypeDefs = /* GraphQL */ `
  type User {
    id: ID!
    name: String!
    email: String!
    posts: [Post!]!
  }

  type Post {
    id: ID!
    title: String!
    body: String!
    published: Boolean!
    author: User!
    comments: [Comment!]!
  }

  type Comment {
    id: ID!
    body: String!
    author: User!
    post: Post!
  }

  type Query {
    user(id: ID!): User
    users(first: Int = 20): [User!]!
    post(id: ID!): Post
    posts(authorId: ID, published: Boolean, first: Int = 20): [Post!]!
    "The user named by the request's Authorization: Bearer <id>; null without one."
    viewer: User
  }

  type Mutation {
    createPost(authorId: ID!, title: String!, body: String!): PostResult!
    updatePost(id: ID!, title: String, body: String, published: Boolean): PostResult!
    deletePost(id: ID!): PostResult!
    renameUser(id: ID!, name: String!): UserResult!
  }

  "Any JSON value."
  scalar JSON

  type PostResult {
    "success, not_found or invalid"
    status: String!
    "Why the mutation did not succeed; null on success."
    message: String
    "The post as written (for deletePost: as it was); null unless success."
    post: Post
    cascade: Cascade
  }

  type UserResult {
    "success, not_found or invalid"
    status: String!
    "Why the mutation did not succeed; null on success."
    message: String
    user: User
    cascade: Cascade
  }

  "What a mutation changed, in the GraphQL Cascade format, for client caches."
  type Cascade {
    updated: [CascadeUpdate!]!
    deleted: [CascadeDeletion!]!
    invalidations: [CascadeInvalidation!]!
    "timestamp and affectedCount"
    metadata: JSON
  }

  type CascadeUpdate {
    "The cascade's __typename (GraphQL reserves names starting with __)."
    typename: String!
    id: ID!
    "CREATED, UPDATED or DELETED"
    operation: String!
    "The row as the mutation function wrote it."
    entity: JSON
  }

  type CascadeDeletion {
    "The cascade's __typename."
    typename: String!
    id: ID!
  }

  type CascadeInvalidation {
    queryName: String!
    "INVALIDATE"
    strategy: String!
    "EXACT, PREFIX or ALL"
    scope: String!
  }
`;

const jsonScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});

type Args = Record<string, unknown>;

const Query = {
  user: (_: unknown, args: Args, ctx: DemoContext) =>
    ctx.loaders.userById.load(requireId(args.id, 'id')),
  users: (_: unknown, args: Args, ctx: DemoContext) =>
    listUsers(ctx.pool, ctx.loaders, requireFirst(args.first)),
  post: (_: unknown, args: Args, ctx: DemoContext) =>
    ctx.loaders.postById.load(requireId(args.id, 'id')),
  posts: (_: unknown, args: Args, ctx: DemoContext) =>
    listPosts(ctx.pool, ctx.loaders, {
      authorId: args.authorId == null ? undefined : requireId(args.authorId, 'authorId'),
      published: typeof args.published === 'boolean' ? args.published : undefined,
      first: requireFirst(args.first),
    }),
  viewer: (_: unknown, _args: Args, ctx: DemoContext) => {
    const id = viewerId(ctx.headers);
    return id === null ? null : ctx.loaders.userById.load(id);
  },
};

type PostArgs = { authorId: unknown; title: string; body: string };
type UpdateArgs = {
  id: unknown;
  title?: string | null;
  body?: string | null;
  published?: boolean | null;
};

function postResult({ entity, ...rest }: mutations.MutationPayload<PostRow>) {
  return { ...rest, post: entity };
}

const Mutation = {
  createPost: async (_: unknown, args: PostArgs, ctx: DemoContext) =>
    postResult(await mutations.createPost(ctx, args)),
  updatePost: async (_: unknown, args: UpdateArgs, ctx: DemoContext) =>
    postResult(await mutations.updatePost(ctx, args)),
  deletePost: async (_: unknown, args: { id: unknown }, ctx: DemoContext) =>
    postResult(await mutations.deletePost(ctx, args)),
  renameUser: async (_: unknown, args: { id: unknown; name: string }, ctx: DemoContext) => {
    const { entity, ...rest } = await mutations.renameUser(ctx, args);
    return { ...rest, user: entity };
  },
};

/** Resolvers of the demo schema, in the graphql-tools shape. */
export const demoResolvers = {
  JSON: jsonScalar,
  Query,
  Mutation,
  User: {
    posts: (user: UserRow, _: Args, ctx: DemoContext) => ctx.loaders.postsByAuthorId.load(user.id),
  },
  Post: {
    author: (post: PostRow, _: Args, ctx: DemoContext) => ctx.loaders.userById.load(post.authorId),
    comments: (post: PostRow, _: Args, ctx: DemoContext) =>
      ctx.loaders.commentsByPostId.load(post.id),
  },
  Comment: {
    author: (comment: CommentRow, _: Args, ctx: DemoContext) =>
      ctx.loaders.userById.load(comment.authorId),
    post: (comment: CommentRow, _: Args, ctx: DemoContext) =>
      ctx.loaders.postById.load(comment.postId),
  },
  CascadeUpdate: { typename: (item: { __typename: string }) => item.__typename },
  CascadeDeletion: { typename: (item: { __typename: string }) => item.__typename },
};
