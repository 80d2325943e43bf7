/**
 * Locates files shipped with the package (the `sql/` folder) whether the code runs
 * from `src/` under ts-jest or from the compiled `dist/src/`.
 */
import fs from 'node:fs';
import path from 'node:path';

let root: string | undefined;

/** The folder holding pgcascade's package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`pgcascade: no package.json above ${__dirname}`);
    dir = parent;
  }
  root = dir;
  return dir;
}
