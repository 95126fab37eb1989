// The evaluation's client-side fold (web/static/evalstate.js, reached through
// state.js's kind dispatch) in Node: a member's, a supervisor's and the
// admin's view folded event by event as rooms/evaluation*.go and
// evaluation_view.go project them; the score sheet check and the exact
// texts a member signs. evaluation.test.mjs also compares, in Chromium,
// every page's folded state with a fresh snapshot at the end.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { staticModules } from './lib/modules.mjs';

let state;
let ev;
let files;

before(async () => {
  files = await staticModules(['state.js', 'evalstate.js']);
  state = await files.load('state.js');
  ev = await files.load('evalstate.js');
});

after(() => files.done());

const T = '2026-03-02T01:30:00.123456789Z';
const e = (type, data, time = T) => ({ type, time, actor: { sub: 'x', role: 'expert' }, data });

const criteria = {
  checks: [{ id: 'q1', name: '营业执照' }],
  items: [{ id: 't1', name: '施工方案', group: 'technical', max: '40' }, { id: 'c1', name: '业绩', group: 'commercial', max: '20', min: '5' }],
  price: { method: 'lowest', weight: '40', above_per_pct: '1', below_per_pct: '0.5' },
};
const bids = [{ bidder: 'a', name: '甲公司', price: '950000.00', plaintext_digest: '11'.repeat(32) }, { bidder: 'b', name: '乙公司', price: '990000.00' }];
const seat = (expert, extra = {}) => ({ expert, name: `专家${expert}`, specialty: 'A01', center: expert === 'x3' ? '县分中心' : '市中心', declared: false, signed: false, ...extra });
const drawn = [
  ...['x1', 'x2', 'x3', 'x4', 'x5'].map((x) => ({ expert: x, name: `专家${x}`, specialty: 'A01', center: x === 'x3' ? '县分中心' : '市中心' })),
  { expert: 'x6', name: '专家x6', specialty: 'A01', center: '县分中心', reserve: true },
];

function snapshot(viewer, extra = {}) {
  const s = {
    kind: 'evaluation', room: 'ev1', title: '评标', opening: 'op1', tenderer: '招标人', phase: 'convened', size: 5,
    bids, criteria, committee: ['x1', 'x2', 'x3', 'x4', 'x5'].map((x) => seat(x)), reserves_left: 1, ...extra,
  };
  if (viewer.role === 'supervisor') s.draw = { evaluation: 'ev1', seed: 'ab', drawn };
  if (viewer.role === 'expert') s.you = s.committee.find((m) => m.expert === viewer.sub);
  return s;
}

const me = { sub: 'x1', role: 'expert', name: '专家x1' };
const sup = { sub: 's1', role: 'supervisor', name: '监督人' };

describe('evaluation state fold', () => {
  it('state.js dispatches on the snapshot kind: one fold API for every room kind', () => {
    const st = state.fromSnapshot(snapshot(me));
    assert.equal(st.kind, 'evaluation');
    assert.equal(st.committee.length, 5);
    assert.equal(st.you.expert, 'x1');
    state.applyEvent(st, e('declared', { expert: 'x1', conflict: false, key_id: 'k' }), me);
    assert.equal(st.you.declared, true);
    assert.equal(st.you.declared_at, T);
    const opening = state.fromSnapshot({ kind: 'opening', room: 'r', phase: 'check_in', session: {}, bidders: [], announcements: [] });
    assert.equal(opening.kind, 'opening');
    assert.ok(Array.isArray(opening.bidders));
  });

  it('a member sees only their own vote; a supervisor sees every vote; the chair is elected for all', () => {
    const m = state.fromSnapshot(snapshot(me));
    const s = state.fromSnapshot(snapshot(sup));
    for (const x of ['x1', 'x2', 'x3', 'x4', 'x5']) {
      for (const [st, v] of [[m, me], [s, sup]]) state.applyEvent(st, e('declared', { expert: x, conflict: false }), v);
    }
    for (const [voter, cand] of [['x1', 'x2'], ['x2', 'x2'], ['x3', 'x2']]) {
      state.applyEvent(m, e('chair_voted', { voter, candidate: cand }), me);
      state.applyEvent(s, e('chair_voted', { voter, candidate: cand }), sup);
    }
    assert.deepEqual(m.committee.map((x) => x.voted_for), ['x2', '', '', '', '']);
    assert.deepEqual(s.committee.map((x) => x.voted_for), ['x2', 'x2', 'x2', '', '']);
    for (const [st, v] of [[m, me], [s, sup]]) state.applyEvent(st, e('chair_elected', { candidate: 'x2' }), v);
    assert.equal(ev.chair(m).expert, 'x2');
    assert.equal(ev.isChair(m, me), false);
    assert.equal(ev.isChair(m, { sub: 'x2', role: 'expert' }), true);
    assert.deepEqual(ev.undeclared(m), []);
  });

  it('a replacement: exact for a supervisor, a fresh snapshot for a member, the end for the member who leaves', () => {
    const r = { out: 'x3', in: 'x6', name: '专家x6', specialty: 'A01', reason: '与投标人有利害关系', recused: true };
    const s = state.fromSnapshot(snapshot(sup));
    state.applyEvent(s, e('chair_voted', { voter: 'x1', candidate: 'x3' }), sup);
    state.applyEvent(s, e('member_replaced', r), sup);
    assert.deepEqual(s.committee[2], { expert: 'x6', name: '专家x6', specialty: 'A01', center: '县分中心', declared: false, declared_at: null, chair: false, voted_for: '', signed: false });
    assert.equal(s.committee[0].voted_for, '', 'a vote for the member who left is void');
    assert.equal(s.reservesLeft, 0);
    assert.deepEqual(s.replaced, [r]);
    assert.equal(s.resync, false);

    const m = state.fromSnapshot(snapshot(me));
    state.applyEvent(m, e('member_replaced', r), me);
    assert.equal(m.committee[2].expert, 'x6');
    assert.equal(m.resync, true, 'the venue of the incoming member is in the draw record only');

    const out = { sub: 'x3', role: 'expert' };
    const o = state.fromSnapshot(snapshot(out));
    state.applyEvent(o, e('member_replaced', r), out);
    assert.deepEqual(o.replacedMe, { reason: r.reason, recused: true, in: 'x6' });
  });

  it('sheets, the tally, a return and the report, as a member and as a supervisor', () => {
    const base = snapshot(me, { phase: 'scoring', committee: ['x1', 'x2', 'x3', 'x4', 'x5'].map((x) => seat(x, { declared: true, chair: x === 'x2' })) });
    const m = state.fromSnapshot(base);
    const s = state.fromSnapshot({ ...base, you: undefined, draw: { drawn } });
    const rec = (x) => ({ expert: x, sheets: [{ bidder: 'a', checks: { q1: { pass: true } }, scores: { t1: '30', c1: '10' } }], text: '[…]', digest: x.repeat(32).slice(0, 64), signature: 'sig', key_id: 'k' });
    for (const x of ['x2', 'x1']) {
      state.applyEvent(s, e('sheets_signed', rec(x)), sup);
      if (x === 'x1') state.applyEvent(m, e('sheets_signed', rec(x)), me);
      for (const [st, v] of [[m, me], [s, sup]]) state.applyEvent(st, e('sheets_received', { expert: x, digest: 'd', key_id: 'k', sheets: null, text: '', signature: '' }), v);
    }
    assert.deepEqual(s.sheets.map((r) => r.expert), ['x1', 'x2'], 'in seat order, as the view lists them');
    assert.deepEqual(m.sheets.map((r) => r.expert), ['x1']);
    assert.equal(m.you.signed, true);
    assert.equal(ev.ownSheets(m, me).digest, rec('x1').digest);

    const tally = { results: [{ bidder: 'a', valid: true, technical: '30.00', commercial: '10.00', price: '40.00', total: '80.00', rank: 1 }], outliers: [{ expert: 'x1', bidder: 'a', item: 't1', score: '30', mean: '20.00' }] };
    for (const [st, v] of [[m, me], [s, sup]]) state.applyEvent(st, e('scores_tallied', tally), v);
    assert.equal(m.phase, 'tallied');
    assert.deepEqual(m.tally, tally);
    assert.equal(m.resync, true, 'the report and its digest come with a fresh snapshot');

    const back = { expert: 'x1', bidder: 'a', item: 't1', reason: '评分偏高，请复核' };
    for (const [st, v] of [[m, me], [s, sup]]) state.applyEvent(st, e('sheet_returned', back), v);
    assert.equal(m.phase, 'scoring');
    assert.equal(m.tally, null);
    assert.equal(m.you.signed, false);
    assert.deepEqual(ev.openReturns(m, 'x1'), [back]);
    assert.deepEqual(ev.draftsFrom(ev.ownSheets(m, me)).a.scores, { t1: '30', c1: '10' }, 'the returned sheet starts from what was signed');

    const sig = (x, dissent = '') => ({ expert: x, digest: 'ab'.repeat(32), signature: 's', dissent, key_id: 'k' });
    state.applyEvent(s, e('report_signed', sig('x3', '不同意')), sup);
    state.applyEvent(s, e('report_signed', sig('x1')), sup);
    assert.deepEqual(s.reportSignatures.map((r) => r.expert), ['x1', 'x3']);
    assert.equal(ev.reportSignedBy(s, 'x3').dissent, '不同意');
    const done = { report: { room: 'ev1', candidates: [{ rank: 1, bidder: 'a', name: '甲公司', price: '950000.00', total: '80.00' }] }, digest: 'ab'.repeat(32), signatures: [sig('x1')] };
    state.applyEvent(s, e('report_completed', done), sup);
    state.applyEvent(s, e('report_platform_signed', { digest: 'cd'.repeat(32), signature: 'p', key_id: 'pk' }), sup);
    assert.equal(s.phase, 'reported');
    assert.deepEqual(s.completed, done);
    assert.equal(s.platformSignature.key_id, 'pk');
  });

  it('clarifications: asked with a due time, answered at the event time', () => {
    const m = state.fromSnapshot(snapshot(me, { phase: 'scoring' }));
    state.applyEvent(m, e('clarification_asked', { id: 'q1', bidder: 'b', question: '请说明报价构成', due_at: '2026-03-02T02:00:00Z' }), me);
    state.applyEvent(m, e('clarification_answered', { id: 'q1', bidder: 'b', answer: '见附件' }, '2026-03-02T01:40:00Z'), me);
    assert.deepEqual(m.clarifications, [{ id: 'q1', bidder: 'b', question: '请说明报价构成', due_at: '2026-03-02T02:00:00Z', answer: '见附件', answered_at: '2026-03-02T01:40:00Z' }]);
  });

  it('the admin follows the formation only', () => {
    const admin = { sub: 'adm', role: 'admin' };
    const st = state.fromSnapshot({ kind: 'evaluation', room: 'ev1', title: '评标', phase: 'drawing', size: 5, reserves_left: 0 });
    assert.deepEqual(st.committee, []);
    assert.equal(st.bids.length, 0);
    state.applyEvent(st, e('committee_formed', { evaluation: 'ev1', seed: 'ab', drawn }), admin);
    assert.equal(st.phase, 'formed');
    assert.equal(st.resync, true);
    const after = state.fromSnapshot({ kind: 'evaluation', room: 'ev1', phase: 'formed', size: 5, committee: drawn.slice(0, 5), draw: { drawn } });
    state.applyEvent(after, e('evaluation_started', {}), admin);
    assert.equal(after.phase, 'convened');
  });

  it('the results: publicity, objections, notices, as evaluation_view.go projects them for each role', () => {
    const admin = { sub: 'adm', role: 'admin' };
    const done = { report: { room: 'ev1', candidates: [] }, digest: 'ab'.repeat(32), signatures: [] };
    const base = snapshot(me, { phase: 'reported', completed_report: done });
    const m = state.fromSnapshot(base);
    const s = state.fromSnapshot({ ...base, you: undefined, draw: { drawn } });
    const a = state.fromSnapshot({ kind: 'evaluation', room: 'ev1', phase: 'convened', size: 5, committee: base.committee });
    assert.deepEqual(m.results, { publicity: null, closedAt: null, objections: [], notices: null, ratings: [], violations: [], pending: 0, sanctions: [] });
    const pub = { evaluation: 'ev1', title: '评标', tenderer: '招标人', opening: 'op1', candidates: [{ rank: 1, bidder: 'a', name: '甲公司', price: '950000.00', total: '80.00' }],
      days: 3, starts_at: '2026-03-02T02:00:00Z', ends_at: '2026-03-05T02:00:00Z', report_digest: 'ab'.repeat(32) };
    const all = [[m, me], [s, sup], [a, admin]];
    for (const [st, v] of all) state.applyEvent(st, e('candidates_published', pub), v);
    for (const [st] of all) {
      assert.equal(st.phase, 'publicity');
      assert.deepEqual(st.results.publicity, pub);
      assert.equal(ev.publicityState(st, Date.parse('2026-03-04T00:00:00Z')), 'running');
      assert.equal(ev.publicityState(st, Date.parse('2026-03-05T02:00:00Z')), 'ending', 'from ends_at on, until the timer closes it');
    }
    const raised = { id: 'o1', bidder: 'b', text: '对排名有异议', due_at: '2026-03-06T02:00:00Z' };
    for (const [st, v] of all) state.applyEvent(st, e('result_objection_raised', raised, '2026-03-03T02:00:00.5Z'), v);
    for (const [st, v] of all) state.applyEvent(st, e('result_objection_answered', { id: 'o1', answer: '异议不成立', answered_at: '2026-03-07T02:00:00Z', late: true }), v);
    for (const [st] of all) {
      assert.deepEqual(st.results.objections, [{ id: 'o1', bidder: 'b', text: '对排名有异议', raised_at: '2026-03-03T02:00:00.5Z', due_at: raised.due_at,
        answer: '异议不成立', answered_at: '2026-03-07T02:00:00Z', late: true }]);
    }
    for (const [st, v] of all) state.applyEvent(st, e('publicity_closed', { ends_at: pub.ends_at, objections: 1, unanswered: 0 }, '2026-03-05T02:00:01Z'), v);
    for (const [st] of all) {
      assert.equal(st.phase, 'closed_publicity');
      assert.equal(st.results.closedAt, '2026-03-05T02:00:01Z');
      assert.equal(ev.publicityState(st, Date.parse('2026-03-01T00:00:00Z')), 'closed');
    }
    const issued = { issued_at: '2026-03-07T03:00:00Z', key_id: 'cd'.repeat(32), notices: [
      { bidder: 'a', kind: 'award', json: '{}', digest: '01'.repeat(32), signature: 'sig' },
      { bidder: 'b', kind: 'result', json: '{}', digest: '02'.repeat(32), signature: 'sig' }] };
    for (const [st, v] of all) state.applyEvent(st, e('notices_issued', issued), v);
    for (const [st] of all) {
      assert.equal(st.phase, 'notified');
      assert.deepEqual(st.results.notices, { issued_at: issued.issued_at, key_id: issued.key_id,
        notices: [{ bidder: 'a', kind: 'award', digest: '01'.repeat(32) }, { bidder: 'b', kind: 'result', digest: '02'.repeat(32) }] }, 'by digest: no text, no signature');
    }
  });

  it('conduct: ratings replace, violations, what reached the pool; a member sees only what concerns them', () => {
    const done = { report: { room: 'ev1', candidates: [] }, digest: 'ab'.repeat(32), signatures: [] };
    const reps = ['x1', 'x2', 'x3', 'x4', 'x5'].map((x) => seat(x, { declared: true, specialty: x === 'x5' ? 'tenderer_rep' : 'A01' }));
    const base = snapshot(me, { phase: 'reported', completed_report: done, committee: reps, replaced: [{ out: 'x9', in: 'x3', name: '专家x3', specialty: 'A01', reason: '回避' }] });
    const m = state.fromSnapshot(base);
    const s = state.fromSnapshot({ ...base, you: undefined, draw: { drawn: [...drawn, { expert: 'x9', name: '专家x9', specialty: 'A01' }] } });
    const rate = (id, expert, conduct, extra = {}) => ({ id, expert, by_role: 'supervisor', by: 's1', conduct, ...extra });
    const events = [
      e('expert_rated', rate('r1', 'x1', 'poor', { note: '多次离席', credit_delta: -5 }), '2026-03-02T03:00:00Z'),
      e('expert_rated', rate('r2', 'x2', 'good')),
      e('expert_rated', rate('r3', 'x1', 'fair', { credit_delta: 5, replaces: 'r1' }), '2026-03-02T03:10:00Z'),
      e('expert_rated', { id: 'r4', expert: 'x1', by_role: 'host', by: 'h1', conduct: 'poor', note: '迟到', credit_delta: -5 }),
      e('expert_rated', rate('r5', 'x5', 'poor', { note: '代表发言倾向性明显' })),
      e('expert_violation_noted', { id: 'v1', expert: 'x9', points: 10, suspend_days: 30, reason: '私下联系投标人', until: '2026-04-01T03:00:00Z', by: 's1', pool: true }),
      e('expert_violation_noted', { id: 'v2', expert: 'x5', points: 5, suspend_days: 0, reason: '泄露评审情况', by: 's1', pool: false }),
    ];
    for (const x of events) state.applyEvent(s, x, sup);
    // A member's stream carries only what concerns them (conductVis); the fold keeps to that too.
    for (const x of events) state.applyEvent(m, x, me);

    assert.deepEqual(s.results.ratings.map((x) => [x.id, x.expert, x.conduct]), [['r2', 'x2', 'good'], ['r3', 'x1', 'fair'], ['r4', 'x1', 'poor'], ['r5', 'x5', 'poor']],
      "each rater's latest rating, in the order given");
    assert.deepEqual(s.results.ratings[1], { id: 'r3', expert: 'x1', by_role: 'supervisor', by: 's1', conduct: 'fair', note: '', credit_delta: 5, replaces: 'r1', at: '2026-03-02T03:10:00Z' });
    assert.equal(s.results.pending, 4, 'r1, r3, r4 and v1 wait for the pool; r5 and v2 concern a representative');
    assert.equal(ev.myRating(s, sup, 'x1').id, 'r3');
    assert.equal(ev.poolStatus(s, s.results.ratings[0], 'rating'), 'none');
    assert.equal(ev.poolStatus(s, s.results.ratings[1], 'rating'), 'pending');
    assert.equal(ev.poolStatus(s, s.results.ratings[3], 'rating'), 'local');
    assert.equal(ev.poolStatus(s, s.results.violations[1], 'violation'), 'local');
    state.applyEvent(s, e('sanctions_applied', { pool: 'expert-pool', results: [
      { id: 'r1', expert: 'x1', credit: -5 }, { id: 'r3', expert: 'x1', credit: 5 }, { id: 'v1', expert: 'x9', credit: -10, suspended_until: '2026-04-01T03:00:00Z' }] }), sup);
    assert.equal(s.results.pending, 1);
    assert.equal(ev.poolStatus(s, s.results.ratings[1], 'rating'), 'applied');
    assert.equal(ev.poolStatus(s, s.results.ratings[2], 'rating'), 'pending');
    assert.deepEqual(ev.sanctionFor(s, 'v1'), { id: 'v1', expert: 'x9', credit: -10, suspended_until: '2026-04-01T03:00:00Z', note: '' });
    assert.deepEqual(ev.sat(s).map((x) => [x.expert, x.name, x.replaced]).slice(-2), [['x5', '专家x5', false], ['x9', '专家x9', true]], 'a member replaced part-way may have a violation noted');

    assert.deepEqual(m.results.ratings.map((x) => x.id), ['r3', 'r4'], "x1 sees only the ratings about them: never x2's or x5's");
    assert.deepEqual(m.results.violations, []);
    assert.equal(m.results.pending, 0);
    assert.deepEqual(m.results.sanctions, []);
  });

  it('checks a rating and a violation as the server does', () => {
    assert.equal(ev.checkRating('poor', '  '), 'noteRequired');
    assert.equal(ev.checkRating('poor', '多次离席'), '');
    assert.equal(ev.checkRating('good', ''), '');
    assert.equal(ev.checkRating('', ''), 'conduct');
    assert.equal(ev.checkRating('fair', '长'.repeat(501)), 'noteLong');
    assert.equal(ev.checkViolation({ points: 0, suspendDays: 0, reason: 'x' }), 'points');
    assert.equal(ev.checkViolation({ points: 10, suspendDays: 3651, reason: 'x' }), 'days');
    assert.equal(ev.checkViolation({ points: 10, suspendDays: 1.5, reason: 'x' }), 'days');
    assert.equal(ev.checkViolation({ points: 10, suspendDays: 0, reason: ' ' }), 'reasonRequired');
    assert.equal(ev.checkViolation({ points: 100, suspendDays: 3650, reason: '私下联系投标人' }), '');
    assert.deepEqual(ev.PHASES.slice(-4), ['reported', 'publicity', 'closed_publicity', 'notified']);
  });

  it('checks a score sheet as the server does, naming the item', () => {
    const ok = { checks: { q1: { pass: true } }, scores: { t1: '40', c1: '5.5' } };
    assert.deepEqual(ev.checkSheet(criteria, ok), []);
    const bad = { checks: { q1: { pass: false, reason: '  ' } }, scores: { t1: '40.5', c1: '4' } };
    assert.deepEqual(ev.checkSheet(criteria, bad), [
      { kind: 'noReason', id: 'q1' },
      { kind: 'outOfRange', id: 't1', value: '40.5', min: '0', max: '40' },
      { kind: 'outOfRange', id: 'c1', value: '4', min: '5', max: '20' },
    ]);
    assert.deepEqual(ev.checkSheet(criteria, { checks: {}, scores: { t1: '1.234', c1: '' } }), [
      { kind: 'noVerdict', id: 'q1' },
      { kind: 'badScore', id: 't1', value: '1.234', min: '0', max: '40' },
      { kind: 'noScore', id: 'c1', min: '5', max: '20' },
    ]);
  });

  it('builds the exact texts a member signs', () => {
    const st = state.fromSnapshot(snapshot(me, { phase: 'scoring' }));
    const text = ev.sheetsText(st, {
      b: { checks: { q1: { pass: false, reason: ' 缺少营业执照 ' } }, scores: { t1: ' 12 ', c1: '6.50' } },
      a: { checks: { q1: { pass: true, reason: 'ignored' } }, scores: { c1: '20', t1: '33.5' } },
    });
    assert.equal(text, '[{"bidder":"a","checks":{"q1":{"pass":true}},"scores":{"t1":"33.5","c1":"20"}},'
      + '{"bidder":"b","checks":{"q1":{"pass":false,"reason":"缺少营业执照"}},"scores":{"t1":"12","c1":"6.50"}}]');
    assert.equal(ev.declarationMessage('ev1', 'x1', false), 'bidroom-declaration-v1\nev1\nx1\nno-conflict\n');
    assert.equal(ev.sheetsMessage('ev1', 'x1', '[]'), 'bidroom-score-sheets-v1\nev1\nx1\n[]');
    assert.equal(ev.reportMessage('ev1', 'x1', 'ab', '异议'), 'bidroom-evaluation-report-v1\nev1\nx1\nab\n异议');
    assert.deepEqual([...ev.venues(st).keys()], ['市中心', '县分中心']);
    st.venue = '县分中心';
    assert.deepEqual([...ev.venues(st).keys()], ['县分中心', '市中心'], 'the main venue first');
  });
});
