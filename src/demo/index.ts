/**
 * The demo schema module that `pgcascade serve` runs by default: a blog over the
 * demo.* tables of sql/demo, with its cache hints, and the seed that fills it. Loading it
 * touches no database; a missing demo migration shows up as a failing query.
 */
import type { SchemaModule } from '../graphql/schema-module';
import { createDemoContext } from './context';
import { demoListTags } from './list-tags';
import { demoResolvers, demoTypeDefs } from './schema';
import { viewerScope } from './viewer';

export type { DemoContext } from './context';
export { isDemoEmpty, seedDemo, type SeedOptions, type SeedPhase, type SeedResult } from './seed';

/**
 * The demo as a SchemaModule. Results that select `viewer` are private to the request's
 * Authorization header; list fields carry the capture tags of the lists they read.
 */
export const demoSchemaModule: SchemaModule = {
  typeDefs: demoTypeDefs,
  resolvers: demoResolvers,
  context: createDemoContext,
  scope: viewerScope,
  listTags: demoListTags,
};
