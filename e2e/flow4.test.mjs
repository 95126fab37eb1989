// The four outcomes of a decryption in one opening (R8–R10, R14), in a real
// Chromium with one browser context per person: a host and four bidders with
// keys. Bids are sealed with bidtool before the session exists (D also seals
// a backup copy and commits its SM3 with submit --backup). In the one-minute
// window A unlocks; B never tries (撤销); C's stored bid vanishes from the
// server's disk while it unlocks, so the server records server_error and the
// host's classification suggests and preselects 撤回; D's stored bid is
// corrupted on the server (corrupted), D's page then offers the backup
// channel: another sealed file is refused (backup_mismatch), the backup is
// uploaded and unlocked with the same key form, and the read-out shows D
// opened. Everyone confirms by signature, the host closes the confirmation
// and generates the record; `bidroom verify` passes on it and fails on a
// tampered copy.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { byId, DESKTOP, launch, newPage, waitLive } from './lib/browser.mjs';
import { artifacts, openingHarness, run } from './lib/opening.mjs';

const ROOM = 'e2e-flow4';
const LEAD_MS = 15_000; // deadline this far after creation: submit, open five pages, sign in with keys
const BIDDERS = [
  { id: 'a', name: '苏州金螳螂市政建设有限公司', sheet: { price: '11880000.00', duration: '365天', quality: '合格', project_manager: '张伟' } },
  { id: 'b', name: '南通四建集团有限公司', sheet: { price: '12500000.00', duration: '300天', quality: '优良', project_manager: '李娜' } },
  { id: 'c', name: '江苏省华建建设股份有限公司', sheet: { price: '12150000.00', duration: '330天', quality: '合格', project_manager: '王强' } },
  { id: 'd', name: '中建八局第三建设有限公司', sheet: { price: '11960000.00', duration: '340天', quality: '合格', project_manager: '陈静' } },
];
const FIELDS = [
  { key: 'price', label: '投标报价（元）' },
  { key: 'duration', label: '工期' },
  { key: 'project_manager', label: '项目经理' },
];
// Status lines the page causes on purpose (the server's refusals it shows in words); anything else is a bug.
const EXPECTED_CONSOLE = /Failed to load resource: the server responded with a status of (409|422|500)/;

const sm3 = (b) => createHash('sm3').update(b).digest('hex');

describe('four bidders, four outcomes: opened, 撤销, 撤回 and opened from the backup', () => {
  const h = openingHarness('flow4');
  const { api, tool } = h;
  let browser;
  let deadline;
  const errors = [];
  const pages = {};
  const P = (k) => pages[k].page;
  const blob = (digest) => path.join(h.server.dataDir, 'blobs', 'sm3', digest.slice(0, 2), digest);
  const digests = {}; // bidder -> SM3 of the sealed bid
  const token = (role, sub, name) => h.token(ROOM, role, sub, name);

  async function open(key, role, sub, name) {
    const { ctx, page } = await newPage(browser, DESKTOP, errors);
    await page.goto(`${h.server.base}/room.html#${new URLSearchParams({ room: ROOM, token: await token(role, sub, name) })}`);
    await waitLive(page);
    pages[key] = { ctx, page };
    return page;
  }

  const phase = (page, p, timeout) => byId(page, 'phase').and(page.locator(`[data-phase="${p}"]`)).waitFor({ timeout });
  const shot = async (page, name, fullPage = false) => {
    await page.screenshot({ path: path.join(artifacts, `flow4-${name}.png`), fullPage });
  };
  async function hostDo(button) {
    const host = P('host');
    await byId(host, button).click();
    await byId(host, 'flow-dialog').waitFor();
    await byId(host, 'flow-dialog-ok').click();
    await byId(host, 'flow-dialog').waitFor({ state: 'hidden' });
  }
  async function unlockWith(page, keyFile) {
    await byId(page, 'unlock-key').setInputFiles(path.join(h.tmp, keyFile));
    await byId(page, 'unlock-button').click();
  }

  before(async () => {
    await h.setUp();
    await writeFile(path.join(h.tmp, 'bid.txt'), '投标文件正文：市第一中学新校区建设工程施工总承包\n'.repeat(300));
    // Sealed before the session exists: sealing needs only its id.
    await Promise.all(BIDDERS.map(async (b) => {
      await tool(['keygen', '--out', path.join(h.tmp, b.id)]);
      await writeFile(path.join(h.tmp, `sheet-${b.id}.json`), JSON.stringify(b.sheet));
      const seal = ['seal', '--in', 'bid.txt', '--sheet', `sheet-${b.id}.json`, '--key', `${b.id}.key.pem`, '--session', ROOM, '--bidder', b.id, '--quiet'];
      await tool([...seal, '--out', `bid-${b.id}.sealed`, ...(b.id === 'd' ? ['--backup', 'bid-d.backup'] : [])]);
      if (b.id === 'd') await tool([...seal, '--out', 'bid-d-other.sealed']); // a later seal: not the committed backup
      digests[b.id] = sm3(await readFile(path.join(h.tmp, `bid-${b.id}.sealed`)));
    }));
    browser = await launch();
  }, { timeout: 300_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await h.tearDown();
  });

  it('a session that accepts backups; four bids submitted with bidtool, D with its backup committed', async () => {
    let now;
    ({ now, deadline } = await h.deadlineIn(LEAD_MS));
    const bidders = [];
    for (const b of BIDDERS) bidders.push({ id: b.id, name: b.name, public_key: await readFile(path.join(h.tmp, `${b.id}.pub.pem`), 'utf8') });
    await api('POST', '/api/v1/sessions', {
      id: ROOM, title: '市第一中学新校区建设工程施工总承包', section: 'SG-2026-052', category: 'construction',
      deadline: deadline.toISOString(), check_in_at: now, control_price: '12800000.00',
      decrypt_window_minutes: 1, confirm_window_minutes: 5, backup_allowed: true, read_out_fields: FIELDS, bidders,
    });
    await Promise.all(BIDDERS.map(async (b) => {
      const backup = b.id === 'd' ? ['--backup', 'bid-d.backup'] : [];
      const { stderr } = await tool(['submit', '--server', h.server.base, '--session', ROOM, '--in', `bid-${b.id}.sealed`, ...backup, '--quiet'],
        { BIDROOM_TOKEN: await token('bidder', b.id, b.name) });
      if (b.id === 'd') assert.match(stderr, new RegExp(`committed with the bid \\(SM3 ${sm3(await readFile(path.join(h.tmp, 'bid-d.backup')))}\\)`));
    }));
  });

  it('the host and the four bidders sign in with their keys before the deadline', async () => {
    await open('host', 'host', 'h1', '主持人 赵敏');
    await byId(P('host'), 'sign-in').click();
    for (const b of BIDDERS) {
      const page = await open(b.id, 'bidder', b.id, b.name);
      await byId(page, 'sign-in').click();
      await byId(page, 'key-sign-in-form').waitFor();
      await byId(page, 'key-sign-in-key').setInputFiles(path.join(h.tmp, `${b.id}.key.pem`));
      await byId(page, 'key-sign-in-button').click();
    }
    for (const b of BIDDERS) {
      await byId(P(b.id), 'you-status').and(P(b.id).locator('[data-signed-in="true"]')).waitFor({ timeout: 30_000 });
    }
    assert.ok(Date.now() < deadline.getTime(), 'the deadline passed before the sign-in was done: raise LEAD_MS');
  });

  it('decryption: A unlocks, C meets a server fault, D unlocks its backup after its stored bid fails', async () => {
    const host = P('host');
    await phase(host, 'opened', deadline.getTime() - Date.now() + 10_000);
    await byId(host, 'start-decryption').click();
    await byId(host, 'confirm-ok').click();
    await phase(host, 'decrypting');
    const t0 = Date.now();

    // A: the normal case.
    const a = P('a');
    await byId(a, 'unlock-form').waitFor();
    await unlockWith(a, 'a.key.pem');
    await byId(a, 'sheet-box').waitFor({ timeout: 30_000 });
    assert.equal(await byId(a, 'sheet-source').textContent(), '由投标文件解密');
    assert.equal(await byId(a, 'backup-box').isVisible(), false, 'no backup offered without a committed backup');

    // C: the stored bid disappears while the unlock is under way (a disk fault): server_error is on record.
    const c = P('c');
    await c.route('**/bids/mine/unlock', async (route) => {
      if (route.request().method() === 'POST') await unlink(blob(digests.c));
      await route.continue();
    });
    await unlockWith(c, 'c.key.pem');
    await byId(c, 'unlock-msg').filter({ hasText: '服务器解密出错' }).waitFor({ timeout: 30_000 });
    assert.equal(await byId(c, 'backup-box').isVisible(), false, 'C committed no backup');

    // D: the stored bid is corrupted on the server; the unlock fails as corrupted and the backup channel opens.
    const d = P('d');
    const stored = await readFile(blob(digests.d));
    stored[stored.length >> 1] ^= 0xff;
    await writeFile(blob(digests.d), stored);
    assert.equal(await byId(d, 'backup-box').isVisible(), false, 'the backup is offered only after a failed unlock');
    await unlockWith(d, 'd.key.pem');
    await byId(d, 'unlock-msg').filter({ hasText: '校验失败' }).waitFor({ timeout: 30_000 });
    await byId(d, 'backup-box').waitFor();
    assert.match(await byId(d, 'backup-note').textContent(), /备份文件.*SM3 摘要 [0-9a-f]{8}…[0-9a-f]{8}/);
    await byId(d, 'backup-upload').click();
    await byId(d, 'backup-msg').filter({ hasText: '请先选择备份文件' }).waitFor();
    // Another file sealed by D is not the backup committed before the deadline: it cannot be a new bid.
    await byId(d, 'backup-file').setInputFiles(path.join(h.tmp, 'bid-d-other.sealed'));
    await byId(d, 'backup-upload').click();
    await byId(d, 'backup-msg').filter({ hasText: 'SM3 摘要不符' }).waitFor();
    assert.equal(await byId(d, 'backup-msg').getAttribute('data-kind'), 'error');
    await shot(d, 'bidder-backup-mismatch');
    await byId(d, 'backup-file').setInputFiles(path.join(h.tmp, 'bid-d.backup'));
    assert.equal(await byId(d, 'backup-file-name').textContent(), 'bid-d.backup');
    await byId(d, 'backup-upload').click();
    await byId(d, 'backup-msg').filter({ hasText: '备份文件已上传' }).waitFor();
    assert.equal(await byId(d, 'backup-progress').evaluate((p) => p.value), 1);
    assert.equal(await byId(d, 'unlock-button').textContent(), '解密备份文件');
    await shot(d, 'bidder-backup-uploaded');
    await unlockWith(d, 'd.key.pem');
    await byId(d, 'sheet-box').waitFor({ timeout: 30_000 });
    assert.equal(await byId(d, 'sheet-source').textContent(), '由备份文件解密（投标文件解密失败后使用）');
    assert.equal(await byId(d, 'sheet-price').textContent(), '11960000.00 元');
    await shot(d, 'bidder-backup-opened');

    await host.locator('[data-testid="progress-row"][data-sub="d"][data-state="opened"]').waitFor();
    assert.match(await host.locator('[data-testid="progress-row"][data-sub="d"]').textContent(), /已解密（备份文件）/);
    assert.equal(await byId(host, 'progress-count').textContent(), '已解密 2 / 4');
    await shot(host, 'host-decrypting');
    assert.ok(Date.now() - t0 < 50_000, `the unlocks took ${Date.now() - t0} ms of the one-minute window`);
  });

  it('the window closes: the host classifies B as 撤销 and C as 撤回 from the log, as suggested', async () => {
    const host = P('host');
    await phase(host, 'decryption_closed', 75_000);
    const item = (sub) => byId(host, 'classify-item').and(host.locator(`[data-sub="${sub}"]`));
    await item('b').waitFor();
    await item('c').waitFor();
    assert.equal(await host.locator('[data-testid="classify-item"]').count(), 2, 'A and D were opened');
    assert.match(await item('b').locator('[data-testid="classify-suggested"]').textContent(), /系统建议：撤销/);
    assert.equal(await item('b').locator('[data-testid="classify-revoked"]').isChecked(), true);
    assert.match(await item('c').locator('[data-testid="classify-suggested"]').textContent(), /系统建议：撤回/);
    assert.equal(await item('c').locator('[data-testid="classify-withdrawn"]').isChecked(), true, 'the suggestion 撤回 is preselected');
    assert.match(await item('c').locator('[data-testid="attempt-log"]').textContent(), /平台（服务器）故障server_error/);
    await item('c').scrollIntoViewIfNeeded();
    await shot(host, 'host-classify');
    for (const [sub, reason] of [['b', '投标人在解密时间内未解密投标文件'], ['c', '平台存储故障导致投标文件无法读取，非投标人原因']]) {
      await item(sub).locator('[data-testid="classify-reason"]').fill(reason);
      await item(sub).locator('[data-testid="classify-submit"]').click();
      await byId(host, 'flow-dialog-ok').click();
      await item(sub).waitFor({ state: 'detached' });
    }
    await hostDo('flow-start-read-out');
    for (const k of ['host', 'a', 'b', 'c', 'd']) {
      const page = P(k);
      await byId(page, 'read-out').waitFor();
      const rows = await page.locator('[data-testid="read-out-row"]').evaluateAll((rs) => rs.map((r) => [r.dataset.sub, r.dataset.outcome]));
      assert.deepEqual(rows, [['a', 'opened'], ['b', 'revoked'], ['c', 'withdrawn'], ['d', 'opened']], `${k}: the read-out`);
    }
    const rowD = byId(P('b'), 'read-out-row').and(P('b').locator('[data-sub="d"]'));
    assert.match(await rowD.textContent(), /11960000\.00.*340天.*陈静/);
    assert.match(await byId(P('b'), 'read-out-row').and(P('b').locator('[data-sub="c"]')).textContent(), /撤回/);
    await byId(P('b'), 'respond-status').filter({ hasText: '撤销' }).waitFor();
    await shot(P('a'), 'bidder-read-out');
  });

  it('every bidder confirms by signature; the host closes the confirmation and generates the record', async () => {
    const host = P('host');
    await hostDo('flow-start-confirmation');
    for (const b of BIDDERS) {
      const page = P(b.id);
      await byId(page, 'confirm-sign-form').waitFor();
      await byId(page, 'confirm-key').setInputFiles(path.join(h.tmp, `${b.id}.key.pem`));
      await byId(page, 'confirm-sign-button').click();
      await byId(page, 'respond-status').filter({ hasText: '签名' }).waitFor({ timeout: 30_000 });
    }
    await byId(host, 'flow-close-confirmation').and(host.locator(':not([disabled])')).waitFor();
    await hostDo('flow-close-confirmation');
    await byId(host, 'flow-generate-record').and(host.locator(':not([disabled])')).waitFor();
    await hostDo('flow-generate-record');
    for (const k of ['host', 'd']) await byId(P(k), 'record-link').waitFor({ timeout: 20_000 });
    await shot(host, 'host-record');
  });

  it('bidroom verify passes on the record and fails on a tampered copy', async () => {
    const hostToken = await token('host', 'h1', '主持人 赵敏');
    const { stdout } = await h.verify(ROOM, hostToken);
    assert.match(stdout, /核验通过 \/ OK/);

    // The record as the server holds it: D opened from the backup, C withdrawn with the host's reason.
    const rec = await h.record(ROOM, hostToken);
    const by = Object.fromEntries(rec.bidders.map((b) => [b.id, b]));
    assert.equal(by.d.outcome, 'opened');
    assert.equal(by.d.backup, true, 'the record says D was opened from the backup');
    assert.ok(by.d.attempts.some((x) => x.code === 'corrupted') && by.d.attempts.some((x) => x.ok && x.backup));
    assert.equal(by.c.outcome, 'withdrawn');
    assert.ok(by.c.attempts.some((x) => x.code === 'server_error'));
    assert.equal(by.b.outcome, 'revoked');

    // From files: the same record passes; one changed price does not.
    const raw = await (await fetch(`${h.server.base}/api/v1/sessions/${ROOM}/record`, { headers: { Authorization: `Bearer ${hostToken}` } })).text();
    const log = await (await fetch(`${h.server.base}/api/v1/sessions/${ROOM}/log`, { headers: { Authorization: `Bearer ${hostToken}` } })).text();
    const key = await (await fetch(`${h.server.base}/api/v1/platform-key`)).text();
    const files = { record: path.join(h.tmp, 'record.json'), tampered: path.join(h.tmp, 'record-tampered.json'), log: path.join(h.tmp, 'log.ndjson'), key: path.join(h.tmp, 'platform.pem') };
    const tampered = raw.replace('11960000.00', '10960000.00');
    assert.notEqual(tampered, raw, 'the price is in the record as sent');
    await Promise.all([writeFile(files.record, raw), writeFile(files.tampered, tampered), writeFile(files.log, log), writeFile(files.key, key)]);
    const fromFiles = (rec) => run(h.server.bin, ['verify', '--record', rec, '--log', files.log, '--platform-key', files.key], { timeout: 60_000 });
    assert.match((await fromFiles(files.record)).stdout, /核验通过 \/ OK/);
    const failed = await fromFiles(files.tampered).then(() => null, (err) => err);
    assert.ok(failed, 'verify accepted a tampered record');
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /核验失败 \/ FAILED/);
  });

  it('no script errors', () => {
    assert.deepEqual(errors.map(String).filter((e) => !EXPECTED_CONSOLE.test(e)), []);
  });
});
