// What the admin console pages (admin.html, admin-pool.html) share: the
// admin API key, kept in this tab's sessionStorage only (never in the
// address, so never in history, bookmarks or server logs), signing in and
// out with it, the REST client that sends it and says its refusals in
// words, the server's clock, and the pieces of their forms (problems at
// each field, a public key's field, a minted link's row). Each page keeps
// its own views and what the server's messages mean in its own words.

import { $, el } from './dom.js';
import { t } from './i18n.js';

const KEY_STORAGE = 'bidroom.adminKey';
// The SM2 curve's OID (1.2.156.10197.1.301) as DER bytes: in every SM2
// public key and in the key of every SM2 certificate.
const SM2_OID = '\x2a\x81\x1c\xcf\x55\x01\x82\x2d';
const MAX_KEY_BYTES = 8 << 10;

/** ID_RE is the server's pattern for ids: sessions, evaluations, people (rooms, auth.Mint). */
export const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** MAX_TOKEN_HOURS is the longest an access token may live (auth.Mint). */
export const MAX_TOKEN_HOURS = 720;

let key = readKey();
let skew = 0; // server clock minus this computer's, ms
// What the page does when the admin signs out, and how it says a refusal;
// set by wireConsole.
const page = {
  route() {},
  forget() {},
  refusal: (message) => t('admin.err.refused', { message }),
};

// ---- the key ----

function readKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || '';
  } catch {
    return '';
  }
}

function storeKey(k) {
  key = k;
  try {
    if (k) sessionStorage.setItem(KEY_STORAGE, k);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Not stored: the key lasts until this page is left.
  }
}

/** adminKey is the key the admin signed in with; '' when signed out. */
export const adminKey = () => key;

/**
 * wireConsole wires the sign-in form (admin-signin-form, admin-key,
 * admin-signin-submit, admin-signin-error; the key is tried on GET
 * /sessions before it is kept) and the sign-out button (admin-signout).
 * route shows the page for the current address (the sign-in when signed
 * out); forget drops what the page kept for an admin who signed out;
 * refusal says a server's refusal (its English message) in the page's
 * words.
 */
export function wireConsole({ route, forget, refusal }) {
  Object.assign(page, { route, forget }, refusal ? { refusal } : {});
  $('admin-signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const typed = $('admin-key').value.trim();
    if (!typed) {
      showError('admin-signin-error', t('admin.signin.empty'));
      return;
    }
    const button = $('admin-signin-submit');
    button.disabled = true;
    key = typed;
    try {
      await api('GET', '/api/v1/sessions');
      storeKey(typed);
      $('admin-key').value = '';
      showError('admin-signin-error', '');
      showCenter();
      page.route();
    } catch (err) {
      key = '';
      showError('admin-signin-error', err instanceof ApiError && err.status === 401 ? t('admin.signin.wrong') : describe(err));
    } finally {
      button.disabled = false;
    }
  });
  $('admin-signout').addEventListener('click', () => {
    location.hash = '';
    signOut('');
  });
  showCenter();
}

/**
 * showCenter writes which center the signed-in key or token works for in
 * the page's admin-center badge: the platform's key sees every center, a
 * center admin's token one (市县一体化), the oversight reads all.
 */
async function showCenter() {
  const badge = document.getElementById('admin-center');
  if (!badge) return;
  badge.hidden = true;
  if (!key) return;
  try {
    const d = await api('GET', '/api/v1/centers');
    const names = d.centers.map((c) => c.name).join('、');
    badge.textContent = d.all ? t(d.read_only ? 'admin.center.oversight' : 'admin.center.all', { names }) : t('admin.center.one', { names });
    badge.dataset.centers = d.centers.map((c) => c.id).join(',');
    badge.hidden = false;
  } catch {
    // No badge: the page works the same.
  }
}

/** signInFirst shows the sign-in (show is the page's view switch) when no key is kept; true when it did. */
export function signInFirst(show) {
  if (key) return false;
  show('admin-signin');
  $('admin-key').focus();
  return true;
}

/** signOut forgets the key and what the page kept, and shows the sign-in with message. */
export function signOut(message) {
  storeKey('');
  page.forget();
  showError('admin-signin-error', message || '');
  page.route();
}

/** newId is 128 random bits in hex: idempotency keys, command ids. */
export function newId() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

// ---- the server's clock ----

/** now is the server's time, as far as syncClock learnt it. */
export const now = () => new Date(Date.now() + skew);

/** syncClock learns how far this computer's clock is from the server's. */
export async function syncClock() {
  try {
    const sent = Date.now();
    const d = await (await fetch('/api/v1/time', { cache: 'no-store' })).json();
    const st = Date.parse(d.server_time);
    // The server read its clock somewhere in the round trip: its middle is the best guess.
    if (!Number.isNaN(st)) skew = st - (sent + Date.now()) / 2;
  } catch {
    // This computer's clock, then.
  }
}

/** beijing formats a time (a Date or RFC 3339) as "2026-12-01 09:30" in Beijing time (UTC+8), whatever this computer's zone. */
export function beijing(d) {
  const s = new Date(new Date(d).getTime() + 8 * 3600e3).toISOString();
  return `${s.slice(0, 10)} ${s.slice(11, 16)}`;
}

/** span says a whole number of minutes in days, hours and minutes, leaving out leading zeros. */
export function span(minutes) {
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d) return t('admin.span.dhm', { d, h, m });
  if (h) return t('admin.span.hm', { h, m });
  return t('admin.span.m', { m });
}

// ---- talking to the server ----

export class ApiError extends Error {
  constructor(status, code, message, detail = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** request calls the REST API with the admin key and resolves to {status, data}; it throws an ApiError when the server refuses or cannot be reached. */
export async function request(method, path, body, headers = {}) {
  const h = { Authorization: `Bearer ${key}`, ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', '');
  }
  let data = null;
  try {
    data = await r.json();
  } catch {
    // no JSON body
  }
  if (!r.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(r.status, e.code || `http_${r.status}`, e.message || '', e);
  }
  return { status: r.status, data };
}

/** api is request's answer alone. */
export async function api(method, path, body, headers = {}) {
  return (await request(method, path, body, headers)).data;
}

/** describe turns an error from api() into a sentence for a person. */
export function describe(err) {
  if (!(err instanceof ApiError)) return t('admin.err.unexpected', { message: String(err && err.message) });
  if (err.status === 0) return t('admin.err.network');
  if (err.status === 401) return t('admin.err.unauthorized');
  if (err.status === 413) return t('admin.err.tooLarge');
  if (err.status >= 500) return t('admin.err.server');
  return page.refusal(err.message || err.code);
}

/** showError shows msg in the error line id, or hides the line when msg is empty. */
export function showError(id, msg) {
  const e = $(id);
  e.textContent = msg || '';
  e.hidden = !msg;
}

/** keyRefused signs the page out when err is a 401 — the key stopped working (rotated) — and says whether it did. */
export function keyRefused(err) {
  if (!(err instanceof ApiError && err.status === 401)) return false;
  signOut(t('admin.err.unauthorized'));
  return true;
}

/** fail says err (or message) in the error line errorId, unless it was a 401, which signs the page out. */
export function fail(errorId, err, message) {
  if (!keyRefused(err)) showError(errorId, message || describe(err));
}

/** guard runs fn and resolves to its answer; when it throws, to undefined after fail. */
export async function guard(errorId, fn) {
  try {
    return await fn();
  } catch (err) {
    fail(errorId, err);
    return undefined;
  }
}

// ---- forms ----

/** textLength counts characters as the server does (code points). */
export const textLength = (s) => [...s].length;

/** clearErrors removes the problems shown in form, and empties and hides box (a form-errors list) if given. */
export function clearErrors(form, box) {
  for (const e of form.querySelectorAll('.field-error')) e.remove();
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  if (box) {
    box.hidden = true;
    box.querySelector('ul').replaceChildren();
  }
}

/** Problems collects what is wrong with a form, each at its field. */
export class Problems {
  constructor() {
    this.list = [];
  }

  add(input, msg) {
    this.list.push({ input, msg });
  }

  /** show marks the fields and lists the messages in box (if any); true when there were problems. */
  show(box) {
    for (const { input, msg } of this.list) {
      input.setAttribute('aria-invalid', 'true');
      const holder = input.closest('.field, .check, .row-actions') || input.parentElement;
      holder.append(el('small', { class: 'field-error', testid: 'field-error' }, msg));
    }
    if (box) {
      box.querySelector('ul').replaceChildren(...this.list.map(({ msg }) => el('li', {}, msg)));
      box.hidden = this.list.length === 0;
    }
    if (this.list.length) this.list[0].input.focus();
    return this.list.length > 0;
  }
}

/** checkPEM says what is wrong with a key text (an i18n key), or '' when it looks like one SM2 public key or certificate. */
export function checkPEM(text) {
  const s = text.trim();
  if (!s) return 'admin.pem.empty';
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(s)) return 'admin.pem.private';
  if (new Blob([s]).size > MAX_KEY_BYTES) return 'admin.pem.tooBig';
  const m = s.match(/^-----BEGIN (PUBLIC KEY|CERTIFICATE)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----$/);
  if (!m) return 'admin.pem.notPem';
  let der;
  try {
    der = atob(m[2].replace(/\s+/g, ''));
  } catch {
    return 'admin.pem.notPem';
  }
  if (der.length < 60 || der.charCodeAt(0) !== 0x30) return 'admin.pem.notPem';
  if (!der.includes(SM2_OID)) return 'admin.pem.notSm2';
  return '';
}

/** keyField wires a public key's textarea, its file picker and status line; it returns the check that fills the status. */
export function keyField(area, file, status) {
  const check = () => {
    const v = area.value.trim();
    const problem = v ? checkPEM(v) : '';
    status.textContent = !v ? '' : problem ? t(problem) : t(v.includes('CERTIFICATE') ? 'admin.pem.okCert' : 'admin.pem.ok');
    status.dataset.ok = String(!!v && !problem);
  };
  area.addEventListener('input', check);
  file.addEventListener('change', async () => {
    const f = file.files[0];
    if (!f) return;
    if (f.size > MAX_KEY_BYTES * 2) {
      area.value = '';
      status.textContent = t('admin.pem.tooBig');
      status.dataset.ok = 'false';
      return;
    }
    area.value = (await f.text()).trim();
    check();
  });
  return check;
}

/** fact is a <dt>/<dd> pair of a facts list; testid names the value. */
export function fact(label, value, testid) {
  return [el('dt', {}, label), el('dd', { testid }, value)];
}

/**
 * copyText copies input's text, says so on button for a moment, and leaves
 * the text selected; the button then reads its data-i18n text again (or
 * 'copy').
 */
export async function copyText(input, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch {
    // No clipboard API (plain http on an intranet address): the old way.
    input.select();
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
  }
  input.select();
  button.textContent = t(ok ? 'admin.links.copied' : 'admin.links.copyManual');
  setTimeout(() => (button.textContent = t(button.dataset.i18n || 'admin.links.copy')), 2500);
}

/**
 * linkRow is a minted entry link l ({role, sub, name, url, expires}) with
 * copy and open buttons; who names the role, detail (a node) follows the
 * person.
 */
export function linkRow(l, who = t(`role.${l.role}`), detail = null) {
  const input = el('input', { type: 'text', readOnly: true, value: l.url, class: 'mono', testid: 'link-url', 'aria-label': t('admin.links.url', { name: l.name }) });
  const copy = el('button', { type: 'button', class: 'primary', testid: 'link-copy' }, t('admin.links.copy'));
  copy.addEventListener('click', () => copyText(input, copy));
  return el('li', { class: 'link-row', testid: 'link', 'data-role': l.role, 'data-sub': l.sub },
    el('div', { class: 'link-who' },
      el('span', { class: 'role-tag', 'data-role': l.role }, who),
      el('span', { class: 'link-name' }, l.name),
      el('span', { class: 'mono hint' }, l.sub),
      detail,
      el('span', { class: 'hint' }, t('admin.links.until', { time: beijing(l.expires) }))),
    el('div', { class: 'link-copy-row' }, input, copy,
      el('a', { href: l.url, target: '_blank', rel: 'noopener noreferrer', class: 'button', testid: 'link-open' }, t('admin.links.open'))));
}
