// The statistics dashboard (web/static/stats.html) in a real Chromium
// against a real `bidroom serve` on a data directory seeded with 200
// openings, 20 auctions and 24 evaluations (made by the stats package's
// seeder: `go test ./stats -run TestSeedOnTheEmbeddedStore` with
// STATS_SEED_DIR), over three centers: signs in with the admin key,
// checks figures shown against GET /api/v1/stats, switches the period and
// the center, downloads the CSV, and saves the README's screenshot in
// docs/img/stats.png (1366×900).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { byId, eventually, launch, newPage } from './lib/browser.mjs';
import { repoRoot, start } from './lib/server.mjs';

const CENTERS = 'city=市公共资源交易中心,jiangning=江宁分中心,pukou=浦口分中心';

describe('statistics dashboard', { timeout: 600_000 }, () => {
  let server;
  let browser;
  let adminKey;
  let seedDir;
  let ctx, page;
  const pageErrors = [];

  before(async () => {
    seedDir = await mkdtemp(path.join(os.tmpdir(), 'bidroom-stats-seed-'));
    await promisify(execFile)('go', ['test', './stats', '-run', '^TestSeedOnTheEmbeddedStore$', '-count=1'], {
      cwd: repoRoot, timeout: 300_000, maxBuffer: 16 << 20, env: { ...process.env, STATS_SEED_DIR: seedDir },
    });
    [server, browser] = await Promise.all([
      start({ env: { BIDROOM_DATA_DIR: seedDir, BIDROOM_CENTERS: CENTERS } }),
      launch(),
    ]);
    adminKey = (await readFile(path.join(seedDir, 'admin.key'), 'utf8')).trim();
    ({ ctx, page } = await newPage(browser, { width: 1366, height: 900 }, pageErrors, { acceptDownloads: true }));
  }, { timeout: 600_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    if (seedDir) await rm(seedDir, { recursive: true, force: true });
  });

  const rest = async (p) => {
    const r = await fetch(`${server.base}${p}`, { headers: { Authorization: `Bearer ${adminKey}` } });
    assert.equal(r.status, 200, `GET ${p}`);
    return r.json();
  };
  const kpi = async (id) => (await byId(page, `kpi-${id}-value`).textContent()).trim();
  const pct = (r) => `${(r * 100).toFixed(2)}%`;
  const yuan = (s) => s.replace(/^(\d+)/, (w) => w.replace(/\B(?=(\d{3})+(?!\d))/g, ','));

  it('is linked from the session console and shows this year\'s figures as the API gives them', async () => {
    await page.goto(`${server.base}/admin.html`);
    await byId(page, 'admin-key').fill(adminKey);
    await byId(page, 'admin-signin-submit').click();
    await byId(page, 'admin-stats-link').click();
    await page.waitForURL(/stats\.html/);
    await byId(page, 'stats-board').and(page.locator('[data-loaded]')).waitFor();
    const year = new Date(Date.now() + 8 * 3600e3).getUTCFullYear();
    const api = await rest(`/api/v1/stats?from=${year}-01-01&to=${year}-12-31`);
    const f = api.stats.total;
    assert.ok(f.sessions >= 150 && f.failed > 0 && f.awarded > 0 && f.sold > 0, JSON.stringify(f));
    assert.equal(await kpi('sessions'), f.sessions.toLocaleString('zh-CN'));
    assert.equal(await kpi('failed'), pct(f.failed_rate));
    assert.equal(await kpi('savings'), pct(f.savings_rate));
    assert.equal(await kpi('award'), yuan(f.award_total));
    assert.equal(await byId(page, 'stats-by-category').locator('tbody tr').count(), api.stats.categories.length);
    // The oversight's center filter: all three centers offered.
    assert.equal(await byId(page, 'stats-center').locator('option').count(), 4);
    await page.screenshot({ path: path.join(repoRoot, 'docs', 'img', 'stats.png') });
  });

  it('switches the center and the period', async () => {
    await byId(page, 'stats-center').selectOption('jiangning');
    await byId(page, 'stats-board').and(page.locator('[data-loaded*="center=jiangning"]')).waitFor();
    const year = new Date(Date.now() + 8 * 3600e3).getUTCFullYear();
    const jn = await rest(`/api/v1/stats?from=${year}-01-01&to=${year}-12-31&center=jiangning`);
    assert.equal(await kpi('sessions'), jn.stats.total.sessions.toLocaleString('zh-CN'));
    assert.equal(await byId(page, 'stats-by-center').locator('tbody tr').count(), 1);

    await byId(page, 'stats-center').selectOption('');
    await byId(page, 'stats-period').selectOption('custom');
    await byId(page, 'stats-from').fill(`${year}-03-01`);
    await byId(page, 'stats-to').fill(`${year}-03-31`);
    await byId(page, 'stats-apply').click();
    await byId(page, 'stats-board').and(page.locator(`[data-loaded="from=${year}-03-01&to=${year}-03-31"]`)).waitFor();
    const march = await rest(`/api/v1/stats?from=${year}-03-01&to=${year}-03-31`);
    assert.equal(await kpi('sessions'), march.stats.total.sessions.toLocaleString('zh-CN'));
    assert.equal(march.stats.months.length, 1);
    assert.match(await byId(page, 'stats-range').textContent(), new RegExp(`${year}-03-01.*${year}-03-31`));

    await byId(page, 'stats-period').selectOption('month');
    await eventually(async () => assert.match(await byId(page, 'stats-board').getAttribute('data-loaded'), /from=\d{4}-\d{2}-01/));
  });

  it('downloads the CSV with the figures of the page', async () => {
    await byId(page, 'stats-period').selectOption('year');
    await byId(page, 'stats-board').and(page.locator('[data-loaded$="-12-31"]')).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), byId(page, 'stats-export-csv').click()]);
    assert.match(download.suggestedFilename(), /^bidroom-stats-\d{4}-01-01-\d{4}-12-31\.csv$/);
    const file = await download.path();
    const text = await readFile(file, 'utf8');
    assert.equal(text.charCodeAt(0), 0xfeff, 'the CSV starts with a BOM');
    const lines = text.slice(1).trim().split(/\r?\n/).map((l) => l.split(','));
    assert.equal(lines[0][3], '开标场次');
    const total = lines.find((l) => l[0] === '合计');
    assert.equal(total[3], (await kpi('sessions')).replace(/,/g, ''));
    assert.deepEqual(pageErrors, []);
  });
});
