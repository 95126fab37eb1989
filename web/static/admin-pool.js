// The expert pool and evaluation console (专家库与评标): an admin signed in
// with the admin API key (the same key, kept the same way, as admin.html:
// admin-common.js)
// searches and filters the pool, adds and edits experts, imports a CSV or
// JSON file (previewed here, checked by the server row by row), suspends,
// reinstates and adjusts credit with a reason and reads an expert's
// history; then sets up an evaluation from an opening with a signed
// record, mints the supervisors' links before the draw, draws the
// committee, shows the record and the command that re-runs it, mints the
// members' links and starts the evaluation; its results (the platform's
// signature, the publicity, objections, notices) are admin-results.js's.
// Everything is checked here first; what the server refuses is shown in
// words.

import './i18n-admin-pool.js';
import './i18n-admin-auction.js'; // the tab to the auction console
import { t, wireLangSwitch, onLangChange, lang } from './i18n.js';
import { $, el } from './dom.js';
import {
  ID_RE, MAX_TOKEN_HOURS, adminKey, wireConsole, signInFirst, newId, now, syncClock, beijing,
  ApiError, api, describe, showError, keyRefused, fail, guard, textLength, clearErrors, Problems, checkPEM, keyField,
  fact, copyText, linkRow,
} from './admin-common.js';
import { wireResults } from './admin-results.js';

const POOL_ROOM = 'expert-pool';

// The server's limits (rooms.checkExpert, rooms.EvaluationSpec.check,
// scoring.Criteria.Validate, auth.Mint), checked here first.
const DECIMAL_RE = /^[0-9]{1,15}(\.[0-9]{1,4})?$/;
const MAX_IMPORT_BYTES = 16 << 20;
const LINK_HOURS = 72; // members' and supervisors' links last this long
const PAGE_SIZE = 20;
const PREVIEW_ROWS = 5;
const REASONS = ['suspended', 'bidder_employer', 'tenderer_staff', 'related', 'low_credit', 'repeat'];

let catalogue = []; // [{code, name, name_en, specialties: [{code, name, name_en}]}]
let centers = []; // [{center, experts}]
const query = { q: '', specialty: '', center: '', status: '', page: 1 };
let poolPage = null; // the last list answer
let expert = null; // the expert shown: {row, history} or null for a new one
// The import: the file chosen, its body as sent, its preview, and how its last answer is shown (again on a language switch).
const imp = { file: null, kind: '', body: '', rows: 0, busy: false, preview: null, result: null };
let current = null; // the evaluation shown: {id, state}
const links = new Map(); // evaluation id → {sup: [], members: Map(sub → link)}
const verifyTokens = new Map(); // evaluation id → a supervisor token of the pool
let neEdited = { id: false, title: false };
let neKey = newId();

// ---- small helpers ----

/** beijingDate is the Beijing calendar date of d, "2026-12-01". */
const beijingDate = (d) => new Date(new Date(d).getTime() + 8 * 3600e3).toISOString().slice(0, 10);

function specialty(code) {
  for (const c of catalogue) {
    const s = c.specialties.find((x) => x.code === code);
    if (s) return lang() === 'en' ? s.name_en : s.name;
  }
  return '';
}

/** specialtyLabel is "A01 建筑工程" (or the code alone when it is not in the catalogue). */
function specialtyLabel(code) {
  if (code === 'tenderer_rep') return t('ap.rep');
  const n = specialty(code);
  return n ? `${code} ${n}` : code;
}

// ---- talking to the server ----

/** upload sends an import with XMLHttpRequest, for its upload progress; it resolves to {status, data}. */
function upload(path, body, type, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', path);
    x.setRequestHeader('Authorization', `Bearer ${adminKey()}`);
    x.setRequestHeader('Content-Type', type);
    x.setRequestHeader('Idempotency-Key', newId());
    x.responseType = 'json';
    x.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0, false);
    x.upload.onload = () => onProgress(1, 1, true);
    x.onload = () => {
      if (x.status >= 200 && x.status < 300) resolve(x.response);
      else {
        const e = (x.response && x.response.error) || {};
        reject(new ApiError(x.status, e.code || `http_${x.status}`, e.message || '', e));
      }
    };
    x.onerror = () => reject(new ApiError(0, 'network', ''));
    x.send(body);
  });
}

// Server refusals come in English; the common ones are said again in the
// page's language (with their values), the rest shown as written.
const KNOWN = [
  [/^specialty code "([^"]*)" is not in the catalogue/, 'ap.srv.specialty'],
  [/^id must be 1-64 letters.*got "([^"]*)"/, 'ap.srv.id'],
  [/^id (\S+) is already in the pool/, 'ap.srv.idTaken'],
  [/^id (\S+) is also on row (\d+)/, 'ap.srv.idTwice'],
  [/^the public key is also row (\d+)'s/, 'ap.srv.keyTwice'],
  [/^the public key is expert (\S+)'s already/, 'ap.srv.keyTaken'],
  [/^credit "([^"]*)" is not a whole number/, 'ap.srv.creditNaN'],
  [/^credit must be 0-100/, 'ap.srv.creditRange'],
  [/^name is required/, 'ap.srv.name'],
  [/^employer is required/, 'ap.srv.employer'],
  [/^(name|employer) must be valid text of at most (\d+)/, 'ap.srv.tooLong'],
  [/^center must be at most/, 'ap.srv.center'],
  [/^phone must be at most/, 'ap.srv.phone'],
  [/^give 1-\d+ specialty codes/, 'ap.srv.noSpecialty'],
  [/^a specialty code is listed twice/, 'ap.srv.specialtyTwice'],
  [/^public_key is not an SM2/, 'ap.srv.key'],
  [/^public_key must be at most/, 'ap.srv.key'],
  [/^expert (\S+) is not suspended/, 'ap.srv.notSuspended'],
  [/^no expert "?([^"\s]+)"? in the pool/, 'ap.srv.noExpert'],
  [/^opening (\S+) has no signed record yet/, 'ap.srv.noRecord'],
  [/^opening (\S+) has no opened bid/, 'ap.srv.noBids'],
  [/^evaluation (\S+) already exists/, 'ap.srv.evalExists'],
  [/^the committee of (\S+) is drawn already/, 'ap.srv.drawn'],
  [/^too few eligible experts: (.*)$/, 'ap.srv.short'],
  [/^expert (\S+): (.*)$/, 'ap.srv.expertSays'],
];

/** say turns a server message into a sentence in the page's language. */
function say(message) {
  for (const [re, key] of KNOWN) {
    const m = message.match(re);
    if (!m) continue;
    if (key === 'ap.srv.short') return t(key, { list: shortage(m[1]) });
    if (key === 'ap.srv.expertSays') return t(key, { id: m[1], message: say(m[2]) });
    return t(key, { a: m[1] ?? '', b: m[2] ?? '', message });
  }
  return message;
}

/** shortage says each short quota of a draw refusal in words. */
function shortage(list) {
  return list.split('; ').map((part) => {
    const m = part.match(/^(\S+) needs (\d+) \((\d+) members \+ (\d+) reserves\), (\d+) eligible, (\d+) missing$/);
    if (!m) return part;
    return t('ap.srv.shortOne', { s: specialtyLabel(m[1]), need: m[2], count: m[3], reserves: m[4], eligible: m[5], missing: m[6] });
  }).join(t('ap.listSep'));
}

async function loadCatalogue() {
  try {
    const d = await (await fetch('/api/v1/pool/specialties', { cache: 'no-store' })).json();
    catalogue = d.categories || [];
  } catch {
    catalogue = [];
  }
}

// ---- forms ----

function intIn(p, input, min, max, name) {
  const v = input.value.trim();
  if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    p.add(input, t('admin.v.range', { name, min, max }));
    return null;
  }
  return Number(v);
}

// ---- views ----

const VIEWS = ['admin-signin', 'pool-view', 'expert-view', 'import-view', 'evals-view', 'new-eval-view', 'eval-view', 'results-view'];
const TAB_OF = { 'pool-view': 'pool', 'expert-view': 'pool', 'import-view': 'import', 'evals-view': 'evals', 'new-eval-view': 'evals', 'eval-view': 'evals', 'results-view': 'results' };

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  $('admin-signout').hidden = !adminKey();
  $('ap-tabs').hidden = !adminKey();
  for (const a of $('ap-tabs').querySelectorAll('[data-tab]')) {
    if (a.dataset.tab === TAB_OF[view]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  window.scrollTo(0, 0);
}

function route() {
  if (signInFirst(show)) return;
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.get('expert')) {
    show('expert-view');
    openExpert(h.get('expert'));
  } else if (h.has('new-expert')) {
    show('expert-view');
    openExpert('');
  } else if (h.has('import')) {
    show('import-view');
  } else if (h.has('evals')) {
    show('evals-view');
    loadEvals();
  } else if (h.has('new-eval')) {
    show('new-eval-view');
    openNewEval();
  } else if (h.get('eval')) {
    show('eval-view');
    openEval(h.get('eval'));
  } else if (h.has('results')) {
    show('results-view');
    results.open(h.get('results') || '');
  } else {
    show('pool-view');
    loadPool();
  }
}

// ---- the pool ----

function fillFilterSelects() {
  const spec = $('pool-specialty');
  const keep = spec.value || query.specialty;
  spec.replaceChildren(el('option', { value: '' }, t('ap.f.specialtyAll')),
    ...catalogue.map((c) => el('optgroup', { label: lang() === 'en' ? c.name_en : c.name },
      ...c.specialties.map((s) => el('option', { value: s.code }, `${s.code} ${lang() === 'en' ? s.name_en : s.name}`)))));
  spec.value = keep;
  const cen = $('pool-center');
  const keepC = cen.value || query.center;
  cen.replaceChildren(el('option', { value: '' }, t('ap.f.centerAll')),
    ...centers.filter((c) => c.center).map((c) => el('option', { value: c.center }, t('ap.f.centerCount', { center: c.center, n: c.experts }))));
  cen.value = keepC;
  document.getElementById('ap-centers').replaceChildren(...centers.filter((c) => c.center).map((c) => el('option', { value: c.center })));
}

async function loadPool() {
  showError('pool-error', '');
  const params = new URLSearchParams({ page: query.page, page_size: PAGE_SIZE });
  for (const k of ['q', 'specialty', 'center', 'status']) if (query[k]) params.set(k, query[k]);
  const d = await guard('pool-error', () => api('GET', `/api/v1/pool/experts?${params}`));
  if (!d) return;
  poolPage = d;
  centers = d.centers || [];
  fillFilterSelects();
  renderPool();
}

function statusBadge(row) {
  if (row.status === 'suspended') {
    return el('span', { class: 'tag tag-bad ap-badge', testid: 'status-badge', 'data-status': 'suspended', title: row.suspend_reason || '' },
      t('ap.status.until', { date: beijingDate(row.suspended_until) }));
  }
  return el('span', { class: 'tag tag-ok ap-badge', testid: 'status-badge', 'data-status': 'active' }, t('ap.status.active'));
}

function creditTag(credit) {
  return el('span', { class: `ap-credit${credit < 60 ? ' low' : ''}`, testid: 'credit' }, String(credit));
}

function renderPool() {
  const d = poolPage;
  if (!d) return;
  const body = $('pool-table').querySelector('tbody');
  const filtered = query.q || query.specialty || query.center || query.status;
  $('pool-count').textContent = d.pool_size === 0 ? t('ap.pool.empty')
    : filtered ? t('ap.pool.countFiltered', { n: d.total, all: d.pool_size }) : t('ap.pool.count', { n: d.pool_size });
  $('pool-table').hidden = d.experts.length === 0;
  body.replaceChildren(...d.experts.map((x) => el('tr', { testid: 'expert-row', 'data-id': x.id, 'data-status': x.status },
    el('td', { 'data-label': t('ap.col.expert') },
      el('a', { href: `#expert=${encodeURIComponent(x.id)}`, testid: 'expert-link' }, x.name),
      el('span', { class: 'mono hint ap-id' }, x.id)),
    el('td', { 'data-label': t('ap.col.employer'), class: 'title' }, x.employer),
    el('td', { 'data-label': t('ap.col.specialties') }, el('span', { class: 'ap-specs' },
      ...x.specialties.map((s) => el('span', { class: 'tag tag-muted', title: specialty(s) }, specialtyLabel(s))))),
    el('td', { 'data-label': t('ap.col.center') }, x.center || t('admin.none')),
    el('td', { 'data-label': t('ap.col.phone'), class: 'mono' }, x.phone || t('admin.none')),
    el('td', { 'data-label': t('ap.col.credit') }, creditTag(x.credit)),
    el('td', { 'data-label': t('ap.col.status') }, statusBadge(x)),
    el('td', { 'data-label': t('ap.col.draws') }, String(x.draws)))));
  const pages = Math.max(1, Math.ceil(d.total / d.page_size));
  $('pool-pager').hidden = pages <= 1;
  $('pool-page').textContent = t('ap.pager.page', { page: d.page, pages });
  $('pool-prev').disabled = d.page <= 1;
  $('pool-next').disabled = d.page >= pages;
}

function wirePool() {
  $('pool-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    query.q = $('pool-q').value.trim();
    query.specialty = $('pool-specialty').value;
    query.center = $('pool-center').value;
    query.status = $('pool-status').value;
    query.page = 1;
    loadPool();
  });
  for (const id of ['pool-specialty', 'pool-center', 'pool-status']) {
    $(id).addEventListener('change', () => $('pool-filters').requestSubmit());
  }
  $('pool-reset').addEventListener('click', () => {
    $('pool-filters').reset();
    $('pool-specialty').value = '';
    $('pool-center').value = '';
    $('pool-filters').requestSubmit();
  });
  $('pool-prev').addEventListener('click', () => {
    query.page = Math.max(1, query.page - 1);
    loadPool();
  });
  $('pool-next').addEventListener('click', () => {
    query.page += 1;
    loadPool();
  });
}

// ---- one expert ----

let checkKey = () => {};

function specialtyBoxes(selected) {
  $('x-specialties').replaceChildren(...catalogue.map((c) => el('fieldset', { class: 'ap-spec-group' },
    el('legend', {}, lang() === 'en' ? c.name_en : c.name),
    ...c.specialties.map((s) => el('label', { class: 'check' },
      el('input', { type: 'checkbox', value: s.code, checked: selected.includes(s.code), testid: `x-spec-${s.code}` }),
      el('span', {}, `${s.code} ${lang() === 'en' ? s.name_en : s.name}`))))));
  // Codes of the expert the catalogue no longer lists stay shown and kept.
  const known = new Set(catalogue.flatMap((c) => c.specialties.map((s) => s.code)));
  for (const code of selected.filter((c) => !known.has(c))) {
    $('x-specialties').append(el('label', { class: 'check' }, el('input', { type: 'checkbox', value: code, checked: true }), el('span', {}, code)));
  }
}

async function openExpert(id) {
  const form = $('expert-form');
  clearErrors(form, $('x-errors'));
  showError('expert-error', '');
  showError('x-save-error', '');
  $('x-saved').hidden = true;
  for (const f of ['suspend', 'reinstate', 'credit']) showError(`${f}-error`, '');
  if (!catalogue.length) await loadCatalogue();
  if (!id) {
    expert = null;
    form.reset();
    $('expert-title').textContent = t('ap.x.newTitle');
    $('x-id').readOnly = false;
    $('expert-badges').replaceChildren();
    $('expert-steps').hidden = true;
    specialtyBoxes([]);
    checkKey();
    $('x-save').textContent = t('ap.x.add');
    return;
  }
  if (!expert || expert.row.id !== id) {
    $('expert-title').textContent = id;
    $('expert-steps').hidden = true;
  }
  const d = await guard('expert-error', () => api('GET', `/api/v1/pool/experts/${encodeURIComponent(id)}`));
  if (!d) return;
  const fresh = !expert || expert.row.id !== id;
  expert = { row: d.expert, history: d.history };
  if (fresh) fillExpertForm();
  renderExpert();
}

function fillExpertForm() {
  const x = expert.row;
  $('x-id').value = x.id;
  $('x-id').readOnly = true;
  $('x-name').value = x.name;
  $('x-employer').value = x.employer;
  $('x-center').value = x.center || '';
  $('x-phone').value = x.phone || '';
  $('x-key').value = x.public_key || '';
  specialtyBoxes(x.specialties);
  checkKey();
  $('suspend-form').reset();
  $('reinstate-form').reset();
  $('credit-form').reset();
  $('suspend-until').min = beijingDate(now());
  $('x-save').textContent = t('ap.x.save');
}

function renderExpert() {
  if (!expert) return;
  const x = expert.row;
  $('expert-title').textContent = `${x.name}（${x.id}）`;
  $('expert-badges').replaceChildren(statusBadge(x),
    el('span', { class: 'tag tag-muted' }, t('ap.x.credit', { n: x.credit })),
    el('span', { class: 'tag tag-muted' }, t('ap.x.draws', { n: x.draws })),
    x.key_id ? el('span', { class: 'tag tag-muted mono', title: x.key_id }, t('ap.x.keyId', { id: x.key_id.slice(0, 16) })) : null,
    x.status === 'suspended' && x.suspend_reason ? el('span', { class: 'hint', testid: 'suspend-reason-shown' }, t('ap.x.reason', { reason: x.suspend_reason })) : null);
  $('expert-steps').hidden = false;
  $('reinstate-form').hidden = x.status !== 'suspended';
  $('suspend-submit').textContent = t(x.status === 'suspended' ? 'ap.suspend.change' : 'ap.suspend.submit');
  $('expert-history').replaceChildren(...expert.history.map(historyItem));
  if (!expert.history.length) $('expert-history').append(el('li', { class: 'hint' }, t('ap.history.none')));
}

function fieldName(f) {
  return t(`ap.field.${f}`);
}

function historyItem(h) {
  let text;
  switch (h.type) {
    case 'added':
      text = t('ap.h.added', { credit: h.credit });
      break;
    case 'updated':
      text = t('ap.h.updated', {
        changes: (h.changes || []).map((c) => (c.field === 'key_id'
          ? t('ap.h.keyChanged')
          : t('ap.h.change', { field: fieldName(c.field), from: c.from || t('admin.none'), to: c.to || t('admin.none') }))).join(t('ap.listSep')),
      });
      break;
    case 'suspended':
      text = t('ap.h.suspended', { date: beijingDate(h.until), reason: h.reason });
      break;
    case 'reinstated':
      text = t('ap.h.reinstated', { reason: h.reason });
      break;
    case 'credit':
      text = t(h.evaluation ? 'ap.h.creditEval' : 'ap.h.credit', { delta: h.delta > 0 ? `+${h.delta}` : String(h.delta), credit: h.credit, reason: h.reason, evaluation: h.evaluation });
      break;
    case 'drawn':
      text = t(h.reserve ? 'ap.h.drawnReserve' : 'ap.h.drawn', { evaluation: h.evaluation, specialty: specialtyLabel(h.specialty), tenderer: h.tenderer });
      break;
    default:
      text = h.type;
  }
  return el('li', { class: 'ap-history-item', testid: 'history-item', 'data-type': h.type },
    el('span', { class: 'mono hint' }, beijing(h.time)),
    el('span', { class: `tag ap-h-${h.type}` }, t(`ap.h.type.${h.type}`)),
    el('span', { class: 'ap-h-text' }, text),
    el('span', { class: 'hint' }, t('ap.h.by', { role: t(`role.${h.by}`) })));
}

/** readExpert returns the form's expert, or null after showing every problem at its field. */
function readExpert() {
  const form = $('expert-form');
  clearErrors(form, $('x-errors'));
  const p = new Problems();
  const x = {
    id: $('x-id').value.trim(), name: $('x-name').value.trim(), employer: $('x-employer').value.trim(),
    center: $('x-center').value.trim(), phone: $('x-phone').value.trim(), public_key: $('x-key').value.trim(),
    specialties: [...$('x-specialties').querySelectorAll('input:checked')].map((i) => i.value),
  };
  if (!ID_RE.test(x.id)) p.add($('x-id'), t('ap.v.id'));
  if (!x.name || textLength(x.name) > 100) p.add($('x-name'), t('ap.v.name'));
  if (!x.employer || textLength(x.employer) > 200) p.add($('x-employer'), t('ap.v.employer'));
  if (x.center.length > 64) p.add($('x-center'), t('ap.v.center'));
  if (x.phone.length > 32) p.add($('x-phone'), t('ap.v.phone'));
  if (x.specialties.length === 0 || x.specialties.length > 20) p.add($('x-specialties'), t('ap.v.specialties'));
  const problem = checkPEM(x.public_key);
  if (problem) p.add($('x-key'), t('ap.v.key', { problem: t(problem) }));
  if (p.show($('x-errors'))) return null;
  return x;
}

/** rowProblems lists an import refusal's rows in words. */
function rowProblems(err) {
  return (err.detail.rows || []).map((r) => t(r.line ? 'ap.import.rowLine' : 'ap.import.row', {
    row: r.row, line: r.line, id: r.id || t('admin.none'), message: say(r.message),
  }));
}

function wireExpert() {
  checkKey = keyField($('x-key'), $('x-key-file'), $('x-key-status'));
  $('expert-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('x-save-error', '');
    $('x-saved').hidden = true;
    const x = readExpert();
    if (!x) return;
    const button = $('x-save');
    button.disabled = true;
    try {
      if (!expert) {
        await api('POST', '/api/v1/pool/experts', { experts: [x] }, { 'Idempotency-Key': newId() });
        location.hash = `expert=${encodeURIComponent(x.id)}`;
        return;
      }
      const { id, ...change } = x;
      const d = await api('PUT', `/api/v1/pool/experts/${encodeURIComponent(id)}`, change, { 'Idempotency-Key': newId() });
      expert.row = d.expert;
      await openExpert(id);
      $('x-saved').textContent = t('ap.x.saved');
      $('x-saved').hidden = false;
    } catch (err) {
      fail('x-save-error', err, err instanceof ApiError ? rowProblems(err).join(' ') : '');
    } finally {
      button.disabled = false;
    }
  });

  const step = async (form, errorId, button, path, body) => {
    showError(errorId, '');
    button.disabled = true;
    try {
      const d = await guard(errorId, () => api('POST', `/api/v1/pool/experts/${encodeURIComponent(expert.row.id)}/${path}`, body, { 'Idempotency-Key': newId() }));
      if (!d) return;
      form.reset();
      await openExpert(expert.row.id);
      fillExpertForm();
    } finally {
      button.disabled = false;
    }
  };
  $('suspend-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = $('suspend-form');
    clearErrors(form);
    const p = new Problems();
    const until = $('suspend-until').value;
    const reason = $('suspend-reason').value.trim();
    if (!/^\d{4}-\d\d-\d\d$/.test(until)) p.add($('suspend-until'), t('ap.v.until'));
    else if (until < beijingDate(now())) p.add($('suspend-until'), t('ap.v.untilPast', { today: beijingDate(now()) }));
    if (!reason) p.add($('suspend-reason'), t('ap.v.reason'));
    if (p.show()) return;
    step(form, 'suspend-error', $('suspend-submit'), 'suspend', { until, reason });
  });
  $('reinstate-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = $('reinstate-form');
    clearErrors(form);
    const p = new Problems();
    const reason = $('reinstate-reason').value.trim();
    if (!reason) p.add($('reinstate-reason'), t('ap.v.reason'));
    if (p.show()) return;
    step(form, 'reinstate-error', $('reinstate-submit'), 'reinstate', { reason });
  });
  $('credit-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = $('credit-form');
    clearErrors(form);
    const p = new Problems();
    const delta = intIn(p, $('credit-delta'), -100, 100, t('ap.credit.delta'));
    if (delta === 0) p.add($('credit-delta'), t('ap.v.deltaZero'));
    const reason = $('credit-reason').value.trim();
    const evaluation = $('credit-evaluation').value.trim();
    if (!reason) p.add($('credit-reason'), t('ap.v.reason'));
    if (evaluation && !ID_RE.test(evaluation)) p.add($('credit-evaluation'), t('ap.v.evaluation'));
    if (p.show()) return;
    const body = { delta, reason };
    if (evaluation) body.evaluation = evaluation;
    step(form, 'credit-error', $('credit-submit'), 'credit', body);
  });
}

// ---- import ----

/** parseCSV reads RFC 4180 CSV (quoted fields may hold commas, quotes and line breaks). */
function parseCSV(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0].trim() === ''));
}

const IMPORT_COLUMNS = ['id', 'name', 'employer', 'specialties', 'center', 'phone', 'credit', 'public_key'];

/** previewOf returns {rows: [{column: value}], count} of an import's text, or throws a message key. */
function previewOf(kind, text) {
  if (kind === 'json') {
    let d;
    try {
      d = JSON.parse(text);
    } catch {
      throw new Error('ap.import.badJson');
    }
    const list = Array.isArray(d) ? d : d && Array.isArray(d.experts) ? d.experts : null;
    if (!list) throw new Error('ap.import.noExperts');
    return {
      count: list.length,
      rows: list.slice(0, PREVIEW_ROWS).map((x) => ({ ...x, specialties: Array.isArray(x.specialties) ? x.specialties.join(';') : x.specialties })),
      body: Array.isArray(d) ? JSON.stringify({ experts: d }) : text,
    };
  }
  const rows = parseCSV(text.replace(/^\ufeff/, ''));
  if (rows.length === 0) throw new Error('ap.import.emptyFile');
  const header = rows[0].map((h) => h.trim());
  for (const need of ['id', 'name', 'employer', 'specialties', 'public_key']) {
    if (!header.includes(need)) throw new Error('ap.import.noColumn:' + need);
  }
  return {
    count: rows.length - 1,
    rows: rows.slice(1, 1 + PREVIEW_ROWS).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? '']))),
    body: text,
  };
}

function renderPreview(p) {
  const table = $('import-preview-table');
  table.querySelector('thead').replaceChildren(el('tr', {}, el('th', {}, '#'), ...IMPORT_COLUMNS.map((c) => el('th', {}, t(`ap.field.${c}`)))));
  table.querySelector('tbody').replaceChildren(...p.rows.map((r, i) => el('tr', { testid: 'preview-row' },
    el('td', { 'data-label': '#' }, String(i + 1)),
    ...IMPORT_COLUMNS.map((c) => {
      let v = r[c] === undefined || r[c] === null ? '' : String(r[c]);
      if (c === 'public_key') v = v ? (checkPEM(v) ? t('ap.import.keyBad') : t('ap.import.keyOk')) : t('ap.import.keyMissing');
      if (c === 'specialties') v = v.split(';').map((s) => s.trim()).filter(Boolean).map(specialtyLabel).join(t('ap.comma'));
      return el('td', { 'data-label': t(`ap.field.${c}`), class: c === 'public_key' ? 'hint' : '' }, v || '—');
    }))));
  $('import-summary').textContent = t('ap.import.summary', { name: imp.file.name, n: p.count, shown: Math.min(p.count, PREVIEW_ROWS), size: size(imp.file.size) });
  $('import-preview').hidden = false;
}

/** mb is a size in MB with one decimal (the progress line); size says a file's size in KB or MB. */
const mb = (n) => (n / 1048576).toFixed(1);
const size = (n) => (n < 1048576 ? `${Math.max(0.1, n / 1024).toFixed(1)} KB` : `${mb(n)} MB`);

function resetImportResult() {
  imp.result = null;
  showError('import-error', '');
  $('import-rows').hidden = true;
  $('import-done').hidden = true;
  $('import-progress').hidden = true;
}

async function runImport(dry) {
  if (!imp.body || imp.busy) return;
  resetImportResult();
  imp.busy = true;
  $('import-check').disabled = true;
  $('import-submit').disabled = true;
  const bar = $('import-progress').querySelector('progress');
  const text = $('import-progress-text');
  bar.value = 0;
  bar.removeAttribute('value');
  text.textContent = t('ap.import.sending');
  $('import-progress').hidden = false;
  const type = imp.kind === 'csv' ? 'text/csv; charset=utf-8' : 'application/json';
  try {
    const d = await upload(`/api/v1/pool/experts${dry ? '?dry_run=1' : ''}`, imp.body, type, (loaded, total, done) => {
      if (done) {
        bar.removeAttribute('value');
        text.textContent = t(dry ? 'ap.import.checking' : 'ap.import.adding', { n: imp.rows });
      } else if (total) {
        bar.value = Math.round((loaded / total) * 100);
        text.textContent = t('ap.import.uploading', { done: mb(loaded), total: mb(total) });
      }
    });
    $('import-progress').hidden = true;
    imp.result = () => {
      const done = $('import-done');
      done.textContent = dry ? t('ap.import.checked', { n: d.valid }) : t('ap.import.added', { n: d.added });
      done.hidden = false;
    };
    imp.result();
    if (!dry) {
      imp.body = ''; // imported: a second click would only be refused
      query.page = 1;
    }
  } catch (err) {
    $('import-progress').hidden = true;
    if (keyRefused(err)) return;
    imp.result = () => {
      const rows = err instanceof ApiError ? rowProblems(err) : [];
      if (rows.length) {
        const box = $('import-rows');
        $('import-rows-summary').textContent = t('ap.import.refused', { refused: err.detail.refused, total: err.detail.total });
        const more = err.detail.refused - rows.length;
        const items = rows.map((r) => el('li', { testid: 'import-row-error' }, r));
        if (more > 0) items.push(el('li', {}, t('ap.import.more', { n: more })));
        box.querySelector('ul').replaceChildren(...items);
        box.hidden = false;
      } else {
        showError('import-error', err instanceof ApiError && err.status === 400 ? t('ap.import.fileRefused', { message: say(err.message) }) : describe(err));
      }
    };
    imp.result();
  } finally {
    imp.busy = false;
    $('import-check').disabled = !imp.body;
    $('import-submit').disabled = !imp.body;
  }
}

function wireImport() {
  $('import-file').addEventListener('change', async () => {
    resetImportResult();
    $('import-preview').hidden = true;
    imp.body = '';
    imp.preview = null;
    $('import-check').disabled = true;
    $('import-submit').disabled = true;
    const f = $('import-file').files[0];
    if (!f) return;
    imp.file = f;
    if (f.size > MAX_IMPORT_BYTES) {
      showError('import-error', t('ap.import.tooBig', { size: size(f.size) }));
      return;
    }
    const text = await f.text();
    imp.kind = /\.json$/i.test(f.name) || /^\s*[[{]/.test(text) ? 'json' : 'csv';
    if (!catalogue.length) await loadCatalogue();
    try {
      const p = previewOf(imp.kind, text);
      if (p.count === 0) throw new Error('ap.import.emptyFile');
      imp.body = p.body;
      imp.rows = p.count;
      imp.preview = p;
      renderPreview(p);
      $('import-check').disabled = false;
      $('import-submit').disabled = false;
    } catch (err) {
      const [key, col] = String(err.message).split(':');
      showError('import-error', key.startsWith('ap.') ? t(key, { column: col }) : String(err.message));
    }
  });
  $('import-check').addEventListener('click', () => runImport(true));
  $('import-form').addEventListener('submit', (e) => {
    e.preventDefault();
    runImport(false);
  });
}

// ---- evaluations ----

let sessions = [];

async function loadSessions(errorId) {
  const d = await guard(errorId, () => api('GET', '/api/v1/sessions'));
  if (d) sessions = d.sessions || [];
  return !!d;
}

function phaseLabel(kind, phase) {
  if (kind === 'evaluation') return t(`ap.evphase.${phase}`) === `ap.evphase.${phase}` ? phase : t(`ap.evphase.${phase}`);
  return t(`phase.${phase}`);
}

async function loadEvals() {
  showError('evals-error', '');
  if (!(await loadSessions('evals-error'))) return;
  renderEvals();
}

function renderEvals() {
  const evals = sessions.filter((s) => s.kind === 'evaluation');
  $('evals-empty').hidden = evals.length > 0;
  $('evals-table').hidden = evals.length === 0;
  $('evals-table').querySelector('tbody').replaceChildren(...evals.map((s) => el('tr', { testid: 'eval-row', 'data-id': s.id },
    el('td', { 'data-label': t('ap.ev.id') }, el('a', { href: `#eval=${encodeURIComponent(s.id)}`, class: 'mono' }, s.id)),
    el('td', { 'data-label': t('admin.col.title'), class: 'title' }, s.title),
    el('td', { 'data-label': t('admin.col.phase') }, el('span', { class: 'tag phase-tag', 'data-phase': s.phase }, phaseLabel('evaluation', s.phase))),
    el('td', { 'data-label': t('ar.col.results') }, el('a', { href: `#results=${encodeURIComponent(s.id)}`, testid: 'eval-results-link' }, t('ar.resultsLink'))))));
}

// The example criteria a new evaluation starts from (100 points).
const TEMPLATE = {
  checks: [['q1', '营业执照及资质证书'], ['q2', '投标保证金'], ['q3', '投标函签字盖章']],
  items: [
    ['t1', '施工组织设计', 'technical', '0', '30'], ['t2', '质量安全保证措施', 'technical', '0', '10'],
    ['t3', '工期保证措施', 'technical', '0', '5'], ['c1', '企业类似业绩', 'commercial', '0', '10'],
    ['c2', '项目经理业绩', 'commercial', '0', '5'],
  ],
  price: { method: 'mean_trimmed', weight: '40', trim: '5', discount: '0', above: '1', below: '0.5', floor: '0', outlier: '0.25' },
};

function removeButton(li, after) {
  const b = el('button', { type: 'button', class: 'remove', title: t('admin.remove'), 'aria-label': t('admin.remove') }, '✕');
  b.addEventListener('click', () => {
    li.remove();
    after?.();
  });
  return b;
}

function field(labelKey, input, cls = 'field') {
  return el('label', { class: cls }, el('span', { 'data-i18n': labelKey }, t(labelKey)), input);
}

function repRow() {
  const key = el('textarea', { rows: 3, spellcheck: 'false', class: 'mono', testid: 'rep-key', placeholder: '-----BEGIN PUBLIC KEY-----' });
  const file = el('input', { type: 'file', accept: '.pem,.crt,.cer,.pub,text/plain', class: 'file', testid: 'rep-key-file' });
  const status = el('small', { class: 'key-status', testid: 'rep-key-status' });
  const li = el('li', { class: 'row bidder-row', testid: 'rep-row' },
    el('div', { class: 'bidder-fields' },
      field('ap.ne.repName', el('input', { type: 'text', maxLength: 100, testid: 'rep-name' })),
      field('ap.ne.repId', el('input', { type: 'text', maxLength: 64, spellcheck: 'false', class: 'mono', testid: 'rep-id' })),
      el('label', { class: 'field wide' }, el('span', { 'data-i18n': 'ap.ne.repKey' }, t('ap.ne.repKey')), key,
        el('span', { class: 'file-pick' }, el('span', { class: 'hint', 'data-i18n': 'admin.bidders.keyFile' }, t('admin.bidders.keyFile')), file), status)));
  li.append(removeButton(li, seatsHint));
  keyField(key, file, status);
  return li;
}

function specialtySelect(value = '') {
  const s = el('select', { testid: 'quota-specialty' }, el('option', { value: '' }, t('ap.ne.pick')),
    ...catalogue.map((c) => el('optgroup', { label: lang() === 'en' ? c.name_en : c.name },
      ...c.specialties.map((x) => el('option', { value: x.code }, `${x.code} ${lang() === 'en' ? x.name_en : x.name}`)))));
  s.value = value;
  return s;
}

function quotaRow(spec = '', count = '', reserves = '1') {
  const li = el('li', { class: 'row ap-quota-row', testid: 'quota-row' },
    field('ap.ne.specialty', specialtySelect(spec)),
    field('ap.ne.count', el('input', { type: 'number', min: 1, max: 25, step: 1, value: count, testid: 'quota-count' })),
    field('ap.ne.reserves', el('input', { type: 'number', min: 0, max: 25, step: 1, value: reserves, testid: 'quota-reserves' })));
  li.append(removeButton(li, seatsHint));
  return li;
}

function checkRow(id = '', name = '') {
  const li = el('li', { class: 'row ap-check-row', testid: 'check-row' },
    field('ap.ne.itemId', el('input', { type: 'text', value: id, maxLength: 64, spellcheck: 'false', class: 'mono', testid: 'check-id' })),
    field('ap.ne.itemName', el('input', { type: 'text', value: name, maxLength: 200, testid: 'check-name' })));
  li.append(removeButton(li));
  return li;
}

function itemRow(id = '', name = '', group = 'technical', min = '0', max = '') {
  const g = el('select', { testid: 'item-group' },
    el('option', { value: 'technical' }, t('ap.ne.technical')), el('option', { value: 'commercial' }, t('ap.ne.commercial')));
  g.value = group;
  const li = el('li', { class: 'row ap-item-row', testid: 'item-row' },
    field('ap.ne.itemId', el('input', { type: 'text', value: id, maxLength: 64, spellcheck: 'false', class: 'mono', testid: 'item-id' })),
    field('ap.ne.itemName', el('input', { type: 'text', value: name, maxLength: 200, testid: 'item-name' })),
    field('ap.ne.group', g),
    field('ap.ne.min', el('input', { type: 'text', value: min, inputmode: 'decimal', testid: 'item-min' })),
    field('ap.ne.max', el('input', { type: 'text', value: max, inputmode: 'decimal', testid: 'item-max' })));
  li.append(removeButton(li, criteriaTotal));
  return li;
}

function applyTemplate() {
  $('ne-checks').replaceChildren(...TEMPLATE.checks.map(([id, name]) => checkRow(id, name)));
  $('ne-items').replaceChildren(...TEMPLATE.items.map((x) => itemRow(...x)));
  const p = TEMPLATE.price;
  $('ne-price-method').value = p.method;
  $('ne-weight').value = p.weight;
  $('ne-trim').value = p.trim;
  $('ne-discount').value = p.discount;
  $('ne-above').value = p.above;
  $('ne-below').value = p.below;
  $('ne-floor').value = p.floor;
  $('ne-outlier').value = p.outlier;
  criteriaTotal();
}

/** points sums decimals exactly enough for a total of points (4 decimals). */
const points = (v) => (DECIMAL_RE.test(v.trim()) ? Math.round(Number(v) * 1e4) : NaN);

function criteriaTotal() {
  let total = points($('ne-weight').value);
  for (const row of $('ne-items').children) total += points($('item-max', row).value);
  const out = $('ne-total');
  if (Number.isNaN(total)) {
    out.textContent = t('ap.ne.totalUnknown');
    out.dataset.ok = 'false';
  } else {
    out.textContent = t('ap.ne.total', { n: total / 1e4 });
    out.dataset.ok = String(total <= 100e4);
  }
}

function seatsHint() {
  const size = Number($('ne-size').value);
  const reps = $('ne-reps').children.length;
  let drawn = 0;
  for (const row of $('ne-quotas').children) drawn += Number($('quota-count', row).value) || 0;
  const out = $('ne-seats');
  if (!Number.isInteger(size) || size < 5 || size > 25 || size % 2 === 0) {
    out.textContent = t('ap.v.size');
    out.dataset.ok = 'false';
    return;
  }
  out.textContent = t('ap.ne.seats', { size, reps, need: size - reps, drawn, max: Math.floor(size / 3) });
  out.dataset.ok = String(drawn === size - reps && reps * 3 <= size);
}

async function openNewEval() {
  showError('ne-error', '');
  clearErrors($('ne-form'), $('ne-errors'));
  if (!catalogue.length) await loadCatalogue();
  if (!$('ne-items').children.length) {
    applyTemplate();
    $('ne-quotas').replaceChildren(quotaRow('A01', '3', '2'), quotaRow('B02', '2', '1'));
  }
  seatsHint();
  if (!centers.length) {
    const d = await guard('ne-error', () => api('GET', '/api/v1/pool/experts?page_size=1'));
    if (d) {
      centers = d.centers || [];
      fillFilterSelects();
    }
  }
  if (!(await loadSessions('ne-error'))) return;
  const openings = sessions.filter((s) => (s.kind || 'opening') === 'opening');
  const offered = openings.filter((s) => s.phase === 'record' || s.phase === 'closed');
  const sel = $('ne-opening');
  const keep = sel.value;
  sel.replaceChildren(...(offered.length
    ? [el('option', { value: '' }, t('ap.ne.pick')), ...offered.map((s) => el('option', { value: s.id }, `${s.id} · ${s.title}`))]
    : [el('option', { value: '' }, t('ap.ne.noOpening'))]));
  sel.disabled = offered.length === 0;
  if (offered.some((s) => s.id === keep)) sel.value = keep;
  else if (offered.length === 1) {
    sel.value = offered[0].id;
    openingPicked();
  }
  const others = openings.filter((s) => !offered.includes(s));
  $('ne-not-offered').textContent = others.length === 0 ? t('ap.ne.allOffered')
    : t('ap.ne.notOffered', {
      list: others.map((s) => t(s.phase === 'failed' ? 'ap.ne.whyFailed' : 'ap.ne.whyNoRecord', { id: s.id, phase: t(`phase.${s.phase}`) })).join(t('ap.listSep')),
    });
}

function openingPicked() {
  const s = sessions.find((x) => x.id === $('ne-opening').value);
  if (!s) return;
  if (!neEdited.id) $('ne-id').value = `PJ-${s.id}`.slice(0, 64);
  if (!neEdited.title) $('ne-title').value = `${s.title} 评标`.slice(0, 200);
}

/** readCriteria checks the criteria form as scoring.Criteria.Validate does. */
function readCriteria(p) {
  const ids = new Set();
  const checks = [];
  for (const [i, row] of [...$('ne-checks').children].entries()) {
    const id = $('check-id', row);
    const name = $('check-name', row);
    const c = { id: id.value.trim(), name: name.value.trim() };
    if (!ID_RE.test(c.id) || ids.has(c.id)) p.add(id, t('ap.v.itemId', { n: i + 1, what: t('ap.ne.checkWord') }));
    if (!c.name || textLength(c.name) > 200) p.add(name, t('ap.v.itemName', { n: i + 1, what: t('ap.ne.checkWord') }));
    ids.add(c.id);
    checks.push(c);
  }
  const items = [];
  for (const [i, row] of [...$('ne-items').children].entries()) {
    const it = {
      id: $('item-id', row).value.trim(), name: $('item-name', row).value.trim(), group: $('item-group', row).value,
      min: $('item-min', row).value.trim() || '0', max: $('item-max', row).value.trim(),
    };
    if (!ID_RE.test(it.id) || ids.has(it.id)) p.add($('item-id', row), t('ap.v.itemId', { n: i + 1, what: t('ap.ne.itemWord') }));
    if (!it.name || textLength(it.name) > 200) p.add($('item-name', row), t('ap.v.itemName', { n: i + 1, what: t('ap.ne.itemWord') }));
    if (!DECIMAL_RE.test(it.min)) p.add($('item-min', row), t('ap.v.decimal', { name: t('ap.ne.min') }));
    if (!DECIMAL_RE.test(it.max) || Number(it.max) <= Number(it.min)) p.add($('item-max', row), t('ap.v.itemMax', { n: i + 1 }));
    ids.add(it.id);
    items.push(it);
  }
  const price = { method: $('ne-price-method').value };
  const dec = (input, name, key, { positive = false } = {}) => {
    const v = input.value.trim();
    if (!DECIMAL_RE.test(v) || (positive && Number(v) <= 0)) p.add(input, t(positive ? 'ap.v.positive' : 'ap.v.decimal', { name }));
    price[key] = v;
    return Number(v);
  };
  const weight = dec($('ne-weight'), t('ap.ne.weight'), 'weight', { positive: true });
  const discount = dec($('ne-discount'), t('ap.ne.discount'), 'discount');
  dec($('ne-above'), t('ap.ne.above'), 'above_per_pct');
  dec($('ne-below'), t('ap.ne.below'), 'below_per_pct');
  const floor = dec($('ne-floor'), t('ap.ne.floor'), 'floor');
  if (discount >= 100) p.add($('ne-discount'), t('ap.v.discount'));
  if (floor > weight) p.add($('ne-floor'), t('ap.v.floor'));
  if (price.method === 'mean_trimmed') {
    const trim = intIn(p, $('ne-trim'), 3, 100, t('ap.ne.trim'));
    if (trim !== null) price.trim_at_least = trim;
  }
  const total = points($('ne-weight').value) + items.reduce((s, it) => s + points(it.max), 0);
  if (!Number.isNaN(total) && total > 100e4) p.add($('ne-weight'), t('ap.v.total', { n: total / 1e4 }));
  const share = $('ne-outlier').value.trim();
  if (!DECIMAL_RE.test(share) || Number(share) <= 0 || Number(share) > 1) p.add($('ne-outlier'), t('ap.v.outlier'));
  return { checks, items, price, outlier_share: share };
}

/** readNewEval returns the request body, or null after showing every problem at its field. */
async function readNewEval() {
  const form = $('ne-form');
  clearErrors(form, $('ne-errors'));
  const p = new Problems();
  const body = {};
  body.opening = $('ne-opening').value;
  if (!body.opening) p.add($('ne-opening'), t('ap.v.opening'));
  body.id = $('ne-id').value.trim();
  if (!ID_RE.test(body.id)) p.add($('ne-id'), t('ap.v.evalId'));
  body.title = $('ne-title').value.trim();
  if (!body.title || textLength(body.title) > 200) p.add($('ne-title'), t('ap.v.evalTitle'));
  body.tenderer = $('ne-tenderer').value.trim();
  if (!body.tenderer || textLength(body.tenderer) > 200) p.add($('ne-tenderer'), t('ap.v.tenderer'));
  const venue = $('ne-venue').value.trim();
  if (venue.length > 64) p.add($('ne-venue'), t('ap.v.center'));
  if (venue) body.venue = venue;

  const size = intIn(p, $('ne-size'), 5, 25, t('ap.ne.size'));
  if (size !== null && size % 2 === 0) p.add($('ne-size'), t('ap.v.size'));
  body.size = size;
  body.reps = [];
  const seen = new Set();
  for (const [i, row] of [...$('ne-reps').children].entries()) {
    const r = { id: $('rep-id', row).value.trim(), name: $('rep-name', row).value.trim(), public_key: $('rep-key', row).value.trim() };
    if (!r.name || textLength(r.name) > 100) p.add($('rep-name', row), t('ap.v.repName', { n: i + 1 }));
    if (!ID_RE.test(r.id) || seen.has(r.id)) p.add($('rep-id', row), t('ap.v.repId', { n: i + 1 }));
    const problem = checkPEM(r.public_key);
    if (problem) p.add($('rep-key', row), t('ap.v.repKey', { n: i + 1, problem: t(problem) }));
    seen.add(r.id);
    body.reps.push(r);
  }
  if (size && body.reps.length * 3 > size) p.add($('ne-rep-add'), t('ap.v.reps', { n: body.reps.length, max: Math.floor(size / 3), size }));
  body.quotas = [];
  const specs = new Set();
  let drawn = 0;
  for (const [i, row] of [...$('ne-quotas').children].entries()) {
    const s = $('quota-specialty', row);
    const q = { specialty: s.value };
    if (!q.specialty) p.add(s, t('ap.v.quotaSpecialty', { n: i + 1 }));
    else if (specs.has(q.specialty)) p.add(s, t('ap.v.quotaTwice', { n: i + 1, s: specialtyLabel(q.specialty) }));
    specs.add(q.specialty);
    q.count = intIn(p, $('quota-count', row), 1, 25, t('ap.ne.count'));
    q.reserves = intIn(p, $('quota-reserves', row), 0, 25, t('ap.ne.reserves'));
    drawn += q.count || 0;
    body.quotas.push(q);
  }
  if (body.quotas.length === 0) p.add($('ne-quota-add'), t('ap.v.noQuota'));
  else if (size && drawn !== size - body.reps.length) p.add($('ne-quota-add'), t('ap.v.quotaSum', { drawn, need: size - body.reps.length, size, reps: body.reps.length }));

  body.min_credit = intIn(p, $('ne-min-credit'), 0, 100, t('ap.ne.minCredit'));
  body.max_repeats = intIn(p, $('ne-max-repeats'), 0, 100, t('ap.ne.maxRepeats'));
  body.period_days = intIn(p, $('ne-period'), 0, 3660, t('ap.ne.period'));
  const related = $('ne-related').value.split(/[\s,，、;；]+/).filter(Boolean);
  const bad = related.filter((id) => !ID_RE.test(id));
  if (bad.length) p.add($('ne-related'), t('ap.v.related', { ids: bad.join(', ') }));
  body.related = [...new Set(related)];
  body.criteria = readCriteria(p);
  if (p.list.length) {
    p.show($('ne-errors'));
    return null;
  }
  // The related experts must be in the pool: a typo would exclude nobody.
  const missing = [];
  for (const id of body.related) {
    try {
      await api('GET', `/api/v1/pool/experts/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) missing.push(id);
      else throw err;
    }
  }
  if (missing.length) {
    p.add($('ne-related'), t('ap.v.relatedMissing', { ids: missing.join(', ') }));
    p.show($('ne-errors'));
    return null;
  }
  return body;
}

function wireNewEval() {
  $('ne-opening').addEventListener('change', openingPicked);
  $('ne-id').addEventListener('input', () => (neEdited.id = true));
  $('ne-title').addEventListener('input', () => (neEdited.title = true));
  $('ne-size').addEventListener('input', seatsHint);
  $('ne-quotas').addEventListener('input', seatsHint);
  $('ne-rep-add').addEventListener('click', () => {
    const row = repRow();
    $('ne-reps').append(row);
    seatsHint();
    $('rep-name', row).focus();
  });
  $('ne-quota-add').addEventListener('click', () => {
    $('ne-quotas').append(quotaRow('', '1', '1'));
    seatsHint();
  });
  $('ne-check-add').addEventListener('click', () => $('ne-checks').append(checkRow()));
  $('ne-item-add').addEventListener('click', () => $('ne-items').append(itemRow()));
  $('ne-template').addEventListener('click', applyTemplate);
  $('ne-items').addEventListener('input', criteriaTotal);
  $('ne-weight').addEventListener('input', criteriaTotal);
  $('ne-price-method').addEventListener('change', () => {
    $('ne-trim').closest('.field').hidden = $('ne-price-method').value !== 'mean_trimmed';
  });
  $('ne-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('ne-error', '');
    const button = $('ne-submit');
    button.disabled = true;
    try {
      const body = await readNewEval();
      if (!body) return;
      const d = await api('POST', '/api/v1/evaluations', body, { 'Idempotency-Key': neKey });
      neKey = newId();
      neEdited = { id: false, title: false };
      $('ne-form').reset();
      $('ne-items').replaceChildren();
      $('ne-reps').replaceChildren();
      current = { id: d.id, state: d.state };
      location.hash = `eval=${encodeURIComponent(d.id)}`;
    } catch (err) {
      fail('ne-error', err);
    } finally {
      button.disabled = false;
    }
  });
}

// ---- one evaluation ----

function linksOf(id) {
  if (!links.has(id)) links.set(id, { sup: [], members: new Map() });
  return links.get(id);
}

async function openEval(id) {
  for (const e of ['ev-error', 'ev-draw-error', 'ev-members-error', 'ev-start-error', 'sup-error']) showError(e, '');
  if (!current || current.id !== id) {
    current = null;
    $('ev-title').textContent = id;
    $('ev-facts').replaceChildren();
    $('sup-name').value = '';
  }
  if (!catalogue.length) await loadCatalogue();
  await refreshEval(id);
}

async function refreshEval(id = current?.id) {
  const d = await guard('ev-error', () => api('GET', `/api/v1/sessions/${encodeURIComponent(id)}`));
  if (!d) return;
  if (d.state.kind !== 'evaluation') {
    showError('ev-error', t('ap.ev.notEval', { id }));
    return;
  }
  current = { id, state: d.state };
  renderEval();
}

/** evalLinkRow is a minted link of the evaluation, naming a tenderer's representative so and a member's specialty. */
function evalLinkRow(l) {
  return linkRow(l, l.rep ? t('ap.rep') : t(`role.${l.role}`), l.specialty ? el('span', { class: 'hint' }, specialtyLabel(l.specialty)) : null);
}

/** mintToken asks the server for an access token; it returns {token, expires} or throws. */
async function mintToken(room, role, sub, name, grants) {
  const hours = Math.min(LINK_HOURS, MAX_TOKEN_HOURS);
  const d = await api('POST', '/api/v1/tokens', { room, role, sub, name, grants, ttl: `${hours}h` });
  return { token: d.token, expires: new Date(d.expires_at) };
}

const evalLink = (room, token) => new URL(`eval.html#${new URLSearchParams({ room, token })}`, location.href).href;

function renderEval() {
  if (!current) return;
  const { id, state: s } = current;
  const phase = s.phase;
  $('ev-title').textContent = s.title || id;
  $('ev-facts').replaceChildren(
    ...fact(t('ap.ev.id'), el('span', { class: 'mono' }, id), 'ev-id'),
    ...fact(t('ap.ev.opening'), el('span', { class: 'mono' }, s.opening)),
    ...fact(t('ap.ev.tenderer'), s.tenderer),
    ...fact(t('admin.col.phase'), el('span', { class: 'tag phase-tag', 'data-phase': phase }, phaseLabel('evaluation', phase)), 'ev-phase'),
    ...fact(t('ap.ev.size'), t('ap.ev.sizeValue', { n: s.size })),
    ...fact(t('ap.ne.venue'), s.venue || t('ap.ev.venueDefault')));

  // 1. supervisors
  const ls = linksOf(id);
  $('sup-links').replaceChildren(...ls.sup.map(evalLinkRow));

  // 2. the draw
  const drawn = !!s.draw;
  $('ev-draw').hidden = phase !== 'drawing';
  $('ev-draw-hint').textContent = t(drawn ? 'ap.ev.drawDone' : ls.sup.length ? 'ap.ev.drawReady' : 'ap.ev.drawFirstSup');
  $('ev-draw-result').hidden = !drawn;
  if (drawn) renderDraw(s.draw);

  // 3. members
  const committee = s.committee || [];
  $('ev-members-hint').textContent = t(phase === 'drawing' ? 'ap.ev.membersAfterDraw' : 'ap.ev.membersHint');
  $('ev-mint-all').hidden = committee.length === 0;
  $('member-links').replaceChildren(...committee.map((m) => {
    const l = ls.members.get(m.expert);
    if (l) return evalLinkRow(l);
    const b = el('button', { type: 'button', testid: 'member-mint' }, t('ap.ev.mintOne'));
    b.addEventListener('click', () => mintMembers([m], b));
    return el('li', { class: 'link-row', testid: 'member', 'data-sub': m.expert },
      el('div', { class: 'link-who' },
        el('span', { class: 'role-tag', 'data-role': 'expert' }, m.specialty === 'tenderer_rep' ? t('ap.rep') : t('role.expert')),
        el('span', { class: 'link-name' }, m.name), el('span', { class: 'mono hint' }, m.expert),
        m.specialty === 'tenderer_rep' ? null : el('span', { class: 'hint' }, specialtyLabel(m.specialty)), b));
  }));

  // 4. the start
  $('ev-start').hidden = phase !== 'formed';
  if (phase !== 'formed') $('ev-start-confirm').hidden = true;
  $('ev-start-hint').textContent = t(phase === 'drawing' ? 'ap.ev.startAfterDraw' : phase === 'formed' ? 'ap.ev.startHint' : 'ap.ev.started', { phase: phaseLabel('evaluation', phase) });
  $('ev-results-link').hidden = phase === 'drawing' || phase === 'formed';
  $('ev-results-link').href = `#results=${encodeURIComponent(id)}`;
}

function renderDraw(d) {
  const rows = d.drawn || [];
  let n = 0;
  $('ev-drawn').querySelector('tbody').replaceChildren(...rows.map((x) => el('tr', { testid: 'drawn-row', 'data-id': x.expert, 'data-reserve': String(!!x.reserve) },
    el('td', { 'data-label': '#' }, String(++n)),
    el('td', { 'data-label': t('ap.ev.seat') }, el('span', { class: `tag ${x.reserve ? 'tag-muted' : 'tag-ok'}` }, t(x.reserve ? 'ap.ev.reserve' : 'ap.ev.member'))),
    el('td', { 'data-label': t('ap.col.expert') }, `${x.name} `, el('span', { class: 'mono hint' }, x.expert)),
    el('td', { 'data-label': t('ap.f.specialty') }, specialtyLabel(x.specialty)),
    el('td', { 'data-label': t('ap.col.center') }, x.center || t('admin.none')))));
  const excluded = d.excluded || {};
  const excl = REASONS.filter((r) => excluded[r]).map((r) => t('ap.ev.excludedOne', { reason: t(`ap.reason.${r}`), n: excluded[r] }));
  $('ev-draw-facts').replaceChildren(
    ...fact(t('ap.ev.drawnAt'), beijing(d.rules.at)),
    ...fact(t('ap.ev.eligible'), t('ap.ev.eligibleValue', { n: d.eligible }), 'ev-eligible'),
    ...fact(t('ap.ev.excluded'), excl.length ? excl.join(t('ap.listSep')) : t('ap.ev.excludedNone'), 'ev-excluded'),
    ...fact(t('ap.ev.seed'), el('span', { class: 'mono ap-hash' }, d.seed), 'ev-seed'),
    ...fact(t('ap.ev.digest'), el('span', { class: 'mono ap-hash' }, d.eligible_digest), 'ev-digest'),
    ...fact(t('ap.ev.poolHead'), el('span', { class: 'mono ap-hash' }, `#${d.pool_seq} ${d.pool_hash}`)));
  const tok = verifyTokens.get(current.id) || t('ap.ev.tokenPlaceholder');
  $('ev-verify-cmd').value = `bidroom draw --verify --evaluation ${current.id} --server ${location.origin} --token ${tok}`;
}

async function mintMembers(members, button) {
  showError('ev-members-error', '');
  button.disabled = true;
  try {
    const ls = linksOf(current.id);
    for (const m of members) {
      const { token, expires } = await mintToken(current.id, 'expert', m.expert, m.name, ['view', 'publish']);
      ls.members.set(m.expert, {
        role: 'expert', sub: m.expert, name: m.name, specialty: m.specialty === 'tenderer_rep' ? '' : m.specialty,
        rep: m.specialty === 'tenderer_rep', url: evalLink(current.id, token), expires,
      });
    }
    renderEval();
  } catch (err) {
    fail('ev-members-error', err);
  } finally {
    button.disabled = false;
  }
}

function wireEval() {
  $('sup-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = $('sup-form');
    clearErrors(form);
    showError('sup-error', '');
    const p = new Problems();
    const sub = $('sup-sub').value.trim();
    const name = $('sup-name').value.trim();
    if (!ID_RE.test(sub)) p.add($('sup-sub'), t('admin.v.sub'));
    if (!name) p.add($('sup-name'), t('admin.v.personName'));
    if (p.show()) return;
    const button = $('sup-submit');
    button.disabled = true;
    try {
      const d = await guard('sup-error', () => mintToken(current.id, 'supervisor', sub, name, ['view']));
      if (!d) return;
      const ls = linksOf(current.id);
      ls.sup = [{ role: 'supervisor', sub, name, url: evalLink(current.id, d.token), expires: d.expires }, ...ls.sup.filter((l) => l.sub !== sub)];
      renderEval();
    } finally {
      button.disabled = false;
    }
  });
  $('ev-draw').addEventListener('click', async () => {
    showError('ev-draw-error', '');
    const button = $('ev-draw');
    button.disabled = true;
    try {
      const d = await guard('ev-draw-error', () => api('POST', `/api/v1/evaluations/${encodeURIComponent(current.id)}/draw`));
      if (d) await refreshEval();
    } finally {
      button.disabled = false;
    }
  });
  $('ev-verify-copy').addEventListener('click', () => copyText($('ev-verify-cmd'), $('ev-verify-copy')));
  $('ev-verify-token').addEventListener('click', async () => {
    const button = $('ev-verify-token');
    button.disabled = true;
    try {
      const sup = linksOf(current.id).sup[0];
      const d = await guard('ev-draw-error', () => mintToken(POOL_ROOM, 'supervisor', sup?.sub || 'supervisor-1', sup?.name || t('role.supervisor'), []));
      if (!d) return;
      verifyTokens.set(current.id, d.token);
      renderDraw(current.state.draw);
    } finally {
      button.disabled = false;
    }
  });
  $('ev-mint-all').addEventListener('click', () => mintMembers(current.state.committee || [], $('ev-mint-all')));
  $('ev-start').addEventListener('click', () => {
    $('ev-start-confirm').hidden = false;
    $('ev-start-ok').focus();
  });
  $('ev-start-cancel').addEventListener('click', () => ($('ev-start-confirm').hidden = true));
  $('ev-start-ok').addEventListener('click', async () => {
    showError('ev-start-error', '');
    const button = $('ev-start-ok');
    button.disabled = true;
    try {
      const d = await guard('ev-start-error', () => api('POST', `/api/v1/sessions/${encodeURIComponent(current.id)}/commands`, { id: `start-${newId()}`, type: 'start_evaluation' }));
      $('ev-start-confirm').hidden = true;
      if (d) await refreshEval();
    } finally {
      button.disabled = false;
    }
  });
}

// ---- start ----

function rerender() {
  fillFilterSelects();
  renderPool();
  if (!$('expert-view').hidden) {
    const selected = [...$('x-specialties').querySelectorAll('input:checked')].map((i) => i.value);
    specialtyBoxes(selected);
    if (expert) renderExpert();
    else $('expert-title').textContent = t('ap.x.newTitle');
  }
  if (imp.preview) renderPreview(imp.preview);
  imp.result?.();
  if (!$('evals-view').hidden) renderEvals();
  if (!$('new-eval-view').hidden) {
    for (const s of $('ne-quotas').querySelectorAll('[data-testid="quota-specialty"]')) {
      const v = s.value;
      s.replaceWith(specialtySelect(v));
    }
    for (const g of $('ne-items').querySelectorAll('[data-testid="item-group"]')) {
      for (const o of g.options) o.textContent = t(`ap.ne.${o.value}`);
    }
    seatsHint();
    criteriaTotal();
  }
  if (!$('eval-view').hidden) renderEval();
  if (!$('results-view').hidden) results.rerender();
}

wireLangSwitch();
onLangChange(rerender);
wireConsole({
  route,
  forget() {
    links.clear();
    verifyTokens.clear();
    current = null;
    results.reset();
  },
  refusal: (message) => t('admin.err.refused', { message: say(message) }),
});
wirePool();
wireExpert();
wireImport();
wireNewEval();
wireEval();
const results = wireResults({ phaseLabel, loadSessions, sessions: () => sessions });
results.wireOpen('evals-open-form', 'evals-open-id', 'evals-error', 'eval');
window.addEventListener('hashchange', route);
Promise.all([syncClock(), loadCatalogue()]).then(route);
