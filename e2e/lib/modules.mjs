// Loads the page's ES modules from web/static in Node, for tests of the pure
// ones (the state folds): web/static has no package.json saying its .js
// files are modules, so they are copied unchanged next to one that does.

import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { repoRoot } from './server.mjs';

/**
 * staticModules copies the named files of web/static (with the modules
 * they import) into a temporary directory and returns {load(name), done()}:
 * load imports one of them, done removes the directory.
 */
export async function staticModules(names) {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bidroom-modules-'));
  await writeFile(path.join(tmp, 'package.json'), '{"type": "module"}\n');
  for (const n of names) await copyFile(path.join(repoRoot, 'web', 'static', n), path.join(tmp, n));
  return {
    load: (name) => import(pathToFileURL(path.join(tmp, name)).href),
    done: () => rm(tmp, { recursive: true, force: true }),
  };
}
