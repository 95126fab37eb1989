// The auction's client-side fold (web/static/auctionstate.js, reached
// through state.js's kind dispatch) in Node: events folded as
// rooms/auction*.go folds the log and auction_view.go projects it — a bid
// restarting the countdown, the end revealing the reserve — the increment
// grid as the server checks it, the server clock's estimate; and, on a
// real server with a movable clock, every role's fold of the events it
// receives compared field by field with the snapshot the server gives it,
// at each step of an auction run over REST (bids, automatic bids, the
// timed bidding, the end, the 成交确认书).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { auctionHelpers, frameEvent, visibleTo } from './lib/auction.mjs';
import { staticModules } from './lib/modules.mjs';
import { openingHarness } from './lib/opening.mjs';

let state;
let A;
let files;

before(async () => {
  files = await staticModules(['state.js']);
  state = await files.load('state.js');
  A = await files.load('auctionstate.js');
});

after(() => files.done());

const T0 = '2026-03-02T01:30:00.123456789Z';
const ev = (type, data, time = T0, actor = { sub: 'system', role: 'system' }) => ({ type, time, actor, data });

const spec = {
  title: '2026-08号地块', lot: '2026-08', category: 'land', seller: '自然资源局',
  start_price: '10000000', increments: { stages: [{ from: '0', step: '100000' }, { from: '10500000', step: '200000' }] },
  has_reserve: true, deposit: '2000000', listing_start: '2026-03-02T01:00:00Z', listing_end: '2026-03-16T01:00:00Z', countdown_seconds: 60,
};

/** announced is a snapshot of the auction just created, as viewer sees it. */
function announced(viewer) {
  const s = { kind: 'auction', room: 'a1', spec: { ...spec }, phase: 'announced', ends_at: spec.listing_end, step: '100000', min_next: '10000000', bid_count: 0, quoted: 0 };
  if (viewer.role === 'supervisor' || viewer.role === 'admin') s.spec.reserve_price = '10345600';
  return s;
}

const b1 = { sub: 'b1', role: 'bidder', name: '甲置业' };
const sup = { sub: 's1', role: 'supervisor', name: '监督人' };
const host = { sub: 'h1', role: 'host', name: '主持人' };

describe('auction fold', () => {
  it('state.js dispatches an auction to auctionstate.js', () => {
    const st = state.fromSnapshot(announced(b1));
    assert.equal(st.kind, 'auction');
    state.applyEvent(st, ev('listing_opened', { listing_end: spec.listing_end }), b1);
    assert.equal(st.phase, 'listing');
  });

  it('a bidder sees themself, bids by number, the next valid amount on the stage of the current price', () => {
    const st = state.fromSnapshot(announced(b1));
    const reg = (bidder, number) => ev('auction_bidder_registered', { bidder, name: `${bidder}公司`, number });
    // A bidder receives only their own registration, deposit and qualification.
    state.applyEvent(st, reg('b1', '4821'), b1);
    state.applyEvent(st, ev('deposit_recorded', { bidder: 'b1', status: 'paid', amount: '2000000', reference: 'BZJ-1', source: 'admin' }, '2026-03-02T01:31:00Z'), b1);
    assert.equal(A.standing(st), 'pending');
    state.applyEvent(st, ev('bidder_qualified', { bidder: 'b1', qualified: true }), b1);
    assert.equal(A.standing(st), 'qualified');
    assert.deepEqual(st.you.deposit, { bidder: 'b1', status: 'paid', amount: '2000000', reference: 'BZJ-1', source: 'admin', recorded_at: '2026-03-02T01:31:00Z' });
    state.applyEvent(st, ev('listing_opened', { listing_end: spec.listing_end }), b1);
    assert.equal(st.minNext, '10000000');
    const hidden = { sub: '', role: 'bidder' };
    state.applyEvent(st, ev('bid_placed', { number: '77731', amount: '10000000', at: T0 }, T0, hidden), b1);
    assert.equal(st.quoted, 1);
    assert.equal(st.you.bids, 0);
    assert.equal(A.leads(st), false);
    state.applyEvent(st, ev('bid_placed', { number: '4821', amount: '10400000', at: T0 }, T0, hidden), b1);
    assert.equal(st.you.bids, 1);
    assert.equal(st.you.leading, true);
    assert.equal(A.leads(st), true);
    assert.equal(st.quoted, 2);
    assert.equal(st.step, '100000');
    assert.equal(st.minNext, '10500000');
    // 10,500,000 starts the 200,000 stage.
    state.applyEvent(st, ev('bid_placed', { number: '77731', amount: '10500000', at: T0 }, T0, hidden), b1);
    assert.equal(st.step, '200000');
    assert.equal(st.minNext, '10700000');
    assert.equal(st.you.leading, false);
    assert.deepEqual(A.nextValid(st, 3), ['10700000', '10900000', '11100000']);
    assert.equal(A.quickAmount(st, 1), '10700000');
    assert.equal(A.quickAmount(st, 5), '11500000');
    assert.equal(A.checkAmount(st, '10,800,000').problem, 'offGrid');
    assert.equal(A.checkAmount(st, '10500000').problem, 'notAbove');
    assert.equal(A.checkAmount(st, '１０９０００００元').amount, '10900000');
    assert.equal(A.checkAmount(st, '10900000.00').problem, '');
    assert.equal(A.checkAmount(st, 'abc').problem, 'notNumber');
    assert.equal(A.stepAmount(st, '10800000', 1), '10900000');
    assert.equal(A.stepAmount(st, '10700000', -1), '10700000');
    // No name, no reserve reached this bidder.
    assert.ok(!JSON.stringify(A.viewOf(st)).includes('10345600'));
  });

  it('a bid in the timed bidding restarts the countdown; auction_ended reveals the reserve', () => {
    const st = state.fromSnapshot({ ...announced(b1), phase: 'listing', you: { bidder: 'b1', name: '甲', number: '4821', qualified: true, bids: 0 } });
    const hidden = { sub: '', role: 'bidder' };
    state.applyEvent(st, ev('bid_placed', { number: '4821', amount: '10000000', at: T0 }, T0, hidden), b1);
    state.applyEvent(st, ev('bid_placed', { number: '9090', amount: '10100000', at: T0 }, T0, hidden), b1);
    state.applyEvent(st, ev('timed_started', { quoted: 2, price: '10100000', ends_at: '2026-03-16T01:01:00.5Z' }), b1);
    assert.equal(st.phase, 'timed');
    assert.equal(st.endsAt, '2026-03-16T01:01:00.5Z');
    const at = '2026-03-16T01:00:59.999Z';
    state.applyEvent(st, ev('bid_placed', { number: '4821', amount: '10200000', at, ends_at: '2026-03-16T01:01:59.999Z' }, at, hidden), b1);
    assert.equal(st.endsAt, '2026-03-16T01:01:59.999Z', 'the bid restarts the countdown');
    assert.equal(A.countdown(st, Date.parse('2026-03-16T01:01:00Z')).kind, 'toEnd');
    assert.equal(A.countdown(st, Date.parse('2026-03-16T01:02:00Z')).kind, 'due');
    assert.equal(A.biddingOpen(st, Date.parse('2026-03-16T01:01:59.998Z')), true);
    assert.equal(A.biddingOpen(st, Date.parse('2026-03-16T01:01:59.999Z')), false);
    assert.equal(st.spec.reserve_price, undefined);
    state.applyEvent(st, ev('auction_ended', { result: 'sold', number: '4821', price: '10200000', reserve_price: '10150000', reserve_met: true, bids: 3, quoted: 2, stage: 'timed', ended_at: '2026-03-16T01:01:59.999Z' }), b1);
    assert.equal(st.phase, 'ended');
    assert.equal(st.endsAt, null);
    assert.equal(st.spec.reserve_price, '10150000', 'the reserve is revealed at the end');
    assert.equal(A.outcome(st), 'won');
    assert.equal(A.countdown(st, 0).kind, 'ended');
  });

  it('staff see the bidders and who bid; only supervisors the proxies; the host not the reserve', () => {
    const s = state.fromSnapshot(announced(sup));
    const hst = state.fromSnapshot(announced(host));
    assert.equal(s.spec.reserve_price, '10345600');
    assert.equal(hst.spec.reserve_price, undefined);
    for (const [st, v] of [[s, sup], [hst, host]]) {
      state.applyEvent(st, ev('auction_bidder_registered', { bidder: 'b1', name: '甲', number: '4821' }), v);
      state.applyEvent(st, ev('auction_bidder_registered', { bidder: 'b2', name: '乙', number: '9090' }), v);
      state.applyEvent(st, ev('listing_opened', {}), v);
      state.applyEvent(st, ev('bid_placed', { number: '9090', amount: '10000000', at: T0 }, T0, { sub: 'b2', role: 'bidder' }), v);
    }
    state.applyEvent(s, ev('proxy_set', { bidder: 'b1', number: '4821', max: '11000000' }), sup);
    assert.equal(s.bidders[0].proxy_max, '11000000');
    assert.equal(s.highest.bidder, 'b2');
    assert.equal(s.bidders[1].leading, true);
    assert.equal(hst.bidders[1].bids, 1);
    state.applyEvent(s, ev('proxy_cancelled', { bidder: 'b1', number: '4821' }), sup);
    assert.equal(s.bidders[0].proxy_max, '');
    assert.equal(A.isStaff('host'), true);
    assert.equal(A.isStaff('bidder'), false);
  });

  it('a snapshot that did not list every bid resyncs on a number it cannot place', () => {
    const st = state.fromSnapshot({ ...announced(b1), phase: 'listing', bid_count: 250, quoted: 5, bids: [{ number: '1111', amount: '10000000', at: T0 }] });
    state.applyEvent(st, ev('bid_placed', { number: '1111', amount: '10100000', at: T0 }), b1);
    assert.equal(st.resync, false);
    state.applyEvent(st, ev('bid_placed', { number: '2222', amount: '10200000', at: T0 }), b1);
    assert.equal(st.resync, true);
  });

  it('the server clock: the shortest round trip wins; a stepped clock drops the old samples', () => {
    const c = new A.Clock();
    c.add(1000, 5000, 1100); // rtt 100: offset 5000 + 50 - 1100
    assert.equal(c.offset, 3950);
    c.add(2000, 5960, 2020); // rtt 20: offset 3950
    assert.equal(c.rtt, 20);
    c.add(3000, 6900, 3300); // rtt 300, agrees within uncertainty: kept, not chosen
    assert.equal(c.offset, 3950);
    c.add(4000, 4000 + 3950 + 72 * 3600e3 + 100, 4200); // the server's clock moved 72 h
    assert.equal(Math.round(c.offset), 3950 + 72 * 3600e3);
    assert.equal(c.samples.length, 1);
  });
});

// ---- against a real server ----

const h = openingHarness('auctionstate', { bidtool: false, env: { BIDROOM_TESTING_MOVABLE_CLOCK: 'true' } });

describe('the fold of each viewer’s events is the server’s snapshot', () => {
  let X;
  before(async () => {
    await h.setUp();
    X = auctionHelpers(h);
  });
  after(() => h.tearDown());

  it('bidders, host, supervisor and admin, step by step through a sold auction with automatic bids', { timeout: 90_000 }, async () => {
    const id = 'fold-1';
    const created = await X.create(id, { reserve_price: '10345600', proxy_allowed: true, countdown_seconds: 30 }, { startIn: 30_000 });
    const bs = [];
    for (const [sub, name] of [['b1', '甲置业有限公司'], ['b2', '乙房地产开发有限公司'], ['b3', '丙投资集团有限公司']]) bs.push(await X.bidder(id, sub, name));
    const viewers = [
      ...bs.map((b) => ({ v: { sub: b.bidder, role: 'bidder' }, token: b.token })),
      { v: { sub: 's1', role: 'supervisor' }, token: await X.staff(id, 'supervisor', 's1', '监督人') },
      { v: { sub: 'h1', role: 'host' }, token: await X.staff(id, 'host', 'h1', '主持人') },
      { v: { sub: 'a1', role: 'admin' }, token: await X.staff(id, 'admin', 'a1', '管理员') },
    ];
    const supTok = viewers[3].token;

    // Each viewer: a fold from its first snapshot (before any bidder registered), fed the events it receives.
    const folds = viewers.map(() => null);
    const fed = viewers.map(() => 0);
    async function check(step) {
      const log = await X.log(id, supTok);
      for (const [i, { v, token }] of viewers.entries()) {
        if (!folds[i]) {
          // Start from the creation's snapshot (its spec and reserve as v sees them), then every event after it.
          const first = log[0];
          const snap = { kind: 'auction', room: id, spec: JSON.parse(JSON.stringify(first.data)), phase: 'announced', ends_at: first.data.listing_end, step: '100000', min_next: first.data.start_price, bid_count: 0, quoted: 0 };
          folds[i] = state.fromSnapshot(snap);
          fed[i] = 1;
        }
        for (; fed[i] < log.length; fed[i]++) {
          const e = log[fed[i]];
          if (visibleTo(e, v)) state.applyEvent(folds[i], frameEvent(e, v), v);
        }
        const want = await X.view(id, token);
        assert.deepEqual(A.viewOf(folds[i]), want, `${step}: ${v.role} ${v.sub}'s fold differs from their snapshot`);
        // And a snapshot folded from scratch says the same.
        assert.deepEqual(A.viewOf(state.fromSnapshot(want)), want, `${step}: ${v.role} ${v.sub}'s snapshot round trip`);
      }
      return log;
    }

    await check('registered');
    assert.equal(created.view.spec.reserve_price, '10345600', 'the admin sees the reserve');
    await X.advanceTo(Date.parse(created.spec.listing_start) + 200);
    await X.waitView(id, supTok, (v) => v.phase === 'listing', 'the listing');
    const [p1, p2, p3] = bs;
    await X.cmd(id, p1.token, 'bid', { amount: '10000000' });
    await X.cmd(id, p2.token, 'set_proxy', { max: '10600000' }); // bids 10,100,000 for b2 at once
    await X.cmd(id, p1.token, 'bid', { amount: '10300000' }); // b2's proxy answers 10,400,000
    await check('listing, a proxy answering');
    await X.cmd(id, p3.token, 'bid', { amount: '10600000' }); // b2's proxy cannot answer: the next step (10,800,000) is above its max
    await X.cmd(id, p2.token, 'cancel_proxy');
    await check('listing, the proxy cancelled');

    await X.advanceTo(Date.parse(created.spec.listing_end) + 200);
    const timed = await X.waitView(id, supTok, (v) => v.phase === 'timed', 'the timed bidding');
    await check('timed');
    await X.cmd(id, p1.token, 'bid', { amount: '10800000' });
    const after = await X.view(id, p2.token);
    assert.ok(Date.parse(after.ends_at) > Date.parse(timed.ends_at), 'the bid restarts the countdown');
    assert.equal(after.highest.ends_at, after.ends_at);
    await check('timed, a bid');

    await X.advanceTo(Date.parse(after.ends_at) + 200);
    await X.waitView(id, supTok, (v) => v.phase === 'ended' && !!v.confirmation, 'the end and the letter');
    const log = await check('ended, the letter issued');
    assert.equal(log.at(-1).type, 'confirmation_issued');
    const won = folds[0];
    assert.equal(won.result.result, 'sold');
    assert.equal(won.spec.reserve_price, '10345600', 'the reserve reached the bidder at the end');
    assert.ok(won.confirmation, 'the winner holds the letter');
    assert.equal(folds[1].confirmation, null, 'a loser does not');
    assert.equal(folds[4].confirmation?.digest, won.confirmation.digest, 'the host does');
  });
});
