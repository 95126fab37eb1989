// Tenancy (市县一体化) in Chromium: a server for the city center and its
// county sub-center 江宁分中心; a session in each. The county's admin,
// signed in to the session console with their token, sees the county's
// session only and the badge of their center; a city session's address
// refuses them; the city's oversight sees both, read-only.
// Screenshots: e2e/artifacts/tenancy-*.png.

import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { byId, DESKTOP, launch, newPage as openPage } from './lib/browser.mjs';
import { start } from './lib/server.mjs';

const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');

describe('centers in the admin console', () => {
  let server, browser, adminKey;
  const pageErrors = [];

  const api = async (method, route, body, tok = adminKey) => {
    const r = await fetch(`${server.base}${route}`, {
      method, headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    return { status: r.status, data };
  };
  const session = (id, title, center) => ({
    id, title, center, category: 'construction', deadline: new Date(Date.now() + 86400e3).toISOString(),
    bidders: [{ id: 'a', name: '甲公司' }],
  });
  const token = async (body) => {
    const { status, data } = await api('POST', '/api/v1/tokens', { ttl: '2h', ...body });
    assert.equal(status, 201, JSON.stringify(data));
    return data.token;
  };

  before(async () => {
    await mkdir(artifacts, { recursive: true });
    [server, browser] = await Promise.all([
      start({ env: { BIDROOM_CENTERS: 'city=市公共资源交易中心,jn=江宁分中心', BIDROOM_DEMO_ENABLED: 'false' } }),
      launch(),
    ]);
    adminKey = (await readFile(path.join(server.dataDir, 'admin.key'), 'utf8')).trim();
    for (const s of [session('CITY-001', '市级道路改造工程', undefined), session('JN-001', '江宁区学校扩建工程', 'jn')]) {
      const { status, data } = await api('POST', '/api/v1/sessions', s);
      assert.equal(status, 201, JSON.stringify(data));
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** signIn opens the session console and signs in with tok; it returns the page and the ids listed. */
  const signIn = async (tok, shot) => {
    const { ctx, page } = await openPage(browser, DESKTOP, pageErrors);
    await page.goto(`${server.base}/admin.html`);
    await byId(page, 'admin-key').fill(tok);
    await byId(page, 'admin-signin-submit').click();
    await byId(page, 'admin-list').waitFor();
    await byId(page, 'admin-center').waitFor();
    await page.locator('[data-testid="session-row"]').first().waitFor();
    const ids = await page.locator('[data-testid="session-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.id).sort());
    await page.screenshot({ path: path.join(artifacts, `tenancy-${shot}.png`) });
    return { ctx, page, ids, badge: await byId(page, 'admin-center').textContent() };
  };

  it('the county admin sees the county’s sessions only', async () => {
    const county = await token({ room: '*', role: 'admin', sub: 'jn-admin', center: 'jn' });
    const { ctx, ids, badge } = await signIn(county, 'county');
    assert.deepEqual(ids, ['JN-001']);
    assert.match(badge, /江宁分中心/);
    assert.doesNotMatch(badge, /市公共资源交易中心/);
    // The city's session, asked for by name, does not exist for them; the county's does.
    assert.equal((await api('GET', '/api/v1/sessions/CITY-001', null, county)).status, 404);
    assert.equal((await api('GET', '/api/v1/sessions/JN-001', null, county)).status, 200);
    // They create in their own center.
    const made = await api('POST', '/api/v1/sessions', session('JN-002', '江宁区河道整治工程', undefined), county);
    assert.equal(made.status, 201, JSON.stringify(made.data));
    const list = await api('GET', '/api/v1/sessions', null, county);
    assert.deepEqual(list.data.sessions.map((s) => `${s.id}@${s.center}`).sort(), ['JN-001@jn', 'JN-002@jn']);
    await ctx.close();
  });

  it('the city’s oversight sees both centers, read-only', async () => {
    const oversight = await token({ room: '*', role: 'oversight', sub: 'city-oversight' });
    const { ctx, ids, badge } = await signIn(oversight, 'oversight');
    assert.deepEqual(ids, ['CITY-001', 'JN-001', 'JN-002']);
    assert.match(badge, /只读/);
    assert.equal((await api('GET', '/api/v1/sessions/JN-001', null, oversight)).status, 200);
    const refused = await api('POST', '/api/v1/sessions', session('X-1', '越权', undefined), oversight);
    assert.equal(refused.status, 403);
    await ctx.close();
  });

  it('credit records: each center its own, the oversight all', async () => {
    // A supervisor notes a violation at each center's opening.
    for (const [room, subject, text] of [['CITY-001', 'a', '市级项目：授权委托书与投标文件不一致'], ['JN-001', 'a', '江宁项目：开标现场扰乱秩序']]) {
      const sup = await token({ room, role: 'supervisor', sub: 'sup-1' });
      const { status, data } = await api('POST', `/api/v1/sessions/${room}/commands`, { id: `v-${room}`, type: 'note_violation', data: { subject, text } }, sup);
      assert.equal(status, 200, JSON.stringify(data));
    }
    const rows = async (tok, shot) => {
      const { ctx, page } = await openPage(browser, DESKTOP, pageErrors);
      await page.goto(`${server.base}/admin-credit.html`);
      await byId(page, 'admin-key').fill(tok);
      await byId(page, 'admin-signin-submit').click();
      await byId(page, 'credit-row').first().waitFor();
      const texts = await page.locator('[data-testid="credit-row"]').allTextContents();
      await page.screenshot({ path: path.join(artifacts, `tenancy-credit-${shot}.png`) });
      await ctx.close();
      return texts;
    };
    const county = await rows(await token({ room: '*', role: 'admin', sub: 'jn-admin-2', center: 'jn' }), 'county');
    assert.equal(county.length, 1);
    assert.match(county[0], /江宁项目/);
    assert.match(county[0], /甲公司/); // the bidder's name from the opening
    const all = await rows(await token({ room: '*', role: 'oversight', sub: 'city-oversight-2' }), 'oversight');
    assert.equal(all.length, 2);
    const unexpected = pageErrors.map(String).filter((e) => !/status of (401|403|404)/.test(e));
    assert.deepEqual(unexpected, []);
  });
});
