// Builds `bidroom` from this checkout and runs `bidroom serve` on a free
// loopback port with a throwaway data directory.

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** freePort asks the kernel for an unused loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** build compiles ./cmd/bidroom into dir and returns the binary's path. */
export async function build(dir) {
  const bin = path.join(dir, 'bidroom');
  try {
    await promisify(execFile)('go', ['build', '-o', bin, './cmd/bidroom'], {
      cwd: repoRoot,
      timeout: 240_000,
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    throw new Error(`go build ./cmd/bidroom failed:\n${err.stderr || err.message}`);
  }
  return bin;
}

/**
 * start builds and starts the server. It resolves once /healthz answers, to
 * {base, bin (the built bidroom), dataDir, logs(), stop()}; stop() always kills the process and removes the
 * temporary directory, may be called more than once, and resolves to how the process ended
 * ({code, signal}). env adds BIDROOM_* settings (e.g. BIDROOM_TESTING_MOVABLE_CLOCK: 'true'); bin
 * runs an already built bidroom instead of building one; port listens there instead of on a free port.
 */
export async function start({ env: extra = {}, bin: built = '', port: fixedPort = 0 } = {}) {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bidroom-e2e-'));
  let child = null;
  let out = '';
  let exited = null;
  let stopped = false;

  const stop = async () => {
    if (stopped) return exited;
    stopped = true;
    if (child && exited === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
    await rm(tmp, { recursive: true, force: true });
    return exited;
  };
  // Last resort if the test process dies without running its hooks.
  const killOnExit = () => {
    if (child && exited === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  try {
    const bin = built || (await build(tmp));
    const port = fixedPort || (await freePort());
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BIDROOM_')));
    const dataDir = path.join(tmp, 'data');
    env.BIDROOM_DATA_DIR = dataDir;
    env.BIDROOM_SERVER_LISTEN = `127.0.0.1:${port}`;
    env.BIDROOM_MEDIA_UDP_LISTEN = env.BIDROOM_MEDIA_UDP_LISTEN || "127.0.0.1:0";
    Object.assign(env, extra);
    child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.once('exit', (code, signal) => (exited = { code, signal }));

    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (exited) throw new Error(`bidroom serve exited early (${JSON.stringify(exited)}):\n${out}`);
      try {
        const r = await fetch(`${base}/healthz`);
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`bidroom serve did not answer /healthz within 20 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { base, bin, dataDir, logs: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
