// The evaluation call in Chromium: three experts join with Chromium's fake
// camera (WHIP, hall=evaluation) and each sees the other two (WHEP per
// feed); a supervisor watches all three without any way to publish; a
// bidder is refused the call and shown nothing of it; an expert who leaves
// drops out of everyone's grid and can rejoin. Screenshots go to
// e2e/artifacts/call-*.png.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { byId, CHROMIUM, DESKTOP, LAUNCH_ARGS, PHONE, newPage as openPage, waitLive } from './lib/browser.mjs';
import { start } from './lib/server.mjs';

const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
const EXPERTS = { 'expert-1': '评标专家 张伟', 'expert-2': '评标专家 刘敏', 'expert-3': '评标专家 陈静' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** frames reads framesDecoded of every feed the page views: {feed: n}. */
function frames(page) {
  return page.evaluate(async () => {
    const out = {};
    for (const [feed, h] of window.__bidroomCall?.viewers || []) {
      let n = 0;
      if (h.pc) {
        (await h.pc.getStats()).forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0;
        });
      }
      out[feed] = n;
    }
    return out;
  });
}

/** tiles lists the page's call tiles as [feed, state, name label]. */
function tiles(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-testid="call-tile"]')].map((f) => [
    f.dataset.feed, f.dataset.state, f.querySelector('.call-tile-label')?.textContent || '',
  ]));
}

/** selfCaption reads the caption of the page's own tile. */
function selfCaption(page) {
  return page.locator('[data-testid="call-tile"][data-self] .call-tile-name').textContent();
}

/** othersLive waits until page shows a live tile for exactly the feeds named. */
async function othersLive(page, feeds, timeout) {
  const sel = feeds.map((f) => `[data-testid="call-tile"][data-feed="${f}"][data-state="live"]`);
  await page.waitForFunction(([sel, n]) => sel.every((s) => document.querySelector(s))
    && document.querySelectorAll('[data-testid="call-tile"]:not([data-self])').length === n, [sel, feeds.length], { timeout });
}

/** advancing asserts that each page's frames for each of its feeds advance by more than 10 in ~3 s. */
async function advancing(views) {
  const first = await Promise.all(views.map(([page]) => frames(page)));
  await sleep(3000);
  const second = await Promise.all(views.map(([page]) => frames(page)));
  views.forEach(([, who, feeds], i) => {
    for (const feed of feeds) {
      const a = first[i][feed];
      const b = second[i][feed];
      assert.ok(a > 0 && b > a + 10, `${who} sees ${feed}: frames decoded did not advance: ${a} -> ${b}`);
    }
  });
}

/** boxesApart asserts that no two of the elements matched by selector overlap. */
async function boxesApart(page, selector) {
  const boxes = await page.locator(selector).evaluateAll((es) => es.map((e) => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  }));
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const apart = a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1];
      assert.ok(apart, `${selector} ${i} and ${j} overlap: ${JSON.stringify(boxes)}`);
    }
  }
  return boxes;
}

describe('evaluation call in Chromium', { timeout: 300_000 }, () => {
  let server;
  let browser;
  const pageErrors = [];
  const experts = {};
  let supervisor;

  before(async () => {
    await mkdir(artifacts, { recursive: true });
    server = await start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...LAUNCH_ARGS, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    });
  }, { timeout: 240_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
  });

  /** enterAs opens the landing page in a new context and enters the demo room as sub. */
  async function enterAs(sub, onRequest = null) {
    const { ctx, page } = await openPage(browser, DESKTOP, pageErrors, { permissions: ['camera', 'microphone'] });
    ctx.setDefaultTimeout(20_000);
    if (onRequest) page.on('request', onRequest);
    await page.goto(`${server.base}/`);
    await page.locator(`[data-testid="demo-person"][data-sub="${sub}"]`).click();
    await page.waitForURL(/\/room\.html#/);
    await waitLive(page);
    const token = new URLSearchParams(new URL(page.url()).hash.slice(1)).get('token');
    const room = new URLSearchParams(new URL(page.url()).hash.slice(1)).get('room');
    return { page, token, room };
  }

  it('a bidder is refused the call and shown nothing of it', async () => {
    const evalRequests = [];
    const { page, token, room } = await enterAs('bidder-a', (r) => {
      if (r.url().includes('hall=evaluation')) evalRequests.push(r.url());
    });
    await sleep(2500); // a roster poll would have happened by now
    assert.equal(await byId(page, 'call').isVisible(), false, 'a bidder must not see the call panel');
    assert.equal(await byId(page, 'live').isVisible(), true, 'the bidder keeps the opening live panel');
    assert.deepEqual(evalRequests, [], 'the bidder page must not ask for the evaluation hall');

    const auth = { Authorization: `Bearer ${token}` };
    const roster = await fetch(`${server.base}/api/v1/sessions/${room}/media?hall=evaluation`, { headers: auth });
    assert.equal(roster.status, 403, 'roster');
    const sdp = { ...auth, 'Content-Type': 'application/sdp' };
    const whep = await fetch(`${server.base}/whep/${room}?hall=evaluation&feed=expert-1`, { method: 'POST', headers: sdp, body: 'v=0\r\n' });
    assert.equal(whep.status, 403, 'WHEP');
    const whip = await fetch(`${server.base}/whip/${room}?hall=evaluation`, { method: 'POST', headers: sdp, body: 'v=0\r\n' });
    assert.equal(whip.status, 403, 'WHIP');
    await page.context().close();
  });

  it('three experts see each other and a supervisor watches all three', { timeout: 120_000 }, async () => {
    ({ page: supervisor } = await enterAs('supervisor-1'));
    await byId(supervisor, 'call').waitFor();
    assert.equal(await byId(supervisor, 'live').isVisible(), true, 'the supervisor keeps the opening live panel');
    await byId(supervisor, 'call-status').and(supervisor.locator('[data-state="waiting"]')).waitFor();
    assert.equal(await byId(supervisor, 'call-status').textContent(), '等待专家加入');
    assert.equal(await byId(supervisor, 'call-empty').isVisible(), true);

    const subs = Object.keys(EXPERTS);
    for (const sub of subs) {
      const { page } = await enterAs(sub);
      experts[sub] = page;
      // No live panel of the opening for an expert, and nothing sent before the click.
      assert.equal(await byId(page, 'live').isVisible(), false, `${sub}: opening live panel shown`);
      assert.equal(await page.evaluate(() => window.__bidroomCall.publisher), null);
      await byId(page, 'call-status').and(page.locator('[data-state="out"]')).waitFor();
      await byId(page, 'call-join').click();
    }
    for (const sub of subs) {
      const page = experts[sub];
      await byId(page, 'call-status').and(page.locator('[data-state="live"]')).waitFor({ timeout: 30_000 });
      await othersLive(page, subs.filter((s) => s !== sub), 30_000);
      assert.equal(await byId(page, 'call-count').textContent(), '3 位专家在会商中');
    }
    await othersLive(supervisor, subs, 30_000);

    // Every picture moves: 6 expert views and the supervisor's 3.
    await advancing([
      ...subs.map((sub) => [experts[sub], sub, subs.filter((s) => s !== sub)]),
      [supervisor, 'supervisor-1', subs],
    ]);

    // Name labels, own tile first and marked.
    const t1 = await tiles(experts['expert-1']);
    assert.deepEqual(t1.map(([feed, , name]) => [feed, name]), [
      ['expert-1', '评标专家 张伟'], // own tile first, then the others by name (pinyin: Chen, Liu)
      ['expert-3', '评标专家 陈静'],
      ['expert-2', '评标专家 刘敏'],
    ]);
    assert.equal(await selfCaption(experts['expert-1']), '评标专家 张伟（我）');
    const ts = await tiles(supervisor);
    assert.deepEqual(ts.map(([feed]) => feed).sort(), subs);
    for (const [feed, state, name] of ts) {
      assert.equal(state, 'live', `${feed} on the supervisor's page`);
      assert.equal(name, EXPERTS[feed]);
    }

    // The supervisor has no way to publish.
    assert.equal(await byId(supervisor, 'call-controls').isVisible(), false);
    assert.equal(await byId(supervisor, 'call-join').isVisible(), false);
    assert.equal(await supervisor.locator('[data-testid="call-tile"][data-self]').count(), 0);
    assert.equal(await supervisor.evaluate(() => window.__bidroomCall.publisher), null);
    assert.equal(await byId(supervisor, 'call-sound').isVisible(), true);

    // Mute and camera off show on the expert's own tile; the picture keeps flowing.
    const e1 = experts['expert-1'];
    await byId(e1, 'call-mic').click();
    await byId(e1, 'call-camera').click();
    assert.deepEqual(await e1.evaluate(() => window.__bidroomCall.publisher.pc.getSenders().map((s) => [s.track.kind, s.track.enabled]).sort()),
      [['audio', false], ['video', false]]);
    assert.equal(await e1.locator('[data-self] .call-tile-flags').textContent(), '麦克风已关闭 · 摄像头已关闭');
    assert.equal(await byId(e1, 'call-mic').textContent(), '打开麦克风');
    assert.equal(await e1.locator('[data-self] .call-tile-cover').textContent(), '摄像头已关闭');
    assert.equal(await e1.locator('[data-self] .call-tile-cover').isVisible(), true);
    await byId(e1, 'call-camera').click();
    assert.equal(await e1.locator('[data-self] .call-tile-flags').textContent(), '麦克风已关闭');
    assert.equal(await e1.locator('[data-self] .call-tile-cover').isVisible(), false);

    // Layout: tiles apart, cards apart, at 1366×768.
    for (const page of [e1, supervisor]) {
      await byId(page, 'call').scrollIntoViewIfNeeded();
      await boxesApart(page, '[data-testid="call-tile"]');
      await boxesApart(page, 'main.room > section:not([hidden]), main.room > .columns');
      const fit = await byId(page, 'call').evaluate((e) => e.scrollWidth <= e.clientWidth);
      assert.ok(fit, 'the call panel overflows sideways');
    }
    await e1.screenshot({ path: path.join(artifacts, 'call-expert-1366x768.png') });
    await supervisor.screenshot({ path: path.join(artifacts, 'call-supervisor-1366x768.png') });
    await supervisor.setViewportSize(PHONE);
    await byId(supervisor, 'call-grid').scrollIntoViewIfNeeded();
    await boxesApart(supervisor, '[data-testid="call-tile"]');
    const phoneFit = await supervisor.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(phoneFit, 'the page scrolls sideways on a phone');
    await supervisor.screenshot({ path: path.join(artifacts, 'call-supervisor-phone.png') });
    await supervisor.setViewportSize(DESKTOP);
  });

  it('an expert who leaves drops out of every grid, and can rejoin', { timeout: 60_000 }, async () => {
    const e3 = experts['expert-3'];
    await byId(e3, 'call-leave').click();
    await byId(e3, 'call-status').and(e3.locator('[data-state="out"]')).waitFor();
    assert.equal(await e3.evaluate(() => window.__bidroomCall.publisher), null);
    assert.equal(await e3.evaluate(() => window.__bidroomCall.viewers.size), 0);
    assert.equal(await e3.locator('[data-testid="call-tile"]').count(), 0);
    assert.equal(await byId(e3, 'call-join').textContent(), '重新加入');
    await e3.screenshot({ path: path.join(artifacts, 'call-expert-left-1366x768.png') });

    const t0 = Date.now();
    await othersLive(experts['expert-1'], ['expert-2'], 8000);
    await othersLive(experts['expert-2'], ['expert-1'], 8000);
    await othersLive(supervisor, ['expert-1', 'expert-2'], 8000);
    const dropped = Date.now() - t0;
    assert.equal(await byId(supervisor, 'call-count').textContent(), '2 位专家在会商中');

    await byId(e3, 'call-join').click();
    await othersLive(e3, ['expert-1', 'expert-2'], 30_000);
    await othersLive(experts['expert-1'], ['expert-2', 'expert-3'], 30_000);
    await advancing([[experts['expert-1'], 'expert-1', ['expert-3']], [e3, 'expert-3', ['expert-1', 'expert-2']]]);
    console.log(`left tile dropped in ${dropped} ms`);

    assert.deepEqual(pageErrors.map(String), []);
  });
});
