// The deadline in a real Chromium: a session created over the admin API
// with its deadline seconds away, so the countdown runs out, the room opens
// by itself and the bidders' names are published (R6) — including to a
// bidder whose network was away at that moment and who catches up by resume.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { byId, DESKTOP, dropConnection, launch, newPage, roomState, waitLive } from './lib/browser.mjs';
import { artifacts, openingHarness } from './lib/opening.mjs';

const ROOM = 'e2e-opening';
const BIDDERS = [
  { id: 'b1', name: '常州市政工程有限公司' },
  { id: 'b2', name: '无锡中兴建筑安装有限公司' },
  { id: 'b3', name: '扬州润扬园林绿化工程有限公司' },
];
const LEAD_MS = 9000; // deadline this far after creation: enough to load the pages first

describe('the deadline opens the room', () => {
  const h = openingHarness('opening', { bidtool: false });
  const { api } = h;
  let browser;
  let deadline;
  const errors = [];
  const pages = {};
  const token = (role, sub, name) => h.token(ROOM, role, sub, name);

  async function open(key, role, sub, name) {
    const { ctx, page } = await newPage(browser, DESKTOP, errors);
    const tok = await token(role, sub, name);
    await page.goto(`${h.server.base}/room.html#${new URLSearchParams({ room: ROOM, token: tok })}`);
    await waitLive(page);
    pages[key] = { ctx, page };
    return page;
  }

  before(async () => {
    await h.setUp();
    browser = await launch();
  }, { timeout: 240_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await h.tearDown();
  });

  it('creates a session whose deadline is seconds away', async () => {
    let now;
    ({ now, deadline } = await h.deadlineIn(LEAD_MS));
    await api('POST', '/api/v1/sessions', {
      id: ROOM,
      title: '演示采购：区人民医院医用耗材集中采购',
      section: 'ZC-2026-017',
      category: 'procurement',
      deadline: deadline.toISOString(),
      check_in_at: now,
      control_price: '3560000.5',
      proceed_below_min: true, // a re-tender: this test opens with no bids (R7)
      bidders: BIDDERS,
    });
  });

  it('before the deadline each bidder sees only itself', async () => {
    const host = await open('host', 'host', 'h1', '主持人 赵敏');
    const b1 = await open('b1', 'bidder', 'b1', BIDDERS[0].name);
    const b2 = await open('b2', 'bidder', 'b2', BIDDERS[1].name);
    await byId(host, 'phase').and(host.locator('[data-phase="check_in"]')).waitFor();
    assert.equal(await byId(host, 'bidder-row').count(), 3);
    assert.equal(await byId(b1, 'control-price').textContent(), '3,560,000.5 元');
    assert.equal(await byId(b1, 'session-category').textContent(), '政府采购');
    for (const [page, me] of [[b1, 0], [b2, 1]]) {
      assert.equal(await byId(page, 'bidder-row').count(), 1);
      const text = await page.locator('body').innerText();
      for (const [i, b] of BIDDERS.entries()) assert.equal(text.includes(b.name), i === me, b.name);
    }
    await byId(b1, 'sign-in').click();
    await byId(b1, 'you-status').and(b1.locator('[data-signed-in="true"]')).waitFor();
  });

  it('the countdown runs out and everyone sees the names', async () => {
    const { host, b1, b2 } = Object.fromEntries(Object.entries(pages).map(([k, v]) => [k, v.page]));
    // b2's network goes away before the deadline and comes back after it.
    const restore = await dropConnection(pages.b2.ctx, b2);

    const wait = deadline.getTime() - Date.now() + 10_000;
    await byId(host, 'phase').and(host.locator('[data-phase="opened"]')).waitFor({ timeout: wait });
    await byId(b1, 'phase').and(b1.locator('[data-phase="opened"]')).waitFor({ timeout: 5000 });
    assert.equal(await byId(b1, 'phase').textContent(), '已开标');
    assert.equal(await byId(b1, 'countdown').getAttribute('data-state'), 'opened');
    assert.equal(await byId(b1, 'bidder-row').count(), 3);
    assert.equal(await byId(b1, 'registered-count').getAttribute('data-registered'), '3');
    assert.equal(await byId(b1, 'bidders-secret').isVisible(), false);
    const text = await b1.locator('body').innerText();
    for (const b of BIDDERS) assert.ok(text.includes(b.name), `b1 should now see ${b.name}`);
    // Other bidders' sign-in status stays private; only b1's own row has one.
    assert.deepEqual(
      await byId(b1, 'bidder-row').evaluateAll((rows) => rows.map((r) => r.dataset.signedIn ?? null)),
      ['true', null, null],
    );
    await b1.screenshot({ path: path.join(artifacts, 'bidder-opened-1366x768.png') });
    await host.screenshot({ path: path.join(artifacts, 'host-opened-1366x768.png') });

    await restore();
    await byId(b2, 'conn-status').and(b2.locator('[data-state="live"][data-sync="resumed"]')).waitFor({ timeout: 12_000 });
    await byId(b2, 'phase').and(b2.locator('[data-phase="opened"]')).waitFor();
    assert.equal(await byId(b2, 'bidder-row').count(), 3);
    const folded = await roomState(b2);
    await b2.reload();
    await waitLive(b2);
    assert.deepEqual(await roomState(b2), folded, 'state folded through the resume differs from a fresh snapshot');
  });

  it('no script errors', () => {
    assert.deepEqual(errors.map(String), []);
  });
});
