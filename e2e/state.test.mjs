// The client-side fold of web/static/state.js, run in Node: the event types
// the demo cannot reach within a test's minute (the opening, the reveal).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { staticModules } from './lib/modules.mjs';

let mod;
let files;

before(async () => {
  // state.js dispatches on the room's kind: it imports evalstate.js.
  files = await staticModules(['state.js', 'evalstate.js']);
  mod = await files.load('state.js');
});

after(() => files.done());

const T = '2026-03-01T01:30:00.123456789Z';
const ev = (type, data, time = T) => ({ type, time, actor: { sub: 'system', role: 'system' }, data });

const session = {
  title: '示范项目', section: 'CD-1', category: 'construction',
  deadline: '2026-03-01T01:30:00Z', check_in_at: '2026-03-01T00:30:00Z', control_price: '100.00',
};

describe('state fold', () => {
  it('a bidder sees the others only from bidders_revealed on', () => {
    const me = { sub: 'b2', role: 'bidder', name: '乙公司' };
    const st = mod.fromSnapshot({
      kind: 'opening', room: 'r', phase: 'check_in', session,
      bidders: [{ sub: 'b2', role: 'bidder', name: '乙公司', signed_in: false, online: false }],
      announcements: [], you: { sub: 'b2', role: 'bidder', name: '乙公司', signed_in: false, online: false },
    });
    assert.equal(st.registered, null);
    assert.equal(st.revealed, false);
    assert.ok(mod.canSignIn(st, me));

    mod.applyEvent(st, ev('signed_in', { sub: 'b2', role: 'bidder' }), me);
    assert.equal(st.you.signed_in, true);
    assert.equal(st.bidders[0].signed_in, true);
    assert.ok(!mod.canSignIn(st, me));

    mod.applyEvent(st, ev('opened', { registered: 3, signed_in: 2 }), me);
    mod.applyEvent(st, ev('bidders_revealed', { bidders: [
      { id: 'b1', name: '甲公司' }, { id: 'b2', name: '乙公司' }, { id: 'b3', name: '丙公司' },
    ] }), me);
    assert.equal(st.phase, 'opened');
    assert.equal(st.openedAt, T);
    assert.equal(st.registered, 3);
    assert.equal(st.revealed, true);
    assert.deepEqual(st.bidders.map((b) => b.name), ['甲公司', '乙公司', '丙公司'], 'registration order, as a snapshot');
    assert.equal(st.bidders[1].signed_in, true, 'own record keeps its sign-in');
    assert.equal(st.bidders[0].signed_in, undefined, 'others carry names only');
  });

  it('staff fold registrations, sign-ins and presence', () => {
    const host = { sub: 'h1', role: 'host', name: '主持人' };
    const st = mod.fromSnapshot({ kind: 'opening', room: 'r', phase: '', session: {}, bidders: [], announcements: [] });
    mod.applyEvent(st, ev('session_created', session), host);
    assert.equal(st.phase, 'scheduled');
    assert.ok(!mod.canSignIn(st, host));
    mod.applyEvent(st, ev('bidder_registered', { id: 'b1', name: '甲公司' }), host);
    mod.applyEvent(st, ev('bidder_registered', { id: 'b2', name: '乙公司' }), host);
    assert.equal(st.registered, 2);
    mod.applyEvent(st, ev('check_in_opened', {}), host);
    assert.equal(st.phase, 'check_in');
    assert.ok(mod.canSignIn(st, host));

    mod.applyEvent(st, ev('signed_in', { sub: 'h1', role: 'host' }), host);
    assert.deepEqual(st.staff.map((p) => [p.sub, p.signed_in]), [['h1', true]]);
    assert.equal(st.you.signed_in, true);
    assert.ok(!mod.canSignIn(st, host));

    mod.applyEvent(st, ev('signed_in', { sub: 'b2', role: 'bidder' }), host);
    mod.applyEvent(st, ev('presence_changed', { sub: 'b2', role: 'bidder', online: false }), host);
    assert.deepEqual(st.bidders.map((b) => [b.sub, b.signed_in, b.online]), [['b1', false, false], ['b2', true, false]]);
    mod.applyEvent(st, ev('opened', { registered: 2, signed_in: 1 }), host);
    mod.applyEvent(st, ev('bidders_revealed', { bidders: [{ id: 'b1', name: '甲公司' }, { id: 'b2', name: '乙公司' }] }), host);
    assert.equal(st.bidders.length, 2, 'no duplicates from the reveal');
    assert.equal(st.bidders[1].signed_in, true);
  });

  it('keeps the last 50 announcements and ignores unknown events', () => {
    const v = { sub: 'b1', role: 'bidder' };
    const st = mod.fromSnapshot({ kind: 'opening', room: 'r', phase: 'check_in', session, bidders: [], announcements: [{ text: 'old' }] });
    for (let i = 0; i < 60; i++) mod.applyEvent(st, ev('announcement', { text: `n${i}` }), v);
    assert.equal(st.announcements.length, 50);
    assert.equal(st.announcements.at(-1).text, 'n59');
    assert.equal(st.announcements[0].text, 'n10');
    const before = JSON.stringify(st);
    mod.applyEvent(st, ev('something_new', { x: 1 }), v);
    assert.equal(JSON.stringify(st), before);
  });

  it('a bidder folds their bid, the decryption window and the unlock outcomes', () => {
    const me = { sub: 'b1', role: 'bidder', name: '甲公司' };
    const rec = { sub: 'b1', role: 'bidder', name: '甲公司', signed_in: false, online: false };
    const st = mod.fromSnapshot({ kind: 'opening', room: 'r', phase: 'check_in', session, bidders: [{ ...rec }], announcements: [], you: { ...rec } });
    const bid = { bidder: 'b1', digest: 'ab'.repeat(32), size: 1234, header_digest: 'cd'.repeat(32), version: 1 };
    mod.applyEvent(st, ev('bid_submitted', bid), me);
    assert.equal(mod.myRecord(st, me).bid.version, 1);
    assert.equal(st.you.bid.digest, bid.digest);
    mod.applyEvent(st, ev('bid_withdrawn', { bidder: 'b1', digest: bid.digest, version: 1 }), me);
    assert.equal(mod.myRecord(st, me).bid, undefined, 'withdrawn as a snapshot shows it: absent');
    mod.applyEvent(st, ev('bid_submitted', { ...bid, version: 2 }), me);
    mod.applyEvent(st, ev('opened', { registered: 2, signed_in: 1, submitted: 1 }), me);
    assert.equal(st.submitted, 1);
    assert.equal(mod.decryptStatus(mod.myRecord(st, me), true), 'pending');

    mod.applyEvent(st, ev('decryption_started', { ends_at: '2026-03-01T02:00:00Z' }), me);
    assert.equal(st.phase, 'decrypting');
    assert.equal(st.decryptEndsAt, '2026-03-01T02:00:00Z');
    mod.applyEvent(st, ev('unlock_failed', { bidder: 'b1', ok: false, code: 'bad_exchange', message: 'x' }), me);
    assert.equal(mod.decryptStatus(mod.myRecord(st, me), true), 'failed');
    assert.equal(st.you.attempts, 1);
    assert.equal(st.you.last_failure.code, 'bad_exchange');
    const sheet = { price: '11880000.00', duration: '365天', quality: '合格', project_manager: '张伟' };
    mod.applyEvent(st, ev('bid_opened', { bidder: 'b1', ok: true, sheet, plaintext_digest: 'ef'.repeat(32), plaintext_size: 10 }), me);
    assert.equal(mod.decryptStatus(mod.myRecord(st, me), true), 'opened');
    assert.deepEqual(st.you.opened.sheet, sheet);
    assert.equal(st.you.attempts, 2);
    mod.applyEvent(st, ev('decryption_closed', {}), me);
    assert.equal(st.phase, 'decryption_closed');
    assert.equal(mod.myRecord(st, { sub: 'h1', role: 'host' }), null);
  });

  it('the later steps fold as a snapshot shows them: pause, classification, read-out, objections, chat', () => {
    const host = { sub: 'h1', role: 'host', name: '主持人' };
    const b = (sub, extra = {}) => ({ sub, role: 'bidder', name: sub, signed_in: true, online: true, submitted: true, ...extra });
    const st = mod.fromSnapshot({
      kind: 'opening', room: 'r', phase: 'decrypting', session, registered: 2, decrypt_ends_at: '2026-03-01T02:00:00Z',
      bidders: [b('b1', { opened: { ok: true, sheet: { price: '90' } } }), b('b2')], announcements: [],
    });
    assert.equal(st.revealed, true, 'names are public after the deadline, in any later phase');
    mod.applyEvent(st, ev('paused', { kind: 'suspended', reason: '系统故障', decrypt_left: 600e9 }), host);
    assert.equal(st.pause.kind, 'suspended');
    assert.equal(st.pause.at, T);
    mod.applyEvent(st, ev('resumed', { decrypt_ends_at: '2026-03-01T02:10:00Z' }), host);
    assert.equal(st.pause, null);
    assert.equal(st.decryptEndsAt, '2026-03-01T02:10:00Z');
    mod.applyEvent(st, ev('decryption_extended', { minutes: 10, reason: '网络', ends_at: '2026-03-01T02:20:00Z' }), host);
    assert.equal(st.decryptEndsAt, '2026-03-01T02:20:00Z');
    mod.applyEvent(st, ev('unlock_failed', { bidder: 'b2', ok: false, code: 'server_error', message: 'disk' }), host);
    mod.applyEvent(st, ev('decryption_closed', {}), host);
    assert.equal(st.bidders[1].suggested_outcome, 'withdrawn', 'a server fault in the log suggests 撤回');
    assert.equal(st.bidders[1].attempt_log.length, 1);
    mod.applyEvent(st, ev('classified', { bidder: 'b2', outcome: 'withdrawn', reason: '平台故障' }), host);
    assert.equal(st.bidders[1].outcome, 'withdrawn');
    assert.equal(st.bidders[1].suggested_outcome, undefined);
    const ro = { control_price: '100', fields: [{ key: 'price', label: '报价' }], rows: [{ bidder: 'b1', name: 'b1', outcome: 'opened', sheet: { price: '90' } }], digest: 'd' };
    mod.applyEvent(st, ev('read_out', ro), host);
    assert.equal(st.phase, 'reading_out');
    assert.deepEqual(st.readOut, ro);
    mod.applyEvent(st, ev('confirmation_started', { ends_at: '2026-03-01T02:30:00Z' }), host);
    assert.equal(st.phase, 'confirming');
    mod.applyEvent(st, ev('objection', { id: 'obj-9', bidder: 'b1', text: '异议' }), host);
    assert.equal(mod.unanswered(st), 1);
    mod.applyEvent(st, { ...ev('objection_answered', { id: 'obj-9', text: '答复' }), actor: { sub: 'h1', role: 'host' } }, host);
    assert.equal(mod.unanswered(st), 0);
    assert.equal(st.objections[0].answered_by, 'h1');
    mod.applyEvent(st, ev('confirmed', { bidder: 'b1', method: 'token', digest: 'd' }), host);
    assert.equal(st.bidders[0].confirmation.at, T);
    mod.applyEvent(st, ev('confirmation_closed', { silent: ['b2'], early: true }), host);
    assert.equal(st.confirmClosed, true);
    assert.equal(st.bidders[1].silent, true);
    mod.applyEvent(st, ev('chat', { id: 'msg-1', from: 'b1', from_role: 'bidder', to: 'host', text: '你好' }), host);
    assert.equal(st.chat[0].at, T);
    mod.applyEvent(st, ev('opening_record_signed', { digest: 'e', size: 10, signature: 's', key_id: 'k' }), host);
    assert.equal(st.phase, 'record');
    assert.equal(st.record.at, T);
  });

  it('supervisors and experts: who may sign in', () => {
    const st = mod.fromSnapshot({ kind: 'opening', room: 'r', phase: 'opened', session, bidders: [], announcements: [] });
    assert.ok(mod.canSignIn(st, { sub: 's1', role: 'supervisor' }));
    assert.ok(!mod.canSignIn(st, { sub: 'e1', role: 'expert' }));
    assert.ok(!mod.canSignIn(st, { sub: 'a1', role: 'admin' }));
  });
});
