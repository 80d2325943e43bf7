/**
 * Result tags: what a cached GraphQL response depends on, read from the response itself.
 * prepareDocument() makes every object in the result carry its type and id under reserved
 * aliases; collectAndStrip() reads them into tags and deletes them, so the client gets
 * exactly what it asked for. When tags cannot be known (a list-tag function throws, the
 * operation is ambiguous) it still strips the data, then throws: serve it, never cache it.
 */
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
  Kind,
  getArgumentValues,
  getNamedType,
  getNullableType,
  getVariableValues,
  isAbstractType,
  isCompositeType,
  isInterfaceType,
  isLeafType,
  isListType,
  isObjectType,
  isRequiredArgument,
  isUnionType,
  visit,
} from 'graphql';
import { PgcascadeError } from '../errors';
import type { ListTagFunction } from '../graphql/schema-module';

/** What prepareDocument() returns: the document to execute and how to read its result. */
export interface PreparedDocument {
  /** The caller's document with the reserved fields added. */
  document: DocumentNode;
  /** What was added, for collectAndStrip(). */
  plan: ResultPlan;
}

/** What collectAndStrip() found in a result. */
export interface ResultTags {
  /** Distinct tags in the capture vocabulary: `Post:42`, `Post[]`, `query:posts`. */
  tags: string[];
  /** Distinct concrete types of the objects in the result (for per-type TTLs). */
  typenames: string[];
}

interface FieldPlan {
  readonly responseKey: string;
  readonly fieldName: string;
  readonly node: FieldNode;
  readonly definition: GraphQLField<unknown, unknown> | undefined;
  /** `Parent.field`, the key of listTags. */
  readonly coordinate: string;
  readonly isList: boolean;
  /** Concrete types the field can return, for the default `T[]` tags. */
  readonly elementTypes: readonly string[];
  /** The field's type when it is an object type, so children need no type lookup. */
  readonly objectType: GraphQLObjectType | undefined;
  readonly child: SelectionGroup | undefined;
}

// The selection sets that merge into one response object, and their fields per concrete
// type, collected on first use.
class SelectionGroup {
  readonly fieldsByType = new Map<string, readonly FieldPlan[]>();

  constructor(readonly sets: readonly SelectionSetNode[]) {}
}

/**
 * What prepareDocument() added to a document, and the field plans collectAndStrip() builds
 * lazily from it. Memoize it with the document; it grows only with the document's types.
 */
export class ResultPlan {
  /** Response key of the added `__typename` on every object below the root. */
  readonly typenameKey: string;
  /** Response keys of the added `id` fields, one per shape of id type (`ID!`, `Int`). */
  readonly idKeys: readonly string[];

  private readonly operations: readonly OperationDefinitionNode[];
  private readonly roots = new Map<OperationDefinitionNode, SelectionGroup>();

  constructor(
    readonly schema: GraphQLSchema,
    document: DocumentNode,
    keys: { typenameKey: string; idKeys: readonly string[] },
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  ) {
    this.typenameKey = keys.typenameKey;
    this.idKeys = keys.idKeys;
    this.operations = document.definitions.filter(
      (definition): definition is OperationDefinitionNode =>
        definition.kind === Kind.OPERATION_DEFINITION,
    );
  }

  /** The operation execution ran: the named one, or the only one; else undefined. */
  operation(operationName?: string | null): OperationDefinitionNode | undefined {
    if (operationName) {
      return this.operations.find((operation) => operation.name?.value === operationName);
    }
    return this.operations.length === 1 ? this.operations[0] : undefined;
  }

  /** The group of the operation's root selection set. */
  root(operation: OperationDefinitionNode): SelectionGroup {
    let group = this.roots.get(operation);
    if (group === undefined) {
      group = new SelectionGroup([operation.selectionSet]);
      this.roots.set(operation, group);
    }
    return group;
  }

  /** The fields `group` selects on objects of `type`, as execution collects them. */
  fieldsFor(group: SelectionGroup, type: GraphQLObjectType): readonly FieldPlan[] {
    let fields = group.fieldsByType.get(type.name);
    if (fields === undefined) {
      const nodes = new Map<string, FieldNode[]>();
      this.collect(group.sets, type, nodes, new Set());
      fields = [...nodes].map(([key, fieldNodes]) => this.fieldPlan(key, fieldNodes, type));
      group.fieldsByType.set(type.name, fields);
    }
    return fields;
  }

  // Like graphql's collectFields, but @skip and @include are ignored: a skipped field is
  // simply absent from the result, and validation keeps one field per response key.
  private collect(
    sets: readonly SelectionSetNode[],
    type: GraphQLObjectType,
    nodes: Map<string, FieldNode[]>,
    visited: Set<string>,
  ): void {
    for (const set of sets) {
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) {
          const key = selection.alias?.value ?? selection.name.value;
          if (key === this.typenameKey || this.idKeys.includes(key)) continue;
          const list = nodes.get(key);
          if (list) list.push(selection);
          else nodes.set(key, [selection]);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const condition = selection.typeCondition?.name.value;
          if (condition === undefined || this.applies(condition, type)) {
            this.collect([selection.selectionSet], type, nodes, visited);
          }
        } else if (!visited.has(selection.name.value)) {
          visited.add(selection.name.value);
          const fragment = this.fragments.get(selection.name.value);
          if (fragment && this.applies(fragment.typeCondition.name.value, type)) {
            this.collect([fragment.selectionSet], type, nodes, visited);
          }
        }
      }
    }
  }

  private applies(condition: string, type: GraphQLObjectType): boolean {
    const conditionType = this.schema.getType(condition);
    if (conditionType === type) return true;
    return isAbstractType(conditionType) && this.schema.isSubType(conditionType, type);
  }

  private fieldPlan(key: string, nodes: FieldNode[], parent: GraphQLObjectType): FieldPlan {
    const node = nodes[0];
    const fieldName = node.name.value;
    const definition = fieldName.startsWith('__') ? undefined : parent.getFields()[fieldName];
    const named = definition && getNamedType(definition.type);
    const composite = named !== undefined && isCompositeType(named);
    const sets = composite ? nodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : [])) : [];
    return {
      responseKey: key,
      fieldName,
      node,
      definition,
      coordinate: `${parent.name}.${fieldName}`,
      isList: definition !== undefined && isListType(getNullableType(definition.type)),
      elementTypes: !composite
        ? []
        : isAbstractType(named)
          ? this.schema.getPossibleTypes(named).map((type) => type.name)
          : [named.name],
      objectType: isObjectType(named) ? named : undefined,
      child: composite ? new SelectionGroup(sets) : undefined,
    };
  }
}

/**
 * Adds `__typename` to every selection set below the root and `id` wherever the type has
 * one, under reserved aliases, so that every object in the result names its entity. Named
 * and inline fragments get `id` for their own type, which covers members of unions and
 * interfaces without `id`. The user's own fields are untouched, so their order is too.
 * Moderately expensive: memoize the result per document.
 */
export function prepareDocument(schema: GraphQLSchema, document: DocumentNode): PreparedDocument {
  const prefix = reservedPrefix(document);
  const typenameKey = `${prefix}typename`;
  const idKeyByShape = new Map<string, string>();
  const idKey = (shape: string): string => {
    let key = idKeyByShape.get(shape);
    if (key === undefined) {
      // Aliases of one response key must have the same type: `ID!` and `ID` may not share.
      key = idKeyByShape.size === 0 ? `${prefix}id` : `${prefix}id${idKeyByShape.size + 1}`;
      idKeyByShape.set(shape, key);
    }
    return key;
  };

  const augment = (
    set: SelectionSetNode,
    type: GraphQLCompositeType,
    add: 'typename-and-id' | 'id' | 'nothing',
  ): SelectionSetNode => {
    const selections: SelectionNode[] = set.selections.map((selection) => {
      if (selection.kind === Kind.FIELD) {
        if (!selection.selectionSet || isUnionType(type)) return selection;
        const field = type.getFields()[selection.name.value];
        const named = field && getNamedType(field.type);
        if (!named || !isCompositeType(named)) return selection;
        const selectionSet = augment(selection.selectionSet, named, 'typename-and-id');
        return { ...selection, selectionSet };
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition
          ? schema.getType(selection.typeCondition.name.value)
          : type;
        if (!isCompositeType(condition)) return selection;
        const nested = condition === type ? 'nothing' : 'id';
        return { ...selection, selectionSet: augment(selection.selectionSet, condition, nested) };
      }
      return selection;
    });

    if (add === 'typename-and-id') selections.push(aliasedField(typenameKey, '__typename'));
    const id = add === 'nothing' ? undefined : idFieldOf(type);
    if (id) selections.push(aliasedField(idKey(String(id.type)), 'id'));
    return { ...set, selections };
  };

  const fragments = new Map<string, FragmentDefinitionNode>();
  const definitions = document.definitions.map((definition) => {
    if (definition.kind === Kind.OPERATION_DEFINITION) {
      const root = schema.getRootType(definition.operation);
      if (!root) return definition;
      return { ...definition, selectionSet: augment(definition.selectionSet, root, 'nothing') };
    }
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      const type = schema.getType(definition.typeCondition.name.value);
      const augmented = isCompositeType(type)
        ? { ...definition, selectionSet: augment(definition.selectionSet, type, 'id') }
        : definition;
      fragments.set(definition.name.value, augmented);
      return augmented;
    }
    return definition;
  });

  const augmented: DocumentNode = { ...document, definitions };
  const keys = { typenameKey, idKeys: [...idKeyByShape.values()] };
  return { document: augmented, plan: new ResultPlan(schema, augmented, keys, fragments) };
}

/**
 * Reads the tags of an execution result and deletes the fields prepareDocument() added,
 * in place, in one walk of `data`. Tags: `Type:id` per object with both; per list field,
 * `listTags['Parent.field'](args, { id: parentId })` or else `T[]` for each concrete T it
 * can hold (also for a single object field that is null: a new row may fill it); per
 * root field of a query, `query:<field name>`. `variables` are the request's, uncoerced.
 * `operationName` is required when the document has several operations. Throws a
 * PgcascadeError (after stripping) when the tags are incomplete.
 */
export function collectAndStrip(
  schema: GraphQLSchema,
  plan: ResultPlan,
  data: Record<string, unknown> | null | undefined,
  variables?: Record<string, unknown> | null,
  listTags?: Readonly<Record<string, ListTagFunction>>,
  operationName?: string | null,
): ResultTags {
  if (data == null) return { tags: [], typenames: [] };
  const operation = plan.operation(operationName);
  const root = operation && schema.getRootType(operation.operation);
  if (!operation || !root) {
    stripAll(data, plan);
    const wanted = operationName ? `operation "${operationName}"` : 'a single operation';
    throw new PgcascadeError('PGCASCADE_RESULT_TAGS', `document has no ${wanted}`);
  }

  const walk = new ResultWalk(plan, operation, variables ?? {}, listTags ?? {});
  walk.object(data, plan.root(operation), root, true);
  if (walk.failure) throw walk.failure;
  return { tags: [...walk.tags], typenames: [...walk.typenames] };
}

// One walk of one result: accumulates tags and remembers argument values per field.
class ResultWalk {
  readonly tags = new Set<string>();
  readonly typenames = new Set<string>();
  /** The first list-tag failure; the walk goes on so that the data is fully stripped. */
  failure: PgcascadeError | undefined;
  private coercedVariables: Record<string, unknown> | undefined;
  private readonly argsByField = new Map<FieldPlan, Record<string, unknown>>();

  constructor(
    private readonly plan: ResultPlan,
    private readonly operation: OperationDefinitionNode,
    private readonly variables: Record<string, unknown>,
    private readonly listTags: Readonly<Record<string, ListTagFunction>>,
  ) {}

  object(
    value: Record<string, unknown>,
    group: SelectionGroup,
    type: GraphQLObjectType,
    isRoot: boolean,
  ): void {
    const plan = this.plan;
    let id: string | undefined;
    for (const key of plan.idKeys) {
      const found = value[key];
      if (found != null && id === undefined) id = String(found);
    }
    if (!isRoot) {
      this.typenames.add(type.name);
      if (id !== undefined) this.tags.add(`${type.name}:${id}`);
    }
    const isQueryRoot = isRoot && this.operation.operation === 'query';

    for (const field of plan.fieldsFor(group, type)) {
      if (!(field.responseKey in value)) continue;
      if (isQueryRoot && field.definition) this.tags.add(`query:${field.fieldName}`);
      if (field.child === undefined) continue;
      const child = value[field.responseKey];
      if (field.isList || child === null) this.addListTags(field, id);
      this.value(child, field);
    }

    // Reverse order of addition: V8 deletes the newest property without reshaping.
    for (let i = plan.idKeys.length - 1; i >= 0; i--) {
      if (plan.idKeys[i] in value) delete value[plan.idKeys[i]];
    }
    if (plan.typenameKey in value) delete value[plan.typenameKey];
  }

  private value(value: unknown, field: FieldPlan): void {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) this.value(item, field);
      return;
    }
    const record = value as Record<string, unknown>;
    const type = field.objectType ?? this.concreteType(record[this.plan.typenameKey]);
    if (type) this.object(record, field.child as SelectionGroup, type, false);
  }

  private concreteType(typename: unknown): GraphQLObjectType | undefined {
    if (typeof typename !== 'string') return undefined;
    const type = this.plan.schema.getType(typename);
    return isObjectType(type) ? type : undefined;
  }

  private addListTags(field: FieldPlan, parentId: string | undefined): void {
    const tagsOf = this.listTags[field.coordinate];
    if (tagsOf === undefined || field.definition === undefined) {
      for (const type of field.elementTypes) this.tags.add(`${type}[]`);
      return;
    }
    let tags: string[];
    try {
      tags = tagsOf(this.args(field), parentId === undefined ? {} : { id: parentId });
    } catch (error) {
      const message = `listTags['${field.coordinate}'] failed: ${(error as Error).message}`;
      this.failure ??= new PgcascadeError('PGCASCADE_LIST_TAGS', message, { cause: error });
      return;
    }
    for (const tag of tags) this.tags.add(tag);
  }

  private args(field: FieldPlan): Record<string, unknown> {
    let args = this.argsByField.get(field);
    if (args === undefined) {
      args = getArgumentValues(
        field.definition as GraphQLField<unknown, unknown>,
        field.node,
        this.coerced(),
      );
      this.argsByField.set(field, args);
    }
    return args;
  }

  // Variable defaults apply only after coercion; done once, and only if a list needs it.
  private coerced(): Record<string, unknown> {
    if (this.coercedVariables === undefined) {
      const definitions = this.operation.variableDefinitions ?? [];
      const result = getVariableValues(this.plan.schema, definitions, this.variables);
      this.coercedVariables = result.coerced ?? this.variables;
    }
    return this.coercedVariables;
  }
}

// Deletes the reserved keys everywhere, for a result whose operation is unknown.
function stripAll(value: unknown, plan: ResultPlan): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) stripAll(item, plan);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const key of plan.idKeys) delete record[key];
  delete record[plan.typenameKey];
  for (const key in record) stripAll(record[key], plan);
}

function aliasedField(alias: string, name: string): FieldNode {
  return {
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: alias },
    name: { kind: Kind.NAME, value: name },
  };
}

// The `id` field prepareDocument may add: a scalar or enum that needs no arguments.
function idFieldOf(type: GraphQLCompositeType): GraphQLField<unknown, unknown> | undefined {
  if (!isObjectType(type) && !isInterfaceType(type)) return undefined;
  const field = type.getFields().id;
  if (!field || !isLeafType(getNullableType(field.type))) return undefined;
  return field.args.some(isRequiredArgument) ? undefined : field;
}

// `__pgc_`, or `__pgc1_`... if the document already uses a name starting with it.
function reservedPrefix(document: DocumentNode): string {
  const names: string[] = [];
  visit(document, {
    Field(node) {
      names.push(node.alias?.value ?? node.name.value);
    },
  });
  for (let n = 0; ; n++) {
    const prefix = n === 0 ? '__pgc_' : `__pgc${n}_`;
    if (!names.some((name) => name.startsWith(prefix))) return prefix;
  }
}
