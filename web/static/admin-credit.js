// The credit records console (admin-credit.html, 信用记录): the violations
// supervisors noted at openings and in evaluations, per bidder, expert or
// agent, for a center's admins (their center) and the city's oversight
// (every center). GET /api/v1/credit does the work; this page filters and
// lists.

import { extend, t, wireLangSwitch, onLangChange } from './i18n.js';
import { $, el } from './dom.js';
import { adminKey, api, beijing, fail, showError, signInFirst, wireConsole } from './admin-common.js';

extend({
  'zh-CN': {
    'cr.tagline': '信用记录',
    'cr.title': '信用记录（不良行为）',
    'cr.hint': '监督人员在开标现场记录的不良行为（投标人、招标代理等）和评标中记录的专家违规（扣分、暂停抽取），按中心查询。分中心只能查询本中心的记录；市级监管可查询全部中心。',
    'cr.f.kind': '对象', 'cr.kind.all': '全部', 'cr.kind.bidder': '投标人', 'cr.kind.expert': '评标专家', 'cr.kind.other': '其他（代理机构等）',
    'cr.f.subject': '编号或名称', 'cr.f.center': '中心', 'cr.center.all': '全部可见中心', 'cr.f.from': '自', 'cr.f.to': '至',
    'cr.search': '查询',
    'cr.count': '共 {n} 条记录',
    'cr.count.truncated': '共 {n} 条记录（只显示最新的，请缩小查询范围）',
    'cr.none': '没有符合条件的记录。',
    'cr.col.at': '时间（北京）', 'cr.col.kind': '对象', 'cr.col.subject': '编号 / 名称', 'cr.col.text': '行为', 'cr.col.sanction': '处理',
    'cr.col.room': '项目', 'cr.col.center': '中心',
    'cr.sanction': '扣 {points} 分', 'cr.suspend': '暂停抽取 {days} 天',
    'cr.v.dates': '“自”的日期不能晚于“至”。',
  },
  en: {
    'cr.tagline': 'Credit records',
    'cr.title': 'Credit records (violations)',
    'cr.hint': 'Violations supervisors noted at openings (bidders, tendering agents…) and experts’ violations noted in evaluations (points deducted, suspensions), by center. A sub-center sees its own records; the city’s oversight sees every center’s.',
    'cr.f.kind': 'Who', 'cr.kind.all': 'Everyone', 'cr.kind.bidder': 'Bidders', 'cr.kind.expert': 'Experts', 'cr.kind.other': 'Others (agents…)',
    'cr.f.subject': 'Id or name', 'cr.f.center': 'Center', 'cr.center.all': 'Every center you see', 'cr.f.from': 'From', 'cr.f.to': 'To',
    'cr.search': 'Search',
    'cr.count': '{n} records',
    'cr.count.truncated': '{n} records (the newest only: narrow the search)',
    'cr.none': 'No records match.',
    'cr.col.at': 'When (Beijing)', 'cr.col.kind': 'Who', 'cr.col.subject': 'Id / name', 'cr.col.text': 'What', 'cr.col.sanction': 'Sanction',
    'cr.col.room': 'Session', 'cr.col.center': 'Center',
    'cr.sanction': '−{points} points', 'cr.suspend': 'suspended {days} days',
    'cr.v.dates': '“From” must not be after “To”.',
  },
});

let last = null; // the last answer, redrawn on a language change
const centerNames = {};

function show(view) {
  for (const v of ['admin-signin', 'credit-view']) $(v).hidden = v !== view;
  $('admin-signout').hidden = !adminKey();
}

async function route() {
  if (signInFirst(show)) return;
  show('credit-view');
  try {
    const d = await api('GET', '/api/v1/centers');
    const sel = $('credit-center');
    sel.replaceChildren(el('option', { value: '', 'data-i18n': 'cr.center.all' }, t('cr.center.all')));
    for (const c of d.centers) {
      centerNames[c.id] = c.name;
      sel.append(el('option', { value: c.id }, c.name));
    }
  } catch (err) {
    fail('credit-error', err);
  }
  await search();
}

async function search() {
  const f = $('credit-filter');
  const q = new URLSearchParams();
  for (const name of ['kind', 'subject', 'center', 'from', 'to']) {
    const v = f.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  if (q.get('from') && q.get('to') && q.get('from') > q.get('to')) {
    showError('credit-error', t('cr.v.dates'));
    return;
  }
  showError('credit-error', '');
  try {
    last = await api('GET', `/api/v1/credit?${q}`);
    render();
  } catch (err) {
    fail('credit-error', err);
  }
}

function render() {
  if (!last) return;
  const n = last.entries.length;
  $('credit-count').textContent = n ? t(last.truncated ? 'cr.count.truncated' : 'cr.count', { n }) : t('cr.none');
  $('credit-rows').replaceChildren(...last.entries.map((x) => {
    const sanction = [x.points ? t('cr.sanction', { points: x.points }) : '', x.suspend_days ? t('cr.suspend', { days: x.suspend_days }) : ''].filter(Boolean).join('，');
    return el('tr', { testid: 'credit-row', 'data-kind': x.kind, 'data-subject': x.subject },
      el('td', { 'data-label': t('cr.col.at') }, beijing(x.at)),
      el('td', { 'data-label': t('cr.col.kind') }, t(`cr.kind.${x.kind}`)),
      el('td', { 'data-label': t('cr.col.subject') }, x.name ? `${x.subject}（${x.name}）` : x.subject),
      el('td', { 'data-label': t('cr.col.text') }, x.text),
      el('td', { 'data-label': t('cr.col.sanction') }, sanction || '—'),
      el('td', { 'data-label': t('cr.col.room') }, `${x.title}（${x.room}）`),
      el('td', { 'data-label': t('cr.col.center') }, centerNames[x.center] || x.center));
  }));
}

wireLangSwitch();
onLangChange(render);
wireConsole({ route, forget: () => { last = null; } });
$('credit-filter').addEventListener('submit', (e) => {
  e.preventDefault();
  search();
});
route();
