/**
 * Per-request reads of the demo tables. DataLoaders batch each kind of read into one
 * query per tick, so a page of users with their posts and comments costs a fixed number
 * of queries however many rows it holds. A failed query rejects every load of its batch.
 */
import DataLoader from 'dataloader';
import type pg from 'pg';

/** What the loaders need of a pool; tests wrap it to count queries. */
export type Queryable = Pick<pg.Pool, 'query'>;

/** A demo.users row as resolvers see it; ids are decimal strings. */
export interface UserRow {
  id: string;
  name: string;
  email: string;
}

/** A demo.posts row as resolvers see it. */
export interface PostRow {
  id: string;
  authorId: string;
  title: string;
  body: string;
  published: boolean;
}

/** A demo.comments row as resolvers see it. */
export interface CommentRow {
  id: string;
  postId: string;
  authorId: string;
  body: string;
}

/** The loaders of one request. Keys are canonical ids (see arguments.ts). */
export interface DemoLoaders {
  userById: DataLoader<string, UserRow | null>;
  postById: DataLoader<string, PostRow | null>;
  /** A user's posts, newest first. */
  postsByAuthorId: DataLoader<string, PostRow[]>;
  /** A post's comments, oldest first. */
  commentsByPostId: DataLoader<string, CommentRow[]>;
}

// int8 columns arrive as strings (node-postgres default), which is what GraphQL IDs want.
const USER_COLUMNS = 'id, name, email';
const POST_COLUMNS = 'id, author_id as "authorId", title, body, published';
const COMMENT_COLUMNS = 'id, post_id as "postId", author_id as "authorId", body';

function byId<T extends { id: string }>(keys: readonly string[], rows: T[]): (T | null)[] {
  const found = new Map(rows.map((row) => [row.id, row]));
  return keys.map((key) => found.get(key) ?? null);
}

function groupBy<T>(keys: readonly string[], rows: T[], key: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>(keys.map((k) => [k, []]));
  for (const row of rows) groups.get(key(row))?.push(row);
  return keys.map((k) => groups.get(k) ?? []);
}

/** Creates the loaders of one request; never share them between requests. */
export function createLoaders(db: Queryable): DemoLoaders {
  const userById = new DataLoader<string, UserRow | null>(async (ids) => {
    const sql = `select ${USER_COLUMNS} from demo.users where id = any($1::bigint[])`;
    const { rows } = await db.query<UserRow>(sql, [ids]);
    return byId(ids, rows);
  });

  const postById = new DataLoader<string, PostRow | null>(async (ids) => {
    const sql = `select ${POST_COLUMNS} from demo.posts where id = any($1::bigint[])`;
    const { rows } = await db.query<PostRow>(sql, [ids]);
    return byId(ids, rows);
  });

  const postsByAuthorId = new DataLoader<string, PostRow[]>(async (authorIds) => {
    const { rows } = await db.query<PostRow>(
      `select ${POST_COLUMNS} from demo.posts where author_id = any($1::bigint[])
       order by author_id, id desc`,
      [authorIds],
    );
    for (const post of rows) postById.prime(post.id, post);
    return groupBy(authorIds, rows, (post) => post.authorId);
  });

  const commentsByPostId = new DataLoader<string, CommentRow[]>(async (postIds) => {
    const { rows } = await db.query<CommentRow>(
      `select ${COMMENT_COLUMNS} from demo.comments where post_id = any($1::bigint[])
       order by post_id, id`,
      [postIds],
    );
    return groupBy(postIds, rows, (comment) => comment.postId);
  });

  return { userById, postById, postsByAuthorId, commentsByPostId };
}

/** Forgets everything loaded, so fields resolved after a write read the new rows. */
export function clearLoaders(loaders: DemoLoaders): void {
  loaders.userById.clearAll();
  loaders.postById.clearAll();
  loaders.postsByAuthorId.clearAll();
  loaders.commentsByPostId.clearAll();
}

/** The first `first` users by id, primed into the loaders for nested fields. */
export async function listUsers(
  db: Queryable,
  loaders: DemoLoaders,
  first: number,
): Promise<UserRow[]> {
  const { rows } = await db.query<UserRow>(
    `select ${USER_COLUMNS} from demo.users order by id limit $1`,
    [first],
  );
  for (const user of rows) loaders.userById.prime(user.id, user);
  return rows;
}

/** Filters of {@link listPosts}; an undefined filter does not restrict. */
export interface PostFilter {
  authorId?: string;
  published?: boolean;
  first: number;
}

/** The newest `first` posts matching `filter`, primed into the loaders. */
export async function listPosts(
  db: Queryable,
  loaders: DemoLoaders,
  filter: PostFilter,
): Promise<PostRow[]> {
  // Only the filters given appear in the SQL, so each variant keeps its own index plan.
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.authorId !== undefined) {
    params.push(filter.authorId);
    where.push(`author_id = $${params.length}::bigint`);
  }
  if (filter.published !== undefined) {
    params.push(filter.published);
    where.push(`published = $${params.length}`);
  }
  params.push(filter.first);
  const condition = where.length > 0 ? `where ${where.join(' and ')}` : '';
  const { rows } = await db.query<PostRow>(
    `select ${POST_COLUMNS} from demo.posts ${condition} order by id desc limit $${params.length}`,
    params,
  );
  for (const post of rows) loaders.postById.prime(post.id, post);
  return rows;
}
