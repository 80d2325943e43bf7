/**
 * The list tags of the demo's list fields, in the capture vocabulary of
 * sql/core/001_capture.sql. Each string must equal what the triggers print, or a cached
 * list outlives a change to it; ids are canonicalised because PostgreSQL prints `5`, not `05`.
 */
import type { ListTagFunction } from '../graphql/schema-module';
import { canonicalId } from './arguments';

// An id the resolver rejects (or a parent without one) fails the field, so no result is
// cached under the fallback; it only has to be a well-formed tag.
function filtered(type: string, column: string, raw: unknown): string {
  const id = canonicalId(raw);
  return id === null ? `${type}[*]` : `${type}[${column}=${id}]`;
}

const queryPosts: ListTagFunction = (args) => {
  // The author filter alone is enough when both are given: the trigger tags the author's
  // list whenever published changes, so posts(authorId, published) is covered.
  if (args.authorId !== undefined && args.authorId !== null) {
    return [filtered('Post', 'author_id', args.authorId)];
  }
  if (typeof args.published === 'boolean') return [`Post[published=${args.published}]`];
  return ['Post[]'];
};

/** SchemaModule.listTags of the demo, keyed `Type.field`. */
export const demoListTags: Record<string, ListTagFunction> = {
  'Query.users': () => ['User[]'],
  'Query.posts': queryPosts,
  'User.posts': (_args, parent) => [filtered('Post', 'author_id', parent.id)],
  'Post.comments': (_args, parent) => [filtered('Comment', 'post_id', parent.id)],
};
