/**
 * The viewer: the user named by `Authorization: Bearer <id>`, and the cache scope that
 * keeps any result selecting `viewer` private to one Authorization. A missing or
 * malformed header means no viewer; it never raises.
 */
import { Kind, type DocumentNode, type SelectionSetNode } from 'graphql';
import type { RequestHeaders } from '../graphql/schema-module';
import { canonicalId } from './arguments';

/** The Authorization header as one string; '' when absent. */
export function authorization(headers: RequestHeaders): string {
  const value = headers.authorization;
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** The canonical user id of `Authorization: Bearer <id>`, or null when absent or malformed. */
export function viewerId(headers: RequestHeaders): string | null {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization(headers));
  return match ? canonicalId(match[1]) : null;
}

function selects(
  selectionSet: SelectionSetNode | undefined,
  fragments: Map<string, SelectionSetNode>,
  visited: Set<string>,
): boolean {
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      // The name, not the alias: `me: viewer` selects viewer.
      if (selection.name.value === 'viewer') return true;
      if (selects(selection.selectionSet, fragments, visited)) return true;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (selects(selection.selectionSet, fragments, visited)) return true;
    } else {
      const name = selection.name.value;
      // A fragment cycle is invalid GraphQL, but scope() runs before validation.
      if (visited.has(name)) continue;
      visited.add(name);
      if (selects(fragments.get(name), fragments, visited)) return true;
    }
  }
  return false;
}

/**
 * Whether the operation selects a field named `viewer`, directly, under an alias or
 * through fragments. Fields of that name below the root count too and an unknown
 * operationName checks every operation: a false "private" costs a cache share, a false
 * "shared" would leak one user's data to another.
 */
export function selectsViewer(document: DocumentNode, operationName?: string | null): boolean {
  // scope() runs on every cacheable request, hits included; documents come from the
  // DocumentCache, the same object for the same query text, so the walk happens once.
  let byOperation = selectsViewerMemo.get(document);
  if (!byOperation) selectsViewerMemo.set(document, (byOperation = new Map()));
  let selected = byOperation.get(operationName ?? '');
  if (selected === undefined) {
    selected = walkForViewer(document, operationName);
    byOperation.set(operationName ?? '', selected);
  }
  return selected;
}

const selectsViewerMemo = new WeakMap<DocumentNode, Map<string, boolean>>();

function walkForViewer(document: DocumentNode, operationName?: string | null): boolean {
  const fragments = new Map<string, SelectionSetNode>();
  const operations = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition.selectionSet);
    } else if (definition.kind === Kind.OPERATION_DEFINITION) {
      operations.push(definition);
    }
  }

  const named = operations.filter((o) => operationName && o.name?.value === operationName);
  const chosen = named.length > 0 ? named : operations;
  return chosen.some((o) => selects(o.selectionSet, fragments, new Set()));
}

/** SchemaModule.scope of the demo: `authorization:<header>` when viewer is selected. */
export function viewerScope(args: {
  headers: RequestHeaders;
  document: DocumentNode;
  operationName?: string | null;
}): string | null {
  if (!selectsViewer(args.document, args.operationName)) return null;
  return `authorization:${authorization(args.headers)}`;
}
