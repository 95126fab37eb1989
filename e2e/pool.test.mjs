// The expert pool and evaluation console (web/static/admin-pool.html) in a
// real Chromium against a real `bidroom serve`: reached from the session
// console; a CSV with a bad row refused row by row in words with nothing
// added, then a good one previewed, checked and imported; search and
// filters; an expert suspended with a reason (the badge in the list and on
// the expert, the step in the history); an evaluation created from an
// opening with a signed record (run over REST with bidtool and OpenSSL),
// a supervisor's link opened before the draw, the draw (the suspended
// expert not drawn, the exclusion counted) seen live on the supervisor's
// page and re-run with `bidroom draw --verify`, the members' links and the
// start. Chinese and English, desktop and phone width with no sideways
// scroll; screenshots in e2e/artifacts/pool-*.png.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { byId, DESKTOP, eventually, launch, newPage, PHONE } from './lib/browser.mjs';
import { finishOpening } from './lib/finished.mjs';
import { artifacts, openingHarness, run } from './lib/opening.mjs';

const OPENING = 'e2e-pool-op';
const EVAL = 'PJ-e2e-pool-op';
const BIDDERS = [
  { id: 'b1', name: '江苏恒达建设工程有限公司', price: '8860000.00' },
  { id: 'b2', name: '南京市政路桥集团有限公司', price: '9120000.00' },
];
// Specialties A03 (水利) and B01 (财务) are these experts' alone: the demo's pool has A01 and B02.
const EXPERTS = [
  ['e2e-w01', '王立新', '城南水利设计院', 'A03', '市中心', '13812340001'],
  ['e2e-w02', '赵海波', '江宁水务集团', 'A03', '江宁分中心', '13812340002'],
  ['e2e-w03', '钱文涛', '河海大学', 'A03;A04', '市中心', '13812340003'],
  ['e2e-w04', '孙红梅', '市给排水设计院', 'A04', '江宁分中心', '13812340004'],
  ['e2e-w05', '李国强', '市水利规划院', 'A03', '市中心', '13812340005'],
  ['e2e-w06', '周晓燕', '江宁会计师事务所', 'B01', '江宁分中心', '13812340006'],
  ['e2e-w07', '吴建华', '省财经大学', 'B01', '市中心', '13812340007'],
  ['e2e-w08', '郑丽', '华审会计师事务所', 'B01', '市中心', '13812340008'],
  ['e2e-w09', '冯志强', '省水利科学研究院', 'A03', '江宁分中心', '13812340009'],
];
const SUSPENDED = 'e2e-w02';
// What the page causes on purpose: the server's refusal of the bad import, shown in words,
// and a related expert's id looked up in the pool and not found (404).
const EXPECTED_CONSOLE = /Failed to load resource: the server responded with a status of (400|404)/;

/** csv quotes every field, as a spreadsheet exports it. */
const csv = (rows) => rows.map((r) => r.map((f) => `"${String(f).replaceAll('"', '""')}"`).join(',')).join('\r\n') + '\r\n';
const HEADER = ['id', 'name', 'employer', 'specialties', 'center', 'phone', 'credit', 'public_key'];

describe('the expert pool and evaluation console in Chromium', () => {
  const h = openingHarness('pool');
  let browser;
  const errors = [];
  const keys = {}; // expert id → public key PEM
  let ctx;
  let page;
  let supPage;

  before(async () => {
    await h.setUp();
    browser = await launch();
    await Promise.all(EXPERTS.map(async ([id]) => {
      const key = path.join(h.tmp, `${id}.key.pem`);
      await run('openssl', ['genpkey', '-algorithm', 'SM2', '-out', key]);
      keys[id] = (await run('openssl', ['pkey', '-in', key, '-pubout'])).stdout;
    }));
    await finishOpening(h, OPENING, BIDDERS);
    ({ ctx, page } = await newPage(browser, DESKTOP, errors));
  }, { timeout: 300_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await h.tearDown();
  });

  const shot = (p, name) => p.screenshot({ path: path.join(artifacts, `pool-${name}.png`), fullPage: true });

  async function noSidewaysScroll(p, what) {
    const [scroll, width] = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= width, `${what}: the page scrolls sideways (${scroll} > ${width})`);
  }

  const rowIds = (p) => byId(p, 'expert-row').evaluateAll((rows) => rows.map((r) => r.dataset.id));

  async function search(p, { q = '', specialty = '', center = '', status = '' }) {
    await byId(p, 'pool-q').fill(q);
    await byId(p, 'pool-specialty').selectOption(specialty);
    await byId(p, 'pool-center').selectOption(center);
    await byId(p, 'pool-status').selectOption(status);
    const answer = p.waitForResponse((r) => r.url().includes('/api/v1/pool/experts?'));
    await byId(p, 'pool-search').click();
    await answer;
    await p.waitForFunction(() => !document.querySelector('[data-testid="pool-error"]').textContent);
  }

  it('is linked from the session console and keeps the signed-in key', async () => {
    await page.goto(`${h.server.base}/admin.html`);
    await byId(page, 'admin-key').fill(h.adminKey);
    await byId(page, 'admin-signin-submit').click();
    await byId(page, 'admin-list').waitFor();
    assert.equal(await byId(page, 'admin-pool-link').textContent(), '专家库与评标');
    await byId(page, 'admin-pool-link').click();
    await page.waitForURL(/\/admin-pool\.html$/);
    await byId(page, 'pool-view').waitFor();
    assert.equal(await byId(page, 'admin-signin').isVisible(), false);
    // The demo's experts are there already; none of this test's. (The view shows before the list arrives.)
    await eventually(async () => assert.match(await byId(page, 'pool-count').textContent(), /共 \d+ 名专家/));
  });

  it('refuses a CSV with a bad row in words and adds nothing from it', async () => {
    await byId(page, 'tab-import').click();
    await byId(page, 'import-view').waitFor();
    const bad = csv([HEADER,
      ['e2e-w01', '王立新', '城南水利设计院', 'A03', '市中心', '13812340001', '', keys['e2e-w01']],
      ['e2e-w02', '赵海波', '江宁水务集团', 'Z99', '江宁分中心', '13812340002', '', keys['e2e-w02']],
      ['e2e w03', '钱文涛', '河海大学', 'A03', '市中心', '', '', keys['e2e-w03']]]);
    await byId(page, 'import-file').setInputFiles({ name: '专家名单-有误.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
    await byId(page, 'import-preview').waitFor();
    assert.equal(await byId(page, 'preview-row').count(), 3);
    assert.match(await byId(page, 'import-summary').textContent(), /共 3 行专家/);
    assert.match(await byId(page, 'preview-row').first().textContent(), /A03 水利水电工程.*SM2 公钥/);
    await byId(page, 'import-submit').click();
    await byId(page, 'import-rows').waitFor();
    assert.equal(await byId(page, 'import-rows-summary').textContent(), '未导入任何专家：共 3 行，其中 2 行有问题。请改正以下各行后重新导入。');
    const rows = await byId(page, 'import-row-error').allTextContents();
    assert.equal(rows.length, 2);
    assert.match(rows[0], /^第 2 行（文件第 \d+ 行，编号 e2e-w02）：专业代码“Z99”不在专业分类目录中$/);
    assert.match(rows[1], /^第 3 行（文件第 \d+ 行，编号 e2e w03）：编号“e2e w03”无效/);
    await shot(page, 'import-refused-zh-1366');
    const d = await h.api('GET', '/api/v1/pool/experts?q=e2e-w');
    assert.equal(d.total, 0, 'a refused import added experts');
  });

  it('previews, checks and imports a good CSV', async () => {
    const good = csv([HEADER, ...EXPERTS.map(([id, name, employer, spec, center, phone]) => [id, name, employer, spec, center, phone, '', keys[id]])]);
    await byId(page, 'import-file').setInputFiles({ name: '专家名单.csv', mimeType: 'text/csv', buffer: Buffer.from(`\ufeff${good}`) });
    await byId(page, 'import-preview').waitFor();
    assert.equal(await byId(page, 'import-rows').isVisible(), false, 'a new file clears the old refusal');
    assert.equal(await byId(page, 'preview-row').count(), 5, 'the preview shows the first rows');
    await byId(page, 'import-check').click();
    await byId(page, 'import-done').waitFor();
    assert.equal(await byId(page, 'import-done').textContent(), '检查通过：9 名专家都可以导入（尚未导入）。');
    assert.equal((await h.api('GET', '/api/v1/pool/experts?q=e2e-w')).total, 0, 'a check imports nothing');
    await byId(page, 'import-submit').click();
    await byId(page, 'import-done').getByText('已导入 9 名专家。').waitFor();
    assert.equal(await byId(page, 'import-submit').isDisabled(), true, 'the same file is not imported twice');
    assert.equal((await h.api('GET', '/api/v1/pool/experts?q=e2e-w')).total, 9);
  });

  it('searches and filters by name, specialty and center', async () => {
    await byId(page, 'tab-pool').click();
    await byId(page, 'pool-view').waitFor();
    await search(page, { q: '水利' });
    assert.deepEqual(await rowIds(page), ['e2e-w01', 'e2e-w05', 'e2e-w09']);
    assert.match(await byId(page, 'pool-count').textContent(), /^符合条件的专家 3 名（专家库共 \d+ 名）。$/);
    await search(page, { specialty: 'B01' });
    assert.deepEqual(await rowIds(page), ['e2e-w06', 'e2e-w07', 'e2e-w08']);
    await search(page, { specialty: 'A03', center: '江宁分中心' });
    assert.deepEqual(await rowIds(page), ['e2e-w02', 'e2e-w09']);
    const row = byId(page, 'expert-row').first();
    assert.match(await row.textContent(), /赵海波e2e-w02江宁水务集团A03 水利水电工程江宁分中心13812340002100可抽取0/);
    await shot(page, 'list-zh-1366');
  });

  it('suspends an expert with a reason: the badge, the list, the history', async () => {
    await byId(page, 'expert-link').first().click();
    await byId(page, 'expert-view').waitFor();
    await byId(page, 'expert-steps').waitFor();
    assert.equal(await byId(page, 'expert-title').textContent(), '赵海波（e2e-w02）');
    // A reason is required, in the page, before anything is sent.
    await byId(page, 'suspend-submit').click();
    assert.deepEqual(await byId(page, 'field-error').allTextContents(), ['请选择暂停截止日期。', '请写明理由，它将记入专家履历。']);
    const until = new Date(Date.now() + 8 * 3600e3 + 90 * 86400e3).toISOString().slice(0, 10);
    await byId(page, 'suspend-until').fill(until);
    await byId(page, 'suspend-reason').fill('一年内两次无正当理由缺席评标');
    await byId(page, 'suspend-submit').click();
    await byId(page, 'expert-badges').locator('[data-status="suspended"]').waitFor();
    assert.equal(await byId(page, 'expert-badges').locator('[data-testid="status-badge"]').textContent(), `暂停至 ${until}`);
    assert.match(await byId(page, 'suspend-reason-shown').textContent(), /一年内两次无正当理由缺席评标/);
    const first = byId(page, 'history-item').first();
    assert.equal(await first.getAttribute('data-type'), 'suspended');
    assert.match(await first.textContent(), new RegExp(`暂停评标资格至 ${until}。理由：一年内两次无正当理由缺席评标操作：管理员`));
    assert.equal(await byId(page, 'reinstate-form').isVisible(), true);
    await shot(page, 'expert-suspended-zh-1366');

    await page.goBack();
    await byId(page, 'pool-view').waitFor();
    await search(page, { status: 'suspended', q: 'e2e' });
    assert.deepEqual(await rowIds(page), [SUSPENDED]);
    assert.equal(await byId(page, 'status-badge').first().textContent(), `暂停至 ${until}`);
  });

  it('offers only openings with a signed record and checks the form in the page', async () => {
    await byId(page, 'tab-evals').click();
    await byId(page, 'evals-view').waitFor();
    await byId(page, 'evals-new').click();
    await byId(page, 'new-eval-view').waitFor();
    await byId(page, 'ne-opening').locator(`option[value="${OPENING}"]`).waitFor({ state: 'attached' });
    const offered = await byId(page, 'ne-opening').locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    assert.ok(offered.includes(OPENING), `offered: ${offered}`);
    const sessions = (await h.api('GET', '/api/v1/sessions')).sessions;
    for (const s of sessions.filter((x) => x.kind === 'opening')) {
      assert.equal(offered.includes(s.id), s.phase === 'record' || s.phase === 'closed', `${s.id} (${s.phase})`);
    }
    const live = sessions.find((x) => x.kind === 'opening' && x.phase !== 'record' && x.phase !== 'closed');
    if (live) assert.match(await byId(page, 'ne-not-offered').textContent(), new RegExp(`${live.id} 尚未生成开标记录`));

    await byId(page, 'ne-opening').selectOption(OPENING);
    assert.equal(await byId(page, 'ne-id').inputValue(), EVAL);
    assert.equal(await byId(page, 'ne-title').inputValue(), '城南污水处理厂扩建工程施工 评标');
    // An even committee, no tenderer, quotas that do not add up: all said at once, nothing sent.
    let posts = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/v1/evaluations')) posts++;
    });
    await byId(page, 'ne-size').fill('6');
    await byId(page, 'ne-submit').click();
    const problems = await byId(page, 'ne-errors').locator('li').allTextContents();
    assert.ok(problems.includes('委员会人数须为 5–25 之间的单数（R19）。'), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('请填写招标人')), problems.join('\n'));
    assert.equal(posts, 0);

    await byId(page, 'ne-size').fill('5');
    await byId(page, 'ne-tenderer').fill('城南水务集团');
    const quota = (i, id) => byId(page, 'quota-row').nth(i).locator(`[data-testid="${id}"]`);
    await quota(0, 'quota-specialty').selectOption('A03');
    await quota(0, 'quota-count').fill('3');
    await quota(0, 'quota-reserves').fill('1');
    await quota(1, 'quota-specialty').selectOption('B01');
    await quota(1, 'quota-count').fill('2');
    await quota(1, 'quota-reserves').fill('1');
    assert.equal(await byId(page, 'ne-seats').getAttribute('data-ok'), 'true');
    assert.equal(await byId(page, 'ne-total').textContent(), '评分项与价格分合计 100 分（不超过 100 分）。');
    await byId(page, 'ne-related').fill('e2e-nobody');
    await byId(page, 'ne-submit').click();
    await byId(page, 'ne-errors').getByText('专家库中没有这些专家：e2e-nobody。请核对编号。').waitFor();
    await byId(page, 'ne-related').fill('');
    await shot(page, 'new-evaluation-zh-1366');
    await byId(page, 'ne-submit').click();
    await byId(page, 'eval-view').waitFor();
    await byId(page, 'ev-phase').locator('[data-phase="drawing"]').waitFor();
    assert.equal(posts, 1);
  });

  it('mints a supervisor link before the draw; the draw leaves the suspended expert out and the supervisor sees it live', async () => {
    assert.match(await byId(page, 'ev-draw-hint').textContent(), /建议先生成监督人链接/);
    await byId(page, 'sup-name').fill('监督人 张敏');
    await byId(page, 'sup-submit').click();
    await byId(page, 'sup-links').locator('[data-testid="link"]').waitFor();
    const supUrl = await byId(page, 'sup-links').locator('[data-testid="link-url"]').inputValue();
    assert.match(supUrl, new RegExp(`/eval\\.html#room=${EVAL}&token=`));
    // The supervisor opens the evaluation page before the draw.
    ({ page: supPage } = await newPage(browser, DESKTOP, errors));
    await supPage.goto(supUrl);
    await byId(supPage, 'phase').and(supPage.locator('[data-phase="drawing"]')).waitFor();

    await byId(page, 'ev-draw').click();
    await byId(page, 'ev-draw-result').waitFor();
    const drawn = await byId(page, 'drawn-row').evaluateAll((rows) => rows.map((r) => [r.dataset.id, r.dataset.reserve]));
    assert.equal(drawn.length, 7, JSON.stringify(drawn));
    assert.deepEqual(drawn.filter(([, r]) => r === 'false').length, 5);
    assert.ok(!drawn.some(([id]) => id === SUSPENDED), 'the suspended expert was drawn');
    // A03 had five experts, one suspended: the other four fill its 3 + 1; B01's three fill its 2 + 1.
    assert.deepEqual(drawn.map(([id]) => id).sort(), ['e2e-w01', 'e2e-w03', 'e2e-w05', 'e2e-w06', 'e2e-w07', 'e2e-w08', 'e2e-w09']);
    assert.match(await byId(page, 'ev-excluded').textContent(), /暂停评标资格 1 名/);
    assert.match(await byId(page, 'ev-seed').textContent(), /^[0-9a-f]{64}$/);
    assert.equal(await byId(page, 'ev-draw').isVisible(), false, 'no second draw');
    // The supervisor's page shows the record as it is made.
    await supPage.locator('[data-testid="draw-row"]').nth(6).waitFor({ timeout: 10_000 });
    assert.equal(await supPage.locator(`[data-testid="draw-row"][data-expert="${SUSPENDED}"]`).count(), 0);
    await shot(page, 'draw-zh-1366');
  });

  it('gives the command that re-runs the draw, and it verifies', async () => {
    assert.match(await byId(page, 'ev-verify-cmd').inputValue(), /--token <监督人令牌>$/);
    await byId(page, 'ev-verify-token').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid="ev-verify-cmd"]').value.includes('<'));
    const cmd = await byId(page, 'ev-verify-cmd').inputValue();
    const args = cmd.split(' ');
    assert.deepEqual(args.slice(0, 7), ['bidroom', 'draw', '--verify', '--evaluation', EVAL, '--server', h.server.base]);
    const { stdout } = await run(h.server.bin, args.slice(1), { timeout: 60_000 });
    assert.match(stdout, new RegExp(`draw for ${EVAL} verified`));
    assert.match(stdout, /专家抽取复核通过/);
    assert.ok(!stdout.includes(SUSPENDED));
  });

  it('mints every member a link to the evaluation page, then starts the evaluation', async () => {
    await byId(page, 'ev-mint-all').click();
    await byId(page, 'member-links').locator('[data-testid="link"]').nth(4).waitFor();
    const urls = await byId(page, 'member-links').locator('[data-testid="link-url"]').evaluateAll((ins) => ins.map((i) => i.value));
    assert.equal(urls.length, 5);
    for (const u of urls) assert.match(u, new RegExp(`/eval\\.html#room=${EVAL}&token=`));
    const subs = await byId(page, 'member-links').locator('[data-testid="link"]').evaluateAll((ls) => ls.map((l) => l.dataset.sub));
    assert.ok(!subs.includes(SUSPENDED));

    await byId(page, 'ev-start').click();
    await byId(page, 'ev-start-confirm').waitFor();
    await byId(page, 'ev-start-ok').click();
    await byId(page, 'ev-phase').locator('[data-phase="convened"]').waitFor();
    assert.match(await byId(page, 'ev-start-hint').textContent(), /评标已开始/);
    assert.equal(await byId(page, 'ev-start').isVisible(), false);
    await noSidewaysScroll(page, 'the evaluation at 1366');
    await shot(page, 'evaluation-started-zh-1366');
  });

  it('speaks English', async () => {
    await byId(page, 'lang-en').click();
    assert.equal(await byId(page, 'ev-start-hint').textContent(), 'The evaluation has started; now: Declarations and chair election.');
    assert.match(await byId(page, 'ev-excluded').textContent(), /suspended: 1/);
    await shot(page, 'evaluation-en-1366');
    await byId(page, 'tab-pool').click();
    await byId(page, 'pool-view').waitFor();
    await search(page, { q: 'e2e' });
    assert.match(await byId(page, 'pool-count').textContent(), /^9 experts match/);
    assert.match(await page.locator(`[data-testid="expert-row"][data-id="${SUSPENDED}"]`).textContent(), /Suspended until \d{4}-\d\d-\d\d/);
    await shot(page, 'list-en-1366');
    await byId(page, 'tab-import').click();
    await shot(page, 'import-en-1366');
    await byId(page, 'lang-zh').click();
  });

  it('fits a phone: the list, an expert, an import refusal and the evaluation, without sideways scrolling', async () => {
    for (const l of ['zh-CN', 'en']) {
      const { ctx: pc, page: p } = await newPage(browser, PHONE, errors);
      await p.goto(`${h.server.base}/admin-pool.html`);
      if (l === 'en') await byId(p, 'lang-en').click();
      await byId(p, 'admin-key').fill(h.adminKey);
      await byId(p, 'admin-signin-submit').click();
      await byId(p, 'pool-view').waitFor();
      await search(p, { q: 'e2e' });
      await noSidewaysScroll(p, `the list (${l})`);
      await shot(p, `list-${l}-390`);
      await p.locator(`[data-testid="expert-row"][data-id="${SUSPENDED}"] [data-testid="expert-link"]`).click();
      await byId(p, 'expert-steps').waitFor();
      await noSidewaysScroll(p, `the expert (${l})`);
      await shot(p, `expert-${l}-390`);
      await p.goto(`${h.server.base}/admin-pool.html#import`);
      await byId(p, 'import-view').waitFor();
      const bad = csv([HEADER, ['e2e-x1', '某', '某单位', 'Q7', '市中心', '', '', keys['e2e-w01']]]);
      await byId(p, 'import-file').setInputFiles({ name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
      await byId(p, 'import-preview').waitFor();
      await byId(p, 'import-submit').click();
      await byId(p, 'import-rows').waitFor();
      await noSidewaysScroll(p, `the import (${l})`);
      await shot(p, `import-refused-${l}-390`);
      await p.goto(`${h.server.base}/admin-pool.html#new-eval`);
      await byId(p, 'ne-form').waitFor();
      await byId(p, 'ne-opening').locator(`option[value="${OPENING}"]`).waitFor({ state: 'attached' });
      await noSidewaysScroll(p, `the new evaluation (${l})`);
      await shot(p, `new-evaluation-${l}-390`);
      await p.goto(`${h.server.base}/admin-pool.html#eval=${EVAL}`);
      await byId(p, 'ev-draw-result').waitFor();
      await noSidewaysScroll(p, `the evaluation (${l})`);
      await shot(p, `evaluation-${l}-390`);
      await pc.close();
    }
  });

  it('no script errors', async () => {
    await ctx.close();
    assert.deepEqual(errors.map(String).filter((e) => !EXPECTED_CONSOLE.test(e)), []);
  });
});
