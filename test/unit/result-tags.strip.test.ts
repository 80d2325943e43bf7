import { print } from 'graphql';
import { collectAndStrip } from '../../src/cache/result-tags';
import { runBoth, schema } from './result-tags.fixture';

// The client must receive byte for byte what the plain document returns.
function expectStrippedExactly(query: string, variables?: Record<string, unknown>): void {
  const { plain, augmented, prepared } = runBoth(query, variables);
  expect(plain.errors).toBeUndefined();
  expect(augmented.errors).toBeUndefined();
  expect(JSON.stringify(augmented.data)).not.toBe(JSON.stringify(plain.data));

  const data = augmented.data as Record<string, unknown>;
  collectAndStrip(schema, prepared.plan, data, variables, undefined, undefined);

  expect(JSON.stringify(data)).toBe(JSON.stringify(plain.data));
}

describe('collectAndStrip returns exactly what the client asked for', () => {
  it('strips the added __typename and id from nested objects and lists', () => {
    expectStrippedExactly('{ posts { title author { name posts { title } } comments { body } } }');
  });

  it('keeps the fields the client selected itself, in their order, even __typename and id', () => {
    expectStrippedExactly('{ post(id: "11") { id __typename title author { __typename id } } }');
    expectStrippedExactly('{ post(id: "11") { title __typename id } }');
  });

  it('keeps aliases, including aliases named id or __typename for other fields', () => {
    expectStrippedExactly(`{
      first: post(id: "11") { id: title __typename: title key: id }
      second: post(id: "12") { heading: title writer: author { id: name } }
    }`);
  });

  it('keeps field order when a fragment selects id after other fields', () => {
    expectStrippedExactly(`
      { post(id: "11") { ... on Post { title } body: title id ...More } }
      fragment More on Post { author { id name } id }
    `);
  });

  it('handles named fragments used at several depths', () => {
    expectStrippedExactly(`
      query Feed { posts(first: 3) { ...PostParts author { posts { ...PostParts } } } }
      fragment PostParts on Post { title comments { ...CommentParts } }
      fragment CommentParts on Comment { body author { name } }
    `);
  });

  it('handles interfaces, and unions with members with and without id', () => {
    expectStrippedExactly(`{
      node(id: "12") { ... on Post { title } }
      user: node(id: "2") { id ... on User { name } }
      search(text: "x") { __typename ... on Post { title } ... on Label { text } }
      mixed { ... on Legacy { label } ... on Post { id } }
    }`);
  });

  it('handles nested lists with null items, skipped fields and variables', () => {
    expectStrippedExactly(
      `query Q($skip: Boolean!, $id: ID!) {
        matrix { title labels { text } }
        post(id: $id) { title author @skip(if: $skip) { name } }
        missing: post(id: "999") { title }
      }`,
      { skip: true, id: '13' },
    );
  });

  it('adds nothing to a document without objects', () => {
    const { prepared } = runBoth('{ count }');

    expect(print(prepared.document)).toBe('{\n  count\n}');
  });

  it('uses other reserved aliases when the document already uses the first ones', () => {
    const query = '{ post(id: "11") { __pgc_id: title __pgc_typename: title } }';
    const { prepared } = runBoth(query);

    expect(prepared.plan.typenameKey).toBe('__pgc1_typename');
    expectStrippedExactly(query);
  });

  it('strips a mutation result too', () => {
    expectStrippedExactly('mutation { touch(id: "11") { title author { name } } }');
  });
});
