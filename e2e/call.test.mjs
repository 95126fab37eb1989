// The evaluation call in Chromium, on the demo's evaluation (experts are not
// at the opening, R21): three members enter eval.html from the landing
// page's demo-eval-person buttons and join with Chromium's fake camera
// (WHIP, hall=evaluation), each sees the other two (WHEP per feed) under
// their venue; the supervisor watches all three without any way to
// publish; a bidder of the opening is shown no call on its opening page and
// is refused the evaluation's roster, WHEP and WHIP; a member who leaves
// drops out of everyone's grid and can rejoin. Screenshots go to
// e2e/artifacts/call-*.png.

import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { byId, CHROMIUM, DESKTOP, LAUNCH_ARGS, PHONE, newPage as openPage, waitLive } from './lib/browser.mjs';
import { start } from './lib/server.mjs';

const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
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

/** tiles lists the page's call tiles as [feed, state, name label, venue]. */
function tiles(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-testid="call-tile"]')].map((f) => [
    f.dataset.feed, f.dataset.state, f.querySelector('.call-tile-label')?.textContent || '',
    f.closest('[data-testid="call-venue"]')?.dataset.venue ?? null,
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
  let demo; // GET /api/v1/demo's evaluation
  let subs = []; // the three members the demo offers, in its order
  const names = {}; // sub -> the name their token carries
  const centers = {}; // sub -> their pool center: the venue they sit at
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
    demo = (await (await fetch(`${server.base}/api/v1/demo`)).json()).evaluation;
    assert.ok(demo, 'the demo has an evaluation');
    for (const p of demo.people.filter((x) => x.role === 'expert')) {
      subs.push(p.sub);
      names[p.sub] = p.name;
    }
    assert.equal(subs.length, 3, 'the demo offers three members');
    const sup = demo.people.find((p) => p.role === 'supervisor');
    const view = await (await fetch(`${server.base}/api/v1/sessions/${demo.room}`, { headers: { Authorization: `Bearer ${sup.token}` } })).json();
    for (const m of view.state.committee) centers[m.expert] = m.center || '';
  }, { timeout: 240_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
  });

  /** enterAs opens the landing page in a new context and enters the demo's evaluation as sub (a bidder: its opening). */
  async function enterAs(role, sub, onRequest = null) {
    const { ctx, page } = await openPage(browser, DESKTOP, pageErrors, { permissions: ['camera', 'microphone'] });
    ctx.setDefaultTimeout(20_000);
    if (onRequest) page.on('request', onRequest);
    await page.goto(`${server.base}/`);
    await page.locator(`[data-testid="demo-eval-person"][data-role="${role}"][data-sub="${sub}"]`).click();
    await page.waitForURL(role === 'bidder' ? /\/room\.html#/ : /\/eval\.html#/);
    await waitLive(page);
    const hash = new URLSearchParams(new URL(page.url()).hash.slice(1));
    return { page, token: hash.get('token'), room: hash.get('room') };
  }

  it('a bidder is shown no call on its opening page and refused the evaluation\'s call', async () => {
    const evalRequests = [];
    const { page, token, room } = await enterAs('bidder', 'bidder-a', (r) => {
      if (r.url().includes('hall=evaluation') || r.url().includes(demo.room)) evalRequests.push(r.url());
    });
    assert.equal(room, demo.opening, 'a bidder enters its opening, never the evaluation');
    await sleep(2500); // a roster poll would have happened by now
    assert.equal(await byId(page, 'call').count(), 0, 'the opening page has no call');
    assert.deepEqual(evalRequests, [], 'the bidder page must not ask for the evaluation or its call');

    // The bidder's own token, and one minted for the evaluation room as if it tried: both refused.
    const adminKey = (await readFile(path.join(server.dataDir, 'admin.key'), 'utf8')).trim();
    const minted = await (await fetch(`${server.base}/api/v1/tokens`, {
      method: 'POST', headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: demo.room, role: 'bidder', sub: 'bidder-a', name: 'x', grants: ['view', 'publish'], ttl: '1h' }),
    })).json();
    for (const [what, tok] of [['its opening token', token], ['a bidder token for the evaluation', minted.token]]) {
      const auth = { Authorization: `Bearer ${tok}` };
      const roster = await fetch(`${server.base}/api/v1/sessions/${demo.room}/media?hall=evaluation`, { headers: auth });
      assert.equal(roster.status, 403, `${what}: roster`);
      const sdp = { ...auth, 'Content-Type': 'application/sdp' };
      const whep = await fetch(`${server.base}/whep/${demo.room}?hall=evaluation&feed=${subs[0]}`, { method: 'POST', headers: sdp, body: 'v=0\r\n' });
      assert.equal(whep.status, 403, `${what}: WHEP`);
      const whip = await fetch(`${server.base}/whip/${demo.room}?hall=evaluation`, { method: 'POST', headers: sdp, body: 'v=0\r\n' });
      assert.equal(whip.status, 403, `${what}: WHIP`);
    }
    await page.context().close();
  });

  it('three members see each other and the supervisor watches all three', { timeout: 120_000 }, async () => {
    ({ page: supervisor } = await enterAs('supervisor', 'supervisor-1'));
    await byId(supervisor, 'call').waitFor();
    await byId(supervisor, 'call-status').and(supervisor.locator('[data-state="waiting"]')).waitFor();
    assert.equal(await byId(supervisor, 'call-status').textContent(), '等待专家加入');
    assert.equal(await byId(supervisor, 'call-empty').isVisible(), true);

    for (const sub of subs) {
      const { page } = await enterAs('expert', sub);
      experts[sub] = page;
      // Nothing sent before the click.
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

    // Every picture moves: 6 member views and the supervisor's 3.
    await advancing([
      ...subs.map((sub) => [experts[sub], sub, subs.filter((s) => s !== sub)]),
      [supervisor, 'supervisor-1', subs],
    ]);

    // Name labels; each tile under its member's venue; the own tile first in its venue and marked.
    const [s1] = subs;
    const t1 = await tiles(experts[s1]);
    assert.deepEqual(t1.map(([feed]) => feed).sort(), [...subs].sort());
    for (const [feed, , name, venue] of t1) {
      assert.equal(name, names[feed]);
      assert.equal(venue, centers[feed], `${feed} under ${venue}`);
    }
    assert.equal(t1.find(([, , , v]) => v === centers[s1])[0], s1, 'own tile first in its venue');
    assert.equal(await selfCaption(experts[s1]), `${names[s1]}（我）`);
    const ts = await tiles(supervisor);
    assert.deepEqual(ts.map(([feed]) => feed).sort(), [...subs].sort());
    for (const [feed, state, name, venue] of ts) {
      assert.equal(state, 'live', `${feed} on the supervisor's page`);
      assert.equal(name, names[feed]);
      assert.equal(venue, centers[feed]);
    }

    // The supervisor has no way to publish.
    assert.equal(await byId(supervisor, 'call-controls').isVisible(), false);
    assert.equal(await byId(supervisor, 'call-join').isVisible(), false);
    assert.equal(await supervisor.locator('[data-testid="call-tile"][data-self]').count(), 0);
    assert.equal(await supervisor.evaluate(() => window.__bidroomCall.publisher), null);
    assert.equal(await byId(supervisor, 'call-sound').isVisible(), true);

    // Mute and camera off show on the member's own tile; the picture keeps flowing.
    const e1 = experts[s1];
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
      await boxesApart(page, 'main.room > section:not([hidden]), main.room > .eval-grid');
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

  it('a member who leaves drops out of every grid, and can rejoin', { timeout: 60_000 }, async () => {
    const [s1, s2, s3] = subs;
    const e3 = experts[s3];
    await byId(e3, 'call-leave').click();
    await byId(e3, 'call-status').and(e3.locator('[data-state="out"]')).waitFor();
    assert.equal(await e3.evaluate(() => window.__bidroomCall.publisher), null);
    assert.equal(await e3.evaluate(() => window.__bidroomCall.viewers.size), 0);
    assert.equal(await e3.locator('[data-testid="call-tile"]').count(), 0);
    assert.equal(await byId(e3, 'call-join').textContent(), '重新加入');
    await e3.screenshot({ path: path.join(artifacts, 'call-expert-left-1366x768.png') });

    const t0 = Date.now();
    await othersLive(experts[s1], [s2], 8000);
    await othersLive(experts[s2], [s1], 8000);
    await othersLive(supervisor, [s1, s2], 8000);
    const dropped = Date.now() - t0;
    assert.equal(await byId(supervisor, 'call-count').textContent(), '2 位专家在会商中');

    await byId(e3, 'call-join').click();
    await othersLive(e3, [s1, s2], 30_000);
    await othersLive(experts[s1], [s2, s3], 30_000);
    await advancing([[experts[s1], s1, [s3]], [e3, s3, [s1, s2]]]);
    console.log(`left tile dropped in ${dropped} ms`);

    assert.deepEqual(pageErrors.map(String), []);
  });
});
