// The evaluation room page (评标室, eval.html#room=ID&token=TOKEN): the
// committee's members declare (回避声明, signed in the page), elect the
// chair, read the bid documents in the page, fill and sign their score
// sheets, see the tally, send sheets back (the chair), sign the report and
// ask bidders for clarification; supervisors see all of it read-only and
// watch every venue's call; the admin follows the committee's formation.
// After the report, members, supervisors and the admin follow the results
// (the publicity on the server's clock, objections and answers, the
// notices); supervisors rate each member's conduct and note violations, and
// see what reached the pool.
// The connection is socket.js's, the fold evalstate.js's (through state.js),
// the call call.js's. Every check here is a convenience: the server decides.

import './i18n-eval.js';
import { t, wireLangSwitch, onLangChange, lang, sayRefusal } from './i18n.js';
import { RoomSocket, renderConnection, needsConnRender } from './socket.js';
import { parseTime, fmtMinute, fmtDate, fmtDuration, fmtAmount, fmtBytes, shortDigest } from './format.js';
import { KeyError, loadWasm, readKeyFile, wasmLoading } from './keys.js';
import { fromSnapshot, applyEvent } from './state.js';
import * as E from './evalstate.js';
import { startCall } from './call.js';
import { $, $$, el, confirmDialog, feedback } from './dom.js';

const params = new URLSearchParams(location.hash.slice(1));
const ROOM = params.get('room') || '';
const TOKEN = params.get('token') || '';

const MAX_SHEETS_BYTES = 128 << 10; // as rooms.maxSheetsBytes
const MAX_DOC_BYTES = 256 << 20; // larger documents are not read into the page

let viewer = null; // {sub, role, name}
let st = null; // evalstate.js
let call = null;
let built = ''; // the structure the sheet forms were built for
const ui = {
  busy: new Set(), // signing steps under way: 'declare', 'sheets', 'report', 'platform'
  msg: {}, // prefix -> {key, params, kind}
  filledFrom: '', // digest of the own sheets record the form was last filled from
  doc: null, // {bidder, state, type, url, size, message}
  returnOpen: false,
  dirty: false, // the sheet form was edited since it was last filled
};

// ---- formatting ----

function specialtyName(s) {
  return s === 'tenderer_rep' ? t('eval.rep') : s;
}

function venueName(c) {
  return c || t('call.venue.none');
}

/** venueLabel names a venue as main (主会场) or sub-venue (分会场) when the evaluation names its main venue. */
function venueLabel(c) {
  if (!st?.venue) return venueName(c);
  return t(c === st.venue ? 'eval.venue.main' : 'eval.venue.sub', { name: venueName(c) });
}

/** paren writes "name（note）" in Chinese, "name (note)" in English. */
const paren = (name, note) => (lang() === 'en' ? `${name} (${note})` : `${name}（${note}）`);

const memberName = (x) => (st ? E.memberName(st, x) : x);
const bidName = (b) => (st ? E.bidName(st, b) : b);
function itemName(id) {
  const it = st?.criteria?.items?.find((i) => i.id === id) || st?.criteria?.checks?.find((c) => c.id === id);
  return it ? paren(it.name, id) : id;
}

// ---- who is looking ----

const isMember = () => viewer?.role === 'expert' && !!st?.you && !st.replacedMe;
const isSupervisor = () => viewer?.role === 'supervisor';
const isAdmin = () => viewer?.role === 'admin';
const phaseAtLeast = (p) => E.PHASES.indexOf(st?.phase) >= E.PHASES.indexOf(p);

// refusals puts the server's refusals of evaluation commands into words; the
// server's own sentence follows in parentheses (English: as it is).
const REFUSALS = [
  [/does not verify with .*registered key/, 'eval.refuse.wrongKey'],
  [/every member declares first; waiting for (.+)$/, 'eval.refuse.undeclared', (m) => ({ who: m[1].split(', ').map(memberName).join('、') })],
  [/declare \(回避声明\) before you vote/, 'eval.refuse.declareFirst'],
  [/the chair is elected already/, 'eval.refuse.chairElected'],
  [/only the chair|asks through its chair/, 'eval.refuse.chairOnly'],
  [/has signed their sheets/, 'eval.refuse.signedAlready'],
  [/has declared already/, 'eval.refuse.declaredAlready'],
  [/has signed the report already/, 'eval.refuse.reportSignedAlready'],
  [/the report changed/, 'eval.refuse.reportChanged'],
  [/begun to sign the report/, 'eval.refuse.reportStarted'],
  [/no reserve of specialty (\S+) is left/, 'eval.refuse.noReserve'],
  [/^"(.+)" is not on the committee/, 'eval.refuse.notOnCommittee', (m) => ({ who: memberName(m[1]) })],
  [/is not on the committee|is not a member of evaluation/, 'eval.refuse.notMember'],
  [/the experts are rated once the report is complete/, 'eval.refuse.rateEarly'],
  [/^conduct must be good, fair or poor/, 'eval.refuse.conduct'],
  [/^note \(why the conduct was poor\) is required/, 'eval.refuse.poorNote'],
  [/^note.* must be valid text of at most (\d+)/, 'eval.refuse.noteLong', (m) => ({ n: m[1] })],
  [/violations are noted once the evaluation has started/, 'eval.refuse.violationEarly'],
  [/^"(.+)" did not sit on the committee/, 'eval.refuse.notSat', (m) => ({ who: memberName(m[1]) })],
  [/^points must be 1-100/, 'eval.refuse.points'],
  [/^suspend_days must be 0-(\d+)/, 'eval.refuse.days', (m) => ({ max: m[1] })],
  [/^reason is required/, 'eval.refuse.reason'],
  [/^reason must be valid text of at most (\d+)/, 'eval.refuse.reasonLong', (m) => ({ n: m[1] })],
  [/at most \d+ (ratings|violations) per evaluation/, 'eval.refuse.tooMany'],
  [/may not (rate the experts' conduct|note an expert's violation)/, 'eval.refuse.supervisorOnly'],
  [/minutes must be/, 'eval.refuse.minutes'],
  [/^sheet for (\S+): (.*)$/, 'eval.refuse.sheet', (m) => ({ bid: bidName(m[1]), message: m[2] })],
];

const refusalText = (f) => sayRefusal(f, REFUSALS, 'eval.code');

// ---- the connection ----

const sock = new RoomSocket({
  room: ROOM,
  token: TOKEN,
  messages: { auth: 'eval.err.auth', forbidden: 'eval.err.forbidden', gone: 'eval.err.gone', noToken: 'err.noToken' },
  hooks: {
    welcome(v) {
      viewer = v;
      render();
    },
    snapshot(f) {
      if (f.kind && f.kind !== 'evaluation') {
        // An opening and an auction have their own pages.
        sock.stop();
        location.replace(`${f.kind === 'auction' ? 'auction' : 'room'}.html${location.hash}`);
        return;
      }
      st = fromSnapshot(f.state);
      startCallPanel();
      render();
    },
    event(e) {
      applyEvent(st, e, viewer);
      if (st.replacedMe) {
        sock.stop();
        render();
        return;
      }
      if (st.resync) {
        st.resync = false;
        sock.resync();
      }
      render();
    },
    ack(p, f) {
      feedback(t(f.duplicate ? 'cmd.duplicate' : f.events ? 'cmd.ok' : 'cmd.noop', { what: t(p.what) }), 'ok');
      render();
    },
    refused(p, f) {
      feedback(t('cmd.failed', { what: t(p.what), message: refusalText(f) }), 'error');
      render();
      return true;
    },
    serverError(f) {
      feedback(t('server.error', { message: refusalText(f) }), 'error');
    },
    feedback(key, p, kind) {
      feedback(t(key, p), kind);
    },
    change() {
      renderConnection(sock);
    },
  },
});

/** command sends a room command; done(ok, frame) runs with the answer. */
function command(type, data, what, done) {
  return sock.command(type, data, what, done);
}

// ---- the key and the signature (WebAssembly: bidroomEvalSign) ----

const SIGN_ERRORS = new Set(['no_file', 'too_big', 'bad_key', 'wrong_password', 'bad_challenge', 'load_failed']);

/** keyPicker fills a [data-key=prefix] box with the key file and password fields. */
function keyPicker(prefix) {
  const box = document.querySelector(`.eval-key[data-key="${prefix}"]`);
  const input = el('input', { type: 'file', class: 'visually-hidden', 'data-testid': `${prefix}-key`, accept: '.pem,.key,application/x-pem-file,text/plain' });
  const name = el('span', { class: 'file-pick-name', 'data-testid': `${prefix}-key-name`, 'data-empty': t('unlock.noFile') });
  const pwd = el('input', { type: 'password', 'data-testid': `${prefix}-password`, autocomplete: 'off' });
  box.append(
    el('div', { class: 'unlock-field' },
      el('span', { 'data-i18n': 'eval.key.file', text: t('eval.key.file') }),
      el('label', { class: 'file-pick' }, input, el('span', { class: 'file-pick-button', 'data-i18n': 'unlock.choose', text: t('unlock.choose') }), name)),
    el('label', { class: 'unlock-field' }, el('span', { 'data-i18n': 'unlock.password', text: t('unlock.password') }), pwd),
  );
  input.addEventListener('change', () => {
    name.textContent = input.files?.[0]?.name || '';
    if (ui.msg[prefix]?.kind === 'error') setMsg(prefix, null);
  });
}

function clearKey(prefix) {
  $(`${prefix}-key`).value = '';
  $(`${prefix}-key-name`).textContent = '';
  $(`${prefix}-password`).value = '';
}

/** sign signs text with the key chosen in the prefix's picker, in the page; the key file is never sent. */
async function sign(prefix, text) {
  let keyPEM = await readKeyFile($(`${prefix}-key`));
  let wasm;
  try {
    if (!wasmLoading()) setMsg(prefix, 'eval.sign.loading');
    wasm = await loadWasm();
  } catch {
    throw new KeyError('load_failed');
  }
  const out = wasm.evalSign(keyPEM, $(`${prefix}-password`).value, text, ROOM);
  keyPEM = '';
  if (!out || out.error) throw new KeyError(out?.code || 'internal', out?.error);
  return out.signature;
}

function setMsg(prefix, key, p = {}, kind = 'info') {
  ui.msg[prefix] = key ? { key, params: p, kind } : null;
  renderMsg(prefix);
}

const msgBoxes = new Map(); // prefix -> a message line not found by its test id (the rating rows')

function renderMsg(prefix) {
  const box = msgBoxes.get(prefix) || $(`${prefix}-msg`);
  if (!box) return;
  const m = ui.msg[prefix];
  box.hidden = !m;
  if (m) {
    box.textContent = m.text ?? t(m.key, m.params);
    box.dataset.kind = m.kind;
  }
}

function setMsgText(prefix, text, kind) {
  ui.msg[prefix] = { text, kind };
  renderMsg(prefix);
}

/**
 * signAndSend signs text in the page and sends command with data plus the
 * signature; the answer lands in the prefix's message line.
 */
async function signAndSend(prefix, text, type, data, what, onDone) {
  if (ui.busy.has(prefix)) return;
  ui.busy.add(prefix);
  render();
  try {
    setMsg(prefix, 'eval.sign.working');
    const signature = await sign(prefix, text);
    setMsg(prefix, 'eval.sign.sending');
    await new Promise((resolve) => {
      command(type, { ...data, signature }, what, (ok, f) => {
        if (ok) {
          clearKey(prefix);
          setMsg(prefix, 'eval.sign.done', { what: t(what) }, 'ok');
        } else {
          setMsgText(prefix, t('cmd.failed', { what: t(what), message: refusalText(f) }), 'error');
        }
        onDone?.(ok);
        resolve();
      });
    });
  } catch (err) {
    const code = err instanceof KeyError ? err.code : 'internal';
    const key = SIGN_ERRORS.has(code) ? `eval.sign.err.${code}` : 'eval.sign.err.other';
    setMsg(prefix, key, { code, message: err?.detail || err?.message || '' }, 'error');
  } finally {
    ui.busy.delete(prefix);
    render();
  }
}

// ---- REST ----

async function api(method, route) {
  const r = await fetch(route, { method, headers: { Authorization: `Bearer ${TOKEN}` }, cache: 'no-store' });
  const json = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(json?.error?.message || `HTTP ${r.status}`), { code: json?.error?.code || `http_${r.status}` });
  return json;
}

// ---- the bid documents ----

async function openDoc(bidder) {
  closeDoc();
  const doc = { bidder, state: 'loading' };
  ui.doc = doc;
  renderDoc();
  try {
    const r = await fetch(`/api/v1/evaluations/${encodeURIComponent(ROOM)}/documents/${encodeURIComponent(bidder)}`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
      cache: 'no-store',
    });
    if (!r.ok) {
      const json = await r.json().catch(() => ({}));
      throw Object.assign(new Error(json?.error?.message || `HTTP ${r.status}`), { status: r.status });
    }
    const type = (r.headers.get('Content-Type') || '').split(';')[0].trim();
    const size = Number(r.headers.get('Content-Length'));
    if (type !== 'application/pdf' && type !== 'text/plain') {
      await r.body?.cancel();
      Object.assign(doc, { state: 'unsupported', size });
    } else if (size > MAX_DOC_BYTES) {
      await r.body?.cancel();
      Object.assign(doc, { state: 'tooBig', size });
    } else {
      const buf = await r.arrayBuffer();
      // Only these two types ever reach the frame: never HTML, never a download.
      const blob = new Blob([buf], { type: type === 'application/pdf' ? 'application/pdf' : 'text/plain;charset=utf-8' });
      Object.assign(doc, { state: 'shown', type: blob.type, size: buf.byteLength, url: URL.createObjectURL(blob), blob, digest: r.headers.get('X-Bid-Digest') || '' });
    }
  } catch (err) {
    Object.assign(doc, { state: 'error', message: err.message, status: err.status || 0 });
  }
  if (ui.doc !== doc) {
    if (doc.url) URL.revokeObjectURL(doc.url); // closed or replaced meanwhile
    return;
  }
  renderDoc();
}

function closeDoc() {
  if (ui.doc?.url) URL.revokeObjectURL(ui.doc.url);
  ui.doc = null;
  const frame = $('doc-frame');
  frame.removeAttribute('src');
  renderDoc();
}

function renderDoc() {
  const box = $('doc-viewer');
  const d = ui.doc;
  box.hidden = !d;
  $$('doc-open').forEach((b) => b.setAttribute('aria-pressed', String(!!d && b.dataset.bidder === d.bidder)));
  if (!d) return;
  box.dataset.state = d.state;
  $('doc-title').textContent = bidName(d.bidder);
  $('doc-meta').textContent = d.state === 'shown' ? `${d.type === 'application/pdf' ? 'PDF' : t('eval.doc.text')} · ${fmtBytes(d.size)}` : '';
  const status = $('doc-status');
  const frame = $('doc-frame');
  status.hidden = d.state === 'shown';
  status.dataset.kind = d.state === 'loading' ? 'info' : 'error';
  status.textContent = d.state === 'shown' ? '' : t(`eval.doc.${d.state}`, { message: d.message || '', size: fmtBytes(d.size) });
  frame.hidden = d.state !== 'shown';
  frame.title = t('eval.doc.frame', { name: bidName(d.bidder) });
  if (d.state === 'shown' && frame.getAttribute('src') !== d.url) frame.src = d.url;
}

// ---- the sheet forms (one per bid, built once from the criteria) ----

function structureKey() {
  return JSON.stringify([st.criteria?.checks?.map((c) => c.id), st.criteria?.items?.map((i) => [i.id, i.min, i.max]), st.bids.map((b) => b.bidder)]);
}

function buildSheets() {
  const key = structureKey();
  if (built === key) return;
  built = key;
  const root = $('sheets-forms');
  root.replaceChildren();
  for (const b of st.bids) {
    const box = el('fieldset', { class: 'eval-sheet', 'data-testid': 'sheet-form', 'data-bidder': b.bidder });
    box.append(el('legend', {},
      el('span', { class: 'eval-sheet-name', text: b.name || b.bidder }),
      el('span', { class: 'eval-sheet-price', text: t('eval.sheet.price', { price: fmtAmount(b.price) }) })));
    const checks = st.criteria?.checks || [];
    if (checks.length) box.append(el('h4', { 'data-i18n': 'eval.sheet.checks', text: t('eval.sheet.checks') }));
    for (const c of checks) {
      const name = `chk-${b.bidder}-${c.id}`;
      const reason = el('textarea', { 'data-testid': 'check-reason', 'data-check': c.id, rows: 1, maxlength: 500, 'data-i18n-placeholder': 'eval.sheet.failReason', placeholder: t('eval.sheet.failReason') });
      const row = el('div', { class: 'eval-check', 'data-testid': 'check-row', 'data-check': c.id },
        el('span', { class: 'eval-check-name', text: c.name }),
        el('label', { class: 'eval-pass' }, el('input', { type: 'radio', name, value: 'pass', 'data-testid': 'check-pass', 'data-check': c.id }), el('span', { 'data-i18n': 'eval.sheet.pass', text: t('eval.sheet.pass') })),
        el('label', { class: 'eval-fail' }, el('input', { type: 'radio', name, value: 'fail', 'data-testid': 'check-fail', 'data-check': c.id }), el('span', { 'data-i18n': 'eval.sheet.fail', text: t('eval.sheet.fail') })),
        reason);
      row.addEventListener('change', () => {
        reason.hidden = !row.querySelector('[value="fail"]').checked;
        ui.dirty = true;
      });
      reason.hidden = true;
      box.append(row);
    }
    const items = st.criteria?.items || [];
    if (items.length) box.append(el('h4', { 'data-i18n': 'eval.sheet.items', text: t('eval.sheet.items') }));
    for (const it of items) {
      const [lo, hi] = E.itemRange(it);
      const input = el('input', {
        type: 'text', inputmode: 'decimal', 'data-testid': 'score-input', 'data-item': it.id, maxlength: 6, autocomplete: 'off',
        'aria-label': `${b.name} · ${it.name}`,
      });
      input.addEventListener('input', () => {
        ui.dirty = true;
        input.removeAttribute('aria-invalid');
      });
      box.append(el('label', { class: 'eval-item', 'data-testid': 'item-row', 'data-item': it.id },
        el('span', { class: 'eval-item-name', text: it.name }),
        el('span', { class: 'eval-item-group', text: t(`eval.group.${it.group}`) }),
        input,
        el('span', { class: 'eval-item-range', text: t('eval.sheet.range', { min: lo, max: hi }) })));
    }
    box.append(el('p', { class: 'hint', text: t('eval.sheet.priceNote') }));
    root.append(box);
  }
}

/** readDrafts reads the forms into bidder → {checks, scores}. */
function readDrafts() {
  const out = {};
  for (const box of $$('sheet-form')) {
    const d = { checks: {}, scores: {} };
    for (const row of box.querySelectorAll('[data-testid="check-row"]')) {
      const id = row.dataset.check;
      const pass = row.querySelector('[value="pass"]').checked;
      const fail = row.querySelector('[value="fail"]').checked;
      if (pass || fail) d.checks[id] = { pass, reason: row.querySelector('textarea').value };
    }
    for (const input of box.querySelectorAll('[data-testid="score-input"]')) d.scores[input.dataset.item] = input.value;
    out[box.dataset.bidder] = d;
  }
  return out;
}

/** fillDrafts puts drafts (from the member's signed sheets) into the forms. */
function fillDrafts(drafts) {
  for (const box of $$('sheet-form')) {
    const d = drafts[box.dataset.bidder] || { checks: {}, scores: {} };
    for (const row of box.querySelectorAll('[data-testid="check-row"]')) {
      const r = d.checks[row.dataset.check];
      row.querySelector('[value="pass"]').checked = r?.pass === true;
      row.querySelector('[value="fail"]').checked = r?.pass === false;
      const reason = row.querySelector('textarea');
      reason.value = r?.reason || '';
      reason.hidden = r?.pass !== false;
    }
    for (const input of box.querySelectorAll('[data-testid="score-input"]')) input.value = d.scores[input.dataset.item] ?? '';
  }
  ui.dirty = false;
}

function problemText(bidder, p) {
  return t(`eval.problem.${p.kind}`, { bid: bidName(bidder), item: itemName(p.id), value: p.value ?? '', min: p.min ?? '', max: p.max ?? '' });
}

/** checkForms validates every form; it marks the fields and lists the problems, and returns them. */
function checkForms() {
  const drafts = readDrafts();
  const all = [];
  for (const b of st.bids) {
    const box = $$('sheet-form').find((x) => x.dataset.bidder === b.bidder);
    box?.querySelectorAll('[aria-invalid]').forEach((x) => x.removeAttribute('aria-invalid'));
    for (const p of E.checkSheet(st.criteria, drafts[b.bidder] || {})) {
      all.push({ bidder: b.bidder, ...p });
      const sel = p.kind.endsWith('Reason') ? `textarea[data-check="${p.id}"]` : p.kind === 'noVerdict' ? `[data-testid="check-row"][data-check="${p.id}"]` : `input[data-item="${p.id}"]`;
      box?.querySelector(sel)?.setAttribute('aria-invalid', 'true');
    }
  }
  const list = $('sheets-problems');
  list.replaceChildren(...all.map((p) => el('li', { 'data-testid': 'sheets-problem', 'data-bidder': p.bidder, 'data-item': p.id, text: problemText(p.bidder, p) })));
  list.hidden = all.length === 0;
  return { drafts, problems: all };
}

async function onSignSheets(e) {
  e.preventDefault();
  if (!isMember() || st.phase !== 'scoring' || st.you.signed) return;
  const { drafts, problems } = checkForms();
  if (problems.length) {
    setMsg('sheets', 'eval.sheets.fix', { n: problems.length }, 'error');
    $('sheets-problems').scrollIntoView({ block: 'nearest' });
    return;
  }
  const text = E.sheetsText(st, drafts);
  if (new TextEncoder().encode(text).length > MAX_SHEETS_BYTES) {
    setMsg('sheets', 'eval.sheets.tooBig', {}, 'error');
    return;
  }
  await signAndSend('sheets', E.sheetsMessage(ROOM, viewer.sub, text), 'submit_sheets', { sheets: text }, 'eval.cmd.sheets', (ok) => {
    if (ok) ui.dirty = false;
  });
}

// ---- rendering ----

function render() {
  renderConnection(sock);
  if (!viewer) return;
  $('you-role').textContent = t(`role.${viewer.role}`);
  $('you-role').dataset.role = viewer.role;
  $('you-name').textContent = viewer.name || viewer.sub;
  if (!st) return;
  document.title = `${st.title || ROOM} · ${t('eval.tagline')} · Bidroom`;
  document.body.classList.toggle('is-left', !!st.replacedMe);
  renderLeft();
  renderHead();
  renderCommittee();
  renderStart();
  renderDeclare();
  renderChair();
  renderBids();
  renderScoring();
  renderTally();
  renderReport();
  renderClarify();
  renderResults();
  renderConduct();
  renderAllSheets();
  renderDraw();
}

function renderLeft() {
  const box = $('eval-left');
  box.hidden = !st.replacedMe;
  if (st.replacedMe) {
    $('eval-left-text').textContent = t(st.replacedMe.recused ? 'eval.left.recused' : 'eval.left.replaced', { reason: st.replacedMe.reason });
  }
}

function shownPhase() {
  // The admin's stream carries the formation only: past the start, the
  // admin's page does not follow the phases (evaluation_view.go).
  // The results it runs (publicity, objections, notices) reach it again.
  if (isAdmin() && phaseAtLeast('convened') && !phaseAtLeast('publicity')) return 'started';
  return st.phase;
}

function renderHead() {
  const p = shownPhase();
  const ph = $('phase');
  ph.dataset.phase = p;
  ph.textContent = t(`eval.phase.${p}`);
  $('eval-title').textContent = st.title || ROOM;
  $('eval-tenderer').textContent = st.tenderer || '—';
  $('eval-opening').textContent = st.opening || '—';
  $('eval-size').textContent = t('eval.sizeN', { n: st.size });
  const me = st.you;
  $('you-name').textContent = me?.name || viewer.name || viewer.sub;
  const chairTag = $('you-chair');
  chairTag.hidden = !me?.chair;
  chairTag.textContent = t('eval.chair.tag');
  const steps = $('eval-steps');
  steps.replaceChildren();
  const at = E.PHASES.indexOf(st.phase);
  E.PHASES.forEach((ph2, i) => {
    let state = i < at ? 'done' : i === at ? 'current' : 'todo';
    if (isAdmin() && i > E.PHASES.indexOf('convened') && at < E.PHASES.indexOf('publicity')) state = 'unknown';
    steps.append(el('li', { 'data-testid': 'eval-step', 'data-phase': ph2, 'data-state': state, text: t(`eval.step.${ph2}`) }));
  });
}

function renderCommittee() {
  const list = $('committee-list');
  list.replaceChildren();
  const sealed = $('committee-sealed');
  sealed.hidden = st.committee.length > 0;
  sealed.textContent = t(st.phase === 'drawing' ? 'eval.committee.notDrawn' : 'eval.committee.sealed');
  $('committee-count').textContent = st.committee.length ? t('eval.committee.count', { n: st.committee.length, venues: E.venues(st).size }) : '';
  const showWork = !isAdmin();
  st.committee.forEach((m, i) => {
    const me = m.expert === viewer.sub && viewer.role === 'expert';
    const name = el('span', { class: 'person-name' },
      el('span', {}, m.name || m.expert, me ? el('span', { class: 'me', text: t('eval.me') }) : null),
      el('span', { class: 'eval-person-meta', text: `${specialtyName(m.specialty)} · ${venueLabel(m.center)}` }));
    const tags = el('span', { class: 'tags' });
    if (m.chair && showWork) tags.append(el('span', { class: 'tag tag-live', 'data-testid': 'chair-tag', text: t('eval.chair.tag') }));
    if (showWork && phaseAtLeast('convened')) {
      tags.append(el('span', { class: `tag ${m.declared ? 'tag-ok' : 'tag-muted'}`, 'data-testid': 'declared-tag', text: t(m.declared ? 'eval.declared' : 'eval.undeclared') }));
    }
    if (showWork && phaseAtLeast('scoring')) {
      tags.append(el('span', { class: `tag ${m.signed ? 'tag-ok' : 'tag-muted'}`, 'data-testid': 'signed-tag', text: t(m.signed ? 'eval.sheetsSigned' : 'eval.sheetsPending') }));
    }
    if (showWork && phaseAtLeast('tallied') && (st.report || st.completed)) {
      const s = E.reportSignedBy(st, m.expert) || st.completed?.signatures?.find((x) => x.expert === m.expert);
      tags.append(el('span', { class: `tag ${s ? 'tag-ok' : 'tag-muted'}`, 'data-testid': 'report-tag', text: t(s ? 'eval.reportSigned' : 'eval.reportPending') }));
    }
    if (isSupervisor() && m.voted_for && !E.chair(st)) tags.append(el('span', { class: 'tag tag-muted', 'data-testid': 'vote-tag', text: t('eval.votedFor', { name: memberName(m.voted_for) }) }));
    list.append(el('li', { class: 'person', 'data-testid': 'member-row', 'data-expert': m.expert, 'data-venue': m.center || '' },
      el('span', { class: 'person-index', text: String(i + 1) }), name, tags));
  });
  const rep = $('replaced-list');
  rep.replaceChildren(...st.replaced.map((r) => el('li', { 'data-testid': 'replaced-row', 'data-out': r.out, 'data-in': r.in,
    text: t(r.recused ? 'eval.replaced.recused' : 'eval.replaced.declined', { in: r.name || r.in, out: r.out, reason: r.reason }) })));
  $('replaced-box').hidden = st.replaced.length === 0;
}

function renderStart() {
  $('admin-note').hidden = !isAdmin();
  const show = isAdmin() && st.phase === 'formed';
  $('start-card').hidden = !show;
  $('start-evaluation').disabled = sock.busy('start_evaluation');
}

function renderDeclare() {
  const show = isMember() && st.phase === 'convened' && !st.you.declared;
  $('declare').hidden = !show;
  if (!show) return;
  $('declare-bidders').replaceChildren(...st.bids.map((b) => el('li', { text: b.name || b.bidder })));
  const conflict = $('declare-conflict').checked;
  $('declare-reason-box').hidden = !conflict;
  const busy = ui.busy.has('declare');
  for (const id of ['declare-none', 'declare-conflict', 'declare-reason', 'declare-key', 'declare-password', 'declare-sign']) $(id).disabled = busy;
  $('declare-sign').textContent = t(conflict ? 'eval.declare.signConflict' : 'eval.declare.sign');
  renderMsg('declare');
}

async function onDeclare(e) {
  e.preventDefault();
  if (!isMember() || st.you.declared) return;
  const conflict = $('declare-conflict').checked;
  const reason = $('declare-reason').value.trim();
  if (conflict && !reason) {
    setMsg('declare', 'eval.declare.needReason', {}, 'error');
    $('declare-reason').focus();
    return;
  }
  const data = conflict ? { conflict: true, reason } : { conflict: false };
  await signAndSend('declare', E.declarationMessage(ROOM, viewer.sub, conflict), 'declare', data, conflict ? 'eval.cmd.recuse' : 'eval.cmd.declare');
}

function renderChair() {
  const show = (isMember() || isSupervisor()) && st.phase === 'convened';
  $('chair-card').hidden = !show;
  if (!show) return;
  const elected = E.chair(st);
  const me = st.you;
  const hint = $('chair-hint');
  if (elected) hint.textContent = t('eval.chair.elected', { name: elected.name });
  else if (isSupervisor()) hint.textContent = t('eval.chair.watch');
  else if (!me.declared) hint.textContent = t('eval.chair.declareFirst');
  else hint.textContent = me.voted_for ? t('eval.chair.voted', { name: memberName(me.voted_for) }) : t('eval.chair.hint', { n: Math.floor(st.committee.length / 2) + 1 });
  const list = $('vote-list');
  list.replaceChildren();
  if (!elected) {
    for (const m of st.committee) {
      const li = el('li', { 'data-testid': 'vote-row', 'data-expert': m.expert }, el('span', { class: 'eval-vote-name', text: m.name || m.expert }));
      if (isSupervisor()) {
        const voters = st.committee.filter((x) => x.voted_for === m.expert).map((x) => x.name);
        li.append(el('span', { class: 'hint', 'data-testid': 'vote-count', text: t('eval.chair.votes', { n: voters.length, who: voters.join('、') }) }));
      } else {
        const mine = me.voted_for === m.expert;
        const btn = el('button', { type: 'button', 'data-testid': 'vote', 'data-candidate': m.expert, class: mine ? 'primary' : '', 'aria-pressed': String(mine),
          text: t(mine ? 'eval.chair.votedButton' : 'eval.chair.vote') });
        btn.disabled = !me.declared || sock.busy('vote_chair');
        btn.addEventListener('click', () => command('vote_chair', { candidate: m.expert }, 'eval.cmd.vote'));
        li.append(btn);
      }
      list.append(li);
    }
  }
  const box = $('open-scoring-box');
  box.hidden = !(isMember() && elected?.expert === viewer.sub);
  if (!box.hidden) {
    const missing = E.undeclared(st);
    $('open-scoring-hint').textContent = missing.length ? t('eval.open.waiting', { who: missing.map((m) => m.name).join('、') }) : t('eval.open.ready');
    $('open-scoring').disabled = sock.busy('open_scoring');
  }
}

function renderBids() {
  const show = (isMember() || isSupervisor()) && st.bids.length > 0;
  $('bids').hidden = !show;
  if (!show) return;
  const list = $('bid-list');
  const want = st.bids.map((b) => b.bidder).join('\n');
  if (list.dataset.built !== want + lang()) {
    list.dataset.built = want + lang();
    list.replaceChildren(...st.bids.map((b, i) => {
      const btn = el('button', { type: 'button', 'data-testid': 'doc-open', 'data-bidder': b.bidder, text: t('eval.doc.open') });
      btn.disabled = !b.plaintext_digest;
      btn.title = b.plaintext_digest ? t('eval.doc.digest', { digest: b.plaintext_digest }) : t('eval.doc.none');
      btn.addEventListener('click', () => openDoc(b.bidder));
      return el('li', { class: 'eval-bid', 'data-testid': 'bid-row', 'data-bidder': b.bidder },
        el('span', { class: 'person-index', text: String(i + 1) }),
        el('span', { class: 'eval-bid-name', text: b.name || b.bidder }),
        el('span', { class: 'eval-bid-price', text: t('eval.sheet.price', { price: fmtAmount(b.price) }) }),
        btn);
    }));
  }
  renderDoc();
}

function renderScoring() {
  const show = isMember() && phaseAtLeast('scoring');
  $('scoring').hidden = !show;
  if (!show) return;
  const signed = st.committee.filter((m) => m.signed).length;
  $('scoring-progress').textContent = t('eval.scoring.progress', { n: signed, of: st.committee.length });
  const me = st.you;
  const own = E.ownSheets(st, viewer);
  const open = st.phase === 'scoring' && !me.signed;
  const status = $('sheets-status');
  status.hidden = open && !own;
  status.textContent = me.signed && own ? t('eval.sheets.signed', { digest: shortDigest(own.digest) }) : open ? t('eval.sheets.resign') : t('eval.sheets.closed');
  status.title = own?.digest || '';
  const returned = E.openReturns(st, viewer.sub);
  const rbox = $('sheets-returned');
  rbox.hidden = !(open && returned.length);
  rbox.replaceChildren(
    el('strong', { text: t('eval.returned.title') }),
    ...returned.map((r) => el('p', { 'data-testid': 'sheets-returned-row', 'data-bidder': r.bidder, 'data-item': r.item || '',
      text: t('eval.returned.row', { bid: bidName(r.bidder), item: r.item ? itemName(r.item) : t('eval.returned.whole'), reason: r.reason }) })),
  );
  const form = $('sheets-form');
  form.hidden = !open;
  if (!open) return;
  buildSheets();
  if (own && own.digest !== ui.filledFrom) {
    // A returned sheet: start from what was signed, to fix and sign again.
    ui.filledFrom = own.digest;
    fillDrafts(E.draftsFrom(own));
  }
  for (const x of document.querySelectorAll('.eval-sheets .is-returned')) x.classList.remove('is-returned');
  for (const r of returned) {
    const box = $$('sheet-form').find((x) => x.dataset.bidder === r.bidder);
    box?.classList.add('is-returned');
    if (r.item) box?.querySelector(`input[data-item="${r.item}"]`)?.classList.add('is-returned');
  }
  $('sheets-hint').textContent = t('eval.sheets.hint', { n: st.bids.length });
  const busy = ui.busy.has('sheets');
  form.querySelectorAll('input, textarea, button').forEach((x) => (x.disabled = busy));
  renderMsg('sheets');
}

function renderTally() {
  const show = !!st.tally;
  $('tally').hidden = !show;
  if (!show) return;
  const rows = $('tally-rows');
  rows.replaceChildren(...st.tally.results.map((r) => {
    const bid = st.bids.find((b) => b.bidder === r.bidder);
    const failed = (r.failed || []).map((id) => st.criteria?.checks?.find((c) => c.id === id)?.name || id);
    return el('tr', { 'data-testid': 'tally-row', 'data-bidder': r.bidder, 'data-valid': String(r.valid), 'data-rank': r.rank || '' },
      el('td', { class: 'num', text: r.valid ? String(r.rank) : '—' }),
      el('td', { class: 'name' }, el('span', { text: bid?.name || r.bidder }), r.valid ? null : el('span', { class: 'tag tag-bad', text: t('eval.tally.invalid', { checks: failed.join('、') }) })),
      el('td', { class: 'num', text: fmtAmount(bid?.price) }),
      el('td', { class: 'num', text: r.technical }),
      el('td', { class: 'num', text: r.commercial }),
      el('td', { class: 'num', text: r.valid ? r.price : '—' }),
      el('td', { class: 'num total', 'data-testid': 'tally-total', text: r.total }));
  }));
  const outliers = st.tally.outliers || [];
  const canReturn = E.isChair(st, viewer) && (st.phase === 'tallied' || st.phase === 'scoring') && st.reportSignatures.length === 0;
  $('outliers-hint').textContent = outliers.length ? t('eval.outliers.hint', { share: shareText() }) : t('eval.outliers.none');
  $('outlier-list').replaceChildren(...outliers.map((o) => {
    const li = el('li', { class: 'eval-outlier', 'data-testid': 'outlier-row', 'data-expert': o.expert, 'data-bidder': o.bidder, 'data-item': o.item },
      el('span', { text: t('eval.outlier', { who: memberName(o.expert), bid: bidName(o.bidder), item: itemName(o.item), score: o.score, mean: o.mean }) }));
    if (canReturn) {
      const btn = el('button', { type: 'button', 'data-testid': 'return-outlier', text: t('eval.return.button') });
      btn.addEventListener('click', () => openReturn(o));
      li.append(btn);
    }
    return li;
  }));
  $('return-open-box').hidden = !canReturn || ui.returnOpen;
  $('return-form').hidden = !canReturn || !ui.returnOpen;
  $('return-send').disabled = sock.busy('return_sheet');
  renderMsg('return');
  $('returns-box').hidden = st.returns.length === 0;
  $('returns-list').replaceChildren(...st.returns.map((r) => el('li', { 'data-testid': 'returns-row',
    text: t('eval.returns.row', { who: memberName(r.expert), bid: bidName(r.bidder), item: r.item ? itemName(r.item) : t('eval.returned.whole'), reason: r.reason }) })));
}

function shareText() {
  const s = Number(st.criteria?.outlier_share || '0.25');
  return `${Math.round(s * 100)}%`;
}

function fillSelect(sel, options, value) {
  const want = JSON.stringify(options);
  if (sel.dataset.options !== want) {
    sel.dataset.options = want;
    sel.replaceChildren(...options.map(([v, label]) => el('option', { value: v, text: label })));
  }
  if (value !== undefined) sel.value = value;
}

function openReturn(o = {}) {
  ui.returnOpen = true;
  fillSelect($('return-expert'), st.committee.filter((m) => m.signed).map((m) => [m.expert, m.name]), o.expert);
  fillSelect($('return-bidder'), st.bids.map((b) => [b.bidder, b.name || b.bidder]), o.bidder);
  fillSelect($('return-item'), [['', t('eval.return.anyItem')], ...(st.criteria?.items || []).map((i) => [i.id, i.name])], o.item || '');
  setMsg('return', null);
  renderTally();
  $('return-reason').focus();
}

function onReturn(e) {
  e.preventDefault();
  const reason = $('return-reason').value.trim();
  if (!reason) {
    setMsg('return', 'eval.return.needReason', {}, 'error');
    return;
  }
  const data = { expert: $('return-expert').value, bidder: $('return-bidder').value, reason };
  if ($('return-item').value) data.item = $('return-item').value;
  command('return_sheet', data, 'eval.cmd.return', (ok, f) => {
    if (ok) {
      ui.returnOpen = false;
      $('return-reason').value = '';
      setMsg('return', null);
    } else {
      setMsgText('return', refusalText(f), 'error');
    }
    render();
  });
  render();
}

function renderReport() {
  const report = st.completed?.report || st.report;
  const show = !!report && (isMember() || isSupervisor());
  $('report').hidden = !show;
  if (!show) return;
  const digest = st.completed?.digest || st.reportDigest;
  const sigs = st.completed?.signatures || st.reportSignatures;
  $('report-progress').textContent = t('eval.report.progress', { n: sigs.length, of: st.committee.length });
  $('report-state').textContent = st.completed ? t('eval.report.completed') : t('eval.report.draft');
  $('report-state').dataset.kind = st.completed ? 'ok' : 'info';
  $('candidate-list').replaceChildren(...(report.candidates || []).map((c) => el('li', { 'data-testid': 'candidate-row', 'data-bidder': c.bidder, 'data-rank': c.rank },
    el('strong', { text: c.name || c.bidder }),
    el('span', { class: 'hint', text: t('eval.report.candidate', { rank: c.rank, total: c.total, price: fmtAmount(c.price) }) }))));
  if (!(report.candidates || []).length) $('candidate-list').append(el('li', { class: 'empty', text: t('eval.report.noCandidates') }));
  $('report-digest').textContent = t('eval.report.digest', { digest });
  $('report-sigs').replaceChildren(...st.committee.map((m) => {
    const s = sigs.find((x) => x.expert === m.expert);
    return el('li', { 'data-testid': 'report-sig-row', 'data-expert': m.expert, 'data-signed': String(!!s), 'data-dissent': String(!!s?.dissent) },
      el('span', { class: `tag ${s ? 'tag-ok' : 'tag-muted'}`, text: t(s ? 'eval.reportSigned' : 'eval.reportPending') }),
      el('span', { class: 'eval-sig-name', text: m.name || m.expert }),
      s?.dissent ? el('span', { class: 'eval-dissent', 'data-testid': 'report-dissent-text', text: t('eval.report.dissentBy', { text: s.dissent }) }) : null);
  }));
  const mine = isMember() && E.reportSignedBy(st, viewer.sub);
  const form = $('report-form');
  form.hidden = !(isMember() && st.phase === 'tallied' && !mine && st.reportDigest);
  const busy = ui.busy.has('report');
  form.querySelectorAll('input, textarea, button').forEach((x) => (x.disabled = busy));
  renderMsg('report');
  const pbox = $('platform-box');
  pbox.hidden = !st.completed;
  if (st.completed) {
    $('platform-sig').dataset.signed = String(!!st.platformSignature);
    $('platform-sig').textContent = st.platformSignature
      ? t('eval.platform.signed', { digest: shortDigest(st.platformSignature.digest), key: shortDigest(st.platformSignature.key_id) })
      : t('eval.platform.waiting');
    $('platform-sign').hidden = !(isSupervisor() && !st.platformSignature);
    $('report-print').hidden = !(isSupervisor() || isMember());
    $('platform-sign').disabled = ui.busy.has('platform');
    renderMsg('platform');
  }
}

async function onSignReport(e) {
  e.preventDefault();
  if (!isMember() || !st.reportDigest) return;
  const dissent = $('report-dissent').value.trim();
  await signAndSend('report', E.reportMessage(ROOM, viewer.sub, st.reportDigest, dissent), 'sign_report',
    { digest: st.reportDigest, dissent }, dissent ? 'eval.cmd.reportDissent' : 'eval.cmd.report');
}

// openReport shows the printable report (fetched with the token: a plain
// link cannot carry it) in a new tab.
async function openReport(e) {
  e.preventDefault();
  try {
    const r = await fetch(`/api/v1/evaluations/${encodeURIComponent(ROOM)}/report.html`, { headers: { Authorization: `Bearer ${TOKEN}` }, cache: 'no-store' });
    if (!r.ok) {
      const body = await r.json().catch(() => null);
      throw new Error(body?.error?.message || `HTTP ${r.status}`);
    }
    const url = URL.createObjectURL(new Blob([await r.text()], { type: 'text/html;charset=utf-8' }));
    window.open(url, '_blank', 'noopener');
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    setMsg('platform', 'eval.report.printFailed', { message: err.message }, 'error');
  }
}

async function onPlatformSign() {
  if (ui.busy.has('platform')) return;
  ui.busy.add('platform');
  setMsg('platform', 'eval.platform.asking');
  try {
    await api('POST', `/api/v1/evaluations/${encodeURIComponent(ROOM)}/report`);
    setMsg('platform', null); // the signature shows above once its event arrives
  } catch (err) {
    setMsgText('platform', refusalText({ code: err.code, message: err.message }), 'error');
  } finally {
    ui.busy.delete('platform');
    render();
  }
}

function renderClarify() {
  const active = st.phase === 'scoring' || st.phase === 'tallied';
  const show = (isMember() || isSupervisor()) && (active || st.clarifications.length > 0);
  $('clarify').hidden = !show;
  if (!show) return;
  const now = sock.serverNow();
  const list = $('clar-list');
  list.replaceChildren(...[...st.clarifications].reverse().map((c) => {
    const due = parseTime(c.due_at);
    let state = 'waiting';
    if (c.answer) state = 'answered';
    else if (due <= now) state = 'late';
    const left = state === 'waiting' ? t('eval.clarify.left', { left: fmtDuration(due - now) }) : '';
    return el('li', { class: 'eval-clar-item', 'data-testid': 'clar-row', 'data-id': c.id, 'data-state': state },
      el('div', { class: 'eval-clar-head' },
        el('strong', { text: bidName(c.bidder) }),
        el('span', { class: `tag ${state === 'answered' ? 'tag-ok' : state === 'late' ? 'tag-bad' : 'tag-muted'}`, 'data-testid': 'clar-state', text: t(`eval.clarify.${state}`) })),
      el('p', { class: 'eval-clar-q', 'data-testid': 'clar-question-text', text: c.question }),
      el('p', { class: 'hint', 'data-testid': 'clar-due', text: `${t('eval.clarify.due', { time: fmtMinute(c.due_at) })} ${left}` }),
      c.answer ? el('p', { class: 'eval-clar-a', 'data-testid': 'clar-answer', text: t('eval.clarify.answer', { text: c.answer, time: fmtMinute(c.answered_at) }) }) : null);
  }));
  if (!st.clarifications.length) list.append(el('li', { class: 'empty', text: t('eval.clarify.none') }));
  const form = $('clar-form');
  form.hidden = !(E.isChair(st, viewer) && active);
  if (!form.hidden) {
    fillSelect($('clar-bidder'), st.bids.map((b) => [b.bidder, b.name || b.bidder]));
    $('clar-ask').disabled = sock.busy('ask_clarification');
    renderMsg('clar');
  }
}

function onAsk(e) {
  e.preventDefault();
  const question = $('clar-question').value.trim();
  const minutes = Number($('clar-minutes').value);
  if (!question) {
    setMsg('clar', 'eval.clarify.needQuestion', {}, 'error');
    return;
  }
  if (!Number.isInteger(minutes) || minutes < 10 || minutes > 10080) {
    setMsg('clar', 'eval.clarify.badMinutes', {}, 'error');
    return;
  }
  command('ask_clarification', { bidder: $('clar-bidder').value, question, minutes }, 'eval.cmd.clarify', (ok, f) => {
    if (ok) {
      $('clar-question').value = '';
      setMsg('clar', null);
    } else {
      setMsgText('clar', refusalText(f), 'error');
    }
  });
}

// ---- the results: publicity, objections, notices (R23, R24) ----

function renderResults() {
  const p = st.results.publicity;
  $('results').hidden = !p;
  if (!p) return;
  const now = sock.serverNow();
  const r = st.results;
  const pst = E.publicityState(st, now);
  const shown = st.phase === 'notified' ? 'notified' : pst;
  const tag = $('publicity-state');
  tag.dataset.state = shown;
  tag.className = `tag ${shown === 'running' ? 'tag-live' : shown === 'notified' ? 'tag-ok' : 'tag-muted'}`;
  tag.textContent = t(`eval.pub.state.${shown}`);
  const unanswered = r.objections.filter((o) => !o.answer).length;
  const period = $('publicity-period');
  period.dataset.state = pst;
  const times = { from: fmtMinute(p.starts_at), to: fmtMinute(p.ends_at), days: p.days };
  if (pst === 'running') period.textContent = t('eval.pub.running', { ...times, left: fmtDuration(parseTime(p.ends_at) - now) });
  else if (pst === 'ending') period.textContent = t('eval.pub.ending', times);
  else period.textContent = t('eval.pub.closed', { ...times, n: r.objections.length, unanswered });
  $('publicity-note').hidden = !p.note;
  $('publicity-note').textContent = p.note ? t('eval.pub.note', { text: p.note }) : '';
  $('publicity-rows').replaceChildren(...(p.candidates || []).map((c) => el('tr', { 'data-testid': 'publicity-row', 'data-bidder': c.bidder, 'data-rank': c.rank },
    el('td', { class: 'num', text: String(c.rank) }),
    el('td', { class: 'name', text: c.name || bidName(c.bidder) }),
    el('td', { class: 'num', text: fmtAmount(c.price) }),
    el('td', { class: 'num total', text: c.total }))));

  const list = $('result-objection-list');
  list.replaceChildren(...r.objections.map((o) => {
    const due = parseTime(o.due_at);
    let state = 'waiting';
    if (o.answer) state = o.late ? 'late' : 'answered';
    else if (due <= now) state = 'overdue';
    return el('li', { class: 'eval-clar-item', 'data-testid': 'result-objection', 'data-id': o.id, 'data-state': state, 'data-answered': String(!!o.answer) },
      el('div', { class: 'eval-clar-head' },
        el('strong', { text: t('eval.obj.from', { bid: bidName(o.bidder), time: fmtMinute(o.raised_at) }) }),
        el('span', { class: `tag ${state === 'answered' ? 'tag-ok' : state === 'waiting' ? 'tag-muted' : 'tag-bad'}`, text: t(`eval.obj.${state}`) })),
      el('p', { class: 'eval-clar-q', 'data-testid': 'result-objection-text', text: o.text }),
      o.answer
        ? el('p', { class: 'eval-clar-a', 'data-testid': 'result-objection-answer', text: t('eval.obj.answer', { text: o.answer, time: fmtMinute(o.answered_at) }) })
        : el('p', { class: 'hint', text: t('eval.obj.due', { time: fmtMinute(o.due_at) }) }));
  }));
  if (!r.objections.length) list.append(el('li', { class: 'empty', text: t(pst === 'running' ? 'eval.obj.noneYet' : 'eval.obj.none') }));

  const n = r.notices;
  let state = 'afterPublicity';
  if (n) state = 'issued';
  else if (pst === 'closed' && unanswered) state = 'blocked';
  else if (pst === 'closed') state = 'ready';
  $('notices-state').dataset.state = state;
  $('notices-state').textContent = t(`eval.notices.${state}`, { n: n?.notices?.length || 0, unanswered, time: fmtMinute(n?.issued_at), key: shortDigest(n?.key_id) });
  $('notices-box').hidden = !n;
  $('notice-rows').replaceChildren(...(n?.notices || []).map((x) => el('tr', { 'data-testid': 'notice-row', 'data-bidder': x.bidder, 'data-kind': x.kind },
    el('td', {}, el('span', { class: `tag ${x.kind === 'award' ? 'tag-ok' : 'tag-muted'}`, text: t(`eval.notices.${x.kind}`) })),
    el('td', { class: 'name', text: bidName(x.bidder) }),
    el('td', { class: 'mono', title: x.digest, text: shortDigest(x.digest) }))));
}

// ---- expert conduct (R25): supervisors rate and note violations; a member sees what concerns them ----

const conductName = (c) => t(`eval.conduct.${c}`);

function raterName(x) {
  const me = x.by === viewer?.sub && x.by_role === viewer?.role;
  const role = t(x.by_role === 'host' ? 'eval.rater.host' : 'eval.rater.supervisor');
  return me ? paren(role, t('eval.rater.me')) : role;
}

/** poolText says how a rating or violation stands with the pool (supervisors: what the pool did; members: what it asks). */
function poolText(x, kind) {
  if (!isSupervisor()) {
    if (kind === 'violation') {
      if (!x.pool) return t('eval.pool.local');
      return t(x.until ? 'eval.pool.askSuspend' : 'eval.pool.askViolation', { points: x.points, until: fmtDate(x.until) });
    }
    return x.credit_delta ? t('eval.pool.askRating', { delta: signed(x.credit_delta) }) : '';
  }
  const status = E.poolStatus(st, x, kind);
  const s = E.sanctionFor(st, x.id);
  if (status === 'applied') {
    const parts = [];
    if (s.credit) parts.push(t('eval.pool.credit', { delta: signed(s.credit) }));
    if (s.suspended_until) parts.push(t('eval.pool.suspended', { until: fmtDate(s.suspended_until) }));
    if (s.note) parts.push(t('eval.pool.note', { note: s.note }));
    return t('eval.pool.applied', { what: parts.join(lang() === 'en' ? '; ' : '；') || t('eval.pool.nothing') });
  }
  if (status === 'pending') return t(kind === 'violation' ? 'eval.pool.pendingViolation' : 'eval.pool.pendingRating', { delta: signed(kind === 'violation' ? -x.points : x.credit_delta) });
  return t(`eval.pool.${status}`);
}

const signed = (n) => (n > 0 ? `+${n}` : String(n));

function renderConduct() {
  const r = st.results;
  const sup = isSupervisor();
  const mine = isMember() && (r.ratings.length > 0 || r.violations.length > 0);
  const show = (sup && phaseAtLeast('convened')) || mine;
  $('conduct').hidden = !show;
  if (!show) return;
  $('conduct-hint').textContent = sup ? t('eval.conduct.hintSupervisor', { n: E.POOR_CONDUCT_CREDIT }) : t('eval.conduct.hintMember');
  renderRateRows(sup && !!st.completed);
  renderViolationForm(sup);

  const ratings = $('rating-list');
  ratings.replaceChildren(...r.ratings.map((x) => {
    const status = sup ? E.poolStatus(st, x, 'rating') : '';
    const pool = poolText(x, 'rating');
    return el('li', { class: 'eval-record', 'data-testid': 'rating-row', 'data-id': x.id, 'data-expert': x.expert, 'data-conduct': x.conduct, 'data-pool': status },
      el('div', { class: 'eval-record-head' },
        el('strong', { text: memberName(x.expert) }),
        el('span', { class: `tag ${x.conduct === 'poor' ? 'tag-bad' : x.conduct === 'good' ? 'tag-ok' : 'tag-muted'}`, text: conductName(x.conduct) }),
        el('span', { class: 'hint', text: t('eval.rating.by', { who: raterName(x), time: fmtMinute(x.at) }) })),
      x.note ? el('p', { class: 'eval-record-text', 'data-testid': 'rating-note-text', text: x.note }) : null,
      pool ? el('p', { class: `eval-pool eval-pool-${status || 'ask'}`, 'data-testid': 'rating-pool', text: pool }) : null);
  }));
  if (!r.ratings.length) ratings.append(el('li', { class: 'empty', text: t('eval.ratings.none') }));

  const violations = $('violation-list');
  violations.replaceChildren(...r.violations.map((x) => {
    const status = sup ? E.poolStatus(st, x, 'violation') : '';
    return el('li', { class: 'eval-record', 'data-testid': 'violation-row', 'data-id': x.id, 'data-expert': x.expert, 'data-pool': status },
      el('div', { class: 'eval-record-head' },
        el('strong', { text: memberName(x.expert) }),
        el('span', { class: 'tag tag-bad', text: t(x.suspend_days ? 'eval.violation.tagSuspend' : 'eval.violation.tag', { points: x.points, days: x.suspend_days }) }),
        el('span', { class: 'hint', text: t('eval.rating.by', { who: x.by === viewer.sub && sup ? paren(t('eval.rater.supervisor'), t('eval.rater.me')) : t('eval.rater.supervisor'), time: fmtMinute(x.at) }) })),
      el('p', { class: 'eval-record-text', 'data-testid': 'violation-reason-text', text: x.reason }),
      el('p', { class: `eval-pool eval-pool-${status || 'ask'}`, 'data-testid': 'violation-pool', text: poolText(x, 'violation') }));
  }));
  if (!r.violations.length) violations.append(el('li', { class: 'empty', text: t('eval.violations.none') }));

  const pending = $('sanctions-pending');
  pending.hidden = !(sup && r.pending > 0);
  pending.textContent = sup ? t('eval.pool.pendingCount', { n: r.pending }) : '';
}

// The rating rows are built once per member and kept, so a re-render never
// loses a choice or a note being typed.
const rateRows = new Map(); // expert -> {li, name, current, conduct, note, save, msg}

function renderRateRows(show) {
  $('rate-box').hidden = !show;
  if (!show) return;
  const list = $('rate-list');
  const want = st.committee.map((m) => m.expert);
  for (const [x, row] of rateRows) {
    if (!want.includes(x)) {
      row.li.remove();
      rateRows.delete(x);
    }
  }
  st.committee.forEach((m, i) => {
    let row = rateRows.get(m.expert);
    if (!row) row = buildRateRow(m.expert);
    if (list.children[i] !== row.li) list.insertBefore(row.li, list.children[i] || null);
    row.name.textContent = `${m.name || m.expert}${m.chair ? ` · ${t('eval.chair.tag')}` : ''}`;
    row.meta.textContent = `${specialtyName(m.specialty)} · ${venueLabel(m.center)}`;
    const cur = E.myRating(st, viewer, m.expert);
    row.li.dataset.conduct = cur?.conduct || '';
    row.current.textContent = cur ? t('eval.rate.current', { conduct: conductName(cur.conduct), time: fmtMinute(cur.at) }) : t('eval.rate.none');
    if (!row.filled && cur) {
      row.conduct.value = cur.conduct;
      row.note.value = cur.note;
      row.filled = true;
    }
    for (const o of row.conduct.options) o.textContent = o.value ? conductName(o.value) : t('eval.rate.choose');
    row.note.placeholder = t('eval.rate.notePlaceholder');
    row.save.textContent = t(cur ? 'eval.rate.change' : 'eval.rate.save');
    row.save.disabled = row.busy;
    renderMsg(`rate-${m.expert}`);
  });
}

function buildRateRow(expert) {
  const conduct = el('select', { 'data-testid': 'rate-conduct', 'aria-label': t('eval.rate.title') },
    el('option', { value: '' }), ...E.CONDUCTS.map((c) => el('option', { value: c })));
  const note = el('textarea', { 'data-testid': 'rate-note', rows: 1, maxlength: 500 });
  const save = el('button', { type: 'button', 'data-testid': 'rate-save' });
  const row = {
    name: el('strong', { class: 'eval-rate-name' }),
    meta: el('span', { class: 'eval-person-meta' }),
    current: el('span', { class: 'hint', 'data-testid': 'rate-current' }),
    conduct, note, save, busy: false, filled: false,
  };
  row.li = el('li', { class: 'eval-rate-row', 'data-testid': 'rate-row', 'data-expert': expert },
    el('div', { class: 'eval-rate-who' }, row.name, row.meta, row.current),
    el('div', { class: 'eval-rate-form' }, conduct, note, save),
    el('p', { class: 'unlock-msg', 'data-testid': 'rate-msg', role: 'status', 'aria-live': 'polite', hidden: true }));
  msgBoxes.set(`rate-${expert}`, row.li.lastChild);
  save.addEventListener('click', () => onRate(expert));
  conduct.addEventListener('change', () => setMsg(`rate-${expert}`, null));
  rateRows.set(expert, row);
  return row;
}

function onRate(expert) {
  const row = rateRows.get(expert);
  if (!row || row.busy) return;
  const conduct = row.conduct.value;
  const note = row.note.value.trim();
  const problem = E.checkRating(conduct, note);
  if (problem) {
    setMsg(`rate-${expert}`, `eval.rate.err.${problem}`, { name: memberName(expert) }, 'error');
    (problem === 'conduct' ? row.conduct : row.note).focus();
    return;
  }
  row.busy = true;
  setMsg(`rate-${expert}`, 'eval.rate.saving');
  const data = note ? { expert, conduct, note } : { expert, conduct };
  command('rate_expert', data, 'eval.cmd.rate', (ok, f) => {
    row.busy = false;
    if (ok) setMsg(`rate-${expert}`, 'eval.rate.saved', { name: memberName(expert), conduct: conductName(conduct) }, 'ok');
    else setMsgText(`rate-${expert}`, refusalText(f), 'error');
    render();
  });
  render();
}

function renderViolationForm(sup) {
  const form = $('violation-form');
  const show = sup && phaseAtLeast('convened');
  form.hidden = !show;
  if (!show) return;
  fillSelect($('violation-expert'), E.sat(st).map((x) => [x.expert,
    x.replaced ? paren(x.name, t('eval.violation.replaced')) : x.specialty === 'tenderer_rep' ? paren(x.name, t('eval.rep')) : x.name]));
  $('violation-send').disabled = ui.busy.has('violation');
  renderMsg('violation');
}

async function onViolation(e) {
  e.preventDefault();
  if (!isSupervisor() || ui.busy.has('violation')) return;
  const expert = $('violation-expert').value;
  const points = Number($('violation-points').value);
  const suspendDays = Number($('violation-days').value);
  const reason = $('violation-reason').value.trim();
  const problem = E.checkViolation({ points, suspendDays, reason });
  if (!expert || problem) {
    setMsg('violation', `eval.violation.err.${expert ? problem : 'expert'}`, {}, 'error');
    return;
  }
  setMsg('violation', null);
  const who = E.sat(st).find((x) => x.expert === expert);
  const name = who?.name || expert;
  let text;
  if (who?.specialty === 'tenderer_rep') {
    text = t('eval.violation.confirmRep', { name, points });
  } else {
    const until = fmtDate(sock.serverNow() + suspendDays * 86400_000);
    text = t(suspendDays ? 'eval.violation.confirmSuspend' : 'eval.violation.confirm', { name, points, days: suspendDays, until });
  }
  ui.busy.add('violation');
  render();
  const ok = await confirmDialog(t('eval.violation.confirmTitle', { name }), text, t('eval.violation.confirmOk'));
  if (!ok) {
    ui.busy.delete('violation');
    render();
    return;
  }
  command('note_expert_violation', { expert, points, suspend_days: suspendDays, reason }, 'eval.cmd.violation', (done, f) => {
    ui.busy.delete('violation');
    if (done) {
      $('violation-reason').value = '';
      setMsg('violation', 'eval.violation.done', { name }, 'ok');
    } else {
      setMsgText('violation', refusalText(f), 'error');
    }
    render();
  });
}

function renderAllSheets() {
  const show = isSupervisor() && st.sheets.length > 0;
  $('all-sheets').hidden = !show;
  if (!show) return;
  const checks = st.criteria?.checks || [];
  const items = st.criteria?.items || [];
  $('all-sheets-list').replaceChildren(...st.sheets.map((rec) => {
    const head = el('tr', {}, el('th', { class: 'name', text: t('eval.tally.bidder') }), ...checks.map((c) => el('th', { text: c.name })), ...items.map((i) => el('th', { text: paren(i.name, E.itemRange(i).join('–')) })));
    const body = (rec.sheets || []).map((s) => el('tr', { 'data-testid': 'member-sheet-row', 'data-bidder': s.bidder },
      el('td', { class: 'name', text: bidName(s.bidder) }),
      ...checks.map((c) => {
        const r = s.checks?.[c.id];
        return el('td', { class: r?.pass ? '' : 'bad', text: r?.pass ? t('eval.sheet.pass') : `${t('eval.sheet.fail')}：${r?.reason || ''}` });
      }),
      ...items.map((i) => el('td', { class: 'num', text: s.scores?.[i.id] ?? '' }))));
    const m = st.committee.find((x) => x.expert === rec.expert);
    return el('div', { class: 'eval-member-sheets', 'data-testid': 'member-sheets', 'data-expert': rec.expert, 'data-current': String(!!m?.signed) },
      el('h3', { text: `${m?.name || rec.expert}${m && !m.signed ? ` · ${t('eval.allSheets.returned')}` : ''}` }),
      el('p', { class: 'hint mono', text: t('eval.allSheets.digest', { digest: shortDigest(rec.digest), key: shortDigest(rec.key_id) }), title: rec.digest }),
      el('div', { class: 'table-wrap' }, el('table', { class: 'eval-table' }, el('thead', {}, head), el('tbody', {}, ...body))));
  }));
}

function renderDraw() {
  const d = st.draw;
  const show = !!d && (isSupervisor() || isAdmin());
  $('draw').hidden = !show;
  if (!show) return;
  const facts = [
    ['eval.draw.seed', d.seed],
    ['eval.draw.eligible', String(d.eligible ?? '—')],
    ['eval.draw.digest', d.eligible_digest],
    ['eval.draw.pool', d.pool_seq ? `#${d.pool_seq}` : '—'],
    ['eval.draw.excluded', Object.entries(d.excluded || {}).map(([k, n]) => `${t(`eval.exclusion.${k}`)} ${n}`).join('，') || '—'],
  ];
  $('draw-facts').replaceChildren(...facts.map(([k, v]) => el('div', {}, el('dt', { text: t(k) }), el('dd', { class: 'mono', text: v || '—', title: v || '' }))));
  $('draw-list').replaceChildren(...(d.drawn || []).map((s) => el('li', { 'data-testid': 'draw-row', 'data-expert': s.expert, 'data-reserve': String(!!s.reserve),
    text: `${s.name}（${s.specialty} · ${venueName(s.center)}）${s.reserve ? ` · ${t('eval.draw.reserve')}` : ''}` })));
}

// ---- the call, grouped by venue ----

function startCallPanel() {
  if (call || !viewer || isAdmin()) return;
  if (!(viewer.role === 'supervisor' || (viewer.role === 'expert' && st?.you))) return;
  call = startCall({
    room: ROOM,
    token: TOKEN,
    viewer,
    venues: () => [...E.venues(st)].map(([name, members]) => ({ name, label: venueLabel(name), members: members.map((m) => m.expert) })),
  });
}

// ---- wiring ----

function wire() {
  wireLangSwitch();
  onLangChange(() => {
    for (const x of document.querySelectorAll('.eval-key .file-pick-name')) x.dataset.empty = t('unlock.noFile');
    built = ''; // rebuild the forms' labels
    const drafts = st && $$('sheet-form').length ? readDrafts() : null;
    render();
    if (drafts && !$('sheets-form').hidden) fillDrafts(drafts);
  });
  for (const p of ['declare', 'sheets', 'report']) keyPicker(p);
  $('declare-form').addEventListener('submit', onDeclare);
  $('declare-form').addEventListener('change', () => renderDeclare());
  $('sheets-form').addEventListener('submit', onSignSheets);
  $('sheets-check').addEventListener('click', () => {
    const { problems } = checkForms();
    if (problems.length) setMsg('sheets', 'eval.sheets.fix', { n: problems.length }, 'error');
    else setMsg('sheets', 'eval.sheets.ok', {}, 'ok');
  });
  $('report-form').addEventListener('submit', onSignReport);
  $('platform-sign').addEventListener('click', onPlatformSign);
  $('report-print').addEventListener('click', openReport);
  $('open-scoring').addEventListener('click', () => command('open_scoring', undefined, 'eval.cmd.open'));
  $('start-evaluation').addEventListener('click', () => command('start_evaluation', undefined, 'eval.cmd.start'));
  $('return-form').addEventListener('submit', onReturn);
  $('return-open').addEventListener('click', () => openReturn());
  $('return-cancel').addEventListener('click', () => {
    ui.returnOpen = false;
    renderTally();
  });
  $('clar-form').addEventListener('submit', onAsk);
  $('violation-form').addEventListener('submit', onViolation);
  $('doc-close').addEventListener('click', closeDoc);
  window.addEventListener('hashchange', () => location.reload());
  setInterval(() => {
    if (needsConnRender(sock)) renderConnection(sock);
    if (st && !$('clarify').hidden && st.clarifications.some((c) => !c.answer)) renderClarify();
    if (st && !$('results').hidden && st.phase === 'publicity') renderResults();
  }, 1000);
  // For the browser tests and support staff: what the page holds.
  window.__bidroomEval = {
    get state() {
      return st;
    },
    get viewer() {
      return viewer;
    },
    get doc() {
      return ui.doc && { bidder: ui.doc.bidder, state: ui.doc.state, type: ui.doc.type, size: ui.doc.size, url: ui.doc.url, blob: ui.doc.blob };
    },
    socket: sock,
  };
}

wire();
sock.start();
