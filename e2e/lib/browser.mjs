// Shared pieces of the browser tests: how Chromium is launched, and small
// helpers for reading the room page.

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

export const DESKTOP = { width: 1366, height: 768 };
export const PHONE = { width: 390, height: 844 };

// Records every websocket of a context (for closing them as a network
// drop would) before any page script runs. Test-only; the page code does
// not know about it.
export function trackSockets() {
  const Native = window.WebSocket;
  window.__e2eSockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__e2eSockets.push(this);
    }
  };
}

/** eventually retries fn (which throws until its condition holds) for up to ms. */
export async function eventually(fn, ms = 5000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export const byId = (page, id) => page.locator(`[data-testid="${id}"]`);

export async function waitLive(page) {
  await byId(page, 'conn-status').and(page.locator('[data-state="live"]')).waitFor();
}

/** roomState reads what the room page shows, minus the clocks. */
export async function roomState(page) {
  return page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    const text = (id) => q(id).textContent;
    return {
      title: text('session-title'),
      phase: q('phase').dataset.phase,
      section: text('session-section'),
      price: text('control-price'),
      deadline: text('deadline'),
      you: [text('you-name'), text('you-role'), q('you-status').dataset.signedIn],
      signInButton: !q('sign-in').hidden,
      registered: text('registered-count'),
      secret: !q('bidders-secret').hidden,
      bidders: [...document.querySelectorAll('[data-testid="bidder-row"]')].map((r) => [
        r.dataset.sub, r.dataset.signedIn, r.textContent,
      ]),
      staff: [...document.querySelectorAll('[data-testid="staff-row"]')].map((r) => r.textContent),
      announcements: [...document.querySelectorAll('[data-testid="announcement"]')].map((a) => a.textContent),
    };
  });
}

export async function announcements(page) {
  return page.locator('[data-testid="announcement"] .ann-text').allTextContents();
}

/** launch starts Debian's Chromium. */
export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
}

/**
 * newPage opens a page in a fresh context (its own storage, like another
 * person's computer) with socket tracking; script errors land in errors.
 */
export async function newPage(browser, viewport, errors, opts = {}) {
  const ctx = await browser.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', ...opts });
  ctx.setDefaultTimeout(10_000);
  await ctx.addInitScript(trackSockets);
  const page = await ctx.newPage();
  page.on('pageerror', (err) => errors.push(err));
  page.on('console', (m) => {
    // A refused connection while offline is expected; anything else is a bug.
    if (m.type() === 'error' && !/ERR_INTERNET_DISCONNECTED/.test(m.text())) errors.push(new Error(m.text()));
  });
  return { ctx, page };
}

/** dropConnection closes the page's websockets and keeps the network away until the returned function is called. */
export async function dropConnection(ctx, page) {
  await page.evaluate(() => window.__e2eSockets.forEach((s) => s.close()));
  await ctx.setOffline(true);
  await byId(page, 'conn-status').and(page.locator('[data-state="reconnecting"]')).waitFor();
  return () => ctx.setOffline(false);
}
