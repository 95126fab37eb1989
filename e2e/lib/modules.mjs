// Loads the page's ES modules from web/static in Node, for tests of the pure
// ones (the state folds): web/static has no package.json saying its .js
// files are modules, so they are copied unchanged next to one that does.

import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
  // Each file's relative imports follow it (state.js brings every kind's fold).
  const todo = [...names];
  const copied = new Set();
  while (todo.length) {
    const n = todo.pop();
    if (copied.has(n)) continue;
    copied.add(n);
    const src = path.join(repoRoot, 'web', 'static', n);
    await copyFile(src, path.join(tmp, n));
    const text = await readFile(src, 'utf8');
    for (const m of text.matchAll(/^import\s[^'"]*['"]\.\/([\w.-]+\.js)['"]/gm)) todo.push(m[1]);
  }
  return {
    load: (name) => import(pathToFileURL(path.join(tmp, name)).href),
    done: () => rm(tmp, { recursive: true, force: true }),
  };
}
