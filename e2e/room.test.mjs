// The opening room in a real Chromium against a real `bidroom serve`:
// the demo landing page, host and bidder pages side by side, the bidder
// list secrecy rule (R6), announcements, sign-in (a bidder with the demo
// key downloaded from the landing page, signed in the browser), resume
// after a network loss, and the language switch. Screenshots go to
// e2e/artifacts/.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import {
  announcements, byId, DESKTOP, dropConnection, eventually, launch, newPage as openPage, PHONE, roomState, waitLive,
} from './lib/browser.mjs';
import { start } from './lib/server.mjs';

const run = promisify(execFile);
const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');

const BIDDERS = {
  'bidder-a': '江苏恒达建设工程有限公司',
  'bidder-b': '南京市政路桥集团有限公司',
  'bidder-c': '苏州华建工程咨询有限公司',
};
const ANNOUNCEMENT_1 = '请各投标人做好解密准备';
const ANNOUNCEMENT_2 = '开标前五分钟请确认 CA 证书已插好';

describe('opening room in Chromium', () => {
  let server;
  let browser;
  let hostCtx, host;
  let bidderCtx, bidder;
  const bidderFrames = []; // every websocket frame the bidder's browser received
  const bidderSocketURLs = [];
  const pageErrors = [];
  let hostSawOffline = false;
  let keys; // directory of the demo keys downloaded from the landing page
  const sent = []; // every request body and websocket frame the bidder's browser sent

  before(async () => {
    await mkdir(artifacts, { recursive: true });
    keys = await mkdtemp(path.join(os.tmpdir(), 'bidroom-keys-'));
    server = await start();
    browser = await launch();
  }, { timeout: 240_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    if (keys) await rm(keys, { recursive: true, force: true });
  });

  // downloadKey saves a demo bidder's key from the landing page (the link
  // next to their button) and returns the file's path.
  async function downloadKey(page, sub) {
    await page.goto(`${server.base}/`);
    const link = page.locator(`[data-testid="demo-key"][data-sub="${sub}"]`);
    const [dl] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(dl.suggestedFilename(), `${sub}.key.pem`);
    const file = path.join(keys, `${sub}.key.pem`);
    await dl.saveAs(file);
    return file;
  }

  // signInWithKey opens the key form with the 签到 button, picks the file
  // and signs in.
  async function signInWithKey(page, file) {
    await byId(page, 'sign-in').click();
    await byId(page, 'key-sign-in-form').waitFor();
    await byId(page, 'key-sign-in-key').setInputFiles(file);
    await byId(page, 'key-sign-in-button').click();
  }

  const newPage = (viewport, opts) => openPage(browser, viewport, pageErrors, opts);

  async function enterAs(page, sub) {
    await page.goto(`${server.base}/`);
    const button = page.locator(`[data-testid="demo-person"][data-sub="${sub}"]`);
    await button.click();
    await page.waitForURL(/\/room\.html#/);
    await waitLive(page);
  }

  it('landing page lists the demo identities', async () => {
    ({ ctx: hostCtx, page: host } = await newPage(DESKTOP));
    await host.goto(`${server.base}/`);
    const people = byId(host, 'demo-person');
    // A host, a supervisor and three bidders: no expert at the opening (R21).
    await eventually(async () => assert.equal(await people.count(), 5));
    const texts = await people.allTextContents();
    assert.ok(texts.some((t) => t.includes('以 主持人 王芳 身份进入')), `buttons: ${texts}`);
    for (const name of Object.values(BIDDERS)) {
      assert.ok(texts.some((t) => t.includes(`以 ${name} 身份进入`)), `no button for ${name}: ${texts}`);
    }
    for (const href of await people.evaluateAll((as) => as.map((a) => a.getAttribute('href')))) {
      assert.match(href, /^room\.html#room=[^&]+&token=[^&]+$/, 'the token must travel in the fragment only');
    }
    assert.equal(await byId(host, 'manual').isVisible(), false, 'the token form is for servers without a demo');
    // Each bidder, and only bidders, has a demo key to download, with the hint.
    const keyLinks = byId(host, 'demo-key');
    assert.deepEqual((await keyLinks.evaluateAll((as) => as.map((a) => a.dataset.sub))).sort(), Object.keys(BIDDERS));
    assert.match(await byId(host, 'demo-key-hint').textContent(), /示例密钥：仅用于演示/);
    // A short guide walks a newcomer through the opening, step by step.
    const steps = await byId(host, 'demo-guide').locator('li').allTextContents();
    assert.equal(steps.length, 6);
    assert.ok(steps.every((s) => s.trim().length > 10), 'every guide step has its text');
    await host.screenshot({ path: path.join(artifacts, 'landing-1366x768.png') });
  });

  it('host enters, signs in and sees the three registered bidders', async () => {
    await enterAs(host, 'host-1');
    await byId(host, 'phase').and(host.locator('[data-phase="check_in"]')).waitFor();
    assert.equal(await byId(host, 'phase').textContent(), '签到中');
    assert.match(await byId(host, 'countdown-value').textContent(), /^00:0[0-5]:\d\d$/);
    assert.equal(await byId(host, 'you-name').textContent(), '主持人 王芳');

    await byId(host, 'sign-in').click();
    await byId(host, 'feedback').filter({ hasText: '签到成功' }).waitFor();
    await byId(host, 'you-status').and(host.locator('[data-signed-in="true"]')).waitFor();
    assert.equal(await byId(host, 'sign-in').isVisible(), false);

    await byId(host, 'registered-count').and(host.locator('[data-registered="3"]')).waitFor();
    const rows = byId(host, 'bidder-row');
    assert.equal(await rows.count(), 3);
    const text = await byId(host, 'bidder-list').innerText();
    for (const name of Object.values(BIDDERS)) assert.ok(text.includes(name), `host should see ${name}`);
    await byId(host, 'staff-row').and(host.locator('[data-sub="host-1"][data-signed-in="true"]')).waitFor();
  });

  it('a bidder sees only itself before the opening (R6)', async () => {
    ({ ctx: bidderCtx, page: bidder } = await newPage(DESKTOP));
    bidder.on('websocket', (ws) => {
      bidderSocketURLs.push(ws.url());
      ws.on('framereceived', (f) => bidderFrames.push(String(f.payload)));
      ws.on('framesent', (f) => sent.push(String(f.payload)));
    });
    bidder.on('request', (r) => sent.push(r.url() + ' ' + (r.postData() || '')));
    await downloadKey(bidder, 'bidder-b'); // someone else's key, for the wrong-key case
    await downloadKey(bidder, 'bidder-a');
    await enterAs(bidder, 'bidder-a');

    const rows = byId(bidder, 'bidder-row');
    assert.equal(await rows.count(), 1);
    assert.equal(await rows.first().getAttribute('data-sub'), 'bidder-a');
    await byId(bidder, 'bidders-secret').waitFor();
    assert.equal(await byId(bidder, 'registered-count').getAttribute('data-registered'), null);

    const text = await bidder.locator('body').innerText();
    assert.ok(text.includes(BIDDERS['bidder-a']));
    for (const sub of ['bidder-b', 'bidder-c']) {
      assert.ok(!text.includes(BIDDERS[sub]), `bidder-a's page shows ${BIDDERS[sub]}`);
    }
    // Nor did the names reach the browser at all.
    const wire = bidderFrames.join('\n');
    assert.ok(wire.includes('"type":"snapshot"'));
    for (const sub of ['bidder-b', 'bidder-c']) {
      assert.ok(!wire.includes(BIDDERS[sub]) && !wire.includes(sub), `${sub} was sent to bidder-a`);
    }
  });

  it('the host announces and the bidder sees it at once', async () => {
    await byId(host, 'announce-input').fill(ANNOUNCEMENT_1);
    await byId(host, 'announce-send').click();
    await byId(host, 'feedback').filter({ hasText: '发布公告成功' }).waitFor();
    assert.equal(await byId(host, 'announce-input').inputValue(), '', 'the box empties after the ack');
    await byId(bidder, 'announcement').filter({ hasText: ANNOUNCEMENT_1 }).waitFor({ timeout: 5000 });
    assert.equal(await byId(bidder, 'announce-form').isVisible(), false, 'bidders cannot announce');
  });

  it('a wrong key file is refused in plain words', async () => {
    await byId(bidder, 'sign-in').click();
    await byId(bidder, 'key-sign-in-form').waitFor();
    assert.match(await byId(bidder, 'key-sign-in-note').textContent(), /不会上传/);
    assert.equal(await byId(bidder, 'sign-in').isVisible(), false, 'the form replaces the button');
    // Nothing chosen yet.
    await byId(bidder, 'key-sign-in-button').click();
    await byId(bidder, 'key-sign-in-msg').filter({ hasText: '请先选择私钥文件' }).waitFor();
    // bidder-b's key is a valid key, but not the one registered for bidder-a.
    await byId(bidder, 'key-sign-in-key').setInputFiles(path.join(keys, 'bidder-b.key.pem'));
    assert.equal(await byId(bidder, 'key-sign-in-key-name').textContent(), 'bidder-b.key.pem');
    await byId(bidder, 'key-sign-in-button').click();
    await byId(bidder, 'key-sign-in-msg').filter({ hasText: '私钥与登记的公钥不匹配' }).waitFor({ timeout: 30_000 });
    assert.equal(await byId(bidder, 'key-sign-in-msg').getAttribute('data-kind'), 'error');
    assert.equal(await byId(bidder, 'you-status').getAttribute('data-signed-in'), 'false');
    await byId(bidder, 'key-sign-in-msg').scrollIntoViewIfNeeded();
    await bidder.screenshot({ path: path.join(artifacts, 'bidder-sign-in-wrong-key-1366x768.png') });
    // bidder-a's own key, encrypted with a password (as a CA tool would
    // export it), and a wrong password.
    const enc = path.join(keys, 'bidder-a.enc.pem');
    await run('openssl', ['pkcs8', '-topk8', '-in', path.join(keys, 'bidder-a.key.pem'), '-out', enc, '-passout', 'pass:s3cret', '-v2', 'aes-256-cbc']);
    await byId(bidder, 'key-sign-in-key').setInputFiles(enc);
    await byId(bidder, 'key-sign-in-password').fill('wrong');
    await byId(bidder, 'key-sign-in-button').click();
    await byId(bidder, 'key-sign-in-msg').filter({ hasText: '私钥密码错误' }).waitFor();
    await byId(bidder, 'key-sign-in-password').fill('');
    // Not a key at all.
    await byId(bidder, 'key-sign-in-key').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('投标须知') });
    await byId(bidder, 'key-sign-in-button').click();
    await byId(bidder, 'key-sign-in-msg').filter({ hasText: '无法读取私钥' }).waitFor();
    // In English too.
    await byId(bidder, 'lang-en').click();
    assert.match(await byId(bidder, 'key-sign-in-msg').textContent(), /Cannot read the private key/);
    assert.equal(await byId(bidder, 'key-sign-in-button').textContent(), 'Sign and sign in');
    await byId(bidder, 'lang-zh').click();
    await byId(bidder, 'key-sign-in-cancel').click();
    await byId(bidder, 'sign-in').waitFor();
  });

  it('the bidder signs in with their key and the host sees it', async () => {
    await signInWithKey(bidder, path.join(keys, 'bidder-a.key.pem'));
    await byId(bidder, 'feedback').filter({ hasText: '签到成功' }).waitFor({ timeout: 30_000 });
    assert.equal(await byId(bidder, 'key-sign-in-form').isVisible(), false);
    await byId(bidder, 'bidder-row').and(bidder.locator('[data-signed-in="true"]')).waitFor();
    await host
      .locator('[data-testid="bidder-row"][data-sub="bidder-a"][data-signed-in="true"][data-online="true"]')
      .waitFor({ timeout: 5000 });
    assert.match(await byId(host, 'registered-count').textContent(), /已签到 1 家/);
    // Still nothing about the others on the bidder's page.
    const text = await bidder.locator('body').innerText();
    assert.ok(!text.includes(BIDDERS['bidder-b']) && !text.includes(BIDDERS['bidder-c']));
    // The private key never left the browser: only the signature did.
    assert.ok(sent.some((x) => x.includes('/signin ') && x.includes('"signature"')), 'the sign-in POST was not seen');
    const key = await readFile(path.join(keys, 'bidder-a.key.pem'), 'utf8');
    const lines = key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    assert.ok(lines.length > 0);
    for (const l of lines) assert.ok(!sent.some((x) => x.includes(l)), 'the private key was sent');
    await bidder.screenshot({ path: path.join(artifacts, 'bidder-signed-in-1366x768.png') });
  });

  it('a command error is shown to the user', async () => {
    // The server refuses an over-long announcement with a readable message.
    await byId(host, 'announce-input').evaluate((el) => el.removeAttribute('maxlength'));
    await byId(host, 'announce-input').fill('长'.repeat(2001));
    await byId(host, 'announce-send').click();
    const fb = byId(host, 'feedback').and(host.locator('[data-kind="error"]'));
    await fb.waitFor();
    assert.match(await fb.textContent(), /^发布公告失败：.*2000/);
    await byId(host, 'announce-input').fill('');
  });

  it('the bidder resumes after a network loss and catches up', async () => {
    await bidder.screenshot({ path: path.join(artifacts, 'bidder-1366x768.png') });
    const socketsBefore = bidderSocketURLs.length;

    // The connection drops and the network stays away: every reconnect
    // attempt fails until it is back.
    const restore = await dropConnection(bidderCtx, bidder);
    await byId(bidder, 'stale-banner').waitFor();
    await bidder.screenshot({ path: path.join(artifacts, 'bidder-reconnecting-1366x768.png') });

    // While the bidder is away the host sees it go offline and makes an
    // announcement the bidder has to catch up on.
    await byId(host, 'announce-input').fill(ANNOUNCEMENT_2);
    await byId(host, 'announce-send').click();
    await byId(host, 'feedback').filter({ hasText: '发布公告成功' }).waitFor();
    hostSawOffline = await host
      .locator('[data-testid="bidder-row"][data-sub="bidder-a"][data-online="false"]')
      .waitFor({ timeout: 2000 })
      .then(() => true, () => false);

    await restore();
    await byId(bidder, 'conn-status').and(bidder.locator('[data-state="live"][data-sync="resumed"]')).waitFor({ timeout: 12_000 });
    await eventually(async () => assert.deepEqual(await announcements(bidder), [ANNOUNCEMENT_2, ANNOUNCEMENT_1]));
    const resumedWith = bidderSocketURLs.slice(socketsBefore).at(-1);
    assert.match(resumedWith, /[?&]pos=\d+/, 'the reconnect must ask for the events after its position');
    assert.match(await byId(bidder, 'conn-detail').textContent(), /补齐 \d+ 条更新/);
    await host
      .locator('[data-testid="bidder-row"][data-sub="bidder-a"][data-online="true"]')
      .waitFor({ timeout: 5000 });

    // A reload starts from a fresh snapshot and must land on the same state.
    const folded = await roomState(bidder);
    await bidder.reload();
    await waitLive(bidder);
    assert.equal(await byId(bidder, 'conn-status').getAttribute('data-sync'), 'snapshot');
    assert.deepEqual(await roomState(bidder), folded, 'state folded from events differs from a fresh snapshot');
  });

  it('an event out of sequence makes the page resume from its last position', async () => {
    const resumesBefore = Number(await byId(bidder, 'conn-status').getAttribute('data-resumes'));
    const socketsBefore = bidderSocketURLs.length;
    // As if the server had skipped events: a frame whose pos is far ahead.
    await bidder.evaluate(() => {
      const ws = window.__e2eSockets.at(-1);
      const frame = { v: 1, type: 'event', pos: 1e6, event: { type: 'announcement', data: { text: 'NOT-APPLIED' } } };
      ws.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(frame) }));
    });
    await byId(bidder, 'conn-status')
      .and(bidder.locator(`[data-state="live"][data-resumes="${resumesBefore + 1}"]`))
      .waitFor({ timeout: 5000 });
    assert.match(bidderSocketURLs.at(-1), /[?&]pos=\d+/);
    assert.equal(bidderSocketURLs.length, socketsBefore + 1);
    assert.deepEqual(await announcements(bidder), [ANNOUNCEMENT_2, ANNOUNCEMENT_1]);
  });

  it('the host saw the bidder go offline while it was away', () =>
    assert.ok(hostSawOffline, 'bidder-a still shown online to the host after its connection dropped'));

  it('screenshots of host and phone layouts', async () => {
    await host.screenshot({ path: path.join(artifacts, 'host-1366x768.png') });

    const { ctx, page: phone } = await newPage(PHONE, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await phone.goto(`${server.base}/`);
    await byId(phone, 'demo-person').first().waitFor();
    await phone.screenshot({ path: path.join(artifacts, 'landing-phone-390x844.png') });
    const keyC = await downloadKey(phone, 'bidder-c');
    await enterAs(phone, 'bidder-c');
    await byId(phone, 'sign-in').click();
    await byId(phone, 'key-sign-in-form').waitFor();
    await phone.screenshot({ path: path.join(artifacts, 'bidder-phone-sign-in-390x844.png') });
    await byId(phone, 'key-sign-in-key').setInputFiles(keyC);
    await byId(phone, 'key-sign-in-button').click();
    await byId(phone, 'feedback').filter({ hasText: '签到成功' }).waitFor({ timeout: 30_000 });
    const text = await phone.locator('body').innerText();
    assert.ok(!text.includes(BIDDERS['bidder-a']) && !text.includes(BIDDERS['bidder-b']));
    // Nothing may stick out sideways on a phone.
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
    await phone.screenshot({ path: path.join(artifacts, 'bidder-phone-390x844.png') });
    await phone.screenshot({ path: path.join(artifacts, 'bidder-phone-390x844-full.png'), fullPage: true });
    await ctx.close();
  });

  it('switching to English changes the labels and is remembered', async () => {
    await byId(host, 'lang-en').click();
    assert.equal(await byId(host, 'phase').textContent(), 'Check-in');
    assert.equal(await byId(host, 'conn-label').textContent(), 'Live');
    assert.equal(await host.locator('#bidders-title').textContent(), 'Bidders');
    assert.equal(await byId(host, 'announce-send').textContent(), 'Announce');
    assert.equal(await host.evaluate(() => document.documentElement.lang), 'en');
    await host.reload();
    await waitLive(host);
    assert.equal(await byId(host, 'phase').textContent(), 'Check-in');
    assert.equal(await host.locator('#ann-title').textContent(), 'Announcements');
    await host.screenshot({ path: path.join(artifacts, 'host-en-1366x768.png') });

    // The landing page follows the same choice.
    await host.goto(`${server.base}/`);
    await byId(host, 'demo-person').first().waitFor();
    assert.match(await byId(host, 'demo-person').first().textContent(), /Enter as 主持人 王芳/);
  });

  it('a bad link or token is explained, not retried forever', async () => {
    // The refused handshake logs a console error here; that one is expected.
    const { ctx, page } = await openPage(browser, DESKTOP, []);
    await page.goto(`${server.base}/room.html`);
    await byId(page, 'conn-status').and(page.locator('[data-state="error"]')).waitFor();
    assert.match(await byId(page, 'room-error').locator('.fatal-text').textContent(), /缺少场次编号或访问令牌/);

    await page.goto(`${server.base}/room.html#room=demo&token=not-a-token`);
    // Only the fragment changed: the page reloads itself for the new link.
    await byId(page, 'room-error').filter({ hasText: '无法进入开标室' }).waitFor();
    assert.equal(await byId(page, 'conn-status').getAttribute('data-state'), 'error');
    assert.match(await byId(page, 'room-error').locator('.fatal-text').textContent(), /^无法进入开标室：\S/);
    assert.equal(await byId(page, 'session').isVisible(), false);
    await page.screenshot({ path: path.join(artifacts, 'room-error-1366x768.png') });
    await ctx.close();
  });

  it('an expert\'s token for the opening is told experts are not at the opening, and shown nothing of it', async () => {
    const demo = await (await fetch(`${server.base}/api/v1/demo`)).json();
    assert.ok(!demo.people.some((p) => p.role === 'expert'), 'the demo opening lists an expert');
    // The API refuses to mint an expert's token for an opening; one made
    // offline (bidroom token) is refused at every door, the page says why.
    const adminKey = (await readFile(path.join(server.dataDir, 'admin.key'), 'utf8')).trim();
    const minted = await fetch(`${server.base}/api/v1/tokens`, {
      method: 'POST', headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: demo.room, role: 'expert', sub: 'x-at-opening', name: '评标专家 误入', grants: ['view', 'publish'], ttl: '1h' }),
    });
    assert.equal(minted.status, 400);
    assert.match((await minted.json()).error.message, /R21/);
    const env = { ...process.env, BIDROOM_DATA_DIR: server.dataDir };
    const { stdout } = await promisify(execFile)(server.bin, ['token', '--room', demo.room, '--role', 'expert', '--sub', 'x-at-opening',
      '--name', '评标专家 误入', '--grant', 'view', '--grant', 'publish', '--ttl', '1h'], { env });
    const token = stdout.trim().split(/\s+/).pop();
    const ws = await fetch(`${server.base}/api/v1/sessions/${demo.room}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(ws.status, 403, 'the REST state admits an expert at the opening');
    // The browser logs the refused handshake and the refused REST call: those, and nothing else.
    const refusedErrors = [];
    const { ctx, page } = await openPage(browser, DESKTOP, refusedErrors);
    await page.goto(`${server.base}/room.html#${new URLSearchParams({ room: demo.room, token })}`);
    await byId(page, 'room-error').filter({ hasText: '评标专家不参加开标（R21）' }).waitFor();
    for (const e of refusedErrors) assert.match(e.message, /403/, `a script error on the refused page: ${e.message}`);
    assert.equal(await byId(page, 'conn-status').getAttribute('data-state'), 'error');
    assert.equal(await byId(page, 'conn-retry').isVisible(), false, 'retrying cannot help');
    for (const id of ['session', 'live', 'bidder-list']) assert.equal(await byId(page, id).isVisible(), false, `${id} shown to an expert`);
    await eventually(async () => assert.equal(await page.evaluate(() => window.__e2eSockets.filter((w) => w.readyState === WebSocket.OPEN).length), 0, 'the socket stays open'));
    await page.screenshot({ path: path.join(artifacts, 'room-expert-refused-1366x768.png') });
    await ctx.close();
  });

  it('no script errors on any page', () => {
    assert.deepEqual(pageErrors.map(String), []);
  });
});
