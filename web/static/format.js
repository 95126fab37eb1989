// How the pages write what the server sends: times in Beijing time in the
// page's language, amounts with thousands separators, sizes, digests and
// countdowns. The server's times are RFC 3339 (nanoseconds allowed).

import { t, lang } from './i18n.js';

/** parseTime parses an RFC 3339 time from the server (nanoseconds allowed) to ms since the epoch. */
export function parseTime(s) {
  if (!s) return NaN;
  return Date.parse(String(s).replace(/(\.\d{3})\d+/, '$1'));
}

function formatAt(s, opts) {
  const ms = typeof s === 'number' ? s : parseTime(s);
  if (Number.isNaN(ms)) return '—';
  return new Intl.DateTimeFormat(lang() === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', hour12: false, ...opts }).format(ms);
}

const DAY = { year: 'numeric', month: '2-digit', day: '2-digit' };

/** fmtTime writes a time (RFC 3339 or ms) to the second, with its full date unless withDate is false: the opening's precision. */
export function fmtTime(s, withDate = true) {
  return formatAt(s, { hour: '2-digit', minute: '2-digit', second: '2-digit', ...(withDate ? DAY : {}) });
}

/** fmtMinute writes a time to the minute, with month and day unless withDate is false: the evaluation's days-long steps. */
export function fmtMinute(s, withDate = true) {
  return formatAt(s, { hour: '2-digit', minute: '2-digit', ...(withDate ? { month: '2-digit', day: '2-digit' } : {}) });
}

/** fmtDate writes the date of a time. */
export function fmtDate(s) {
  return formatAt(s, DAY);
}

/** fmtDuration writes a countdown: hh:mm:ss, with the days before it when there are any. */
export function fmtDuration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return (d > 0 ? t('room.countdown.days', { d }) : '') + `${pad(h)}:${pad(m)}:${pad(s)}`;
}

/** fmtAmount writes a decimal amount (yuan, as read out) with thousands separators and its decimals as they are; '—' for none. */
export function fmtAmount(p) {
  if (!p) return '—';
  const [int, frac] = String(p).split('.');
  return `${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${frac ? '.' + frac : ''}`;
}

/** fmtBytes writes a size in B, KiB or MiB. */
export function fmtBytes(n) {
  if (typeof n !== 'number' || Number.isNaN(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** shortDigest writes a long hex digest or key id as its first and last 8 characters; '—' for none. */
export function shortDigest(d) {
  if (!d) return '—';
  return d.length > 20 ? `${d.slice(0, 8)}…${d.slice(-8)}` : d;
}
