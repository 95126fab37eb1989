// The auction console (网上挂牌竞价): an admin signed in with the admin
// API key (admin-common.js) lists the auctions with their phase and next
// time, creates one (the lot, its details, the start price, fixed or
// staged increments, the sealed reserve, the deposit, the listing in
// Beijing time with a hint of its working days, the countdown, automatic
// bids) with the server's refusals said in words next to the form; then,
// for one auction, registers bidders (the server draws each one's 竞买号),
// enters their deposits from the finance department's record (or asks the
// bond system), confirms or refuses their qualification (a refusal needs
// a reason), mints each bidder's link to the bidding page and the host's
// and supervisors' links, and shows the live state (phase, price,
// countdown, bids, result; the reserve marked 保密) polled from the server.

import './i18n-admin-pool.js'; // the tabs to the other consoles
import './i18n-admin-auction.js';
import { t, wireLangSwitch, onLangChange } from './i18n.js';
import { $, el } from './dom.js';
import {
  ID_RE, MAX_TOKEN_HOURS, adminKey, wireConsole, signInFirst, newId, now, syncClock, beijing,
  api, describe, showError, fail, guard, textLength, clearErrors, Problems, fact, linkRow,
} from './admin-common.js';

// The server's limits (rooms.AuctionSpec.check), checked here first.
const AMOUNT_RE = /^(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?$/;
const MIN_WORKING_DAYS = 10;
const MAX_DETAILS = 30;
const MAX_STAGES = 20;
const POLL_MS = 2000;

let auctions = []; // the list's rows
let current = null; // the auction shown: {id, state, at}
let pollTimer = null;
let tickTimer = null;
const links = new Map(); // auction id → {staff: [], bidders: Map(bidder → link)}
let createKey = newId();

// ---- small helpers ----

/** amount reads a yuan amount typed with or without thousands separators; '' when blank, null when not an amount. */
function amount(input) {
  const v = input.value.replace(/[,，\s]/g, '');
  if (!v) return '';
  return AMOUNT_RE.test(v) ? v : null;
}

/** yuan writes an amount with thousands separators: "386,000,000" (decimals kept). */
function yuan(a) {
  if (a === undefined || a === null || a === '') return t('admin.none');
  const [w, f] = String(a).split('.');
  return `${w.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${f ? `.${f}` : ''}`;
}

/** fromBeijing reads a datetime-local value as Beijing time (UTC+8), whatever this computer's zone; null when empty or invalid. */
function fromBeijing(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(v || '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4] - 8, +m[5]));
}

/** toBeijingInput is the datetime-local value of d in Beijing time. */
const toBeijingInput = (d) => new Date(d.getTime() + 8 * 3600e3).toISOString().slice(0, 16);

/** workingDays counts Monday to Friday, by Beijing dates, from start's date through end's (as the server does; holidays are not modelled). */
function workingDays(start, end) {
  const day = (d) => Math.floor((d.getTime() + 8 * 3600e3) / 86400e3);
  let n = 0;
  for (let d = day(start); d <= day(end); d++) {
    const wd = new Date(d * 86400e3).getUTCDay();
    if (wd !== 0 && wd !== 6) n++;
  }
  return n;
}

/** addWorkingDays is the Beijing date on which a listing from start reaches n working days, at start's time of day. */
function addWorkingDays(start, n) {
  let d = new Date(start.getTime());
  while (workingDays(start, d) < n) d = new Date(d.getTime() + 86400e3);
  return d;
}

const phaseLabel = (p) => t(`aa.phase.${p}`);
const categoryLabel = (c) => t(`aa.cat.${c}`);

function countdown(ms) {
  if (ms <= 0) return '00:00';
  const s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

// Server refusals come in English; the ones a form can meet are said
// again in the page's language, with the field they name marked.
const KNOWN = [
  [/^listing_end: the listing \(挂牌期\) must last at least (\d+) working days.*?, (\S+) to (\S+) has (\d+)/, 'aa.srv.workingDays', 'listing_end'],
  [/^listing_start must be set and not in the past \(server time (\S+)\)/, 'aa.srv.startPast', 'listing_start'],
  [/^listing_end must be after listing_start/, 'aa.srv.endBeforeStart', 'listing_end'],
  [/^listing_end: a listing lasts at most (\d+) days/, 'aa.srv.tooLong', 'listing_end'],
  [/^reserve_price (\S+) is below start_price (\S+)/, 'aa.srv.reserveLow', 'reserve_price'],
  [/^increments\.stages\[0\]\.from must be at most start_price (\S+)/, 'aa.srv.stageFrom0', 'increments'],
  [/^increments\.stages\[(\d+)\]\.from must be above/, 'aa.srv.stageAscend', 'increments'],
  [/^increments\.stages\[(\d+)\]\.step must not be smaller/, 'aa.srv.stageStep', 'increments'],
  [/^countdown_seconds must be (\d+)-(\d+)/, 'aa.srv.countdown', 'countdown_seconds'],
  [/^auction (\S+) already exists/, 'aa.srv.exists', 'id'],
  [/already exists/, 'aa.srv.exists', 'id'],
  [/^(title|lot|seller) is required/, 'aa.srv.required', null],
  [/^(start_price|deposit|reserve_price|increments\S*) (.*)$/, 'aa.srv.amount', null],
  [/^bidder (\S+) is already registered/, 'aa.srv.registered', null],
  [/^bidder must be 1-64/, 'aa.srv.bidderId', null],
  [/^(registration|qualification) closed with the listing at (\S+)/, 'aa.srv.closed', null],
  [/^the deposit \(竞买保证金\) of (\S+) is not recorded as paid/, 'aa.srv.notPaid', null],
  [/^the deposit of (\S+) is (\S+) yuan, less than the (\S+)/, 'aa.srv.depositLow', null],
  [/^(\S+) has bid: a bid once made stands/, 'aa.srv.hasBid', null],
  [/^no bond system is configured/, 'aa.srv.noBondSystem', null],
  [/^a bond system is configured/, 'aa.srv.bondSystem', null],
  [/^reference is required/, 'aa.srv.reference', null],
];

/** say turns a server message into {text, field}: a sentence in the page's language and the spec field it names, if any. */
function say(message) {
  for (const [re, key, field] of KNOWN) {
    const m = message.match(re);
    if (!m) continue;
    const f = field || (key === 'aa.srv.required' || key === 'aa.srv.amount' ? m[1].replace(/\..*$/, '') : null);
    const fieldName = f ? t(`aa.field.${f}`) : '';
    return { text: t(key, { a: m[1] ?? '', b: m[2] ?? '', c: m[3] ?? '', d: m[4] ?? '', field: fieldName, message }), field: f };
  }
  return { text: message, field: null };
}

// ---- views ----

const VIEWS = ['admin-signin', 'list-view', 'new-view', 'auction-view'];
const TAB_OF = { 'list-view': 'list', 'new-view': 'new', 'auction-view': 'list' };

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  $('admin-signout').hidden = !adminKey();
  $('aa-tabs').hidden = !adminKey();
  for (const a of $('aa-tabs').querySelectorAll('[data-tab]')) {
    if (a.dataset.tab === TAB_OF[view]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (view !== 'auction-view') stopPolling();
  window.scrollTo(0, 0);
}

function route() {
  if (signInFirst(show)) return;
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.has('new')) {
    show('new-view');
    openNew();
  } else if (h.get('auction')) {
    show('auction-view');
    openAuction(h.get('auction'));
  } else {
    show('list-view');
    loadList();
  }
}

// ---- the list ----

async function loadList() {
  showError('list-error', '');
  const d = await guard('list-error', () => api('GET', '/api/v1/sessions'));
  if (!d) return;
  auctions = (d.sessions || []).filter((s) => s.kind === 'auction');
  renderList();
}

function renderList() {
  $('list-empty').hidden = auctions.length > 0;
  $('auctions').hidden = auctions.length === 0;
  $('auctions').querySelector('tbody').replaceChildren(...auctions.map((s) => el('tr', { testid: 'auction-row', 'data-id': s.id, 'data-phase': s.phase },
    el('td', { 'data-label': t('aa.col.id') }, el('a', { href: `#auction=${encodeURIComponent(s.id)}`, class: 'mono', testid: 'auction-link' }, s.id)),
    el('td', { 'data-label': t('aa.col.title'), class: 'title' }, s.title),
    el('td', { 'data-label': t('aa.col.category') }, categoryLabel(s.category)),
    el('td', { 'data-label': t('aa.col.phase') }, el('span', { class: 'tag phase-tag', 'data-phase': s.phase, testid: 'auction-phase' }, phaseLabel(s.phase))),
    el('td', { 'data-label': t('aa.col.deadline') }, s.deadline ? beijing(s.deadline) : t('admin.none')))));
}

// ---- a new auction ----

function detailRow(label = '', value = '') {
  const li = el('li', { class: 'row aa-detail-row', testid: 'detail-row' },
    el('label', { class: 'field' }, el('span', {}, t('aa.f.detailLabel')),
      el('input', { type: 'text', value: label, maxLength: 50, testid: 'detail-label' })),
    el('label', { class: 'field' }, el('span', {}, t('aa.f.detailValue')),
      el('input', { type: 'text', value, maxLength: 500, testid: 'detail-value' })),
    el('button', { type: 'button', class: 'remove', testid: 'detail-remove', title: t('admin.remove'), 'aria-label': t('admin.remove') }, '✕'));
  li.querySelector('.remove').addEventListener('click', () => li.remove());
  return li;
}

function stageRow(from = '', step = '') {
  const li = el('li', { class: 'row aa-stage-row', testid: 'stage-row' },
    el('label', { class: 'field' }, el('span', {}, t('aa.f.stageFrom')),
      el('input', { type: 'text', inputmode: 'decimal', value: from, testid: 'stage-from' })),
    el('label', { class: 'field' }, el('span', {}, t('aa.f.stageStep')),
      el('input', { type: 'text', inputmode: 'decimal', value: step, testid: 'stage-step' })),
    el('button', { type: 'button', class: 'remove', testid: 'stage-remove', title: t('admin.remove'), 'aria-label': t('admin.remove') }, '✕'));
  li.querySelector('.remove').addEventListener('click', () => li.remove());
  return li;
}

const DETAIL_PRESETS = {
  land: ['宗地位置', '出让面积', '土地用途', '出让年限', '容积率', '建筑密度', '绿地率'],
  mining: ['矿区位置', '矿区面积', '开采矿种', '开采方式', '出让年限', '资源储量'],
};

function openNew() {
  const form = $('create-form');
  clearErrors(form, $('create-errors'));
  showError('create-error', '');
  if (form.dataset.ready) return; // keep what was typed
  form.dataset.ready = '1';
  const start = new Date(now().getTime() + 86400e3);
  start.setUTCMinutes(0, 0, 0);
  $('f-listing-start').value = toBeijingInput(start);
  $('f-listing-end').value = toBeijingInput(addWorkingDays(start, MIN_WORKING_DAYS));
  $('details').replaceChildren(...DETAIL_PRESETS.land.map((l) => detailRow(l, '')));
  $('stages').replaceChildren(stageRow('0', ''), stageRow('', ''));
  workingDaysHint();
}

function incrementsMode() {
  return document.querySelector('input[name="inc-mode"]:checked').value;
}

function workingDaysHint() {
  const s = fromBeijing($('f-listing-start').value);
  const e = fromBeijing($('f-listing-end').value);
  const hint = $('f-working-days');
  if (!s || !e || e <= s) {
    hint.textContent = t('aa.wd.none', { min: MIN_WORKING_DAYS });
    hint.dataset.ok = 'false';
    return;
  }
  const n = workingDays(s, e);
  const ok = n >= MIN_WORKING_DAYS;
  hint.textContent = t(ok ? 'aa.wd.ok' : 'aa.wd.short', { n, min: MIN_WORKING_DAYS, earliest: beijing(addWorkingDays(s, MIN_WORKING_DAYS)).slice(0, 10) });
  hint.dataset.ok = String(ok);
}

/** readSpec checks the form and returns the request body, or null after showing what is wrong. */
function readSpec() {
  const form = $('create-form');
  clearErrors(form, $('create-errors'));
  showError('create-error', '');
  const p = new Problems();
  const text = (id, name, max, required = true) => {
    const v = $(id).value.trim();
    if (required && !v) p.add($(id), t('aa.v.required', { name }));
    else if (textLength(v) > max) p.add($(id), t('aa.v.tooLong', { name, max }));
    return v;
  };
  const id = $('f-id').value.trim();
  if (!ID_RE.test(id)) p.add($('f-id'), t('aa.v.id'));
  const body = {
    id,
    title: text('f-title', t('aa.field.title'), 200),
    lot: text('f-lot', t('aa.field.lot'), 100),
    category: $('f-category').value,
    seller: text('f-seller', t('aa.field.seller'), 200),
    details: [],
  };
  const rows = [...$('details').children];
  rows.forEach((li, i) => {
    const label = li.querySelector('[data-testid="detail-label"]');
    const value = li.querySelector('[data-testid="detail-value"]');
    const l = label.value.trim();
    const v = value.value.trim();
    if (!l && !v) return; // an empty row is left out
    if (!l) p.add(label, t('aa.v.detailLabel', { n: i + 1 }));
    if (!v) p.add(value, t('aa.v.detailValue', { n: i + 1, label: l }));
    body.details.push({ label: l, value: v });
  });
  if (body.details.length > MAX_DETAILS) p.add($('detail-add'), t('aa.v.details', { max: MAX_DETAILS }));
  const money = (inputId, name, required) => {
    const v = amount($(inputId));
    if (v === null) p.add($(inputId), t('aa.v.amount', { name }));
    else if (required && !v) p.add($(inputId), t('aa.v.required', { name }));
    else if (v && Number(v) <= 0) p.add($(inputId), t('aa.v.positive', { name }));
    return v || '';
  };
  body.start_price = money('f-start', t('aa.field.start_price'), true);
  body.deposit = money('f-deposit', t('aa.field.deposit'), true);
  const reserve = money('f-reserve', t('aa.field.reserve_price'), false);
  if (reserve) body.reserve_price = reserve;
  if (incrementsMode() === 'step') {
    body.increments = { step: money('f-step', t('aa.field.increments'), true) };
  } else {
    const stages = [];
    const list = [...$('stages').children];
    if (list.length === 0) p.add($('stage-add'), t('aa.v.stagesNone'));
    if (list.length > MAX_STAGES) p.add($('stage-add'), t('aa.v.stagesMany', { max: MAX_STAGES }));
    list.forEach((li, i) => {
      const from = li.querySelector('[data-testid="stage-from"]');
      const step = li.querySelector('[data-testid="stage-step"]');
      const f = amount(from);
      const s = amount(step);
      if (f === null || f === '') p.add(from, t('aa.v.stageFrom', { n: i + 1 }));
      if (s === null || s === '' || Number(s) <= 0) p.add(step, t('aa.v.stageStep', { n: i + 1 }));
      stages.push({ from: f || '', step: s || '' });
    });
    body.increments = { stages };
  }
  const start = fromBeijing($('f-listing-start').value);
  const end = fromBeijing($('f-listing-end').value);
  if (!start) p.add($('f-listing-start'), t('aa.v.time', { name: t('aa.field.listing_start') }));
  else if (start < now()) p.add($('f-listing-start'), t('aa.v.startPast', { now: beijing(now()) }));
  if (!end) p.add($('f-listing-end'), t('aa.v.time', { name: t('aa.field.listing_end') }));
  else if (start && end <= start) p.add($('f-listing-end'), t('aa.v.endBeforeStart'));
  if (start) body.listing_start = start.toISOString();
  if (end) body.listing_end = end.toISOString();
  const cd = $('f-countdown').value.trim();
  if (!/^\d+$/.test(cd) || +cd < 30 || +cd > 3600) p.add($('f-countdown'), t('admin.v.range', { name: t('aa.field.countdown_seconds'), min: 30, max: 3600 }));
  body.countdown_seconds = Number(cd);
  body.proxy_allowed = $('f-proxy').checked;
  return p.show($('create-errors')) ? null : body;
}

/** fieldInput is the form's input for a spec field the server named. */
function fieldInput(field) {
  if (field === 'increments') return incrementsMode() === 'step' ? $('f-step') : $('stages');
  return $('create-form').querySelector(`[data-field="${field}"]`);
}

async function submitCreate(e) {
  e.preventDefault();
  const body = readSpec();
  if (!body) return;
  const button = $('create-submit');
  button.disabled = true;
  try {
    await api('POST', '/api/v1/auctions', body, { 'Idempotency-Key': createKey });
    createKey = newId();
    $('create-form').reset();
    delete $('create-form').dataset.ready;
    location.hash = `auction=${encodeURIComponent(body.id)}`;
  } catch (err) {
    createKey = newId(); // what the server refused changes nothing: the corrected form is a new request
    if (err && err.status >= 400 && err.status < 500 && err.status !== 401 && err.message) {
      const { text, field } = say(err.message);
      const input = field && fieldInput(field);
      const p = new Problems();
      if (input) {
        p.add(input, text);
        p.show(null);
      }
      showError('create-error', t('admin.err.refused', { message: text }));
    } else {
      fail('create-error', err);
    }
  } finally {
    button.disabled = false;
  }
}

function wireCreate() {
  $('create-form').addEventListener('submit', submitCreate);
  $('detail-add').addEventListener('click', () => {
    const li = detailRow();
    $('details').append(li);
    li.querySelector('input').focus();
  });
  $('stage-add').addEventListener('click', () => {
    const li = stageRow();
    $('stages').append(li);
    li.querySelector('input').focus();
  });
  for (const r of document.querySelectorAll('input[name="inc-mode"]')) {
    r.addEventListener('change', () => {
      const staged = incrementsMode() === 'stages';
      $('f-step-box').hidden = staged;
      $('f-stages-box').hidden = !staged;
    });
  }
  $('f-category').addEventListener('change', () => {
    // Offer the category's usual lines while none has been filled in.
    const filled = [...$('details').querySelectorAll('input')].some((i) => i.value.trim() && !Object.values(DETAIL_PRESETS).flat().includes(i.value.trim()));
    if (!filled) $('details').replaceChildren(...DETAIL_PRESETS[$('f-category').value].map((l) => detailRow(l, '')));
  });
  for (const id of ['f-listing-start', 'f-listing-end']) $(id).addEventListener('input', workingDaysHint);
}

// ---- one auction ----

function linksOf(id) {
  if (!links.has(id)) links.set(id, { staff: [], bidders: new Map() });
  return links.get(id);
}

function stopPolling() {
  clearTimeout(pollTimer);
  clearInterval(tickTimer);
  pollTimer = tickTimer = null;
}

async function openAuction(id) {
  stopPolling();
  showError('au-error', '');
  if (!current || current.id !== id) {
    current = null;
    $('au-title').textContent = id;
    $('au-facts').replaceChildren();
    $('au-live-facts').replaceChildren();
    $('bidders').replaceChildren();
    $('staff-links').replaceChildren();
  }
  await refresh(id);
  tickTimer = setInterval(renderLive, 1000);
}

async function refresh(id) {
  clearTimeout(pollTimer);
  try {
    const d = await api('GET', `/api/v1/sessions/${encodeURIComponent(id)}`);
    if (!d.state || d.state.kind !== 'auction') {
      showError('au-error', t('aa.notAuction', { id }));
      return;
    }
    const first = !current || current.id !== id;
    current = { id, state: d.state, seq: d.seq, at: now() };
    showError('au-error', '');
    render(first);
  } catch (err) {
    fail('au-error', err);
  }
  if (!$('auction-view').hidden && location.hash.includes('auction=')) pollTimer = setTimeout(() => refresh(id), POLL_MS);
}

function render(first) {
  const { id, state: s } = current;
  const sp = s.spec;
  $('au-title').textContent = sp.title || id;
  const inc = sp.increments.step ? yuan(sp.increments.step)
    : sp.increments.stages.map((st) => t('aa.stageText', { from: yuan(st.from), step: yuan(st.step) })).join(t('aa.listSep'));
  $('au-facts').replaceChildren(
    ...fact(t('aa.col.id'), el('span', { class: 'mono' }, id), 'au-id'),
    ...fact(t('aa.field.lot'), sp.lot, 'au-lot'),
    ...fact(t('aa.col.category'), categoryLabel(sp.category)),
    ...fact(t('aa.field.seller'), sp.seller),
    ...fact(t('aa.field.start_price'), yuan(sp.start_price), 'au-start'),
    ...fact(t('aa.field.increments'), inc, 'au-increments'),
    ...fact(t('aa.field.deposit'), yuan(sp.deposit), 'au-deposit'),
    ...fact(t('aa.field.reserve_price'), el('span', {},
      sp.reserve_price ? yuan(sp.reserve_price) : t('aa.noReserve'), ' ',
      sp.reserve_price && s.phase !== 'ended' ? el('span', { class: 'tag tag-warn', testid: 'au-reserve-sealed' }, t('aa.sealed')) : null), 'au-reserve'),
    ...fact(t('aa.listing'), `${beijing(sp.listing_start)} — ${beijing(sp.listing_end)}`, 'au-listing'),
    ...fact(t('aa.field.countdown_seconds'), t('aa.seconds', { n: sp.countdown_seconds })),
    ...fact(t('aa.proxy'), t(sp.proxy_allowed ? 'aa.yes' : 'aa.no')),
    ...(sp.details || []).flatMap((d) => fact(d.label, d.value)));
  renderLive();
  renderPublicLinks();
  renderBidders();
  if (first) $('staff-links').replaceChildren(...linksOf(id).staff.map((l) => linkRow(l)));
}

function renderLive() {
  if (!current) return;
  const s = current.state;
  const open = s.phase === 'listing' || s.phase === 'timed';
  const left = s.ends_at ? new Date(s.ends_at).getTime() - now().getTime() : 0;
  const r = s.result;
  $('au-live-facts').replaceChildren(
    ...fact(t('aa.col.phase'), el('span', { class: 'tag phase-tag', 'data-phase': s.phase }, phaseLabel(s.phase)), 'live-phase'),
    ...fact(t('aa.live.price'), s.highest ? t('aa.live.priceBy', { price: yuan(s.highest.amount), number: s.highest.number }) : t('aa.live.noBid'), 'live-price'),
    ...fact(t('aa.live.next'), open ? t('aa.live.nextValue', { min: yuan(s.min_next), step: yuan(s.step) }) : t('admin.none'), 'live-next'),
    ...fact(s.phase === 'timed' ? t('aa.live.countdown') : t('aa.live.listingLeft'),
      open && s.ends_at ? el('span', { class: 'mono' }, countdown(left), ' ', el('span', { class: 'hint' }, t('aa.live.until', { time: beijing(s.ends_at) }))) : t('admin.none'), 'live-countdown'),
    ...fact(t('aa.live.bids'), t('aa.live.bidsValue', { n: s.bid_count, quoted: s.quoted }), 'live-bids'),
    ...fact(t('aa.live.result'), r ? el('span', { class: `tag ${r.result === 'sold' ? 'tag-ok' : 'tag-bad'}` },
      r.result === 'sold' ? t('aa.live.sold', { price: yuan(r.price), number: r.number }) : t('aa.live.unsold')) : t('aa.live.pending'), 'live-result'),
    ...fact(t('aa.live.letter'), s.confirmation ? t('aa.live.letterIssued') : t('admin.none'), 'live-letter'));
  $('au-updated').textContent = t('aa.live.updated', { time: beijing(current.at) + current.at.toISOString().slice(16, 19) });
}

function renderPublicLinks() {
  const { id } = current;
  const ticker = new URL(`ticker.html?auction=${encodeURIComponent(id)}`, location.href).href;
  $('au-public-links').replaceChildren(el('li', { class: 'link-row', testid: 'ticker-link' },
    el('div', { class: 'link-who' }, el('span', { class: 'role-tag' }, t('aa.links.public')), el('span', { class: 'link-name' }, t('aa.links.ticker'))),
    el('div', { class: 'link-copy-row' },
      el('input', { type: 'text', readOnly: true, value: ticker, class: 'mono', 'aria-label': t('aa.links.ticker') }),
      el('a', { href: ticker, target: '_blank', rel: 'noopener noreferrer', class: 'button', testid: 'ticker-open' }, t('admin.links.open')))));
}

/** tokenHours is how long a link lasts: until a day after the auction's end as planned, 12 h at least. */
function tokenHours() {
  const s = current.state;
  const end = new Date(s.ends_at || s.spec.listing_end).getTime() + 86400e3;
  return Math.min(MAX_TOKEN_HOURS, Math.max(12, Math.ceil((end - now().getTime()) / 3600e3)));
}

async function mint(role, sub, name) {
  const hours = tokenHours();
  const d = await api('POST', '/api/v1/tokens', { room: current.id, role, sub, name, ttl: `${hours}h` });
  return { role, sub, name, url: new URL(`auction.html#${new URLSearchParams({ room: current.id, token: d.token })}`, location.href).href, expires: new Date(d.expires_at) };
}

function depositText(b) {
  const d = b.deposit;
  if (!d) return el('span', { class: 'tag tag-muted', testid: 'deposit-status', 'data-status': 'none' }, t('aa.dep.none'));
  return el('span', {},
    el('span', { class: `tag ${d.status === 'paid' ? 'tag-ok' : 'tag-bad'}`, testid: 'deposit-status', 'data-status': d.status }, t(`aa.dep.${d.status}`)),
    d.amount ? ` ${yuan(d.amount)} ${t('aa.yuan')}` : '',
    d.reference ? el('span', { class: 'mono hint' }, ` ${d.reference}`) : '',
    d.source ? el('span', { class: 'hint' }, ` ${t(`aa.dep.src.${d.source}`)}`) : '');
}

function qualText(b) {
  if (b.qualified) return el('span', { class: 'tag tag-ok', testid: 'qual-status', 'data-status': 'qualified' }, t('aa.q.yes'));
  if (b.reason) return el('span', {}, el('span', { class: 'tag tag-bad', testid: 'qual-status', 'data-status': 'refused' }, t('aa.q.no')), ' ', el('span', { testid: 'qual-reason' }, b.reason));
  return el('span', { class: 'tag tag-muted', testid: 'qual-status', 'data-status': 'pending' }, t('aa.q.pending'));
}

/** renderBidders draws each registered bidder with its steps; a row being typed into keeps what was typed. */
function renderBidders() {
  const s = current.state;
  const list = $('bidders');
  const rows = s.bidders || [];
  $('bidders-empty').hidden = rows.length > 0;
  const open = (s.phase === 'announced' || s.phase === 'listing') && now() < new Date(s.spec.listing_end);
  $('register-form').hidden = !open;
  const keep = new Map([...list.children].map((li) => [li.dataset.bidder, li]));
  list.replaceChildren(...rows.map((b) => {
    const sig = JSON.stringify([b, open, current.state.spec.deposit]);
    const old = keep.get(b.bidder);
    if (old && (old.dataset.sig === sig || old.contains(document.activeElement))) return old;
    return bidderItem(b, open, sig);
  }));
}

function bidderItem(b, open, sig) {
  const { id } = current;
  const err = el('p', { class: 'form-error', testid: 'bidder-error', role: 'alert', hidden: true });
  const say1 = (e) => {
    if (!e) {
      err.hidden = true;
      return;
    }
    const msg = e.status >= 400 && e.status < 500 && e.status !== 401 && e.message ? t('admin.err.refused', { message: say(e.message).text }) : describe(e);
    err.textContent = msg;
    err.hidden = false;
  };
  const run = async (button, fn) => {
    button.disabled = true;
    try {
      await fn();
      say1(null);
      await refresh(id);
    } catch (e) {
      if (e && e.status === 401) fail('bidders-error', e); // the key stopped working: sign out
      else say1(e);
    } finally {
      button.disabled = false;
    }
  };

  // The deposit: the finance department's record entered by hand, or the bond system asked.
  const depAmount = el('input', { type: 'text', inputmode: 'decimal', testid: 'dep-amount', value: b.deposit && b.deposit.amount ? b.deposit.amount : current.state.spec.deposit, 'aria-label': t('aa.dep.amount') });
  const depRef = el('input', { type: 'text', maxlength: 100, testid: 'dep-ref', value: b.deposit && b.deposit.reference ? b.deposit.reference : '', 'aria-label': t('aa.dep.reference'), placeholder: t('aa.dep.refPlaceholder') });
  const depSave = el('button', { type: 'button', class: 'primary', testid: 'dep-save' }, t('aa.dep.save'));
  const depAsk = el('button', { type: 'button', testid: 'dep-ask' }, t('aa.dep.ask'));
  const problem = (input, msg) => {
    err.textContent = msg;
    err.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  };
  depSave.addEventListener('click', () => {
    const a = amount(depAmount);
    if (!a || Number(a) <= 0) return problem(depAmount, t('aa.v.amount', { name: t('aa.dep.amount') }));
    if (!depRef.value.trim()) return problem(depRef, t('aa.v.reference'));
    return run(depSave, () => api('POST', `/api/v1/auctions/${encodeURIComponent(id)}/deposits`,
      { bidder: b.bidder, status: 'paid', amount: a, reference: depRef.value.trim() }));
  });
  depAsk.addEventListener('click', () => run(depAsk, () => api('POST', `/api/v1/auctions/${encodeURIComponent(id)}/deposits`, { bidder: b.bidder })));

  // Qualification: confirm, or refuse with a reason.
  const reason = el('input', { type: 'text', maxlength: 500, testid: 'q-reason', value: b.qualified ? '' : (b.reason || ''), 'aria-label': t('aa.q.reason'), placeholder: t('aa.q.reasonPlaceholder') });
  const qualify = el('button', { type: 'button', class: 'primary', testid: 'q-yes' }, t('aa.q.confirm'));
  const refuseB = el('button', { type: 'button', testid: 'q-no' }, t('aa.q.refuse'));
  const command = (qualified, why) => api('POST', `/api/v1/sessions/${encodeURIComponent(id)}/commands`,
    { id: newId(), type: 'qualify_bidder', data: { bidder: b.bidder, qualified, ...(why ? { reason: why } : {}) } });
  qualify.addEventListener('click', () => run(qualify, () => command(true, '')));
  refuseB.addEventListener('click', () => {
    const why = reason.value.trim();
    if (!why) return problem(reason, t('aa.v.reason'));
    return run(refuseB, () => command(false, why));
  });

  // The bidder's link to the bidding page.
  const linkBox = el('ul', { class: 'links', testid: 'bidder-links' });
  const have = linksOf(id).bidders.get(b.bidder);
  if (have) linkBox.append(linkRow(have));
  const mintB = el('button', { type: 'button', testid: 'bidder-mint' }, t(have ? 'aa.link.again' : 'aa.link.mint'));
  mintB.addEventListener('click', async () => {
    mintB.disabled = true;
    try {
      const l = await mint('bidder', b.bidder, b.name);
      linksOf(id).bidders.set(b.bidder, l);
      linkBox.replaceChildren(linkRow(l));
      mintB.textContent = t('aa.link.again');
      say1(null);
    } catch (e) {
      say1(e);
    } finally {
      mintB.disabled = false;
    }
  });

  const paid = b.deposit && b.deposit.status === 'paid';
  return el('li', { class: 'aa-bidder', testid: 'bidder-row', 'data-bidder': b.bidder, 'data-sig': sig, 'data-qualified': String(b.qualified) },
    el('div', { class: 'aa-bidder-head' },
      el('span', { class: 'aa-number mono', testid: 'bidder-number', title: t('aa.number') }, b.number),
      el('span', { class: 'aa-bidder-name', testid: 'bidder-name' }, b.name),
      el('span', { class: 'mono hint', testid: 'bidder-id' }, b.bidder),
      b.bids ? el('span', { class: 'hint' }, t('aa.bidsBy', { n: b.bids })) : null,
      b.leading ? el('span', { class: 'tag tag-live' }, t('aa.leading')) : null),
    el('div', { class: 'aa-step' },
      el('span', { class: 'aa-step-label' }, t('aa.dep.title')), depositText(b),
      open ? el('span', { class: 'aa-inline' }, depAmount, depRef, depSave, depAsk) : null),
    el('div', { class: 'aa-step' },
      el('span', { class: 'aa-step-label' }, t('aa.q.title')), qualText(b),
      open ? el('span', { class: 'aa-inline' }, reason, qualify, refuseB) : null,
      open && !paid ? el('span', { class: 'hint' }, t('aa.q.needsPaid')) : null),
    el('div', { class: 'aa-step' },
      el('span', { class: 'aa-step-label' }, t('aa.link.title')), mintB),
    linkBox, err);
}

function wireAuction() {
  $('register-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = $('register-form');
    clearErrors(form);
    showError('reg-error', '');
    const p = new Problems();
    const bidder = $('reg-id').value.trim();
    const name = $('reg-name').value.trim();
    if (!ID_RE.test(bidder)) p.add($('reg-id'), t('aa.v.bidderId'));
    if (!name) p.add($('reg-name'), t('aa.v.required', { name: t('aa.reg.nameShort') }));
    else if (textLength(name) > 200) p.add($('reg-name'), t('aa.v.tooLong', { name: t('aa.reg.nameShort'), max: 200 }));
    if (p.show(null)) return;
    const button = $('reg-submit');
    button.disabled = true;
    try {
      await api('POST', `/api/v1/auctions/${encodeURIComponent(current.id)}/bidders`, { bidder, name });
      $('reg-id').value = '';
      $('reg-name').value = '';
      await refresh(current.id);
    } catch (err) {
      if (err && err.status >= 400 && err.status < 500 && err.status !== 401 && err.message) showError('reg-error', t('admin.err.refused', { message: say(err.message).text }));
      else fail('reg-error', err);
    } finally {
      button.disabled = false;
    }
  });
  $('staff-role').addEventListener('change', () => {
    $('staff-sub').value = `${$('staff-role').value}-1`;
  });
  $('staff-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = $('staff-form');
    clearErrors(form);
    showError('staff-error', '');
    const p = new Problems();
    const sub = $('staff-sub').value.trim();
    const name = $('staff-name').value.trim();
    if (!ID_RE.test(sub)) p.add($('staff-sub'), t('admin.v.sub'));
    if (!name) p.add($('staff-name'), t('admin.v.personName'));
    if (p.show(null)) return;
    const button = $('staff-submit');
    button.disabled = true;
    try {
      const l = await mint($('staff-role').value, sub, name);
      linksOf(current.id).staff.push(l);
      $('staff-links').append(linkRow(l));
      $('staff-name').value = '';
    } catch (err) {
      fail('staff-error', err);
    } finally {
      button.disabled = false;
    }
  });
  $('aa-refresh').addEventListener('click', loadList);
}

// ---- start ----

wireLangSwitch();
wireConsole({
  route,
  forget: () => {
    links.clear();
    current = null;
    auctions = [];
    stopPolling();
  },
  refusal: (message) => t('admin.err.refused', { message: say(message).text }),
});
wireCreate();
wireAuction();
onLangChange(() => {
  if (!$('list-view').hidden) renderList();
  if (!$('new-view').hidden) workingDaysHint();
  if (!$('auction-view').hidden && current) {
    $('bidders').replaceChildren();
    render(true);
  }
});
window.addEventListener('hashchange', route);
syncClock().then(route);
