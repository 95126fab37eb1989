// The bidder's side of the evaluation, on the opening page. Bidders never
// enter an evaluation room (R21): what reaches them comes over the
// opening's REST endpoints with their opening token — the committee's
// written clarification questions (澄清), which they answer here without
// learning who asked, and, once published, the candidates' publicity
// (中标候选人公示) with their objections and, at the end, their notice
// (中标通知书 / 中标结果通知书). Read every POLL_MS while the page is
// visible, and at once when it comes back into view.

import { t, onLangChange } from './i18n.js';
import './i18n-results.js';
import { el } from './dom.js';
import { fmtAmount } from './format.js';

const POLL_MS = 15_000;
const MAX_TEXT = 2000; // characters, as the server's limit

/**
 * startResults shows the panel in mount for a bidder of room and keeps it
 * current; now() is the server's clock. It returns {refresh, stop}.
 */
export function startResults({ room, token, mount, now = () => Date.now(), fmtTime = (s) => new Date(s).toLocaleString() }) {
  const ui = { clarifications: null, results: null, error: null, drafts: new Map(), busy: new Set(), notes: new Map() };
  let timer = null;
  let stopped = false;

  async function api(method, path, body) {
    const r = await fetch(`/api/v1/sessions/${encodeURIComponent(room)}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
    });
    let data = null;
    try {
      data = await r.json();
    } catch {
      // An empty or non-JSON answer: the status says enough.
    }
    if (!r.ok) {
      const err = new Error(data?.error?.message || `HTTP ${r.status}`);
      err.status = r.status;
      err.code = data?.error?.code || '';
      throw err;
    }
    return data;
  }

  async function refresh() {
    if (stopped) return;
    try {
      const [c, res] = await Promise.all([
        api('GET', '/clarifications'),
        api('GET', '/results').catch((e) => (e.status === 404 ? null : Promise.reject(e))),
      ]);
      ui.clarifications = c.clarifications || [];
      ui.results = res;
      ui.error = null;
    } catch (e) {
      ui.error = e.status === 403 ? t('results.err.forbidden', { message: e.message }) : t('results.err.load', { message: e.message });
    }
    render();
  }

  async function answer(q) {
    const key = `${q.evaluation}/${q.id}`;
    const text = (ui.drafts.get(key) || '').trim();
    if (!text) {
      ui.notes.set(key, { kind: 'error', text: t('results.answer.empty') });
      render();
      return;
    }
    if (!confirm(t('results.answer.confirm'))) return;
    ui.busy.add(key);
    render();
    try {
      await api('POST', `/clarifications/${encodeURIComponent(q.evaluation)}/${encodeURIComponent(q.id)}`, { answer: text });
      ui.drafts.delete(key);
      ui.notes.set(key, { kind: 'ok', text: t('results.answer.sent') });
    } catch (e) {
      const why = e.status === 409 ? t('results.answer.closed', { message: e.message }) : t('results.answer.failed', { message: e.message });
      ui.notes.set(key, { kind: 'error', text: why });
    }
    ui.busy.delete(key);
    await refresh();
  }

  function renderClarification(q) {
    const key = `${q.evaluation}/${q.id}`;
    const late = !q.answer && new Date(q.due_at).getTime() <= now();
    const status = q.answer ? 'answered' : late ? 'late' : 'open';
    const li = el('li', { class: 'clarification', 'data-testid': 'clarification', 'data-id': q.id, 'data-status': status },
      el('p', { class: 'clarification-q', 'data-testid': 'clarification-question', text: q.question }),
      el('p', { class: 'hint', text: t(`results.clar.${status}`, { due: fmtTime(q.due_at), at: q.answered_at ? fmtTime(q.answered_at) : '' }) }),
    );
    if (q.answer) {
      li.append(el('p', { class: 'clarification-a', 'data-testid': 'clarification-answer', text: q.answer }));
    } else if (!late) {
      const area = el('textarea', { rows: 3, maxlength: MAX_TEXT, 'data-testid': 'clarification-input', 'aria-label': t('results.answer.label') });
      area.value = ui.drafts.get(key) || '';
      area.addEventListener('input', () => ui.drafts.set(key, area.value));
      const send = el('button', { type: 'button', class: 'primary', 'data-testid': 'clarification-send', disabled: ui.busy.has(key),
        text: ui.busy.has(key) ? t('results.answer.sending') : t('results.answer.send') });
      send.addEventListener('click', () => answer(q));
      li.append(el('label', { class: 'clarification-form' }, el('span', { text: t('results.answer.label') }), area), send);
    }
    const note = ui.notes.get(key);
    if (note) li.append(el('p', { class: `form-${note.kind === 'ok' ? 'ok' : 'error'}`, 'data-testid': 'clarification-note', role: 'status', text: note.text }));
    return li;
  }

  function render() {
    if (stopped) return;
    const qs = ui.clarifications || [];
    const evals = ui.results?.evaluations || [];
    mount.hidden = !ui.error && qs.length === 0 && evals.length === 0;
    const body = [];
    if (ui.error) body.push(el('p', { class: 'form-error', 'data-testid': 'results-error', role: 'alert', text: ui.error }));
    if (qs.length) {
      body.push(el('h3', { text: t('results.clar.title') }), el('p', { class: 'hint', text: t('results.clar.hint') }),
        el('ul', { class: 'clarifications', 'data-testid': 'clarifications' }, ...qs.map(renderClarification)));
    }
    for (const ev of evals) body.push(...renderOutcome(ev));
    mount.replaceChildren(el('h2', { text: t('results.title') }), ...body);
  }

  // renderOutcome is filled in by the publicity and the notices (below).
  function renderOutcome(ev) {
    return outcomeParts(ev, { api, refresh, now, fmtTime, ui, render, authHeader: { Authorization: `Bearer ${token}` } });
  }

  function schedule() {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(async () => {
      if (document.visibilityState === 'visible') await refresh();
      schedule();
    }, POLL_MS);
  }
  const onVisible = () => {
    if (document.visibilityState === 'visible') refresh();
  };
  document.addEventListener('visibilitychange', onVisible);
  onLangChange(render);
  refresh();
  schedule();
  return {
    refresh,
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}


/** newKey is an idempotency key for one objection draft. */
function newKey() {
  return globalThis.crypto?.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

/** saveNotice offers the notice as a JSON file, the form `bidroom verify --notice` reads. */
function saveNotice(n) {
  const blob = new Blob([JSON.stringify(n, null, 2)], { type: 'application/json' });
  const a = el('a', { href: URL.createObjectURL(blob), download: `${n.kind}-notice-${n.bidder}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** outcomeParts renders one evaluation's publicity, the bidder's objections and their notice. */
function outcomeParts(ev, ctx) {
  const { api, refresh, now, fmtTime, ui, render } = ctx;
  const pub = ev.publicity || {};
  const running = !ev.closed && new Date(pub.ends_at).getTime() > now();
  const parts = [];
  const rows = (pub.candidates || []).map((c) =>
    el('tr', { 'data-testid': 'candidate', 'data-bidder': c.bidder },
      el('td', { text: String(c.rank) }), el('td', { text: c.name }), el('td', { class: 'mono', text: fmtAmount(c.price) }),
      el('td', { class: 'mono', text: c.total })));
  parts.push(
    el('h3', { text: t('results.pub.title') }),
    el('p', { class: 'hint', 'data-testid': 'publicity-period', 'data-state': running ? 'running' : 'ended',
      text: t(running ? 'results.pub.running' : 'results.pub.ended', { from: fmtTime(pub.starts_at), to: fmtTime(pub.ends_at) }) }),
    el('div', { class: 'table-wrap' }, el('table', { class: 'candidates', 'data-testid': 'candidates' },
      el('thead', {}, el('tr', {}, ...['rank', 'name', 'price', 'total'].map((k) => el('th', { text: t(`results.pub.${k}`) })))),
      el('tbody', {}, ...rows))),
  );
  if (pub.note) parts.push(el('p', { class: 'hint', text: pub.note }));

  const mine = ev.my_objections || [];
  if (mine.length) {
    parts.push(el('h4', { text: t('results.obj.mine') }), el('ul', { class: 'objections', 'data-testid': 'result-objections' },
      ...mine.map((o) => el('li', { 'data-testid': 'result-objection', 'data-answered': String(!!o.answer) },
        el('p', { text: o.text }),
        el('p', { class: 'hint', text: o.answer ? t('results.obj.answered', { at: fmtTime(o.answered_at) }) : t('results.obj.waiting', { due: fmtTime(o.due_at) }) }),
        o.answer ? el('p', { class: 'clarification-a', 'data-testid': 'result-objection-answer', text: o.answer }) : null))));
  }
  if (running) {
    const key = `objection/${ev.evaluation}`;
    const area = el('textarea', { rows: 3, maxlength: MAX_TEXT, 'data-testid': 'objection-input', 'aria-label': t('results.obj.label') });
    area.value = ui.drafts.get(key)?.text || '';
    area.addEventListener('input', () => ui.drafts.set(key, { text: area.value, idem: ui.drafts.get(key)?.idem || newKey() }));
    const send = el('button', { type: 'button', 'data-testid': 'objection-send', disabled: ui.busy.has(key),
      text: ui.busy.has(key) ? t('results.answer.sending') : t('results.obj.send') });
    send.addEventListener('click', async () => {
      const d = ui.drafts.get(key);
      if (!d || !d.text.trim()) {
        ui.notes.set(key, { kind: 'error', text: t('results.obj.empty') });
        render();
        return;
      }
      if (!confirm(t('results.obj.confirm'))) return;
      ui.busy.add(key);
      render();
      try {
        const r = await fetch(`/api/v1/sessions/${encodeURIComponent(pub.opening)}/results/${encodeURIComponent(ev.evaluation)}/objections`, {
          method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': d.idem, ...ctx.authHeader },
          body: JSON.stringify({ text: d.text.trim() }),
        });
        const body = await r.json().catch(() => null);
        if (!r.ok) throw new Error(body?.error?.message || `HTTP ${r.status}`);
        ui.drafts.delete(key);
        ui.notes.set(key, { kind: 'ok', text: t('results.obj.sent') });
      } catch (e) {
        ui.notes.set(key, { kind: 'error', text: t('results.obj.failed', { message: e.message }) });
      }
      ui.busy.delete(key);
      await refresh();
    });
    parts.push(el('label', { class: 'clarification-form' }, el('span', { text: t('results.obj.label') }), area), send);
  }
  const note = ui.notes.get(`objection/${ev.evaluation}`);
  if (note) parts.push(el('p', { class: `form-${note.kind === 'ok' ? 'ok' : 'error'}`, role: 'status', 'data-testid': 'objection-note', text: note.text }));

  if (ev.notice) {
    const n = ev.notice;
    let doc = {};
    try {
      doc = JSON.parse(n.json);
    } catch {
      // Shown by digest only; verify --notice says what is wrong with it.
    }
    const save = el('button', { type: 'button', 'data-testid': 'notice-save', text: t('results.notice.save') });
    save.addEventListener('click', () => saveNotice(n));
    parts.push(el('section', { class: `notice notice-${n.kind}`, 'data-testid': 'notice', 'data-kind': n.kind },
      el('h3', { text: t(n.kind === 'award' ? 'results.notice.award' : 'results.notice.result') }),
      el('p', { 'data-testid': 'notice-text', text: t(n.kind === 'award' ? 'results.notice.awardText' : 'results.notice.resultText',
        { bidder: doc.bidder_name || n.bidder, winner: doc.winner_name || '', price: doc.price ? fmtAmount(doc.price) : '', title: doc.title || '' }) }),
      el('p', { class: 'hint', text: t('results.notice.issued', { at: fmtTime(n.issued_at) }) }),
      el('p', { class: 'hint mono', 'data-testid': 'notice-digest', text: t('results.notice.digest', { digest: n.digest, key: n.key_id }) }),
      save));
  }
  return parts;
}

const CONDUCTS = ['good', 'fair', 'poor'];

/**
 * startHostRatings shows the host of room the committees of its finished
 * evaluations and lets them rate each member's conduct (R25); a poor
 * rating needs a written reason and lowers the expert's credit in the pool.
 * It returns {refresh, stop}.
 */
export function startHostRatings({ room, token, mount, fmtTime = (s) => new Date(s).toLocaleString() }) {
  const ui = { evaluations: null, error: null, notes: new Map(), busy: new Set(), drafts: new Map() };
  let stopped = false;
  let timer = null;
  const auth = { Authorization: `Bearer ${token}` };

  async function refresh() {
    if (stopped) return;
    try {
      const r = await fetch(`/api/v1/sessions/${encodeURIComponent(room)}/ratings`, { headers: auth, cache: 'no-store' });
      const body = await r.json().catch(() => null);
      if (!r.ok) throw new Error(body?.error?.message || `HTTP ${r.status}`);
      ui.evaluations = body.evaluations || [];
      ui.error = null;
    } catch (e) {
      ui.error = t('results.err.load', { message: e.message });
    }
    render();
  }

  async function rate(ev, m, conduct, note) {
    const key = `${ev.evaluation}/${m.expert}`;
    if (conduct === 'poor' && !note.trim()) {
      ui.notes.set(key, { kind: 'error', text: t('ratings.needNote') });
      render();
      return;
    }
    ui.busy.add(key);
    render();
    try {
      const r = await fetch(`/api/v1/sessions/${encodeURIComponent(room)}/results/${encodeURIComponent(ev.evaluation)}/ratings`, {
        method: 'POST', headers: { ...auth, 'Content-Type': 'application/json', 'Idempotency-Key': newKey() },
        body: JSON.stringify({ expert: m.expert, conduct, note: note.trim() }),
      });
      const body = await r.json().catch(() => null);
      if (!r.ok) throw new Error(body?.error?.message || `HTTP ${r.status}`);
      ui.notes.set(key, { kind: 'ok', text: t('ratings.saved') });
      ui.drafts.delete(key);
    } catch (e) {
      ui.notes.set(key, { kind: 'error', text: t('ratings.failed', { message: e.message }) });
    }
    ui.busy.delete(key);
    await refresh();
  }

  function memberRow(ev, m) {
    const key = `${ev.evaluation}/${m.expert}`;
    const mine = (ev.ratings || []).find((x) => x.expert === m.expert);
    // What the host is choosing survives every re-render until it is saved.
    const draft = ui.drafts.get(key) || { conduct: mine?.conduct || 'good', note: mine?.note || '' };
    const select = el('select', { 'data-testid': 'rating-conduct', 'aria-label': t('ratings.conduct') },
      ...CONDUCTS.map((c) => el('option', { value: c, text: t(`ratings.${c}`), selected: draft.conduct === c })));
    const note = el('input', { type: 'text', maxlength: 500, 'data-testid': 'rating-note', placeholder: t('ratings.notePlaceholder'), 'aria-label': t('ratings.note') });
    note.value = draft.note;
    const keep = () => ui.drafts.set(key, { conduct: select.value, note: note.value });
    select.addEventListener('change', keep);
    note.addEventListener('input', keep);
    const save = el('button', { type: 'button', 'data-testid': 'rating-save', disabled: ui.busy.has(key), text: t('ratings.save') });
    save.addEventListener('click', () => rate(ev, m, select.value, note.value));
    const n = ui.notes.get(key);
    return el('li', { class: 'rating', 'data-testid': 'rating', 'data-expert': m.expert, 'data-conduct': mine?.conduct || '' },
      el('div', { class: 'rating-who' }, el('strong', { text: m.name }), el('span', { class: 'hint', text: ` ${m.specialty}${m.chair ? ` · ${t('ratings.chair')}` : ''}` })),
      el('p', { class: 'hint', text: mine ? t('ratings.current', { conduct: t(`ratings.${mine.conduct}`), at: fmtTime(mine.at) }) : t('ratings.none') }),
      el('div', { class: 'rating-form' }, select, note, save),
      n ? el('p', { class: `form-${n.kind === 'ok' ? 'ok' : 'error'}`, role: 'status', 'data-testid': 'rating-msg', text: n.text }) : null);
  }

  function render() {
    if (stopped) return;
    const evs = ui.evaluations || [];
    mount.hidden = !ui.error && evs.length === 0;
    const body = [];
    if (ui.error) body.push(el('p', { class: 'form-error', role: 'alert', text: ui.error }));
    for (const ev of evs) {
      body.push(el('p', { class: 'hint', text: t('ratings.hint', { evaluation: ev.evaluation }) }),
        el('ul', { class: 'ratings', 'data-testid': 'ratings', 'data-evaluation': ev.evaluation }, ...(ev.committee || []).map((m) => memberRow(ev, m))));
    }
    mount.replaceChildren(el('h2', { text: t('ratings.title') }), ...body);
  }

  onLangChange(render);
  refresh();
  // The report completes in the evaluation room: look again now and then.
  const tick = () => {
    timer = setTimeout(async () => {
      if (document.visibilityState === 'visible' && !(ui.evaluations || []).length) await refresh();
      if (!stopped) tick();
    }, POLL_MS);
  };
  tick();
  return {
    refresh,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
