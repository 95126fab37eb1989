// The auction console (web/static/admin-auction.html) in a real Chromium
// against a real `bidroom serve` (its demo on, with the demo auction):
// reached from admin.html with the admin key; an auction created through
// the form — a listing of fewer than 10 working days hinted at in the
// page, sent, refused by the server in words at its field, then fixed —
// with staged increments, details and a sealed reserve; two bidders
// registered (their 竞买号 drawn by the server: 4–8 digits, distinct),
// their deposits entered by hand, one qualified and one refused with a
// reason (refused in the page first without one); a bidder's and a
// supervisor's links; what the server holds over REST matches. The
// start page's demo auction card links the bidding page, the ticker and
// this console. Screenshots go to e2e/artifacts/admin-auction-*.png.

import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { byId, DESKTOP, launch, newPage as openPage, PHONE } from './lib/browser.mjs';
import { start } from './lib/server.mjs';

const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');

const AUCTION_ID = 'E2E-AUCTION-001';
const TITLE = '城北片区 2026-G-31 号地块国有建设用地使用权网上挂牌出让（E2E）';
const BIDDERS = [
  { id: '91320100MA1AUC0001', name: '南京城北置业有限公司' },
  { id: '91320100MA1AUC0002', name: '江苏宁华房地产开发有限公司' },
];

/** beijingInput is the datetime-local value of d in Beijing time. */
const beijingInput = (d) => new Date(d.getTime() + 8 * 3600e3).toISOString().slice(0, 16);

describe('auction console in Chromium', () => {
  let server;
  let browser;
  let adminKey;
  const pageErrors = [];
  let ctx, page;
  const auctionPosts = []; // every POST /api/v1/auctions the page sent
  const listingStart = new Date(Date.now() + 86400e3);
  listingStart.setUTCMinutes(0, 0, 0);

  before(async () => {
    await mkdir(artifacts, { recursive: true });
    [server, browser] = await Promise.all([start(), launch()]);
    adminKey = (await readFile(path.join(server.dataDir, 'admin.key'), 'utf8')).trim();
    ({ ctx, page } = await openPage(browser, DESKTOP, pageErrors));
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/auctions') auctionPosts.push(JSON.parse(r.postData()));
    });
  }, { timeout: 240_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
  });

  const shot = (p, name) => p.screenshot({ path: path.join(artifacts, `admin-auction-${name}.png`), fullPage: true });
  const rest = async (p) => {
    const r = await fetch(`${server.base}${p}`, { headers: { Authorization: `Bearer ${adminKey}` } });
    assert.equal(r.status, 200, `GET ${p}`);
    return r.json();
  };
  const row = (id) => page.locator(`[data-testid="bidder-row"][data-bidder="${id}"]`);

  it('is linked from the session console; signs in with the admin key and lists the demo auction', async () => {
    await page.goto(`${server.base}/admin.html`);
    await byId(page, 'admin-key').fill(adminKey);
    await byId(page, 'admin-signin-submit').click();
    await byId(page, 'admin-list').waitFor();
    assert.equal(await byId(page, 'admin-auction-link').textContent(), '网上挂牌竞价');
    await byId(page, 'admin-auction-link').click();
    await page.waitForURL(/\/admin-auction\.html$/);
    // The same key, kept in this tab's sessionStorage: no second sign-in.
    await byId(page, 'list-view').waitFor();
    const rows = byId(page, 'auction-row');
    await rows.first().waitFor();
    const ids = await rows.evaluateAll((rs) => rs.map((r) => r.dataset.id));
    assert.ok(ids.some((id) => id.startsWith('demo-auction-')), `auctions listed: ${ids}`);
    const demoRow = page.locator('[data-testid="auction-row"][data-id^="demo-auction-"]');
    assert.equal(await demoRow.locator('[data-testid="auction-phase"]').textContent(), '挂牌中');
    await shot(page, 'list-1366x768');
  });

  it('hints at a short listing, shows the server’s refusal in words at the field, then creates the auction once fixed', async () => {
    await byId(page, 'aa-new').click();
    await byId(page, 'create-form').waitFor();
    await byId(page, 'f-id').fill(AUCTION_ID);
    await byId(page, 'f-lot').fill('2026-G-31');
    await byId(page, 'f-title').fill(TITLE);
    await byId(page, 'f-seller').fill('市自然资源和规划局');
    const details = byId(page, 'detail-row');
    assert.equal(await byId(details.nth(0), 'detail-label').inputValue(), '宗地位置', 'the land lines are offered');
    await byId(details.nth(0), 'detail-value').fill('城北片区 燕山路以西、幕府大道以南');
    await byId(details.nth(1), 'detail-value').fill('38,600.0 平方米');
    await byId(details.nth(2), 'detail-value').fill('住宅用地');
    await byId(details.nth(3), 'detail-value').fill('70 年');
    await byId(details.nth(4), 'detail-value').fill('1.0 < 容积率 ≤ 2.5');
    for (let i = (await details.count()) - 1; i >= 5; i--) await byId(details.nth(i), 'detail-remove').click();
    await byId(page, 'f-start').fill('50,000,000');
    await byId(page, 'f-deposit').fill('10000000');
    await byId(page, 'f-reserve').fill('52000000');
    await byId(page, 'f-inc-stages-mode').check();
    const stages = byId(page, 'stage-row');
    await byId(stages.nth(0), 'stage-from').fill('0');
    await byId(stages.nth(0), 'stage-step').fill('500000');
    await byId(stages.nth(1), 'stage-from').fill('60000000');
    await byId(stages.nth(1), 'stage-step').fill('1000000');
    await byId(page, 'f-listing-start').fill(beijingInput(listingStart));
    await byId(page, 'f-listing-end').fill(beijingInput(new Date(listingStart.getTime() + 3 * 86400e3)));
    assert.equal(await byId(page, 'f-working-days').getAttribute('data-ok'), 'false');
    assert.match(await byId(page, 'f-working-days').textContent(), /少于 10 个：服务器会拒绝/);

    // The hint does not stop the admin; the server does, in words, at the field.
    await byId(page, 'create-submit').click();
    await byId(page, 'create-error').waitFor();
    const refusal = await byId(page, 'create-error').textContent();
    assert.match(refusal, /挂牌期须不少于 10 个工作日/, refusal);
    assert.equal(await byId(page, 'f-listing-end').getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('[data-field="listing_end"]').locator('xpath=..').textContent(), /请把挂牌截止延后/);
    assert.equal(auctionPosts.length, 1);
    await shot(page, 'refused-1366x768');

    await byId(page, 'f-listing-end').fill(beijingInput(new Date(listingStart.getTime() + 20 * 86400e3)));
    assert.equal(await byId(page, 'f-working-days').getAttribute('data-ok'), 'true');
    await byId(page, 'create-submit').click();
    await byId(page, 'auction-view').waitFor();
    await page.waitForURL(new RegExp(`#auction=${AUCTION_ID}$`));
    assert.equal(auctionPosts.length, 2);
    assert.equal(await byId(page, 'au-title').textContent(), TITLE);
    assert.equal(await byId(page, 'au-reserve-sealed').textContent(), '保密');
    await byId(page, 'live-phase').getByText('已公告，未开始挂牌').waitFor();

    const { state } = await rest(`/api/v1/sessions/${AUCTION_ID}`);
    const sp = state.spec;
    assert.equal(state.phase, 'announced');
    assert.deepEqual([sp.title, sp.lot, sp.category, sp.start_price, sp.deposit, sp.reserve_price, sp.countdown_seconds, sp.proxy_allowed],
      [TITLE, '2026-G-31', 'land', '50000000', '10000000', '52000000', 300, true]);
    assert.deepEqual(sp.increments.stages, [{ from: '0', step: '500000' }, { from: '60000000', step: '1000000' }]);
    assert.equal(sp.details.length, 5);
    assert.equal(Date.parse(sp.listing_start), listingStart.getTime());
  });

  it('registers two bidders with distinct drawn numbers, enters their deposits, qualifies one and refuses one with a reason', async () => {
    for (const b of BIDDERS) {
      await byId(page, 'reg-id').fill(b.id);
      await byId(page, 'reg-name').fill(b.name);
      await byId(page, 'reg-submit').click();
      await row(b.id).waitFor();
    }
    const numbers = [];
    for (const b of BIDDERS) {
      const n = await byId(row(b.id), 'bidder-number').textContent();
      assert.match(n, /^[0-9]{4,8}$/, `${b.id}'s number`);
      numbers.push(n);
    }
    assert.notEqual(numbers[0], numbers[1], 'numbers are distinct');

    for (const [i, b] of BIDDERS.entries()) {
      assert.equal(await byId(row(b.id), 'dep-amount').inputValue(), '10000000', 'the amount asked is offered');
      await byId(row(b.id), 'dep-ref').fill(`BZJ-2026-G31-00${i + 1}`);
      await byId(row(b.id), 'dep-save').click();
      await row(b.id).locator('[data-testid="deposit-status"][data-status="paid"]').waitFor();
    }

    await byId(row(BIDDERS[0].id), 'q-yes').click();
    await row(BIDDERS[0].id).locator('[data-testid="qual-status"][data-status="qualified"]').waitFor();

    // A refusal without a reason is stopped in the page.
    await byId(row(BIDDERS[1].id), 'q-no').click();
    assert.equal(await byId(row(BIDDERS[1].id), 'bidder-error').textContent(), '不予确认资格须写明理由。');
    const reason = '竞买申请书未加盖公章，且联合竞买协议缺失';
    await byId(row(BIDDERS[1].id), 'q-reason').fill(reason);
    await byId(row(BIDDERS[1].id), 'q-no').click();
    await row(BIDDERS[1].id).locator('[data-testid="qual-status"][data-status="refused"]').waitFor();
    assert.equal(await byId(row(BIDDERS[1].id), 'qual-reason').textContent(), reason);

    // What the server holds is what the page shows.
    const { state } = await rest(`/api/v1/sessions/${AUCTION_ID}`);
    assert.deepEqual(state.bidders.map((b) => [b.bidder, b.name, b.number, b.qualified, b.reason || '', b.deposit.status, b.deposit.amount, b.deposit.reference]), [
      [BIDDERS[0].id, BIDDERS[0].name, numbers[0], true, '', 'paid', '10000000', 'BZJ-2026-G31-001'],
      [BIDDERS[1].id, BIDDERS[1].name, numbers[1], false, reason, 'paid', '10000000', 'BZJ-2026-G31-002'],
    ]);
  });

  it('mints a bidder’s link to the bidding page and a supervisor’s, and links the public ticker', async () => {
    await byId(row(BIDDERS[0].id), 'bidder-mint').click();
    const url = await byId(row(BIDDERS[0].id), 'link-url').inputValue();
    assert.match(url, /\/auction\.html#room=[^&]+&token=[A-Za-z0-9._%-]+$/);
    const token = new URLSearchParams(new URL(url).hash.slice(1)).get('token');
    const r = await fetch(`${server.base}/api/v1/sessions/${AUCTION_ID}`, { headers: { Authorization: `Bearer ${token}` } });
    const { state } = await r.json();
    assert.equal(state.you.number, await byId(row(BIDDERS[0].id), 'bidder-number').textContent(), 'the link is the bidder’s own');
    assert.equal(state.spec.reserve_price || '', '', 'a bidder does not see the reserve');
    // The link opens the bidder's own bidding page.
    const { ctx: bidderCtx, page: bidder } = await openPage(browser, PHONE, pageErrors);
    await bidder.goto(url);
    await byId(bidder, 'my-number').getByText(state.you.number).waitFor();
    await bidderCtx.close();

    await byId(page, 'staff-name').fill('监督人 周敏');
    await byId(page, 'staff-submit').click();
    const sup = byId(page, 'staff-links').locator('[data-testid="link"][data-role="supervisor"]');
    await sup.waitFor();
    assert.match(await byId(sup, 'link-url').inputValue(), /\/auction\.html#room=[^&]+&token=/);
    assert.match(await byId(page, 'ticker-open').getAttribute('href'), new RegExp(`ticker\\.html\\?auction=${AUCTION_ID}$`));
    await shot(page, 'auction-1366x768');
  });

  it('fits a phone and speaks English', async () => {
    const { ctx: phoneCtx, page: phone } = await openPage(browser, PHONE, pageErrors);
    await phone.goto(`${server.base}/admin-auction.html`);
    await byId(phone, 'admin-key').fill(adminKey);
    await byId(phone, 'admin-signin-submit').click();
    await byId(phone, 'list-view').waitFor();
    await phone.goto(`${server.base}/admin-auction.html#auction=${AUCTION_ID}`);
    await byId(phone, 'bidder-row').first().waitFor();
    const [scroll, width] = await phone.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= width, `page scrolls sideways: ${scroll} > ${width}`);
    await byId(phone, 'lang-en').click();
    await byId(phone, 'live-phase').getByText('Announced, listing not open yet').waitFor();
    await shot(phone, 'auction-en-390x844');
    await phoneCtx.close();
  });

  it('the start page’s demo auction links the bidding page, the ticker and this console', async () => {
    await page.goto(`${server.base}/`);
    await byId(page, 'demo-auction').waitFor();
    const people = byId(page, 'demo-auction-person');
    assert.ok(await people.count() >= 2);
    for (const href of await people.evaluateAll((as) => as.map((a) => a.getAttribute('href')))) {
      assert.match(href, /^auction\.html#room=demo-auction-[^&]+&token=/);
    }
    assert.match(await byId(page, 'demo-auction-ticker').getAttribute('href'), /^ticker\.html\?auction=demo-auction-/);
    await byId(page, 'demo-auction-admin').click();
    await byId(page, 'auction-view').waitFor();
    await byId(page, 'bidder-row').nth(2).waitFor();
    assert.equal(await page.locator('[data-testid="qual-status"][data-status="qualified"]').count(), 3);
    await shot(page, 'demo-1366x768');
    // The refused listing (400) is the browser's console line of a refusal the page said in words.
    const unexpected = pageErrors.map(String).filter((e) => !/status of 400/.test(e));
    assert.deepEqual(unexpected, []);
  });
});
