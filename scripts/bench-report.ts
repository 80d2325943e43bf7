/**
 * Small helpers shared by the benchmark and load scripts: one clock, percentiles over raw
 * samples and writing results as JSON. Nothing here measures; it only summarises.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across processes:
 * the load generator and the server it starts compare times with it (Date.now() is whole
 * milliseconds).
 */
export const wall = () => performance.timeOrigin + performance.now();

/** The p-th percentile (0..100) of `values` by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Writes `data` as pretty JSON to `file`, creating its folder. */
export function writeJson(file: string, data: unknown): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

/** `admin` (a connection string) with its database replaced by `database`. */
export function urlFor(admin: string, database: string): string {
  const url = new URL(admin);
  url.pathname = `/${database}`;
  return url.toString();
}
