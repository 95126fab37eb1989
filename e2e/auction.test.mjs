// The auction pages in Chromium (web/static/auction.html, ticker.html) on a
// server with a movable clock. Auction A: three bidders in pages (one at
// phone width) and a supervisor; the listing opens when the clock moves;
// bids go through the page's confirmation (the amount in 大写 checked); a
// bid off the grid is refused in words, and the leader raising their own
// bid is refused by the server in words; the clock moves to the listing's
// end, the timed bidding starts with the countdown on every page, bids
// restart it, one in the countdown's final second too; the clock moves past
// the end: 成交 on every page, the reserve revealed, the winner's page
// shows the 成交确认书, which is saved and passes `bidroom verify
// --auction`; the losers never see it. Auction B: one bid under the
// reserve → 流拍, no letter. The public ticker shows the bids by number,
// never a name, and the reserve only after the end; the reserve never
// reaches a bidder's page, frames or snapshot before the end.
// Screenshots go to e2e/artifacts/auction-*.png.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium } from 'playwright-core';

import { auctionHelpers } from './lib/auction.mjs';
import { byId, CHROMIUM, DESKTOP, eventually, LAUNCH_ARGS, PHONE, newPage, waitLive } from './lib/browser.mjs';
import { artifacts, openingHarness, run } from './lib/opening.mjs';

const h = openingHarness('auction', { bidtool: false, env: { BIDROOM_TESTING_MOVABLE_CLOCK: 'true' } });

const RESERVE = '10345600'; // off the grid: no bid amount can look like it
const RESERVE_SHOWN = '10,345,600';
const RESERVE_B = '12000000';
const NAMES = ['甲置业有限公司', '乙房地产开发有限公司', '丙城市建设投资集团有限公司'];

describe('the auction pages in Chromium', () => {
  let browser;
  let X;
  let A; // auction A: {id, spec}
  let B; // auction B
  const people = []; // {bidder, name, number, token, page, errors, frames}
  let sup;
  let tick;
  let lone; // auction B's bidder
  const errors = [];
  const tickerTexts = [];

  before(async () => {
    await h.setUp();
    X = auctionHelpers(h);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });
  after(async () => {
    await browser?.close();
    await h.tearDown();
  });

  /** open opens auction.html for token at viewport and records the websocket frames it receives. */
  async function open(room, token, viewport = DESKTOP) {
    const { page } = await newPage(browser, viewport, errors, { acceptDownloads: true });
    const frames = [];
    page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push({ at: Date.now(), text: String(f.payload) })));
    await page.goto(`${h.server.base}/auction.html#room=${encodeURIComponent(room)}&token=${encodeURIComponent(token)}`);
    await waitLive(page);
    return { page, frames };
  }

  const phaseIs = (page, phase) => page.locator(`[data-testid="phase"][data-phase="${phase}"]`).waitFor({ timeout: 15_000 });
  const bodyText = (page) => page.locator('body').innerText();

  /** bid places amount from p's page through the confirmation dialog (quick button k, or the free field), checks the dialog, and waits for the bid to show. */
  async function bid(p, { k, amount, daxie }) {
    const { page } = p;
    if (k) {
      amount = await byId(page, `quick-${k}`).getAttribute('data-amount');
      await byId(page, `quick-${k}`).click();
    } else {
      await byId(page, 'bid-amount').fill(amount);
      await byId(page, 'bid-button').click();
    }
    await byId(page, 'bid-dialog').waitFor();
    assert.equal(await byId(page, 'bid-dialog').getAttribute('data-amount'), amount);
    if (daxie) assert.equal(await byId(page, 'bid-dialog-daxie').textContent(), `人民币${daxie}`);
    await byId(page, 'bid-dialog-ok').click();
    await page.locator(`[data-testid="ladder-row"][data-amount="${amount}"][data-mine="true"]`).waitFor({ timeout: 10_000 });
    return amount;
  }

  /** everyEndsAt waits until every auction page shows the countdown running to endsAt. */
  async function everyEndsAt(endsAt) {
    for (const page of [...people.map((p) => p.page), sup.page]) {
      await eventually(async () => {
        assert.equal(await byId(page, 'countdown').getAttribute('data-ends-at'), endsAt);
        assert.equal(await byId(page, 'countdown').getAttribute('data-kind'), 'toEnd');
        assert.match(await byId(page, 'countdown-value').textContent(), /^00:0[01]:\d\d$/);
      }, 10_000);
    }
  }

  it('sold: bids through the confirmation, refusals in words, the timed bidding, a bid in the final second, the letter verified', { timeout: 150_000 }, async () => {
    A = await X.create('auction-a', { reserve_price: RESERVE, countdown_seconds: 60 });
    B = await X.create('auction-b', { title: '某县某镇2026-03号地块国有建设用地使用权', lot: '2026-03', increments: { step: '100000' }, reserve_price: RESERVE_B, countdown_seconds: 30,
      listing_start: A.spec.listing_start, listing_end: A.spec.listing_end });
    for (const [i, name] of NAMES.entries()) people.push(await X.bidder(A.id, `b${i + 1}`, name));
    lone = await X.bidder(B.id, 'b9', '丁实业有限公司');
    const supTok = await X.staff(A.id, 'supervisor', 's1', '监督人 赵敏');

    for (const [i, p] of people.entries()) Object.assign(p, await open(A.id, p.token, i === 2 ? PHONE : DESKTOP));
    sup = await open(A.id, supTok);
    Object.assign(lone, await open(B.id, lone.token));
    const tp = await newPage(browser, DESKTOP, errors);
    tick = tp.page;
    await tick.goto(`${h.server.base}/ticker.html?auction=${A.id}`);
    await byId(tick, 'phase').and(tick.locator('[data-phase="announced"]')).waitFor();

    // Before the listing: each bidder sees their 竞买号 and standing; no bid form.
    for (const p of people) {
      assert.equal(await byId(p.page, 'my-number').textContent(), p.number);
      assert.equal(await byId(p.page, 'my-standing').getAttribute('data-standing'), 'qualified');
      assert.ok(await byId(p.page, 'bid-form').isHidden());
    }
    // The supervisor sees the bidders and the reserve, marked 保密.
    assert.equal(await byId(sup.page, 'bidder-row').count(), 3);
    assert.match(await byId(sup.page, 'auc-reserve').textContent(), new RegExp(`${RESERVE_SHOWN}.*保密`));

    // The listing opens with the clock.
    await X.advanceTo(Date.parse(A.spec.listing_start) + 300);
    for (const page of [...people.map((p) => p.page), sup.page, lone.page]) await phaseIs(page, 'listing');
    const [p1, p2, p3] = people;

    await bid(p1, { k: 1, daxie: '壹仟万元整' }); // the start price
    // The leader tries to raise their own bid: the server refuses, in words.
    await byId(p1.page, 'bid-amount').fill('10100000');
    await byId(p1.page, 'bid-button').click();
    await byId(p1.page, 'bid-dialog-ok').click();
    await eventually(async () => assert.match(await byId(p1.page, 'feedback').textContent(), /您已是最高报价（10,000,000 元），不能对自己的领先报价加价/), 10_000);
    assert.equal(await byId(p1.page, 'feedback').getAttribute('data-kind'), 'error');
    assert.match(await byId(p1.page, 'lead-tag').textContent(), /领先/);

    // Off the grid, typed in the free field: refused in words, nothing sent.
    await byId(p2.page, 'ladder-row').first().waitFor();
    await byId(p2.page, 'bid-amount').fill('10,150,000');
    await byId(p2.page, 'bid-button').click();
    assert.match(await byId(p2.page, 'bid-problem').textContent(), /报价 10,150,000 元不符合加价幅度（须在 10,000,000 元基础上按 100,000 元的整数倍加价），下一个有效报价：10,100,000、10,200,000、10,300,000/);
    assert.ok(await byId(p2.page, 'bid-dialog').isHidden());
    await bid(p2, { amount: '10100000', daxie: '壹仟零壹拾万元整' });
    await p3.page.locator('[data-testid="ladder-row"][data-amount="10100000"]').waitFor();
    await bid(p3, { k: 2, daxie: '壹仟零叁拾万元整' }); // 10,300,000

    // Every page and the ticker: the price, the ladder by number.
    for (const page of [p1.page, p2.page, sup.page]) await page.locator('[data-testid="price"][data-amount="10300000"]').waitFor();
    await tick.locator('[data-testid="price"][data-amount="10300000"]').waitFor();
    assert.deepEqual(await tick.locator('[data-testid="ladder-row"]').evaluateAll((rs) => rs.map((r) => r.dataset.number)), [p3.number, p2.number, p1.number]);
    // Auction B's only bidder bids the start price.
    await bid(lone, { k: 1, daxie: '壹仟万元整' });

    assert.ok(!(await bodyText(lone.page)).includes('12,000,000'), "auction B's bidder sees its reserve");

    // The listing ends: more than one quoted, so the timed bidding starts (auction B, one bid under its reserve, ends: 流拍).
    await X.advanceTo(Date.parse(A.spec.listing_end) + 300);
    let v = await X.waitView(A.id, supTok, (x) => x.phase === 'timed', 'the timed bidding');
    for (const page of [...people.map((p) => p.page), sup.page]) await phaseIs(page, 'timed');
    await everyEndsAt(v.ends_at);
    await tick.locator(`[data-testid="countdown"][data-kind="toEnd"]`).waitFor();
    await people[2].page.screenshot({ path: path.join(artifacts, 'auction-timed-phone-390x844.png') });

    // A bid restarts the countdown on every page.
    await bid(p1, { k: 1, daxie: '壹仟零肆拾万元整' }); // 10,400,000
    const v1 = await X.view(A.id, supTok);
    assert.ok(Date.parse(v1.ends_at) > Date.parse(v.ends_at));
    await everyEndsAt(v1.ends_at);

    // The final second: p2's dialog is open when the clock reaches ends_at − 1.2 s; the bid is taken and restarts the countdown.
    await p2.page.locator('[data-testid="quick-1"][data-amount="10500000"]').waitFor();
    await byId(p2.page, 'quick-1').click();
    await byId(p2.page, 'bid-dialog').waitFor();
    assert.equal(await byId(p2.page, 'bid-dialog-daxie').textContent(), '人民币壹仟零伍拾万元整');
    const t = await X.advanceTo(Date.parse(v1.ends_at) - 1200);
    assert.ok(t < Date.parse(v1.ends_at));
    await byId(p2.page, 'bid-dialog-ok').click();
    await p2.page.locator('[data-testid="ladder-row"][data-amount="10500000"][data-mine="true"]').waitFor();
    const v2 = await X.view(A.id, supTok);
    assert.equal(v2.highest.amount, '10500000');
    assert.ok(Date.parse(v2.highest.at) < Date.parse(v1.ends_at), 'the bid was made before the end');
    assert.ok(Date.parse(v2.highest.at) > Date.parse(v1.ends_at) - 2000, 'in the final seconds');
    assert.ok(Date.parse(v2.ends_at) > Date.parse(v1.ends_at));
    await everyEndsAt(v2.ends_at);
    assert.match(await byId(p2.page, 'lead-tag').textContent(), /您当前领先/);

    // Before the end the reserve reached no bidder's page.
    for (const p of people) {
      const text = await bodyText(p.page);
      assert.ok(!text.includes(RESERVE_SHOWN) && !text.includes(RESERVE), `${p.bidder}'s page shows the reserve`);
    }

    // Past the end: 成交 everywhere, the reserve revealed, the letter for the winner.
    const endedAt = Date.now();
    await X.advanceTo(Date.parse(v2.ends_at) + 300);
    for (const page of [...people.map((p) => p.page), sup.page]) {
      await phaseIs(page, 'ended');
      await byId(page, 'result-word').and(page.locator('[data-result="sold"]')).waitFor();
      assert.equal(await byId(page, 'result-word').textContent(), '成交');
      assert.equal(await byId(page, 'result-reserve').getAttribute('data-reserve'), RESERVE);
      assert.match(await byId(page, 'result-reserve').textContent(), /10,345,600 元（达到底价）/);
    }
    await tick.locator('[data-testid="result-word"][data-result="sold"]').waitFor();
    assert.equal(await byId(tick, 'result-reserve').getAttribute('data-reserve'), RESERVE);
    assert.equal(await byId(p2.page, 'result-you').textContent(), '恭喜，您竞得本标的');
    assert.equal(await byId(p1.page, 'result-you').textContent(), '本标的由其他竞买人竞得');
    await byId(p2.page, 'letter-save').waitFor({ timeout: 15_000 });
    assert.equal(await byId(p2.page, 'letter-winner').textContent(), NAMES[1]);
    assert.equal(await byId(p2.page, 'letter-number').textContent(), p2.number);
    assert.equal(await byId(p2.page, 'letter-daxie').textContent(), '人民币壹仟零伍拾万元整');
    await byId(sup.page, 'letter-save').waitFor({ timeout: 15_000 });
    await p2.page.screenshot({ path: path.join(artifacts, 'auction-won-desktop.png'), fullPage: true });
    await people[2].page.screenshot({ path: path.join(artifacts, 'auction-ended-phone-390x844.png') });
    await sup.page.screenshot({ path: path.join(artifacts, 'auction-supervisor-desktop.png'), fullPage: true });

    // The losers never see the letter.
    for (const p of [p1, p3]) {
      assert.ok(await byId(p.page, 'letter').isHidden());
      assert.ok(!p.frames.some((f) => f.text.includes('confirmation_issued') || f.text.includes('"signature"')), `${p.bidder} received the letter`);
      assert.equal((await X.view(A.id, p.token)).confirmation, undefined);
    }

    // Saved from the page, the letter passes `bidroom verify --auction`.
    const [download] = await Promise.all([p2.page.waitForEvent('download'), byId(p2.page, 'letter-save').click()]);
    const file = path.join(h.tmp, 'letter.json');
    await download.saveAs(file);
    const saved = JSON.parse(await readFile(file, 'utf8'));
    assert.deepEqual(Object.keys(saved).sort(), ['digest', 'json', 'key_id', 'signature']);
    const { stdout } = await run(h.server.bin, ['verify', '--auction', file, '--server', h.server.base], { timeout: 60_000 }).catch((err) => {
      throw new Error(`bidroom verify --auction failed:\n${err.stdout}\n${err.stderr}`);
    });
    assert.match(stdout, /核验通过/);
    assert.match(stdout, new RegExp(`竞买号 ${p2.number} ${NAMES[1]}, price 10500000`));

    // Phone width: no sideways scrolling, the bid button big, price and countdown in sight.
    const phone = people[2].page;
    assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the phone page scrolls sideways');
    assert.ok(endedAt > 0);
    assert.deepEqual(errors, []);
  });

  it('流拍: one bid under the reserve ends the auction unsold at the listing, with no letter', async () => {
    const { page } = lone;
    await phaseIs(page, 'ended');
    assert.equal(await byId(page, 'result-word').textContent(), '流拍');
    assert.equal(await byId(page, 'result-reserve').getAttribute('data-reserve'), RESERVE_B);
    assert.match(await byId(page, 'result-reserve').textContent(), /12,000,000 元（未达到底价）/);
    assert.ok(await byId(page, 'letter').isHidden());
    assert.equal((await X.view(B.id, lone.token)).confirmation, undefined);
    const v = await X.view(B.id, h.adminKey);
    assert.equal(v.result.result, 'unsold');
    assert.equal(v.result.stage, 'listing');
  });

  it('the ticker: bids by number, never a name; the reserve only after the end', async () => {
    const text = await bodyText(tick);
    for (const n of [...NAMES, '监督人']) assert.ok(!text.includes(n), `the ticker shows ${n}`);
    for (const p of people) assert.ok(text.includes(p.number));
    assert.ok(text.includes(RESERVE_SHOWN), 'the ticker shows the reserve after the end');
    const { text: raw } = await X.ticker(A.id);
    for (const n of NAMES) assert.ok(!raw.includes(n));
    for (const p of people) assert.ok(!raw.includes(`"${p.bidder}"`), `the ticker's answer names ${p.bidder}`);
  });

  it('the reserve never reached a bidder before the end: frames, snapshots, the ticker', async () => {
    for (const p of [...people, lone]) {
      const reserve = p === lone ? RESERVE_B : RESERVE;
      const endFrame = p.frames.findIndex((f) => f.text.includes('"auction_ended"'));
      assert.ok(endFrame > 0, `${p.bidder} saw the end`);
      const before = p.frames.slice(0, endFrame);
      assert.ok(before.length > 3);
      assert.ok(!before.some((f) => f.text.includes(reserve)), `${p.bidder} received the reserve before the end`);
      assert.ok(p.frames[endFrame].text.includes(reserve), `the end reveals the reserve to ${p.bidder}`);
    }
    // The supervisor had it from the start.
    assert.ok(sup.frames.some((f) => f.text.includes('"snapshot"') && f.text.includes(RESERVE)));
    // A fresh auction: neither a bidder's snapshot nor the ticker holds the reserve.
    const C = await X.create('auction-c', { reserve_price: RESERVE });
    const c1 = await X.bidder(C.id, 'c1', '戊公司');
    assert.ok(!(await X.raw(C.id, c1.token)).includes(RESERVE));
    assert.ok(!(await X.ticker(C.id)).text.includes(RESERVE));
    assert.ok((await X.raw(C.id, h.adminKey)).includes(RESERVE), 'the admin sees it');
    // room.html and eval.html with an auction's token go to auction.html, same fragment.
    for (const from of ['room.html', 'eval.html']) {
      const { page } = await newPage(browser, DESKTOP, errors);
      await page.goto(`${h.server.base}/${from}#room=${C.id}&token=${encodeURIComponent(c1.token)}`);
      await page.waitForURL(/\/auction\.html#room=auction-c&token=/);
      await waitLive(page);
      assert.equal(await byId(page, 'my-number').textContent(), c1.number);
      await page.close();
    }
    assert.deepEqual(errors, []);
  });
});
