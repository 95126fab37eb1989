// The bidder's side of the evaluation in Chromium, on the demo: the
// committee (three members over REST with OpenSSL signatures, two played
// by the demo: lib/demoeval.mjs) asks bidder-a a written question;
// bidder-a's opening page shows it — and bidder-b's does not — and the
// answer typed there reaches the committee. After the report, the platform's signature and the
// candidates' publicity, bidder-a's page shows the candidates and raises
// an objection, which the admin answers; the opening's host rates the
// committee's conduct from their page. The server's clock is moved past
// the publicity: the notices are issued at one moment and every bidder's
// page shows its own (the award to the first candidate, a result notice to
// the others), which `bidroom verify --notice` accepts, as `bidroom verify
// --report` accepts the room's log. Screenshots go to
// e2e/artifacts/results-*.png.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium } from 'playwright-core';

import { byId, CHROMIUM, DESKTOP, eventually, LAUNCH_ARGS, PHONE, newPage } from './lib/browser.mjs';
import { demoEvaluation } from './lib/demoeval.mjs';
import { artifacts, openingHarness, run } from './lib/opening.mjs';

// The server's clock moves (testing.movable_clock): the 3-day publicity passes in the test.
const h = openingHarness('results', { bidtool: false, env: { BIDROOM_TESTING_MOVABLE_CLOCK: 'true' } });

describe('the bidder answers clarifications and sees the publicity in Chromium', () => {
  let browser;
  let demo;
  let ev; // the demo's evaluation, driven over REST

  before(async () => {
    await h.setUp();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    demo = await (await fetch(`${h.server.base}/api/v1/demo`)).json();
    ev = demoEvaluation(h, demo, 'results');
  });
  after(async () => {
    await browser?.close();
    await h.tearDown();
  });

  /** bidderPage opens the finished opening's page as bidder sub. */
  async function bidderPage(sub, viewport = DESKTOP) {
    const errors = [];
    const { page } = await newPage(browser, viewport, errors);
    page.on('dialog', (d) => d.accept());
    const p = ev.person('bidder', sub);
    await page.goto(`${h.server.base}/room.html#room=${encodeURIComponent(p.room)}&token=${encodeURIComponent(p.token)}`);
    return { page, errors };
  }

  it('a clarification reaches only its bidder, whose answer reaches the committee; then the publicity and an objection', { timeout: 180_000 }, async () => {
    const { room, experts } = ev;
    const { opening } = demo.evaluation;
    await ev.drive('scoring');
    const chair = experts[0];
    const question = '请澄清贵公司投标文件中管材供应商的授权文件编号，并说明DN800管材的进场时间。';
    await ev.cmd(chair.token, 'ask_clarification', { bidder: 'bidder-a', question, minutes: 60 });

    // bidder-b sees no question; bidder-a sees it and answers.
    const b = await bidderPage('bidder-b');
    await b.page.waitForTimeout(1500);
    assert.ok(await byId(b.page, 'eval-results').isHidden(), "bidder-b's page shows an evaluation panel");
    assert.equal(await b.page.getByText(question).count(), 0);
    const a = await bidderPage('bidder-a');
    await byId(a.page, 'clarification').waitFor();
    assert.equal(await byId(a.page, 'clarification-question').textContent(), question);
    assert.equal(await byId(a.page, 'clarification').getAttribute('data-status'), 'open');
    await byId(a.page, 'clarification-send').click();
    assert.match(await byId(a.page, 'clarification-note').textContent(), /请先填写/);
    const answer = '授权文件编号 SQ-2026-0815；DN800 球墨铸铁管于开工后第 20 日进场。';
    await byId(a.page, 'clarification-input').fill(answer);
    await a.page.screenshot({ path: path.join(artifacts, 'results-clarification-zh-1366x768.png'), fullPage: true });
    await byId(a.page, 'clarification-send').click();
    await eventually(async () => assert.equal(await byId(a.page, 'clarification').getAttribute('data-status'), 'answered'), 10_000);
    assert.equal(await byId(a.page, 'clarification-answer').textContent(), answer);
    assert.equal(await a.page.getByText(chair.name).count(), 0, "the bidder's page names who asked");
    const s = await ev.waitFor('the answer in the room', (st) => (st.clarifications || []).some((q) => q.answer === answer));
    assert.equal(s.clarifications[0].bidder, 'bidder-a');

    // Scoring, the report, the platform's signature, the publicity.
    await ev.drive('reported');
    await h.api('POST', `/api/v1/evaluations/${room}/report`, {}, ev.person('supervisor').token);

    // The supervisor opens the printable report from the evaluation page.
    const { page: sp } = await newPage(browser, DESKTOP, a.errors);
    await sp.goto(`${h.server.base}/eval.html#room=${encodeURIComponent(room)}&token=${encodeURIComponent(ev.person('supervisor').token)}`);
    await byId(sp, 'report-print').waitFor();
    const [printable] = await Promise.all([sp.context().waitForEvent('page'), byId(sp, 'report-print').click()]);
    await printable.waitForLoadState();
    assert.equal(await printable.locator('h1').textContent(), '评标报告');
    assert.ok((await printable.locator('body').textContent()).includes('推荐的中标候选人'));
    // Its own styles apply (the page is not bound by the opening page's CSP).
    assert.equal(await printable.locator('h1').evaluate((x) => getComputedStyle(x).textAlign), 'center');
    await printable.screenshot({ path: path.join(artifacts, 'results-report-printable.png'), fullPage: true });
    await sp.close();
    // So do the opening record's, opened from the bidder's page the same way.
    const [record] = await Promise.all([a.page.context().waitForEvent('page'), byId(a.page, 'record-link').click()]);
    await record.waitForLoadState();
    assert.equal(await record.locator('h1').textContent(), '开标记录表');
    assert.equal(await record.locator('h1').evaluate((x) => getComputedStyle(x).textAlign), 'center');
    await record.close();

    // The opening's host rates the committee from their page; a poor
    // rating needs a reason.
    const hostTok = await h.token(opening, 'host', 'host-1', '主持人 王芳');
    const { page: hp } = await newPage(browser, DESKTOP, a.errors);
    await hp.goto(`${h.server.base}/room.html#room=${encodeURIComponent(opening)}&token=${encodeURIComponent(hostTok)}`);
    await byId(hp, 'rating').first().waitFor();
    assert.equal(await byId(hp, 'rating').count(), 5);
    const rated = hp.locator(`[data-testid="rating"][data-expert="${experts[1].sub}"]`);
    await rated.locator('[data-testid="rating-conduct"]').selectOption('poor');
    await rated.locator('[data-testid="rating-save"]').click();
    assert.match(await rated.locator('[data-testid="rating-msg"]').textContent(), /理由/);
    await rated.locator('[data-testid="rating-note"]').fill('评标中途多次离席，影响评标进度。');
    await rated.locator('[data-testid="rating-save"]').click();
    await eventually(async () => assert.equal(await hp.locator(`[data-testid="rating"][data-expert="${experts[1].sub}"]`).getAttribute('data-conduct'), 'poor'), 10_000);
    await hp.screenshot({ path: path.join(artifacts, 'results-host-ratings-zh-1366x768.png'), fullPage: true });
    const mine = await h.api('GET', `/api/v1/sessions/${opening}/ratings`, undefined, hostTok);
    assert.equal(mine.evaluations[0].ratings[0].conduct, 'poor');

    await ev.cmd(h.adminKey, 'publish_candidates', { days: 3, note: '公示期间对结果有异议的，可在本页面提出。' });
    const pub = await (await fetch(`${h.server.base}/api/v1/evaluations/${room}/publicity`)).json();
    assert.equal(pub.publicity?.candidates?.length ?? pub.candidates?.length, 3, JSON.stringify(pub));

    await a.page.reload();
    await byId(a.page, 'candidates').waitFor();
    assert.equal(await byId(a.page, 'candidate').count(), 3);
    assert.equal(await byId(a.page, 'publicity-period').getAttribute('data-state'), 'running');
    const objection = '第一中标候选人的项目经理同时在建另一项目，请核实。';
    await byId(a.page, 'objection-input').fill(objection);
    await byId(a.page, 'objection-send').click();
    await byId(a.page, 'result-objection').waitFor();
    assert.equal(await byId(a.page, 'result-objection').getAttribute('data-answered'), 'false');
    const raised = (await h.api('GET', `/api/v1/sessions/${opening}/results`, undefined, h.adminKey)).evaluations[0].objections;
    assert.equal(raised.length, 1);
    assert.equal(raised[0].text, objection);
    await ev.cmd(h.adminKey, 'answer_result_objection', { id: raised[0].id, answer: '经核实，该项目经理的在建项目已于上月竣工验收，异议不成立。' });
    await a.page.reload();
    await eventually(async () => assert.equal(await byId(a.page, 'result-objection').getAttribute('data-answered'), 'true'), 10_000);
    await a.page.screenshot({ path: path.join(artifacts, 'results-publicity-zh-1366x768.png'), fullPage: true });
    assert.deepEqual(a.errors, []);

    // Phone width, English: nothing scrolls sideways.
    const p = await bidderPage('bidder-a', PHONE);
    await byId(p.page, 'lang-en').click();
    await byId(p.page, 'candidates').waitFor();
    assert.match(await p.page.locator('.eval-results h2').textContent(), /Evaluation/);
    const overflow = await p.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at phone width`);
    await p.page.screenshot({ path: path.join(artifacts, 'results-publicity-en-390x844.png'), fullPage: true });
    assert.deepEqual(b.errors, []);

    // Before the publicity ends no notice can be issued.
    const early = await fetch(`${h.server.base}/api/v1/evaluations/${room}/notices`, { method: 'POST', headers: { Authorization: `Bearer ${h.adminKey}` } });
    assert.equal(early.status, 409);
    // Three days later the scheduler closes the publicity; the notices go out at one moment.
    await h.advanceClock('72h1m');
    await ev.waitFor('the publicity closed', (st) => st.phase === 'closed_publicity');
    const issued = await h.api('POST', `/api/v1/evaluations/${room}/notices`);
    assert.equal(issued.notices.length, 3);
    const winner = pub.publicity?.candidates?.[0]?.bidder ?? pub.candidates[0].bidder;
    for (const sub of ['bidder-a', 'bidder-b', 'bidder-c']) {
      const pg = await bidderPage(sub);
      await byId(pg.page, 'notice').waitFor();
      const kind = await byId(pg.page, 'notice').getAttribute('data-kind');
      assert.equal(kind, sub === winner ? 'award' : 'result', `${sub}'s notice`);
      assert.match(await byId(pg.page, 'notice-text').textContent(), /中标价/);
      if (sub === 'bidder-a') await pg.page.screenshot({ path: path.join(artifacts, 'results-notice-zh-1366x768.png'), fullPage: true });
      // The saved notice verifies offline against the server's platform key.
      const [download] = await Promise.all([pg.page.waitForEvent('download'), byId(pg.page, 'notice-save').click()]);
      const file = path.join(h.tmp, `${sub}-notice.json`);
      await download.saveAs(file);
      const { stdout } = await run(h.server.bin, ['verify', '--notice', file, '--server', h.server.base]);
      assert.match(stdout, /核验通过 \/ OK/, `${sub}'s notice: ${stdout}`);
      assert.deepEqual(pg.errors, []);
      await pg.page.close();
    }
    const { stdout: report } = await run(h.server.bin, ['verify', '--report', '--server', h.server.base, '--session', room, '--token', ev.person('supervisor').token]);
    assert.match(report, /核验通过 \/ OK/);
    assert.match(report, /award and result notices/);
  });
});
