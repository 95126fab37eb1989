// The landing page: what Bidroom is, and a way into a room — one button per
// identity of the demo session when the server runs one, otherwise a form
// for a session id and an access token.

import './i18n-admin-auction.js'; // the demo auction's card
import { t, wireLangSwitch, onLangChange } from './i18n.js';
import { $ } from './dom.js';

let demo = null;

/** roomLink builds the room page address; the token goes in the fragment so it never reaches server logs. */
function roomLink(room, token) {
  const f = new URLSearchParams({ room, token });
  return `room.html#${f}`;
}

/** evalLink builds the evaluation page address (token in the fragment, as roomLink). */
function evalLink(room, token) {
  const f = new URLSearchParams({ room, token });
  return `eval.html#${f}`;
}

/** personItem is one clickable identity: the button into its room and, if it has one, its demo key. */
function personItem(p, href, label, testid) {
  const a = document.createElement('a');
  a.className = 'person-button';
  a.href = href;
  a.dataset.testid = testid;
  a.dataset.role = p.role;
  a.dataset.sub = p.sub;
  const role = document.createElement('span');
  role.className = 'role-tag';
  role.dataset.role = p.role;
  role.textContent = t(`role.${p.role}`);
  const text = document.createElement('span');
  text.className = 'person-button-label';
  text.textContent = label;
  a.append(role, text);
  const li = document.createElement('li');
  li.className = 'demo-person';
  li.append(a);
  if (p.key_url) {
    // The demo's throwaway private key for this person, to sign with.
    const k = document.createElement('a');
    k.className = 'demo-key';
    k.href = p.key_url;
    k.download = `${p.sub}.key.pem`;
    k.dataset.testid = testid === 'demo-person' ? 'demo-key' : `${testid}-key`;
    k.dataset.sub = p.sub;
    k.title = t('landing.demo.keyTitle', { name: p.name });
    k.textContent = t('landing.demo.key');
    li.append(k);
  }
  return li;
}

function renderEvalDemo() {
  const ev = demo && demo.evaluation;
  $('demo-eval').hidden = !ev;
  if (!ev) return;
  $('demo-eval-room').textContent = t('landing.eval.room', { room: ev.room, opening: ev.opening });
  $('demo-eval-played').textContent = (ev.played || []).length ? t('landing.eval.played', { names: ev.played.join('、') }) : '';
  const list = $('demo-eval-people');
  list.replaceChildren();
  for (const p of ev.people || []) {
    const bidder = p.role === 'bidder';
    const href = bidder ? roomLink(p.room, p.token) : evalLink(p.room, p.token);
    const label = bidder ? t('landing.eval.enterAsBidder', { name: p.name }) : t('landing.demo.enterAs', { name: p.name });
    list.append(personItem(p, href, label, 'demo-eval-person'));
  }
}

/** beijingTime is "2026-12-01 09:30" in Beijing time. */
function beijingTime(d) {
  const s = new Date(new Date(d).getTime() + 8 * 3600e3).toISOString();
  return `${s.slice(0, 10)} ${s.slice(11, 16)}`;
}

/** linkItem is a plain link in the people list (no identity, no token). */
function linkItem(href, label, testid) {
  const a = document.createElement('a');
  a.className = 'person-button';
  a.href = href;
  a.dataset.testid = testid;
  const text = document.createElement('span');
  text.className = 'person-button-label';
  text.textContent = label;
  a.append(text);
  const li = document.createElement('li');
  li.className = 'demo-person';
  li.append(a);
  return li;
}

function renderAuctionDemo() {
  const au = demo && demo.auction;
  $('demo-auction').hidden = !au;
  if (!au) return;
  $('demo-auction-room').textContent = au.room;
  $('demo-auction-hint').textContent = t('aa.demo.hint', { lot: au.lot, end: beijingTime(au.listing_end) });
  $('demo-auction-played').textContent = (au.played || []).length ? t('aa.demo.played', { names: au.played.join('、') }) : '';
  const list = $('demo-auction-people');
  list.replaceChildren();
  for (const p of au.people || []) {
    // The bidding page takes room and token in the fragment, as roomLink.
    const href = `auction.html#${new URLSearchParams({ room: au.room, token: p.token })}`;
    const label = p.role === 'bidder' ? t('aa.demo.enterAs', { name: p.name }) : t('landing.demo.enterAs', { name: p.name });
    list.append(personItem(p, href, label, 'demo-auction-person'));
  }
  list.append(linkItem(`ticker.html?${new URLSearchParams({ auction: au.room })}`, t('aa.demo.ticker'), 'demo-auction-ticker'));
  list.append(linkItem(`admin-auction.html#${new URLSearchParams({ auction: au.room })}`, t('aa.demo.admin'), 'demo-auction-admin'));
}

function renderDemo() {
  renderEvalDemo();
  renderAuctionDemo();
  if (!demo) return;
  $('demo-room').textContent = t('landing.demo.room', { room: demo.room });
  const list = $('demo-people');
  list.replaceChildren();
  for (const p of demo.people) {
    list.append(personItem(p, roomLink(demo.room, p.token), t('landing.demo.enterAs', { name: p.name }), 'demo-person'));
  }
}

async function loadDemo() {
  try {
    const r = await fetch('/api/v1/demo', { cache: 'no-store' });
    if (r.ok) {
      const d = await r.json();
      if (d && d.room && Array.isArray(d.people) && d.people.length > 0) demo = d;
    }
  } catch {
    // No demo reachable: the form below is the way in.
  }
  $('demo-loading').hidden = true;
  $('demo').hidden = !demo;
  $('manual').hidden = !!demo;
  renderDemo();
}

function wireForm() {
  $('manual-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const room = $('manual-room').value.trim();
    const token = $('manual-token').value.trim();
    const err = $('manual-error');
    if (!room || !token) {
      err.hidden = false;
      err.textContent = t('landing.manual.missing');
      return;
    }
    err.hidden = true;
    location.href = roomLink(room, token);
  });
}

wireLangSwitch();
onLangChange(renderDemo);
wireForm();
loadDemo();
