// Live video in the opening room: the host goes live with Chromium's fake
// camera (WHIP) and a bidder's page plays it (WHEP) without any click.
// Screenshots go to e2e/artifacts/.

import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { byId, CHROMIUM, DESKTOP, LAUNCH_ARGS, newPage as openPage, waitLive } from './lib/browser.mjs';
import { start } from './lib/server.mjs';

const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');

/** framesDecoded reads the inbound video frames decoded by the page's viewer connection. */
function framesDecoded(page) {
  return page.evaluate(async () => {
    const pc = window.__bidroomViewer?.pc;
    if (!pc) return -1;
    let n = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0;
    });
    return n;
  });
}

describe('live video in Chromium', { timeout: 300_000 }, () => {
  let server;
  let browser;
  let host, bidder;
  const pageErrors = [];

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

  async function enterAs(sub) {
    const { page } = await openPage(browser, DESKTOP, pageErrors, { permissions: ['camera', 'microphone'] });
    page.on('response', (r) => { if (r.status() >= 400) console.log('HTTP', r.status(), r.request().method(), r.url()); });
    await page.goto(`${server.base}/`);
    await page.locator(`[data-testid="demo-person"][data-sub="${sub}"]`).click();
    await page.waitForURL(/\/room\.html#/);
    await waitLive(page);
    await byId(page, 'live').waitFor();
    return page;
  }

  it('the bidder waits, then plays the host camera', { timeout: 45_000 }, async () => {
    bidder = await enterAs('bidder-a');
    assert.equal(await byId(bidder, 'live-controls').isVisible(), false, 'bidders cannot publish');
    await byId(bidder, 'live-status').and(bidder.locator('[data-state="waiting"]')).waitFor();
    assert.equal(await byId(bidder, 'live-status').textContent(), '等待主持人开播…');

    host = await enterAs('host-1');
    await byId(host, 'live-camera').click();
    await byId(host, 'live-status').and(host.locator('[data-state="onAir"]')).waitFor({ timeout: 15_000 });
    assert.equal(await byId(host, 'live-stop').isEnabled(), true);

    // The bidder's frames advance.
    await byId(bidder, 'live-status').and(bidder.locator('[data-state="live"]')).waitFor({ timeout: 20_000 });
    const first = await framesDecoded(bidder);
    await new Promise((r) => setTimeout(r, 3000));
    const second = await framesDecoded(bidder);
    assert.ok(first > 0 && second > first + 10, `frames decoded did not advance: ${first} -> ${second}`);
    assert.equal(await byId(bidder, 'live-status').textContent(), '直播中');
    const size = await byId(bidder, 'live-video').evaluate((v) => [v.videoWidth, v.videoHeight]);
    assert.ok(size[0] > 0 && size[1] > 0, `video size ${size}`);

    // The host's stats line counts the viewer.
    await byId(host, 'live-stats').filter({ hasText: /观看 1 人/ }).waitFor({ timeout: 6000 });

    // Nothing overlaps in the 1366×768 layout: the live card sits between the session card and the columns.
    const boxes = await host.evaluate(() => ['session', 'live', 'my-bid'].map((id) => {
      const e = document.querySelector(`[data-testid="${id}"]`);
      if (e.hidden) return null;
      const r = e.getBoundingClientRect();
      return [r.top, r.bottom];
    }).concat([(() => { const r = document.querySelector('.columns').getBoundingClientRect(); return [r.top, r.bottom]; })()]));
    const shown = boxes.filter(Boolean);
    for (let i = 1; i < shown.length; i++) assert.ok(shown[i][0] >= shown[i - 1][1], `cards overlap: ${JSON.stringify(boxes)}`);

    await host.screenshot({ path: path.join(artifacts, 'live-host-1366x768.png') });
    await bidder.screenshot({ path: path.join(artifacts, 'live-bidder-1366x768.png') });

    // Stopping ends it for the bidder too.
    await byId(host, 'live-stop').click();
    await byId(host, 'live-status').and(host.locator('[data-state="off"]')).waitFor();
    await byId(bidder, 'live-status').and(bidder.locator('[data-state="waiting"]')).waitFor({ timeout: 10_000 });

    assert.deepEqual(pageErrors.map(String), []);
  });

  it('a feed published from elsewhere (as OBS does over WHIP) shows on the host console with a preview', { timeout: 60_000 }, async () => {
    // The OBS how-to names this room's WHIP address.
    const room = new URLSearchParams(new URL(host.url()).hash.slice(1)).get('room');
    await byId(host, 'live-obs').locator('summary').click();
    assert.equal(await byId(host, 'live-obs-url').textContent(), `${server.base}/whip/${room}`);

    // Another publisher (a token of its own, minted with the admin key) goes live on a second machine.
    const adminKey = (await readFile(path.join(server.dataDir, 'admin.key'), 'utf8')).trim();
    const r = await fetch(`${server.base}/api/v1/tokens`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ room, role: 'host', sub: 'obs-studio', name: 'OBS 推流机', grants: ['publish', 'view'], ttl: '1h' }),
    });
    assert.ok(r.ok, `token: ${r.status}`);
    const { token } = await r.json();
    const { page: obs } = await openPage(browser, DESKTOP, pageErrors, { permissions: ['camera', 'microphone'] });
    await obs.goto(`${server.base}/room.html#${new URLSearchParams({ room, token })}`);
    await waitLive(obs);
    await byId(obs, 'live-camera').click();
    await byId(obs, 'live-status').and(obs.locator('[data-state="onAir"]')).waitFor({ timeout: 15_000 });

    // The host console says who is on air and previews it; the bidder plays it.
    await byId(host, 'live-status').and(host.locator('[data-state="external"]')).waitFor({ timeout: 15_000 });
    assert.equal(await byId(host, 'live-status').textContent(), '外部推流中：OBS 推流机');
    assert.match(await byId(host, 'live-note').textContent(), /外部推流/);
    const previewFrames = () => host.evaluate(async () => {
      const pc = window.__bidroomHostPreview?.pc;
      let n = 0;
      if (pc) (await pc.getStats()).forEach((x) => { if (x.type === 'inbound-rtp' && x.kind === 'video') n += x.framesDecoded || 0; });
      return n;
    });
    let first = 0;
    for (let i = 0; i < 100 && first === 0; i++) {
      first = await previewFrames();
      if (!first) await new Promise((res) => setTimeout(res, 100));
    }
    await new Promise((res) => setTimeout(res, 2000));
    const second = await previewFrames();
    assert.ok(first > 0 && second > first + 5, `the host's preview did not advance: ${first} -> ${second}`);
    await byId(bidder, 'live-status').and(bidder.locator('[data-state="live"]')).waitFor({ timeout: 20_000 });
    await host.screenshot({ path: path.join(artifacts, 'live-host-external-1366x768.png') });

    // The other machine stops: the console goes back to off.
    await byId(obs, 'live-stop').click();
    await byId(host, 'live-status').and(host.locator('[data-state="off"]')).waitFor({ timeout: 15_000 });
    assert.equal(await host.evaluate(() => window.__bidroomHostPreview), null);
    assert.deepEqual(pageErrors.map(String), []);
  });
});
