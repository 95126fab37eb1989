// The in-browser unlock in a real Chromium: a bidder seals and submits a
// bid with bidtool before a deadline seconds away; after the opening the
// host starts the decryption (confirming in the page's own dialog), the
// bidder picks their private key file, the page unwraps the data key in
// WebAssembly and the opening sheet appears for the bidder and the host.
// A key that does not match the bid is refused first, in plain words.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { byId, DESKTOP, launch, newPage, waitLive } from './lib/browser.mjs';
import { artifacts, openingHarness } from './lib/opening.mjs';

const ROOM = 'e2e-unlock';
const LEAD_MS = 10_000; // deadline this far after creation: time to build, seal, submit and load the pages
const SHEET = { price: '11880000.00', duration: '365天', quality: '合格', project_manager: '张伟' };
const NAMES = { a: '苏州金螳螂市政建设有限公司', b: '南通四建集团有限公司' };

describe('a bidder unlocks their bid in the browser', () => {
  const h = openingHarness('unlock');
  const { api, tool } = h;
  let browser;
  let deadline;
  const errors = [];
  const pages = {};
  const sent = []; // every request body and websocket frame the pages sent
  const token = (role, sub, name) => h.token(ROOM, role, sub, name);

  async function open(key, role, sub, name) {
    const { ctx, page } = await newPage(browser, DESKTOP, errors);
    // A short client timeout, so a server that never answers is met within the test.
    await page.addInitScript(() => { globalThis.bidroomUnlockTimeoutMs = 4000; });
    page.on('request', (r) => sent.push(r.url() + ' ' + (r.postData() || '')));
    page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
    const tok = await token(role, sub, name);
    await page.goto(`${h.server.base}/room.html#${new URLSearchParams({ room: ROOM, token: tok })}`);
    await waitLive(page);
    pages[key] = page;
    return page;
  }

  before(async () => {
    await h.setUp();
    await tool(['keygen', '--out', path.join(h.tmp, 'a')]);
    await tool(['keygen', '--out', path.join(h.tmp, 'other')]); // a key that does not match a's bid
    await writeFile(path.join(h.tmp, 'bid.txt'), '投标文件正文：区人民医院综合楼改造工程施工\n'.repeat(200));
    await writeFile(path.join(h.tmp, 'sheet.json'), JSON.stringify(SHEET));
    browser = await launch();
  }, { timeout: 300_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await h.tearDown();
  });

  it('a session, a sealed bid submitted with bidtool', async () => {
    let now;
    ({ now, deadline } = await h.deadlineIn(LEAD_MS));
    const pub = await readFile(path.join(h.tmp, 'a.pub.pem'), 'utf8');
    await api('POST', '/api/v1/sessions', {
      id: ROOM,
      title: '区人民医院综合楼改造工程施工',
      section: 'SG-2026-031',
      category: 'construction',
      deadline: deadline.toISOString(),
      check_in_at: now,
      control_price: '12800000.00',
      proceed_below_min: true, // a re-tender: two bids are enough (R7)
      bidders: [
        { id: 'a', name: NAMES.a, public_key: pub },
        { id: 'b', name: NAMES.b },
      ],
    });
    await tool(['seal', '--in', 'bid.txt', '--sheet', 'sheet.json', '--key', path.join(h.tmp, 'a.key.pem'),
      '--session', ROOM, '--bidder', 'a', '--out', 'bid.sealed']);
    const tok = await token('bidder', 'a', NAMES.a);
    const { stdout } = await tool(['submit', '--server', h.server.base, '--session', ROOM, '--in', 'bid.sealed', '--quiet'],
      { BIDROOM_TOKEN: tok });
    assert.match(stdout, /"signature"/);
  });

  it('before the deadline the bidder sees the bid held', async () => {
    const host = await open('host', 'host', 'h1', '主持人 赵敏');
    const a = await open('a', 'bidder', 'a', NAMES.a);
    await byId(a, 'my-bid').waitFor();
    assert.match(await byId(a, 'my-bid-status').textContent(), /已递交投标文件（第 1 版）/);
    assert.match(await byId(a, 'my-bid-digest').textContent(), /^摘要 [0-9a-f]{8}…[0-9a-f]{8}$/);
    assert.equal(await byId(a, 'unlock-form').isVisible(), false);
    assert.equal(await byId(host, 'my-bid').isVisible(), false);
    assert.equal(await byId(host, 'start-decryption').isVisible(), false);
  });

  it('after the opening the host starts the decryption through a confirmation', async () => {
    const { host, a } = pages;
    const wait = deadline.getTime() - Date.now() + 10_000;
    await byId(host, 'phase').and(host.locator('[data-phase="opened"]')).waitFor({ timeout: wait });
    assert.equal(await byId(host, 'phase').textContent(), '已开标');
    await byId(a, 'phase').and(a.locator('[data-phase="opened"]')).waitFor();
    assert.match(await byId(a, 'my-bid-status').textContent(), /等待主持人开始解密/);

    // Cancelling changes nothing.
    await byId(host, 'start-decryption').click();
    await byId(host, 'confirm-dialog').waitFor();
    assert.match(await byId(host, 'confirm-text').textContent(), /不可撤销/);
    await byId(host, 'confirm-cancel').click();
    await byId(host, 'confirm-dialog').waitFor({ state: 'hidden' });
    assert.equal(await byId(host, 'phase').getAttribute('data-phase'), 'opened');

    await byId(host, 'start-decryption').click();
    await byId(host, 'confirm-ok').click();
    await byId(host, 'phase').and(host.locator('[data-phase="decrypting"]')).waitFor();
    assert.equal(await byId(host, 'start-decryption').isVisible(), false);
    assert.equal(await byId(host, 'countdown-label').textContent(), '距解密结束');
    assert.match(await byId(host, 'countdown-value').textContent(), /^00:(29|30):\d\d$/);
    const rowA = byId(host, 'bidder-row').and(host.locator('[data-sub="a"]'));
    assert.equal(await rowA.locator('[data-testid="decrypt-tag"]').getAttribute('data-decrypt'), 'pending');
    assert.equal(await rowA.locator('[data-testid="decrypt-tag"]').textContent(), '未解密');

    await byId(a, 'phase').and(a.locator('[data-phase="decrypting"]')).waitFor();
    assert.equal(await byId(a, 'phase').textContent(), '解密中');
    await byId(a, 'unlock-form').waitFor();
  });

  it('a key that does not match is refused, then the right key opens the bid', async () => {
    const { host, a } = pages;
    // Nothing chosen yet.
    await byId(a, 'unlock-button').click();
    await byId(a, 'unlock-msg').filter({ hasText: '请先选择私钥文件' }).waitFor();

    await byId(a, 'unlock-key').setInputFiles(path.join(h.tmp, 'other.key.pem'));
    assert.equal(await byId(a, 'unlock-key-name').textContent(), 'other.key.pem');
    await byId(a, 'unlock-button').click();
    await byId(a, 'unlock-msg').filter({ hasText: '私钥与投标文件不匹配' }).waitFor({ timeout: 30_000 });
    assert.equal(await byId(a, 'unlock-msg').getAttribute('data-kind'), 'error');
    assert.equal(await byId(a, 'sheet-box').isVisible(), false);
    await a.screenshot({ path: path.join(artifacts, 'bidder-unlock-wrong-key-1366x768.png') });

    // The server never answers the unlock: the page gives up, says so, and the timeout is on record.
    let held;
    await a.route('**/bids/mine/unlock', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      held = new Promise((r) => setTimeout(r, 6000));
      await held;
      await route.abort().catch(() => {}); // the page stopped waiting long ago
    });
    await byId(a, 'unlock-key').setInputFiles(path.join(h.tmp, 'a.key.pem'));
    await byId(a, 'unlock-button').click();
    await byId(a, 'unlock-msg').filter({ hasText: '服务器长时间未应答' }).waitFor({ timeout: 30_000 });
    assert.equal(await byId(a, 'unlock-button').isDisabled(), false, 'the bidder can retry');
    const hostTok = await token('host', 'h1', '主持人 赵敏');
    const timedOut = async () => (await (await fetch(`${h.server.base}/api/v1/sessions/${ROOM}/log`, { headers: { Authorization: `Bearer ${hostTok}` } })).text())
      .split('\n').filter(Boolean).map((l) => JSON.parse(l))
      .filter((e) => e.type === 'unlock_failed' && e.data?.code === 'timeout' && e.data?.reported);
    for (let i = 0; i < 50 && (await timedOut()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await timedOut()).length, 1, 'the timeout is recorded as an attempt');
    await held;
    await a.unroute('**/bids/mine/unlock');

    await byId(a, 'unlock-key').setInputFiles(path.join(h.tmp, 'a.key.pem'));
    await byId(a, 'unlock-button').click();
    await byId(a, 'sheet-box').waitFor({ timeout: 30_000 });
    assert.equal(await byId(a, 'sheet-price').textContent(), '11880000.00 元');
    assert.equal(await byId(a, 'sheet-duration').textContent(), '365天');
    assert.equal(await byId(a, 'sheet-quality').textContent(), '合格');
    assert.equal(await byId(a, 'sheet-project_manager').textContent(), '张伟');
    assert.equal(await byId(a, 'unlock-form').isVisible(), false);
    assert.match(await byId(a, 'my-bid-status').textContent(), /投标文件已解密/);
    await a.screenshot({ path: path.join(artifacts, 'bidder-unlock-1366x768.png') });
    await byId(a, 'lang-en').click();
    assert.equal(await byId(a, 'phase').textContent(), 'Decrypting');
    assert.equal(await a.locator('[data-field="price"] dt').textContent(), 'Price');
    assert.equal(await byId(a, 'my-bid-status').textContent(), 'Your bid is decrypted');
    await byId(a, 'lang-zh').click();

    const tagA = byId(host, 'bidder-row').and(host.locator('[data-sub="a"]')).locator('[data-testid="decrypt-tag"]');
    await tagA.and(host.locator('[data-decrypt="opened"]')).waitFor();
    assert.equal(await tagA.textContent(), '已解密 · 11880000.00 元');
    const tagB = byId(host, 'bidder-row').and(host.locator('[data-sub="b"]')).locator('[data-testid="decrypt-tag"]');
    // b submitted nothing: the host learns that at the deadline (bidders_revealed).
    assert.equal(await tagB.textContent(), '未递交投标文件');
    await host.screenshot({ path: path.join(artifacts, 'host-decrypting-1366x768.png') });
  });

  it('the private key is never sent; a reload shows the sheet from the server', async () => {
    const { a } = pages;
    const key = await readFile(path.join(h.tmp, 'a.key.pem'), 'utf8');
    const lines = key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    assert.ok(lines.length > 0);
    assert.ok(sent.some((s) => s.includes('encrypted_key')), 'the unlock POST was not seen');
    for (const l of lines) assert.ok(!sent.some((s) => s.includes(l)), 'the private key was sent');

    await a.reload();
    await waitLive(a);
    await byId(a, 'sheet-box').waitFor();
    assert.equal(await byId(a, 'sheet-price').textContent(), '11880000.00 元');
    for (const l of lines) assert.ok(!h.server.logs().includes(l), 'the private key reached the server logs');
  });

  it('no script errors', () => {
    assert.deepEqual(errors.map(String), []);
  });
});
