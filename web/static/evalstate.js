// The evaluation room's state as one viewer sees it, kept in step with the
// server: a snapshot (rooms.EvaluationView) replaces it, each event frame is
// folded into it the way rooms/evaluation*.go folds the log and
// evaluation_view.go projects it for the viewer's role. Pure functions, no
// DOM and no network (e2e/evalstate.test.mjs runs them in Node).
//
// Three events change what the view computes on the server in ways the
// page cannot redo exactly — committee_formed (the tenderer's
// representatives are not in the view), scores_tallied (the report draft
// and its SM3 digest) and, for a member, member_replaced (the incoming
// member's venue is in the draw record only supervisors hold): after them
// st.resync is true and the page asks for a fresh snapshot.
//
// The results after the report (rooms/evaluation_results.go and
// evaluation_conduct.go: the publicity, objections, notices, ratings,
// violations and what reached the pool) are folded exactly into
// st.results, shaped as the view's `results` is for the viewer's role.

/** The phases of an evaluation, in order. */
export const PHASES = ['drawing', 'formed', 'convened', 'scoring', 'tallied', 'reported', 'publicity', 'closed_publicity', 'notified'];

/** The conduct ratings a supervisor gives (rooms.ConductGood …). */
export const CONDUCTS = ['good', 'fair', 'poor'];

/** POOR_CONDUCT_CREDIT is rooms.PoorConductCredit: the pool credit a poor rating deducts. */
export const POOR_CONDUCT_CREDIT = 5;

function member(m) {
  return {
    expert: m.expert,
    name: m.name || '',
    specialty: m.specialty || '',
    center: m.center || '',
    declared: !!m.declared,
    declared_at: m.declared_at || null,
    chair: !!m.chair,
    voted_for: m.voted_for || '',
    signed: !!m.signed,
  };
}

const copy = (x) => (x === undefined || x === null ? null : JSON.parse(JSON.stringify(x)));
const list = (x) => (Array.isArray(x) ? x.map((y) => copy(y)) : []);

/** fromSnapshot returns a fresh client state from snapshot.state of an evaluation. */
export function fromSnapshot(s) {
  const st = {
    kind: 'evaluation',
    room: s.room || '',
    title: s.title || '',
    opening: s.opening || '',
    tenderer: s.tenderer || '',
    venue: s.venue || '', // the main venue's center (主会场); members elsewhere sit at sub-venues
    phase: s.phase || '',
    size: s.size || 0,
    bids: list(s.bids),
    criteria: copy(s.criteria),
    committee: (s.committee || []).map(member),
    reservesLeft: s.reserves_left || 0,
    replaced: list(s.replaced),
    draw: copy(s.draw),
    returns: list(s.returns),
    sheets: list(s.sheets),
    tally: copy(s.tally),
    report: copy(s.report),
    reportDigest: s.report_digest || '',
    reportSignatures: list(s.report_signatures),
    completed: copy(s.completed_report),
    clarifications: list(s.clarifications),
    platformSignature: copy(s.platform_signature),
    results: results(s.results),
    you: s.you ? member(s.you) : null,
    resync: false, // an event was not folded exactly: ask for a snapshot
    replacedMe: null, // {reason, in, recused}: the viewer left the committee
  };
  return st;
}

// ---- the results (rooms.ResultsView), each record in the view's field order ----

function objection(o) {
  return {
    id: o.id,
    bidder: o.bidder || '',
    text: o.text || '',
    raised_at: o.raised_at || null,
    due_at: o.due_at || null,
    answer: o.answer || '',
    answered_at: o.answered_at || null,
    late: !!o.late,
  };
}

function rating(x) {
  return {
    id: x.id,
    expert: x.expert,
    by_role: x.by_role || '',
    by: x.by || '',
    conduct: x.conduct || '',
    note: x.note || '',
    credit_delta: x.credit_delta || 0,
    replaces: x.replaces || '',
    at: x.at || null,
  };
}

function violation(x) {
  return {
    id: x.id,
    expert: x.expert,
    points: x.points || 0,
    suspend_days: x.suspend_days || 0,
    reason: x.reason || '',
    until: x.until || null,
    by: x.by || '',
    pool: !!x.pool,
    at: x.at || null,
  };
}

function sanction(x) {
  return { id: x.id, expert: x.expert, credit: x.credit || 0, suspended_until: x.suspended_until || null, note: x.note || '' };
}

function notices(n) {
  if (!n) return null;
  return {
    issued_at: n.issued_at || null,
    key_id: n.key_id || '',
    notices: (n.notices || []).map((x) => ({ bidder: x.bidder, kind: x.kind, digest: x.digest })),
  };
}

/** results normalizes the view's results (absent: nothing for this viewer yet). */
function results(r) {
  r = r || {};
  return {
    publicity: copy(r.publicity),
    closedAt: r.publicity_closed_at || null,
    objections: (r.objections || []).map(objection),
    notices: notices(r.notices),
    ratings: (r.ratings || []).map(rating),
    violations: (r.violations || []).map(violation),
    pending: r.sanctions_pending || 0,
    sanctions: (r.sanctions || []).map(sanction),
  };
}

function find(st, expert) {
  return st.committee.find((m) => m.expert === expert) || null;
}

function seatOrder(st, expert) {
  const i = st.committee.findIndex((m) => m.expert === expert);
  return i < 0 ? st.committee.length : i;
}

// syncYou refreshes the viewer's own seat after a change.
function syncYou(st, viewer) {
  if (viewer?.role !== 'expert') return;
  const m = find(st, viewer.sub);
  st.you = m ? { ...m } : null;
}

/**
 * applyEvent folds one event (the event field of an event frame: {type,
 * time, actor, data}, or the whole log entry for staff) into st as seen by
 * viewer {sub, role}, and returns st. Unknown event types are ignored.
 */
export function applyEvent(st, ev, viewer) {
  const d = ev.data || {};
  const staff = viewer?.role === 'supervisor' || viewer?.role === 'system';
  switch (ev.type) {
    case 'evaluation_created':
    case 'committee_formed':
      st.resync = true;
      if (ev.type === 'committee_formed') {
        st.draw = viewer?.role === 'admin' || staff ? copy(d) : st.draw;
        st.phase = 'formed';
      }
      break;
    case 'evaluation_started':
      st.phase = 'convened';
      break;
    case 'declared': {
      const m = find(st, d.expert);
      if (m && !d.conflict) {
        m.declared = true;
        m.declared_at = ev.time || null;
      }
      break;
    }
    case 'member_replaced':
      replace(st, d, viewer);
      break;
    case 'chair_voted': {
      const m = find(st, d.voter);
      // Members see only their own vote (evaluation_view.go).
      if (m && (staff || d.voter === viewer?.sub)) m.voted_for = d.candidate;
      break;
    }
    case 'chair_elected':
      for (const m of st.committee) m.chair = m.expert === d.candidate;
      break;
    case 'scoring_opened':
      st.phase = 'scoring';
      break;
    case 'sheets_signed': {
      const rec = copy(d);
      st.sheets = st.sheets.filter((s) => s.expert !== d.expert);
      st.sheets.push(rec);
      st.sheets.sort((a, b) => seatOrder(st, a.expert) - seatOrder(st, b.expert));
      break;
    }
    case 'sheets_received': {
      const m = find(st, d.expert);
      if (m) m.signed = true;
      break;
    }
    case 'sheet_returned': {
      st.returns.push(copy(d));
      const m = find(st, d.expert);
      if (m) m.signed = false;
      st.tally = null;
      st.phase = 'scoring';
      st.report = null;
      st.reportDigest = '';
      break;
    }
    case 'scores_tallied':
      st.tally = copy(d);
      st.phase = 'tallied';
      st.resync = true; // the report draft and its digest are the server's to compute
      break;
    case 'report_signed':
      st.reportSignatures = st.reportSignatures.filter((s) => s.expert !== d.expert);
      st.reportSignatures.push(copy(d));
      st.reportSignatures.sort((a, b) => seatOrder(st, a.expert) - seatOrder(st, b.expert));
      break;
    case 'report_completed':
      st.completed = copy(d);
      st.phase = 'reported';
      break;
    case 'report_platform_signed':
      st.platformSignature = copy(d);
      break;
    case 'clarification_asked':
      st.clarifications.push(copy(d));
      break;
    case 'clarification_answered':
      for (const c of st.clarifications) {
        if (c.id === d.id) {
          c.answer = d.answer;
          c.answered_at = ev.time || null;
        }
      }
      break;
    default:
      applyResult(st, ev, viewer, staff);
      break;
  }
  syncYou(st, viewer);
  return st;
}

// applyResult folds the results' events as rooms.Evaluation.applyResults
// does, projected as resultsView projects them for viewer: the publicity,
// objections and notices reach the admin, the committee and supervisors;
// ratings and violations the supervisors and the expert concerned; what
// reached the pool the supervisors.
function applyResult(st, ev, viewer, staff) {
  const d = ev.data || {};
  const r = st.results;
  const mine = (expert) => staff || (viewer?.role === 'expert' && expert === viewer.sub);
  switch (ev.type) {
    case 'candidates_published':
      r.publicity = copy(d);
      st.phase = 'publicity';
      break;
    case 'result_objection_raised':
      r.objections.push(objection({ ...d, raised_at: ev.time }));
      break;
    case 'result_objection_answered':
      for (const o of r.objections) {
        if (o.id === d.id) Object.assign(o, { answer: d.answer || '', answered_at: d.answered_at || null, late: !!d.late });
      }
      break;
    case 'publicity_closed':
      r.closedAt = ev.time || null;
      st.phase = 'closed_publicity';
      break;
    case 'notices_issued':
      r.notices = notices(d);
      st.phase = 'notified';
      break;
    case 'expert_rated':
      if (!mine(d.expert)) break;
      // The view shows each rater's latest rating of each member, in the
      // order given: a replacement drops the rating it replaces.
      if (d.replaces) r.ratings = r.ratings.filter((x) => x.id !== d.replaces);
      r.ratings.push(rating({ ...d, at: ev.time }));
      if (staff && d.credit_delta) r.pending++;
      break;
    case 'expert_violation_noted':
      if (!mine(d.expert)) break;
      r.violations.push(violation({ ...d, at: ev.time }));
      if (staff && d.pool) r.pending++;
      break;
    case 'sanctions_applied':
      if (!staff) break;
      // The server records only what was pending: each result settles one.
      r.sanctions.push(...(d.results || []).map(sanction));
      r.pending = Math.max(0, r.pending - (d.results || []).length);
      break;
    default:
      break;
  }
}

// replace folds member_replaced as rooms.Evaluation.replace does: the
// reserve takes the seat, the outgoing member's votes and sheets are void.
function replace(st, r, viewer) {
  if (viewer?.role === 'expert' && r.out === viewer.sub) {
    st.replacedMe = { reason: r.reason || '', recused: !!r.recused, in: r.in };
    return;
  }
  const seat = st.draw?.drawn?.find((s) => s.expert === r.in) || null;
  for (let i = 0; i < st.committee.length; i++) {
    const m = st.committee[i];
    if (m.expert === r.out) {
      st.committee[i] = member({ expert: r.in, name: r.name, specialty: r.specialty, center: seat?.center || '' });
    }
    if (m.voted_for === r.out) m.voted_for = '';
  }
  st.reservesLeft = Math.max(0, st.reservesLeft - 1);
  st.replaced.push(copy(r));
  st.sheets = st.sheets.filter((s) => s.expert !== r.out);
  // Without the draw record the incoming member's venue is unknown here.
  if (!st.draw) st.resync = true;
}

/** memberName names a committee member, or one replaced part-way (or the id when unknown). */
export function memberName(st, expert) {
  return find(st, expert)?.name || st.draw?.drawn?.find((s) => s.expert === expert)?.name || expert;
}

/**
 * sat lists who sat on the committee and may have a violation noted
 * (rooms.Evaluation.sat): the current members, then those replaced
 * part-way, as [{expert, name, specialty, replaced}].
 */
export function sat(st) {
  const out = st.committee.map((m) => ({ expert: m.expert, name: m.name, specialty: m.specialty, replaced: false }));
  for (const r of st.replaced) {
    if (!out.some((x) => x.expert === r.out)) out.push({ expert: r.out, name: memberName(st, r.out), specialty: '', replaced: true });
  }
  return out;
}

/** sanctionFor returns what the pool did for a rating's or violation's id, or null while it is pending. */
export function sanctionFor(st, id) {
  return st.results.sanctions.find((s) => s.id === id) || null;
}

/**
 * poolStatus says how a rating or violation stands with the pool:
 * 'none' (it changes nothing there: a good or fair rating, or a rating
 * that only keeps the deduction already made), 'local' (a tenderer's
 * representative: recorded in this evaluation only), 'applied' (the pool
 * carried it out: see sanctionFor) or 'pending'.
 */
export function poolStatus(st, x, kind) {
  if (kind === 'violation' ? !x.pool : !x.credit_delta) {
    if (kind === 'violation') return 'local';
    return find(st, x.expert)?.specialty === 'tenderer_rep' ? 'local' : 'none';
  }
  return sanctionFor(st, x.id) ? 'applied' : 'pending';
}

/** myRating returns viewer's own latest rating of expert (a supervisor's), or null. */
export function myRating(st, viewer, expert) {
  return st.results.ratings.find((x) => x.expert === expert && x.by === viewer?.sub && x.by_role === viewer?.role) || null;
}

/**
 * publicityState says where the candidates' publicity stands at the
 * server's time now: 'none' (not published), 'running', 'ending' (its end
 * passed, the server's timer is about to close it) or 'closed'.
 */
export function publicityState(st, now) {
  const p = st.results.publicity;
  if (!p) return 'none';
  if (st.results.closedAt || st.phase === 'closed_publicity' || st.phase === 'notified') return 'closed';
  return Date.parse(String(p.ends_at).replace(/(\.\d{3})\d+/, '$1')) > now ? 'running' : 'ending';
}

/**
 * checkRating checks a supervisor's rating as rooms.Evaluation.rate does:
 * a known conduct, a note of at most 500 characters, required for poor.
 * It returns a problem key or ''.
 */
export function checkRating(conduct, note) {
  if (!CONDUCTS.includes(conduct)) return 'conduct';
  const n = String(note || '').trim();
  if (conduct === 'poor' && !n) return 'noteRequired';
  if ([...n].length > 500) return 'noteLong';
  return '';
}

/**
 * checkViolation checks a violation as rooms.Evaluation.noteViolation
 * does (points 1-100, suspend_days 0-3650 whole numbers, a reason of at
 * most 1000 characters) and returns a problem key or ''.
 */
export function checkViolation({ points, suspendDays, reason }) {
  if (!Number.isInteger(points) || points < 1 || points > 100) return 'points';
  if (!Number.isInteger(suspendDays) || suspendDays < 0 || suspendDays > 3650) return 'days';
  const r = String(reason || '').trim();
  if (!r) return 'reasonRequired';
  if ([...r].length > 1000) return 'reasonLong';
  return '';
}

/** bidName names a bid's bidder (or the id when unknown). */
export function bidName(st, bidder) {
  return st.bids.find((b) => b.bidder === bidder)?.name || bidder;
}

/** chair returns the elected chair's seat, or null. */
export function chair(st) {
  return st.committee.find((m) => m.chair) || null;
}

/** isChair reports whether viewer chairs the committee. */
export function isChair(st, viewer) {
  return viewer?.role === 'expert' && chair(st)?.expert === viewer.sub;
}

/** undeclared lists the members who have not declared yet. */
export function undeclared(st) {
  return st.committee.filter((m) => !m.declared);
}

/** ownSheets returns the viewer's latest signed sheets record, or null. */
export function ownSheets(st, viewer) {
  return st.sheets.find((s) => s.expert === viewer?.sub) || null;
}

/**
 * openReturns lists the chair's returns to expert while their sheets wait
 * to be signed again (a return is the reason they are unsigned), oldest
 * first; none once signed.
 */
export function openReturns(st, expert) {
  const m = find(st, expert);
  if (!m || m.signed) return [];
  return st.returns.filter((r) => r.expert === expert);
}

/** reportSignedBy returns expert's report signature, or null. */
export function reportSignedBy(st, expert) {
  return st.reportSignatures.find((s) => s.expert === expert) || null;
}

/**
 * venues groups the committee by venue (member.center): the main venue
 * (st.venue) first when it has members, then the others in seat order of
 * their first member.
 */
export function venues(st) {
  const out = new Map();
  if (st.venue && st.committee.some((m) => m.center === st.venue)) out.set(st.venue, []);
  for (const m of st.committee) {
    const v = m.center || '';
    if (!out.has(v)) out.set(v, []);
    out.get(v).push(m);
  }
  return out;
}

// ---- the score sheet form, checked as rooms/scoring.CheckSheet does ----

const POINTS = /^[0-9]{1,3}(\.[0-9]{1,2})?$/;

function cents(s) {
  // A decimal with at most 4 places (criteria) as an integer of 1/10000.
  const m = /^([0-9]{1,15})(?:\.([0-9]{1,4}))?$/.exec(String(s ?? ''));
  if (!m) return null;
  return BigInt(m[1]) * 10000n + BigInt((m[2] || '').padEnd(4, '0'));
}

/** itemRange returns an item's [min, max] as written in the criteria (min defaults to 0). */
export function itemRange(item) {
  return [item.min || '0', item.max];
}

/**
 * checkSheet validates one draft sheet ({bidder, checks: {id: {pass,
 * reason}}, scores: {id: text}}) against the criteria, as the server does:
 * a verdict on every check (a failed one with a reason of 1-500
 * characters), every item scored within [min, max] with at most 2
 * decimals. It returns the problems as [{kind, id, value?, min?, max?}].
 */
export function checkSheet(criteria, sheet) {
  const problems = [];
  for (const k of criteria?.checks || []) {
    const r = sheet.checks?.[k.id];
    if (!r || typeof r.pass !== 'boolean') {
      problems.push({ kind: 'noVerdict', id: k.id });
    } else if (!r.pass) {
      const reason = String(r.reason || '');
      if (!reason.trim()) problems.push({ kind: 'noReason', id: k.id });
      else if ([...reason].length > 500) problems.push({ kind: 'longReason', id: k.id });
    }
  }
  for (const it of criteria?.items || []) {
    const v = String(sheet.scores?.[it.id] ?? '').trim();
    const [lo, hi] = itemRange(it);
    if (v === '') {
      problems.push({ kind: 'noScore', id: it.id, min: lo, max: hi });
    } else if (!POINTS.test(v)) {
      problems.push({ kind: 'badScore', id: it.id, value: v, min: lo, max: hi });
    } else {
      const x = cents(v);
      if (x < cents(lo) || x > cents(hi)) problems.push({ kind: 'outOfRange', id: it.id, value: v, min: lo, max: hi });
    }
  }
  return problems;
}

/**
 * sheetsText is the exact JSON text a member signs and sends: one sheet
 * per bid in the bids' order, checks and scores in the criteria's order, a
 * reason only on a failed check.
 */
export function sheetsText(st, drafts) {
  const out = st.bids.map((b) => {
    const d = drafts[b.bidder] || {};
    const checks = {};
    for (const k of st.criteria?.checks || []) {
      const r = d.checks?.[k.id] || {};
      checks[k.id] = r.pass ? { pass: true } : { pass: false, reason: String(r.reason || '').trim() };
    }
    const scores = {};
    for (const it of st.criteria?.items || []) scores[it.id] = String(d.scores?.[it.id] ?? '').trim();
    return { bidder: b.bidder, checks, scores };
  });
  return JSON.stringify(out);
}

/** draftsFrom turns a signed sheets record back into editable drafts (bidder → draft). */
export function draftsFrom(rec) {
  const out = {};
  for (const s of rec?.sheets || []) {
    const checks = {};
    for (const [id, r] of Object.entries(s.checks || {})) checks[id] = { pass: !!r.pass, reason: r.reason || '' };
    out[s.bidder] = { checks, scores: { ...(s.scores || {}) } };
  }
  return out;
}

// ---- the texts a member signs (rooms.DeclarationMessage, SheetsMessage, ReportMessage) ----

export function declarationMessage(room, expert, conflict) {
  return `bidroom-declaration-v1\n${room}\n${expert}\n${conflict ? 'conflict' : 'no-conflict'}\n`;
}

export function sheetsMessage(room, expert, sheets) {
  return `bidroom-score-sheets-v1\n${room}\n${expert}\n${sheets}`;
}

export function reportMessage(room, expert, digest, dissent) {
  return `bidroom-evaluation-report-v1\n${room}\n${expert}\n${digest}\n${dissent}`;
}
