// Issue 17 in a real Chromium: the 标底 (reserve price) and the budget reach
// a bidder only with the read-out. A session is created with both; bidder
// A's page is watched through check-in, the deadline, the decryption (A
// unlocks in the page) and its close, and in every phase neither value is
// in the page's text, its HTML, any websocket frame or any HTTP response it
// received, nor in what A's token gets from the REST API. Then the host
// reads out and A's page shows the reserve. A bidder token for a sub the
// session never registered is refused (403) on REST and on the websocket
// handshake, with nothing of the terms in the refusal.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { byId, DESKTOP, launch, newPage, waitLive } from './lib/browser.mjs';
import { openingHarness } from './lib/opening.mjs';

const ROOM = 'e2e-reserve';
const LEAD_MS = 9000; // deadline this far after creation: seal, submit and load the page first
const RESERVE = '98765432.10';
const BUDGET = '87654321.00';
const PCT = 13;
const NAMES = { a: '苏州金螳螂市政建设有限公司', b: '南通四建集团有限公司' };
const SHEET = { price: '76543210.00', duration: '365天', quality: '合格', project_manager: '张伟' };

// Every way a page may write the two amounts: as sent, without decimals,
// with thousands commas (fmtPrice), and in 万元 (the admin page's hint).
const FORMS = {
  reserve: ['98765432.10', '98765432.1', '98765432', '98,765,432.10', '98,765,432', '9876.54321', '9,876.54321'],
  budget: ['87654321.00', '87654321', '87,654,321.00', '87,654,321', '8765.4321', '8,765.4321'],
};
// The sealed terms' keys, looked for in JSON and frames (not in scripts, which name them).
const KEYS = ['"reserve_price"', '"reserve"', '"budget"', '"budget_deviation_pct"', '"deviation_pct"'];

/** leaks lists which forms of the terms occur in text (empty: none). */
function leaks(text) {
  const found = [];
  for (const [what, forms] of Object.entries(FORMS)) {
    for (const f of forms) if (text.includes(f)) found.push(`${what} as "${f}"`);
  }
  return found;
}

/** excerpt shows where a form occurs, for the failure message. */
function excerpt(text, forms = [...FORMS.reserve, ...FORMS.budget]) {
  for (const f of forms) {
    const i = text.indexOf(f);
    if (i >= 0) return text.slice(Math.max(0, i - 200), i + f.length + 200);
  }
  return '';
}

/** wsHandshake attempts a websocket upgrade to /ws and resolves to {status, body}. */
function wsHandshake(base, room, tok) {
  const url = new URL(`/ws?${new URLSearchParams({ room, access_token: tok })}`, base);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
      timeout: 5000,
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('websocket handshake timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('the reserve price and the budget stay sealed until the read-out', () => {
  const h = openingHarness('reserve');
  const { api, tool } = h;
  let browser;
  let deadline;
  let page;
  let hostTok;
  let aTok;
  const errors = [];
  const frames = []; // every websocket frame A's page received
  const bodies = []; // promises of {url, type, body} of every text response A's page received
  const direct = []; // {what, body} of what A's and the outsider's tokens got over REST
  const token = (role, sub, name) => h.token(ROOM, role, sub, name);
  const phase = (p, timeout) => byId(page, 'phase').and(page.locator(`[data-phase="${p}"]`)).waitFor({ timeout });

  const command = (type, data) => api('POST', `/api/v1/sessions/${ROOM}/commands`,
    { id: `e2e-${type}-${randomBytes(4).toString('hex')}`, type, data }, hostTok);

  /** fetchAs makes a REST call with A's token and keeps the body for the leak check. */
  async function fetchAs(tok, route, what) {
    const r = await fetch(`${h.server.base}${route}`, { headers: { Authorization: `Bearer ${tok}` } });
    const body = await r.text();
    direct.push({ what: `${what} (${r.status})`, body });
    return { status: r.status, body };
  }

  /** noLeak asserts that nothing A's page holds or received carries the terms. */
  async function noLeak(when) {
    const text = await page.evaluate(() => document.body.innerText);
    const html = await page.content();
    assert.deepEqual(leaks(text), [], `${when}: the page's text shows the terms:\n${excerpt(text)}`);
    assert.deepEqual(leaks(html), [], `${when}: the page's HTML holds the terms:\n${excerpt(html)}`);

    assert.ok(frames.length > 0, `${when}: no websocket frame was recorded`);
    for (const f of frames) {
      assert.deepEqual(leaks(f), [], `${when}: a websocket frame carries the terms:\n${excerpt(f)}`);
      const keys = KEYS.filter((k) => f.includes(k));
      assert.deepEqual(keys, [], `${when}: a websocket frame names the sealed terms:\n${excerpt(f, keys)}`);
    }

    const got = await Promise.all(bodies);
    assert.ok(got.some((b) => b.url.endsWith('/room.html')), `${when}: the page's own HTML response was not recorded`);
    for (const b of got) {
      assert.deepEqual(leaks(b.body), [], `${when}: the response to ${b.url} carries the terms:\n${excerpt(b.body)}`);
      if (/json/.test(b.type)) {
        const keys = KEYS.filter((k) => b.body.includes(k));
        assert.deepEqual(keys, [], `${when}: the response to ${b.url} names the sealed terms:\n${excerpt(b.body, keys)}`);
      }
    }

    await fetchAs(aTok, `/api/v1/sessions/${ROOM}`, `${when}: GET the session as A`);
    await fetchAs(aTok, `/api/v1/sessions/${ROOM}/log`, `${when}: GET the log as A`);
    for (const d of direct) {
      assert.deepEqual(leaks(d.body), [], `${d.what} carries the terms:\n${excerpt(d.body)}`);
      const keys = KEYS.filter((k) => d.body.includes(k));
      assert.deepEqual(keys, [], `${d.what} names the sealed terms:\n${excerpt(d.body, keys)}`);
    }
  }

  /** outsiderRefused: a bidder token for an unregistered sub gets 403 on REST and on the handshake. */
  async function outsiderRefused(when) {
    const tok = await token('bidder', 'zz', '未登记的投标人');
    const rest = await fetchAs(tok, `/api/v1/sessions/${ROOM}`, `${when}: GET the session as an unregistered bidder`);
    assert.equal(rest.status, 403, `${when}: GET /api/v1/sessions/${ROOM} as an unregistered bidder: ${rest.status} ${rest.body}`);
    const ws = await wsHandshake(h.server.base, ROOM, tok);
    assert.equal(ws.status, 403, `${when}: the websocket handshake as an unregistered bidder: ${ws.status} ${ws.body}`);
    for (const body of [rest.body, ws.body]) {
      assert.deepEqual(leaks(body), [], `${when}: a refusal carries the terms:\n${body}`);
      assert.ok(!body.includes(NAMES.a) && !body.includes(NAMES.b), `${when}: a refusal names a registered bidder:\n${body}`);
    }
  }

  before(async () => {
    await h.setUp();
    await tool(['keygen', '--out', path.join(h.tmp, 'a')]);
    await writeFile(path.join(h.tmp, 'bid.txt'), '投标文件正文：城东水厂扩建工程施工\n'.repeat(100));
    await writeFile(path.join(h.tmp, 'sheet.json'), JSON.stringify(SHEET));
    browser = await launch();
  }, { timeout: 300_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await h.tearDown();
  });

  it('a session with a reserve price and a budget, and a sealed bid from A', async () => {
    let now;
    ({ now, deadline } = await h.deadlineIn(LEAD_MS));
    await api('POST', '/api/v1/sessions', {
      id: ROOM,
      title: '城东水厂扩建工程施工',
      section: 'SG-2026-117',
      category: 'construction',
      deadline: deadline.toISOString(),
      check_in_at: now,
      control_price: '99900000.00',
      reserve_price: RESERVE,
      budget: BUDGET,
      budget_deviation_pct: PCT,
      proceed_below_min: true, // a re-tender: one bid is enough (R7)
      bidders: [
        { id: 'a', name: NAMES.a, public_key: await readFile(path.join(h.tmp, 'a.pub.pem'), 'utf8') },
        { id: 'b', name: NAMES.b },
      ],
    });
    hostTok = await token('host', 'h1', '主持人 赵敏');
    aTok = await token('bidder', 'a', NAMES.a);
    // The terms are in the server (staff see them): the checks below are not vacuous.
    const staff = JSON.stringify(await api('GET', `/api/v1/sessions/${ROOM}`, undefined, hostTok));
    assert.ok(staff.includes(RESERVE) && staff.includes(BUDGET), `the host does not see the terms: ${staff}`);

    await tool(['seal', '--in', 'bid.txt', '--sheet', 'sheet.json', '--key', path.join(h.tmp, 'a.key.pem'),
      '--session', ROOM, '--bidder', 'a', '--out', 'bid.sealed']);
    await tool(['submit', '--server', h.server.base, '--session', ROOM, '--in', 'bid.sealed', '--quiet'], { BIDROOM_TOKEN: aTok });
  });

  it('check-in: nothing of the terms on A\'s page, in its frames or responses; an outsider is refused', async () => {
    ({ page } = await newPage(browser, DESKTOP, errors));
    page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
    page.on('response', (r) => {
      const type = r.headers()['content-type'] || '';
      if (!/^text\/|json|javascript|ndjson/.test(type)) return;
      bodies.push(r.text().then((body) => ({ url: r.url(), type, body }), () => ({ url: r.url(), type, body: '' })));
    });
    await page.goto(`${h.server.base}/room.html#${new URLSearchParams({ room: ROOM, token: aTok })}`);
    await waitLive(page);
    await phase('check_in');
    await byId(page, 'my-bid').waitFor();
    assert.ok(Date.now() < deadline.getTime(), 'the deadline passed before the page was checked: raise LEAD_MS');
    await noLeak('check_in');
    await outsiderRefused('check_in');
  });

  it('the deadline, the decryption and A\'s unlock, its close: still nothing', async () => {
    await phase('opened', deadline.getTime() - Date.now() + 10_000);
    await noLeak('opened');

    await command('start_decryption');
    await phase('decrypting');
    await byId(page, 'unlock-form').waitFor();
    await noLeak('decrypting');

    await byId(page, 'unlock-key').setInputFiles(path.join(h.tmp, 'a.key.pem'));
    await byId(page, 'unlock-button').click();
    await byId(page, 'sheet-box').waitFor({ timeout: 30_000 });
    assert.equal(await byId(page, 'sheet-price').textContent(), '76543210.00 元');
    await noLeak('decrypting, A unlocked');

    await command('close_decryption');
    await phase('decryption_closed');
    await noLeak('decryption_closed');
    // A fresh snapshot in the last phase before the read-out.
    await page.reload();
    await waitLive(page);
    await phase('decryption_closed');
    await noLeak('decryption_closed, after a reload');
    await outsiderRefused('decryption_closed');
  });

  it('the host reads out: A\'s page shows the reserve price and the budget', async () => {
    await command('start_read_out');
    await phase('reading_out');
    await byId(page, 'read-out').waitFor();
    const reserve = byId(page, 'read-out-reserve');
    await reserve.waitFor();
    assert.ok(await reserve.isVisible());
    assert.equal(await reserve.textContent(), '98,765,432.10 元');
    assert.match(await byId(page, 'read-out-budget').textContent(), /87,654,321\.00 元/);
    // The recorder saw the read-out frame: it would have seen the terms earlier too.
    assert.ok(frames.some((f) => f.includes(RESERVE)), 'the read-out frame with the reserve was not recorded');
    await outsiderRefused('reading_out');
  });

  it('no script errors', () => {
    assert.deepEqual(errors.map(String), []);
  });
});
