/**
 * Fills the demo tables with generated users, posts and comments using set-based inserts
 * in batches, all in one transaction: a failed seed leaves the tables as they were, and
 * readers never see half of one. Capture triggers fire as for any other write.
 */
import type pg from 'pg';
import { PgcascadeError } from '../errors';

/** A seeding step reported to {@link SeedOptions.onProgress}. */
export type SeedPhase = 'users' | 'posts' | 'comments';

/** Options of {@link seedDemo}. */
export interface SeedOptions {
  /** Users to add. Default 1000. */
  users?: number;
  /** Posts per added user. Default 10. */
  postsPerUser?: number;
  /** Comments per added post. Default 3. */
  commentsPerPost?: number;
  /** Empty the demo tables and restart their ids first. Default true. */
  reset?: boolean;
  /** Called after each statement with the rows inserted so far in `phase` and its total. */
  onProgress?(done: number, total: number, phase: SeedPhase): void;
}

/** Rows added by {@link seedDemo} and how long it took. */
export interface SeedResult {
  users: number;
  posts: number;
  comments: number;
  durationMs: number;
}

const USERS_PER_STATEMENT = 5_000;
// Posts and comments go in batches of about this many rows, so progress moves evenly.
const ROWS_PER_STATEMENT = 50_000;

const FIRST_NAMES = [
  'Ada',
  'Alan',
  'Barbara',
  'Bjarne',
  'Claude',
  'Dennis',
  'Donald',
  'Edsger',
  'Frances',
  'Grace',
  'Guido',
  'Hedy',
  'Ken',
  'Leslie',
  'Linus',
  'Margaret',
  'Niklaus',
  'Radia',
  'Shafi',
  'Tim',
];
const LAST_NAMES = [
  'Allen',
  'Backus',
  'Codd',
  'Dijkstra',
  'Eich',
  'Floyd',
  'Gray',
  'Hamilton',
  'Hopper',
  'Iverson',
  'Knuth',
  'Lamport',
  'Liskov',
  'McCarthy',
  'Naur',
  'Perlman',
  'Ritchie',
  'Stonebraker',
  'Thompson',
  'Wirth',
];
const TOPICS = [
  'connection pools',
  'query plans',
  'cache invalidation',
  'GraphQL fragments',
  'indexes',
  'transactions',
  'replication lag',
  'vacuum',
  'advisory locks',
  'LISTEN/NOTIFY',
  'batching',
  'schema migrations',
  'row-level security',
  'JSONB',
  'backpressure',
];
const TITLES = [
  'Notes on %s',
  'What I got wrong about %s',
  '%s in practice',
  'A week with %s',
  'Debugging %s',
  'Why %s matters',
  'Measuring %s',
  '%s, revisited',
];
const SENTENCES = [
  'We measured it twice before believing the numbers.',
  'The first version was simple and almost right.',
  'Most of the time went into the slowest one percent of requests.',
  'A single index changed the picture completely.',
  'The fix was one line; finding it took a week.',
  'Nobody noticed until the traffic doubled.',
  'It works, but only because of a detail nobody wrote down.',
  'The trade-off is latency against memory, as usual.',
  'Reading the source was faster than reading the docs.',
  'We kept the old path around until the new one had proven itself.',
  'Everything is a cache if you squint.',
];
const REPLIES = [
  'Great write-up, thanks!',
  'Did you try this with a larger data set?',
  'We hit the same problem last year.',
  'This saved me an afternoon.',
  'I am not sure the benchmark is fair.',
  'Could you share the query plan?',
  'Bookmarked.',
  'How does this behave under load?',
  'Nice, but what about failover?',
  'Finally someone explains this properly.',
];

// The lists travel as parameters ($3.. as text[]); rows pick from them by position, which
// is deterministic and far cheaper than random().
const INSERT_USERS = `
  with added as (
    insert into demo.users (name, email, created_at)
    select ($3::text[])[1 + n % cardinality($3::text[])] || ' '
             || ($4::text[])[1 + (n / cardinality($3::text[])) % cardinality($4::text[])],
           'user' || n || '@example.com',
           now() - make_interval(days => (400 - n % 365)::int)
    from generate_series($1::bigint, $2::bigint) n
    order by n
    returning id
  )
  select count(*)::int as count, min(id) as first_id, max(id) as last_id from added`;

const INSERT_POSTS = `
  with added as (
    insert into demo.posts (author_id, title, body, published, created_at, updated_at)
    select u.id,
           upper(left(t.title, 1)) || substr(t.title, 2),
           ($6::text[])[1 + (u.id + k) % cardinality($6::text[])] || ' '
             || ($6::text[])[1 + (u.id * 3 + k * 5) % cardinality($6::text[])] || ' '
             || ($6::text[])[1 + (u.id * 11 + k * 7) % cardinality($6::text[])],
           (u.id + k) % 5 <> 0,
           t.at, t.at
    from demo.users u
    cross join generate_series(1, $3::int) k
    cross join lateral (
      select format(($4::text[])[1 + (u.id + k) % cardinality($4::text[])],
                    ($5::text[])[1 + (u.id * 7 + k) % cardinality($5::text[])]) as title,
             now() - make_interval(hours => (k * 37 + u.id % 24)::int) as at
    ) t
    where u.id between $1 and $2
    order by u.id, k
    returning id
  )
  select count(*)::int as count, min(id) as first_id, max(id) as last_id from added`;

// Commenters are other users of this seed, picked by arithmetic on their contiguous ids.
const INSERT_COMMENTS = `
  with added as (
    insert into demo.comments (post_id, author_id, body, created_at)
    select p.id,
           $4::bigint + (p.id * 7 + k * 13) % $5::bigint,
           ($6::text[])[1 + (p.id + k) % cardinality($6::text[])],
           p.created_at + make_interval(mins => (k * 17)::int)
    from demo.posts p
    cross join generate_series(1, $3::int) k
    where p.id between $1 and $2
    order by p.id, k
    returning id
  )
  select count(*)::int as count, min(id) as first_id, max(id) as last_id from added`;

interface Inserted {
  count: number;
  first_id: string | null;
  last_id: string | null;
}

interface IdRange {
  first: bigint;
  last: bigint;
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PgcascadeError(
      'PGCASCADE_SEED_OPTIONS',
      `seed: ${name} must be a whole number of at least 0, got ${value}`,
    );
  }
}

/**
 * Runs `sql` once per chunk of the id range `over` ($1..$2 are a chunk's bounds) and
 * returns the range of ids it added.
 */
async function insertInBatches(
  client: pg.ClientBase,
  sql: string,
  over: IdRange,
  perStatement: bigint,
  extra: unknown[],
  report: (added: number) => void,
): Promise<IdRange | null> {
  let first: bigint | undefined;
  let last: bigint | undefined;
  for (let lo = over.first; lo <= over.last; lo += perStatement) {
    const end = lo + perStatement - 1n;
    const hi = end < over.last ? end : over.last;
    const { rows } = await client.query<Inserted>(sql, [lo, hi, ...extra]);
    const { count, first_id, last_id } = rows[0];
    if (count > 0 && first_id !== null && last_id !== null) {
      first ??= BigInt(first_id);
      last = BigInt(last_id);
    }
    report(count);
  }
  return first === undefined || last === undefined ? null : { first, last };
}

async function insertUsers(
  client: pg.ClientBase,
  total: number,
  onProgress: SeedOptions['onProgress'],
): Promise<IdRange | null> {
  // Emails continue after the highest id, so seeding again without reset stays unique.
  const { rows } = await client.query<{ last: string }>(
    'select coalesce(max(id), 0) as last from demo.users',
  );
  const offset = BigInt(rows[0].last);
  const numbers = { first: offset + 1n, last: offset + BigInt(total) };
  let done = 0;
  return insertInBatches(
    client,
    INSERT_USERS,
    numbers,
    BigInt(USERS_PER_STATEMENT),
    [FIRST_NAMES, LAST_NAMES],
    (added) => {
      done += added;
      onProgress?.(done, total, 'users');
    },
  );
}

function parentsPerStatement(childrenPerParent: number): bigint {
  return BigInt(Math.max(1, Math.floor(ROWS_PER_STATEMENT / childrenPerParent)));
}

/**
 * Adds `users` users with `postsPerUser` posts each and `commentsPerPost` comments on
 * every post (defaults 1000, 10, 3), after emptying the demo tables when `reset`.
 * Rejects with PGCASCADE_SEED_OPTIONS for bad counts and PGCASCADE_SEED_FAILED otherwise.
 */
export async function seedDemo(pool: pg.Pool, options: SeedOptions = {}): Promise<SeedResult> {
  const { users = 1000, postsPerUser = 10, commentsPerPost = 3, reset = true } = options;
  checkCount('users', users);
  checkCount('postsPerUser', postsPerUser);
  checkCount('commentsPerPost', commentsPerPost);
  const started = performance.now();
  const client = await pool.connect();
  try {
    await client.query('begin');
    // Blocks other writers (not readers) so the ids this seed takes are contiguous,
    // which picking commenters by arithmetic relies on.
    await client.query('lock table demo.users, demo.posts, demo.comments in exclusive mode');
    if (reset) {
      await client.query('truncate demo.comments, demo.posts, demo.users restart identity');
    }
    const counts = await insertAll(client, { users, postsPerUser, commentsPerPost }, options);
    await client.query('commit');
    return { ...counts, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw new PgcascadeError('PGCASCADE_SEED_FAILED', `seed failed: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    client.release();
  }
}

async function insertAll(
  client: pg.ClientBase,
  sizes: { users: number; postsPerUser: number; commentsPerPost: number },
  options: SeedOptions,
): Promise<Omit<SeedResult, 'durationMs'>> {
  const result = { users: 0, posts: 0, comments: 0 };
  const onProgress = options.onProgress;

  const userIds = sizes.users > 0 ? await insertUsers(client, sizes.users, onProgress) : null;
  if (userIds === null) return result;
  result.users = Number(userIds.last - userIds.first + 1n);
  if (result.users !== sizes.users) {
    throw new Error(
      `expected ${sizes.users} contiguous user ids, got ${userIds.first}..${userIds.last}`,
    );
  }
  if (sizes.postsPerUser === 0) return result;

  const postsTotal = sizes.users * sizes.postsPerUser;
  const postIds = await insertInBatches(
    client,
    INSERT_POSTS,
    userIds,
    parentsPerStatement(sizes.postsPerUser),
    [sizes.postsPerUser, TITLES, TOPICS, SENTENCES],
    (added) => {
      result.posts += added;
      onProgress?.(result.posts, postsTotal, 'posts');
    },
  );
  if (postIds === null || sizes.commentsPerPost === 0) return result;

  const commentsTotal = result.posts * sizes.commentsPerPost;
  await insertInBatches(
    client,
    INSERT_COMMENTS,
    postIds,
    parentsPerStatement(sizes.commentsPerPost),
    [sizes.commentsPerPost, userIds.first, result.users, REPLIES],
    (added) => {
      result.comments += added;
      onProgress?.(result.comments, commentsTotal, 'comments');
    },
  );
  return result;
}

/** Whether demo.users has no rows, so that start-up seeds only a fresh database. */
export async function isDemoEmpty(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ empty: boolean }>(
    'select not exists (select 1 from demo.users) as empty',
  );
  return rows[0].empty;
}
