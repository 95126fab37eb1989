// The opening after the deadline in a real Chromium, one browser context
// per person: a host, three bidders and a supervisor. Bids are sealed and
// submitted with bidtool before a deadline seconds away; the bidders sign in
// with their key file, the room opens, each bidder unlocks in the page, the
// host pauses (countdown frozen for everyone, the reason on a banner) and
// resumes, closes the decryption early, reads out (one row over the control
// price: red on every page, a price alert for the supervisor), opens the
// confirmation; an objection is raised and answered on the spot, bidders
// confirm (by signing where the page can) or object, the host closes the
// confirmation early and generates the signed record, which everyone can
// open. Chat and a supervisor's violation note on the way.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { byId, DESKTOP, launch, newPage, PHONE, waitLive } from './lib/browser.mjs';
import { artifacts, openingHarness } from './lib/opening.mjs';

const ROOM = 'e2e-flow';
const LATE = 'e2e-flow-late'; // one bid not unlocked in a one-minute window: classified by the host
const FAILED = 'e2e-flow-failed'; // no bid at all: 流标
const LEAD_MS = 18_000; // deadline this far after creation: seal, submit, open five pages, sign in
const BIDDERS = [
  { id: 'a', name: '苏州金螳螂市政建设有限公司', sheet: { price: '11880000.00', duration: '365天', quality: '合格', project_manager: '张伟' } },
  { id: 'b', name: '南通四建集团有限公司', sheet: { price: '13500000.00', duration: '300天', quality: '优良', project_manager: '李娜' } },
  { id: 'c', name: '江苏省华建建设股份有限公司', sheet: { price: '12150000.00', duration: '330天', quality: '合格', project_manager: '王强' } },
];
const FIELDS = [
  { key: 'price', label: '投标报价（元）' },
  { key: 'duration', label: '工期' },
  { key: 'quality', label: '质量目标' },
  { key: 'project_manager', label: '项目经理' },
];

describe('the opening from the deadline to the signed record', () => {
  const h = openingHarness('flow');
  const { api, tool, verify } = h;
  let browser;
  let deadline;
  const errors = [];
  const pages = {}; // key -> {ctx, page}
  const P = (k) => pages[k].page;
  const token = (role, sub, name, room = ROOM) => h.token(room, role, sub, name);

  async function open(key, role, sub, name, viewport = DESKTOP, room = ROOM) {
    const { ctx, page } = await newPage(browser, viewport, errors);
    // Everything the page receives, for the check that the sealed terms never reach a bidder early.
    const traffic = [];
    page.on('websocket', (ws) => ws.on('framereceived', (f) => traffic.push(`ws ${ws.url().split('?')[0]}: ${f.payload}`)));
    // The served scripts are not data: they name fields such as the auction's reserve_price
    // (reserve.test.mjs still holds every response, scripts too, to the sealed values).
    page.on('response', async (r) => {
      const type = r.headers()['content-type'] || '';
      if (/json|text/.test(type) && !/javascript/.test(type)) traffic.push(`${r.url()}: ${await r.text().catch(() => '')}`);
    });
    const tok = await token(role, sub, name, room);
    await page.goto(`${h.server.base}/room.html#${new URLSearchParams({ room, token: tok })}`);
    await waitLive(page);
    pages[key] = { ctx, page, traffic };
    return page;
  }

  // The 标底 and the budget of ROOM in every form a page or a frame may carry them.
  const SEALED = ['12300000', '12,300,000', '1230万', '12000000', '12,000,000', '1200万', 'reserve_price', '"budget"'];
  /** sealedFromBidders asserts no bidder page of ROOM shows, holds or has received the sealed terms (R12). */
  async function sealedFromBidders(when) {
    for (const b of BIDDERS) {
      const { page, traffic } = pages[b.id];
      const seen = [`text: ${await page.locator('body').innerText()}`, `html: ${await page.content()}`, ...traffic];
      for (const secret of SEALED) {
        const hit = seen.find((s) => s.includes(secret));
        assert.equal(hit, undefined, `${when}: bidder ${b.id} got ${secret}: ${hit && hit.slice(Math.max(0, hit.indexOf(secret) - 150), hit.indexOf(secret) + 60)}`);
      }
    }
  }

  const phase = (page, p, timeout) => byId(page, 'phase').and(page.locator(`[data-phase="${p}"]`)).waitFor({ timeout });
  const shot = async (page, name, fullPage = false) => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(artifacts, `flow-${name}.png`), fullPage });
  };

  /** confirmHost clicks a console button and confirms the dialog, filling the reason (and minutes) if asked. */
  async function hostDo(button, { reason, kind, minutes, who = 'host' } = {}) {
    const host = P(who);
    await byId(host, button).click();
    await byId(host, 'flow-dialog').waitFor();
    if (kind) await byId(host, `flow-dialog-kind-${kind}`).check();
    if (minutes) await byId(host, 'flow-dialog-minutes').fill(String(minutes));
    if (reason) await byId(host, 'flow-dialog-reason').fill(reason);
    await byId(host, 'flow-dialog-ok').click();
    await byId(host, 'flow-dialog').waitFor({ state: 'hidden' });
  }

  before(async () => {
    await h.setUp();
    await Promise.all(BIDDERS.map((b) => tool(['keygen', '--out', path.join(h.tmp, b.id)])));
    await writeFile(path.join(h.tmp, 'bid.txt'), '投标文件正文：区人民医院综合楼改造工程施工\n'.repeat(200));
    for (const b of BIDDERS) await writeFile(path.join(h.tmp, `sheet-${b.id}.json`), JSON.stringify(b.sheet));
    browser = await launch();
  }, { timeout: 300_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await h.tearDown();
  });

  it('a session with three sealed bids submitted with bidtool', async () => {
    let now;
    ({ now, deadline } = await h.deadlineIn(LEAD_MS));
    const bidders = [];
    for (const b of BIDDERS) bidders.push({ id: b.id, name: b.name, public_key: await readFile(path.join(h.tmp, `${b.id}.pub.pem`), 'utf8') });
    await api('POST', '/api/v1/sessions', {
      id: ROOM,
      title: '区人民医院综合楼改造工程施工',
      section: 'SG-2026-045',
      category: 'construction',
      deadline: deadline.toISOString(),
      check_in_at: now,
      control_price: '12800000.00',
      reserve_price: '12300000.00',
      budget: '12000000.00',
      budget_deviation_pct: 10,
      proceed_below_min: true,
      confirm_window_minutes: 5,
      read_out_fields: FIELDS,
      bidders,
    });
    const common = { category: 'construction', deadline: deadline.toISOString(), check_in_at: now, control_price: '12800000.00' };
    await api('POST', '/api/v1/sessions', {
      ...common, id: LATE, title: '城南污水管网改造工程（二标段）', section: 'SG-2026-046', proceed_below_min: true, decrypt_window_minutes: 1,
      bidders: [{ id: 'x', name: '镇江路桥工程有限公司', public_key: bidders[0].public_key }],
    });
    await api('POST', '/api/v1/sessions', {
      ...common, id: FAILED, title: '城北体育公园景观工程', section: 'SG-2026-047',
      bidders: [
        { id: 'y', name: '泰州园林绿化有限公司' },
        { id: 'y2', name: '扬州市政园林工程有限公司', public_key: bidders[0].public_key },
        { id: 'y3', name: '盐城绿源建设有限公司', public_key: bidders[1].public_key },
      ],
    });
    // Two bids in the session that needs three: 流标 at the deadline.
    for (const [sub, name, key, sheet] of [['y2', '扬州市政园林工程有限公司', 'a', 'a'], ['y3', '盐城绿源建设有限公司', 'b', 'b']]) {
      await tool(['seal', '--in', 'bid.txt', '--sheet', `sheet-${sheet}.json`, '--key', path.join(h.tmp, `${key}.key.pem`),
        '--session', FAILED, '--bidder', sub, '--out', `bid-${sub}.sealed`]);
      await tool(['submit', '--server', h.server.base, '--session', FAILED, '--in', `bid-${sub}.sealed`, '--quiet'],
        { BIDROOM_TOKEN: await token('bidder', sub, name, FAILED) });
    }
    await tool(['seal', '--in', 'bid.txt', '--sheet', 'sheet-a.json', '--key', path.join(h.tmp, 'a.key.pem'),
      '--session', LATE, '--bidder', 'x', '--out', 'bid-x.sealed']);
    await tool(['submit', '--server', h.server.base, '--session', LATE, '--in', 'bid-x.sealed', '--quiet'],
      { BIDROOM_TOKEN: await token('bidder', 'x', '镇江路桥工程有限公司', LATE) });
    await Promise.all(BIDDERS.map(async (b) => {
      await tool(['seal', '--in', 'bid.txt', '--sheet', `sheet-${b.id}.json`, '--key', path.join(h.tmp, `${b.id}.key.pem`),
        '--session', ROOM, '--bidder', b.id, '--out', `bid-${b.id}.sealed`]);
      const tok = await token('bidder', b.id, b.name);
      await tool(['submit', '--server', h.server.base, '--session', ROOM, '--in', `bid-${b.id}.sealed`, '--quiet'], { BIDROOM_TOKEN: tok });
    }));
  });

  it('everyone signs in before the deadline; a bidder sees nothing of the others', async () => {
    const host = await open('host', 'host', 'h1', '主持人 赵敏');
    const sup = await open('sup', 'supervisor', 's1', '监督人 钱平');
    for (const b of BIDDERS) await open(b.id, 'bidder', b.id, b.name);
    await byId(host, 'sign-in').click();
    await byId(sup, 'sign-in').click();
    for (const b of BIDDERS) {
      const page = P(b.id);
      await byId(page, 'sign-in').click();
      await byId(page, 'key-sign-in-form').waitFor();
      await byId(page, 'key-sign-in-key').setInputFiles(path.join(h.tmp, `${b.id}.key.pem`));
      await byId(page, 'key-sign-in-button').click();
    }
    // The other two sessions: their hosts, the late bidder, and a bidder registered without a key (signs in by token).
    await open('host2', 'host', 'h2', '主持人 孙丽', DESKTOP, LATE);
    await open('x', 'bidder', 'x', '镇江路桥工程有限公司', DESKTOP, LATE);
    await open('host3', 'host', 'h3', '主持人 周杰', DESKTOP, FAILED);
    const y = await open('y', 'bidder', 'y', '泰州园林绿化有限公司', DESKTOP, FAILED);
    await byId(y, 'sign-in').click();
    for (const k of [...BIDDERS.map((b) => b.id), 'y']) {
      await byId(P(k), 'you-status').and(P(k).locator('[data-signed-in="true"]')).waitFor({ timeout: 30_000 });
    }
    assert.equal(await byId(y, 'key-sign-in-form').isVisible(), false, 'a bidder without a key signs in by token');
    const a = P('a');
    assert.ok(Date.now() < deadline.getTime(), 'the deadline passed before the sign-in was done: raise LEAD_MS');
    assert.equal(await byId(a, 'flow').isVisible(), false);
    assert.equal(await a.locator('[data-testid="bidder-row"]').count(), 1);
    assert.equal(await byId(a, 'read-out').isVisible(), false);
    assert.equal(await a.locator('[data-testid="flow"] tr, [data-testid="flow"] li').count(), 0, 'no rows or placeholders before the opening');
    await sealedFromBidders('check_in');
    // The host's console has the terms (staff).
    assert.ok(pages.host.traffic.some((t) => t.includes('"reserve_price":"12300000.00"')), 'the host received the sealed terms');
  });

  it('the room opens; the host starts the decryption and each bidder unlocks in the page', async () => {
    const host = P('host');
    await phase(host, 'opened', deadline.getTime() - Date.now() + 10_000);
    await byId(host, 'host-console').waitFor();
    assert.match(await byId(host, 'console-hint').textContent(), /开始解密/);
    await byId(host, 'start-decryption').click();
    await byId(host, 'confirm-ok').click();
    await phase(host, 'decrypting');
    // The late session's one-minute window starts now too; its bidder tries the wrong key.
    const host2 = P('host2');
    await phase(host2, 'opened');
    await byId(host2, 'start-decryption').click();
    await byId(host2, 'confirm-ok').click();
    await phase(host2, 'decrypting');
    const x = P('x');
    await byId(x, 'unlock-form').waitFor();
    await byId(x, 'unlock-key').setInputFiles(path.join(h.tmp, 'b.key.pem'));
    await byId(x, 'unlock-button').click();
    await byId(x, 'unlock-msg').filter({ hasText: '私钥与投标文件不匹配' }).waitFor({ timeout: 30_000 });
    await byId(host, 'flow-pause').waitFor();
    assert.equal(await byId(host, 'flow-close-decryption').isDisabled(), true, 'closing early needs every bid unlocked');
    // One after another: three WebAssembly unlocks at once are slow on two cores.
    for (const b of BIDDERS) {
      const page = P(b.id);
      await byId(page, 'unlock-form').waitFor();
      await byId(page, 'unlock-key').setInputFiles(path.join(h.tmp, `${b.id}.key.pem`));
      await byId(page, 'unlock-button').click();
      await byId(page, 'sheet-box').waitFor({ timeout: 30_000 });
    }
    const rows = byId(host, 'progress-row');
    await host.locator('[data-testid="progress-row"][data-state="opened"]').nth(2).waitFor();
    assert.equal(await rows.count(), 3);
    assert.equal(await byId(host, 'progress-count').textContent(), '已解密 3 / 3');
    await shot(host, 'host-decrypting');
    await sealedFromBidders('decrypting');
  });

  it('流标: too few bids stop the opening; the host generates the record at once', async () => {
    const { host3, y } = { host3: P('host3'), y: P('y') };
    for (const page of [host3, y]) {
      await phase(page, 'failed');
      await byId(page, 'failure-banner').waitFor();
      assert.match(await byId(page, 'failure-banner').textContent(), /流标.*递交投标文件的投标人 2 家，少于 3 家/);
      assert.equal(await byId(page, 'countdown-value').textContent(), '流标');
    }
    assert.equal(await byId(host3, 'flow-pause').isVisible(), false, 'a failed opening cannot be paused');
    await shot(y, 'bidder-failed');
    await hostDo('flow-generate-record', { who: 'host3' });
    await byId(y, 'record-link').waitFor();
    await phase(y, 'record');
    assert.equal(await byId(y, 'failure-banner').isVisible(), false);
    // The 流标 record names the two bids received and why the opening stopped, and verifies.
    const { stdout } = await verify(FAILED, await token('host', 'h3', '主持人 周杰', FAILED));
    assert.match(stdout, /核验通过 \/ OK/);
    const rec = await h.record(FAILED, await token('host', 'h3', '主持人 周杰', FAILED));
    assert.deepEqual(rec.bidders.filter((b) => b.submitted).map((b) => b.id).sort(), ['y2', 'y3']);
    assert.equal(rec.failure?.submitted, 2);
  });

  it('the host pauses: a banner with the reason for all, the countdown frozen; then resumes', async () => {
    const { host, a, sup } = { host: P('host'), a: P('a'), sup: P('sup') };
    // Cancelling changes nothing; a reason is required.
    await byId(host, 'flow-pause').click();
    await byId(host, 'flow-dialog-ok').click();
    await byId(host, 'flow-dialog-error').filter({ hasText: '请填写原因' }).waitFor();
    await byId(host, 'flow-dialog-cancel').click();
    await byId(host, 'flow-dialog').waitFor({ state: 'hidden' });
    assert.equal(await byId(host, 'pause-banner').isVisible(), false);

    await hostDo('flow-pause', { reason: '投标人反映直播画面与开标一览表不一致，核实中' });
    for (const page of [host, a, sup]) {
      await byId(page, 'pause-banner').waitFor();
      assert.match(await byId(page, 'pause-banner').textContent(), /开标已暂停.*核实中/);
    }
    assert.equal(await byId(a, 'countdown').getAttribute('data-state'), 'paused');
    assert.equal(await byId(a, 'countdown-label').textContent(), '解密剩余时间（已冻结）');
    const frozen = await byId(a, 'countdown-value').textContent();
    assert.match(frozen, /^00:(29|30):\d\d$/);
    await shot(a, 'bidder-paused');
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal(await byId(a, 'countdown-value').textContent(), frozen, 'the countdown must not move while paused');
    // A reload (a snapshot) shows the same pause and the same frozen time.
    await a.reload();
    await waitLive(a);
    await byId(a, 'pause-banner').waitFor();
    assert.equal(await byId(a, 'countdown-value').textContent(), frozen);
    assert.equal(await byId(host, 'flow-resume').isVisible(), true);
    assert.equal(await byId(host, 'flow-close-decryption').isVisible(), false);

    await hostDo('flow-resume');
    await byId(a, 'pause-banner').waitFor({ state: 'hidden' });
    assert.equal(await byId(a, 'countdown').getAttribute('data-state'), 'decrypting');
    await new Promise((r) => setTimeout(r, 1300));
    assert.notEqual(await byId(a, 'countdown-value').textContent(), frozen, 'the countdown runs again');

    // One extension, with a reason; the button is spent afterwards.
    await hostDo('flow-extend', { minutes: 10, reason: '一家投标人网络故障，经监督人同意延长' });
    await byId(a, 'countdown-value').filter({ hasText: /^00:(39|40):\d\d$/ }).waitFor();
    await byId(host, 'flow-extend').and(host.locator('[disabled]')).waitFor();
    assert.match(await byId(host, 'console-info').textContent(), /延长 10 分钟：一家投标人网络故障/);
  });

  it('the host closes the decryption early and reads out: the row over the control price is red for all', async () => {
    const host = P('host');
    await hostDo('flow-close-decryption');
    await phase(host, 'decryption_closed');
    await byId(P('a'), 'respond-status').filter({ hasText: '请等待主持人唱标' }).waitFor();
    await sealedFromBidders('decryption_closed');
    await hostDo('flow-start-read-out');
    for (const k of ['host', 'sup', 'a', 'b', 'c']) {
      const page = P(k);
      await byId(page, 'read-out').waitFor();
      const rows = page.locator('[data-testid="read-out-row"]');
      assert.deepEqual(await rows.evaluateAll((rs) => rs.map((r) => r.dataset.sub)), ['a', 'b', 'c'], `${k}: the order as read out`);
      const flagged = page.locator('[data-testid="read-out-row"][data-flagged="true"]');
      assert.equal(await flagged.count(), 1, `${k}: one flagged row`);
      assert.equal(await flagged.getAttribute('data-sub'), 'b');
      assert.match(await flagged.textContent(), /超过最高限价/);
      assert.match(await flagged.textContent(), /偏离预算超过10%/);
      const bg = await flagged.locator('td').first().evaluate((td) => getComputedStyle(td).backgroundColor);
      assert.equal(bg, 'rgb(253, 232, 230)', `${k}: the flagged row is red`);
      assert.equal(await byId(page, 'read-out-reserve').textContent(), '12,300,000.00 元');
      assert.equal(await byId(page, 'read-out-control').textContent(), '12,800,000.00 元');
    }
    const headers = await P('a').locator('[data-testid="read-out-table"] th').allTextContents();
    assert.deepEqual(headers.slice(2, 6), FIELDS.map((f) => f.label));
    // The supervisor gets the price alert; nobody else does.
    const sup = P('sup');
    await byId(sup, 'price-alert-toast').waitFor();
    assert.match(await byId(sup, 'price-alert-toast').textContent(), /南通四建集团有限公司/);
    assert.equal(await sup.locator('[data-testid="price-alert"]').count(), 2);
    assert.equal(await byId(P('a'), 'price-alerts').isVisible(), false);
    await sup.reload();
    await waitLive(sup);
    await byId(sup, 'price-alerts').waitFor();
    assert.equal(await sup.locator('[data-testid="price-alert"]').count(), 2, 'after a reload the alerts come from the read-out');
    assert.equal(await byId(host, 'price-alerts').isVisible(), false);
    await shot(host, 'host-read-out');
    await shot(sup, 'supervisor-read-out');
    await shot(P('b'), 'bidder-read-out');
  });

  it('a bidder on a phone reads the board', async () => {
    const phone = await open('phone', 'bidder', 'c', BIDDERS[2].name, PHONE);
    await byId(phone, 'read-out').waitFor();
    await byId(phone, 'read-out').scrollIntoViewIfNeeded();
    await shot(phone, 'bidder-phone-read-out');
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px on a phone`);
    await pages.phone.ctx.close();
    delete pages.phone;
  });

  it('confirmation: an objection answered on the spot, confirmations, chat, a violation note', async () => {
    const { host, a, b, c, sup } = { host: P('host'), a: P('a'), b: P('b'), c: P('c'), sup: P('sup') };
    await hostDo('flow-start-confirmation');
    await phase(a, 'confirming');
    assert.equal(await byId(a, 'countdown-label').textContent(), '距确认结束');
    assert.match(await byId(a, 'countdown-value').textContent(), /^00:0[45]:\d\d$/);

    await byId(a, 'object-input').fill('我公司报价为 11880000.00 元，唱标显示正确，但工期应为 365 日历天，请核实。');
    await byId(a, 'object-send').click();
    await byId(host, 'unanswered-badge').and(host.locator('[data-count="1"]')).waitFor();
    assert.equal(await byId(host, 'unanswered-badge').textContent(), '1 条待答复');
    assert.equal(await byId(host, 'flow-close-confirmation').isDisabled(), true);
    await shot(host, 'host-objection');
    await host.setViewportSize(PHONE);
    await shot(host, 'host-phone-objection', true);
    const sideways = await host.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(sideways <= 0, `the host console scrolls sideways by ${sideways}px on a phone`);
    await host.setViewportSize(DESKTOP);
    await byId(host, 'answer-input').fill('经核对投标文件，工期为 365 日历天，与唱标一致。');
    await byId(host, 'answer-send').click();
    await byId(a, 'objection-answer').waitFor();
    assert.match(await byId(a, 'objection-answer').textContent(), /工期为 365 日历天/);
    await byId(host, 'unanswered-badge').waitFor({ state: 'hidden' });

    // Chat: a bidder writes to the host, the host answers in that conversation.
    await byId(c, 'chat-input').fill('请问确认后还能查看开标记录吗？');
    await byId(c, 'chat-send').click();
    await host.locator('[data-testid="chat-conv"][data-conv="c"] [data-testid="chat-unread"]').waitFor();
    await host.locator('[data-testid="chat-conv"][data-conv="c"]').click();
    await byId(host, 'chat-log').filter({ hasText: '请问确认后还能查看开标记录吗' }).waitFor();
    await byId(host, 'chat-input').fill('可以，记录生成后页面会出现链接。');
    await byId(host, 'chat-send').click();
    await byId(c, 'chat-log').filter({ hasText: '记录生成后页面会出现链接' }).waitFor();
    assert.equal(await byId(a, 'chat-log').filter({ hasText: '请问确认后' }).count(), 0, 'another bidder never sees it');

    // The supervisor notes a violation about a bidder.
    await byId(sup, 'note-subject').selectOption('b');
    await byId(sup, 'note-text').fill('南通四建报价超过最高限价，提请评标委员会注意。');
    await byId(sup, 'note-send').click();
    await byId(sup, 'note').filter({ hasText: '提请评标委员会注意' }).waitFor();
    assert.equal(await byId(host, 'notes').isVisible(), false, 'notes are for supervisors');

    // Bidders with a key confirm by signing the read-out in the page (WebAssembly).
    await byId(b, 'confirm-sign-form').waitFor();
    assert.equal(await byId(b, 'confirm-button').isVisible(), false, 'a bidder with a key cannot confirm by token');
    await byId(b, 'confirm-key').setInputFiles(path.join(h.tmp, 'c.key.pem'));
    await byId(b, 'confirm-sign-button').click();
    await byId(b, 'confirm-sign-msg').and(b.locator('[data-kind="error"]')).waitFor({ timeout: 30_000 });
    await shot(b, 'bidder-sign-wrong-key');
    for (const [page, who] of [[b, 'b'], [c, 'c']]) {
      await byId(page, 'confirm-key').setInputFiles(path.join(h.tmp, `${who}.key.pem`));
      await byId(page, 'confirm-sign-button').click();
      await byId(page, 'respond-status').filter({ hasText: '签名' }).waitFor({ timeout: 30_000 });
    }
    await shot(b, 'bidder-confirming');
  });

  it('the host closes the confirmation early and generates the record; everyone gets the link', async () => {
    const { host, a, sup } = { host: P('host'), a: P('a'), sup: P('sup') };
    await byId(host, 'flow-close-confirmation').and(host.locator(':not([disabled])')).waitFor();
    await hostDo('flow-close-confirmation');
    await byId(host, 'flow-generate-record').and(host.locator(':not([disabled])')).waitFor();
    await hostDo('flow-generate-record');
    for (const page of [host, a, sup]) {
      await phase(page, 'record', 20_000);
      await byId(page, 'record-link').waitFor();
    }
    assert.match(await byId(a, 'record-meta').textContent(), /^摘要 [0-9a-f]{8}…[0-9a-f]{8}/);
    const [popup] = await Promise.all([pages.a.ctx.waitForEvent('page'), byId(a, 'record-link').click()]);
    await popup.waitForLoadState();
    assert.match(await popup.content(), /开标记录/);
    await popup.close();
    // bidroom verify checks the platform signature, the bidders' signatures and the digests against the log.
    const { stdout } = await verify(ROOM, await token('host', 'h1', '主持人 赵敏'));
    assert.match(stdout, /核验通过 \/ OK/);
    await shot(host, 'host-record');
    await shot(sup, 'supervisor-record', true);
    await shot(a, 'bidder-record', true);
  });

  it('a bid not unlocked in the window: the host classifies it from the log, then reads out', async () => {
    const host2 = P('host2');
    await phase(host2, 'decryption_closed', 75_000);
    const item = byId(host2, 'classify-item').and(host2.locator('[data-sub="x"]'));
    await item.waitFor();
    assert.equal(await byId(host2, 'flow-start-read-out').isDisabled(), true, 'the read-out waits for the classification');
    assert.match(await item.locator('[data-testid="classify-suggested"]').textContent(), /系统建议：撤销/);
    assert.equal(await item.locator('[data-testid="classify-revoked"]').isChecked(), true, 'the suggestion is preselected');
    // The wrong key failed in the page (WebAssembly) before anything was sent; the page reported it,
    // so the log holds the attempt with the client's code as evidence (R9).
    assert.match(await item.locator('[data-testid="attempt-log"]').textContent(), /wrong_key|私钥/);
    await item.locator('[data-testid="classify-submit"]').click();
    await item.locator('.form-error').filter({ hasText: '请填写原因' }).waitFor();
    await item.locator('[data-testid="classify-reason"]').fill('投标人使用的私钥与投标文件不匹配，解密时间内未能解密');
    await shot(host2, 'host-classify');
    await item.locator('[data-testid="classify-submit"]').click();
    await byId(host2, 'flow-dialog-ok').click();
    await item.waitFor({ state: 'detached' });
    await hostDo('flow-start-read-out', { who: 'host2' });
    const row = byId(host2, 'read-out-row').and(host2.locator('[data-sub="x"]'));
    await row.waitFor();
    assert.equal(await row.getAttribute('data-outcome'), 'revoked');
    assert.match(await row.textContent(), /撤销/);
    await byId(P('x'), 'respond-status').filter({ hasText: '撤销' }).waitFor();
  });

  it('English renders the new parts', async () => {
    const host = P('host');
    await byId(host, 'lang-en').click();
    assert.equal(await byId(host, 'phase').textContent(), 'Record signed');
    assert.equal(await host.locator('#flow-dialog-title').count(), 1);
    assert.match(await byId(host, 'read-out').textContent(), /Above the control price/);
    await shot(host, 'host-en');
    await byId(host, 'lang-zh').click();
  });

  it('no script errors', () => {
    assert.deepEqual(errors.map(String), []);
  });
});
