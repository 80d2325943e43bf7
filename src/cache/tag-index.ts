/**
 * The tag index of the cache: which cached keys depend on which tag, in the vocabulary of
 * sql/core/001_capture.sql, with wildcard tags answered from derived entries rather than
 * by scanning. It owns no entries and cannot fail; it is only as right as the calls that
 * add and remove keys, which CacheStore makes on every path that stores or drops one.
 */

/** The tag that invalidates everything. */
export const ALL_TAG = '*';

const QUERY_PREFIX = 'query:';
const COLON = 58;
const BRACKET = 91;

/**
 * The wildcard an entry tag is also indexed under: `Post:*` for `Post:42`, `Post[*]` for
 * `Post[]` and `Post[author_id=5]`. Query tags and wildcards themselves have none.
 */
export function derivedTag(tag: string): string | undefined {
  if (tag.startsWith(QUERY_PREFIX)) return undefined;
  for (let i = 1; i < tag.length; i++) {
    const code = tag.charCodeAt(i);
    if (code === COLON) {
      return tag.length === i + 2 && tag.charCodeAt(i + 1) === 42
        ? undefined
        : tag.slice(0, i) + ':*';
    }
    if (code === BRACKET) {
      const wildcard = tag.slice(0, i) + '[*]';
      return wildcard === tag ? undefined : wildcard;
    }
  }
  return undefined;
}

/** True for an invalidation tag such as `query:pos*` that names query tags by prefix. */
export function isQueryPrefix(tag: string): boolean {
  return tag.length > QUERY_PREFIX.length && tag.startsWith(QUERY_PREFIX) && tag.endsWith('*');
}

/**
 * Whether invalidating `invalidationTag` removes an entry carrying `entryTags`; the same
 * rules as {@link TagIndex.keysFor}, for entries not yet in the index (fills in flight).
 */
export function invalidationHits(invalidationTag: string, entryTags: readonly string[]): boolean {
  if (invalidationTag === ALL_TAG) return true;
  if (isQueryPrefix(invalidationTag)) {
    const prefix = invalidationTag.slice(0, -1);
    return entryTags.some((tag) => tag.startsWith(prefix));
  }
  return entryTags.some((tag) => tag === invalidationTag || derivedTag(tag) === invalidationTag);
}

/** A map from tag to the keys of the entries that carry it, directly or as a derived tag. */
export class TagIndex {
  private readonly keysByTag = new Map<string, Set<string>>();
  // Query tags are few (one per root field), so a prefix invalidation scans only these.
  private readonly queryTags = new Set<string>();

  /** Records that `key` depends on each of `tags` (and on their derived wildcards). */
  add(key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      this.link(tag, key);
      const derived = derivedTag(tag);
      if (derived !== undefined) this.link(derived, key);
    }
  }

  /** Forgets `key` under each of `tags`: call it with the tags `add` was given. */
  remove(key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      this.unlink(tag, key);
      const derived = derivedTag(tag);
      if (derived !== undefined) this.unlink(derived, key);
    }
  }

  /**
   * Calls `visit` with every key an invalidation of `tag` reaches, except for `*`, which
   * the store handles by clearing. `visit` may remove keys from the index as it goes.
   */
  forEachKey(tag: string, visit: (key: string) => void): void {
    if (isQueryPrefix(tag)) {
      const prefix = tag.slice(0, -1);
      for (const queryTag of this.queryTags) {
        if (queryTag.startsWith(prefix)) this.keysByTag.get(queryTag)?.forEach(visit);
      }
      return;
    }
    this.keysByTag.get(tag)?.forEach(visit);
  }

  /** Drops every tag and key. */
  clear(): void {
    this.keysByTag.clear();
    this.queryTags.clear();
  }

  /**
   * Debug counts for tests: distinct tags, tag-key references, and references whose key
   * `isLive` rejects (which must be 0). Walks the whole index.
   */
  size(isLive: (key: string) => boolean): { tags: number; references: number; dangling: number } {
    let references = 0;
    let dangling = 0;
    for (const keys of this.keysByTag.values()) {
      references += keys.size;
      for (const key of keys) if (!isLive(key)) dangling++;
    }
    return { tags: this.keysByTag.size, references, dangling };
  }

  private link(tag: string, key: string): void {
    let keys = this.keysByTag.get(tag);
    if (keys === undefined) {
      keys = new Set();
      this.keysByTag.set(tag, keys);
      if (tag.startsWith(QUERY_PREFIX)) this.queryTags.add(tag);
    }
    keys.add(key);
  }

  private unlink(tag: string, key: string): void {
    const keys = this.keysByTag.get(tag);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) {
      this.keysByTag.delete(tag);
      this.queryTags.delete(tag);
    }
  }
}
