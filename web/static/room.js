// The opening room page: one websocket to /ws (socket.js: a snapshot then
// ordered events, commands with acks, resume after a drop), the events
// folded client-side (state.js). See docs/protocol.md for the frames.

import { t, wireLangSwitch, onLangChange, lang } from './i18n.js';
import { RoomSocket, renderConnection, needsConnRender } from './socket.js';
import { parseTime, fmtTime, fmtDate, fmtDuration, fmtAmount, fmtBytes, shortDigest } from './format.js';
import { KeyError, keyFileProblem, loadWasm, readText, wasmLoading } from './keys.js';
import { fromSnapshot, applyEvent, canSignIn, isStaff, myRecord, decryptStatus } from './state.js';
import { publish, view, mediaInfo, framesDecoded, grants, onServerClosed } from './media.js';
import { renderFlow, flowCountdown } from './flow.js';
import { startHostRatings, startResults } from './results.js';
import { $, el, confirmDialog, feedback } from './dom.js';

// ---- parameters (from the fragment, so the token never reaches server logs) ----

const params = new URLSearchParams(location.hash.slice(1));
const ROOM = params.get('room') || '';
const TOKEN = params.get('token') || '';

// ---- small helpers ----

/** fmtPrice writes a yuan amount with its unit. */
function fmtPrice(p) {
  return p ? `${fmtAmount(p)} ${t('room.yuan')}` : '—';
}

// ---- the connection (socket.js): snapshot, ordered events, commands ----

let viewer = null; // {sub, role, name} from welcome
let state = null; // see state.js

/**
 * tokenRole reads the role claim of an access token (a JWT) without
 * checking it — the server does — to say the right thing when it refuses.
 */
function tokenRole(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part)).role || '';
  } catch {
    return '';
  }
}

const sock = new RoomSocket({
  room: ROOM,
  token: TOKEN,
  // The server refuses an expert at an opening's every door (R21): say why.
  messages: tokenRole(TOKEN) === 'expert' ? { forbidden: 'err.expertAtOpening' } : {},
  hooks: {
    welcome(v) {
      viewer = v;
      startLive();
      render();
    },
    snapshot(f) {
      if (f.kind === 'evaluation' || f.kind === 'auction') {
        // An evaluation room (eval.html) and an auction (auction.html) have their own pages, same fragment.
        sock.stop();
        location.replace(`${f.kind === 'auction' ? 'auction' : 'eval'}.html${location.hash}`);
        return;
      }
      if (viewer?.role === 'expert') {
        // Experts are not at the opening (R21): the evaluation's link is
        // the way in. Nothing of the opening is shown.
        sock.refuse('err.expertAtOpening');
        return;
      }
      state = fromSnapshot(f.state);
      render();
    },
    event(e) {
      applyEvent(state, e, viewer);
      render();
    },
    ack(p, f) {
      let key = 'cmd.ok';
      if (f.duplicate) key = 'cmd.duplicate';
      else if (!f.events) key = 'cmd.noop';
      feedback(t(key, { what: t(p.what) }), 'ok');
      if (p.command === 'announce') {
        const input = $('announce-input');
        if (input.value.trim() === p.data.text.trim()) input.value = '';
      }
      render();
    },
    refused(p, f) {
      if (p.command === 'sign_in' && f.code === 'forbidden' && viewer?.role === 'bidder') {
        // Registered with a key (a server whose projection does not say so
        // yet): the key sign-in is the way in.
        keySignIn.needed = true;
        openKeySignIn();
        return true;
      }
      feedback(t('cmd.failed', { what: t(p.what), message: f.message || f.code }), 'error');
      render();
      return true;
    },
    serverError(f) {
      feedback(t('server.error', { message: f.message || f.code }), 'error');
    },
    feedback(key, p, kind) {
      feedback(t(key, p), kind);
    },
    change() {
      renderConnection(sock);
    },
  },
});

const serverNow = () => sock.serverNow();

// done(ok), if given, is called once the server answers: ack or refusal.
function command(cmd, data, what, done) {
  return sock.command(cmd, data, what, done);
}

// ---- rendering ----

function roleName(role) {
  return t(`role.${role}`);
}

let results = null; // the bidder's evaluation panel (results.js), once the opening is recorded

function render() {
  renderConnection(sock);
  renderLive();
  if (!state) {
    if (viewer) renderYou();
    return;
  }
  if (!results && viewer?.role === 'bidder' && (state.phase === 'record' || state.phase === 'closed')) {
    // Clarifications, the publicity and the notices reach bidders here:
    // they never enter the evaluation room (R21).
    results = startResults({ room: ROOM, token: TOKEN, mount: $('eval-results'), now: serverNow, fmtTime });
  }
  if (!results && viewer?.role === 'host' && (state.phase === 'record' || state.phase === 'closed')) {
    // The host rates the committee's conduct once its report is complete (R25).
    results = startHostRatings({ room: ROOM, token: TOKEN, mount: $('eval-results'), fmtTime });
  }
  const s = state.session || {};
  document.title = `${s.title || ROOM} · Bidroom`;
  $('session-title').textContent = s.title || ROOM;
  $('session-section').textContent = s.section || '—';
  $('session-category').textContent = s.category ? t(`category.${s.category}`) : '';
  $('session-category').hidden = !s.category;
  $('control-price').textContent = fmtPrice(s.control_price);
  $('deadline').textContent = s.deadline ? t('room.atTz', { time: fmtTime(s.deadline) }) : '—';
  const ph = $('phase');
  ph.dataset.phase = state.phase;
  ph.textContent = t(`phase.${state.phase}`);
  renderCountdown();
  renderYou();
  renderBidders();
  renderMyBid();
  renderAnnouncements();
  renderFlow({
    state, viewer, command, room: ROOM, token: TOKEN, feedback, serverNow,
    busy: (type) => sock.busy(type),
    fmt: { time: fmtTime, price: fmtPrice, duration: fmtDuration },
  });
}

function renderCountdown() {
  const box = $('countdown');
  if (!state) return;
  const s = state.session || {};
  const now = serverNow();
  const deadline = parseTime(s.deadline);
  const checkIn = parseTime(s.check_in_at);
  let label = '';
  let value = '';
  let note = '';
  let mode = '';
  const endsAt = parseTime(state.decryptEndsAt);
  const later = flowCountdown(state, now, { time: fmtTime, price: fmtPrice, duration: fmtDuration });
  if (later) {
    ({ mode, label, value, note } = later);
  } else if (state.phase === 'decrypting') {
    label = t('room.countdown.toDecryptEnd');
    if (Number.isNaN(endsAt)) {
      mode = 'decrypting';
      value = '--:--:--';
      note = t('room.countdown.decryptEndUnknown');
    } else if (endsAt > now) {
      mode = endsAt - now <= 60000 ? 'soon' : 'decrypting';
      value = fmtDuration(endsAt - now);
      note = `${t('room.decryptEndsAt')} ${fmtTime(endsAt, false)}`;
    } else {
      mode = 'due';
      value = fmtDuration(0);
      note = t('room.countdown.decryptDue');
    }
  } else if (state.phase === 'decryption_closed') {
    mode = 'closed';
    label = t('room.countdown.decryptClosed');
    value = Number.isNaN(endsAt) ? '—' : fmtTime(endsAt, false);
    note = Number.isNaN(endsAt) ? '' : t('room.atTz', { time: fmtDate(state.decryptEndsAt) });
  } else if (state.phase === 'opened') {
    mode = 'opened';
    const at = state.openedAt || s.deadline;
    label = t('room.countdown.openedAt');
    value = fmtTime(at, false);
    note = t('room.atTz', { time: fmtDate(at) });
  } else if (state.phase === 'scheduled' && checkIn > now) {
    mode = 'check_in';
    label = t('room.countdown.toCheckIn');
    value = fmtDuration(checkIn - now);
    note = `${t('room.checkInAt')} ${fmtTime(checkIn)}`;
  } else if (deadline > now) {
    mode = deadline - now <= 60000 ? 'soon' : 'running';
    label = t('room.countdown.toOpening');
    value = fmtDuration(deadline - now);
    note = `${t('room.tz')} ${fmtTime(now, false)}`;
  } else {
    mode = 'due';
    label = t('room.countdown.toOpening');
    value = fmtDuration(0);
    note = t('room.countdown.due');
  }
  box.dataset.state = mode;
  $('countdown-label').textContent = label;
  $('countdown-value').textContent = value;
  $('countdown-note').textContent = note;
  $('countdown-note').title = sock.clock.rtt !== Infinity ? t('room.clock', { ms: Math.round(sock.clock.rtt / 2) }) : '';
}

function renderYou() {
  if (!viewer) return;
  const you = state?.you || null;
  const name = viewer.name || you?.name || viewer.sub;
  $('you-name').textContent = name;
  $('you-role').textContent = roleName(viewer.role);
  $('you-role').dataset.role = viewer.role;
  const signed = !!you?.signed_in;
  const st = $('you-status');
  st.textContent = signed
    ? you.signed_at
      ? t('you.signedInAt', { time: fmtTime(you.signed_at, false) })
      : t('you.signedIn')
    : t('you.notSignedIn');
  st.dataset.signedIn = String(signed);
  st.hidden = !['bidder', 'host', 'supervisor'].includes(viewer.role);

  const btn = $('sign-in');
  const may = canSignIn(state, viewer);
  const busy = sock.busy('sign_in');
  if (!may) keySignIn.open = false;
  btn.hidden = !may || keySignIn.open;
  btn.disabled = busy;
  renderKeySignIn();
  const hint = $('sign-in-hint');
  hint.hidden = !(state && state.phase === 'scheduled' && ['bidder', 'host', 'supervisor'].includes(viewer.role));
  hint.textContent = t('you.signInClosed');

  $('announce-form').hidden = viewer.role !== 'host';

  const startBtn = $('start-decryption');
  startBtn.hidden = !(viewer.role === 'host' && state && state.phase === 'opened');
  startBtn.disabled = sock.busy('start_decryption');

  // Staff: how many of the bids are opened so far.
  const prog = $('decrypt-progress');
  const decrypting = state && (state.phase === 'decrypting' || state.phase === 'decryption_closed');
  prog.hidden = !(decrypting && isStaff(viewer.role));
  if (!prog.hidden) {
    const opened = state.bidders.filter((b) => b.opened).length;
    const of = typeof state.submitted === 'number' ? state.submitted : state.bidders.length;
    prog.textContent = t('decrypt.progress', { n: opened, of });
  }
}

function personRow(p, opts) {
  const li = el('li', {
    class: 'person',
    'data-testid': opts.testid,
    'data-sub': p.sub,
    'data-signed-in': opts.showStatus ? String(!!p.signed_in) : undefined,
    'data-online': opts.showStatus ? String(!!p.online) : undefined,
  });
  const nameBox = el('span', { class: 'person-name' });
  nameBox.append(el('span', { text: p.name || p.sub }));
  if (opts.me) nameBox.append(el('span', { class: 'me', text: t(opts.role ? 'staff.me' : 'bidders.me') }));
  if (opts.role) nameBox.prepend(el('span', { class: 'role-tag small', 'data-role': opts.role, text: roleName(opts.role) }));
  li.append(el('span', { class: 'person-index', text: String(opts.index) }), nameBox);
  if (opts.showStatus) {
    const tags = el('span', { class: 'tags' });
    tags.append(
      el('span', {
        class: `tag ${p.signed_in ? 'tag-ok' : 'tag-muted'}`,
        'data-testid': 'signed-tag',
        text: p.signed_in ? t('bidders.signedIn') : t('bidders.notSignedIn'),
      }),
    );
    if (opts.showOnline && p.signed_in) {
      tags.append(
        el('span', {
          class: `tag ${p.online ? 'tag-live' : 'tag-muted'}`,
          text: p.online ? t('bidders.online') : t('bidders.offline'),
        }),
      );
    }
    li.append(tags);
  }
  if (opts.decrypt) {
    const st = decryptStatus(p, opts.knowsBids);
    const tag = el('span', { class: `tag decrypt-tag decrypt-${st}`, 'data-testid': 'decrypt-tag', 'data-decrypt': st });
    if (st === 'opened') {
      tag.textContent = t('decrypt.opened', { price: fmtSheetPrice(p.opened.sheet?.price) });
    } else if (st === 'failed') {
      const lf = p.last_failure;
      tag.textContent = lf?.code ? t('decrypt.failedCode', { code: lf.code, n: p.attempts }) : t('decrypt.failed', { n: p.attempts });
      if (lf?.message) tag.title = lf.message;
    } else {
      tag.textContent = t(`decrypt.${st}`);
    }
    let tags = li.querySelector('.tags');
    if (!tags) {
      tags = el('span', { class: 'tags' });
      li.append(tags);
    }
    tags.prepend(tag);
  }
  return li;
}

/** fmtSheetPrice shows a sealed price exactly as sealed, with its unit. */
function fmtSheetPrice(p) {
  return p ? `${p} ${t('room.yuan')}` : '—';
}

function renderBidders() {
  const staff = isStaff(viewer?.role);
  const list = $('bidder-list');
  list.replaceChildren();
  state.bidders.forEach((b, i) => {
    const me = viewer?.role === 'bidder' && b.sub === viewer.sub;
    // Staff see sign-in and presence of everyone; a bidder only their own.
    const showStatus = staff || me;
    // Staff follow each bid's decryption; supervisors and admins see every
    // bid event, so for them a bidder without a bid has none.
    const decrypt = staff && (state.phase === 'decrypting' || state.phase === 'decryption_closed');
    const knowsBids = ['supervisor', 'admin'].includes(viewer?.role);
    list.append(personRow(b, { testid: 'bidder-row', index: i + 1, me, showStatus, showOnline: staff, decrypt, knowsBids }));
  });
  if (state.bidders.length === 0) list.append(el('li', { class: 'empty', text: t('bidders.empty') }));

  const count = $('registered-count');
  if (state.registered !== null) {
    let text = t('bidders.registered', { n: state.registered });
    if (staff) {
      const signed = state.bidders.filter((b) => b.signed_in).length;
      text += ` · ${t('bidders.signedCount', { n: signed })}`;
    }
    count.textContent = text;
    count.dataset.registered = String(state.registered);
  } else {
    count.textContent = t('bidders.registeredHidden');
    delete count.dataset.registered;
  }

  const secret = $('bidders-secret');
  secret.hidden = staff || state.revealed;
  secret.textContent = t('bidders.secret');

  const staffBox = $('staff');
  staffBox.hidden = !staff;
  if (staff) {
    const sl = $('staff-list');
    sl.replaceChildren();
    state.staff.forEach((p, i) => {
      const me = p.sub === viewer.sub && p.role === viewer.role;
      const shown = { ...p, name: (me && viewer.name) || p.name || p.sub };
      sl.append(personRow(shown, { testid: 'staff-row', index: i + 1, me, showStatus: true, showOnline: true, role: p.role }));
    });
    if (state.staff.length === 0) sl.append(el('li', { class: 'empty', text: t('staff.empty') }));
  }
}

function renderAnnouncements() {
  const list = $('announcements');
  list.replaceChildren();
  const items = [...state.announcements].reverse(); // newest first
  for (const a of items) {
    const li = el('li', { class: 'ann', 'data-testid': 'announcement' });
    // No time shown: snapshots carry announcements without one, and a
    // reloaded page must look the same as one that followed the events.
    li.append(el('p', { class: 'ann-text', text: a.text }));
    list.append(li);
  }
  if (items.length === 0) list.append(el('li', { class: 'empty', text: t('ann.empty') }));
}

// ---- my bid and the in-browser unlock ----

const SHEET_ORDER = ['price', 'duration', 'quality', 'project_manager'];

let unlockBusy = false;
let unlockMsg = null; // {key, params, kind}: the last progress or error of an unlock
let unlockResult = null; // the POST answer of a successful unlock, until the event arrives

// The backup channel (R10): after a failed unlock, where the session allows
// it and a backup digest was committed with the bid, the bidder uploads the
// backup copy here and unlocks it with the same key form.
const backup = {
  busy: false,
  accepted: false, // the server took the file: the key form now unlocks the backup
  probed: false, // asked the server once whether a backup is already there (after a reload)
  sent: 0,
  size: 0,
  msg: null, // {key, params, kind}
};

function renderMyBid() {
  const card = $('my-bid');
  const me = myRecord(state, viewer);
  card.hidden = !me;
  if (!me) return;
  const phase = state.phase;
  const before = phase === 'scheduled' || phase === 'check_in';
  const opened = me.opened || (unlockResult && { ...unlockResult, ok: true });
  const bid = me.bid;

  let status;
  let kind = '';
  if (opened) {
    status = t('mybid.opened');
    kind = 'ok';
  } else if (!bid) {
    status = before ? t('mybid.noneYet') : t('mybid.none');
    kind = before ? '' : 'muted';
  } else if (before) {
    status = t('mybid.held', { version: bid.version || 1 });
    kind = 'ok';
  } else if (phase === 'opened') {
    status = t('mybid.waiting');
  } else if (phase === 'decrypting') {
    status = me.attempts > 0 ? t('mybid.retry', { n: me.attempts }) : t('mybid.decryptNow');
    kind = 'act';
  } else {
    status = t('mybid.closedUnopened');
    kind = 'bad';
  }
  const st = $('my-bid-status');
  st.textContent = status;
  st.dataset.kind = kind;

  const file = $('my-bid-file');
  file.hidden = !bid;
  if (bid) {
    file.replaceChildren(
      el('span', { text: t('mybid.version', { version: bid.version || 1 }) }),
      el('span', { class: 'mono', 'data-testid': 'my-bid-digest', title: bid.digest, text: `${t('mybid.digest')} ${shortDigest(bid.digest)}` }),
      bid.size ? el('span', { text: fmtBytes(bid.size) }) : null,
      bid.received_at ? el('span', { text: t('mybid.receivedAt', { time: fmtTime(bid.received_at) }) }) : null,
    );
  }

  const form = $('unlock-form');
  form.hidden = !(phase === 'decrypting' && bid && !opened);
  const offer = !form.hidden && backupOffered(me);
  if (offer && !backup.probed && !backup.accepted && !unlockBusy && !backup.busy) probeBackup();
  renderBackup(offer);
  $('unlock-button').textContent = t(offer && backup.accepted ? 'backup.unlock' : 'unlock.button');
  $('unlock-button').disabled = unlockBusy || backup.busy;
  $('unlock-key-name').dataset.empty = t('unlock.noFile');
  $('unlock-key').disabled = unlockBusy;
  $('unlock-password').disabled = unlockBusy;
  const msg = $('unlock-msg');
  msg.hidden = !unlockMsg || form.hidden;
  if (unlockMsg) {
    msg.textContent = t(unlockMsg.key, unlockMsg.params);
    msg.dataset.kind = unlockMsg.kind;
  }

  const box = $('sheet-box');
  box.hidden = !opened;
  if (opened) {
    const sheet = opened.sheet || {};
    const keys = [...SHEET_ORDER.filter((k) => k in sheet), ...Object.keys(sheet).filter((k) => !SHEET_ORDER.includes(k)).sort()];
    const dl = $('sheet');
    dl.replaceChildren();
    for (const k of keys) {
      const label = SHEET_ORDER.includes(k) ? t(`sheet.${k}`) : k;
      const value = k === 'price' ? fmtSheetPrice(sheet[k]) : sheet[k];
      dl.append(el('div', { 'data-field': k }, el('dt', { text: label }), el('dd', { 'data-testid': `sheet-${k}`, text: value })));
    }
    $('sheet-digest').textContent = opened.plaintext_digest
      ? t('sheet.digest', { digest: shortDigest(opened.plaintext_digest), size: fmtBytes(opened.plaintext_size) })
      : '';
    $('sheet-digest').title = opened.plaintext_digest || '';
    const src = $('sheet-source');
    src.dataset.source = opened.backup ? 'backup' : 'bid';
    src.textContent = t(opened.backup ? 'sheet.fromBackup' : 'sheet.fromBid');
  }
  card.classList.toggle('is-plain', form.hidden && box.hidden);
}

function setUnlockMsg(key, params = {}, kind = 'info') {
  unlockMsg = { key, params, kind };
  renderMyBid();
}

// How long the page waits for the server's part of an unlock before it
// tells the bidder and records a timeout (the server opens large bids in a
// few seconds; a busy window may queue them). Tests shorten it.
const UNLOCK_TIMEOUT_MS = Number(globalThis.bidroomUnlockTimeoutMs) || 120_000;

async function unlockApi(method, body, query = '') {
  let r;
  let json;
  try {
    r = await fetch(`/api/v1/sessions/${encodeURIComponent(ROOM)}/bids/mine/unlock${query}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
      signal: AbortSignal.timeout(UNLOCK_TIMEOUT_MS),
    });
    json = await r.json().catch((err) => {
      if (err?.name === 'TimeoutError') throw err;
      return {};
    });
  } catch (err) {
    throw new KeyError(err?.name === 'TimeoutError' ? 'timeout' : 'network');
  }
  if (!r.ok) throw new KeyError(json?.error?.code || `http_${r.status}`, json?.error?.message || `HTTP ${r.status}`);
  return json;
}

// Failures that happen in this page before anything reaches the server;
// reported so the log holds them as evidence of the attempt (R9).
const CLIENT_UNLOCK_FAILURES = new Set(['wrong_key', 'bad_key', 'wrong_password', 'timeout']);

function reportUnlockFailure(code, message) {
  fetch(`/api/v1/sessions/${encodeURIComponent(ROOM)}/bids/mine/unlock/failure`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ code, message: String(message || '').slice(0, 300) }),
  }).catch(() => {}); // best effort: the bidder's message on the page does not depend on it
}

const UNLOCK_ERRORS = new Set(['no_file', 'too_big', 'bad_key', 'wrong_key', 'bad_challenge', 'bad_exchange', 'corrupted',
  'wrong_state', 'not_found', 'server_error', 'network', 'load_failed', 'unauthorized', 'no_backup', 'forbidden', 'timeout']);

async function onUnlock(e) {
  e.preventDefault();
  if (unlockBusy) return;
  const file = $('unlock-key').files?.[0];
  const problem = keyFileProblem(file);
  if (problem) {
    setUnlockMsg(`unlock.err.${problem}`, {}, 'error');
    return;
  }
  unlockBusy = true;
  // The backup copy once it is uploaded (R10), the bid otherwise.
  const useBackup = backup.accepted && backupOffered(myRecord(state, viewer));
  let keyPEM = '';
  try {
    keyPEM = await readText(file);
    let wasm;
    if (!wasmLoading()) setUnlockMsg('unlock.loading');
    try {
      wasm = await loadWasm();
    } catch {
      throw new KeyError('load_failed');
    }
    setUnlockMsg('unlock.working');
    const ch = await unlockApi('GET', undefined, useBackup ? '?backup=1' : '');
    const out = wasm.unlock(keyPEM, $('unlock-password').value, ch.wrapped_key, ch.platform_key);
    keyPEM = '';
    if (!out || out.error) {
      if (CLIENT_UNLOCK_FAILURES.has(out?.code)) reportUnlockFailure(out.code, out.error);
      throw new KeyError(out?.code || 'internal', out?.error);
    }
    const res = await unlockApi('POST', useBackup ? { encrypted_key: out.encrypted_key, backup: true } : { encrypted_key: out.encrypted_key });
    unlockResult = {
      bidder: viewer.sub, sheet: res.sheet, plaintext_digest: res.plaintext_digest, plaintext_size: res.plaintext_size, backup: useBackup,
    };
    unlockMsg = null;
    $('unlock-password').value = '';
    $('unlock-key').value = '';
    $('unlock-key-name').textContent = '';
  } catch (err) {
    const code = err instanceof KeyError ? err.code : 'internal';
    if (code === 'timeout') reportUnlockFailure('timeout', `no answer from the server within ${UNLOCK_TIMEOUT_MS / 1000} s`);
    const key = UNLOCK_ERRORS.has(code) ? `unlock.err.${code}` : 'unlock.err.other';
    unlockMsg = { key, params: { code, message: err?.detail || '' }, kind: 'error' };
  } finally {
    keyPEM = '';
    unlockBusy = false;
    render();
  }
}

// ---- the backup channel (R10) ----

const BACKUP_PART = 1 << 20; // bytes per PATCH
const BACKUP_RETRIES = 5; // failed parts in a row before giving up
const BACKUP_ERRORS = new Set(['no_file', 'backup_mismatch', 'wrong_state', 'forbidden', 'too_large', 'invalid', 'not_found',
  'network', 'unauthorized', 'gave_up']);

/** backupOffered reports whether the bidder may use the backup channel now: allowed, committed, and an unlock failed. */
function backupOffered(me) {
  if (!me || !state?.session?.backup_allowed || !me.bid?.backup_digest || me.opened) return false;
  return (me.attempts || 0) > 0; // every unlock attempt counts, in events and snapshots alike
}

function renderBackup(offer) {
  const box = $('backup-box');
  box.hidden = !offer;
  if (!offer) return;
  const me = myRecord(state, viewer);
  $('backup-note').textContent = t(backup.accepted ? 'backup.noteReady' : 'backup.note', { digest: shortDigest(me.bid.backup_digest) });
  $('backup-note').title = me.bid.backup_digest;
  $('backup-file-name').dataset.empty = t('unlock.noFile');
  $('backup-upload').disabled = backup.busy || unlockBusy;
  $('backup-file').disabled = backup.busy || unlockBusy;
  const bar = $('backup-progress');
  bar.hidden = !(backup.busy || (backup.size && backup.sent > 0));
  bar.value = backup.size ? backup.sent / backup.size : 0;
  const msg = $('backup-msg');
  msg.hidden = !backup.msg;
  if (backup.msg) {
    msg.textContent = t(backup.msg.key, backup.msg.params);
    msg.dataset.kind = backup.msg.kind;
  }
}

function setBackupMsg(key, params = {}, kind = 'info') {
  backup.msg = { key, params, kind };
  renderMyBid();
}

class BackupError extends Error {
  constructor(code, detail, status = 0) {
    super(code);
    this.code = code;
    this.detail = detail || '';
    this.status = status;
  }
}

async function backupApi(method, path, body, headers = {}) {
  let r;
  try {
    r = await fetch(`/api/v1/sessions/${encodeURIComponent(ROOM)}/bids/mine/backup/uploads${path}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, ...headers },
      body,
      cache: 'no-store',
    });
  } catch {
    throw new BackupError('network');
  }
  const json = await r.json().catch(() => ({}));
  if (!r.ok) throw new BackupError(json?.error?.code || `http_${r.status}`, json?.error?.message || `HTTP ${r.status}`, r.status);
  return json;
}

// backupOffset asks where an interrupted upload stands: the channel has no
// GET for it, so an empty part at the offset this page holds answers (the
// same offset, or offset_mismatch naming the server's).
async function backupOffset(id, off) {
  try {
    const res = await backupApi('PATCH', `/${id}`, new Blob([]), { 'Upload-Offset': String(off) });
    return res.offset;
  } catch (err) {
    const m = err.code === 'offset_mismatch' && /has (\d+) bytes/.exec(err.detail);
    if (m) return Number(m[1]);
    throw err;
  }
}

const retryable = (err) => ['network', 'interrupted', 'offset_mismatch'].includes(err.code) || err.status >= 500;

async function onBackupUpload() {
  if (backup.busy || unlockBusy) return;
  const file = $('backup-file').files?.[0];
  if (!file) {
    setBackupMsg('backup.err.no_file', {}, 'error');
    return;
  }
  backup.busy = true;
  backup.accepted = false;
  backup.size = file.size;
  backup.sent = 0;
  setBackupMsg('backup.uploading', { done: fmtBytes(0), total: fmtBytes(file.size) });
  try {
    const up = await backupApi('POST', '', JSON.stringify({ size: file.size }), { 'Content-Type': 'application/json' });
    let off = up.offset || 0;
    let failures = 0;
    while (off < file.size) {
      try {
        const res = await backupApi('PATCH', `/${up.upload_id}`, file.slice(off, off + BACKUP_PART), { 'Upload-Offset': String(off) });
        off = res.offset;
        failures = 0;
        backup.sent = off;
        setBackupMsg('backup.uploading', { done: fmtBytes(off), total: fmtBytes(file.size) });
      } catch (err) {
        if (!retryable(err)) throw err;
        if (++failures > BACKUP_RETRIES) throw new BackupError('gave_up', err.detail || err.code);
        setBackupMsg('backup.retrying', { n: failures, max: BACKUP_RETRIES }, 'error');
        await new Promise((r) => setTimeout(r, failures * 1000));
        try {
          off = await backupOffset(up.upload_id, off);
          backup.sent = off;
        } catch (e) {
          if (!retryable(e)) throw e; // the next part tries again from the same offset
        }
      }
    }
    const res = await backupApi('POST', `/${up.upload_id}/complete`);
    backup.accepted = !!res.accepted;
    backup.sent = backup.size;
    backup.msg = { key: 'backup.accepted', params: { digest: shortDigest(res.digest) }, kind: 'ok' };
    unlockMsg = null;
    $('backup-file').value = '';
    $('backup-file-name').textContent = '';
  } catch (err) {
    const code = err instanceof BackupError ? err.code : 'internal';
    const key = BACKUP_ERRORS.has(code) ? `backup.err.${code}` : 'backup.err.other';
    backup.msg = { key, params: { code, message: err?.detail || '' }, kind: 'error' };
  } finally {
    backup.busy = false;
    render();
  }
}

// probeBackup asks once whether the backup was uploaded already (a reload
// after the upload): its unlock challenge answers only then.
async function probeBackup() {
  backup.probed = true;
  try {
    await unlockApi('GET', undefined, '?backup=1');
    backup.accepted = true;
    backup.msg = { key: 'backup.already', params: {}, kind: 'ok' };
    renderMyBid();
  } catch {
    // no_backup (not uploaded yet) or not offered: nothing to show
  }
}

// ---- the key sign-in (a bidder registered with a key signs a challenge) ----

const keySignIn = {
  open: false, // the form is shown
  busy: false,
  needed: false, // a plain sign_in was refused: this bidder has a key
  msg: null, // {key, params, kind}
};

/** needsKey reports whether the viewer signs in with their key rather than their token alone. */
function needsKey() {
  if (viewer?.role !== 'bidder') return false;
  return keySignIn.needed || !!state?.you?.has_key || !!myRecord(state, viewer)?.has_key;
}

function openKeySignIn() {
  keySignIn.open = true;
  renderYou();
  $('key-sign-in-key').focus();
}

function setKeySignInMsg(key, params = {}, kind = 'info') {
  keySignIn.msg = key ? { key, params, kind } : null;
  renderKeySignIn();
}

function renderKeySignIn() {
  const form = $('key-sign-in-form');
  form.hidden = !keySignIn.open;
  $('key-sign-in-key-name').dataset.empty = t('unlock.noFile');
  for (const id of ['key-sign-in-key', 'key-sign-in-password', 'key-sign-in-button', 'key-sign-in-cancel']) {
    $(id).disabled = keySignIn.busy;
  }
  const msg = $('key-sign-in-msg');
  msg.hidden = !keySignIn.msg;
  if (keySignIn.msg) {
    msg.textContent = t(keySignIn.msg.key, keySignIn.msg.params);
    msg.dataset.kind = keySignIn.msg.kind;
  }
}

async function signInApi(method, path, body) {
  let r;
  try {
    r = await fetch(`/api/v1/sessions/${encodeURIComponent(ROOM)}/${path}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
    });
  } catch {
    throw new KeyError('network');
  }
  const json = await r.json().catch(() => ({}));
  if (!r.ok) throw new KeyError(json?.error?.code || `http_${r.status}`, json?.error?.message || `HTTP ${r.status}`);
  return json;
}

const KEY_SIGN_IN_ERRORS = new Set(['no_file', 'too_big', 'bad_key', 'wrong_password', 'bad_signature', 'expired_challenge',
  'bad_challenge', 'no_key', 'wrong_state', 'network', 'load_failed', 'unauthorized', 'server_error']);

// onKeySignIn signs the server's challenge with the chosen key in
// WebAssembly (the key file is read here and never sent) and posts the
// signature; the signed_in event then arrives over the websocket.
async function onKeySignIn(e) {
  e.preventDefault();
  if (keySignIn.busy) return;
  const file = $('key-sign-in-key').files?.[0];
  const problem = keyFileProblem(file);
  if (problem) {
    setKeySignInMsg(`keysignin.err.${problem}`, {}, 'error');
    return;
  }
  keySignIn.busy = true;
  let keyPEM = '';
  try {
    keyPEM = await readText(file);
    let wasm;
    if (!wasmLoading()) setKeySignInMsg('keysignin.loading');
    try {
      wasm = await loadWasm();
    } catch {
      throw new KeyError('load_failed');
    }
    setKeySignInMsg('keysignin.working');
    let res;
    for (let attempt = 0; ; attempt++) {
      const ch = await signInApi('GET', 'signin/challenge');
      const out = wasm.signIn(keyPEM, $('key-sign-in-password').value, ch.challenge, ROOM);
      if (!out || out.error) throw new KeyError(out?.code || 'internal', out?.error);
      // Not the registered key: say so now rather than send a signature the server refuses.
      if (ch.key_id && out.key_id !== ch.key_id) throw new KeyError('bad_signature');
      try {
        res = await signInApi('POST', 'signin', { challenge: ch.challenge, signature: out.signature });
        break;
      } catch (err) {
        // A challenge that expired on a slow link: one more, at once.
        if (err.code !== 'expired_challenge' || attempt > 0) throw err;
      }
    }
    keyPEM = '';
    keySignIn.open = false;
    keySignIn.msg = null;
    $('key-sign-in-password').value = '';
    $('key-sign-in-key').value = '';
    $('key-sign-in-key-name').textContent = '';
    feedback(t(res.duplicate ? 'cmd.noop' : 'keysignin.done', { what: t('cmd.sign_in') }), 'ok');
  } catch (err) {
    const code = err instanceof KeyError ? err.code : 'internal';
    const key = KEY_SIGN_IN_ERRORS.has(code) ? `keysignin.err.${code}` : 'keysignin.err.other';
    keySignIn.msg = { key, params: { code, message: err?.detail || '' }, kind: 'error' };
  } finally {
    keyPEM = '';
    keySignIn.busy = false;
    render();
  }
}

// ---- live video (WHIP/WHEP, see media.js) ----

const LIVE_STATS_EVERY_MS = 2000;
const REPUBLISH_MS = 3000; // host: wait before publishing again after the connection broke

// mode: '' until the role is known, then 'host' (publishes) or 'viewer'.
// state: host 'off' | 'starting' | 'onAir' | 'reconnecting' | 'external'; viewer 'waiting' | 'live' | 'reconnecting'.
const liveUI = { mode: '', state: '', stats: null, note: null, source: '', external: null };
let liveSession = null; // host: {pc, stop()} while publishing
let liveStream = null; // host: the local camera or screen stream
let liveViewer = null; // viewer: the handle from view()
let hostPreview = null; // host: a WHEP view of a feed published from elsewhere (OBS), while there is one
let stoppedAt = 0; // host: when this page last stopped publishing
let ownSince = ''; // host: the roster's `since` of this page's feed, to tell it from one that replaced it
let republishTimer = null;
let liveTimer = null;

function setLive(state, note = liveUI.note) {
  liveUI.state = state;
  liveUI.note = note;
  renderLive();
}

function renderLive() {
  const card = $('live');
  if (!liveUI.mode) {
    card.hidden = true;
    return;
  }
  card.hidden = false;
  card.dataset.mode = liveUI.mode;
  const host = liveUI.mode === 'host';
  const st = $('live-status');
  st.dataset.state = liveUI.state;
  st.textContent = liveUI.state ? t(`live.status.${liveUI.state}`, { name: liveUI.external?.name || '' }) : '';
  const badge = $('live-badge');
  badge.hidden = !['live', 'onAir', 'external'].includes(liveUI.state);
  $('live-obs').hidden = !host;
  badge.textContent = t('live.status.live');
  $('live-controls').hidden = !host;
  const busy = liveUI.state === 'starting';
  $('live-camera').disabled = busy || (liveUI.state === 'onAir' && liveUI.source === 'camera');
  $('live-screen').disabled = busy || (liveUI.state === 'onAir' && liveUI.source === 'screen');
  $('live-stop').disabled = liveUI.state !== 'onAir' && !(host && liveUI.state === 'reconnecting');
  const stats = $('live-stats');
  const x = liveUI.stats;
  stats.hidden = !host || !x;
  if (x) {
    stats.textContent = t('live.stats', {
      viewers: x.viewers ?? 0,
      kbps: Math.round(x.egress_kbps || 0),
      loss: (x.viewer_loss_pct || 0).toFixed(1),
      nacks: x.nacks ?? 0,
      plis: x.plis ?? 0,
    });
  }
  const note = $('live-note');
  const n = liveUI.note || { key: host ? (liveUI.state === 'external' ? 'live.note.external' : 'live.note.host') : 'live.note.viewer' };
  note.textContent = t(n.key, n.params || {});
  note.dataset.kind = n.kind || 'info';
}

function startLive() {
  if (liveUI.mode || !viewer) return;
  // Experts are not at the opening (R21): no live for them (see the snapshot hook).
  if (viewer.role === 'expert') return;
  // A token without the grant would only be refused: no panel then.
  const g = grants(TOKEN);
  const canPublish = viewer.role === 'host' && (!g || g.includes('publish'));
  if (!canPublish && g && !g.includes('view')) return;
  if (typeof RTCPeerConnection === 'undefined') {
    liveUI.mode = canPublish ? 'host' : 'viewer';
    setLive('', { key: 'live.err.unsupported', kind: 'error' });
    $('live-controls').hidden = true;
    return;
  }
  if (canPublish) {
    liveUI.mode = 'host';
    $('live-camera').addEventListener('click', () => goOnAir('camera'));
    $('live-screen').addEventListener('click', () => goOnAir('screen'));
    $('live-stop').addEventListener('click', () => stopOnAir());
    wireOBSHelp();
    setLive('off');
    pollLiveStats();
    liveTimer = setInterval(pollLiveStats, LIVE_STATS_EVERY_MS);
    window.addEventListener('pagehide', () => stopOnAir(true));
    return;
  }
  liveUI.mode = 'viewer';
  setLive('waiting');
  const video = $('live-video');
  let last = 0;
  let lastAt = 0;
  liveViewer = view(ROOM, TOKEN, video, (s, err) => {
    if (s === 'denied') setLive('', { key: 'live.err.denied', params: { message: err?.message || '' }, kind: 'error' });
    else if (s === 'reconnecting') setLive('reconnecting');
    else if (s === 'connecting' || s === 'connected') setLive('waiting');
  });
  window.__bidroomViewer = liveViewer; // for the browser tests and support staff
  // Frames advancing = live; connected but still = waiting for the host.
  liveTimer = setInterval(async () => {
    const pc = liveViewer.pc;
    if (!pc || pc.connectionState !== 'connected') return;
    const n = await framesDecoded(pc);
    if (n > last) {
      last = n;
      lastAt = Date.now();
      if (liveUI.state !== 'live') setLive('live');
    } else if (n < last) {
      last = n; // a new connection
    } else if (liveUI.state === 'live' && Date.now() - lastAt > 3000) {
      setLive('waiting');
    }
  }, 1000);
  window.addEventListener('pagehide', () => liveViewer.stop());
}

async function pollLiveStats() {
  let feeds = null;
  const session = liveSession; // a roster asked for after the publish lists this page's feed
  try {
    const info = await mediaInfo(ROOM, TOKEN);
    liveUI.stats = info.stats || null;
    feeds = info.feeds || [];
  } catch {
    liveUI.stats = null;
  }
  if (session && session === liveSession && feeds?.[0]?.publisher === viewer?.sub) ownSince = feeds[0].since || '';
  if (feeds) followExternal(feeds[0] || null);
  renderLive();
}

// followExternal shows the host a feed published from elsewhere (OBS over
// WHIP, or another staff device): its publisher in the status and a
// preview of what the room sees.
function followExternal(feed) {
  // Just after this page stopped, the roster may still list its own feed.
  const ownGone = feed && feed.publisher === viewer?.sub && Date.now() - stoppedAt < 4000;
  const external = !liveSession && !liveStream && liveUI.state !== 'starting' && !ownGone ? feed : null;
  if (external && !hostPreview) {
    hostPreview = view(ROOM, TOKEN, $('live-video'), () => {});
    window.__bidroomHostPreview = hostPreview; // for the browser tests
  } else if (!external && hostPreview) {
    stopHostPreview();
  }
  liveUI.external = external ? { name: external.publisher_name || external.publisher || '' } : null;
  if (external && (liveUI.state === 'off' || liveUI.state === '')) {
    liveUI.state = 'external';
    liveUI.note = null;
  } else if (!external && liveUI.state === 'external') {
    liveUI.state = 'off';
    liveUI.note = null;
  }
}

function stopHostPreview() {
  if (!hostPreview) return;
  hostPreview.stop();
  hostPreview = null;
  window.__bidroomHostPreview = null;
}

// wireOBSHelp fills the OBS how-to: the WHIP address, and copy buttons for
// it and for this page's token (it carries the publish grant).
function wireOBSHelp() {
  const url = `${location.origin}/whip/${encodeURIComponent(ROOM)}`;
  $('live-obs-url').textContent = url;
  const copy = async (text) => {
    const msg = $('live-obs-msg');
    try {
      await navigator.clipboard.writeText(text);
      msg.textContent = t('live.obs.copied');
    } catch {
      msg.textContent = t('live.obs.copyFailed');
    }
  };
  $('live-obs-copy-url').addEventListener('click', () => copy(url));
  $('live-obs-copy-token').addEventListener('click', () => copy(TOKEN));
}

async function goOnAir(source) {
  if (liveUI.state === 'starting') return;
  const prev = { state: liveUI.state, source: liveUI.source };
  setLive('starting', null);
  let stream;
  try {
    stream = source === 'screen'
      ? await navigator.mediaDevices.getDisplayMedia({ video: true, audio: true })
      : await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (err) {
    setLive(prev.state, { key: 'live.err.device', params: { message: err.message || err.name }, kind: 'error' });
    return;
  }
  // One publisher per room: end the old one before the new one starts
  // (a feed from elsewhere is replaced by the server).
  stopOnAir(true);
  stopHostPreview();
  liveUI.external = null;
  let session;
  try {
    session = await publish(ROOM, TOKEN, stream);
  } catch (err) {
    stream.getTracks().forEach((tr) => tr.stop());
    setLive('off', { key: 'live.err.publish', params: { code: err.code || 'error', message: err.message }, kind: 'error' });
    return;
  }
  liveStream = stream;
  liveUI.source = source;
  onAir(session, stream);
  const preview = $('live-video');
  preview.muted = true;
  preview.srcObject = stream;
  preview.play?.().catch(() => {});
  // Ending the screen share from the browser's own bar stops the live too.
  stream.getVideoTracks()[0]?.addEventListener('ended', () => {
    if (liveStream === stream) stopOnAir();
  });
}

// onAir follows a publishing connection: when it breaks (the server
// restarted, or handed the session's media to another server in a rolling
// restart) the same camera is published again.
function onAir(session, stream) {
  liveSession = session;
  window.__bidroomPublisher = session;
  setLive('onAir', null);
  let lostTimer = null;
  onServerClosed(session.pc, () => onAirLost(session, stream));
  session.pc.addEventListener('connectionstatechange', () => {
    if (liveSession !== session) return;
    const s = session.pc.connectionState;
    if (s === 'failed' || s === 'closed') onAirLost(session, stream);
    else if (s === 'disconnected' && !lostTimer) {
      // Often recovers by itself; give it the retry interval first.
      lostTimer = setTimeout(() => {
        lostTimer = null;
        if (session.pc.connectionState === 'disconnected') onAirLost(session, stream);
      }, REPUBLISH_MS);
    }
  });
}

function onAirLost(session, stream) {
  if (liveSession !== session) return;
  session.stop();
  liveSession = null;
  window.__bidroomPublisher = null;
  setLive('reconnecting', null);
  clearTimeout(republishTimer);
  republishTimer = setTimeout(() => republish(stream), REPUBLISH_MS);
}

// republish publishes stream again, unless this page stopped meanwhile or
// another publisher (OBS, another device) took the room: that one is not
// taken back, and the console shows it (followExternal).
async function republish(stream) {
  if (liveStream !== stream || liveSession) return;
  let feed = null;
  try {
    feed = (await mediaInfo(ROOM, TOKEN)).feeds?.[0] || null;
  } catch {
    // The server does not answer: the publish below finds out.
  }
  if (liveStream !== stream) return;
  if (feed && (!ownSince || feed.since !== ownSince)) {
    stopOnAir(true);
    setLive('off', null);
    return;
  }
  let session;
  try {
    session = await publish(ROOM, TOKEN, stream);
  } catch (err) {
    if (liveStream !== stream) return;
    if (err?.status === 401 || err?.status === 403 || err?.status === 404) {
      stopOnAir(true);
      setLive('off', { key: 'live.err.publish', params: { code: err.code || 'error', message: err.message }, kind: 'error' });
      return;
    }
    clearTimeout(republishTimer);
    republishTimer = setTimeout(() => republish(stream), REPUBLISH_MS);
    return;
  }
  if (liveStream !== stream) {
    session.stop();
    return;
  }
  onAir(session, stream);
}

function stopOnAir(quiet = false) {
  const had = liveSession || liveStream;
  if (liveSession) stoppedAt = Date.now();
  clearTimeout(republishTimer);
  ownSince = '';
  liveSession?.stop();
  liveStream?.getTracks().forEach((tr) => tr.stop());
  liveSession = null;
  liveStream = null;
  liveUI.source = '';
  if (window.__bidroomPublisher) window.__bidroomPublisher = null;
  if (quiet) return;
  $('live-video').srcObject = null;
  setLive('off', had ? { key: 'live.ended' } : null);
}

// ---- wiring ----

function start() {
  wireLangSwitch();
  onLangChange(render);

  $('sign-in').addEventListener('click', () => {
    if (needsKey()) {
      openKeySignIn();
      return;
    }
    command('sign_in', undefined, 'cmd.sign_in');
    renderYou();
  });
  $('key-sign-in-form').addEventListener('submit', onKeySignIn);
  $('key-sign-in-key').addEventListener('change', () => {
    $('key-sign-in-key-name').textContent = $('key-sign-in-key').files?.[0]?.name || '';
    if (keySignIn.msg?.kind === 'error') setKeySignInMsg(null);
  });
  $('key-sign-in-cancel').addEventListener('click', () => {
    keySignIn.open = false;
    keySignIn.msg = null;
    renderYou();
  });
  $('announce-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('announce-input').value.trim();
    if (!text) {
      feedback(t('ann.emptyText'), 'error');
      return;
    }
    command('announce', { text }, 'cmd.announce');
  });
  $('announce-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('announce-form').requestSubmit();
  });
  $('start-decryption').addEventListener('click', async () => {
    const ok = await confirmDialog(t('decrypt.confirmTitle'), t('decrypt.confirmText'), t('decrypt.start'));
    if (ok && state?.phase === 'opened') command('start_decryption', undefined, 'cmd.start_decryption');
    renderYou();
  });
  $('unlock-form').addEventListener('submit', onUnlock);
  $('backup-upload').addEventListener('click', onBackupUpload);
  $('backup-file').addEventListener('change', () => {
    $('backup-file-name').textContent = $('backup-file').files?.[0]?.name || '';
    if (backup.msg?.kind === 'error') {
      backup.msg = null;
      renderMyBid();
    }
  });
  $('unlock-key').addEventListener('change', () => {
    $('unlock-key-name').textContent = $('unlock-key').files?.[0]?.name || '';
    if (unlockMsg?.kind === 'error') {
      unlockMsg = null;
      renderMyBid();
    }
  });
  window.addEventListener('hashchange', () => location.reload());

  setInterval(() => {
    renderCountdown();
    if (needsConnRender(sock)) renderConnection(sock);
  }, 250);

  sock.start();
}

start();
