// The evaluation room in Chromium (web/static/eval.html), against a real
// server. A finished opening first, over REST and bidtool: three bids (two
// PDFs, one text) sealed, submitted, unlocked, confirmed by signature, the
// record signed. Then a pool of seven experts whose keys bidtool made, an
// evaluation of that opening, a committee of five drawn; the admin starts
// it from the page. Three members work in their pages — the 回避声明 signed
// in WebAssembly with their key file (one key password-protected), the chair
// vote, the PDF read in the page, score sheets checked and signed, a sheet
// sent back by the chair and signed again, the report signed, one with a
// dissent — and two over POST /commands with signatures made by OpenSSL. A
// supervisor's page sees every sheet and has the platform sign the report;
// a clarification is asked and answered; a bidder's and a host's token are
// refused the page in words. Screenshots to e2e/artifacts/eval-*.png.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium } from 'playwright-core';

import { byId, CHROMIUM, DESKTOP, LAUNCH_ARGS, PHONE, eventually, newPage, waitLive } from './lib/browser.mjs';
import { artifacts, openingHarness, run } from './lib/opening.mjs';

const OPENING = 'e2e-eval-open';
const EVAL = 'e2e-eval';
const LEAD_MS = 9_000; // deadline this far after creation: seal and submit three bids
const BIDDERS = [
  { id: 'a', name: '江苏恒达建设工程有限公司', price: '11880000.00', file: 'pdf' },
  { id: 'b', name: '南通四建集团有限公司', price: '12150000.00', file: 'txt' },
  { id: 'c', name: '苏州华建工程咨询有限公司', price: '12600000.00', file: 'pdf' },
];
const CENTERS = ['市公共资源交易中心', '市公共资源交易中心', '市公共资源交易中心', '溧水分中心', '溧水分中心', '市公共资源交易中心', '高淳分中心'];
const EXPERTS = ['王建国', '李秀英', '张伟', '刘洋', '陈静', '杨帆', '赵磊'].map((name, i) => ({ id: `x${i + 1}`, name, center: CENTERS[i] }));
const CRITERIA = {
  checks: [{ id: 'q1', name: '营业执照与资质' }, { id: 'q2', name: '投标保证金' }],
  items: [
    { id: 't1', name: '施工组织设计', group: 'technical', max: '40' },
    { id: 't2', name: '质量安全保证措施', group: 'technical', max: '20' },
    { id: 'c1', name: '类似工程业绩', group: 'commercial', max: '10' },
  ],
  price: { method: 'mean_trimmed', weight: '30', above_per_pct: '1', below_per_pct: '0.5' },
  outlier_share: '0.25',
};
// What every member scores (bidder → item → points); a member's own changes are applied on top.
const SCORES = { a: { t1: '35', t2: '16', c1: '8' }, b: { t1: '30', t2: '15', c1: '7' }, c: { t1: '28', t2: '14', c1: '9' } };
const PASSWORD = 'pj-2026';

/** pdf returns a small one-page PDF whose page reads text (ASCII). */
function pdf(text) {
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    null,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  const stream = `BT /F1 28 Tf 72 760 Td (${text}) Tj ET\nBT /F1 14 Tf 72 720 Td (Technical proposal, schedule, quality and safety plan.) Tj ET`;
  objs[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  let out = '%PDF-1.4\n';
  const offsets = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the evaluation room in Chromium', { timeout: 600_000 }, () => {
  const h = openingHarness('eval');
  let browser;
  const errors = [];
  const pages = {}; // name -> {ctx, page}
  const downloads = [];
  let members = []; // the committee in seat order (expert ids)
  let reserves = [];
  let web = []; // the three members driven through their pages
  let rest = []; // the two driven over REST
  const tokens = {};
  let n = 0;

  const key = (id) => path.join(h.tmp, `${id}.key.pem`);
  const nameOf = (id) => EXPERTS.find((x) => x.id === id)?.name || id;

  /** cmd sends a room command over REST and asserts it was taken. */
  async function cmd(room, tok, type, data) {
    n++;
    return h.api('POST', `/api/v1/sessions/${room}/commands`, { id: `e2e-${type}-${n}`, type, data }, tok);
  }

  async function view(tok) {
    return (await h.api('GET', `/api/v1/sessions/${EVAL}`, undefined, tok)).state;
  }

  async function open(name, tok, viewport = DESKTOP, { refused = false } = {}) {
    // A refused page logs the refused handshake and REST call: expected there.
    const { ctx, page } = await newPage(browser, viewport, refused ? [] : errors, { permissions: ['camera', 'microphone'] });
    ctx.setDefaultTimeout(20_000);
    page.on('download', (d) => downloads.push(`${name}: ${d.suggestedFilename()}`));
    await page.goto(`${h.server.base}/eval.html#${new URLSearchParams({ room: EVAL, token: tok })}`);
    pages[name] = { ctx, page };
    return page;
  }
  const P = (name) => pages[name].page;
  const shot = async (page, name, fullPage = false) => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(artifacts, `eval-${name}.png`), fullPage });
  };
  const phase = (page, p) => byId(page, 'phase').and(page.locator(`[data-phase="${p}"]`)).waitFor();
  /** noSideways asserts the page does not scroll sideways. */
  const noSideways = async (page, what) => {
    const [sw, w, wide] = await page.evaluate(() => {
      const w = window.innerWidth;
      // The outermost elements reaching past the right edge, to say what is too wide.
      const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1
        && !(e.parentElement && e.parentElement.getBoundingClientRect().right > w + 1))
        .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className}[${e.dataset.testid || ''}] ${Math.round(e.getBoundingClientRect().right)}`);
      return [document.documentElement.scrollWidth, w, wide];
    });
    assert.ok(sw <= w, `${what}: the page scrolls sideways (${sw} > ${w}): ${wide.join('; ')}`);
  };

  before(async () => {
    await h.setUp();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...LAUNCH_ARGS, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    });
    await Promise.all([...BIDDERS.map((b) => b.id), ...EXPERTS.map((x) => x.id)].map((id) => h.tool(['keygen', '--out', path.join(h.tmp, id)])));
    for (const b of BIDDERS) {
      const body = b.file === 'pdf' ? pdf(`Bid of ${b.id.toUpperCase()} - ${b.price} yuan`) : '投标文件（文本）\n第一章 施工组织设计\n'.repeat(40);
      await writeFile(path.join(h.tmp, `bid-${b.id}.${b.file}`), body);
      await writeFile(path.join(h.tmp, `sheet-${b.id}.json`), JSON.stringify({ price: b.price, duration: '365天' }));
    }
  }, { timeout: 300_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await h.tearDown();
  });

  it('a finished opening: three bids sealed, unlocked and confirmed, the record signed', { timeout: 120_000 }, async () => {
    const { now, deadline } = await h.deadlineIn(LEAD_MS);
    const bidders = [];
    for (const b of BIDDERS) bidders.push({ id: b.id, name: b.name, public_key: await readFile(path.join(h.tmp, `${b.id}.pub.pem`), 'utf8') });
    await h.api('POST', '/api/v1/sessions', {
      id: OPENING, title: '城东污水处理厂提标改造工程施工', section: 'CD-2026-017', category: 'construction',
      deadline: deadline.toISOString(), check_in_at: now, control_price: '12800000.00', bidders,
    });
    const host = await h.token(OPENING, 'host', 'h1', '主持人');
    tokens.host = host;
    for (const b of BIDDERS) {
      tokens[b.id] = await h.token(OPENING, 'bidder', b.id, b.name);
      await writeFile(path.join(h.tmp, `${b.id}.token`), tokens[b.id]);
      const sealed = path.join(h.tmp, `${b.id}.sealed`);
      await h.tool(['seal', '--in', path.join(h.tmp, `bid-${b.id}.${b.file}`), '--sheet', path.join(h.tmp, `sheet-${b.id}.json`), '--key', key(b.id),
        '--session', OPENING, '--bidder', b.id, '--out', sealed, '--quiet']);
      await h.tool(['submit', '--server', h.server.base, '--session', OPENING, '--token-file', path.join(h.tmp, `${b.id}.token`), '--in', sealed, '--quiet']);
    }
    await eventually(async () => assert.equal((await h.api('GET', `/api/v1/sessions/${OPENING}`, undefined, host)).state.phase, 'opened'), LEAD_MS + 15_000);
    await cmd(OPENING, host, 'start_decryption');
    for (const b of BIDDERS) {
      await h.tool(['unlock', '--server', h.server.base, '--session', OPENING, '--token-file', path.join(h.tmp, `${b.id}.token`), '--key', key(b.id)]);
    }
    await cmd(OPENING, host, 'close_decryption');
    await cmd(OPENING, host, 'start_read_out');
    await cmd(OPENING, host, 'start_confirmation');
    for (const b of BIDDERS) {
      const ch = await h.api('GET', `/api/v1/sessions/${OPENING}/confirm/challenge`, undefined, tokens[b.id]);
      await h.api('POST', `/api/v1/sessions/${OPENING}/confirm`, { signature: await h.sm2(key(b.id), ch.message) }, tokens[b.id]);
    }
    await cmd(OPENING, host, 'close_confirmation');
    await h.api('POST', `/api/v1/sessions/${OPENING}/record`, undefined, host);
  });

  it('a pool, an evaluation of the opening, its committee drawn; the admin starts it from the page', { timeout: 60_000 }, async () => {
    const experts = [];
    for (const x of EXPERTS) {
      experts.push({ id: x.id, name: x.name, employer: `${x.name}所在设计院`, specialties: ['A01'], center: x.center,
        public_key: await readFile(path.join(h.tmp, `${x.id}.pub.pem`), 'utf8') });
    }
    await h.api('POST', '/api/v1/pool/experts', { experts });
    // The server's demo has experts of its own in the pool: listed as related, they are never drawn here.
    const pool = (await h.api('GET', '/api/v1/sessions/expert-pool')).state;
    const others = pool.experts.map((x) => x.id).filter((id) => !EXPERTS.some((x) => x.id === id));
    await h.api('POST', '/api/v1/evaluations', {
      id: EVAL, opening: OPENING, tenderer: '城东水务集团', size: 5, related: others, venue: '市公共资源交易中心',
      quotas: [{ specialty: 'A01', count: 5, reserves: 2 }], criteria: CRITERIA,
    });
    const { draw } = await h.api('POST', `/api/v1/evaluations/${EVAL}/draw`);
    members = draw.drawn.filter((s) => !s.reserve).map((s) => s.expert);
    reserves = draw.drawn.filter((s) => s.reserve).map((s) => s.expert);
    assert.equal(members.length, 5);
    web = members.slice(0, 3);
    rest = members.slice(3);
    // Members talk in the call (publish and view), the supervisor watches it.
    const mint = async (role, sub, name, grants) => (await h.api('POST', '/api/v1/tokens', { room: EVAL, role, sub, name, grants, ttl: '1h' })).token;
    for (const id of members) tokens[id] = await mint('expert', id, nameOf(id), ['publish', 'view']);
    tokens.sup = await mint('supervisor', 's1', '行政监督 周敏', ['view']);
    tokens.admin = await h.token(EVAL, 'admin', 'adm', '交易中心管理员');

    // A member cannot enter before the start; the admin sees the formation and starts it.
    const early = await open('early', tokens[members[0]], DESKTOP, { refused: true });
    await byId(early, 'room-error').waitFor();
    assert.match(await byId(early, 'room-error').textContent(), /评标室只对本次评标委员会成员/);
    await pages.early.ctx.close();

    const admin = await open('admin', tokens.admin);
    await waitLive(admin);
    await phase(admin, 'formed');
    await eventually(async () => assert.equal(await admin.locator('[data-testid="member-row"]').count(), 5));
    assert.equal(await byId(admin, 'draw-list').locator('li').count(), 7, 'the admin sees the draw record, reserves included');
    await byId(admin, 'start-evaluation').click();
    await phase(admin, 'started');
    for (const id of ['bids', 'scoring', 'tally', 'report', 'clarify', 'call', 'declare', 'chair-card']) {
      assert.equal(await byId(admin, id).isVisible(), false, `the admin sees ${id}`);
    }
    assert.equal(await admin.locator('[data-testid="declared-tag"]').count(), 0, 'the admin follows the formation only');
    await shot(admin, 'admin-1366x768');
  });

  it('a bidder and a host are refused the page in words; a member at room.html goes to eval.html', { timeout: 60_000 }, async () => {
    for (const [who, role, sub] of [['bidder', 'bidder', 'a'], ['host', 'host', 'h1']]) {
      const tok = await h.token(EVAL, role, sub, who);
      const page = await open(who, tok, DESKTOP, { refused: true });
      await byId(page, 'room-error').waitFor();
      const text = await byId(page, 'room-error').textContent();
      assert.match(text, /评标室只对本次评标委员会成员（评标开始后）和监督人开放，投标人、主持人和其他人员不能进入/, `${who}: ${text}`);
      for (const x of EXPERTS) assert.ok(!text.includes(x.name), `${who}'s refusal names ${x.name}`);
      assert.equal(await byId(page, 'eval-grid').isVisible(), false);
      assert.equal(await byId(page, 'conn-status').getAttribute('data-state'), 'error');
      await pages[who].ctx.close();
    }
    // The opening's own token for the bid documents: refused.
    const r = await fetch(`${h.server.base}/api/v1/evaluations/${EVAL}/documents/a`, { headers: { Authorization: `Bearer ${tokens.a}` } });
    assert.equal(r.status, 403);

    const { ctx, page } = await newPage(browser, DESKTOP, errors);
    await page.goto(`${h.server.base}/room.html#${new URLSearchParams({ room: EVAL, token: tokens[web[0]] })}`);
    await page.waitForURL(/\/eval\.html#/);
    await waitLive(page);
    await ctx.close();
  });

  it('members declare in the page (key file, a password) and over REST; they elect the chair, who opens the scoring', { timeout: 120_000 }, async () => {
    const [m1, m2, m3] = web;
    for (const id of web) {
      await open(id, tokens[id]);
      await waitLive(P(id));
      await phase(P(id), 'convened');
    }
    const sup = await open('sup', tokens.sup);
    await waitLive(sup);
    await byId(P(m1), 'declare').waitFor();
    assert.equal(await P(m1).locator('[data-testid="member-row"]').count(), 5, 'names appear once started');
    await shot(P(m1), 'declare-1366x768');

    // No file; then another member's key: refused in words.
    await byId(P(m1), 'declare-sign').click();
    assert.equal(await byId(P(m1), 'declare-msg').textContent(), '请先选择您的私钥文件。');
    await byId(P(m1), 'declare-key').setInputFiles(key(m2));
    await byId(P(m1), 'declare-sign').click();
    await eventually(async () => assert.match(await byId(P(m1), 'declare-msg').textContent(), /签名与您在专家库登记的公钥不符/), 10_000);
    // The page's signer signs nothing but this room's texts.
    const pem = await readFile(key(m1), 'utf8');
    const refused = await P(m1).evaluate(([k, room]) => [
      globalThis.bidroomEvalSign(k, '', `bidroom sign-in\nsession: ${room}\nbidder: x\nnonce: 00\ntime: 2026-01-01T00:00:00Z\n`, room).code,
      globalThis.bidroomEvalSign(k, '', `bidroom-declaration-v1\nother-room\nx1\nno-conflict\n`, room).code,
      typeof globalThis.bidroomEvalSign(k, '', `bidroom-declaration-v1\n${room}\nx1\nno-conflict\n`, room).signature,
    ], [pem, EVAL]);
    assert.deepEqual(refused, ['bad_challenge', 'bad_challenge', 'string']);

    await byId(P(m1), 'declare-key').setInputFiles(key(m1));
    await byId(P(m1), 'declare-sign').click();
    await byId(P(m1), 'declare').waitFor({ state: 'hidden' });

    // m2's key is protected by a password (OpenSSL's PKCS#8): a wrong one is refused in words.
    const enc = path.join(h.tmp, `${m2}.enc.pem`);
    await run('openssl', ['pkcs8', '-topk8', '-in', key(m2), '-out', enc, '-passout', `pass:${PASSWORD}`, '-v2', 'aes-256-cbc']);
    await byId(P(m2), 'declare-key').setInputFiles(enc);
    await byId(P(m2), 'declare-password').fill('wrong');
    await byId(P(m2), 'declare-sign').click();
    await eventually(async () => assert.equal(await byId(P(m2), 'declare-msg').textContent(), '私钥密码不正确（或该私钥需要密码）。'));
    await byId(P(m2), 'declare-password').fill(PASSWORD);
    await byId(P(m2), 'declare-sign').click();
    await byId(P(m2), 'declare').waitFor({ state: 'hidden' });
    await byId(P(m3), 'declare-key').setInputFiles(key(m3));
    await byId(P(m3), 'declare-sign').click();
    await byId(P(m3), 'declare').waitFor({ state: 'hidden' });

    // Three votes for m1: elected.
    for (const id of web) {
      await P(id).locator(`[data-testid="vote"][data-candidate="${m1}"]`).click();
    }
    await byId(P(m1), 'open-scoring').waitFor();
    assert.equal(await byId(P(m1), 'you-chair').isVisible(), true);
    assert.match(await byId(P(m2), 'chair-hint').textContent(), new RegExp(`主任委员：${nameOf(m1)}`));
    assert.equal(await byId(P(m2), 'open-scoring-box').isVisible(), false, 'only the chair opens the scoring');
    // Two members have not declared: the server refuses, in words naming them.
    await byId(P(m1), 'open-scoring').click();
    await eventually(async () => {
      const text = await byId(P(m1), 'feedback').textContent();
      assert.match(text, /开始评分失败：须全体成员完成回避声明后才能开始评分；尚未声明：/);
      for (const id of rest) assert.ok(text.includes(nameOf(id)), text);
    });
    for (const id of rest) {
      await cmd(EVAL, tokens[id], 'declare', { conflict: false, signature: await h.sm2(key(id), `bidroom-declaration-v1\n${EVAL}\n${id}\nno-conflict\n`) });
    }
    await eventually(async () => assert.equal(await P(m1).locator('[data-testid="declared-tag"]', { hasText: '已声明' }).count(), 5));
    await shot(sup, 'supervisor-convened-1366x768');
    await byId(P(m1), 'open-scoring').click();
    for (const id of web) await phase(P(id), 'scoring');
    await phase(sup, 'scoring');
  });

  it('the PDF bid document is shown in the page, the text one too, nothing downloaded', { timeout: 60_000 }, async () => {
    const page = P(web[1]);
    await page.locator('[data-testid="doc-open"][data-bidder="a"]').click();
    await page.waitForFunction(() => window.__bidroomEval.doc?.state === 'shown');
    const frame = byId(page, 'doc-frame');
    const src = await frame.getAttribute('src');
    assert.match(src, /^blob:/);
    // The blob the frame shows (the page's CSP lets no fetch read it back).
    const seen = await page.evaluate(async () => {
      const { blob, url } = window.__bidroomEval.doc;
      const head = new TextDecoder().decode(await blob.slice(0, 5).arrayBuffer());
      return { type: blob.type, head, same: url === document.querySelector('[data-testid="doc-frame"]').src };
    });
    assert.deepEqual(seen, { type: 'application/pdf', head: '%PDF-', same: true });
    // The frame holds the PDF as a document of its own (Chromium's viewer), not a download.
    await eventually(async () => {
      const type = await page.evaluate(() => document.querySelector('[data-testid="doc-frame"]').contentDocument?.contentType);
      assert.equal(type, 'application/pdf');
    }, 10_000);
    await sleep(1500); // the viewer draws the page
    assert.match(await byId(page, 'doc-meta').textContent(), /^PDF · /);
    await byId(page, 'doc-viewer').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(artifacts, 'eval-document-1366x768.png') });

    await page.locator('[data-testid="doc-open"][data-bidder="b"]').click();
    await page.waitForFunction(() => window.__bidroomEval.doc?.bidder === 'b' && window.__bidroomEval.doc.state === 'shown');
    assert.equal(await page.evaluate(() => window.__bidroomEval.doc.type), 'text/plain;charset=utf-8');
    await eventually(async () => {
      const text = await page.evaluate(() => document.querySelector('[data-testid="doc-frame"]').contentDocument?.body?.innerText || '');
      assert.match(text, /第一章 施工组织设计/);
    });
    await byId(page, 'doc-close').click();
    assert.equal(await byId(page, 'doc-viewer').isVisible(), false);
    assert.deepEqual(downloads, [], 'a download happened');
  });

  /** fill enters a member's sheets: every check passed, SCORES with the member's own changes. */
  async function fill(page, changes = {}) {
    for (const b of BIDDERS) {
      const form = page.locator(`[data-testid="sheet-form"][data-bidder="${b.id}"]`);
      for (const c of CRITERIA.checks) await form.locator(`[data-testid="check-pass"][data-check="${c.id}"]`).check();
      for (const [item, v] of Object.entries({ ...SCORES[b.id], ...(changes[b.id] || {}) })) {
        await form.locator(`[data-testid="score-input"][data-item="${item}"]`).fill(v);
      }
    }
  }

  /** sheetsOf is what a REST member signs: SCORES, every check passed. */
  function sheetsOf() {
    return JSON.stringify(BIDDERS.map((b) => ({ bidder: b.id, checks: { q1: { pass: true }, q2: { pass: true } }, scores: SCORES[b.id] })));
  }

  it('score sheets: checked in the page naming the item, signed; the chair sends an outlier back; fixed and signed again', { timeout: 120_000 }, async () => {
    const [m1, m2, m3] = web;
    const sup = P('sup');
    for (const id of rest) {
      const text = sheetsOf();
      await cmd(EVAL, tokens[id], 'submit_sheets', { sheets: text, signature: await h.sm2(key(id), `bidroom-score-sheets-v1\n${EVAL}\n${id}\n${text}`) });
    }
    // m2: a score over the range and a fail without its reason, named in words.
    const p2 = P(m2);
    await fill(p2, { a: { t1: '45' } });
    await p2.locator('[data-testid="sheet-form"][data-bidder="c"] [data-testid="check-fail"][data-check="q2"]').check();
    await byId(p2, 'sheets-key').setInputFiles(path.join(h.tmp, `${m2}.enc.pem`));
    await byId(p2, 'sheets-password').fill(PASSWORD);
    await byId(p2, 'sheets-sign').click();
    const problems = await p2.locator('[data-testid="sheets-problem"]').allTextContents();
    assert.deepEqual(problems, [
      `${BIDDERS[0].name} · 施工组织设计（t1）：45 分超出 0–40 分`,
      `${BIDDERS[2].name} · 投标保证金（q2）：不通过须写明理由`,
    ]);
    assert.equal(await byId(p2, 'sheets-msg').textContent(), '评分表有 2 处需要修改，见上方列表。');
    await byId(p2, 'sheets-problems').scrollIntoViewIfNeeded();
    await p2.screenshot({ path: path.join(artifacts, 'eval-sheets-problems-1366x768.png') });
    await p2.locator('[data-testid="sheet-form"][data-bidder="a"] [data-testid="score-input"][data-item="t1"]').fill('36.5');
    await p2.locator('[data-testid="sheet-form"][data-bidder="c"] [data-testid="check-pass"][data-check="q2"]').check();
    await byId(p2, 'sheets-sign').click();
    await byId(p2, 'sheets-status').and(p2.locator(':text-matches("已签名提交")')).waitFor();
    assert.equal(await byId(p2, 'sheets-form').isVisible(), false);

    // m3 scores a's technical plan far below the others: an outlier.
    await fill(P(m3), { a: { t1: '12' } });
    await byId(P(m3), 'sheets-key').setInputFiles(key(m3));
    await byId(P(m3), 'sheets-sign').click();
    await byId(P(m3), 'sheets-status').and(P(m3).locator(':text-matches("已签名提交")')).waitFor();
    // The chair fills in on a phone-sized window: nothing scrolls sideways.
    await P(m1).setViewportSize(PHONE);
    await fill(P(m1));
    await noSideways(P(m1), 'the sheets on a phone');
    await shot(P(m1), 'sheets-phone', true);
    await P(m1).setViewportSize(DESKTOP);
    await byId(P(m1), 'sheets-key').setInputFiles(key(m1));
    await byId(P(m1), 'sheets-sign').click();

    for (const page of [P(m1), P(m2), P(m3), sup]) await phase(page, 'tallied');
    const outlier = P(m1).locator(`[data-testid="outlier-row"][data-expert="${m3}"][data-bidder="a"][data-item="t1"]`);
    await outlier.waitFor();
    assert.match(await outlier.textContent(), new RegExp(`${nameOf(m3)} 对 ${BIDDERS[0].name} 的“施工组织设计（t1）”打 12 分`));
    assert.equal(await P(m2).locator('[data-testid="return-outlier"]').count(), 0, 'only the chair sends back');
    await byId(P(m1), 'tally').scrollIntoViewIfNeeded();
    await P(m1).screenshot({ path: path.join(artifacts, 'eval-tally-outlier-1366x768.png') });

    // The chair sends it back with a reason; m3 sees the reason, fixes and signs again.
    await outlier.locator('[data-testid="return-outlier"]').click();
    await byId(P(m1), 'return-send').click();
    assert.equal(await byId(P(m1), 'return-msg').textContent(), '请写明退回理由。');
    const reason = '施工组织设计评分明显偏低，请对照评分细则复核';
    await byId(P(m1), 'return-reason').fill(reason);
    await byId(P(m1), 'return-send').click();
    for (const page of [P(m1), P(m3), sup]) await phase(page, 'scoring');
    const p3 = P(m3);
    await byId(p3, 'sheets-returned').waitFor();
    assert.match(await byId(p3, 'sheets-returned').textContent(), new RegExp(reason));
    const t1 = p3.locator('[data-testid="sheet-form"][data-bidder="a"] [data-testid="score-input"][data-item="t1"]');
    assert.equal(await t1.inputValue(), '12', 'the returned sheet starts from what was signed');
    await shot(p3, 'sheet-returned-1366x768');
    await t1.fill('33');
    await byId(p3, 'sheets-key').setInputFiles(key(m3));
    await byId(p3, 'sheets-sign').click();
    for (const page of [P(m1), P(m2), P(m3), sup]) await phase(page, 'tallied');
    await eventually(async () => assert.equal(await P(m1).locator('[data-testid="outlier-row"]').count(), 0));
    assert.equal(await P(m1).locator('[data-testid="tally-row"]').count(), 3);
    assert.equal(await P(m1).locator('[data-testid="returns-row"]').count(), 1);

    // The supervisor sees every member's sheets, m3's latest among them.
    await eventually(async () => assert.equal(await sup.locator('[data-testid="member-sheets"]').count(), 5));
    const m3Sheets = await sup.locator(`[data-testid="member-sheets"][data-expert="${m3}"] [data-testid="member-sheet-row"][data-bidder="a"]`).textContent();
    assert.match(m3Sheets, /33/);
    const tally = await view(tokens.sup);
    assert.equal(tally.tally.results.length, 3);
    const first = tally.tally.results.find((r) => r.rank === 1);
    const row = await P(m2).locator(`[data-testid="tally-row"][data-bidder="${first.bidder}"] [data-testid="tally-total"]`).textContent();
    assert.equal(row, first.total);
  });

  it('a clarification: the chair asks, every member sees the question, the due time and the answer', { timeout: 60_000 }, async () => {
    const [m1, m2] = web;
    await byId(P(m1), 'clar-bidder').selectOption('b');
    await byId(P(m1), 'clar-question').fill('请说明投标报价中措施费的计取依据。');
    await byId(P(m1), 'clar-minutes').fill('5');
    await byId(P(m1), 'clar-ask').click();
    assert.equal(await byId(P(m1), 'clar-msg').textContent(), '答复期限须为 10 至 10080 分钟的整数。');
    await byId(P(m1), 'clar-minutes').fill('30');
    await byId(P(m1), 'clar-ask').click();
    for (const page of [P(m2), P('sup')]) {
      await page.locator('[data-testid="clar-row"][data-state="waiting"]').waitFor();
      assert.match(await page.locator('[data-testid="clar-due"]').textContent(), /答复截止 .*（北京时间） 还剩 00:(29|30):\d\d/);
    }
    assert.equal(await byId(P(m2), 'clar-form').isVisible(), false, 'only the chair asks');
    const { clarifications } = await h.api('GET', `/api/v1/sessions/${OPENING}/clarifications`, undefined, tokens.b);
    assert.equal(clarifications.length, 1);
    await h.api('POST', `/api/v1/sessions/${OPENING}/clarifications/${EVAL}/${clarifications[0].id}`, { answer: '措施费按省定额计取，详见投标文件第三章。' }, tokens.b);
    for (const page of [P(m1), P(m2), P('sup')]) {
      await page.locator('[data-testid="clar-row"][data-state="answered"] [data-testid="clar-answer"]', { hasText: '措施费按省定额计取' }).waitFor();
    }
  });

  it('the report: signed in the pages (one dissent) and over REST; the platform signs at the supervisor\'s request', { timeout: 90_000 }, async () => {
    const [m1, m2, m3] = web;
    const sup = P('sup');
    await byId(P(m1), 'report-form').waitFor();
    const candidates = await P(m1).locator('[data-testid="candidate-row"]').count();
    assert.ok(candidates >= 1 && candidates <= 3, `${candidates} candidates`);
    await shot(P(m1), 'report-1366x768');
    for (const id of [m1, m2]) {
      await byId(P(id), 'report-key').setInputFiles(id === m2 ? path.join(h.tmp, `${m2}.enc.pem`) : key(id));
      if (id === m2) await byId(P(id), 'report-password').fill(PASSWORD);
      await byId(P(id), 'report-sign').click();
      await byId(P(id), 'report-form').waitFor({ state: 'hidden' });
    }
    // Once anyone signed, the chair can no longer send a sheet back.
    assert.equal(await byId(P(m1), 'return-open-box').isVisible(), false);
    const dissent = '本人认为第二名的施工组织设计存在重大缺陷，对排序持保留意见。';
    await byId(P(m3), 'report-dissent').fill(dissent);
    await byId(P(m3), 'report-key').setInputFiles(key(m3));
    await byId(P(m3), 'report-sign').click();
    await byId(P(m3), 'report-form').waitFor({ state: 'hidden' });
    const digest = (await view(tokens[rest[0]])).report_digest;
    for (const id of rest) {
      await cmd(EVAL, tokens[id], 'sign_report', { digest, dissent: '', signature: await h.sm2(key(id), `bidroom-evaluation-report-v1\n${EVAL}\n${id}\n${digest}\n`) });
    }
    for (const page of [P(m1), P(m2), P(m3), sup]) await phase(page, 'reported');
    await byId(sup, 'platform-sign').click();
    for (const page of [sup, P(m1)]) {
      await byId(page, 'platform-sig').and(page.locator('[data-signed="true"]')).waitFor();
    }
    const text = await sup.locator(`[data-testid="report-sig-row"][data-expert="${m3}"]`).textContent();
    assert.ok(text.includes(dissent), text);
    assert.equal(await sup.locator('[data-testid="report-sig-row"][data-signed="true"]').count(), 5);
  });

  it('conduct: a supervisor rates a member poor after a refused note-less try, notes a violation, and sees both reach the pool; members see only their own', { timeout: 90_000 }, async () => {
    const [m1, m2, m3] = web;
    const sup = P('sup');
    await byId(sup, 'rate-box').waitFor();
    const row = (page, id) => page.locator(`[data-testid="rate-row"][data-expert="${id}"]`);
    assert.equal(await sup.locator('[data-testid="rate-row"]').count(), 5, 'every member can be rated');
    assert.equal(await byId(P(m1), 'rate-box').isVisible(), false, 'members do not rate');
    assert.equal(await byId(P(m1), 'violation-form').isVisible(), false);

    // Poor without a note: refused in words, by the page and by the server.
    await row(sup, m2).locator('[data-testid="rate-conduct"]').selectOption('poor');
    await row(sup, m2).locator('[data-testid="rate-save"]').click();
    assert.equal(await row(sup, m2).locator('[data-testid="rate-msg"]').textContent(), '评价为“差”须写明理由。');
    await sup.evaluate((x) => window.__bidroomEval.socket.command('rate_expert', { expert: x, conduct: 'poor' }, 'eval.cmd.rate'), m2);
    await eventually(async () => assert.match(await byId(sup, 'feedback').textContent(), /^履职评价失败：评价为“差”须写明理由（note \(why the conduct was poor\) is required）$/));
    const poor = '评标过程中多次离席接听电话，影响评标进度。';
    await row(sup, m2).locator('[data-testid="rate-note"]').fill(poor);
    await row(sup, m2).locator('[data-testid="rate-save"]').click();
    await eventually(async () => assert.equal(await row(sup, m2).getAttribute('data-conduct'), 'poor'));
    // A second rating replaces the first.
    for (const c of ['good', 'fair']) {
      await row(sup, m1).locator('[data-testid="rate-conduct"]').selectOption(c);
      await row(sup, m1).locator('[data-testid="rate-save"]').click();
      await eventually(async () => assert.equal(await row(sup, m1).getAttribute('data-conduct'), c));
    }
    await eventually(async () => {
      const rows = await sup.locator('[data-testid="rating-row"]').evaluateAll((es) => es.map((e) => [e.dataset.expert, e.dataset.conduct, e.dataset.pool]));
      assert.deepEqual(rows, [[m2, 'poor', 'applied'], [m1, 'fair', 'none']], 'the latest rating per member; the poor one reached the pool');
    }, 10_000);
    assert.match(await sup.locator(`[data-testid="rating-row"][data-expert="${m2}"] [data-testid="rating-pool"]`).textContent(), /已计入专家库：信用分 -5/);

    // A violation, after a confirmation that says what it does to the pool.
    await byId(sup, 'violation-expert').selectOption(m3);
    await byId(sup, 'violation-points').fill('10');
    await byId(sup, 'violation-days').fill('30');
    await byId(sup, 'violation-send').click();
    assert.equal(await byId(sup, 'violation-msg').textContent(), '请写明违规事实。');
    const fact = '评标期间私下与投标人代表通话，经查属实。';
    await byId(sup, 'violation-reason').fill(fact);
    await byId(sup, 'violation-send').click();
    await byId(sup, 'confirm-dialog').waitFor();
    const confirm = await byId(sup, 'confirm-text').textContent();
    for (const want of [`${nameOf(m3)} 在专家库中的信用分扣减 10 分`, '暂停其评标资格 30 天', '在之后的专家抽取中生效']) assert.ok(confirm.includes(want), confirm);
    assert.match(confirm, /（至 \d{4}\/\d{2}\/\d{2} 左右）/, 'the suspension ends on a date');
    await sup.screenshot({ path: path.join(artifacts, 'eval-violation-confirm-1366x768.png') });
    await byId(sup, 'confirm-ok').click();
    await eventually(async () => assert.equal(await sup.locator(`[data-testid="violation-row"][data-expert="${m3}"]`).getAttribute('data-pool'), 'applied'), 10_000);
    assert.match(await sup.locator('[data-testid="violation-pool"]').textContent(), /已计入专家库：信用分 -10；暂停评标资格至 /);
    const pool = (await h.api('GET', '/api/v1/sessions/expert-pool')).state.experts;
    const inPool = (id) => pool.find((x) => x.id === id);
    assert.equal(inPool(m2).credit, 95, 'the poor rating cost 5 points');
    assert.equal(inPool(m3).credit, 90);
    assert.ok(Date.parse(inPool(m3).suspended_until) > Date.now() + 29 * 86400_000, inPool(m3).suspended_until);
    assert.equal(await byId(sup, 'sanctions-pending').isVisible(), false);

    // Each member sees what concerns them and nothing about the others, as the view gives it.
    await eventually(async () => assert.equal(await P(m2).locator('[data-testid="rating-row"]').count(), 1));
    assert.equal(await P(m2).locator(`[data-testid="rating-row"][data-expert="${m2}"]`).getAttribute('data-conduct'), 'poor');
    await P(m3).locator(`[data-testid="violation-row"][data-expert="${m3}"]`).waitFor();
    await P(m1).locator(`[data-testid="rating-row"][data-expert="${m1}"][data-conduct="fair"]`).waitFor();
    for (const id of web) {
      const page = P(id);
      const experts = await page.locator('[data-testid="rating-row"], [data-testid="violation-row"]').evaluateAll((es) => es.map((e) => e.dataset.expert));
      assert.deepEqual([...new Set(experts)], [id], `${id}'s page shows another member's record`);
      const text = await page.locator('body').textContent();
      if (id !== m2) assert.ok(!text.includes(poor), `${id}'s page shows ${m2}'s rating`);
      if (id !== m3) assert.ok(!text.includes(fact), `${id}'s page shows ${m3}'s violation`);
      const { results } = await view(tokens[id]);
      assert.deepEqual([...new Set([...(results?.ratings || []), ...(results?.violations || [])].map((x) => x.expert))], [id], `${id}'s view`);
      assert.equal(results.sanctions, undefined, 'what reached the pool is for supervisors');
    }
    await byId(P(m2), 'conduct').scrollIntoViewIfNeeded();
    await P(m2).screenshot({ path: path.join(artifacts, 'eval-member-conduct-1366x768.png') });
  });

  it('the results: the candidates\' publicity on the server\'s clock, an objection and its answer, on every page that may see them', { timeout: 60_000 }, async () => {
    const [m1] = web;
    const sup = P('sup');
    const admin = P('admin');
    const note = '公示期间对评标结果有异议的，投标人可在开标页面提出。';
    await cmd(EVAL, h.adminKey, 'publish_candidates', { days: 3, note });
    for (const page of [P(m1), sup, admin]) {
      await phase(page, 'publicity');
      await byId(page, 'results').waitFor();
      assert.equal(await byId(page, 'publicity-period').getAttribute('data-state'), 'running');
      assert.match(await byId(page, 'publicity-period').textContent(), /^公示期 3 天：.* 至 .*（北京时间，以服务器时间为准），还剩 (2 天 23:5\d:\d\d|3 天 00:00:00)。/);
    }
    const { publicity } = await view(tokens.sup).then((v) => v.results);
    assert.deepEqual(await P(m1).locator('[data-testid="publicity-row"]').evaluateAll((es) => es.map((e) => e.dataset.bidder)),
      publicity.candidates.map((c) => c.bidder));
    assert.equal(await P(m1).locator('[data-testid="eval-step"][data-state="current"]').getAttribute('data-phase'), 'publicity');
    assert.equal(await admin.locator('[data-testid="eval-step"][data-state="unknown"]').count(), 0, 'the admin follows the results again');
    assert.equal(await byId(admin, 'conduct').isVisible(), false, 'the admin sees no conduct records');

    const objection = '第一中标候选人的项目经理同时担任其他在建项目的项目经理，请核实。';
    const r = await fetch(`${h.server.base}/api/v1/sessions/${OPENING}/results/${EVAL}/objections`, {
      method: 'POST', headers: { Authorization: `Bearer ${tokens.b}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ text: objection }),
    });
    assert.equal(r.status, 201);
    const { objection: raised } = await r.json();
    for (const page of [P(m1), sup, admin]) {
      await page.locator(`[data-testid="result-objection"][data-id="${raised.id}"][data-state="waiting"]`).waitFor();
      assert.equal(await page.locator('[data-testid="result-objection-text"]').textContent(), objection);
    }
    assert.match(await byId(sup, 'notices-state').textContent(), /公示结束、全部异议答复后/);
    const answer = '经核实，该项目经理的在建项目已于上月竣工验收，异议不成立。';
    await cmd(EVAL, h.adminKey, 'answer_result_objection', { id: raised.id, answer });
    for (const page of [P(m1), sup, admin]) {
      await page.locator(`[data-testid="result-objection"][data-id="${raised.id}"][data-answered="true"] [data-testid="result-objection-answer"]`, { hasText: answer }).waitFor();
    }
    await byId(sup, 'results').scrollIntoViewIfNeeded();
    await sup.screenshot({ path: path.join(artifacts, 'eval-results-supervisor-1366x768.png') });
    await shot(sup, 'supervisor-results-full', true);
    await sup.setViewportSize(PHONE);
    await noSideways(sup, 'the results and conduct on a phone');
    await sup.setViewportSize(DESKTOP);
  });

  it('every page\'s folded state equals a fresh snapshot', { timeout: 60_000 }, async () => {
    for (const name of [...web, 'sup']) {
      const page = P(name);
      const diff = await page.evaluate(async ([room, tok]) => {
        const { fromSnapshot } = await import('/state.js');
        const r = await fetch(`/api/v1/sessions/${room}`, { headers: { Authorization: `Bearer ${tok}` } });
        const fresh = fromSnapshot((await r.json()).state);
        const held = window.__bidroomEval.state;
        const out = [];
        for (const k of Object.keys(fresh)) {
          if (JSON.stringify(fresh[k]) !== JSON.stringify(held[k])) out.push(`${k}: held ${JSON.stringify(held[k])?.slice(0, 300)} fresh ${JSON.stringify(fresh[k])?.slice(0, 300)}`);
        }
        return out;
      }, [EVAL, name === 'sup' ? tokens.sup : tokens[name]]);
      assert.deepEqual(diff, [], `${name}'s page folded a state that differs from a snapshot`);
    }
  });

  it('the call: members join, the supervisor watches every venue; screenshots in Chinese and English, desktop and phone', { timeout: 120_000 }, async () => {
    const [m1, m2] = web;
    const sup = P('sup');
    for (const id of [m1, m2]) await byId(P(id), 'call-join').click();
    await sup.waitForFunction((n) => document.querySelectorAll('[data-testid="call-tile"][data-state="live"]').length === n, 2, { timeout: 30_000 });
    const venues = await sup.locator('[data-testid="call-venue"]').evaluateAll((es) => es.map((e) => [e.dataset.venue,
      [...e.querySelectorAll('[data-testid="call-tile"]')].map((t) => t.dataset.feed)]));
    const centerOf = (id) => EXPERTS.find((x) => x.id === id).center;
    for (const [venue, feeds] of venues) for (const f of feeds) assert.equal(centerOf(f), venue, `${f} under ${venue}`);
    const heads = await sup.locator('.call-venue-name').allTextContents();
    for (const [i, [venue]] of venues.entries()) {
      assert.equal(heads[i], venue === '市公共资源交易中心' ? `主会场 · ${venue}` : `分会场 · ${venue}`);
    }
    assert.deepEqual(venues.flatMap(([, f]) => f).sort(), [m1, m2].sort());
    assert.equal(await byId(sup, 'call-controls').isVisible(), false, 'the supervisor watches only');
    await shot(sup, 'supervisor-1366x768', true);
    await shot(P(m1), 'member-1366x768', true);

    await sup.setViewportSize(PHONE);
    await noSideways(sup, 'supervisor on a phone');
    await shot(sup, 'supervisor-phone', true);
    await sup.setViewportSize(DESKTOP);
    // A member's scoring form on a phone: a fresh page in the scoring phase is what a phone shows most.
    await P(m2).setViewportSize(PHONE);
    await noSideways(P(m2), 'member on a phone');
    await shot(P(m2), 'member-phone', true);

    await byId(P(m1), 'lang-en').click();
    assert.equal(await byId(P(m1), 'phase').textContent(), "Candidates' publicity");
    assert.equal(await byId(P(m1), 'report-state').textContent(), 'Every member has signed the report.');
    await noSideways(P(m1), 'member in English');
    await shot(P(m1), 'member-en-1366x768', true);
    for (const id of [m1, m2]) await byId(P(id), 'call-leave').click();
  });

  it('a member who recuses leaves the page; the reserve takes the seat and enters', { timeout: 60_000 }, async () => {
    const room = `${EVAL}-2`;
    const pool = (await h.api('GET', '/api/v1/sessions/expert-pool')).state;
    const others = pool.experts.map((x) => x.id).filter((id) => !EXPERTS.some((x) => x.id === id));
    await h.api('POST', '/api/v1/evaluations', {
      id: room, opening: OPENING, tenderer: '城东水务集团', size: 5, related: others,
      quotas: [{ specialty: 'A01', count: 5, reserves: 1 }], criteria: CRITERIA,
    });
    const { draw } = await h.api('POST', `/api/v1/evaluations/${room}/draw`);
    // The member suspended by the violation noted above is not drawn again.
    assert.equal(draw.excluded?.suspended, 1, JSON.stringify(draw.excluded));
    assert.ok(!draw.drawn.some((s) => s.expert === web[2]), 'a suspended expert was drawn');
    await cmd(room, h.adminKey, 'start_evaluation');
    const [out] = draw.drawn.filter((s) => !s.reserve).map((s) => s.expert);
    const [reserve] = draw.drawn.filter((s) => s.reserve).map((s) => s.expert);
    const tok = (sub) => h.api('POST', '/api/v1/tokens', { room, role: 'expert', sub, name: nameOf(sub), ttl: '1h' }).then((r) => r.token);
    const { ctx, page } = await newPage(browser, DESKTOP, errors);
    await page.goto(`${h.server.base}/eval.html#${new URLSearchParams({ room, token: await tok(out) })}`);
    await byId(page, 'declare').waitFor();
    await byId(page, 'declare-conflict').check();
    await byId(page, 'declare-sign').click();
    assert.equal(await byId(page, 'declare-msg').textContent(), '申请回避须写明理由。');
    const reason = '本人近三年曾在投标人江苏恒达建设工程有限公司任职';
    await byId(page, 'declare-reason').fill(reason);
    await byId(page, 'declare-key').setInputFiles(key(out));
    await byId(page, 'declare-sign').click();
    await byId(page, 'eval-left').waitFor();
    assert.match(await byId(page, 'eval-left-text').textContent(), new RegExp(`您已申请回避（理由：${reason}）`));
    assert.equal(await byId(page, 'eval-grid').isVisible(), false);
    await page.screenshot({ path: path.join(artifacts, 'eval-recused-1366x768.png') });
    await ctx.close();

    const { ctx: rctx, page: rp } = await newPage(browser, DESKTOP, errors);
    await rp.goto(`${h.server.base}/eval.html#${new URLSearchParams({ room, token: await tok(reserve) })}`);
    await byId(rp, 'declare').waitFor();
    await rp.locator('[data-testid="replaced-row"]', { hasText: reason }).waitFor();
    assert.equal(await rp.locator(`[data-testid="member-row"][data-expert="${reserve}"]`).count(), 1);
    assert.equal(await rp.locator(`[data-testid="member-row"][data-expert="${out}"]`).count(), 0);
    await rctx.close();
  });

  it('the notices as the page shows them (frames fed to the supervisor\'s page: the server closes a publicity only after its 3 days)', { timeout: 30_000 }, async () => {
    const sup = P('sup');
    const v = await view(tokens.sup);
    const winner = v.results.publicity.candidates[0].bidder;
    const endsAt = v.results.publicity.ends_at;
    const notices = v.bids.map((b, i) => ({ bidder: b.bidder, kind: b.bidder === winner ? 'award' : 'result', json: '{}', digest: String(i + 1).repeat(64), signature: 'c2ln' }));
    await sup.evaluate(([endsAt, notices]) => {
      const ws = window.__e2eSockets.at(-1);
      let pos = window.__bidroomEval.socket.pos;
      const feed = (type, data, time) => ws.dispatchEvent(new MessageEvent('message', { data: JSON.stringify({ v: 1, type: 'event', pos: ++pos, event: { type, time, data } }) }));
      feed('publicity_closed', { ends_at: endsAt, objections: 1, unanswered: 0 }, endsAt);
      feed('notices_issued', { issued_at: endsAt, key_id: 'ab'.repeat(32), notices }, endsAt);
    }, [endsAt, notices]);
    await phase(sup, 'notified');
    assert.equal(await byId(sup, 'publicity-state').getAttribute('data-state'), 'notified');
    assert.match(await byId(sup, 'publicity-period').textContent(), /已结束：收到异议 1 件，未答复 0 件。/);
    assert.match(await byId(sup, 'notices-state').textContent(), new RegExp(`同时发出 ${notices.length} 份通知书`));
    assert.deepEqual(await sup.locator('[data-testid="notice-row"]').evaluateAll((es) => es.map((e) => [e.dataset.bidder, e.dataset.kind])),
      notices.map((n) => [n.bidder, n.kind]));
    assert.equal(await sup.locator(`[data-testid="notice-row"][data-bidder="${winner}"] .tag`).textContent(), '中标通知书');
    await byId(sup, 'results').scrollIntoViewIfNeeded();
    await sup.screenshot({ path: path.join(artifacts, 'eval-notices-1366x768.png') });
  });

  it('no script errors and no downloads on any page', () => {
    assert.deepEqual(downloads, []);
    assert.deepEqual(errors.map(String), []);
  });
});
