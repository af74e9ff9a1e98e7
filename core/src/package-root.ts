/**
 * The installed package's root: the directory above this module (in `src/` or in `dist/`) that
 * holds `package.json` and `protos/`. Files the package ships beside its code (protos, the wasm
 * filter build, docs and test vectors in a checkout) are found from here.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function find(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'protos'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package root (package.json and protos/) not found above ${start}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT: string = find(dirname(fileURLToPath(import.meta.url)));
