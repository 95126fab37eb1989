// The session setup console (开标场次设置): an admin signs in with the admin
// API key, sees the sessions, creates one with every field of a session
// (checked here before anything is sent), and mints each person's entry
// link. The key, the API client and the clock are admin-common.js's.

import './i18n-admin-pool.js'; // the link to the expert pool console
import './i18n-admin-auction.js'; // the link to the auction console
import './i18n-stats.js'; // the link to the statistics
import { t, wireLangSwitch, onLangChange } from './i18n.js';
import { $, el } from './dom.js';
import {
  ID_RE, MAX_TOKEN_HOURS, adminKey, wireConsole, signInFirst, newId, now, syncClock, beijing, span,
  ApiError, api, describe, showError, fail, guard, clearErrors, Problems, checkPEM, keyField, fact, linkRow,
} from './admin-common.js';

const CATEGORIES = ['construction', 'procurement', 'land', 'mining', 'state_property'];
// What is read out (唱标) by default for each category; labels are the
// session's data, read to the room as written.
const READ_OUT_PRESETS = {
  construction: [['price', '投标报价（元）'], ['duration', '工期'], ['quality', '质量标准'], ['project_manager', '项目经理']],
  procurement: [['price', '投标报价（元）'], ['duration', '交货期'], ['quality', '质量标准']],
  land: [['price', '报价（元）']],
  mining: [['price', '报价（元）']],
  state_property: [['price', '报价（元）']],
};

// The server's own limits (rooms.createSession, rooms.checkFlowSpec,
// rooms.registerBidder, auth.Mint), checked here first so a person gets
// every problem at once, in words, before anything is sent.
const PRICE_RE = /^[0-9]{1,15}(\.[0-9]{1,4})?$/;
const MAX_READ_OUT_FIELDS = 12;

let readOutEdited = false;
let idempotencyKey = newId();
let current = null; // the session shown: its id and state
let formReady = false; // the create form holds a draft (kept while moving between views)
const links = new Map(); // session id → minted links, kept in this page only

// ---- small helpers ----

/** toInput is the datetime-local value of d in Beijing time. */
const toInput = (d) => new Date(d.getTime() + 8 * 3600e3).toISOString().slice(0, 16);

/** fromInput reads a datetime-local value as Beijing time; null when empty or malformed. */
function fromInput(v) {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v)) return null;
  const d = new Date(`${v.length === 16 ? `${v}:00` : v}+08:00`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** rfc3339 writes d in Beijing time with its offset, as the API takes it. */
const rfc3339 = (d) => `${new Date(d.getTime() + 8 * 3600e3).toISOString().slice(0, 19)}+08:00`;

/** normalizePrice drops thousands separators and spaces; the rest is checked with PRICE_RE. */
const normalizePrice = (s) => s.trim().replace(/^[¥￥]/, '').replace(/[,，\s]/g, '');

function amountHint(v) {
  const p = normalizePrice(v);
  if (!p || !PRICE_RE.test(p)) return '';
  const n = Number(p);
  const yuan = new Intl.NumberFormat('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 4 }).format(n);
  const wan = new Intl.NumberFormat('zh-CN', { maximumFractionDigits: 6 }).format(n / 1e4);
  return t('admin.amount', { yuan, wan });
}

// ---- talking to the server ----

// Server refusals come in English; the common ones are said again in the
// page's language, the rest are shown as the server wrote them.
const KNOWN_REFUSALS = [
  [/^session (\S+) already exists/, 'admin.srv.exists'],
  [/^deadline must be in the future/, 'admin.srv.deadline'],
  [/bidders can only be registered before the deadline/, 'admin.srv.lateBidder'],
  [/bidder (\S+) is already registered/, 'admin.srv.dupBidder'],
  [/^session (\S+) created, but bidder "([^"]*)"/, 'admin.srv.partial'],
  [/^session (\S+) does not exist/, 'admin.srv.noSession'],
];

/** refusal says a refusal's message in the page's language (describe's, for this page). */
function refusal(message) {
  for (const [re, key] of KNOWN_REFUSALS) {
    const m = message.match(re);
    if (m) return t(key, { a: m[1] ?? '', b: m[2] ?? '', message });
  }
  return t('admin.err.refused', { message });
}

// ---- views ----

const VIEWS = ['admin-signin', 'admin-list', 'admin-create', 'admin-session'];

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  $('admin-signout').hidden = !adminKey();
  window.scrollTo(0, 0);
}

function route() {
  if (signInFirst(show)) return;
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.has('new')) {
    show('admin-create');
    if (!formReady) resetCreateForm();
  } else if (h.get('session')) {
    show('admin-session');
    loadSession(h.get('session'));
  } else {
    show('admin-list');
    loadList();
  }
}

// ---- the list ----

let sessions = [];

async function loadList() {
  showError('admin-list-error', '');
  const d = await guard('admin-list-error', () => api('GET', '/api/v1/sessions'));
  if (!d) return;
  // Openings only: the pool and the evaluations have their own console (admin-pool.html).
  sessions = (d.sessions || []).filter((s) => !s.kind || s.kind === 'opening');
  sessions.sort((a, b) => Date.parse(b.deadline) - Date.parse(a.deadline));
  renderList();
}

function renderList() {
  const body = $('admin-sessions').querySelector('tbody');
  body.replaceChildren();
  $('admin-list-empty').hidden = sessions.length > 0;
  $('admin-sessions').hidden = sessions.length === 0;
  for (const s of sessions) {
    const link = el('a', { href: `#session=${encodeURIComponent(s.id)}`, class: 'mono' }, s.id);
    body.append(el('tr', { testid: 'session-row', 'data-id': s.id },
      el('td', { 'data-label': t('admin.col.id') }, link),
      el('td', { 'data-label': t('admin.col.title'), class: 'title' }, s.title),
      el('td', { 'data-label': t('admin.col.category') }, t(`category.${s.category}`)),
      el('td', { 'data-label': t('admin.col.phase') }, el('span', { class: 'tag phase-tag', 'data-phase': s.phase, testid: 'session-phase' }, t(`phase.${s.phase}`))),
      el('td', { 'data-label': t('admin.col.deadline'), class: 'mono' }, beijing(s.deadline))));
  }
}

// ---- the create form ----

function readOutRow(key = '', label = '') {
  const li = el('li', { class: 'row readout-row', testid: 'readout-row' },
    el('label', { class: 'field' }, el('span', { 'data-i18n': 'admin.readOut.key' }, t('admin.readOut.key')),
      el('input', { type: 'text', value: key, maxLength: 64, spellcheck: 'false', testid: 'ro-key', class: 'mono' })),
    el('label', { class: 'field' }, el('span', { 'data-i18n': 'admin.readOut.label' }, t('admin.readOut.label')),
      el('input', { type: 'text', value: label, maxLength: 40, testid: 'ro-label' })),
    el('button', { type: 'button', class: 'remove', testid: 'ro-remove', title: t('admin.remove'), 'aria-label': t('admin.remove') }, '✕'));
  li.querySelector('.remove').addEventListener('click', () => {
    readOutEdited = true;
    li.remove();
  });
  return li;
}

function applyPreset() {
  const cat = $('f-category').value;
  $('readout-rows').replaceChildren(...READ_OUT_PRESETS[cat].map(([k, l]) => readOutRow(k, l)));
  readOutEdited = false;
}

function bidderRow(prefix) {
  const key = el('textarea', { rows: 3, spellcheck: 'false', class: 'mono', testid: `${prefix}-key`, placeholder: '-----BEGIN PUBLIC KEY-----' });
  const file = el('input', { type: 'file', accept: '.pem,.crt,.cer,.pub,text/plain', testid: `${prefix}-key-file`, class: 'file' });
  const status = el('small', { class: 'key-status', testid: `${prefix}-key-status` });
  const li = el('li', { class: 'row bidder-row', testid: `${prefix}-row` },
    el('div', { class: 'bidder-fields' },
      el('label', { class: 'field' }, el('span', { 'data-i18n': 'admin.bidders.name' }, t('admin.bidders.name')),
        el('input', { type: 'text', maxLength: 200, testid: `${prefix}-name` })),
      el('label', { class: 'field' }, el('span', { 'data-i18n': 'admin.bidders.id' }, t('admin.bidders.id')),
        el('input', { type: 'text', maxLength: 64, spellcheck: 'false', class: 'mono', testid: `${prefix}-id`, placeholder: t('admin.bidders.idPlaceholder'), 'data-i18n-placeholder': 'admin.bidders.idPlaceholder' })),
      el('label', { class: 'field wide' }, el('span', { 'data-i18n': 'admin.bidders.key' }, t('admin.bidders.key')), key,
        el('span', { class: 'file-pick' }, el('span', { class: 'hint', 'data-i18n': 'admin.bidders.keyFile' }, t('admin.bidders.keyFile')), file), status)),
    // The late registration form holds one bidder: nothing to remove there.
    prefix === 'nb' ? null : el('button', { type: 'button', class: 'remove', testid: `${prefix}-remove`, title: t('admin.remove'), 'aria-label': t('admin.remove') }, '✕'));
  keyField(key, file, status);
  li.querySelector('.remove')?.addEventListener('click', () => li.remove());
  return li;
}

function resetCreateForm() {
  const f = $('create-form');
  f.reset();
  const sel = $('f-category');
  sel.replaceChildren(...CATEGORIES.map((c) => el('option', { value: c }, t(`category.${c}`))));
  // Tomorrow 09:30 Beijing time: openings are usually in the morning.
  const bj = new Date(now().getTime() + 8 * 3600e3);
  const d = new Date(Date.UTC(bj.getUTCFullYear(), bj.getUTCMonth(), bj.getUTCDate() + 1, 9 - 8, 30));
  $('f-deadline').value = toInput(d);
  applyPreset();
  $('bidder-rows').replaceChildren(bidderRow('b'));
  idempotencyKey = newId();
  formReady = true;
  clearErrors(f, $('create-errors'));
  showError('create-error', '');
  updateHints();
}

function updateHints() {
  const d = fromInput($('f-deadline').value);
  const hint = $('f-deadline-hint');
  if (!d) {
    hint.textContent = '';
  } else {
    const lead = Number($('f-check-in-lead').value) || 0;
    const parts = [d > now() ? t('admin.deadline.in', { span: span(Math.round((d - now()) / 60e3)) }) : t('admin.deadline.past')];
    parts.push(t('admin.deadline.checkIn', { time: beijing(new Date(Math.max(d - lead * 60e3, now()))) }));
    if (new Date().getTimezoneOffset() !== -480) {
      parts.push(t('admin.deadline.local', { time: d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) }));
    }
    hint.textContent = parts.join(' · ');
  }
  for (const f of ['control-price', 'reserve-price', 'budget']) $(`f-${f}-hint`).textContent = amountHint($(`f-${f}`).value);
}

function intField(p, input, { min, max, name }) {
  const v = input.value.trim();
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    p.add(input, t('admin.v.range', { name, min, max }));
    return 0;
  }
  return Number(v);
}

function priceField(p, input, name) {
  const v = normalizePrice(input.value);
  if (v && !PRICE_RE.test(v)) p.add(input, t('admin.v.price', { name }));
  return v;
}

/** readBidders checks the bidder rows under list; seen holds ids and keys already taken (the session's). */
function readBidders(p, list, prefix, seen = { ids: new Set(), keys: new Set() }) {
  const out = [];
  for (const [i, row] of [...list.children].entries()) {
    const n = i + 1;
    const name = $(`${prefix}-name`, row);
    const id = $(`${prefix}-id`, row);
    const key = $(`${prefix}-key`, row);
    const b = { id: id.value.trim(), name: name.value.trim(), public_key: key.value.trim() };
    if (!b.name && !b.id && !b.public_key && list.children.length > 1) continue; // an empty extra row
    if (!b.name) p.add(name, t('admin.v.bidderName', { n }));
    if (!ID_RE.test(b.id)) p.add(id, t('admin.v.bidderId', { n }));
    else if (seen.ids.has(b.id)) p.add(id, t('admin.v.bidderIdDup', { n, id: b.id }));
    const problem = checkPEM(b.public_key);
    if (problem) {
      p.add(key, t('admin.v.bidderKey', { n, problem: t(problem) }));
      $(`${prefix}-key-status`, row).textContent = ''; // said once, at the field
    }
    else if (seen.keys.has(b.public_key.replace(/\s+/g, ''))) p.add(key, t('admin.v.bidderKeyDup', { n }));
    seen.ids.add(b.id);
    seen.keys.add(b.public_key.replace(/\s+/g, ''));
    out.push(b);
  }
  return out;
}

/** readCreateForm returns the request body, or null after showing every problem at its field. */
function readCreateForm() {
  const form = $('create-form');
  clearErrors(form, $('create-errors'));
  const p = new Problems();
  const body = {};

  const title = $('f-title').value.trim();
  if (!title) p.add($('f-title'), t('admin.v.title'));
  body.title = title;
  const id = $('f-id').value.trim();
  if (id && !ID_RE.test(id)) p.add($('f-id'), t('admin.v.id'));
  if (id) body.id = id;
  const section = $('f-section').value.trim();
  if (section) body.section = section;
  body.category = $('f-category').value;

  const deadline = fromInput($('f-deadline').value);
  const lead = intField(p, $('f-check-in-lead'), { min: 0, max: 1440, name: t('admin.f.checkInLead') });
  if (!deadline) {
    p.add($('f-deadline'), t('admin.v.deadlineMissing'));
  } else if (deadline <= now()) {
    p.add($('f-deadline'), t('admin.v.deadlinePast', { now: beijing(now()) }));
  } else {
    body.deadline = rfc3339(deadline);
    body.check_in_at = rfc3339(new Date(Math.max(deadline - lead * 60e3, now())));
  }
  body.decrypt_window_minutes = intField(p, $('f-decrypt'), { min: 1, max: 1440, name: t('admin.f.decrypt') });
  body.confirm_window_minutes = intField(p, $('f-confirm'), { min: 1, max: 120, name: t('admin.f.confirm') });

  const control = priceField(p, $('f-control-price'), t('admin.f.controlPrice'));
  const reserve = priceField(p, $('f-reserve-price'), t('admin.f.reservePrice'));
  const budget = priceField(p, $('f-budget'), t('admin.f.budget'));
  if (control) body.control_price = control;
  if (reserve) body.reserve_price = reserve;
  if (budget) body.budget = budget;
  body.budget_deviation_pct = intField(p, $('f-deviation'), { min: 1, max: 100, name: t('admin.f.deviation') });

  body.min_bids = intField(p, $('f-min-bids'), { min: 1, max: 100, name: t('admin.f.minBids') });
  body.proceed_below_min = $('f-proceed-below-min').checked;
  body.backup_allowed = $('f-backup-allowed').checked;

  const rows = [...$('readout-rows').children];
  const seen = new Set();
  body.read_out_fields = [];
  if (rows.length === 0) p.add($('readout-add'), t('admin.v.readOutNone'));
  if (rows.length > MAX_READ_OUT_FIELDS) p.add($('readout-add'), t('admin.v.readOutMany', { max: MAX_READ_OUT_FIELDS }));
  for (const [i, row] of rows.entries()) {
    const k = $('ro-key', row);
    const l = $('ro-label', row);
    const f = { key: k.value.trim(), label: l.value.trim() };
    if (!ID_RE.test(f.key)) p.add(k, t('admin.v.readOutKey', { n: i + 1 }));
    else if (seen.has(f.key)) p.add(k, t('admin.v.readOutKeyDup', { n: i + 1, key: f.key }));
    if (!f.label || [...f.label].length > 40) p.add(l, t('admin.v.readOutLabel', { n: i + 1 }));
    seen.add(f.key);
    body.read_out_fields.push(f);
  }
  if (rows.length && !seen.has('price')) p.add($('readout-add'), t('admin.v.readOutPrice'));

  body.bidders = readBidders(p, $('bidder-rows'), 'b');
  if (p.show($('create-errors'))) return null;
  return body;
}

function wireCreate() {
  $('f-category').addEventListener('change', () => {
    if (!readOutEdited) applyPreset();
  });
  $('readout-rows').addEventListener('input', () => {
    readOutEdited = true;
  });
  $('readout-add').addEventListener('click', () => {
    readOutEdited = true;
    const row = readOutRow();
    $('readout-rows').append(row);
    $('ro-key', row).focus();
  });
  $('readout-preset').addEventListener('click', applyPreset);
  $('bidder-add').addEventListener('click', () => {
    const row = bidderRow('b');
    $('bidder-rows').append(row);
    $('b-name', row).focus();
  });
  for (const id of ['f-deadline', 'f-check-in-lead', 'f-control-price', 'f-reserve-price', 'f-budget']) {
    $(id).addEventListener('input', updateHints);
  }
  setInterval(updateHints, 30_000);

  $('create-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('create-error', '');
    const body = readCreateForm();
    if (!body) return;
    const button = $('create-submit');
    button.disabled = true;
    try {
      const d = await api('POST', '/api/v1/sessions', body, { 'Idempotency-Key': idempotencyKey });
      current = { id: d.id, state: d.state };
      resetMintForm(); // for this session: loadSession resets it only for a session not yet held
      formReady = false; // the next new session starts afresh
      location.hash = `session=${encodeURIComponent(d.id)}`;
    } catch (err) {
      const m = err instanceof ApiError && err.message.match(/^session (\S+) created, but/);
      if (m) {
        // Created, but a bidder was refused: the session page says which and lets it be added again.
        location.hash = `session=${encodeURIComponent(m[1])}`;
        setTimeout(() => showError('s-error', describe(err)), 0);
        return;
      }
      fail('create-error', err);
    } finally {
      button.disabled = false;
    }
  });
}

// ---- one session ----

async function loadSession(id) {
  showError('s-error', '');
  if (!current || current.id !== id) {
    $('s-title').textContent = id;
    $('s-facts').replaceChildren();
    $('s-bidders').replaceChildren();
    $('links').replaceChildren();
  } else {
    renderSession(); // what is held already (the create's answer), not an empty page, until the fresh state comes
  }
  const d = await guard('s-error', () => api('GET', `/api/v1/sessions/${encodeURIComponent(id)}`));
  if (!d) return;
  const fresh = !current || current.id !== id;
  current = { id, state: d.state };
  if (fresh) resetMintForm();
  renderSession();
}

function resetMintForm() {
  $('mint-form').reset();
  $('mint-sub').value = 'host-1';
  $('mint-until').value = toInput(defaultUntil());
  showError('mint-error', '');
  $('add-bidder-rows').replaceChildren(bidderRow('nb'));
  showError('add-bidder-error', '');
}

/** defaultUntil: links last until a day after the opening, at most the longest a token may live. */
function defaultUntil() {
  const deadline = new Date(current.state.session.deadline);
  const latest = new Date(now().getTime() + MAX_TOKEN_HOURS * 3600e3 - 60e3);
  const want = new Date(Math.max(deadline.getTime(), now().getTime()) + 24 * 3600e3);
  return want < latest ? want : latest;
}

function renderSession() {
  if (!current) return;
  const { id, state } = current;
  const s = state.session;
  $('s-title').textContent = s.title;
  const money = (v) => (v ? amountHint(v) : t('admin.none'));
  const facts = [
    ...fact(t('admin.col.id'), el('span', { class: 'mono' }, id), 's-id'),
    ...fact(t('admin.f.section'), s.section || t('admin.none')),
    ...fact(t('admin.col.category'), t(`category.${s.category}`)),
    ...fact(t('admin.col.phase'), el('span', { class: 'tag phase-tag', 'data-phase': state.phase }, t(`phase.${state.phase}`)), 's-phase'),
    ...fact(t('admin.col.deadline'), beijing(s.deadline), 's-deadline'),
    ...fact(t('admin.fact.checkIn'), beijing(s.check_in_at)),
    ...fact(t('admin.f.controlPrice'), money(s.control_price)),
    ...fact(t('admin.f.reservePrice'), money(s.reserve_price)),
    ...fact(t('admin.f.budget'), s.budget ? `${money(s.budget)} ± ${s.budget_deviation_pct || 20}%` : t('admin.none')),
    ...fact(t('admin.fact.windows'), t('admin.fact.windowsValue', { d: s.decrypt_window_minutes || 30, c: s.confirm_window_minutes || 5 })),
    ...fact(t('admin.f.minBids'), t(s.proceed_below_min ? 'admin.fact.minBidsProceed' : 'admin.fact.minBids', { n: s.min_bids || 3 })),
    ...fact(t('admin.fact.backup'), t(s.backup_allowed ? 'admin.yes' : 'admin.no')),
    ...fact(t('admin.create.readOut'), (s.read_out_fields || [{ label: '投标报价' }]).map((f) => f.label).join('、')),
  ];
  $('s-facts').replaceChildren(...facts);

  const bidders = state.bidders || [];
  $('s-bidders').replaceChildren(...bidders.map((b) => {
    const button = el('button', { type: 'button', testid: 'bidder-mint' }, t('admin.registered.mint'));
    button.addEventListener('click', () => mint({ role: 'bidder', sub: b.sub, name: b.name || b.sub }, button));
    return el('li', { class: 'registered-row', testid: 's-bidder', 'data-sub': b.sub },
      el('span', { class: 'registered-name' }, b.name || b.sub),
      el('span', { class: 'mono hint' }, b.sub),
      el('span', { class: `tag ${b.has_key ? 'tag-ok' : 'tag-muted'}` }, t(b.has_key ? 'admin.registered.key' : 'admin.registered.noKey')),
      button);
  }));
  if (bidders.length === 0) $('s-bidders').append(el('li', { class: 'hint' }, t('admin.registered.none')));

  const open = (state.phase === 'scheduled' || state.phase === 'check_in') && new Date(s.deadline) > now();
  $('add-bidder').hidden = !open;
  renderLinks();
}

function renderLinks() {
  $('links').replaceChildren(...(links.get(current.id) || []).map((l) => linkRow(l)));
}

/** mint asks the server for an access token and adds the person's room link to the list. */
async function mint({ role, sub, name }, button, until = defaultUntil()) {
  showError('mint-error', '');
  const seconds = Math.ceil((until - now()) / 1000);
  button.disabled = true;
  try {
    const d = await guard('mint-error', () => api('POST', '/api/v1/tokens', {
      room: current.id, role, sub, name, grants: role === 'host' ? ['publish', 'view'] : ['view'], ttl: `${seconds}s`,
    }));
    if (!d) return;
    // As the landing page builds it: the token travels in the fragment only, never to a server log.
    const url = new URL(`room.html#${new URLSearchParams({ room: current.id, token: d.token })}`, location.href).href;
    const list = links.get(current.id) || [];
    links.set(current.id, [{ role, sub, name, url, expires: new Date(d.expires_at) }, ...list.filter((l) => !(l.role === role && l.sub === sub))]);
    renderLinks();
  } finally {
    button.disabled = false;
  }
}

function wireSession() {
  $('mint-role').addEventListener('change', () => {
    const sub = $('mint-sub');
    if (['', 'host-1', 'supervisor-1'].includes(sub.value.trim())) {
      sub.value = { host: 'host-1', supervisor: 'supervisor-1', bidder: '' }[$('mint-role').value];
    }
  });
  $('mint-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = $('mint-form');
    clearErrors(form);
    const p = new Problems();
    const role = $('mint-role').value;
    const sub = $('mint-sub').value.trim();
    const name = $('mint-name').value.trim();
    if (!ID_RE.test(sub)) p.add($('mint-sub'), t('admin.v.sub'));
    if (!name) p.add($('mint-name'), t('admin.v.personName'));
    if (role === 'bidder' && !(current.state.bidders || []).some((b) => b.sub === sub)) p.add($('mint-sub'), t('admin.v.notRegistered', { sub }));
    const until = fromInput($('mint-until').value);
    if (!until || until <= now()) p.add($('mint-until'), t('admin.v.untilPast'));
    else if (until - now() > MAX_TOKEN_HOURS * 3600e3) p.add($('mint-until'), t('admin.v.untilFar', { max: MAX_TOKEN_HOURS / 24 }));
    if (p.show()) return;
    mint({ role, sub, name }, $('mint-submit'), until);
  });
  $('add-bidder-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = $('add-bidder-form');
    clearErrors(form);
    showError('add-bidder-error', '');
    const p = new Problems();
    const taken = { ids: new Set((current.state.bidders || []).map((b) => b.sub)), keys: new Set() };
    const [b] = readBidders(p, $('add-bidder-rows'), 'nb', taken);
    if (p.show()) return;
    const button = $('add-bidder-submit');
    button.disabled = true;
    try {
      const ok = await guard('add-bidder-error', () => api('POST', `/api/v1/sessions/${encodeURIComponent(current.id)}/bidders`, b, { 'Idempotency-Key': newId() }));
      if (!ok) return;
      $('add-bidder-rows').replaceChildren(bidderRow('nb'));
      await loadSession(current.id);
    } finally {
      button.disabled = false;
    }
  });
}

// ---- start ----

function rerender() {
  // Built text follows the language; what a person typed stays.
  const sel = $('f-category');
  for (const o of sel.options) o.textContent = t(`category.${o.value}`);
  updateHints();
  if (!$('admin-list').hidden) renderList();
  if (!$('admin-session').hidden) renderSession();
}

wireLangSwitch();
onLangChange(rerender);
wireConsole({
  route,
  forget() {
    links.clear();
    current = null;
  },
  refusal,
});
$('admin-refresh').addEventListener('click', loadList);
wireCreate();
wireSession();
window.addEventListener('hashchange', route);
syncClock().then(updateHints);
route();
