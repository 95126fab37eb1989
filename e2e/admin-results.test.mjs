// The admin's side of an evaluation's results in the pool console
// (web/static/admin-pool.html, its 评标结果 tab, admin-results.js) in a
// real Chromium against a real `bidroom serve`, on the demo's evaluation:
// the committee (three members over REST with OpenSSL signatures,
// lib/demoeval.mjs, as in results.test.mjs; the other two played by the demo)
// scores and signs the report; in the console the admin sees the
// evaluation wait for it, has the platform sign it, is refused a 2-day
// publicity in words by the page (R23: at least 3 days) and publishes 3
// days; a bidder objects over REST; the admin sees the objection (who,
// when, the due time), is told to write an answer before sending it,
// confirms and sends it; and "issue the notices" stays disabled, saying
// why, while the publicity runs. The publicity closes on the server's
// clock, which a browser test cannot move: issuing the notices (and a
// refusal with an objection unanswered after the close) is covered by
// the Go tests in api/evaluation_results_test.go. Reopening an evaluation
// by id, an unknown id refused in words, English at phone width without
// sideways scroll. Screenshots in e2e/artifacts/admin-results-*.png.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { byId, DESKTOP, eventually, launch, newPage, PHONE } from './lib/browser.mjs';
import { demoEvaluation } from './lib/demoeval.mjs';
import { artifacts, openingHarness } from './lib/opening.mjs';

const h = openingHarness('admin-results', { bidtool: false });
// What the page causes on purpose, each said in words: an unknown evaluation id looked up,
// and an answer to an objection the server does not have (both 404).
const EXPECTED_CONSOLE = /Failed to load resource: the server responded with a status of 404/;

describe("the admin's side of an evaluation's results in Chromium", () => {
  let browser;
  let demo;
  let committee; // the demo's evaluation, driven over REST
  const errors = [];
  let page;

  before(async () => {
    await h.setUp();
    browser = await launch();
    demo = await (await fetch(`${h.server.base}/api/v1/demo`)).json();
    committee = demoEvaluation(h, demo, 'admin-results');
    ({ page } = await newPage(browser, DESKTOP, errors));
  });
  after(async () => {
    await browser?.close().catch(() => {});
    await h.tearDown();
  });

  const shot = (p, name) => p.screenshot({ path: path.join(artifacts, `admin-results-${name}.png`), fullPage: true });
  const stage = (p, k) => p.locator(`[data-testid="ar-stage"][data-stage="${k}"]`);
  const unexpected = () => errors.filter((e) => !EXPECTED_CONSOLE.test(e.message));

  /** signIn opens the console at hash and signs in with the admin key. */
  async function signIn(p, hash) {
    await p.goto(`${h.server.base}/admin-pool.html${hash}`);
    await byId(p, 'admin-key').fill(h.adminKey);
    await byId(p, 'admin-signin-submit').click();
    await byId(p, 'ap-tabs').waitFor();
  }

  it('lists the evaluation, reopens it by id and refuses an unknown id in words', async () => {
    const room = demo.evaluation.room;
    await signIn(page, '#evals');
    await byId(page, 'evals-view').waitFor();
    await byId(page, 'eval-row').first().waitFor();
    assert.equal(await page.locator(`[data-testid="eval-row"][data-id="${room}"] [data-testid="eval-results-link"]`).getAttribute('href'), `#results=${room}`);
    await shot(page, 'evals-zh-1366x768');
    // Open an existing evaluation by its id.
    await byId(page, 'evals-open-id').fill(room);
    await byId(page, 'evals-open').click();
    await byId(page, 'eval-view').waitFor();
    await eventually(async () => assert.equal(await byId(page, 'ev-id').textContent(), room));
    // Started already: the link to its results.
    await byId(page, 'ev-results-link').click();
    await byId(page, 'results-view').waitFor();
    await byId(page, 'ar-panel').waitFor();
    assert.equal(await byId(page, 'ar-id').textContent(), room);
    // Before the report: nothing to do but wait.
    assert.equal(await byId(page, 'ar-next').getAttribute('data-step'), 'wait');
    assert.match(await byId(page, 'ar-next-title').textContent(), /等待评标委员会完成评标报告/);
    assert.equal(await stage(page, 'report').getAttribute('data-state'), 'current');
    assert.equal(await byId(page, 'ar-sign').isVisible(), false);
    assert.equal(await byId(page, 'ar-publish-form').isVisible(), false);
    // The picker lists it; an unknown id is said in words.
    assert.ok((await byId(page, 'ar-pick').locator('option').allTextContents()).some((o) => o.startsWith(`${room} · `)));
    await byId(page, 'ar-pick-id').fill('PJ-no-such');
    await byId(page, 'ar-open').click();
    await eventually(async () => assert.equal(await byId(page, 'ar-error').textContent(), '没有编号为 PJ-no-such 的评标项目。'));
    assert.equal(await byId(page, 'ar-panel').isVisible(), false);
    await byId(page, 'ar-pick-id').fill('bad id!');
    await byId(page, 'ar-open').click();
    assert.match(await byId(page, 'ar-error').textContent(), /评标编号只能用字母/);
    // Back to it from the picker.
    await byId(page, 'ar-pick').selectOption(room);
    await page.waitForURL(new RegExp(`#results=${room}$`));
    await byId(page, 'ar-panel').waitFor();
    assert.equal(await byId(page, 'ar-error').isVisible(), false);
  });

  it('signs the report, publishes 3 days after a refused 2, answers an objection; the notices wait for the publicity', { timeout: 180_000 }, async () => {
    const ev = demo.evaluation;
    const room = ev.room;

    // The committee, over REST, up to the report every member signed.
    await committee.drive('reported');

    // The console: the report is complete; the next step is the platform's signature.
    await byId(page, 'ar-refresh').click();
    await eventually(async () => assert.equal(await byId(page, 'ar-next').getAttribute('data-step'), 'sign'));
    assert.equal(await stage(page, 'report').getAttribute('data-state'), 'done');
    assert.equal(await stage(page, 'platform').getAttribute('data-state'), 'current');
    assert.equal(await byId(page, 'ar-publish-form').isVisible(), false, 'publishing is offered before the platform signed');
    await byId(page, 'ar-sign').click();
    await byId(page, 'ar-sig').waitFor();
    assert.equal(await byId(page, 'ar-sig-note').textContent(), '平台已对评标报告签名。');
    assert.match(await byId(page, 'ar-sig-key').textContent(), /^[0-9a-f]{64}$/);
    const signed = await committee.state();
    assert.equal(signed.platform_signature.key_id, await byId(page, 'ar-sig-key').textContent());
    assert.equal(await stage(page, 'platform').getAttribute('data-state'), 'done');

    // Publish: 2 days refused by the page in words, with the law; nothing sent.
    assert.equal(await byId(page, 'ar-next').getAttribute('data-step'), 'publish');
    assert.match(await byId(page, 'ar-law').textContent(), /第五十四条.*公示期不得少于 3 日/);
    const commands = [];
    page.on('request', (r) => r.url().endsWith(`/sessions/${room}/commands`) && commands.push(r.postData()));
    await byId(page, 'ar-days').fill('2');
    await byId(page, 'ar-publish').click();
    assert.equal(await byId(page, 'ar-publish-form').locator('[data-testid="field-error"]').textContent(),
      '公示期不得少于 3 日（《招标投标法实施条例》第五十四条）：请填写 3 到 30 之间的整数。');
    assert.equal(await byId(page, 'ar-publish-confirm').isVisible(), false);
    assert.deepEqual(commands, []);
    await shot(page, 'publish-zh-1366x768');
    await byId(page, 'ar-days').fill('3');
    const note = '公示期间对评标结果有异议的，请在开标页面提出。';
    await byId(page, 'ar-note').fill(note);
    await byId(page, 'ar-publish').click();
    await byId(page, 'ar-publish-confirm').waitFor();
    assert.match(await byId(page, 'ar-publish-confirm-text').textContent(), /公示 3 天.*不能撤回/);
    assert.deepEqual(commands, [], 'published before the confirmation');
    await byId(page, 'ar-publish-ok').click();
    await eventually(async () => assert.equal(await byId(page, 'ar-next').getAttribute('data-step'), 'publicity'));
    assert.equal(commands.length, 1);
    assert.deepEqual(JSON.parse(commands[0]).data, { days: 3, note });
    const pub = (await (await fetch(`${h.server.base}/api/v1/evaluations/${room}/publicity`)).json()).publicity;
    assert.equal(pub.days, 3);
    assert.equal(Date.parse(pub.ends_at) - Date.parse(pub.starts_at), 3 * 86400e3);
    assert.equal(await byId(page, 'ar-candidate').count(), pub.candidates.length);
    assert.deepEqual(await byId(page, 'ar-candidate').evaluateAll((rows) => rows.map((r) => r.dataset.bidder)), pub.candidates.map((c) => c.bidder));
    assert.equal(await byId(page, 'ar-pub-state').getAttribute('data-state'), 'running');
    assert.equal(await byId(page, 'ar-pub-note').textContent(), note);
    // The page's clock is the server's as one /api/v1/time round trip learnt it, so a
    // just-started 3 days can read as 3 days 0 minutes.
    assert.match(await stage(page, 'publicity').textContent(), /还剩 (2 天 23 小时|3 天 0 小时 0 分)/);
    // The notices: disabled, saying why.
    assert.equal(await byId(page, 'ar-issue').isDisabled(), true);
    assert.deepEqual(await byId(page, 'ar-issue-reason').allTextContents(),
      [`公示期至 ${beijing(pub.ends_at)}（北京时间）才结束，公示结束后才能发出通知书；服务器的时钟到点自动结束公示，本页不能提前结束。`]);
    assert.equal(await byId(page, 'ar-obj-none').isVisible(), true);

    // A bidder objects over REST; the console shows who, when and the due time.
    const bidder = committee.person('bidder', 'bidder-a');
    const text = '第一中标候选人的项目经理同时在建另一项目，请核实。';
    const raised = (await h.api('POST', `/api/v1/sessions/${ev.opening}/results/${room}/objections`, { text }, bidder.token)).objection;
    await byId(page, 'ar-refresh').click();
    const obj = byId(page, 'ar-objection');
    await obj.waitFor();
    assert.equal(await obj.getAttribute('data-answered'), 'false');
    assert.equal(await obj.getAttribute('data-overdue'), 'false');
    assert.equal(await obj.locator('[data-testid="ar-obj-text"]').textContent(), text);
    assert.equal(await obj.locator('[data-testid="ar-obj-by"]').textContent(), `${bidder.name}（bidder-a）`);
    assert.equal(await obj.locator('[data-testid="ar-obj-raised"]').textContent(), beijing(raised.raised_at));
    assert.match(await obj.locator('[data-testid="ar-obj-due"]').textContent(), new RegExp(`^${beijing(raised.due_at)} 还剩 (2 天 23 小时|3 天 0 小时 0 分)`));
    assert.match(await stage(page, 'objections').textContent(), /1 条，1 条未答复/);
    assert.deepEqual(await byId(page, 'ar-issue-reason').allTextContents(), [
      `公示期至 ${beijing(pub.ends_at)}（北京时间）才结束，公示结束后才能发出通知书；服务器的时钟到点自动结束公示，本页不能提前结束。`,
      `尚未答复：异议 ${raised.id}（${bidder.name}）。全部异议答复后才能发出（条例第五十四条）。`,
    ]);

    // An empty answer is refused in the page; the answer is confirmed before it is sent.
    await obj.locator('[data-testid="ar-answer-send"]').click();
    assert.equal(await obj.locator('[data-testid="ar-answer-error"]').textContent(), '请先填写答复内容。');
    const answer = '经核实，该项目经理的在建项目已于上月竣工验收，异议不成立。';
    await obj.locator('[data-testid="ar-answer-input"]').fill(answer);
    await obj.locator('[data-testid="ar-answer-send"]').click();
    await obj.locator('[data-testid="ar-answer-confirm"]').waitFor();
    assert.match(await obj.locator('[data-testid="ar-answer-confirm"]').textContent(), /答复发出后不能修改/);
    assert.equal(commands.length, 1, 'answered before the confirmation');
    await shot(page, 'answer-zh-1366x768');
    await obj.locator('[data-testid="ar-answer-ok"]').click();
    await eventually(async () => assert.equal(await byId(page, 'ar-objection').getAttribute('data-answered'), 'true'));
    assert.equal(await byId(page, 'ar-obj-answer-text').textContent(), answer);
    assert.equal(await byId(page, 'ar-answer-input').count(), 0, 'an answered objection offers another answer');
    const staff = (await h.api('GET', `/api/v1/sessions/${ev.opening}/results`)).evaluations.find((e) => e.evaluation === room);
    assert.equal(staff.objections[0].answer, answer);
    assert.ok(!staff.objections[0].late);
    assert.match(await stage(page, 'objections').textContent(), /1 条，均已答复/);

    // The publicity still runs: the notices wait, saying only that.
    assert.equal(await byId(page, 'ar-issue').isDisabled(), true);
    assert.deepEqual(await byId(page, 'ar-issue-reason').allTextContents(),
      [`公示期至 ${beijing(pub.ends_at)}（北京时间）才结束，公示结束后才能发出通知书；服务器的时钟到点自动结束公示，本页不能提前结束。`]);
    assert.equal(await byId(page, 'ar-issued').isVisible(), false);
    const r = await fetch(`${h.server.base}/api/v1/evaluations/${room}/notices`, { method: 'POST', headers: { Authorization: `Bearer ${h.adminKey}` } });
    assert.equal(r.status, 409, 'the server issues notices during the publicity');
    await shot(page, 'zh-1366x768');
    assert.deepEqual(unexpected(), []);
  });

  // The page's side of the closed publicity and the issued notices. The
  // server's clock cannot be moved, so here the server's answers are
  // changed in flight (page.route): the evaluation's view and the results
  // say the publicity closed, and POST …/notices answers notices shaped as
  // api/evaluation_results.go gives them (their signatures are not real:
  // issuing and verifying real ones is the Go tests' part). First the
  // answers also hold an objection o2 the server does not have, raised 4
  // days ago and so overdue: it blocks the notices, and answering it
  // reaches the real server, whose refusal the page says in words.
  it('with the publicity closed (answers stubbed), shows an overdue objection, then issues the notices after a confirmation and offers each for verify --notice', async () => {
    const ev = demo.evaluation;
    const room = ev.room;
    const stubErrors = [];
    const { ctx, page: p } = await newPage(browser, DESKTOP, stubErrors, { acceptDownloads: true });
    const closedAt = new Date().toISOString();
    let issued = null;
    const day = 86400e3;
    let extra = { id: 'o2', bidder: 'bidder-c', text: '评标委员会对我公司施工组织设计的评分明显偏低，请复核。',
      raised_at: new Date(Date.now() - 4 * day).toISOString(), due_at: new Date(Date.now() - day - 3600e3).toISOString() };
    await ctx.route((u) => u.pathname === `/api/v1/sessions/${room}`, async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      body.state.phase = issued ? 'notified' : 'closed_publicity';
      body.state.results.publicity_closed_at = closedAt;
      if (extra) body.state.results.objections.push(extra);
      if (issued) {
        body.state.results.notices = { issued_at: issued.issued_at, key_id: issued.key_id,
          notices: issued.notices.map(({ bidder, kind, digest }) => ({ bidder, kind, digest })) };
      }
      await route.fulfill({ response: res, json: body });
    });
    await ctx.route((u) => u.pathname === `/api/v1/sessions/${ev.opening}/results`, async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      for (const e of body.evaluations) {
        e.closed = true;
        if (extra && e.evaluation === room) e.objections.push(extra);
        if (issued && e.evaluation === room) e.notices = issued.notices.map((x) => ({ ...x, issued_at: issued.issued_at, key_id: issued.key_id }));
      }
      await route.fulfill({ response: res, json: body });
    });
    const posted = [];
    await ctx.route((u) => u.pathname === `/api/v1/evaluations/${room}/notices`, async (route) => {
      posted.push(route.request().method());
      const pub = (await (await fetch(`${h.server.base}/api/v1/evaluations/${room}/publicity`)).json()).publicity;
      const winner = pub.candidates[0];
      const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const bids = ['bidder-a', 'bidder-b', 'bidder-c'];
      issued = {
        issued_at: at,
        key_id: 'ab'.repeat(32),
        notices: bids.map((b, i) => {
          const kind = b === winner.bidder ? 'award' : 'result';
          const json = JSON.stringify({ version: 'bidroom-notice-v1', kind, evaluation: room, opening: ev.opening, title: pub.title, tenderer: pub.tenderer,
            bidder: b, bidder_name: '', winner: winner.bidder, winner_name: winner.name, price: winner.price, report_digest: pub.report_digest,
            publicity_ended: pub.ends_at, issued_at: at });
          return { bidder: b, kind, json, digest: String(i + 1).repeat(64), signature: 'MEUCIQ==' };
        }),
      };
      await route.fulfill({ status: 201, json: issued });
    });

    await signIn(p, `#results=${room}`);
    await byId(p, 'ar-panel').waitFor();
    assert.equal(await byId(p, 'ar-next').getAttribute('data-step'), 'answer');
    const o2 = p.locator('[data-testid="ar-objection"][data-id="o2"]');
    assert.equal(await o2.getAttribute('data-overdue'), 'true');
    assert.match(await o2.locator('[data-testid="ar-obj-due-left"]').textContent(), /^已逾期 1 天 1 小时/);
    assert.equal(await o2.locator('[data-testid="ar-obj-due-left"]').evaluate((e) => getComputedStyle(e).color), 'rgb(180, 35, 24)');
    assert.equal(await byId(p, 'ar-issue').isDisabled(), true);
    const bidderC = committee.person('bidder', 'bidder-c');
    assert.deepEqual(await byId(p, 'ar-issue-reason').allTextContents(),
      [`尚未答复：异议 o2（${bidderC.name}）。全部异议答复后才能发出（条例第五十四条）。`]);
    await shot(p, 'overdue-stubbed-zh-1366x768');
    await o2.locator('[data-testid="ar-answer-input"]').fill('经复核，评分符合评标办法。');
    await o2.locator('[data-testid="ar-answer-send"]').click();
    await o2.locator('[data-testid="ar-answer-ok"]').click();
    await eventually(async () => assert.equal(await p.locator('[data-testid="ar-objection"][data-id="o2"] [data-testid="ar-answer-error"]').textContent(),
      '服务器拒绝了请求：没有编号为 o2 的异议。'));
    assert.equal(await p.locator('[data-testid="ar-objection"][data-id="o2"] [data-testid="ar-answer-input"]').inputValue(), '经复核，评分符合评标办法。');
    extra = null;
    await byId(p, 'ar-refresh').click();
    await eventually(async () => assert.equal(await byId(p, 'ar-next').getAttribute('data-step'), 'issue'));
    assert.equal(await stage(p, 'publicity').getAttribute('data-state'), 'done');
    assert.equal(await byId(p, 'ar-pub-state').getAttribute('data-state'), 'closed');
    assert.equal(await byId(p, 'ar-issue').isDisabled(), false);
    assert.equal(await byId(p, 'ar-issue-why').textContent(), '公示已结束，异议均已答复：可以发出通知书。');
    await byId(p, 'ar-issue').click();
    await byId(p, 'ar-issue-confirm').waitFor();
    assert.match(await byId(p, 'ar-issue-confirm-text').textContent(), /中标通知书发给第一中标候选人 .+（bidder-[abc]）.*不能撤回/);
    assert.deepEqual(posted, []);
    await byId(p, 'ar-issue-ok').click();
    await byId(p, 'ar-issued').waitFor();
    assert.deepEqual(posted, ['POST']);
    assert.equal(await byId(p, 'ar-next').getAttribute('data-step'), 'done');
    assert.equal(await byId(p, 'ar-issue').isVisible(), false);
    assert.equal(await byId(p, 'ar-notice').count(), 3);
    const award = p.locator('[data-testid="ar-notice"][data-kind="award"]');
    assert.equal(await award.count(), 1);
    assert.match(await award.textContent(), /中标通知书/);
    assert.equal(await byId(p, 'ar-notices-key').textContent(), 'ab'.repeat(32));
    const [dl] = await Promise.all([p.waitForEvent('download'), p.locator('[data-testid="ar-notice"][data-bidder="bidder-a"] [data-testid="ar-notice-download"]').click()]);
    assert.equal(dl.suggestedFilename(), `notice-${room}-bidder-a.json`);
    const saved = JSON.parse(await readFile(await dl.path(), 'utf8'));
    const want = issued.notices.find((x) => x.bidder === 'bidder-a');
    assert.deepEqual(saved, { ...want, issued_at: issued.issued_at, key_id: issued.key_id });
    const [all] = await Promise.all([p.waitForEvent('download'), byId(p, 'ar-notices-all').click()]);
    assert.equal(all.suggestedFilename(), `notices-${room}.json`);
    assert.equal(JSON.parse(await readFile(await all.path(), 'utf8')).notices.length, 3);
    const cmdLines = (await byId(p, 'ar-verify-cmd').inputValue()).split('\n');
    assert.equal(cmdLines[0], `bidroom verify --notice notices-${room}.json --server ${h.server.base}`);
    assert.equal(cmdLines.length, 4);
    await shot(p, 'notices-stubbed-zh-1366x768');
    assert.deepEqual(stubErrors.filter((e) => !EXPECTED_CONSOLE.test(e.message)), []);
    await ctx.close();
  });

  it('reads in English at phone width without sideways scroll', async () => {
    const room = demo.evaluation.room;
    const phoneErrors = [];
    const { page: p } = await newPage(browser, PHONE, phoneErrors);
    await signIn(p, `#results=${room}`);
    await byId(p, 'ar-panel').waitFor();
    await byId(p, 'lang-en').click();
    assert.equal(await byId(p, 'ar-next-title').textContent(), "The candidates' publicity is running");
    assert.equal(await byId(p, 'tab-results').textContent(), 'Results');
    assert.match(await byId(p, 'ar-issue-reason').first().textContent(), /^The publicity runs until .* \(Beijing time\); the notices are issued after it/);
    assert.equal(await byId(p, 'ar-obj-state').textContent(), 'Answered');
    assert.match(await byId(p, 'ar-law').textContent(), /art\. 54/);
    const [scroll, width] = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= width, `the page scrolls sideways at phone width (${scroll} > ${width})`);
    await shot(p, 'en-390x844');
    assert.deepEqual(phoneErrors, []);
  });
});

/** beijing formats a time as the page does: "2026-12-01 09:30", Beijing time. */
function beijing(iso) {
  const s = new Date(Date.parse(iso) + 8 * 3600e3).toISOString();
  return `${s.slice(0, 10)} ${s.slice(11, 16)}`;
}
