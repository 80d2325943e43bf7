/**
 * Cache keys: the scope, operation name, canonical variables and document text of a
 * request. Two requests share an entry only when all four are equal, so operations
 * that differ only in their selection set never do.
 */

// Sorting object keys makes {a:1,b:2} and {b:2,a:1} one key; arrays keep their order.
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(',')}}`;
}

/** The canonical text of a variables object (empty for none). */
export function canonicalVariables(variables: Record<string, unknown> | null | undefined): string {
  if (!variables) return '';
  for (const _ in variables) return canonical(variables);
  return '';
}

/**
 * The cache key of one request. Each part but the last is length-prefixed, so no
 * choice of operation name, variables or query can forge another scope's key.
 */
export function cacheKey(
  scope: string | null,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  query: string,
): string {
  const s = scope ?? '';
  const o = operationName ?? '';
  const v = canonicalVariables(variables);
  return `${s.length}:${s}${o.length}:${o}${v.length}:${v}${query}`;
}
