// Several instances behind one address, for the tests of a cluster: a
// Redis they share and a small load balancer in front of them.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { freePort } from './server.mjs';

/** freeUDPPort asks the kernel for an unused loopback UDP port (an instance's media port). */
export function freeUDPPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * startRedis resolves to {url, prefix, stop()}: BIDROOM_TEST_REDIS_URL when set (the suite's
 * shared Redis; the random prefix keeps this test's keys apart), else a redis-server of its own
 * on a free loopback port, without persistence, that stop() ends.
 */
export async function startRedis() {
  const prefix = `e2e-${randomBytes(4).toString('hex')}`;
  if (process.env.BIDROOM_TEST_REDIS_URL) return { url: process.env.BIDROOM_TEST_REDIS_URL, prefix, stop: async () => {} };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bidroom-e2e-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = null;
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  child.once('exit', (code, signal) => (exited = { code, signal }));
  child.once('error', (err) => (exited = { err }));
  const killOnExit = () => exited === null && child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const stop = async () => {
    if (exited === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
    process.off('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
  };
  for (const deadline = Date.now() + 10_000; ;) {
    if (exited) {
      await stop();
      throw new Error(`redis-server did not start (${JSON.stringify(exited)}); install redis-server:\n${out}`);
    }
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.end('PING\r\n'));
      c.on('data', (b) => resolve(b.toString().startsWith('+PONG')));
      c.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not answer within 10 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}/0`, prefix, stop };
}

/**
 * balancer is a load balancer on a free loopback port, as a hall would put in front of its
 * instances: each new request, and each websocket upgrade, goes to the first of backends (base
 * URLs, in order of preference) whose GET /readyz answered 200 at the last check (every
 * checkMs). Resolves to {base, routed (the backend of every request and upgrade, in order),
 * checks (each backend's readiness statuses as seen, 0 = no answer), close()}.
 */
export async function balancer(backends, { checkMs = 200 } = {}) {
  const ready = new Map(backends.map((b) => [b, false]));
  const checks = new Map(backends.map((b) => [b, []]));
  const routed = [];
  const agent = new http.Agent({ keepAlive: true });
  const check = async () => {
    await Promise.all(backends.map(async (b) => {
      let status = 0;
      try {
        const r = await fetch(`${b}/readyz`, { signal: AbortSignal.timeout(checkMs * 2) });
        status = r.status;
        await r.arrayBuffer();
      } catch {
        // down
      }
      ready.set(b, status === 200);
      const seen = checks.get(b);
      if (seen.at(-1) !== status) seen.push(status);
    }));
  };
  await check();
  let closed = false;
  const checking = (async () => {
    while (!closed) {
      await new Promise((r) => setTimeout(r, checkMs));
      if (!closed) await check();
    }
  })();
  const pick = () => backends.find((b) => ready.get(b));

  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const b = pick();
    routed.push({ backend: b || '', method: req.method, url: req.url });
    if (!b) {
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('no instance is ready');
      return;
    }
    const u = new URL(b);
    const up = http.request({ host: u.hostname, port: u.port, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode, ur.rawHeaders);
      ur.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' }).end('the instance did not answer');
      else res.destroy();
    });
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket, head) => {
    const b = pick();
    routed.push({ backend: b || '', method: 'UPGRADE', url: req.url });
    if (!b) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const u = new URL(b);
    const up = net.connect(Number(u.port), u.hostname, () => {
      let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) head0 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(`${head0}\r\n`);
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    sockets.add(up);
    up.on('close', () => {
      sockets.delete(up);
      socket.destroy();
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
    socket.on('close', () => up.destroy());
  });
  const port = await freePort();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    base: `http://127.0.0.1:${port}`,
    routed,
    checks,
    async close() {
      closed = true;
      await checking;
      server.close();
      for (const s of sockets) s.destroy();
      agent.destroy();
    },
  };
}
