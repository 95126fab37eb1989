// The auction room's state as one viewer sees it, kept in step with the
// server: a snapshot (rooms.AuctionView) replaces it, each event frame is
// folded into it the way rooms/auction*.go folds the log and
// auction_view.go projects it for the viewer's role. Pure functions, no
// DOM and no network (e2e/auctionstate.test.mjs runs them in Node).
//
// The money is exact: amounts are decimal strings of yuan with at most two
// decimals, held here as BigInt fen, and the increment grid is
// rooms/auction_money.go's — the page checks a typed amount and offers
// the next valid ones as the server will, though the server decides.

/** The phases of an auction, in order. */
export const PHASES = ['announced', 'listing', 'timed', 'ended'];

/** MAX_BIDS is rooms.maxBidsInView: the latest bids a view lists. */
export const MAX_BIDS = 200;

/** MAX_FEN is rooms.maxAuctionFen: 10^15 yuan. */
export const MAX_FEN = 100_000_000_000_000_000n;

const STAFF = new Set(['admin', 'host', 'supervisor', 'system']);

const copy = (x) => (x === undefined || x === null ? null : JSON.parse(JSON.stringify(x)));

// ---- money ----

/**
 * parseYuan reads a decimal amount of yuan as rooms.parseYuan does
 * (digits, an optional point and one or two decimals; no sign, exponent,
 * spaces or leading zeros; at most 10^15) and returns its BigInt fen, or
 * null.
 */
export function parseYuan(s) {
  const m = /^(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,2}))?$/.exec(String(s ?? ''));
  if (!m) return null;
  const f = BigInt(m[1]) * 100n + BigInt((m[2] || '').padEnd(2, '0') || '0');
  return f > MAX_FEN ? null : f;
}

/** yuan writes fen as rooms' fen.String: whole yuan without decimals, else exactly two. */
export function yuan(f) {
  const x = BigInt(f);
  if (x % 100n === 0n) return String(x / 100n);
  const c = String(x % 100n).padStart(2, '0');
  return `${x / 100n}.${c}`;
}

/**
 * normalizeAmount turns what a person typed into the canonical string the
 * server takes, forgiving what people write around a number: thousands
 * separators, spaces, full-width digits, a trailing 元, a lone trailing
 * point or zeros after it ("1,000,000.00" → "1000000"). It returns '' when
 * what is left is not an amount.
 */
export function normalizeAmount(text) {
  let s = String(text ?? '')
    .replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/[．。]/g, '.')
    .replace(/[,，\s]/g, '')
    .replace(/元$/, '');
  if (/^[0-9]+\.$/.test(s)) s = s.slice(0, -1);
  if (/^[0-9]+$/.test(s)) s = s.replace(/^0+(?=[0-9])/, '');
  const f = parseYuan(s);
  return f === null ? '' : yuan(f);
}

// ---- the increment grid (rooms/auction_money.go grid) ----

/** grid returns the spec's grid: {start, stages: [{from, step}]} in fen, or null when the spec has none. */
export function grid(spec) {
  const start = parseYuan(spec?.start_price);
  if (start === null) return null;
  const inc = spec.increments || {};
  let stages = [];
  if (inc.step) {
    const s = parseYuan(inc.step);
    if (s === null || s <= 0n) return null;
    stages = [{ from: 0n, step: s }];
  } else {
    for (const st of inc.stages || []) {
      const from = parseYuan(st.from);
      const step = parseYuan(st.step);
      if (from === null || step === null || step <= 0n) return null;
      stages.push({ from, step });
    }
  }
  return stages.length ? { start, stages } : null;
}

/** stepAt is the increment at price p: the step of the last stage from at or below p. */
export function stepAt(g, p) {
  let s = g.stages[0].step;
  for (const st of g.stages.slice(1)) {
    if (st.from > p) break;
    s = st.step;
  }
  return s;
}

/** price returns where the bidding stands: {high (fen), first (no bid yet)}. */
export function price(st) {
  const h = st.highest ? parseYuan(st.highest.amount) : null;
  return h === null ? { high: 0n, first: true } : { high: h, first: false };
}

/** base returns the grid's base now ({base, n0, step}): the start price before the first bid, else the highest. */
export function base(st) {
  const g = st.grid;
  const p = price(st);
  const b = p.first ? g.start : p.high;
  return { base: b, n0: p.first ? 0n : 1n, step: stepAt(g, b) };
}

/** minNext is the lowest valid bid now (fen). */
export function minNext(st) {
  const { base: b, n0, step } = base(st);
  return b + n0 * step;
}

/** nextValid lists up to n valid bids now, lowest first, as strings. */
export function nextValid(st, n = 3) {
  if (!st.grid) return [];
  const { step } = base(st);
  const out = [];
  for (let a = minNext(st), i = 0; i < n && a <= MAX_FEN; i++, a += step) out.push(yuan(a));
  return out;
}

/** onGrid reports whether fen a is a valid bid now. */
export function onGrid(st, a) {
  const { base: b, n0, step } = base(st);
  return a >= b + n0 * step && (a - b) % step === 0n && a <= MAX_FEN;
}

/**
 * checkAmount checks a typed amount as the server's checkAmount does and
 * returns {amount (canonical), problem, next}: problem is '' when the
 * amount may be bid, else 'empty', 'notNumber', 'tooBig', 'belowStart',
 * 'notAbove' or 'offGrid'; next lists the next valid amounts.
 */
export function checkAmount(st, text) {
  const next = nextValid(st, 3);
  const raw = String(text ?? '').trim();
  if (!raw) return { amount: '', problem: 'empty', next };
  const amount = normalizeAmount(raw);
  if (!amount) {
    const digits = raw.replace(/[,，\s]/g, '');
    if (/^[0-9]{17,}(\.[0-9]*)?$/.test(digits) || (/^[0-9]+(\.[0-9]{1,2})?$/.test(digits) && BigInt(digits.split('.')[0]) * 100n > MAX_FEN)) {
      return { amount: '', problem: 'tooBig', next };
    }
    return { amount: '', problem: 'notNumber', next };
  }
  const a = parseYuan(amount);
  const p = price(st);
  if (p.first && a < st.grid.start) return { amount, problem: 'belowStart', next };
  if (!p.first && a <= p.high) return { amount, problem: 'notAbove', next };
  if (!onGrid(st, a)) return { amount, problem: 'offGrid', next };
  return { amount, problem: '', next };
}

/**
 * stepAmount moves a typed amount by dir (+1 or −1) steps along the grid:
 * an amount on the grid moves one step, never below the lowest valid bid;
 * one off the grid (or not an amount) goes to the nearest valid bid in
 * that direction.
 */
export function stepAmount(st, text, dir) {
  const lo = minNext(st);
  const { base: b, step } = base(st);
  const f = parseYuan(normalizeAmount(text));
  if (f === null || f < lo) return yuan(dir > 0 && f !== null && f >= lo ? f + step : lo);
  const off = (f - b) % step;
  let next;
  if (off !== 0n) next = dir > 0 ? f - off + step : f - off;
  else next = f + BigInt(dir) * step;
  if (next < lo) next = lo;
  if (next > MAX_FEN) next = next - step;
  return yuan(next);
}

// ---- the fold ----

function row(r) {
  return {
    bidder: r.bidder,
    name: r.name || '',
    number: r.number || '',
    deposit: copy(r.deposit),
    qualified: !!r.qualified,
    reason: r.reason || '',
    bids: r.bids || 0,
    leading: !!r.leading,
    proxy_max: r.proxy_max || '',
  };
}

function bid(b) {
  const out = { number: b.number, amount: b.amount, at: b.at || null, proxy: !!b.proxy };
  if (b.ends_at) out.ends_at = b.ends_at;
  if (b.bidder) out.bidder = b.bidder;
  return out;
}

/** fromSnapshot returns a fresh client state from snapshot.state of an auction. */
export function fromSnapshot(s) {
  const st = {
    kind: 'auction',
    room: s.room || '',
    spec: copy(s.spec) || {},
    phase: s.phase || '',
    endsAt: s.ends_at || null,
    bids: (s.bids || []).map(bid),
    bidCount: s.bid_count || 0,
    quoted: s.quoted || 0,
    bidders: (s.bidders || []).map(row),
    you: s.you ? row(s.you) : null,
    result: copy(s.result),
    confirmation: copy(s.confirmation),
    recordings: (s.recordings || []).map(copy),
    grid: null,
    highest: null,
    step: s.step || '',
    minNext: s.min_next || '',
    timeline: [], // staff: the events seen live, newest last
  };
  st.grid = grid(st.spec);
  st.highest = st.bids.length ? st.bids[st.bids.length - 1] : null;
  // The numbers that quoted: complete when the snapshot listed every bid
  // (a view lists the latest MAX_BIDS), and kept complete by every bid
  // folded since; otherwise a number not seen may have quoted before.
  st.numbers = new Set(st.bids.map((b) => b.number));
  st.numbersComplete = st.bids.length === st.bidCount;
  st.resync = false;
  return st;
}

/** findBidder returns the row of bidder id (staff) or the viewer's own row, or null. */
function findRow(st, bidder) {
  if (st.you && st.you.bidder === bidder) return st.you;
  return st.bidders.find((r) => r.bidder === bidder) || null;
}

function rowByNumber(st, number) {
  if (st.you && st.you.number === number) return st.you;
  return st.bidders.find((r) => r.number === number) || null;
}

// refresh recomputes what the view derives from the bids: the step, the
// lowest valid bid, the leader.
function refresh(st) {
  st.highest = st.bids.length ? st.bids[st.bids.length - 1] : null;
  if (st.grid) {
    st.step = yuan(base(st).step);
    st.minNext = yuan(minNext(st));
  }
  const lead = st.highest?.number;
  for (const r of [...st.bidders, ...(st.you ? [st.you] : [])]) r.leading = !!lead && r.number === lead;
}

const MAX_TIMELINE = 300;

/**
 * applyEvent folds one event (the event field of an event frame: {type,
 * time, actor, data}, or the whole log entry for staff) into st as seen by
 * viewer {sub, role}, and returns st. Unknown event types are ignored.
 */
export function applyEvent(st, ev, viewer) {
  const d = ev.data || {};
  const staff = STAFF.has(viewer?.role);
  switch (ev.type) {
    case 'auction_created': {
      const reserve = st.spec?.reserve_price;
      st.spec = copy(d);
      if (reserve && !st.spec.reserve_price) st.spec.reserve_price = reserve;
      st.grid = grid(st.spec);
      st.phase = 'announced';
      st.endsAt = d.listing_end || null;
      refresh(st);
      break;
    }
    case 'auction_terms': // the admin and supervisors: the sealed reserve
      st.spec.reserve_price = d.reserve_price || '';
      break;
    case 'auction_bidder_registered': {
      const r = row({ bidder: d.bidder, name: d.name, number: d.number });
      if (viewer?.role === 'bidder') {
        if (d.bidder === viewer.sub) st.you = r;
      } else if (!findRow(st, d.bidder)) {
        st.bidders.push(r);
      }
      break;
    }
    case 'deposit_recorded': {
      const r = findRow(st, d.bidder);
      if (r) r.deposit = { ...copy(d), recorded_at: ev.time || null };
      break;
    }
    case 'bidder_qualified': {
      const r = findRow(st, d.bidder);
      if (r) {
        r.qualified = !!d.qualified;
        r.reason = d.reason || '';
      }
      break;
    }
    case 'listing_opened':
      st.phase = 'listing';
      st.endsAt = d.listing_end || st.spec.listing_end || null;
      break;
    case 'bid_placed': {
      const b = bid(d);
      const r = rowByNumber(st, d.number);
      if (staff && r) b.bidder = r.bidder;
      if (r) r.bids++;
      if (!st.numbers.has(d.number)) {
        st.numbers.add(d.number);
        if (st.numbersComplete) st.quoted++;
        else st.resync = true; // the snapshot will say how many quoted
      }
      st.bids.push(b);
      if (st.bids.length > MAX_BIDS) st.bids = st.bids.slice(-MAX_BIDS);
      st.bidCount++;
      if (d.ends_at) st.endsAt = d.ends_at;
      refresh(st);
      break;
    }
    case 'proxy_set':
    case 'proxy_cancelled': {
      const r = findRow(st, d.bidder);
      if (r) r.proxy_max = ev.type === 'proxy_set' ? d.max || '' : '';
      break;
    }
    case 'timed_started':
      st.phase = 'timed';
      st.endsAt = d.ends_at || null;
      break;
    case 'auction_ended':
      st.phase = 'ended';
      st.endsAt = null;
      st.result = copy(d);
      if (d.reserve_price) st.spec.reserve_price = d.reserve_price;
      break;
    case 'confirmation_issued':
      st.confirmation = copy(d);
      break;
    case 'media_recorded':
      st.recordings.push(copy(d));
      break;
    default:
      break;
  }
  if (staff) {
    st.timeline.push({ type: ev.type, time: ev.time || null, actor: ev.actor ? { ...ev.actor } : null, data: copy(d) });
    if (st.timeline.length > MAX_TIMELINE) st.timeline = st.timeline.slice(-MAX_TIMELINE);
  }
  return st;
}

// ---- what the page asks of the state ----

/** isStaff reports whether role sees the bidders (the admin, the host, supervisors). */
export function isStaff(role) {
  return STAFF.has(role);
}

/** leads reports whether the viewing bidder holds the highest bid. */
export function leads(st) {
  return !!st.you && !!st.highest && st.highest.number === st.you.number;
}

/** mine reports whether a bid is the viewing bidder's. */
export function mine(st, b) {
  return !!st.you && b.number === st.you.number;
}

/**
 * biddingOpen reports whether bids are taken at server time now (ms):
 * during the listing until its end, during the timed bidding until the
 * countdown's end.
 */
export function biddingOpen(st, now) {
  const end = Date.parse(String(st.endsAt || '').replace(/(\.\d{3})\d+/, '$1'));
  if (st.phase === 'listing') {
    const start = Date.parse(st.spec.listing_start || '');
    return !(now < start) && !(now >= end);
  }
  if (st.phase === 'timed') return !(now >= end);
  return false;
}

/**
 * standing says where the viewing bidder stands: 'unregistered',
 * 'noDeposit' (not recorded as paid), 'pending' (paid, qualification not
 * confirmed), 'refused' (not qualified, with a reason), 'qualified'.
 */
export function standing(st) {
  const y = st.you;
  if (!y) return 'unregistered';
  if (y.qualified) return 'qualified';
  if (!y.deposit || y.deposit.status !== 'paid') return 'noDeposit';
  return y.reason ? 'refused' : 'pending';
}

/**
 * outcome says how the auction ended for the viewer: 'won', 'lost'
 * (another bidder won), 'sold' (staff), 'unsold' (流拍), or '' before the
 * end.
 */
export function outcome(st) {
  const r = st.result;
  if (!r) return '';
  if (r.result !== 'sold') return 'unsold';
  if (!st.you) return 'sold';
  return r.number === st.you.number ? 'won' : 'lost';
}

/**
 * quickAmount is the bid k steps up (k ≥ 1): the lowest valid bid plus
 * k − 1 steps, as a string ('' without a grid).
 */
export function quickAmount(st, k) {
  if (!st.grid) return '';
  const a = minNext(st) + BigInt(Math.max(0, k - 1)) * base(st).step;
  return a > MAX_FEN ? '' : yuan(a);
}

/**
 * viewOf writes st back in the shape of rooms.AuctionView as the server
 * encodes it (empty fields left out as Go's omitempty/omitzero leave them
 * out): the fold of a viewer's events and that viewer's snapshot must
 * give the same value, which the tests check.
 */
export function viewOf(st) {
  const rowOut = (r) => {
    const o = { bidder: r.bidder, name: r.name, number: r.number, qualified: r.qualified, bids: r.bids };
    if (r.deposit) o.deposit = copy(r.deposit);
    if (r.reason) o.reason = r.reason;
    if (r.leading) o.leading = true;
    if (r.proxy_max) o.proxy_max = r.proxy_max;
    return o;
  };
  const bidOut = (b) => {
    const o = { number: b.number, amount: b.amount, at: b.at };
    if (b.proxy) o.proxy = true;
    if (b.ends_at) o.ends_at = b.ends_at;
    if (b.bidder) o.bidder = b.bidder;
    return o;
  };
  const v = {
    kind: 'auction', room: st.room, spec: copy(st.spec), phase: st.phase,
    step: st.step, min_next: st.minNext, bid_count: st.bidCount, quoted: st.quoted,
  };
  if (st.endsAt) v.ends_at = st.endsAt;
  if (st.highest) v.highest = bidOut(st.highest);
  if (st.bids.length) v.bids = st.bids.map(bidOut);
  if (st.bidders.length) v.bidders = st.bidders.map(rowOut);
  if (st.you) v.you = rowOut(st.you);
  if (st.result) v.result = copy(st.result);
  if (st.confirmation) v.confirmation = copy(st.confirmation);
  if (st.recordings.length) v.recordings = st.recordings.map(copy);
  return v;
}

// ---- the server's clock ----

/**
 * Clock estimates the server's clock from samples of it (GET
 * /api/v1/time): the server's time plus half the request's round trip is
 * its time when the answer arrived, within rtt/2, so the sample with the
 * shortest round trip wins. A sample that disagrees with the estimate by
 * more than both samples' uncertainty (plus half a second) means the
 * server's clock stepped (it was set, or a test moved it): the older
 * samples are dropped.
 */
export class Clock {
  constructor() {
    this.offset = 0; // server time ≈ local time + offset (ms)
    this.rtt = Infinity;
    this.samples = [];
    this.synced = false;
  }

  /** add takes one sample: sent and received are local ms, server the server's ms. */
  add(sent, server, received) {
    const rtt = Math.max(0, received - sent);
    const offset = server + rtt / 2 - received;
    if (!Number.isFinite(offset)) return;
    if (this.synced && Math.abs(offset - this.offset) > (rtt + this.rtt) / 2 + 500) this.samples = [];
    this.samples.push({ rtt, offset });
    if (this.samples.length > 8) this.samples.shift();
    const best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.offset = best.offset;
    this.rtt = best.rtt;
    this.synced = true;
  }

  /** now is the server's time (ms) at local time at. */
  now(at = Date.now()) {
    return at + this.offset;
  }
}

/**
 * countdown says what the page's countdown shows at server time now (ms):
 * {target (ms, or NaN), kind}: kind is 'toStart' (announced: to the
 * listing's start), 'toListingEnd', 'toEnd' (timed: to ends_at), 'due'
 * (the time passed and the server has not yet moved on), 'ended' or ''.
 */
export function countdown(st, now) {
  const at = (s) => Date.parse(String(s || '').replace(/(\.\d{3})\d+/, '$1'));
  let target = NaN;
  let kind = '';
  switch (st.phase) {
    case 'announced':
      target = at(st.spec.listing_start);
      kind = 'toStart';
      break;
    case 'listing':
      target = at(st.endsAt || st.spec.listing_end);
      kind = 'toListingEnd';
      break;
    case 'timed':
      target = at(st.endsAt);
      kind = 'toEnd';
      break;
    case 'ended':
      return { target: NaN, kind: 'ended' };
    default:
      return { target: NaN, kind: '' };
  }
  if (!Number.isNaN(target) && now >= target) kind = 'due';
  return { target, kind };
}
