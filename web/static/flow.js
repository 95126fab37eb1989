// The opening's later steps on the room page (rooms/flow.go): pause and
// 流标 banners, the host's console with a confirmation for every state
// change, the classification of bids not unlocked, the read-out board
// (唱标), confirmations and objections, chat with the host, the
// supervisor's price alerts and violation notes, and the signed record.
//
// room.js calls renderFlow(ctx) after every change with
//   {state, viewer, command(type, data, what, done), busy(type), serverNow(),
//    room, token, fmt: {time, price, duration}}
// and flowCountdown(state, now, fmt) for the countdown box. Inputs are built
// once and kept, so a re-render never loses what someone is typing.

import { t } from './i18n.js';
import { isStaff, suggestOutcome, unanswered } from './state.js';
import { $, el } from './dom.js';
import { parseTime, shortDigest } from './format.js';
import { KeyError, keyFileProblem, loadWasm, readText } from './keys.js';

const LATER = ['opened', 'decrypting', 'decryption_closed', 'failed', 'reading_out', 'confirming', 'record', 'closed'];
const PAUSABLE = ['opened', 'decrypting', 'decryption_closed', 'reading_out', 'confirming'];
const RESPONDING = ['reading_out', 'confirming'];


/** nanos turns a Go time.Duration from JSON (nanoseconds) into milliseconds. */
const nanosToMs = (n) => (typeof n === 'number' ? n / 1e6 : 0);

// ---- module state: what the page keeps between renders ----

let ctx = null;
let built = false;
const ui = {}; // persistent elements
const classifyForms = new Map(); // bidder -> {box, radios, reason, button}
const answerForms = new Map(); // objection id -> {box, input, button}
let chatWith = ''; // the open conversation (host, supervisor): 'supervisors' or a bidder id
const chatSeen = new Map(); // conversation -> messages seen
let alertsSeen = 0;
let alertTimer = null;
let toastFrom = 0; // the first alert the toast shows
let signBusy = false;
let signMsg = null; // {key, params, kind}

// ---- countdown ----

/**
 * flowCountdown returns what the countdown box shows in the later steps
 * ({mode, label, value, note}), or null where room.js keeps its own.
 * A pause freezes the countdown at the time that was left.
 */
export function flowCountdown(st, now, fmt) {
  if (!st) return null;
  if (st.pause) {
    const left = nanosToMs(st.pause.decrypt_left) || nanosToMs(st.pause.confirm_left);
    const which = st.pause.decrypt_left ? 'flow.cd.decryptFrozen' : st.pause.confirm_left ? 'flow.cd.confirmFrozen' : 'flow.cd.paused';
    return {
      mode: 'paused',
      label: t(which),
      value: left ? fmt.duration(left) : t(`flow.pause.kind.${st.pause.kind || 'paused'}`),
      note: t('flow.cd.pausedSince', { time: fmt.time(st.pause.at, false) }),
    };
  }
  switch (st.phase) {
    case 'failed':
      return { mode: 'failed', label: t('flow.cd.failed'), value: t('phase.failed'), note: '' };
    case 'reading_out':
      return { mode: 'closed', label: t('flow.cd.readingOut'), value: t('phase.reading_out'), note: '' };
    case 'confirming': {
      if (st.confirmClosed) {
        return { mode: 'closed', label: t('flow.cd.confirmClosed'), value: t('flow.cd.closedValue'), note: '' };
      }
      const end = parseTime(st.confirmEndsAt);
      if (Number.isNaN(end)) return { mode: 'running', label: t('flow.cd.toConfirmEnd'), value: '--:--:--', note: '' };
      const left = end - now;
      return {
        mode: left <= 60000 ? 'soon' : 'running',
        label: t('flow.cd.toConfirmEnd'),
        value: fmt.duration(Math.max(0, left)),
        note: t('flow.cd.confirmEndsAt', { time: fmt.time(end, false) }),
      };
    }
    case 'record':
    case 'closed':
      return { mode: 'closed', label: t('flow.cd.done'), value: t(`phase.${st.phase}`), note: st.record ? fmt.time(st.record.at) : '' };
    default:
      return null;
  }
}

// ---- helpers over the state ----

function submittedBidders(st) {
  return st.bidders.filter((b) => b.submitted === true);
}

function nameOf(st, sub) {
  if (!sub) return '';
  if (sub === 'host') return t('role.host');
  if (sub === 'supervisors') return t('flow.chat.supervisors');
  const b = st.bidders.find((x) => x.sub === sub);
  if (b) return b.name || sub;
  const p = st.staff.find((x) => x.sub === sub);
  if (p) return p.name || p.sub;
  if (ctx?.viewer?.sub === sub) return ctx.viewer.name || sub;
  return sub;
}

function myRow(st, viewer) {
  if (viewer.role !== 'bidder') return null;
  return st.bidders.find((b) => b.sub === viewer.sub) || st.you || null;
}

function responded(st, b) {
  return !!b.confirmation || st.objections.some((o) => o.bidder === b.sub);
}

function flagLabel(flag, ro) {
  if (flag === 'off_budget') return t('flow.flag.off_budget', { pct: ro?.deviation_pct || 20 });
  return t(`flow.flag.${flag}`);
}

function outcomeLabel(o) {
  return t(`flow.outcome.${o || 'none'}`);
}

function bondText(bond) {
  if (!bond) return t('flow.bond.none');
  let s = t(`flow.bond.${bond.status}`);
  if (bond.amount) s += ` · ${ctx.fmt.price(bond.amount)}`;
  if (bond.guarantor) s += ` · ${bond.guarantor}`;
  return s;
}

function isBusy(type) {
  return ctx.busy(type);
}

// ---- the dialog for host state changes ----

/**
 * ask shows a confirmation dialog; fields are any of kind (pause kind),
 * minutes, reason (required text). Resolves to the values, or null.
 */
function ask({ title, text, ok, fields = [], danger = false }) {
  const d = ui.dialog;
  $('flow-dialog-title', d).textContent = title;
  $('flow-dialog-text', d).textContent = text;
  const okBtn = $('flow-dialog-ok', d);
  okBtn.textContent = ok;
  okBtn.classList.toggle('danger-fill', danger);
  const kindBox = $('flow-dialog-kind-box', d);
  const minBox = $('flow-dialog-minutes-box', d);
  const reasonBox = $('flow-dialog-reason-box', d);
  kindBox.hidden = !fields.includes('kind');
  minBox.hidden = !fields.includes('minutes');
  reasonBox.hidden = !fields.includes('reason');
  const reason = $('flow-dialog-reason', d);
  const minutes = $('flow-dialog-minutes', d);
  reason.value = '';
  minutes.value = '10';
  d.querySelector('input[name="flow-kind"][value="paused"]').checked = true;
  const err = $('flow-dialog-error', d);
  err.hidden = true;
  d.returnValue = '';
  return new Promise((resolve) => {
    const onSubmit = (e) => {
      const v = e.submitter?.value;
      if (v !== 'ok') return;
      if (fields.includes('reason') && !reason.value.trim()) {
        e.preventDefault();
        err.textContent = t('flow.dialog.reasonRequired');
        err.hidden = false;
        reason.focus();
        return;
      }
      const m = Number(minutes.value);
      if (fields.includes('minutes') && !(Number.isInteger(m) && m >= 1 && m <= 120)) {
        e.preventDefault();
        err.textContent = t('flow.dialog.minutesRange');
        err.hidden = false;
        minutes.focus();
      }
    };
    d.querySelector('form').addEventListener('submit', onSubmit);
    d.addEventListener('close', () => {
      d.querySelector('form').removeEventListener('submit', onSubmit);
      if (d.returnValue !== 'ok') {
        resolve(null);
        return;
      }
      resolve({
        kind: d.querySelector('input[name="flow-kind"]:checked')?.value || 'paused',
        minutes: Number(minutes.value),
        reason: reason.value.trim(),
      });
    }, { once: true });
    d.showModal();
    (fields.includes('reason') ? reason : $('flow-dialog-cancel', d)).focus();
  });
}

// ---- building the skeleton once ----

function section(testid, titleKey, extraClass = '') {
  const s = el('section', { class: `card flow-card ${extraClass}`, 'data-testid': testid, hidden: true });
  const head = el('div', { class: 'card-head' }, el('h2', { 'data-i18n-flow': titleKey }));
  s.append(head);
  return s;
}

function build(root) {
  // Banners for everyone.
  ui.pause = el('div', { class: 'flow-banner pause-banner', 'data-testid': 'pause-banner', role: 'alert', hidden: true },
    el('strong', { 'data-testid': 'pause-title' }), el('span', { 'data-testid': 'pause-reason' }), el('span', { class: 'pause-meta', 'data-testid': 'pause-meta' }));
  ui.failure = el('div', { class: 'flow-banner failure-banner', 'data-testid': 'failure-banner', role: 'alert', hidden: true },
    el('strong', { 'data-testid': 'failure-title' }), el('span', { 'data-testid': 'failure-text' }));
  ui.toast = el('div', { class: 'flow-toast', 'data-testid': 'price-alert-toast', role: 'alert', hidden: true });

  // Host console.
  ui.console = section('host-console', 'flow.console.title', 'host-console');
  ui.consoleHint = el('p', { class: 'console-hint', 'data-testid': 'console-hint' });
  ui.consoleInfo = el('p', { class: 'hint', 'data-testid': 'console-info' });
  const btn = (id, key, cls = '') => el('button', { type: 'button', class: cls, 'data-testid': id, 'data-i18n-flow': key });
  ui.btn = {
    pause: btn('flow-pause', 'flow.btn.pause', 'warn'),
    resume: btn('flow-resume', 'flow.btn.resume', 'primary'),
    extend: btn('flow-extend', 'flow.btn.extend'),
    closeDecryption: btn('flow-close-decryption', 'flow.btn.closeDecryption'),
    startReadOut: btn('flow-start-read-out', 'flow.btn.startReadOut', 'primary'),
    startConfirmation: btn('flow-start-confirmation', 'flow.btn.startConfirmation', 'primary'),
    closeConfirmation: btn('flow-close-confirmation', 'flow.btn.closeConfirmation'),
    record: btn('flow-generate-record', 'flow.btn.record', 'primary'),
  };
  ui.console.append(ui.consoleHint, el('div', { class: 'console-actions' }, ...Object.values(ui.btn)), ui.consoleInfo);

  // Classification (host, decryption_closed).
  ui.classify = section('classify-panel', 'flow.classify.title', 'classify');
  ui.classifyIntro = el('p', { class: 'hint', 'data-i18n-flow': 'flow.classify.intro' });
  ui.classifyList = el('div', { class: 'classify-list' });
  ui.classify.append(ui.classifyIntro, ui.classifyList);

  // Progress per bidder (staff).
  ui.progress = section('progress-board', 'flow.progress.title', 'progress');
  ui.progressCount = el('span', { class: 'count', 'data-testid': 'progress-count' });
  ui.progress.querySelector('.card-head').append(ui.progressCount);
  ui.progressTable = el('div', { class: 'table-wrap' });
  ui.progress.append(ui.progressTable);

  // Read-out board (everyone).
  ui.readOut = section('read-out', 'flow.readOut.title', 'read-out');
  ui.readOutFacts = el('dl', { class: 'facts read-out-facts', 'data-testid': 'read-out-facts' });
  ui.readOutTable = el('div', { class: 'table-wrap' });
  ui.readOutDigest = el('p', { class: 'hint mono', 'data-testid': 'read-out-digest' });
  ui.readOut.append(ui.readOutFacts, ui.readOutTable, ui.readOutDigest);

  // The bidder's confirmation and objections.
  ui.respond = section('respond-panel', 'flow.respond.title', 'respond');
  ui.respondStatus = el('p', { class: 'respond-status', 'data-testid': 'respond-status' });
  ui.confirmBtn = el('button', { type: 'button', class: 'primary big', 'data-testid': 'confirm-button', 'data-i18n-flow': 'flow.respond.confirm' });
  ui.signForm = el('form', { class: 'unlock sign-form', 'data-testid': 'confirm-sign-form', autocomplete: 'off' });
  ui.signKey = el('input', { type: 'file', class: 'visually-hidden', 'data-testid': 'confirm-key', accept: '.pem,.key,application/x-pem-file,text/plain' });
  ui.signKeyName = el('span', { class: 'file-pick-name', 'data-testid': 'confirm-key-name' });
  ui.signPassword = el('input', { type: 'password', 'data-testid': 'confirm-password', autocomplete: 'off' });
  ui.signBtn = el('button', { type: 'submit', class: 'primary big', 'data-testid': 'confirm-sign-button', 'data-i18n-flow': 'flow.respond.sign' });
  ui.signMsg = el('p', { class: 'unlock-msg', 'data-testid': 'confirm-sign-msg', role: 'status', 'aria-live': 'polite', hidden: true });
  ui.signForm.append(
    el('p', { class: 'hint', 'data-i18n-flow': 'flow.respond.signIntro' }),
    el('div', { class: 'unlock-field' }, el('span', { 'data-i18n-flow': 'unlock.key' }),
      el('label', { class: 'file-pick' }, ui.signKey, el('span', { class: 'file-pick-button', 'data-i18n-flow': 'unlock.choose' }), ui.signKeyName)),
    el('label', { class: 'unlock-field' }, el('span', { 'data-i18n-flow': 'unlock.password' }), ui.signPassword),
    el('div', { class: 'unlock-actions' }, ui.signBtn, ui.signMsg),
  );
  ui.objectForm = el('form', { class: 'flow-form', 'data-testid': 'object-form' });
  ui.objectInput = el('textarea', { rows: '3', maxlength: '2000', 'data-testid': 'object-input' });
  ui.objectBtn = el('button', { type: 'submit', 'data-testid': 'object-send', 'data-i18n-flow': 'flow.respond.object' });
  ui.objectForm.append(el('label', { class: 'flow-label' }, el('span', { 'data-i18n-flow': 'flow.respond.objectLabel' }), ui.objectInput), ui.objectBtn);
  ui.respond.append(ui.respondStatus, ui.confirmBtn, ui.signForm, ui.objectForm);

  // Objections (everyone once there are any; the host answers).
  ui.objections = section('objections', 'flow.objections.title', 'objections');
  ui.objBadge = el('span', { class: 'badge', 'data-testid': 'unanswered-badge', hidden: true });
  ui.objections.querySelector('.card-head').append(ui.objBadge);
  ui.objList = el('ol', { class: 'obj-list', 'data-testid': 'objection-list' });
  ui.objections.append(ui.objList);

  // Supervisor: price alerts and violation notes.
  ui.alerts = section('price-alerts', 'flow.alerts.title', 'alerts');
  ui.alertList = el('ul', { class: 'alert-list', 'data-testid': 'price-alert-list' });
  ui.alerts.append(ui.alertList);
  ui.notes = section('notes', 'flow.notes.title', 'notes');
  ui.noteForm = el('form', { class: 'flow-form', 'data-testid': 'note-form' });
  ui.noteSubject = el('select', { 'data-testid': 'note-subject' });
  ui.noteText = el('textarea', { rows: '2', maxlength: '2000', 'data-testid': 'note-text' });
  ui.noteForm.append(
    el('label', { class: 'flow-label' }, el('span', { 'data-i18n-flow': 'flow.notes.subject' }), ui.noteSubject),
    el('label', { class: 'flow-label' }, el('span', { 'data-i18n-flow': 'flow.notes.text' }), ui.noteText),
    el('button', { type: 'submit', 'data-testid': 'note-send', 'data-i18n-flow': 'flow.notes.send' }),
  );
  ui.noteList = el('ol', { class: 'note-list', 'data-testid': 'note-list' });
  ui.notes.append(ui.noteForm, ui.noteList);

  // Chat.
  ui.chat = section('chat', 'flow.chat.title', 'chat');
  ui.chatConvs = el('div', { class: 'chat-convs', 'data-testid': 'chat-convs', role: 'tablist' });
  ui.chatLog = el('ol', { class: 'chat-log', 'data-testid': 'chat-log', 'aria-live': 'polite' });
  ui.chatForm = el('form', { class: 'chat-form', 'data-testid': 'chat-form' });
  ui.chatInput = el('input', { type: 'text', maxlength: '2000', 'data-testid': 'chat-input' });
  ui.chatForm.append(ui.chatInput, el('button', { type: 'submit', class: 'primary', 'data-testid': 'chat-send', 'data-i18n-flow': 'flow.chat.send' }));
  ui.chatReadOnly = el('p', { class: 'hint', 'data-testid': 'chat-readonly', hidden: true });
  ui.chat.append(ui.chatConvs, ui.chatLog, ui.chatForm, ui.chatReadOnly);

  // The record.
  ui.record = section('record-panel', 'flow.record.title', 'record');
  ui.recordText = el('p', { 'data-testid': 'record-text' });
  ui.recordLink = el('a', { class: 'record-link', 'data-testid': 'record-link', href: '#', target: '_blank', rel: 'noopener' });
  ui.recordMeta = el('p', { class: 'hint mono', 'data-testid': 'record-meta' });
  ui.record.append(ui.recordText, ui.recordLink, ui.recordMeta);

  // The dialog.
  ui.dialog = el('dialog', { class: 'dialog flow-dialog', 'data-testid': 'flow-dialog', 'aria-labelledby': 'flow-dialog-title' });
  const form = el('form', { method: 'dialog' });
  const kinds = el('div', { class: 'flow-kinds', 'data-testid': 'flow-dialog-kind-box' });
  for (const k of ['paused', 'suspended']) {
    kinds.append(el('label', { class: 'flow-radio' },
      el('input', { type: 'radio', name: 'flow-kind', value: k, 'data-testid': `flow-dialog-kind-${k}` }),
      el('span', { 'data-i18n-flow': `flow.pause.kindLong.${k}` })));
  }
  form.append(
    el('h2', { id: 'flow-dialog-title', 'data-testid': 'flow-dialog-title' }),
    el('p', { class: 'dialog-text', 'data-testid': 'flow-dialog-text' }),
    kinds,
    el('label', { class: 'flow-label', 'data-testid': 'flow-dialog-minutes-box' }, el('span', { 'data-i18n-flow': 'flow.dialog.minutes' }),
      el('input', { type: 'number', min: '1', max: '120', step: '1', 'data-testid': 'flow-dialog-minutes' })),
    el('label', { class: 'flow-label', 'data-testid': 'flow-dialog-reason-box' }, el('span', { 'data-i18n-flow': 'flow.dialog.reason' }),
      el('textarea', { rows: '3', maxlength: '500', 'data-testid': 'flow-dialog-reason' })),
    el('p', { class: 'form-error', 'data-testid': 'flow-dialog-error', hidden: true }),
    el('div', { class: 'dialog-actions' },
      el('button', { type: 'submit', value: 'cancel', formnovalidate: true, 'data-testid': 'flow-dialog-cancel', 'data-i18n-flow': 'dialog.cancel' }),
      el('button', { type: 'submit', value: 'ok', class: 'primary', 'data-testid': 'flow-dialog-ok' })),
  );
  ui.dialog.append(form);

  // A bidder's page is about their bid: the board, their answer and the
  // objections come first, the chat with the host after their bid card.
  const bidder = ctx.viewer.role === 'bidder';
  ui.main = el('div', { class: 'flow-main' }, ui.console, ui.record, ui.classify, ui.readOut, ui.respond, bidder ? ui.objections : null, ui.progress);
  ui.side = el('div', { class: 'flow-side' }, bidder ? null : ui.objections, ui.alerts, bidder ? null : ui.chat, ui.notes);
  ui.grid = el('div', { class: 'flow-grid' }, ui.main, ui.side);
  root.append(ui.pause, ui.failure, ui.grid);
  ui.after = document.querySelector('[data-testid="flow-after"]');
  if (bidder && ui.after) ui.after.append(ui.chat);
  else if (bidder) ui.side.append(ui.chat);
  document.body.append(ui.toast, ui.dialog);
  ui.toast.addEventListener('click', () => (ui.toast.hidden = true));
  wire();
  built = true;
}

// ---- wiring the controls ----

function wire() {
  const b = ui.btn;
  b.pause.addEventListener('click', async () => {
    const v = await ask({ title: t('flow.pause.askTitle'), text: t('flow.pause.askText'), ok: t('flow.btn.pause'), fields: ['kind', 'reason'] });
    if (v && ctx.state.phase && !ctx.state.pause) ctx.command('pause', { kind: v.kind, reason: v.reason }, `flow.cmd.${v.kind === 'suspended' ? 'suspend' : 'pause'}`);
  });
  b.resume.addEventListener('click', async () => {
    const v = await ask({ title: t('flow.resume.askTitle'), text: t('flow.resume.askText', { reason: ctx.state.pause?.reason || '' }), ok: t('flow.btn.resume') });
    if (v && ctx.state.pause) ctx.command('resume', {}, 'flow.cmd.resume');
  });
  b.extend.addEventListener('click', async () => {
    const v = await ask({ title: t('flow.extend.askTitle'), text: t('flow.extend.askText'), ok: t('flow.btn.extend'), fields: ['minutes', 'reason'] });
    if (v) ctx.command('extend_decryption', { minutes: v.minutes, reason: v.reason }, 'flow.cmd.extend');
  });
  b.closeDecryption.addEventListener('click', async () => {
    const v = await ask({ title: t('flow.closeDecryption.askTitle'), text: t('flow.closeDecryption.askText'), ok: t('flow.btn.closeDecryption') });
    if (v) ctx.command('close_decryption', {}, 'flow.cmd.closeDecryption');
  });
  b.startReadOut.addEventListener('click', async () => {
    const v = await ask({ title: t('flow.readOut.askTitle'), text: t('flow.readOut.askText'), ok: t('flow.btn.startReadOut') });
    if (v) ctx.command('start_read_out', {}, 'flow.cmd.startReadOut');
  });
  b.startConfirmation.addEventListener('click', async () => {
    const mins = ctx.state.session?.confirm_window_minutes || 5;
    const v = await ask({ title: t('flow.confirmation.askTitle'), text: t('flow.confirmation.askText', { n: mins }), ok: t('flow.btn.startConfirmation') });
    if (v) ctx.command('start_confirmation', {}, 'flow.cmd.startConfirmation');
  });
  b.closeConfirmation.addEventListener('click', async () => {
    const v = await ask({ title: t('flow.closeConfirmation.askTitle'), text: t('flow.closeConfirmation.askText'), ok: t('flow.btn.closeConfirmation') });
    if (v) ctx.command('close_confirmation', {}, 'flow.cmd.closeConfirmation');
  });
  b.record.addEventListener('click', async () => {
    const v = await ask({ title: t('flow.record.askTitle'), text: t('flow.record.askText'), ok: t('flow.btn.record') });
    if (v) generateRecord();
  });

  ui.confirmBtn.addEventListener('click', async () => {
    const v = await ask({ title: t('flow.respond.confirmTitle'), text: t('flow.respond.confirmText'), ok: t('flow.respond.confirm') });
    if (v && ctx.state.readOut) ctx.command('confirm', { digest: ctx.state.readOut.digest }, 'flow.cmd.confirm');
  });
  ui.signForm.addEventListener('submit', onSign);
  ui.signKey.addEventListener('change', () => {
    ui.signKeyName.textContent = ui.signKey.files?.[0]?.name || '';
    if (signMsg?.kind === 'error') signMsg = null;
    render();
  });
  ui.objectForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.objectInput.value.trim();
    if (!text) {
      ui.objectInput.focus();
      return;
    }
    ctx.command('object', { text }, 'flow.cmd.object', (ok) => {
      if (ok && ui.objectInput.value.trim() === text) ui.objectInput.value = '';
    });
  });
  ui.noteForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const subject = ui.noteSubject.value;
    const text = ui.noteText.value.trim();
    if (!subject || !text) {
      (subject ? ui.noteText : ui.noteSubject).focus();
      return;
    }
    ctx.command('note_violation', { subject, text }, 'flow.cmd.note', (ok) => {
      if (ok && ui.noteText.value.trim() === text) ui.noteText.value = '';
    });
  });
  ui.chatForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.chatInput.value.trim();
    if (!text) return;
    const to = ctx.viewer.role === 'host' ? chatWith : 'host';
    if (!to) return;
    ctx.command('chat', { to, text }, 'flow.cmd.chat', (ok) => {
      if (ok && ui.chatInput.value.trim() === text) ui.chatInput.value = '';
    });
  });
}

// ---- the key-signed confirmation ----



async function api(method, route, body) {
  let r;
  try {
    r = await fetch(`/api/v1/sessions/${encodeURIComponent(ctx.room)}${route}`, {
      method,
      headers: { Authorization: `Bearer ${ctx.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
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

// signText signs the confirmation text with the bidder's key in WebAssembly
// (cmd/bidwasm's bidroomConfirm, which signs nothing but a confirmation
// for this session).
async function signText(keyPEM, password, message, keyID) {
  let wasm;
  try {
    wasm = await loadWasm();
  } catch {
    throw new KeyError('load_failed');
  }
  const out = wasm.confirm(keyPEM, password, message, ctx.room);
  if (!out || out.error) throw new KeyError(out?.code || 'internal', out?.error);
  // Another key would only be refused by the server: say so before sending.
  if (keyID && out.key_id && out.key_id !== keyID) throw new KeyError('bad_signature');
  return out.signature;
}

const SIGN_ERRORS = new Set(['no_file', 'too_big', 'bad_key', 'wrong_password', 'bad_signature', 'bad_challenge', 'wrong_state',
  'network', 'load_failed', 'conflict']);

async function onSign(e) {
  e.preventDefault();
  if (signBusy) return;
  const file = ui.signKey.files?.[0];
  const problem = keyFileProblem(file);
  if (problem) {
    signMsg = { key: `flow.sign.err.${problem}`, kind: 'error' };
    render();
    return;
  }
  signBusy = true;
  signMsg = { key: 'flow.sign.working', kind: 'info' };
  render();
  let keyPEM = '';
  try {
    keyPEM = await readText(file);
    const ch = await api('GET', '/confirm/challenge');
    if (ctx.state.readOut && ch.digest !== ctx.state.readOut.digest) throw new KeyError('conflict');
    const signature = await signText(keyPEM, ui.signPassword.value, ch.message, ch.key_id);
    keyPEM = '';
    await api('POST', '/confirm', { signature });
    signMsg = { key: 'flow.sign.done', kind: 'ok' };
    ui.signPassword.value = '';
    ui.signKey.value = '';
    ui.signKeyName.textContent = '';
  } catch (err) {
    const code = err instanceof KeyError ? err.code : 'internal';
    const key = SIGN_ERRORS.has(code) ? `flow.sign.err.${code}` : 'flow.sign.err.other';
    signMsg = { key, params: { code, message: err?.detail || '' }, kind: 'error' };
  } finally {
    keyPEM = '';
    signBusy = false;
    render();
  }
}

// ---- the record ----

let recordBusy = false;

async function generateRecord() {
  if (recordBusy) return;
  recordBusy = true;
  render();
  try {
    const out = await api('POST', '/record');
    ctx.feedback?.(t('flow.record.generated', { digest: shortDigest(out.digest) }), 'ok');
  } catch (err) {
    const msg = err.code === 'http_404' ? t('flow.record.missingEndpoint') : err.detail || err.code;
    ctx.feedback?.(t('flow.record.failed', { message: msg }), 'error');
  } finally {
    recordBusy = false;
    render();
  }
}

async function openRecord(e) {
  e.preventDefault();
  try {
    const r = await fetch(recordURL(), { headers: { Authorization: `Bearer ${ctx.token}` }, cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const html = await r.text();
    const url = URL.createObjectURL(new Blob([html], { type: 'text/html;charset=utf-8' }));
    window.open(url, '_blank', 'noopener');
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    ctx.feedback?.(t('flow.record.openFailed', { message: err.message }), 'error');
  }
}

function recordURL() {
  return `/api/v1/sessions/${encodeURIComponent(ctx.room)}/record.html`;
}


// ---- rendering ----

/** renderFlow draws the later steps for ctx (see the top of this file). */
export function renderFlow(c) {
  ctx = c;
  render();
}

function render() {
  const root = document.querySelector('[data-testid="flow"]');
  if (!root || !ctx) return;
  if (!built) build(root);
  for (const e of document.querySelectorAll('[data-i18n-flow]')) e.textContent = t(e.dataset.i18nFlow);
  const { state: st, viewer } = ctx;
  const show = !!(st && viewer && LATER.includes(st.phase));
  root.hidden = !show;
  if (ui.after) ui.after.hidden = !show;
  if (!show) {
    ui.toast.hidden = true;
    return;
  }
  root.dataset.role = viewer.role;
  root.dataset.paused = String(!!st.pause);
  renderBanners(st);
  renderConsole(st, viewer);
  renderClassify(st, viewer);
  renderProgress(st, viewer);
  renderReadOut(st, viewer);
  renderRespond(st, viewer);
  renderObjections(st, viewer);
  renderAlerts(st, viewer);
  renderNotes(st, viewer);
  renderChat(st, viewer);
  renderRecord(st, viewer);
  const visible = (box) => [...box.children].some((c) => !c.hidden);
  ui.grid.dataset.main = visible(ui.main) ? '1' : '0';
  ui.grid.dataset.side = visible(ui.side) ? '1' : '0';
}

function renderBanners(st) {
  const p = st.pause;
  ui.pause.hidden = !p;
  if (p) {
    ui.pause.dataset.kind = p.kind || 'paused';
    $('pause-title', ui.pause).textContent = t(`flow.pause.banner.${p.kind || 'paused'}`);
    $('pause-reason', ui.pause).textContent = p.reason || '';
    const left = nanosToMs(p.decrypt_left) || nanosToMs(p.confirm_left);
    const parts = [t('flow.pause.since', { time: ctx.fmt.time(p.at, false) })];
    if (p.decrypt_left) parts.push(t('flow.pause.decryptLeft', { left: ctx.fmt.duration(left) }));
    else if (p.confirm_left) parts.push(t('flow.pause.confirmLeft', { left: ctx.fmt.duration(left) }));
    parts.push(t('flow.pause.wait'));
    $('pause-meta', ui.pause).textContent = parts.join(' · ');
  }
  const f = st.failure;
  ui.failure.hidden = !(f && st.phase === 'failed');
  if (f) {
    $('failure-title', ui.failure).textContent = t('flow.failure.title');
    $('failure-text', ui.failure).textContent = t('flow.failure.text', { submitted: f.submitted, min: f.min });
  }
}

function recordReady(st) {
  if (st.record) return false;
  if (st.phase === 'failed') return true;
  return st.phase === 'confirming' && st.confirmClosed && unanswered(st) === 0 && !st.pause;
}

function renderConsole(st, viewer) {
  const host = viewer.role === 'host';
  ui.console.hidden = !host;
  if (!host) return;
  const b = ui.btn;
  const phase = st.phase;
  const paused = !!st.pause;
  const subs = submittedBidders(st);
  const allOpened = subs.length > 0 && subs.every((x) => x.opened);
  const unclassified = subs.filter((x) => !x.opened && !x.outcome);
  const silent = subs.filter((x) => !responded(st, x));
  const confirmOpen = phase === 'confirming' && !st.confirmClosed;

  b.pause.hidden = paused || !PAUSABLE.includes(phase);
  b.pause.disabled = isBusy('pause');
  b.resume.hidden = !paused;
  b.resume.disabled = isBusy('resume');
  b.extend.hidden = phase !== 'decrypting' || paused;
  b.extend.disabled = !!st.extension || isBusy('extend_decryption');
  b.extend.title = st.extension ? t('flow.extend.done', { n: st.extension.minutes }) : '';
  b.closeDecryption.hidden = phase !== 'decrypting' || paused;
  b.closeDecryption.disabled = !allOpened || isBusy('close_decryption');
  b.startReadOut.hidden = phase !== 'decryption_closed' || paused;
  b.startReadOut.disabled = unclassified.length > 0 || isBusy('start_read_out');
  b.startConfirmation.hidden = phase !== 'reading_out' || paused;
  b.startConfirmation.disabled = isBusy('start_confirmation');
  b.closeConfirmation.hidden = !confirmOpen || paused;
  b.closeConfirmation.disabled = silent.length > 0 || isBusy('close_confirmation');
  b.record.hidden = !(phase === 'failed' || phase === 'confirming') || !!st.record;
  b.record.disabled = !recordReady(st) || recordBusy;

  let hint;
  let info = '';
  if (paused) hint = t('flow.console.paused');
  else if (phase === 'opened') hint = t('flow.console.opened');
  else if (phase === 'decrypting') {
    hint = allOpened ? t('flow.console.decryptingAll') : t('flow.console.decrypting', { n: subs.filter((x) => x.opened).length, of: subs.length });
    if (st.extension) info = t('flow.extend.info', { n: st.extension.minutes, reason: st.extension.reason });
  } else if (phase === 'decryption_closed') {
    hint = unclassified.length ? t('flow.console.classify', { n: unclassified.length }) : t('flow.console.readyReadOut');
  } else if (phase === 'reading_out') hint = t('flow.console.readingOut');
  else if (confirmOpen) {
    hint = silent.length ? t('flow.console.confirming', { n: silent.length }) : t('flow.console.confirmingAll');
  } else if (phase === 'confirming') {
    const u = unanswered(st);
    hint = u ? t('flow.console.answerFirst', { n: u }) : t('flow.console.readyRecord');
  } else if (phase === 'failed') hint = st.record ? t('flow.console.done') : t('flow.console.failed');
  else hint = t('flow.console.done');
  ui.consoleHint.textContent = hint;
  ui.consoleInfo.textContent = info;
  ui.consoleInfo.hidden = !info;
}

// UNLOCK_CODES are the failure codes an unlock attempt is recorded with
// (the server's and the ones a bidder's page reports); each has a label.
const UNLOCK_CODES = new Set(['wrong_key', 'bad_key', 'wrong_password', 'timeout', 'client_error', 'corrupted', 'server_error', 'bad_exchange']);

/** codeLabel says what an unlock failure code means, in the page's language. */
function codeLabel(code) {
  if (!code) return t('flow.attempt.failed');
  return UNLOCK_CODES.has(code) ? t(`flow.code.${code}`) : code;
}

function attemptList(b) {
  const log = b.attempt_log || [];
  const ol = el('ol', { class: 'attempts', 'data-testid': 'attempt-log' });
  for (const a of log) {
    // The server's own words (English, for the technical record) stay on hover.
    const li = el('li', { 'data-ok': String(!!a.ok), 'data-code': a.code || '' },
      el('span', { class: 'mono', text: ctx.fmt.time(a.at, false) }),
      el('span', { class: `tag ${a.ok ? 'tag-ok' : 'tag-bad'}`, text: a.ok ? t('flow.attempt.ok') : codeLabel(a.code) }),
      !a.ok && a.code ? el('span', { class: 'mono attempt-code', text: a.code }) : null,
      a.backup ? el('span', { class: 'tag tag-muted', text: t('flow.attempt.backup') }) : null);
    if (a.message) li.title = a.message;
    ol.append(li);
  }
  if (!log.length) ol.append(el('li', { class: 'empty', text: t('flow.attempt.none') }));
  return ol;
}

function renderClassify(st, viewer) {
  const on = viewer.role === 'host' && st.phase === 'decryption_closed';
  const todo = on ? submittedBidders(st).filter((b) => !b.opened && !b.outcome) : [];
  ui.classify.hidden = !on || todo.length === 0;
  for (const [id, f] of classifyForms) {
    if (!todo.some((b) => b.sub === id)) {
      f.box.remove();
      classifyForms.delete(id);
    }
  }
  for (const b of todo) {
    let f = classifyForms.get(b.sub);
    if (!f) {
      f = buildClassifyForm(b);
      classifyForms.set(b.sub, f);
      ui.classifyList.append(f.box);
    }
    f.name.textContent = b.name || b.sub;
    const sug = b.suggested_outcome || suggestOutcome(b);
    f.suggest.textContent = t('flow.classify.suggested', { outcome: outcomeLabel(sug) });
    if (!f.touched) f.radios[sug].checked = true;
    for (const k of ['revoked', 'withdrawn']) f.labels[k].textContent = t(`flow.classify.opt.${k}`);
    f.reasonLabel.textContent = t('flow.classify.reason');
    f.button.textContent = t('flow.classify.submit');
    f.button.disabled = isBusy('classify');
    f.logHead.textContent = t('flow.classify.evidence', { n: (b.attempt_log || []).length || b.attempts || 0 });
    f.log.replaceWith((f.log = attemptList(b)));
  }
}

function buildClassifyForm(b) {
  const f = { touched: false, radios: {}, labels: {} };
  f.box = el('form', { class: 'classify-item', 'data-testid': 'classify-item', 'data-sub': b.sub });
  f.name = el('h3');
  f.suggest = el('p', { class: 'hint', 'data-testid': 'classify-suggested' });
  f.logHead = el('p', { class: 'flow-label' });
  f.log = el('ol');
  const opts = el('div', { class: 'flow-kinds' });
  for (const k of ['revoked', 'withdrawn']) {
    f.radios[k] = el('input', { type: 'radio', name: `outcome-${b.sub}`, value: k, 'data-testid': `classify-${k}` });
    f.radios[k].addEventListener('change', () => (f.touched = true));
    f.labels[k] = el('span');
    opts.append(el('label', { class: 'flow-radio' }, f.radios[k], f.labels[k]));
  }
  f.reason = el('textarea', { rows: '2', maxlength: '500', 'data-testid': 'classify-reason' });
  f.reason.addEventListener('input', () => (f.err.hidden = true));
  f.reasonLabel = el('span');
  f.err = el('p', { class: 'form-error', hidden: true });
  f.button = el('button', { type: 'submit', class: 'primary', 'data-testid': 'classify-submit' });
  f.box.append(f.name, f.suggest, f.logHead, f.log, opts, el('label', { class: 'flow-label' }, f.reasonLabel, f.reason), f.err, f.button);
  f.box.addEventListener('submit', async (e) => {
    e.preventDefault();
    const reason = f.reason.value.trim();
    const outcome = f.radios.withdrawn.checked ? 'withdrawn' : 'revoked';
    if (!reason) {
      f.err.textContent = t('flow.dialog.reasonRequired');
      f.err.hidden = false;
      f.reason.focus();
      return;
    }
    f.err.hidden = true;
    const v = await ask({
      title: t('flow.classify.askTitle'),
      text: t('flow.classify.askText', { name: b.name || b.sub, outcome: outcomeLabel(outcome), reason }),
      ok: t('flow.classify.submit'),
    });
    if (v) ctx.command('classify', { bidder: b.sub, outcome, reason }, 'flow.cmd.classify');
  });
  return f;
}

function renderProgress(st, viewer) {
  const staff = isStaff(viewer.role);
  ui.progress.hidden = !staff;
  if (!staff) return;
  const subs = submittedBidders(st);
  const rows = subs.length ? subs : st.bidders.filter((b) => b.submitted !== false);
  const opened = rows.filter((b) => b.opened).length;
  ui.progressCount.textContent = t('flow.progress.count', { n: opened, of: rows.length });
  const showConfirm = ['reading_out', 'confirming', 'record', 'closed'].includes(st.phase);
  const table = el('table', { class: 'board', 'data-testid': 'progress-table' });
  const head = el('tr', {}, el('th', { text: '#' }), el('th', { text: t('flow.col.bidder') }), el('th', { text: t('flow.col.decrypt') }),
    el('th', { text: t('flow.col.bond') }), showConfirm ? el('th', { text: t('flow.col.response') }) : null);
  table.append(el('thead', {}, head));
  const body = el('tbody');
  rows.forEach((b, i) => {
    let status;
    let kind;
    if (b.opened) {
      status = t(b.opened.backup ? 'flow.progress.openedBackup' : 'flow.progress.opened');
      kind = 'ok';
    } else if (b.outcome) {
      status = outcomeLabel(b.outcome);
      kind = 'bad';
    } else if (b.attempts > 0) {
      const lf = b.last_failure;
      status = t('flow.progress.failed', { n: b.attempts, code: lf?.code ? codeLabel(lf.code) : '' });
      kind = 'warn';
    } else {
      status = t('flow.progress.pending');
      kind = 'muted';
    }
    const cell = el('td', {}, el('span', { class: `tag tag-${kind}`, 'data-testid': 'progress-status', text: status }));
    if (b.outcome_reason) cell.append(el('div', { class: 'hint', text: b.outcome_reason }));
    if ((b.attempt_log || []).length) {
      const det = el('details', { class: 'attempt-details' }, el('summary', { text: t('flow.progress.attempts', { n: b.attempt_log.length }) }), attemptList(b));
      cell.append(det);
    }
    const bond = b.bond;
    const tr = el('tr', { 'data-testid': 'progress-row', 'data-sub': b.sub, 'data-state': b.opened ? 'opened' : b.outcome || (b.attempts ? 'failed' : 'pending') },
      el('td', { text: String(i + 1) }),
      el('td', { class: 'name', text: b.name || b.sub }),
      cell,
      el('td', { class: `bond bond-${bond?.status || 'none'}`, 'data-testid': 'bond-cell', title: bond?.error || bond?.reference || '', text: bondText(bond) }),
      showConfirm ? el('td', { 'data-testid': 'response-cell', text: responseText(st, b) }) : null);
    body.append(tr);
  });
  if (!rows.length) body.append(el('tr', {}, el('td', { colspan: '5', class: 'empty', text: t('flow.progress.empty') })));
  table.append(body);
  ui.progressTable.replaceChildren(table);
}

function responseText(st, b) {
  if (b.confirmation) {
    const how = b.confirmation.method === 'sm2' ? t('flow.response.signed') : t('flow.response.token');
    return `${t('flow.response.confirmed')}（${how}）${b.confirmation.at ? ' ' + ctx.fmt.time(b.confirmation.at, false) : ''}`;
  }
  if (st.objections.some((o) => o.bidder === b.sub)) return t('flow.response.objected');
  if (b.silent) return t('flow.response.silent');
  if (!b.opened) return '—';
  return st.phase === 'reading_out' ? '—' : t('flow.response.waiting');
}

function renderReadOut(st, viewer) {
  const ro = st.readOut;
  ui.readOut.hidden = !ro;
  if (!ro) return;
  const facts = [];
  const fact = (key, value, id) => el('div', {}, el('dt', { text: t(key) }), el('dd', { 'data-testid': id, text: value }));
  facts.push(fact('flow.readOut.reserve', ro.reserve ? ctx.fmt.price(ro.reserve) : t('flow.readOut.noReserve'), 'read-out-reserve'));
  facts.push(fact('room.controlPrice', ro.control_price ? ctx.fmt.price(ro.control_price) : '—', 'read-out-control'));
  if (ro.budget) facts.push(fact('flow.readOut.budget', t('flow.readOut.budgetValue', { budget: ctx.fmt.price(ro.budget), pct: ro.deviation_pct || 20 }), 'read-out-budget'));
  ui.readOutFacts.replaceChildren(...facts);

  const fields = ro.fields || [];
  const showResp = ['confirming', 'record', 'closed'].includes(st.phase) && (isStaff(viewer.role) || viewer.role === 'bidder');
  const table = el('table', { class: 'board read-out-table', 'data-testid': 'read-out-table' });
  table.append(el('thead', {}, el('tr', {},
    el('th', { text: '#' }), el('th', { text: t('flow.col.bidder') }),
    ...fields.map((f) => el('th', { 'data-key': f.key, text: f.label || f.key })),
    el('th', { text: t('flow.col.flags') }),
    showResp ? el('th', { text: t('flow.col.response') }) : null)));
  const body = el('tbody');
  (ro.rows || []).forEach((r, i) => {
    const flags = r.flags || [];
    const mine = viewer.role === 'bidder' && r.bidder === viewer.sub;
    const tr = el('tr', {
      'data-testid': 'read-out-row', 'data-sub': r.bidder, 'data-outcome': r.outcome, 'data-flagged': String(flags.length > 0),
      class: `${flags.length ? 'flagged' : ''} ${r.outcome !== 'opened' ? 'not-opened' : ''} ${mine ? 'mine' : ''}`.trim(),
    });
    tr.append(el('td', { class: 'index', text: String(i + 1) }), el('td', { class: 'name', text: r.name || r.bidder }));
    if (r.outcome === 'opened') {
      for (const f of fields) {
        tr.append(el('td', { 'data-key': f.key, 'data-label': f.label || f.key, class: f.key === 'price' ? 'price' : '', text: r.sheet?.[f.key] ?? '—' }));
      }
    } else {
      tr.append(el('td', { colspan: String(Math.max(1, fields.length)), class: 'outcome', 'data-label': t('flow.col.decrypt'), text: outcomeLabel(r.outcome) }));
    }
    const fl = el('td', { class: `flags ${flags.length ? '' : 'no-flags'}`, 'data-label': t('flow.col.flags') });
    for (const f of flags) fl.append(el('span', { class: 'tag tag-bad flag', 'data-testid': 'read-out-flag', 'data-flag': f, text: flagLabel(f, ro) }));
    tr.append(fl);
    if (showResp) {
      const b = st.bidders.find((x) => x.sub === r.bidder);
      tr.append(el('td', { class: 'response', 'data-label': t('flow.col.response'), text: b ? responseText(st, b) : '—' }));
    }
    body.append(tr);
  });
  table.append(body);
  ui.readOutTable.replaceChildren(table);
  ui.readOutDigest.textContent = t('flow.readOut.digest', { digest: shortDigest(ro.digest) });
  ui.readOutDigest.title = ro.digest || '';
}

function renderRespond(st, viewer) {
  const me = myRow(st, viewer);
  const waiting = st.phase === 'decryption_closed';
  const on = !!me && me.submitted === true && (!!st.readOut || waiting);
  ui.respond.hidden = !on;
  if (!on) return;
  const phase = st.phase;
  const mine = st.objections.filter((o) => o.bidder === viewer.sub);
  const canConfirm = phase === 'confirming' && !st.confirmClosed && !me.confirmation && !st.pause;
  const hasKey = !!(me.has_key || st.you?.has_key);

  let status;
  let kind = '';
  if (waiting) {
    status = t('flow.respond.waitReadOut');
  } else if (me.confirmation) {
    status = t('flow.respond.confirmedAt', { time: ctx.fmt.time(me.confirmation.at, false), how: t(me.confirmation.method === 'sm2' ? 'flow.response.signed' : 'flow.response.token') });
    kind = 'ok';
  } else if (me.silent) {
    status = t('flow.respond.silent');
    kind = 'bad';
  } else if (phase === 'reading_out') {
    status = t('flow.respond.readingOut');
  } else if (canConfirm) {
    status = mine.length ? t('flow.respond.objectedCanConfirm') : t('flow.respond.confirmNow');
    kind = 'act';
  } else if (st.pause) {
    status = t('flow.respond.paused');
  } else if (mine.length) {
    status = t('flow.respond.objected');
  } else {
    status = t('flow.respond.closed');
  }
  if (me.outcome) {
    status = t('flow.respond.outcome', { outcome: outcomeLabel(me.outcome), reason: me.outcome_reason || '' }) + ' ' + status;
  }
  ui.respondStatus.textContent = status;
  ui.respondStatus.dataset.kind = kind;
  ui.confirmBtn.hidden = !canConfirm || hasKey;
  ui.confirmBtn.disabled = isBusy('confirm');
  ui.signForm.hidden = !canConfirm || !hasKey;
  ui.signBtn.disabled = signBusy;
  ui.signKey.disabled = signBusy;
  ui.signPassword.disabled = signBusy;
  ui.signMsg.hidden = !signMsg || (ui.signForm.hidden && signMsg.kind !== 'ok');
  if (signMsg) {
    ui.signMsg.textContent = t(signMsg.key, signMsg.params || {});
    ui.signMsg.dataset.kind = signMsg.kind;
  }
  ui.objectForm.hidden = !RESPONDING.includes(phase) || (phase === 'confirming' && st.confirmClosed);
  ui.objectInput.placeholder = t('flow.respond.objectPlaceholder');
  ui.objectForm.querySelector('button').disabled = isBusy('object');
}

function renderObjections(st, viewer) {
  const list = st.objections;
  const host = viewer.role === 'host';
  ui.objections.hidden = !(list.length || (host && st.readOut));
  const u = unanswered(st);
  ui.objBadge.hidden = u === 0;
  ui.objBadge.textContent = t('flow.objections.unanswered', { n: u });
  ui.objBadge.dataset.count = String(u);
  const keep = new Set();
  const items = [];
  for (const o of list) {
    const mine = viewer.role === 'bidder' && o.bidder === viewer.sub;
    const li = el('li', { class: `obj ${o.answer ? 'answered' : 'open'} ${mine ? 'mine' : ''}`.trim(), 'data-testid': 'objection', 'data-id': o.id, 'data-answered': String(!!o.answer) });
    li.append(el('p', { class: 'obj-head' },
      el('strong', { text: nameOf(st, o.bidder) }), mine ? el('span', { class: 'me', text: t('bidders.me') }) : null,
      el('span', { class: 'hint', text: ctx.fmt.time(o.at, false) }),
      el('span', { class: `tag ${o.answer ? 'tag-ok' : 'tag-warn'}`, text: o.answer ? t('flow.objections.answered') : t('flow.objections.open') })));
    li.append(el('p', { class: 'obj-text', 'data-testid': 'objection-text', text: o.text }));
    if (o.answer) {
      li.append(el('p', { class: 'obj-answer', 'data-testid': 'objection-answer' },
        el('span', { class: 'obj-answer-label', text: t('flow.objections.answerBy', { time: ctx.fmt.time(o.answered_at, false) }) }), el('span', { text: o.answer })));
    } else if (host) {
      keep.add(o.id);
      let f = answerForms.get(o.id);
      if (!f) {
        f = buildAnswerForm(o);
        answerForms.set(o.id, f);
      }
      f.input.placeholder = t('flow.objections.answerPlaceholder');
      f.button.textContent = t('flow.objections.answer');
      f.button.disabled = isBusy('answer_objection');
      li.append(f.box);
    }
    items.push(li);
  }
  for (const id of answerForms.keys()) if (!keep.has(id)) answerForms.delete(id);
  if (!items.length) items.push(el('li', { class: 'empty', text: t('flow.objections.none') }));
  // Keep the focused answer box where it is: move, do not recreate it.
  const focused = document.activeElement;
  ui.objList.replaceChildren(...items.reverse());
  if (focused && ui.objList.contains(focused)) focused.focus();
}

function buildAnswerForm(o) {
  const f = {};
  f.box = el('form', { class: 'answer-form', 'data-testid': 'answer-form' });
  f.input = el('textarea', { rows: '2', maxlength: '2000', 'data-testid': 'answer-input' });
  f.button = el('button', { type: 'submit', class: 'primary', 'data-testid': 'answer-send' });
  f.box.append(f.input, f.button);
  f.box.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = f.input.value.trim();
    if (!text) {
      f.input.focus();
      return;
    }
    ctx.command('answer_objection', { id: o.id, text }, 'flow.cmd.answer');
  });
  return f;
}

function alertItems(st) {
  // Live price_alert events, else the flags of the read-out (after a reload).
  if (st.priceAlerts.length) return st.priceAlerts.map((a) => ({ bidder: a.bidder, flag: a.flag, price: a.price, at: a.at }));
  const out = [];
  for (const r of st.readOut?.rows || []) for (const f of r.flags || []) out.push({ bidder: r.bidder, flag: f, price: r.sheet?.price });
  return out;
}

function renderAlerts(st, viewer) {
  const sup = viewer.role === 'supervisor' || viewer.role === 'admin';
  const items = sup ? alertItems(st) : [];
  ui.alerts.hidden = !sup || !st.readOut;
  if (!sup) {
    ui.toast.hidden = true;
    return;
  }
  ui.alertList.replaceChildren(...items.map((a) => el('li', { class: 'alert-item', 'data-testid': 'price-alert', 'data-flag': a.flag, 'data-sub': a.bidder },
    el('strong', { text: nameOf(st, a.bidder) }),
    el('span', { class: 'tag tag-bad', text: flagLabel(a.flag, st.readOut) }),
    el('span', { class: 'mono', text: a.price ? ctx.fmt.price(a.price) : '' }))));
  if (!items.length) ui.alertList.append(el('li', { class: 'empty', text: t('flow.alerts.none') }));
  // A toast for alerts that arrive live.
  if (st.priceAlerts.length > alertsSeen) {
    // Alerts arriving while the toast is up join it.
    const from = ui.toast.hidden ? alertsSeen : toastFrom;
    toastFrom = from;
    const fresh = st.priceAlerts.slice(from);
    alertsSeen = st.priceAlerts.length;
    ui.toast.textContent = t('flow.alerts.toast', { items: fresh.map((a) => `${nameOf(st, a.bidder)}：${flagLabel(a.flag, st.readOut)}`).join('；') });
    ui.toast.hidden = false;
    clearTimeout(alertTimer);
    alertTimer = setTimeout(() => (ui.toast.hidden = true), 12_000);
  }
}

function renderNotes(st, viewer) {
  const sup = viewer.role === 'supervisor';
  const seesNotes = sup || viewer.role === 'admin';
  ui.notes.hidden = !seesNotes;
  if (!seesNotes) return;
  ui.noteForm.hidden = !sup;
  const people = [
    ...st.bidders.map((b) => ({ id: b.sub, label: `${t('role.bidder')} · ${b.name || b.sub}` })),
    ...st.staff.filter((p) => p.role === 'host').map((p) => ({ id: p.sub, label: `${t('role.host')} · ${p.name || p.sub}` })),
  ];
  const cur = ui.noteSubject.value;
  const sig = JSON.stringify(people) + t('flow.notes.pick');
  if (ui.noteSubject.dataset.sig !== sig) {
    ui.noteSubject.replaceChildren(el('option', { value: '', text: t('flow.notes.pick') }), ...people.map((p) => el('option', { value: p.id, text: p.label })));
    ui.noteSubject.value = people.some((p) => p.id === cur) ? cur : '';
    ui.noteSubject.dataset.sig = sig;
  }
  ui.noteText.placeholder = t('flow.notes.placeholder');
  ui.noteForm.querySelector('button').disabled = isBusy('note_violation');
  const items = [...st.notes].reverse().map((n) => el('li', { class: 'note-item', 'data-testid': 'note' },
    el('p', { class: 'obj-head' }, el('strong', { text: nameOf(st, n.subject) }), el('span', { class: 'hint', text: `${nameOf(st, n.by)} · ${ctx.fmt.time(n.at, false)}` })),
    el('p', { class: 'obj-text', text: n.text })));
  if (!items.length) items.push(el('li', { class: 'empty', text: t('flow.notes.none') }));
  ui.noteList.replaceChildren(...items);
}

// conversationOf says which thread a message belongs to, for staff.
function conversationOf(m) {
  if (m.to === 'supervisors' || m.from_role === 'supervisor') return 'supervisors';
  if (m.from_role === 'bidder') return m.from;
  return m.to;
}

function renderChat(st, viewer) {
  const role = viewer.role;
  const on = ['host', 'supervisor', 'bidder'].includes(role) && st.phase !== 'closed';
  const seen = ['host', 'supervisor', 'bidder'].includes(role) && st.chat.length > 0;
  ui.chat.hidden = !(on || seen);
  if (ui.chat.hidden) return;
  const staffView = role === 'host' || role === 'supervisor';
  ui.chat.querySelector('h2').dataset.i18nFlow = role === 'host' ? 'flow.chat.titleHost' : 'flow.chat.title';
  ui.chat.querySelector('h2').textContent = t(ui.chat.querySelector('h2').dataset.i18nFlow);
  let msgs = st.chat;
  ui.chatConvs.hidden = !staffView;
  if (staffView) {
    const convs = ['supervisors', ...st.bidders.filter((b) => b.submitted !== false || st.chat.some((m) => conversationOf(m) === b.sub)).map((b) => b.sub)];
    if (!chatWith || !convs.includes(chatWith)) chatWith = role === 'supervisor' ? 'supervisors' : convs[0];
    ui.chatConvs.replaceChildren(...convs.map((c) => {
      const all = st.chat.filter((m) => conversationOf(m) === c);
      const fromOthers = all.filter((m) => m.from !== viewer.sub).length;
      if (c === chatWith) chatSeen.set(c, fromOthers);
      const unread = fromOthers - (chatSeen.get(c) || 0);
      const b = el('button', { type: 'button', role: 'tab', class: `conv ${c === chatWith ? 'active' : ''}`, 'aria-selected': String(c === chatWith), 'data-testid': 'chat-conv', 'data-conv': c },
        el('span', { class: 'conv-name', text: nameOf(st, c) }), unread > 0 ? el('span', { class: 'badge small', 'data-testid': 'chat-unread', text: String(unread) }) : null);
      b.addEventListener('click', () => {
        chatWith = c;
        render();
      });
      return b;
    }));
    msgs = st.chat.filter((m) => conversationOf(m) === chatWith);
  }
  const atBottom = ui.chatLog.scrollHeight - ui.chatLog.scrollTop - ui.chatLog.clientHeight < 40;
  const items = msgs.map((m) => {
    const mine = m.from === viewer.sub && m.from_role === role;
    const who = mine ? t('flow.chat.me') : m.from_role === 'host' ? t('role.host') : `${t(`role.${m.from_role}`)} · ${nameOf(st, m.from)}`;
    return el('li', { class: `msg ${mine ? 'mine' : ''}`, 'data-testid': 'chat-message', 'data-from-role': m.from_role },
      el('span', { class: 'msg-meta', text: `${who} · ${ctx.fmt.time(m.at, false)}` }), el('span', { class: 'msg-text', text: m.text }));
  });
  if (!items.length) items.push(el('li', { class: 'empty', text: role === 'bidder' ? t('flow.chat.emptyBidder') : t('flow.chat.empty') }));
  ui.chatLog.replaceChildren(...items);
  if (atBottom) ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
  const canWrite = on && (role !== 'supervisor' || chatWith === 'supervisors');
  ui.chatForm.hidden = !canWrite;
  ui.chatReadOnly.hidden = canWrite || !on;
  ui.chatReadOnly.textContent = t('flow.chat.readOnly');
  ui.chatInput.placeholder = role === 'host' ? t('flow.chat.toPlaceholder', { name: nameOf(st, chatWith) }) : t('flow.chat.toHost');
  ui.chatForm.querySelector('button').disabled = isBusy('chat');
}

function renderRecord(st, viewer) {
  const r = st.record;
  const host = viewer.role === 'host';
  ui.record.hidden = !r && !(host && (st.phase === 'failed' || (st.phase === 'confirming' && st.confirmClosed)));
  if (ui.record.hidden) return;
  ui.recordLink.hidden = !r;
  if (r) {
    ui.recordText.textContent = t('flow.record.signed', { time: ctx.fmt.time(r.at) });
    ui.recordLink.textContent = t('flow.record.open');
    ui.recordLink.href = recordURL();
    if (!ui.recordLink.dataset.wired) {
      ui.recordLink.addEventListener('click', openRecord);
      ui.recordLink.dataset.wired = '1';
    }
    ui.recordMeta.textContent = t('flow.record.meta', { digest: shortDigest(r.digest), size: r.size, key: shortDigest(r.key_id) });
    ui.recordMeta.title = r.digest;
  } else {
    ui.recordText.textContent = recordReady(st) ? t('flow.record.ready') : t('flow.console.answerFirst', { n: unanswered(st) });
    ui.recordMeta.textContent = '';
  }
}
