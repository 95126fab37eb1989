// The admin's side of an evaluation's results (评标结果, RULES.md R23–R24)
// in the pool console (admin-pool.html, its 评标结果 tab): where the
// evaluation stands — report complete, platform-signed, candidates
// published, publicity running or closed, objections, notices — and the
// one next step: have the platform sign the report, publish the
// candidates, answer each objection, issue the award and result notices.
// Each step is the server's (api/evaluation_results.go): this page checks
// what it can first, confirms what cannot be undone, and says every
// refusal in words.
//
// What the admin can read: the evaluation room's admin view (its phase and
// `results`: publicity, objections, notices by digest — never the scores
// or the report), GET /sessions/{opening}/results with the admin key (the
// objections and the notices' texts and signatures), and the opening's
// view for the bidders' names. The admin's view does not show the
// platform's signature of the report: in phase `reported` the page asks
// POST /evaluations/{id}/report, which answers the same signature again
// when a supervisor had it signed already.

import './i18n-admin-results.js';
import { lang, t } from './i18n.js';
import { $, el } from './dom.js';
import { fmtAmount } from './format.js';
import { ID_RE, now, beijing, span, ApiError, api, request, describe as describeBase, showError, keyRefused, textLength, fact, copyText } from './admin-common.js';

// The phases of an evaluation, in order (rooms/evaluation.go, evaluation_results.go).
const ORDER = ['drawing', 'formed', 'convened', 'scoring', 'tallied', 'reported', 'publicity', 'closed_publicity', 'notified'];
const MIN_DAYS = 3; // R23: 条例 54
const MAX_DAYS = 30; // rooms.MaxPublicityDays
const MAX_TEXT = 2000; // rooms.maxResultText
const POLL_MS = 10_000;

const enc = encodeURIComponent;

/**
 * wireResults wires the results view and the open-by-id forms. d holds
 * what admin-pool.js shares: {phaseLabel, loadSessions, sessions}. It
 * returns {open(id), rerender(), reset(), wireOpen(...)}.
 */
export function wireResults(d) {
  let cur = null; // {id, state, names: Map(sub → name), results, resultsError, at}
  let shown = ''; // what the last render showed, to skip re-rendering the same
  let busy = false;
  let again = null; // a load asked for while one runs: {id, force}, done after it
  const sigs = new Map(); // evaluation id → {sig, before}: the platform's signature, once asked
  const issued = new Map(); // evaluation id → POST …/notices's answer
  const drafts = new Map(); // "evaluation/objection" → the answer being written
  const confirming = new Set(); // "evaluation/objection" whose confirmation is open
  const answerErrors = new Map(); // "evaluation/objection" → what went wrong

  const at = (phase, p) => ORDER.indexOf(phase) >= ORDER.indexOf(p);
  const when = (iso) => beijing(iso);
  /** left says ms in whole minutes, rounded down, a minute at the least. */
  const left = (ms) => span(Math.max(1, Math.floor(ms / 60e3)));

  // ---- the server's refusals, in words ----

  const FIELD = { note: 'ar.field.note', answer: 'ar.field.answer' };
  const phaseOf = (p) => d.phaseLabel('evaluation', p);
  const timeOf = (s) => (Number.isNaN(Date.parse(s)) ? s : when(s));
  const KNOWN = [
    [/^days must be (\d+)-(\d+) .*got (-?\d+)/, (m) => t('ar.srv.days', { a: m[1], b: m[2], d: m[3] })],
    [/^the candidates were published at (\S+)/, (m) => t('ar.srv.published', { time: timeOf(m[1]) })],
    [/^the candidates are published once .*\(it is (\S+)\)/, (m) => t('ar.srv.notSigned', { phase: phaseOf(m[1]) })],
    [/^the platform signs the report once every member signed it/, () => t('ar.srv.reportNotDone')],
    [/^objection (\S+) was answered at (\S+)/, (m) => t('ar.srv.answered', { id: m[1], time: timeOf(m[2]) })],
    [/^objections to the result are answered during .*\(it is (\S+)\)/, (m) => t('ar.srv.answerPhase', { phase: phaseOf(m[1]) })],
    [/^no objection "([^"]*)"/, (m) => t('ar.srv.noObjection', { id: m[1] })],
    [/^the notices are issued once .*\(it is (\S+)\)/, (m) => t('ar.srv.noticesPhase', { phase: phaseOf(m[1]) })],
    [/^objection (.+) is not answered yet/, (m) => t('ar.srv.noticesOpen', { list: m[1] })],
    [/^the notices were issued at (\S+)/, (m) => t('ar.srv.noticesIssued', { time: timeOf(m[1]) })],
    [/^the report names no (candidate|winner)/, () => t('ar.srv.noCandidate')],
    [/^(note|answer) is required/, (m) => t('ar.srv.required', { field: t(FIELD[m[1]]) })],
    [/^(note|answer) must be valid text of at most (\d+)/, (m) => t('ar.srv.tooLong', { field: t(FIELD[m[1]]), n: m[2] })],
    [/^the notices were being issued by another request/, () => t('ar.srv.busy')],
    [/^the \d+ notices of .* would take/, (m) => t('ar.srv.tooMany', { message: m[0] })],
  ];

  function describe(err) {
    if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 413) {
      for (const [re, say] of KNOWN) {
        const m = (err.message || '').match(re);
        if (m) return t('admin.err.refused', { message: say(m) });
      }
    }
    return describeBase(err);
  }

  /** call runs fn; a 401 signs the page out, anything else is said at errorId (or returned). */
  async function call(errorId, fn) {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      if (keyRefused(err)) return { ok: false, signedOut: true };
      const msg = describe(err);
      if (errorId) showError(errorId, msg);
      return { ok: false, err, msg };
    }
  }

  // ---- picking an evaluation ----

  /** wireOpen makes a form with an id field open #key=ID (the evaluation by id). */
  function wireOpen(formId, inputId, errorId, key, pickId) {
    $(formId).addEventListener('submit', (e) => {
      e.preventDefault();
      showError(errorId, '');
      const typed = $(inputId).value.trim();
      const id = typed || (pickId ? $(pickId).value : '');
      if (!id) {
        showError(errorId, t('ar.v.pick'));
        $(inputId).focus();
        return;
      }
      if (!ID_RE.test(id)) {
        showError(errorId, t('ar.v.id'));
        $(inputId).focus();
        return;
      }
      $(inputId).value = '';
      const hash = `#${key}=${enc(id)}`;
      if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
      else location.hash = hash;
    });
  }

  function renderPicker() {
    const evals = d.sessions().filter((s) => s.kind === 'evaluation');
    const sel = $('ar-pick');
    sel.replaceChildren(...(evals.length
      ? [el('option', { value: '' }, t('ar.pickPrompt')),
        ...evals.map((s) => el('option', { value: s.id }, t('ar.pickOption', { id: s.id, title: s.title, phase: phaseOf(s.phase) })))]
      : [el('option', { value: '' }, t('ar.pickNone'))]));
    sel.disabled = evals.length === 0;
    sel.value = cur && evals.some((s) => s.id === cur.id) ? cur.id : '';
  }

  // ---- loading ----

  async function open(id) {
    showError('ar-error', '');
    if (!cur || cur.id !== id) {
      cur = null;
      shown = '';
      $('ar-panel').hidden = true;
      for (const e of ['ar-sign-error', 'ar-publish-error', 'ar-issue-error']) showError(e, '');
      $('ar-publish-confirm').hidden = true;
      $('ar-issue-confirm').hidden = true;
    }
    await d.loadSessions('ar-error');
    renderPicker();
    if (!id) return;
    await load(id);
    renderPicker();
  }

  async function load(id, { force = false } = {}) {
    if (busy) {
      again = { id, force: force || (again?.force ?? false) };
      return;
    }
    busy = true;
    try {
      const v = await call('', () => api('GET', `/api/v1/sessions/${enc(id)}`));
      if (!v.ok) {
        if (!v.signedOut) showError('ar-error', v.err?.status === 404 ? t('ar.notFound', { id }) : v.msg);
        return;
      }
      const st = v.value.state;
      if (st.kind !== 'evaluation') {
        showError('ar-error', t('ap.ev.notEval', { id }));
        $('ar-panel').hidden = true;
        cur = null;
        return;
      }
      showError('ar-error', '');
      let names = cur && cur.id === id && cur.names.size ? cur.names : null;
      if (!names) {
        names = new Map();
        // The bidders' names come from the opening's view; without them the page shows ids.
        const o = await call('', () => api('GET', `/api/v1/sessions/${enc(st.opening)}`));
        if (o.signedOut) return;
        if (o.ok) for (const b of o.value.state.bidders || []) names.set(b.sub, b.name || '');
      }
      let results = null;
      let resultsError = '';
      if (at(st.phase, 'publicity')) {
        const r = await call('', () => api('GET', `/api/v1/sessions/${enc(st.opening)}/results`));
        if (r.signedOut) return;
        if (r.ok) results = (r.value.evaluations || []).find((e) => e.evaluation === id) || null;
        else resultsError = r.msg;
      }
      cur = { id, state: st, names, results, resultsError, at: now() };
      render(force);
    } finally {
      busy = false;
      if (again) {
        const next = again;
        again = null;
        await load(next.id, { force: next.force });
      }
    }
  }

  // Refresh while the view is open: objections arrive and the publicity
  // closes on the server's clock.
  setInterval(() => {
    if (!cur || $('results-view').hidden || document.hidden) return;
    if (cur.state.phase === 'notified' && cur.results) return;
    load(cur.id);
  }, POLL_MS);
  setInterval(() => {
    if (cur && !$('results-view').hidden) tick();
  }, 1000);

  // ---- what the page shows ----

  const bidderName = (sub) => cur.names.get(sub) || '';
  const who = (sub) => (bidderName(sub) ? `${bidderName(sub)}（${sub}）` : sub);
  const whoEn = (sub) => (bidderName(sub) ? `${bidderName(sub)} (${sub})` : sub);
  const person = (sub) => (lang() === 'en' ? whoEn(sub) : who(sub));

  function objections() {
    return cur.results?.objections || cur.state.results?.objections || [];
  }

  /** notices returns {issuedAt, keyID, list: [{bidder, kind, digest, json?, signature?}], full}. */
  function notices() {
    const mine = issued.get(cur.id);
    const fromResults = cur.results?.notices || [];
    if (fromResults.length) {
      return { issuedAt: fromResults[0].issued_at, keyID: fromResults[0].key_id, list: fromResults, full: true };
    }
    if (mine) {
      return { issuedAt: mine.issued_at, keyID: mine.key_id, list: mine.notices.map((n) => ({ ...n, issued_at: mine.issued_at, key_id: mine.key_id })), full: true };
    }
    const s = cur.state.results?.notices;
    if (s) return { issuedAt: s.issued_at, keyID: s.key_id, list: s.notices || [], full: false };
    return null;
  }

  /** countdown is a text the ticker keeps current: fmt before `until`, past after it. */
  function countdown(until, fmt, past, extra = {}, props = {}) {
    const e = el('span', { ...props, 'data-until': until, 'data-fmt': fmt, 'data-past-fmt': past, 'data-time': when(until) });
    Object.assign(e.dataset, extra);
    fill(e);
    return e;
  }

  function fill(e) {
    const ms = Date.parse(e.dataset.until) - now().getTime();
    const over = ms <= 0;
    e.textContent = t(over ? e.dataset.pastFmt : e.dataset.fmt, { left: left(ms), late: left(-ms), time: e.dataset.time });
    e.dataset.past = String(over);
    const li = e.closest('[data-testid="ar-objection"]');
    if (li && li.dataset.answered === 'false') li.dataset.overdue = String(over);
  }

  function tick() {
    for (const e of $('results-view').querySelectorAll('[data-until]')) fill(e);
    const p = cur.state.results?.publicity;
    if (cur.state.phase === 'publicity' && p && Date.parse(p.ends_at) <= now().getTime()) {
      // The server closes the publicity at ends_at: show it once it has.
      if (!busy && now() - cur.at > 3000) load(cur.id);
    }
  }

  function render(force = false) {
    if (!cur) return;
    const fp = JSON.stringify([lang(), cur.state.phase, cur.state.results, cur.results, cur.resultsError, sigs.get(cur.id), issued.has(cur.id)]);
    $('ar-updated').textContent = t('ar.updated', { time: when(cur.at).slice(11) });
    if (!force && fp === shown) return;
    shown = fp;
    const { id, state: s } = cur;
    $('ar-panel').hidden = false;
    $('ar-panel').dataset.phase = s.phase;
    $('ar-title').textContent = s.title || id;
    $('ar-facts').replaceChildren(
      ...fact(t('ap.ev.id'), el('span', { class: 'mono' }, id), 'ar-id'),
      ...fact(t('ap.ev.opening'), el('span', { class: 'mono' }, s.opening)),
      ...fact(t('ap.ev.tenderer'), s.tenderer),
      ...fact(t('admin.col.phase'), el('span', { class: 'tag phase-tag', 'data-phase': s.phase }, phaseOf(s.phase)), 'ar-phase'));
    renderStages();
    renderNext();
    renderPublicity();
    renderObjections();
    renderNotices();
  }

  function renderStages() {
    const s = cur.state;
    const r = s.results || {};
    const p = r.publicity;
    const objs = objections();
    const open = objs.filter((o) => !o.answer);
    const n = notices();
    const signed = at(s.phase, 'publicity') || sigs.has(cur.id);
    const stages = [
      ['report', at(s.phase, 'reported') ? 'done' : 'current', at(s.phase, 'reported') ? t('ar.sv.reportDone') : t('ar.sv.reportWait', { phase: phaseOf(s.phase) })],
      ['platform', signed ? 'done' : s.phase === 'reported' ? 'current' : 'todo', signed ? t('ar.sv.platformDone') : s.phase === 'reported' ? t('ar.sv.platformTodo') : t('ar.sv.todo')],
      ['publish', p ? 'done' : signed ? 'current' : 'todo', p ? t('ar.sv.published', { time: when(p.starts_at), days: p.days }) : signed ? t('ar.sv.publishTodo') : t('ar.sv.todo')],
      ['publicity', !p ? 'todo' : at(s.phase, 'closed_publicity') ? 'done' : 'current',
        !p ? t('ar.sv.todo') : at(s.phase, 'closed_publicity') ? t('ar.sv.closed', { time: when(p.ends_at) }) : countdown(p.ends_at, 'ar.sv.running', 'ar.sv.ending')],
      ['objections', !p ? 'todo' : open.length ? 'current' : 'done',
        !p ? t('ar.sv.todo') : objs.length === 0 ? t('ar.sv.objNone') : open.length ? t('ar.sv.objOpen', { n: objs.length, open: open.length }) : t('ar.sv.objDone', { n: objs.length })],
      ['notices', n ? 'done' : s.phase === 'closed_publicity' && open.length === 0 ? 'current' : 'todo',
        n ? t('ar.sv.noticesDone', { time: when(n.issuedAt) }) : s.phase === 'closed_publicity' && open.length === 0 ? t('ar.sv.noticesReady') : t('ar.sv.noticesTodo')],
    ];
    $('ar-stages').replaceChildren(...stages.map(([k, state, value]) => el('li', { class: 'ar-stage', testid: 'ar-stage', 'data-stage': k, 'data-state': state },
      el('span', { class: 'ar-stage-name' }, t(`ar.st.${k}`)),
      el('span', { class: 'ar-stage-value', testid: `ar-stage-${k}` }, value))));
  }

  function renderNext() {
    const s = cur.state;
    const p = s.results?.publicity;
    const open = objections().filter((o) => !o.answer);
    const n = notices();
    const signed = sigs.get(cur.id);
    let step = 'wait';
    if (n || s.phase === 'notified') step = 'done';
    else if (s.phase === 'closed_publicity') step = open.length ? 'answer' : 'issue';
    else if (s.phase === 'publicity') step = 'publicity';
    else if (s.phase === 'reported') step = signed ? 'publish' : 'sign';
    $('ar-next').dataset.step = step;
    const title = { wait: 'ar.next.waitTitle', sign: 'ar.next.signTitle', publish: 'ar.next.publishTitle', publicity: 'ar.next.publicityTitle',
      answer: 'ar.next.answerTitle', issue: 'ar.next.issueTitle', done: 'ar.next.doneTitle' }[step];
    $('ar-next-title').textContent = t(title);
    const hint = $('ar-next-hint');
    hint.replaceChildren();
    const refs = open.map((o) => t('ar.obj.ref', { id: o.id, bidder: bidderName(o.bidder) || o.bidder })).join(t('ap.listSep'));
    if (step === 'wait') hint.textContent = t('ar.next.waitHint', { phase: phaseOf(s.phase) });
    else if (step === 'sign') hint.textContent = t('ar.next.signHint');
    else if (step === 'publish') hint.textContent = t('ar.next.publishHint');
    else if (step === 'publicity') {
      const ending = Date.parse(p.ends_at) <= now().getTime();
      hint.textContent = ending ? t('ar.next.endingHint', { end: when(p.ends_at) })
        : t('ar.next.publicityHint', { end: when(p.ends_at) });
    } else if (step === 'answer') hint.textContent = t('ar.next.answerHint', { end: when(p.ends_at), n: open.length, list: refs });
    else if (step === 'issue') hint.textContent = t('ar.next.issueHint', { end: when(p.ends_at) });
    else hint.textContent = t('ar.next.doneHint', { time: when(n?.issuedAt || s.results?.notices?.issued_at), n: n?.list.length ?? 0 });

    // Have the platform sign.
    $('ar-sign-box').hidden = step !== 'sign' && !(step === 'publish' && signed);
    $('ar-sign').hidden = step !== 'sign';
    $('ar-sig').hidden = !signed;
    if (signed) {
      $('ar-sig-note').textContent = t(signed.before ? 'ar.signedBefore' : 'ar.signed');
      $('ar-sig-facts').replaceChildren(
        ...fact(t('ar.sig.digest'), el('span', { class: 'mono ap-hash' }, signed.sig.digest), 'ar-sig-digest'),
        ...fact(t('ar.sig.key'), el('span', { class: 'mono ap-hash' }, signed.sig.key_id), 'ar-sig-key'));
    }
    // Publish.
    $('ar-publish-form').hidden = step !== 'publish';
    if (step !== 'publish') $('ar-publish-confirm').hidden = true;
  }

  function renderPublicity() {
    const p = cur.state.results?.publicity;
    $('ar-publicity').hidden = !p;
    if (!p) return;
    const closed = at(cur.state.phase, 'closed_publicity');
    const url = new URL(`/api/v1/evaluations/${enc(cur.id)}/publicity`, location.href).href;
    $('ar-pub-facts').replaceChildren(
      ...fact(t('ar.pub.period'), t('ar.pub.periodValue', { start: when(p.starts_at), end: when(p.ends_at), days: p.days }), 'ar-pub-period'),
      ...fact(t('ar.pub.state'), el('span', { class: `tag ${closed ? 'tag-muted' : 'tag-ok'}`, testid: 'ar-pub-state', 'data-state': closed ? 'closed' : 'running' },
        t(closed ? 'ar.pub.closed' : 'ar.pub.running'))),
      ...(p.note ? fact(t('ar.pub.note'), el('span', { class: 'ar-note' }, p.note), 'ar-pub-note') : []),
      ...fact(t('ar.pub.digest'), el('span', { class: 'mono ap-hash' }, p.report_digest)),
      ...fact(t('ar.pub.public'), el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'mono ap-hash', testid: 'ar-pub-link' }, url)));
    $('ar-candidates').querySelector('tbody').replaceChildren(...(p.candidates || []).map((c) => el('tr', { testid: 'ar-candidate', 'data-bidder': c.bidder },
      el('td', { 'data-label': t('ar.col.rank') }, t('ar.rank', { n: c.rank })),
      el('td', { 'data-label': t('ar.col.bidder'), class: 'title' }, el('span', {}, `${c.name} `, el('span', { class: 'mono hint' }, c.bidder))),
      el('td', { 'data-label': t('ar.col.price'), class: 'num' }, fmtAmount(c.price)),
      el('td', { 'data-label': t('ar.col.total'), class: 'num' }, c.total))));
  }

  function renderObjections() {
    const p = cur.state.results?.publicity;
    $('ar-objections').hidden = !p;
    if (!p) return;
    const list = objections();
    $('ar-obj-none').hidden = list.length > 0;
    $('ar-obj-list').replaceChildren(...list.map(objectionItem));
  }

  function objectionItem(o) {
    const key = `${cur.id}/${o.id}`;
    const answered = !!o.answer;
    const overdue = !answered && Date.parse(o.due_at) <= now().getTime();
    const li = el('li', { class: 'ar-obj', testid: 'ar-objection', 'data-id': o.id, 'data-bidder': o.bidder, 'data-answered': String(answered), 'data-overdue': String(overdue) });
    const state = answered
      ? el('span', { class: `tag ${o.late ? 'tag-warn' : 'tag-ok'}`, testid: 'ar-obj-state' }, t(o.late ? 'ar.obj.answeredLate' : 'ar.obj.answered'))
      : el('span', { class: 'tag tag-warn', testid: 'ar-obj-state' }, t('ar.obj.open'));
    li.append(
      el('div', { class: 'ar-obj-head' }, el('strong', {}, t('ar.obj.head', { id: o.id })), state),
      el('dl', { class: 'facts ar-obj-facts' },
        ...fact(t('ar.obj.by'), person(o.bidder), 'ar-obj-by'),
        ...fact(t('ar.obj.raised'), o.raised_at ? when(o.raised_at) : '—', 'ar-obj-raised'),
        ...fact(t('ar.obj.due'), el('span', {}, `${when(o.due_at)} `,
          answered ? null : countdown(o.due_at, 'ar.obj.left', 'ar.obj.overdue', {}, { class: 'ar-due', testid: 'ar-obj-due-left' })), 'ar-obj-due')),
      el('blockquote', { class: 'ar-obj-text', testid: 'ar-obj-text' }, o.text));
    if (answered) {
      li.append(el('div', { class: 'ar-answer', testid: 'ar-obj-answer' },
        el('div', { class: 'hint' }, `${t('ar.obj.answer')} · ${t('ar.obj.answerAt')} ${o.answered_at ? when(o.answered_at) : '—'}`),
        el('p', { testid: 'ar-obj-answer-text' }, o.answer)));
      return li;
    }
    const area = el('textarea', { rows: 3, maxLength: MAX_TEXT, testid: 'ar-answer-input', text: drafts.get(key) || '' });
    area.addEventListener('input', () => {
      drafts.set(key, area.value);
      if (confirming.delete(key)) confirmBox.hidden = true;
    });
    const err = el('p', { class: 'form-error', testid: 'ar-answer-error', role: 'alert' }, answerErrors.get(key) || '');
    err.hidden = !answerErrors.get(key);
    const send = el('button', { type: 'button', class: 'primary', testid: 'ar-answer-send' }, t('ar.obj.send'));
    const ok = el('button', { type: 'button', class: 'primary', testid: 'ar-answer-ok' }, t('ar.obj.ok'));
    const cancel = el('button', { type: 'button', testid: 'ar-answer-cancel' }, t('ar.cancel'));
    const confirmBox = el('div', { class: 'ap-confirm', testid: 'ar-answer-confirm' },
      el('p', {}, t('ar.obj.confirm', { bidder: person(o.bidder) })), el('div', { class: 'row-actions' }, ok, cancel));
    confirmBox.hidden = !confirming.has(key);
    const setError = (msg) => {
      if (msg) answerErrors.set(key, msg);
      else answerErrors.delete(key);
      err.textContent = msg || '';
      err.hidden = !msg;
    };
    send.addEventListener('click', () => {
      const text = area.value;
      if (!text.trim()) {
        setError(t('ar.v.answerEmpty'));
        area.focus();
        return;
      }
      if (textLength(text) > MAX_TEXT) {
        setError(t('ar.v.answerLong', { n: textLength(text) }));
        area.focus();
        return;
      }
      setError('');
      confirming.add(key);
      confirmBox.hidden = false;
      ok.focus();
    });
    cancel.addEventListener('click', () => {
      confirming.delete(key);
      confirmBox.hidden = true;
    });
    ok.addEventListener('click', async () => {
      ok.disabled = true;
      send.disabled = true;
      const r = await call('', () => api('POST', `/api/v1/sessions/${enc(cur.id)}/commands`,
        { id: `answer-${o.id}`, type: 'answer_result_objection', data: { id: o.id, answer: area.value } }));
      ok.disabled = false;
      send.disabled = false;
      if (r.signedOut) return;
      confirming.delete(key);
      confirmBox.hidden = true;
      if (!r.ok) {
        setError(r.msg);
        await load(cur.id);
        return;
      }
      drafts.delete(key);
      setError('');
      await load(cur.id, { force: true });
    });
    li.append(el('div', { class: 'ar-answer-form' },
      el('label', { class: 'field wide' }, el('span', {}, t('ar.obj.answerLabel')), area),
      err, el('div', { class: 'row-actions' }, send), confirmBox));
    return li;
  }

  function renderNotices() {
    const s = cur.state;
    const p = s.results?.publicity;
    $('ar-notices').hidden = !p;
    if (!p) return;
    const n = notices();
    const open = objections().filter((o) => !o.answer);
    const issue = $('ar-issue');
    issue.hidden = !!n;
    const why = [];
    if (!n) {
      if (s.phase === 'publicity') {
        why.push(Date.parse(p.ends_at) <= now().getTime() ? t('ar.no.whyEnding') : t('ar.no.whyRunning', { end: when(p.ends_at) }));
      }
      if (open.length) why.push(t('ar.no.whyOpen', { list: open.map((o) => t('ar.obj.ref', { id: o.id, bidder: bidderName(o.bidder) || o.bidder })).join(t('ap.listSep')) }));
    }
    issue.disabled = !!n || why.length > 0 || s.phase !== 'closed_publicity';
    const reason = $('ar-issue-why');
    reason.hidden = !!n;
    reason.dataset.ready = String(!issue.disabled);
    reason.replaceChildren(...(why.length
      ? [el('span', {}, t('ar.no.why')), el('ul', {}, ...why.map((w) => el('li', { testid: 'ar-issue-reason' }, w)))]
      : [el('span', {}, t('ar.no.ready'))]));
    if (issue.disabled) $('ar-issue-confirm').hidden = true;
    const winner = p.candidates?.[0];
    $('ar-issue-confirm-text').textContent = t('ar.no.confirm', { winner: winner ? person(winner.bidder) : '—' });

    $('ar-issued').hidden = !n;
    if (!n) return;
    $('ar-notice-facts').replaceChildren(
      ...fact(t('ar.no.issuedAt'), when(n.issuedAt), 'ar-notices-at'),
      ...fact(t('ar.no.key'), el('span', { class: 'mono ap-hash' }, n.keyID), 'ar-notices-key'),
      ...fact(t('ar.no.count'), t('ar.no.countValue', { n: n.list.length })));
    const noText = $('ar-notices-notext');
    noText.hidden = n.full;
    noText.textContent = n.full ? '' : t('ar.no.noText', { reason: cur.resultsError || '—' });
    $('ar-notices-table').querySelector('tbody').replaceChildren(...n.list.map((x) => {
      const dl = el('button', { type: 'button', testid: 'ar-notice-download', disabled: !x.json }, t('ar.no.download'));
      dl.addEventListener('click', () => download(`notice-${cur.id}-${x.bidder}.json`, noticeFile(x, n)));
      return el('tr', { testid: 'ar-notice', 'data-bidder': x.bidder, 'data-kind': x.kind },
        el('td', { 'data-label': t('ar.col.kind') }, el('span', { class: `tag ${x.kind === 'award' ? 'tag-ok' : 'tag-muted'}` }, t(`ar.kind.${x.kind}`))),
        el('td', { 'data-label': t('ar.col.bidder'), class: 'title' }, person(x.bidder)),
        el('td', { 'data-label': t('ar.col.digest') }, el('span', { class: 'mono ap-hash' }, x.digest)),
        el('td', { 'data-label': t('ar.col.file') }, dl));
    }));
    $('ar-notices-all').disabled = !n.full;
    const origin = location.origin;
    $('ar-verify-cmd').value = [`notices-${cur.id}.json`, ...n.list.map((x) => `notice-${cur.id}-${x.bidder}.json`)]
      .map((f) => `bidroom verify --notice ${f} --server ${origin}`).join('\n');
    $('ar-verify-cmd').rows = Math.min(6, n.list.length + 1);
  }

  /** noticeFile is one notice as bidroom verify --notice reads it (as GET …/results gives it). */
  function noticeFile(x, n) {
    return { bidder: x.bidder, kind: x.kind, json: x.json, digest: x.digest, signature: x.signature, issued_at: x.issued_at || n.issuedAt, key_id: x.key_id || n.keyID };
  }

  function download(name, data) {
    const url = URL.createObjectURL(new Blob([`${JSON.stringify(data, null, 2)}\n`], { type: 'application/json' }));
    const a = el('a', { href: url, download: name });
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  // ---- the steps ----

  $('ar-refresh').addEventListener('click', async () => {
    const b = $('ar-refresh');
    b.disabled = true;
    try {
      if (cur) await load(cur.id, { force: true });
      else {
        await d.loadSessions('ar-error');
        renderPicker();
      }
    } finally {
      b.disabled = false;
    }
  });
  $('ar-pick').addEventListener('change', () => {
    const id = $('ar-pick').value;
    if (!id) return;
    $('ar-pick-id').value = '';
    showError('ar-error', '');
    location.hash = `#results=${enc(id)}`;
  });
  wireOpen('ar-pick-form', 'ar-pick-id', 'ar-error', 'results', 'ar-pick');

  $('ar-sign').addEventListener('click', async () => {
    showError('ar-sign-error', '');
    const b = $('ar-sign');
    b.disabled = true;
    try {
      const id = cur.id;
      const r = await call('ar-sign-error', async () => {
        // 201: signed now; 200: signed before (by a supervisor or another request).
        const { status, data } = await request('POST', `/api/v1/evaluations/${enc(id)}/report`, {});
        return { sig: data.platform_signature, before: status === 200 };
      });
      if (!r.ok) return;
      sigs.set(id, r.value);
      await load(id, { force: true });
    } finally {
      b.disabled = false;
    }
  });

  function readDays(p) {
    const v = $('ar-days').value.trim();
    if (!/^-?\d+$/.test(v)) return p.push(t('ar.v.daysNaN'));
    const n = Number(v);
    if (n < MIN_DAYS) return p.push(t('ar.v.daysShort'));
    if (n > MAX_DAYS) return p.push(t('ar.v.daysLong'));
    return n;
  }

  function publishProblems() {
    for (const e of $('ar-publish-form').querySelectorAll('.field-error')) e.remove();
    for (const e of $('ar-publish-form').querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    const problems = [];
    const days = readDays({ push: (m) => problems.push([$('ar-days'), m]) });
    const note = $('ar-note').value;
    if (textLength(note) > MAX_TEXT) problems.push([$('ar-note'), t('ar.v.noteLong', { n: textLength(note) })]);
    for (const [input, msg] of problems) {
      input.setAttribute('aria-invalid', 'true');
      input.closest('.field').append(el('small', { class: 'field-error', testid: 'field-error' }, msg));
    }
    if (problems.length) {
      problems[0][0].focus();
      return null;
    }
    return { days, note: note.trim() };
  }

  $('ar-publish-form').addEventListener('submit', (e) => {
    e.preventDefault();
    showError('ar-publish-error', '');
    const v = publishProblems();
    if (!v) {
      $('ar-publish-confirm').hidden = true;
      return;
    }
    const end = new Date(now().getTime() + v.days * 86400e3);
    $('ar-publish-confirm-text').textContent = t('ar.publishConfirm', { days: v.days, end: when(end) });
    $('ar-publish-confirm').hidden = false;
    $('ar-publish-ok').focus();
  });
  for (const id of ['ar-days', 'ar-note']) $(id).addEventListener('input', () => ($('ar-publish-confirm').hidden = true));
  $('ar-publish-cancel').addEventListener('click', () => ($('ar-publish-confirm').hidden = true));
  $('ar-publish-ok').addEventListener('click', async () => {
    const v = publishProblems();
    if (!v) return;
    const b = $('ar-publish-ok');
    b.disabled = true;
    try {
      const data = v.note ? { days: v.days, note: v.note } : { days: v.days };
      const r = await call('ar-publish-error', () => api('POST', `/api/v1/sessions/${enc(cur.id)}/commands`,
        { id: 'publish-candidates', type: 'publish_candidates', data }));
      $('ar-publish-confirm').hidden = true;
      if (r.ok) {
        $('ar-note').value = '';
        await load(cur.id, { force: true });
      }
    } finally {
      b.disabled = false;
    }
  });

  $('ar-issue').addEventListener('click', () => {
    $('ar-issue-confirm').hidden = false;
    $('ar-issue-ok').focus();
  });
  $('ar-issue-cancel').addEventListener('click', () => ($('ar-issue-confirm').hidden = true));
  $('ar-issue-ok').addEventListener('click', async () => {
    showError('ar-issue-error', '');
    const b = $('ar-issue-ok');
    b.disabled = true;
    try {
      const id = cur.id;
      const r = await call('ar-issue-error', () => api('POST', `/api/v1/evaluations/${enc(id)}/notices`));
      $('ar-issue-confirm').hidden = true;
      if (r.ok) issued.set(id, r.value);
      await load(id, { force: true });
    } finally {
      b.disabled = false;
    }
  });
  $('ar-notices-all').addEventListener('click', () => {
    const n = notices();
    if (!n?.full) return;
    download(`notices-${cur.id}.json`, { evaluation: cur.id, issued_at: n.issuedAt, key_id: n.keyID, notices: n.list.map((x) => noticeFile(x, n)) });
  });
  $('ar-verify-copy').addEventListener('click', () => copyText($('ar-verify-cmd'), $('ar-verify-copy')));

  return {
    open,
    wireOpen,
    /** rerender redraws in the page's language. */
    rerender() {
      renderPicker();
      if (cur) render(true);
      else $('ar-panel').hidden = true;
    },
    /** reset forgets everything (the admin signed out). */
    reset() {
      cur = null;
      shown = '';
      sigs.clear();
      issued.clear();
      drafts.clear();
      confirming.clear();
      answerErrors.clear();
    },
  };
}
