// The statistics dashboard (交易统计): for the admin API key, a center
// admin's or supervisor's token (their center) and the city's oversight
// (every center, or one). A period (this month, quarter, year, or dates),
// a center; the figures of GET /api/v1/stats as cards, charts (Chart.js,
// vendored in vendor/) and tables; the same figures downloaded as CSV or
// XLSX from GET /api/v1/stats/export. Definitions: docs/stats.md.

import './i18n-stats.js';
import { t, wireLangSwitch, onLangChange, lang } from './i18n.js';
import { $, el } from './dom.js';
import { adminKey, wireConsole, signInFirst, syncClock, now, describe, showError, keyRefused, api, ApiError } from './admin-common.js';

const Chart = window.Chart;
const BEIJING_MS = 8 * 3_600_000;
const COLORS = ['#1f6feb', '#d9480f', '#2f9e44', '#ae3ec9', '#f08c00', '#0c8599', '#e03131'];

let last = null; // the last answer of GET /api/v1/stats
const charts = {};

/** beijingDate is a Date's calendar day in Beijing as YYYY-MM-DD. */
function beijingDate(d) {
  return new Date(d.getTime() + BEIJING_MS).toISOString().slice(0, 10);
}

/** period returns {from, to} (dates, to included) for the period picked. */
function period() {
  const kind = $('stats-period').value;
  const today = beijingDate(now());
  const [y, m] = today.split('-').map(Number);
  const iso = (yy, mm, dd) => `${yy}-${String(mm).padStart(2, '0')}-${String(dd).padStart(2, '0')}`;
  const lastDay = (yy, mm) => new Date(Date.UTC(yy, mm, 0)).getUTCDate(); // mm 1-based: day 0 of the next month
  switch (kind) {
    case 'month':
      return { from: iso(y, m, 1), to: iso(y, m, lastDay(y, m)) };
    case 'quarter': {
      const q0 = Math.floor((m - 1) / 3) * 3 + 1;
      return { from: iso(y, q0, 1), to: iso(y, q0 + 2, lastDay(y, q0 + 2)) };
    }
    case 'custom':
      return { from: $('stats-from').value, to: $('stats-to').value };
    default:
      return { from: iso(y, 1, 1), to: iso(y, 12, 31) };
  }
}

function query() {
  const p = period();
  if (!p.from || !p.to || p.from > p.to) return null;
  const q = new URLSearchParams({ from: p.from, to: p.to });
  const center = $('stats-center').value;
  if (center) q.set('center', center);
  return q;
}

const num = (n) => (n === null || n === undefined ? t('st.none') : Number(n).toLocaleString(lang() === 'en' ? 'en-US' : 'zh-CN'));
const pct = (r) => (r === null || r === undefined ? t('st.none') : `${(r * 100).toFixed(2)}%`);
const dec = (r, d = 2) => (r === null || r === undefined ? t('st.none') : Number(r).toFixed(d));
/** yuan writes an exact decimal amount (a string) with group separators. */
function yuan(s) {
  const [w, f] = String(s).split('.');
  const neg = w.startsWith('-');
  const g = (neg ? w.slice(1) : w).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (neg ? '-' : '') + g + (f ? `.${f}` : '');
}
const wan = (s) => Number(s) / 10000;
const catName = (k) => (t(`st.cat.${k}`) === `st.cat.${k}` ? k : t(`st.cat.${k}`));
function centerName(id) {
  const c = (last && last.centers.find((x) => x.id === id)) || null;
  return c ? c.name : id;
}

function kpi(id, label, value, sub) {
  return el('div', { class: 'stats-kpi', testid: `kpi-${id}` },
    el('span', { class: 'kpi-label', text: label }),
    el('span', { class: 'kpi-value', testid: `kpi-${id}-value`, text: value }),
    el('span', { class: 'kpi-sub', text: sub }));
}

function renderKpis(f) {
  $('stats-kpis').replaceChildren(
    kpi('sessions', t('st.kpi.sessions'), num(f.sessions), t('st.kpi.sessionsSub', { due: num(f.due), completed: num(f.completed) })),
    kpi('failed', t('st.kpi.failed'), pct(f.failed_rate), t('st.kpi.failedSub', { n: num(f.failed) })),
    kpi('bids', t('st.kpi.bids'), dec(f.bids_per_section), t('st.kpi.bidsSub', { n: num(f.bids) })),
    kpi('unlock', t('st.kpi.unlock'), pct(f.unlock_failure_rate), t('st.kpi.unlockSub', { n: num(f.unlock_failures), not: num(f.bids_not_opened) })),
    kpi('award', t('st.kpi.award'), yuan(f.award_total), t('st.kpi.awardSub', { n: num(f.awarded) })),
    kpi('savings', t('st.kpi.savings'), pct(f.savings_rate), t('st.kpi.savingsSub', { amount: yuan(f.savings), n: num(f.savings_sessions) })),
    kpi('experts', t('st.kpi.experts'), num(f.experts_drawn), t('st.kpi.expertsSub', { n: num(f.evaluations_drawn), reserves: num(f.reserves_drawn) })),
    kpi('auctions', t('st.kpi.auctions'), `${num(f.sold)} / ${num(f.auctions_ended)}`, t('st.kpi.auctionsSub', { amount: yuan(f.sold_total), premium: pct(f.premium_rate) })),
  );
}

function table(testid, rows, name) {
  const cols = [
    ['st.col.key', (r) => name(r.key)],
    ['st.col.sessions', (r) => num(r.sessions)],
    ['st.col.failed', (r) => num(r.failed)],
    ['st.col.failedRate', (r) => pct(r.failed_rate)],
    ['st.col.bidsPer', (r) => dec(r.bids_per_section)],
    ['st.col.unlock', (r) => num(r.unlock_failures)],
    ['st.col.unlockRate', (r) => pct(r.unlock_failure_rate)],
    ['st.col.awarded', (r) => num(r.awarded)],
    ['st.col.award', (r) => yuan(r.award_total)],
    ['st.col.budget', (r) => yuan(r.budget_total)],
    ['st.col.savingsRate', (r) => pct(r.savings_rate)],
    ['st.col.noBudget', (r) => num(r.no_budget)],
    ['st.col.experts', (r) => num(r.experts_drawn)],
    ['st.col.auctions', (r) => num(r.auctions)],
    ['st.col.sold', (r) => num(r.sold)],
    ['st.col.soldTotal', (r) => yuan(r.sold_total)],
  ];
  $(testid).replaceChildren(
    el('thead', {}, el('tr', {}, ...cols.map(([k]) => el('th', { text: t(k) })))),
    el('tbody', {}, ...rows.map((r) => el('tr', { 'data-key': r.key }, ...cols.map(([, f]) => el('td', { text: f(r) }))))),
  );
}

function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = { responsive: true, maintainAspectRatio: false, animation: false, ...config.options };
  charts[id] = new Chart($(id), config);
}

const rate100 = (r) => (r === null || r === undefined ? null : +(r * 100).toFixed(2));

function renderCharts(s) {
  const cats = s.categories;
  chart('chart-category', {
    type: 'bar',
    data: {
      labels: cats.map((r) => catName(r.key)),
      datasets: [
        { label: t('st.s.sessions'), data: cats.map((r) => r.sessions + r.auctions), backgroundColor: COLORS[0] },
        { label: t('st.s.failed'), data: cats.map((r) => r.failed + r.unsold), backgroundColor: COLORS[1] },
      ],
    },
  });
  const months = s.months;
  chart('chart-monthly', {
    type: 'line',
    data: {
      labels: months.map((r) => r.key),
      datasets: [
        { label: t('st.s.sessions'), data: months.map((r) => r.sessions), borderColor: COLORS[0], backgroundColor: COLORS[0], yAxisID: 'y' },
        { label: t('st.s.award'), data: months.map((r) => wan(r.award_total)), borderColor: COLORS[2], backgroundColor: COLORS[2], yAxisID: 'y1' },
      ],
    },
    options: { scales: { y: { beginAtZero: true, position: 'left' }, y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false } } } },
  });
  const withSavings = cats.filter((r) => r.sessions > 0);
  chart('chart-savings', {
    type: 'bar',
    data: {
      labels: withSavings.map((r) => catName(r.key)),
      datasets: [{ label: t('st.s.savings'), data: withSavings.map((r) => rate100(r.savings_rate)), backgroundColor: COLORS[2] }],
    },
  });
  chart('chart-failures', {
    type: 'bar',
    data: {
      labels: s.centers.map((r) => centerName(r.key)),
      datasets: [
        { label: t('st.s.failedRate'), data: s.centers.map((r) => rate100(r.failed_rate)), backgroundColor: COLORS[1] },
        { label: t('st.s.unlockRate'), data: s.centers.map((r) => rate100(r.unlock_failure_rate)), backgroundColor: COLORS[3] },
      ],
    },
  });
  chart('chart-auctions', {
    type: 'bar',
    data: {
      labels: months.map((r) => r.key),
      datasets: [
        { label: t('st.s.sold'), data: months.map((r) => r.sold), backgroundColor: COLORS[2], stack: 'n', yAxisID: 'y' },
        { label: t('st.s.unsold'), data: months.map((r) => r.unsold), backgroundColor: COLORS[1], stack: 'n', yAxisID: 'y' },
        { type: 'line', label: t('st.s.soldTotal'), data: months.map((r) => wan(r.sold_total)), borderColor: COLORS[4], backgroundColor: COLORS[4], yAxisID: 'y1' },
      ],
    },
    options: { scales: { y: { beginAtZero: true, stacked: true }, y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false } } } },
  });
}

function render() {
  if (!last) return;
  const s = last.stats;
  const lastDay = beijingDate(new Date(new Date(s.to).getTime() - 1));
  $('stats-range').textContent = t('st.range', { from: beijingDate(new Date(s.from)), to: lastDay });
  renderKpis(s.total);
  renderCharts(s);
  table('stats-by-category', s.categories, catName);
  table('stats-by-center', s.centers, centerName);
}

function fillCenters(list, all) {
  const sel = $('stats-center');
  const keep = sel.value;
  sel.replaceChildren(el('option', { value: '', text: t('st.center.all') }), ...list.map((c) => el('option', { value: c.id, text: c.name })));
  sel.value = list.some((c) => c.id === keep) ? keep : '';
  $('stats-center-field').hidden = !all || list.length < 2;
}

async function load() {
  const q = query();
  if (!q) {
    showError('stats-error', t('st.badRange'));
    return;
  }
  showError('stats-error', '');
  try {
    last = await api('GET', `/api/v1/stats?${q}`);
    fillCenters(last.centers, last.all);
    render();
    $('stats-board').dataset.loaded = q.toString();
  } catch (err) {
    if (!keyRefused(err)) showError('stats-error', describe(err));
  }
}

/** download fetches an export with the key and saves it under the server's name. */
async function download(format) {
  const q = query();
  if (!q) {
    showError('stats-error', t('st.badRange'));
    return;
  }
  q.set('format', format);
  q.set('lang', lang() === 'en' ? 'en' : 'zh');
  try {
    const r = await fetch(`/api/v1/stats/export?${q}`, { headers: { Authorization: `Bearer ${adminKey()}` }, cache: 'no-store' });
    if (!r.ok) {
      const e = ((await r.json().catch(() => null)) || {}).error || {};
      throw new ApiError(r.status, e.code || `http_${r.status}`, e.message || '', e);
    }
    const name = (/filename="([^"]+)"/.exec(r.headers.get('Content-Disposition') || '') || [])[1] || `stats.${format}`;
    const url = URL.createObjectURL(await r.blob());
    const a = el('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    if (!keyRefused(err)) showError('stats-error', describe(err));
  }
}

function show(which) {
  $('admin-signin').hidden = which !== 'admin-signin';
  $('stats-board').hidden = which !== 'stats-board';
  document.querySelector('.admin-signout').hidden = which === 'admin-signin';
}

function route() {
  if (signInFirst(show)) return;
  show('stats-board');
  load();
}

function init() {
  wireLangSwitch();
  onLangChange(() => {
    if (last) fillCenters(last.centers, last.all);
    render();
  });
  wireConsole({ route, forget: () => { last = null; } });
  $('stats-period').addEventListener('change', () => {
    const custom = $('stats-period').value === 'custom';
    for (const f of document.querySelectorAll('.stats-custom')) f.hidden = !custom;
    if (custom && !$('stats-from').value) {
      const p = { from: `${beijingDate(now()).slice(0, 4)}-01-01`, to: beijingDate(now()) };
      $('stats-from').value = p.from;
      $('stats-to').value = p.to;
    }
    if (!custom) load();
  });
  $('stats-center').addEventListener('change', load);
  $('stats-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  $('stats-export-csv').addEventListener('click', () => download('csv'));
  $('stats-export-xlsx').addEventListener('click', () => download('xlsx'));
  syncClock().finally(route);
}

init();
