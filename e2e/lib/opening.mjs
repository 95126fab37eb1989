// What the opening tests share: a server and a freshly built bidtool in a
// temporary directory, the admin REST calls, tokens, bidtool runs, the
// server's clock and `bidroom verify`.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { repoRoot, start } from './server.mjs';

export const run = promisify(execFile);

/** artifacts is where screenshots go (git-ignored). */
export const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

/**
 * openingHarness returns the shared fixture of a test file; call setUp in
 * before() and tearDown in after(). Its fields (server, tmp, adminKey) are
 * set by setUp. With { bidtool: false } no bidtool is built; env adds BIDROOM_* settings.
 */
export function openingHarness(name, { bidtool = true, env = {} } = {}) {
  const h = {
    server: null,
    tmp: '',
    bidtool: '',
    adminKey: '',

    async setUp() {
      await mkdir(artifacts, { recursive: true });
      h.tmp = await mkdtemp(path.join(os.tmpdir(), `bidroom-${name}-`));
      h.bidtool = path.join(h.tmp, 'bidtool');
      const built = !bidtool ? Promise.resolve() : run('go', ['build', '-o', h.bidtool, './cmd/bidtool'], { cwd: repoRoot, timeout: 240_000, maxBuffer: 16 << 20 })
        .catch((err) => {
          throw new Error(`go build ./cmd/bidtool failed:\n${err.stderr || err.message}`);
        });
      try {
        h.server = await start({ env });
      } finally {
        await built.catch(() => {}); // never leave the build running behind a failed start
      }
      await built;
      h.adminKey = (await readFile(path.join(h.server.dataDir, 'admin.key'), 'utf8')).trim();
    },

    async tearDown() {
      await h.server?.stop();
      if (h.tmp) await rm(h.tmp, { recursive: true, force: true });
    },

    /** api calls the REST API (as admin unless a token is given) and asserts it succeeded. */
    async api(method, route, body, tok = h.adminKey) {
      const r = await fetch(`${h.server.base}${route}`, {
        method,
        headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
        body: body && JSON.stringify(body),
      });
      const json = await r.json();
      assert.ok(r.ok, `${method} ${route}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    },

    /** token mints an access token for one person in one room. */
    async token(room, role, sub, name) {
      return (await h.api('POST', '/api/v1/tokens', { room, role, sub, name, ttl: '1h' })).token;
    },

    /** tool runs the built bidtool in the temporary directory. */
    tool(args, env = {}) {
      return run(h.bidtool, args, { cwd: h.tmp, env: { ...process.env, ...env }, timeout: 60_000 }).catch((err) => {
        throw new Error(`bidtool ${args[0]} failed:\n${err.stderr || err.message}`);
      });
    },

    /** deadlineIn returns the server's time now and a whole-second deadline ms after it. */
    async deadlineIn(ms) {
      const { server_time: now } = await (await fetch(`${h.server.base}/api/v1/time`)).json();
      const deadline = new Date(Date.parse(now) + ms);
      deadline.setMilliseconds(0);
      return { now, deadline };
    },

    /** verify runs `bidroom verify` against a session's record and log on the server. */
    verify(room, tok) {
      return run(h.server.bin, ['verify', '--server', h.server.base, '--session', room, '--token', tok], { timeout: 60_000 })
        .catch((err) => {
          throw new Error(`bidroom verify ${room} failed:\n${err.stdout}\n${err.stderr}`);
        });
    },

    /** advanceClock moves a movable server clock (BIDROOM_TESTING_MOVABLE_CLOCK) forward by a Go duration. */
    async advanceClock(d) {
      return h.api('POST', '/api/v1/testing/clock', { advance: d });
    },

    /** sm2 signs text with OpenSSL (SM3, the default user id) and returns the base64 DER signature. */
    async sm2(keyFile, text, pass) {
      h.signed = (h.signed || 0) + 1;
      const msg = path.join(h.tmp, `sm2-msg-${h.signed}.txt`);
      const sig = path.join(h.tmp, `sm2-sig-${h.signed}.der`);
      await writeFile(msg, text);
      const args = ['pkeyutl', '-sign', '-rawin', '-digest', 'sm3', '-pkeyopt', 'distid:1234567812345678', '-inkey', keyFile, '-in', msg, '-out', sig];
      if (pass) args.push('-passin', `pass:${pass}`);
      await run('openssl', args);
      return (await readFile(sig)).toString('base64');
    },

    /** record fetches a session's signed opening record, parsed. */
    async record(room, tok) {
      const env = await h.api('GET', `/api/v1/sessions/${room}/record`, undefined, tok);
      return typeof env.record === 'string' ? JSON.parse(env.record) : env.record;
    },
  };
  return h;
}
