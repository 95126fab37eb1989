// The public auction ticker (竞价公告屏, ticker.html?auction=ID): for a big
// screen in the trading hall or anyone following a sale. It polls the
// public view (GET /api/v1/auctions/{id}/ticker, no token: {server_time,
// auction}) about once a second and shows the lot, the phase, the current price, the countdown on
// the server's clock, and the bids by number — never a bidder's name,
// which the public view does not carry and this page would not draw — and
// the reserve once the auction has ended.

import './i18n-auction.js';
import { t, wireLangSwitch, onLangChange } from './i18n.js';
import { parseTime, fmtTime, fmtDuration, fmtAmount } from './format.js';
import * as A from './auctionstate.js';
import { $, el } from './dom.js';
import { money, renderResultCard } from './auction-result.js';

const params = new URLSearchParams(location.search);
const ID = params.get('auction') || new URLSearchParams(location.hash.slice(1)).get('auction') || '';

const POLL_MS = 1000;
const CLOCK_EVERY_MS = 15000;

const clock = new A.Clock();
let st = null;
let lastOk = 0;
let failing = '';


async function syncClock() {
  try {
    const sent = Date.now();
    const r = await fetch('/api/v1/time', { cache: 'no-store' });
    const body = await r.json();
    clock.add(sent, parseTime(body.server_time), Date.now());
  } catch {
    // keep the last estimate
  }
}

async function poll() {
  try {
    const sent = Date.now();
    const r = await fetch(`/api/v1/auctions/${encodeURIComponent(ID)}/ticker`, { cache: 'no-store' });
    const body = await r.json().catch(() => ({}));
    // The answer carries the server's time: one more sample of its clock.
    if (r.ok && body.server_time) clock.add(sent, parseTime(body.server_time), Date.now());
    if (!r.ok) {
      failing = body?.error?.message || `HTTP ${r.status}`;
      // A missing auction will not appear by retrying often: slow down.
      if (r.status === 404 || r.status === 403) fatal(t('tick.err', { message: failing }));
    } else {
      st = A.fromSnapshot(body.auction || {});
      failing = '';
      lastOk = Date.now();
      $('room-error').hidden = true;
      document.body.classList.remove('is-fatal');
    }
  } catch (err) {
    failing = err?.message || 'network';
  }
  render();
  setTimeout(poll, failing && !st ? POLL_MS * 3 : POLL_MS);
}

function fatal(text) {
  $('ticker-error').textContent = text;
  $('room-error').hidden = false;
  document.body.classList.add('is-fatal');
}

function render() {
  const status = $('ticker-status');
  status.textContent = failing ? t('tick.retrying') : lastOk ? t('tick.updated', { at: fmtTime(clock.now(lastOk), false) }) : '';
  document.body.classList.toggle('is-empty', !st);
  if (!st) return;
  const s = st.spec;
  $('auc-title').textContent = s.title || ID;
  $('category').textContent = s.category ? t(`auc.category.${s.category}`) : '';
  const ph = $('phase');
  ph.dataset.phase = st.phase;
  ph.textContent = t(`auc.phase.${st.phase || 'loading'}`);
  $('auc-lot').textContent = s.lot || '—';
  $('auc-seller').textContent = s.seller || '—';
  $('auc-start').textContent = money(s.start_price);
  const inc = s.increments || {};
  $('auc-increments').textContent = inc.step
    ? money(inc.step)
    : (inc.stages || []).map((x) => t('auc.stage', { from: fmtAmount(x.from), step: fmtAmount(x.step) })).join('；') || '—';
  const res = $('auc-reserve');
  res.dataset.reserve = s.reserve_price || '';
  res.textContent = s.reserve_price ? money(s.reserve_price) : t(s.has_reserve ? 'auc.reserveHidden' : 'auc.reserveNone');
  const details = s.details || [];
  $('details-card').hidden = !details.length;
  $('details').replaceChildren(...details.map((d) => el('div', {}, el('dt', { text: d.label }), el('dd', { text: d.value }))));

  const h = st.highest;
  $('price-label').textContent = t(h ? 'auc.price.current' : 'auc.price.start');
  $('price').textContent = fmtAmount(h ? h.amount : s.start_price);
  $('price').dataset.amount = h ? h.amount : '';
  $('bid-count').textContent = t('auc.count', { n: st.bidCount, q: st.quoted });
  renderCountdown();

  const list = $('ladder');
  $('ladder-count').textContent = st.bidCount > st.bids.length ? t('auc.ladder.more', { n: st.bids.length, total: st.bidCount }) : st.bidCount ? String(st.bidCount) : '';
  if (!st.bids.length) {
    list.replaceChildren(el('li', { class: 'empty', text: t('auc.ladder.empty') }));
  } else {
    const top = st.bids.length - 1;
    const rows = [];
    for (let i = top; i >= 0; i--) {
      const b = st.bids[i];
      rows.push(el('li', { class: `auc-bid-row${i === top ? ' is-top' : ''}`, testid: 'ladder-row', 'data-number': b.number, 'data-amount': b.amount },
        el('span', { class: 'auc-ladder-number mono', text: b.number }),
        el('span', { class: 'auc-ladder-amount', text: fmtAmount(b.amount) }),
        el('span', { class: 'auc-ladder-time', text: fmtTime(b.at, false) }),
        el('span', { class: 'auc-ladder-tags' },
          b.proxy ? el('span', { class: 'tag tag-muted', text: t('auc.ladder.auto') }) : null,
          i === top ? el('span', { class: 'tag tag-ok', text: t('auc.leading') }) : null)));
    }
    list.replaceChildren(...rows);
  }

  const r = st.result;
  $('result').hidden = !r;
  if (r) renderResultCard(r);
}

function renderCountdown() {
  if (!st) return;
  const now = clock.now();
  const c = A.countdown(st, now);
  const box = $('countdown');
  box.dataset.kind = c.kind;
  box.dataset.endsAt = st.phase === 'timed' || st.phase === 'listing' ? st.endsAt || '' : '';
  const label = { toStart: 'auc.cd.toStart', toListingEnd: 'auc.cd.toListingEnd', toEnd: 'auc.cd.toEnd', due: 'auc.cd.due', ended: 'auc.cd.ended' }[c.kind];
  $('countdown-label').textContent = label ? t(label) : '';
  let value = '--:--:--';
  if (c.kind === 'ended') value = st.result ? t(`auc.result.${st.result.result}`) : '—';
  else if (!Number.isNaN(c.target)) value = fmtDuration(c.target - now);
  $('countdown-value').textContent = value;
  box.dataset.soon = String(c.kind === 'toEnd' && c.target - now <= 10000);
  $('countdown-ends').textContent = Number.isNaN(c.target) ? '' : t('auc.cd.endsAt', { at: fmtTime(c.target) });
}

wireLangSwitch();
onLangChange(render);
if (!ID) {
  fatal(t('tick.noAuction'));
} else {
  syncClock();
  setInterval(syncClock, CLOCK_EVERY_MS);
  setInterval(renderCountdown, 250);
  poll();
}
