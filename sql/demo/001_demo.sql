-- pgcascade demo: a small blog (users, posts, comments) served by the demo GraphQL schema,
-- tracked by capture, with one mutation function per GraphQL mutation. A function checks
-- its input first: 'invalid' and 'not_found' write and emit nothing. Anything else that
-- goes wrong raises, so the caller's transaction rolls back with no audit entry.

create schema demo;

-- tables -----------------------------------------------------------------------------

create table demo.users (
  id bigint generated always as identity primary key,
  name text not null,
  email text not null unique,
  created_at timestamptz not null default now()
);

-- Foreign keys do not cascade: delete_post removes comments itself, so its cascade can
-- name them; a stray delete of a commented post fails instead of losing the comments.
create table demo.posts (
  id bigint generated always as identity primary key,
  author_id bigint not null references demo.users,
  title text not null,
  body text not null,
  published boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table demo.comments (
  id bigint generated always as identity primary key,
  post_id bigint not null references demo.posts,
  author_id bigint not null references demo.users,
  body text not null,
  created_at timestamptz not null default now()
);

-- access paths of the resolvers ------------------------------------------------------

-- User.posts and posts(authorId) batch by author, newest first
create index posts_author_id_id_idx on demo.posts (author_id, id);
-- posts(published) pages backwards through one value
create index posts_published_id_idx on demo.posts (published, id);
-- Post.comments batches by post, oldest first
create index comments_post_id_id_idx on demo.comments (post_id, id);
-- without it, deleting a user scans every comment for the foreign-key check
create index comments_author_id_idx on demo.comments (author_id);

-- capture ----------------------------------------------------------------------------

-- Filters name the columns besides parent keys that place a row in a list: posts are
-- listed by published, users and comments by nothing else.
select pgcascade.track('demo.users', 'User', 'id', '{}', '{}');
select pgcascade.track('demo.posts', 'Post', 'id', '{"author_id": "User"}', '{published}');
select pgcascade.track(
  'demo.comments', 'Comment', 'id', '{"post_id": "Post", "author_id": "User"}', '{}');

-- mutation results -------------------------------------------------------------------

create type demo.mutation_result as (
  status text,
  message text,
  entity jsonb,
  cascade jsonb
);

comment on type demo.mutation_result is
  'status is success, not_found or invalid; entity (the row) and cascade are null unless success.';

create function demo.failure(status text, message text) returns demo.mutation_result
language sql immutable as $$
  select (status, message, null, null)::demo.mutation_result
$$;

-- Records the cascade in the audit trail of the calling transaction and returns it.
create function demo.success(entity jsonb, cascade jsonb) returns demo.mutation_result
language plpgsql as $$
begin
  perform pgcascade.emit(cascade);
  return ('success', null, entity, cascade)::demo.mutation_result;
end;
$$;

-- cascade pieces (the GraphQL Cascade shape) -----------------------------------------

create function demo.cascade_update(typename text, id bigint, operation text, entity jsonb)
returns jsonb
language sql immutable as $$
  select jsonb_build_object(
    '__typename', typename, 'id', id::text, 'operation', operation, 'entity', entity)
$$;

create function demo.cascade_deletion(typename text, id bigint) returns jsonb
language sql immutable as $$
  select jsonb_build_object('__typename', typename, 'id', id::text)
$$;

create function demo.cascade_invalidation(query_name text, scope text) returns jsonb
language sql immutable as $$
  select jsonb_build_object('queryName', query_name, 'strategy', 'INVALIDATE', 'scope', scope)
$$;

create function demo.cascade(
  updated jsonb, deleted jsonb, invalidations jsonb, affected_count int
) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'updated', updated,
    'deleted', deleted,
    'invalidations', invalidations,
    'metadata', jsonb_build_object('timestamp', now(), 'affectedCount', affected_count))
$$;

-- mutation functions -----------------------------------------------------------------
-- Parameters keep the GraphQL argument names so that named notation reads the same
-- (demo.update_post(7, published => true)); statements that also see columns of the
-- same name refer to the parameters through the function name (update_post.title).

create function demo.create_post(author_id bigint, title text, body text)
returns demo.mutation_result
language plpgsql as $$
declare
  post demo.posts;
begin
  if author_id is null then
    return demo.failure('invalid', 'authorId is required');
  end if;
  if coalesce(btrim(title), '') = '' then
    return demo.failure('invalid', 'title must not be empty');
  end if;
  if body is null then
    return demo.failure('invalid', 'body is required');
  end if;

  -- The key-share lock keeps the author from being deleted between check and insert.
  perform from demo.users u where u.id = create_post.author_id for key share;
  if not found then
    return demo.failure('not_found', format('user %s not found', author_id));
  end if;

  insert into demo.posts (author_id, title, body)
  values (create_post.author_id, create_post.title, create_post.body)
  returning * into post;

  return demo.success(to_jsonb(post), demo.cascade(
    jsonb_build_array(demo.cascade_update('Post', post.id, 'CREATED', to_jsonb(post))),
    '[]',
    jsonb_build_array(demo.cascade_invalidation('posts', 'PREFIX')),
    1));
end;
$$;

create function demo.update_post(
  id bigint,
  title text default null,
  body text default null,
  published boolean default null
) returns demo.mutation_result
language plpgsql as $$
declare
  previous demo.posts;
  post demo.posts;
  invalidations jsonb := '[]';
begin
  if id is null then
    return demo.failure('invalid', 'id is required');
  end if;
  if title is not null and btrim(title) = '' then
    return demo.failure('invalid', 'title must not be empty');
  end if;
  if title is null and body is null and published is null then
    return demo.failure('invalid', 'nothing to update: give title, body or published');
  end if;

  select * into previous from demo.posts p where p.id = update_post.id for update;
  if not found then
    return demo.failure('not_found', format('post %s not found', id));
  end if;

  update demo.posts p
  set title = coalesce(update_post.title, p.title),
      body = coalesce(update_post.body, p.body),
      published = coalesce(update_post.published, p.published),
      updated_at = now()
  where p.id = update_post.id
  returning * into post;

  -- Publishing or withdrawing moves the post between the lists posts(published: ...).
  if post.published is distinct from previous.published then
    invalidations := jsonb_build_array(demo.cascade_invalidation('posts', 'PREFIX'));
  end if;
  return demo.success(to_jsonb(post), demo.cascade(
    jsonb_build_array(demo.cascade_update('Post', post.id, 'UPDATED', to_jsonb(post))),
    '[]',
    invalidations,
    1));
end;
$$;

create function demo.delete_post(id bigint) returns demo.mutation_result
language plpgsql as $$
declare
  post demo.posts;
  comment_ids bigint[];
begin
  if id is null then
    return demo.failure('invalid', 'id is required');
  end if;

  -- Locking the post first also blocks new comments on it (their foreign-key check
  -- needs a key-share lock), so none can appear between the two deletes.
  select * into post from demo.posts p where p.id = delete_post.id for update;
  if not found then
    return demo.failure('not_found', format('post %s not found', id));
  end if;

  with gone as (
    delete from demo.comments c where c.post_id = delete_post.id returning c.id
  )
  select coalesce(array_agg(gone.id order by gone.id), '{}') into comment_ids from gone;
  delete from demo.posts p where p.id = delete_post.id;

  return demo.success(to_jsonb(post), demo.cascade(
    '[]',
    jsonb_build_array(demo.cascade_deletion('Post', post.id))
      || coalesce(
        (select jsonb_agg(demo.cascade_deletion('Comment', c.id) order by c.id)
         from unnest(comment_ids) as c(id)),
        '[]'),
    jsonb_build_array(demo.cascade_invalidation('posts', 'PREFIX')),
    1 + cardinality(comment_ids)));
end;
$$;

create function demo.rename_user(id bigint, name text) returns demo.mutation_result
language plpgsql as $$
declare
  renamed demo.users;
begin
  if id is null then
    return demo.failure('invalid', 'id is required');
  end if;
  if coalesce(btrim(name), '') = '' then
    return demo.failure('invalid', 'name must not be empty');
  end if;

  update demo.users u set name = rename_user.name
  where u.id = rename_user.id
  returning * into renamed;
  if not found then
    return demo.failure('not_found', format('user %s not found', id));
  end if;

  return demo.success(to_jsonb(renamed), demo.cascade(
    jsonb_build_array(demo.cascade_update('User', renamed.id, 'UPDATED', to_jsonb(renamed))),
    '[]',
    '[]',
    1));
end;
$$;
