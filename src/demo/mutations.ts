/**
 * Runs the demo's mutation functions (sql/demo/001_demo.sql) and maps what they return
 * to PostResult and UserResult. Bad input, malformed ids included, comes back as status
 * 'invalid', never as a GraphQL error; a database failure rejects, and the service masks it.
 */
import { badIdError, canonicalId } from './arguments';
import type { DemoContext } from './context';
import { clearLoaders, type PostRow, type UserRow } from './loaders';

/** One entity a cascade says was created, updated or deleted, with its new row. */
export interface CascadeUpdate {
  __typename: string;
  id: string;
  operation: 'CREATED' | 'UPDATED' | 'DELETED';
  entity?: unknown;
}

/** The GraphQL Cascade a mutation function returned and recorded with pgcascade.emit. */
export interface Cascade {
  updated: CascadeUpdate[];
  deleted: { __typename: string; id: string }[];
  invalidations: { queryName: string; strategy: string; scope: string }[];
  metadata: { timestamp: string; affectedCount: number };
}

/** What a mutation field returns; `T` is the entity's row. */
export interface MutationPayload<T> {
  /** `success`, `not_found` or `invalid`. */
  status: string;
  /** Why it did not succeed; null on success. */
  message: string | null;
  entity: T | null;
  cascade: Cascade | null;
}

interface FunctionResult {
  status: string;
  message: string | null;
  entity: Record<string, unknown> | null;
  cascade: Cascade | null;
}

// Not yet exact past 2^53: node-postgres parses jsonb numbers, so entity ids lose digits.
function userFromEntity(entity: Record<string, unknown>): UserRow {
  return { id: String(entity.id), name: String(entity.name), email: String(entity.email) };
}

function postFromEntity(entity: Record<string, unknown>): PostRow {
  return {
    id: String(entity.id),
    authorId: String(entity.author_id),
    title: String(entity.title),
    body: String(entity.body),
    published: entity.published === true,
  };
}

function invalid<T>(argument: string, raw: unknown): MutationPayload<T> {
  const message = badIdError(argument, raw).message;
  return { status: 'invalid', message, entity: null, cascade: null };
}

async function run<T>(
  ctx: DemoContext,
  sql: string,
  params: unknown[],
  toRow: (entity: Record<string, unknown>) => T,
): Promise<MutationPayload<T>> {
  const { rows } = await ctx.pool.query<FunctionResult>(sql, params);
  const { status, message, entity, cascade } = rows[0];

  // Fields resolved after this one (later mutations of the same operation) must not see
  // rows the loaders read before the write.
  if (status === 'success') clearLoaders(ctx.loaders);
  return { status, message, entity: entity ? toRow(entity) : null, cascade };
}

/** createPost: demo.create_post. */
export async function createPost(
  ctx: DemoContext,
  args: { authorId: unknown; title: string; body: string },
): Promise<MutationPayload<PostRow>> {
  const authorId = canonicalId(args.authorId);
  if (authorId === null) return invalid('authorId', args.authorId);
  return run(
    ctx,
    'select * from demo.create_post($1, $2, $3)',
    [authorId, args.title, args.body],
    postFromEntity,
  );
}

/** updatePost: demo.update_post; an omitted or null field stays as it is. */
export async function updatePost(
  ctx: DemoContext,
  args: { id: unknown; title?: string | null; body?: string | null; published?: boolean | null },
): Promise<MutationPayload<PostRow>> {
  const id = canonicalId(args.id);
  if (id === null) return invalid('id', args.id);
  return run(
    ctx,
    'select * from demo.update_post($1, $2, $3, $4)',
    [id, args.title ?? null, args.body ?? null, args.published ?? null],
    postFromEntity,
  );
}

/** deletePost: demo.delete_post, which deletes the post's comments too. */
export async function deletePost(
  ctx: DemoContext,
  args: { id: unknown },
): Promise<MutationPayload<PostRow>> {
  const id = canonicalId(args.id);
  if (id === null) return invalid('id', args.id);
  return run(ctx, 'select * from demo.delete_post($1)', [id], postFromEntity);
}

/** renameUser: demo.rename_user. */
export async function renameUser(
  ctx: DemoContext,
  args: { id: unknown; name: string },
): Promise<MutationPayload<UserRow>> {
  const id = canonicalId(args.id);
  if (id === null) return invalid('id', args.id);
  return run(ctx, 'select * from demo.rename_user($1, $2)', [id, args.name], userFromEntity);
}
