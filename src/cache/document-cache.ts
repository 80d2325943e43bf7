/**
 * What the serving path knows about each query text it has seen: the parsed document,
 * its cacheable operations and the augmented document a fill executes. Parsing happens
 * once per distinct text; a cache hit only looks the text up here.
 */
import {
  type DocumentNode,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  parse,
  validate,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { prepareDocument, type PreparedDocument } from './result-tags';

/** A query text's analysis; `undefined` operations mean the text does not parse. */
export interface DocumentInfo {
  document: DocumentNode;
  /** Operations by name ('' for the anonymous one) that may be cached. */
  cacheable: Set<string>;
  /** Number of operations in the document. */
  operationCount: number;
  /** The document with __typename/id added, and how to strip them; absent if invalid. */
  prepared: PreparedDocument | undefined;
}

function isCacheable(operation: OperationDefinitionNode): boolean {
  if (operation.operation !== 'query') return false;
  // Introspection answers come from the schema, not the data: never cached.
  return operation.selectionSet.selections.every(
    (s) => s.kind !== Kind.FIELD || !s.name.value.startsWith('__'),
  );
}

/** Remembers the analysis of recent query texts. */
export class DocumentCache {
  private readonly documents: LRUCache<string, DocumentInfo | false>;

  /**
   * @param schema the schema fills execute against
   * @param maxDocuments distinct query texts remembered. Default 1000.
   */
  constructor(
    private readonly schema: GraphQLSchema,
    maxDocuments = 1000,
  ) {
    this.documents = new LRUCache({ max: maxDocuments });
  }

  /** The analysis of `query`, or undefined when it does not parse. */
  lookup(query: string): DocumentInfo | undefined {
    const known = this.documents.get(query);
    if (known !== undefined) return known || undefined;

    const info = this.analyse(query);
    this.documents.set(query, info ?? false);
    return info;
  }

  /** Whether the operation `operationName` selects of `info` may be cached. */
  static cacheable(info: DocumentInfo, operationName: string | null | undefined): boolean {
    if (!info.prepared) return false;
    if (operationName) return info.cacheable.has(operationName);
    return info.operationCount === 1 && info.cacheable.size === 1;
  }

  private analyse(query: string): DocumentInfo | undefined {
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch {
      return undefined;
    }
    const cacheable = new Set<string>();
    let operationCount = 0;
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      operationCount++;
      if (isCacheable(definition)) cacheable.add(definition.name?.value ?? '');
    }
    // An invalid document is not cacheable: Yoga answers it (400) and says why.
    const valid = cacheable.size > 0 && validate(this.schema, document).length === 0;
    const prepared = valid ? prepareDocument(this.schema, document) : undefined;
    return { document, cacheable, operationCount, prepared };
  }
}
