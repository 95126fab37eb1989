// The auction room page (网上竞价, auction.html#room=ID&token=TOKEN): a
// bidder sees the lot, the phase, the current price, the countdown on the
// server's clock, their 竞买号 and qualification, the bids by number, and
// bids through a confirmation that writes the amount in 大写; with
// spec.proxy_allowed they set or cancel an automatic bid. At the end: 成交
// or 流拍, the reserve revealed, and for the winner the 成交确认书 to read
// and save. The host, supervisors and the admin see the same board with
// the bidders' table (supervisors: the proxies' maxima too) and the
// reserve when their view holds it, marked 保密.
// The connection is socket.js's, the fold auctionstate.js's (through
// state.js). Every check here is a convenience: the server decides.

import './i18n-auction.js';
import { t, wireLangSwitch, onLangChange, sayRefusal } from './i18n.js';
import { RoomSocket, renderConnection, needsConnRender } from './socket.js';
import { parseTime, fmtTime, fmtDuration, fmtAmount, shortDigest } from './format.js';
import { fromSnapshot, applyEvent } from './state.js';
import * as A from './auctionstate.js';
import { daxie } from './daxie.js';
import { $, el, confirmDialog, feedback } from './dom.js';
import { money, renderResultCard } from './auction-result.js';

const params = new URLSearchParams(location.hash.slice(1));
const ROOM = params.get('room') || '';
const TOKEN = params.get('token') || '';

const CLOCK_EVERY_MS = 15000;

let viewer = null; // {sub, role, name}
let st = null; // auctionstate.js
const clock = new A.Clock();
const ui = { problem: null, proxyProblem: null, amountTouched: false };

const isBidder = () => viewer?.role === 'bidder';

// ---- the server's clock (GET /api/v1/time, the round trip halved) ----

let syncing = false;
async function syncClock() {
  if (syncing) return;
  syncing = true;
  try {
    const sent = Date.now();
    const r = await fetch('/api/v1/time', { cache: 'no-store' });
    const body = await r.json();
    clock.add(sent, parseTime(body.server_time), Date.now());
  } catch {
    // Keep the last estimate; the next sync may do better.
  } finally {
    syncing = false;
  }
}

// ---- refusals in words ----

// REFUSALS puts the server's refusals of bids into words; the server's own
// sentence follows in parentheses (English: as it is).
const next = (s) => s.split(', ').map((a) => fmtAmount(a)).join('、');
const REFUSALS = [
  [/you lead at (\S+): a bidder does not raise/, 'auc.refuse.youLead', (m) => ({ amount: fmtAmount(m[1]) })],
  [/^(?:amount|max) (\S+) is not on the increment grid \((\S+) plus whole steps of (\S+)\); the next valid amounts are (.+)$/, 'auc.refuse.offGrid',
    (m) => ({ amount: fmtAmount(m[1]), base: fmtAmount(m[2]), step: fmtAmount(m[3]), next: next(m[4]) })],
  [/^(?:amount|max) (\S+) is not above the current highest bid (\S+); the next valid amounts are (.+)$/, 'auc.refuse.notAbove',
    (m) => ({ amount: fmtAmount(m[1]), high: fmtAmount(m[2]), next: next(m[3]) })],
  [/^(?:amount|max) (\S+) is below the start price (\S+); the next valid amounts are (.+)$/, 'auc.refuse.belowStart',
    (m) => ({ amount: fmtAmount(m[1]), start: fmtAmount(m[2]), next: next(m[3]) })],
  [/^the bidding ended at (\S+)/, 'auc.refuse.biddingEnded', (m) => ({ at: fmtTime(m[1]) })],
  [/^the listing ended at (\S+?);/, 'auc.refuse.listingEnded', (m) => ({ at: fmtTime(m[1]) })],
  [/^bidding opens with the listing at (\S+)/, 'auc.refuse.notOpen', (m) => ({ at: fmtTime(m[1]) })],
  [/your deposit \(竞买保证金\) is not recorded as paid/, 'auc.refuse.noDeposit'],
  [/has not confirmed your qualification/, 'auc.refuse.notQualified'],
  [/does not take automatic bids/, 'auc.refuse.noProxy'],
  [/no automatic bid to cancel/, 'auc.refuse.noProxyToCancel'],
  [/is not a decimal amount|more than 2 decimals|leading zero|must not be negative|is required: a decimal amount/, 'auc.refuse.notAmount'],
  [/^auction \S+ has ended/, 'auc.refuse.ended'],
];

const refusalText = (f) => sayRefusal(f, REFUSALS, 'auc.code');

// ---- the connection ----

const sock = new RoomSocket({
  room: ROOM,
  token: TOKEN,
  messages: { auth: 'auc.err.auth', forbidden: 'auc.err.forbidden', gone: 'auc.err.gone', noToken: 'err.noToken' },
  hooks: {
    welcome(v) {
      viewer = v;
      render();
    },
    snapshot(f) {
      if (f.kind && f.kind !== 'auction') {
        // An opening or an evaluation has its own page (room.html sends an evaluation on).
        sock.stop();
        location.replace(`room.html${location.hash}`);
        return;
      }
      st = fromSnapshot(f.state);
      syncClock();
      render();
    },
    event(e) {
      applyEvent(st, e, viewer);
      if (st.resync) {
        st.resync = false;
        sock.resync();
      }
      // The countdown moved (a bid, the timed bidding, the end): check the clock.
      if (['bid_placed', 'timed_started', 'listing_opened', 'auction_ended'].includes(e.type)) syncClock();
      render();
    },
    ack(p, f) {
      if (p.command === 'bid') feedback(t('auc.bid.sent', { amount: fmtAmount(p.data.amount) }), 'ok');
      else feedback(t(f.duplicate ? 'cmd.duplicate' : f.events ? 'cmd.ok' : 'cmd.noop', { what: t(p.what) }), 'ok');
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

// ---- bidding ----

/** problemText puts a checkAmount problem into words. */
function problemText(c, text) {
  if (!c.problem) return '';
  const g = st.grid;
  const p = A.price(st);
  const b = p.first ? g.start : p.high;
  return t(`auc.problem.${c.problem}`, {
    text,
    amount: fmtAmount(c.amount),
    next: c.next.map(fmtAmount).join('、'),
    base: fmtAmount(A.yuan(b)),
    step: fmtAmount(A.yuan(A.stepAt(g, b))),
  });
}

async function placeBid(amountText) {
  const c = A.checkAmount(st, amountText);
  if (c.problem) {
    ui.problem = problemText(c, amountText);
    render();
    $('bid-amount').focus();
    return;
  }
  ui.problem = null;
  render();
  const d = $('bid-dialog');
  $('bid-dialog-text').textContent = t('auc.bid.dialogText', { number: st.you?.number || '' });
  $('bid-dialog-amount').textContent = money(c.amount);
  $('bid-dialog-daxie').textContent = `人民币${daxie(c.amount)}`;
  $('bid-dialog').dataset.amount = c.amount;
  d.returnValue = '';
  const ok = await new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
    $('bid-dialog-cancel').focus();
  });
  if (!ok) return;
  sock.command('bid', { amount: c.amount }, 'auc.bid.what', (done) => {
    if (done) {
      $('bid-amount').value = '';
      ui.amountTouched = false;
    }
  });
}

async function setProxy() {
  const text = $('proxy-max').value;
  const c = A.checkAmount(st, text);
  if (c.problem) {
    ui.proxyProblem = problemText(c, text);
    render();
    return;
  }
  ui.proxyProblem = null;
  const ok = await confirmDialog(t('auc.proxy.title'), t('auc.proxy.confirm', { amount: fmtAmount(c.amount), daxie: `人民币${daxie(c.amount)}` }), t('auc.proxy.set'));
  if (!ok) return;
  sock.command('set_proxy', { max: c.amount }, 'auc.proxy.what', (done) => {
    if (done) $('proxy-max').value = '';
  });
}

async function cancelProxy() {
  const ok = await confirmDialog(t('auc.proxy.title'), t('auc.proxy.cancelConfirm'), t('auc.proxy.cancel'));
  if (ok) sock.command('cancel_proxy', undefined, 'auc.proxy.cancelWhat');
}

function saveLetter() {
  const c = st?.confirmation;
  if (!c) return;
  let lot = ROOM;
  try {
    lot = JSON.parse(c.json).auction || ROOM;
  } catch {
    // the room's id names the file
  }
  // The file is the issued letter as the server gave it: {json, digest, signature, key_id}.
  const blob = new Blob([JSON.stringify({ json: c.json, digest: c.digest, signature: c.signature, key_id: c.key_id }, null, 2) + '\n'], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: `${lot}-confirmation.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- drawing ----

function renderHead() {
  const s = st.spec;
  $('auc-title').textContent = s.title || ROOM;
  $('category').textContent = s.category ? t(`auc.category.${s.category}`) : '';
  $('category').hidden = !s.category;
  const ph = $('phase');
  ph.dataset.phase = st.phase;
  ph.textContent = t(`auc.phase.${st.phase || 'loading'}`);
  const role = $('you-role');
  role.dataset.role = viewer?.role || '';
  role.textContent = viewer ? `${viewer.name || viewer.sub} · ${t(`auc.role.${viewer.role}`)}` : '';
  $('auc-lot').textContent = s.lot || '—';
  $('auc-seller').textContent = s.seller || '—';
  $('auc-start').textContent = money(s.start_price);
  const inc = s.increments || {};
  $('auc-increments').textContent = inc.step
    ? money(inc.step)
    : (inc.stages || []).map((x) => t('auc.stage', { from: fmtAmount(x.from), step: fmtAmount(x.step) })).join('；') || '—';
  $('auc-deposit').textContent = money(s.deposit);
  $('auc-listing').textContent = s.listing_start ? `${fmtTime(s.listing_start)} — ${fmtTime(s.listing_end)}` : '—';
  $('auc-countdown-len').textContent = s.countdown_seconds ? t('auc.seconds', { n: s.countdown_seconds }) : '—';
  $('auc-proxy').textContent = t(s.proxy_allowed ? 'auc.proxyAllowed' : 'auc.proxyNo');
  const r = $('auc-reserve');
  r.replaceChildren();
  if (s.reserve_price) {
    r.append(money(s.reserve_price));
    if (st.phase !== 'ended') r.append(' ', el('span', { class: 'tag tag-bad', testid: 'reserve-sealed', text: t('auc.reserveSealed') }));
  } else {
    r.textContent = t(s.has_reserve ? 'auc.reserveHidden' : 'auc.reserveNone');
  }
  r.dataset.reserve = s.reserve_price || '';

  const details = s.details || [];
  $('details-card').hidden = !details.length;
  $('details').replaceChildren(...details.map((d) => el('div', {}, el('dt', { text: d.label }), el('dd', { text: d.value }))));
}

function renderBoard() {
  const h = st.highest;
  $('price-label').textContent = t(h ? 'auc.price.current' : 'auc.price.start');
  $('price').textContent = fmtAmount(h ? h.amount : st.spec.start_price);
  $('price').dataset.amount = h ? h.amount : '';
  $('bid-count').textContent = t('auc.count', { n: st.bidCount, q: st.quoted });
  const lead = $('lead-tag');
  if (isBidder() && h && (st.phase === 'listing' || st.phase === 'timed')) {
    lead.hidden = false;
    const leads = A.leads(st);
    lead.dataset.leading = String(leads);
    lead.textContent = leads ? t('auc.youLead', { amount: fmtAmount(h.amount) }) : st.you?.bids ? t('auc.youBehind') : '';
    lead.hidden = !lead.textContent;
  } else {
    lead.hidden = true;
  }
  renderCountdown();
}

function renderCountdown() {
  if (!st) return;
  const now = clock.now();
  const c = A.countdown(st, now);
  const box = $('countdown');
  box.dataset.kind = c.kind;
  box.dataset.endsAt = st.phase === 'timed' || st.phase === 'listing' ? st.endsAt || '' : st.phase === 'announced' ? st.spec.listing_start || '' : '';
  const label = { toStart: 'auc.cd.toStart', toListingEnd: 'auc.cd.toListingEnd', toEnd: 'auc.cd.toEnd', due: 'auc.cd.due', ended: 'auc.cd.ended' }[c.kind];
  $('countdown-label').textContent = label ? t(label) : '';
  let value = '--:--:--';
  if (c.kind === 'ended') value = st.result ? t(`auc.result.${st.result.result}`) : '—';
  else if (!Number.isNaN(c.target)) value = fmtDuration(c.target - now);
  $('countdown-value').textContent = value;
  const soon = c.kind === 'toEnd' && c.target - now <= 10000;
  box.dataset.soon = String(soon);
  $('countdown-ends').textContent = Number.isNaN(c.target) ? '' : t('auc.cd.endsAt', { at: fmtTime(c.target) });
}

function renderMe() {
  const show = isBidder() && !!st.you;
  $('me').hidden = !show;
  if (!show) return;
  const y = st.you;
  $('my-number').textContent = y.number || '—';
  const d = y.deposit;
  $('my-deposit').textContent = !d ? t('auc.deposit.none') : d.status === 'paid' ? t('auc.deposit.paid', { amount: fmtAmount(d.amount) }) : t(`auc.deposit.${d.status}`);
  const s = A.standing(st);
  const sd = $('my-standing');
  sd.dataset.standing = s;
  sd.textContent = t(`auc.standing.${s}`, { reason: y.reason || '' });
  $('my-bids').textContent = String(y.bids || 0);
}

function renderBid() {
  const card = $('bid-card');
  const show = isBidder() && !!st.you && st.phase !== 'ended';
  card.hidden = !show;
  if (!show) return;
  const open = st.phase === 'listing' || st.phase === 'timed';
  const qualified = A.standing(st) === 'qualified';
  const can = open && qualified;
  $('bid-form').hidden = !can;
  $('quick').hidden = !can;
  const closed = $('bid-closed');
  closed.hidden = can;
  closed.textContent = !qualified ? t('auc.bid.notQualified') : t(`auc.bid.closed.${st.phase === 'announced' ? 'announced' : 'ended'}`);
  $('min-next').textContent = money(st.minNext);
  $('min-next').dataset.amount = st.minNext;
  $('step-now').textContent = st.step ? t('auc.bid.step', { step: fmtAmount(st.step) }) : '';
  for (const k of [1, 2, 5]) {
    const b = $(`quick-${k}`);
    const a = A.quickAmount(st, k);
    b.dataset.amount = a;
    b.replaceChildren(el('span', { class: 'auc-quick-k', text: t('auc.bid.quick', { k }) }), el('span', { class: 'auc-quick-a', text: fmtAmount(a) }));
  }
  const input = $('bid-amount');
  input.placeholder = t('auc.bid.placeholder', { amount: fmtAmount(st.minNext) });
  const prob = $('bid-problem');
  prob.hidden = !ui.problem;
  prob.textContent = ui.problem || '';
  input.setAttribute('aria-invalid', String(!!ui.problem));
  $('bid-button').disabled = sock.busy('bid');
}

function renderProxy() {
  const card = $('proxy-card');
  const show = isBidder() && !!st.you && !!st.spec.proxy_allowed && (st.phase === 'listing' || st.phase === 'timed') && A.standing(st) === 'qualified';
  card.hidden = !show;
  if (!show) return;
  const max = st.you.proxy_max;
  $('proxy-now').textContent = max ? t('auc.proxy.current', { amount: fmtAmount(max) }) : t('auc.proxy.none');
  $('proxy-now').dataset.max = max || '';
  $('proxy-set').textContent = t(max ? 'auc.proxy.change' : 'auc.proxy.set');
  $('proxy-cancel').hidden = !max;
  const prob = $('proxy-problem');
  prob.hidden = !ui.proxyProblem;
  prob.textContent = ui.proxyProblem || '';
}

function renderLadder() {
  const list = $('ladder');
  $('ladder-count').textContent = st.bidCount > st.bids.length ? t('auc.ladder.more', { n: st.bids.length, total: st.bidCount }) : st.bidCount ? String(st.bidCount) : '';
  if (!st.bids.length) {
    list.replaceChildren(el('li', { class: 'empty', text: t('auc.ladder.empty') }));
    return;
  }
  const top = st.bids.length - 1;
  const rows = [];
  for (let i = top; i >= 0; i--) {
    const b = st.bids[i];
    const mine = A.mine(st, b);
    rows.push(el('li', { class: `auc-bid-row${i === top ? ' is-top' : ''}${mine ? ' is-mine' : ''}`, testid: 'ladder-row', 'data-number': b.number, 'data-amount': b.amount, 'data-mine': String(mine), 'data-proxy': String(!!b.proxy) },
      el('span', { class: 'auc-ladder-number mono', text: b.number }),
      el('span', { class: 'auc-ladder-amount', text: fmtAmount(b.amount) }),
      el('span', { class: 'auc-ladder-time', text: fmtTime(b.at, false) }),
      el('span', { class: 'auc-ladder-tags' },
        b.proxy ? el('span', { class: 'tag tag-muted', text: t('auc.ladder.auto') }) : null,
        mine ? el('span', { class: 'tag tag-live', text: t('auc.ladder.mine') }) : null,
        i === top ? el('span', { class: 'tag tag-ok', testid: 'ladder-lead', text: t('auc.leading') }) : null)));
  }
  list.replaceChildren(...rows);
}

function renderResult() {
  const r = st.result;
  $('result').hidden = !r;
  if (!r) return;
  renderResultCard(r);
  const o = A.outcome(st);
  const you = $('result-you');
  you.hidden = o !== 'won' && o !== 'lost';
  you.dataset.outcome = o;
  you.textContent = o === 'won' || o === 'lost' ? t(`auc.result.${o}`) : '';
}

function renderLetter() {
  const c = st.confirmation;
  const staffOrWinner = !isBidder() || A.outcome(st) === 'won';
  const show = st.result?.result === 'sold' && staffOrWinner;
  $('letter').hidden = !show;
  if (!show) return;
  $('letter-waiting').hidden = !!c;
  $('letter-save').hidden = !c;
  const fields = $('letter-fields');
  if (!c) {
    fields.replaceChildren();
    return;
  }
  let l = {};
  try {
    l = JSON.parse(c.json);
  } catch {
    // shown by digest only
  }
  const row = (key, value, testid) => el('div', {}, el('dt', { text: t(key) }), el('dd', { testid, text: value || '—' }));
  fields.replaceChildren(
    row('auc.letter.auction', l.auction, 'letter-auction'),
    row('auc.letter.lot', l.lot, 'letter-lot'),
    row('auc.letter.title2', l.title, 'letter-title'),
    row('auc.letter.seller', l.seller, 'letter-seller'),
    row('auc.letter.winner', l.winner_name, 'letter-winner'),
    row('auc.letter.number', l.number, 'letter-number'),
    row('auc.letter.price', l.price ? money(l.price) : '', 'letter-price'),
    row('auc.letter.priceDaxie', l.price ? `人民币${daxie(l.price)}` : '', 'letter-daxie'),
    row('auc.letter.endedAt', l.ended_at ? fmtTime(l.ended_at) : '', 'letter-ended-at'),
    row('auc.letter.log', l.log_seq ? `#${l.log_seq} ${shortDigest(l.log_head)}` : '', 'letter-log'),
    row('auc.letter.digest', c.digest, 'letter-digest'),
    row('auc.letter.key', shortDigest(c.key_id), 'letter-key'),
    row('auc.letter.signature', shortDigest(c.signature), 'letter-signature'),
  );
}

function renderBidders() {
  const staff = !!viewer && A.isStaff(viewer.role);
  $('bidders').hidden = !staff;
  if (!staff) return;
  const sup = viewer.role === 'supervisor';
  $('bidders-proxy-head').hidden = !sup;
  $('bidders-count').textContent = String(st.bidders.length);
  const body = $('bidders-body');
  if (!st.bidders.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: sup ? 6 : 5, class: 'empty', text: t('auc.bidders.empty') })));
    return;
  }
  body.replaceChildren(...st.bidders.map((b) => {
    const d = b.deposit;
    const dep = !d ? t('auc.deposit.none') : d.status === 'paid' ? t('auc.deposit.paid', { amount: fmtAmount(d.amount) }) : t(`auc.deposit.${d.status}`);
    return el('tr', { testid: 'bidder-row', 'data-bidder': b.bidder, 'data-number': b.number, 'data-leading': String(!!b.leading), class: b.leading ? 'is-leading' : '' },
      el('td', { class: 'auc-name' }, b.name, b.leading ? el('span', { class: 'tag tag-ok', text: t('auc.leading') }) : null),
      el('td', { class: 'mono', text: b.number }),
      el('td', { text: dep }),
      el('td', { text: b.qualified ? t('auc.bidders.yes') : b.reason ? `${t('auc.bidders.no')}：${b.reason}` : t('auc.bidders.no') }),
      el('td', { text: String(b.bids) }),
      sup ? el('td', { testid: 'bidder-proxy', text: b.proxy_max ? fmtAmount(b.proxy_max) : '—' }) : null);
  }));
}

function render() {
  renderConnection(sock);
  if (!st) return;
  renderHead();
  renderBoard();
  renderMe();
  renderBid();
  renderProxy();
  renderLadder();
  renderResult();
  renderLetter();
  renderBidders();
  document.body.dataset.role = viewer?.role || '';
  document.body.dataset.phase = st.phase;
}

// ---- wiring ----

function wire() {
  wireLangSwitch();
  onLangChange(() => {
    ui.problem = null;
    ui.proxyProblem = null;
    render();
  });
  for (const k of [1, 2, 5]) {
    $(`quick-${k}`).addEventListener('click', (e) => {
      const a = e.currentTarget.dataset.amount;
      if (!a) return;
      $('bid-amount').value = a;
      placeBid(a);
    });
  }
  $('bid-form').addEventListener('submit', (e) => {
    e.preventDefault();
    placeBid($('bid-amount').value);
  });
  $('bid-amount').addEventListener('input', () => {
    if (ui.problem) {
      ui.problem = null;
      renderBid();
    }
  });
  $('proxy-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setProxy();
  });
  $('proxy-cancel').addEventListener('click', cancelProxy);
  $('letter-save').addEventListener('click', saveLetter);
  window.addEventListener('hashchange', () => location.reload());
  setInterval(() => {
    renderCountdown();
    if (needsConnRender(sock)) renderConnection(sock);
  }, 250);
  setInterval(syncClock, CLOCK_EVERY_MS);
  syncClock();
  sock.start();
  render();
}

wire();
