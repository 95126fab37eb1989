// A room's websocket as every page uses it (docs/protocol.md): connect with
// the token, a snapshot then ordered events counted by pos, resume with
// pos= after a drop (with backoff), a fresh snapshot on a gap, commands
// with a client-chosen id answered by ack or error (retried with the same
// id after a reconnect, a conflict or a server error), and the server's
// clock from time frames. The page folds the frames into its state and
// draws; this module only talks to the server and draws the connection
// indicator the pages share (conn-status, stale-banner, room-error).

import { t } from './i18n.js';
import { $ } from './dom.js';
import { parseTime } from './format.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;
const TIME_PROBE_EVERY_MS = 30000;

/** uuid is a random v4 UUID, also where crypto.randomUUID is missing (plain http). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}


/**
 * RoomSocket is one page's connection to one room. messages overrides the
 * i18n keys of the fatal errors {auth, forbidden (403; auth if unset),
 * gone (404), noToken}. hooks (all optional):
 *   welcome(viewer, frame)        the first frame of each connection
 *   snapshot(frame, reloaded)     a snapshot: the page replaces its state
 *   event(event, pos)             the next event, in order
 *   ack(pending, frame)           a command succeeded
 *   refused(pending, frame)       a command was refused; return true when handled
 *   serverError(frame)            an error frame about no command of ours
 *   feedback(key, params, kind)   a line for the person ("sending…", "queued")
 *   change()                      the connection changed: redraw
 * pending is {command, data, what, done}. Nothing is sent before start().
 */
export class RoomSocket {
  constructor({ room, token, hooks = {}, messages = {} }) {
    this.room = room;
    this.token = token;
    this.hooks = hooks;
    // The i18n keys of the fatal errors ({message} is the server's words).
    this.messages = { auth: 'err.auth', forbidden: '', gone: 'err.gone', noToken: 'err.noToken', ...messages };
    this.ws = null; // the current socket, or null
    this.live = false; // welcome + snapshot/resumed received on ws
    this.attempt = 0; // failed attempts since the last live connection
    this.retryTimer = null;
    this.retryAt = 0;
    this.fatal = null; // {key, params}: retrying cannot help
    this.everLive = false;
    this.resumes = 0; // times a reconnect resumed from pos
    this.catchUp = null; // {n, countUntil, until}: events replayed after the last reconnect
    this.lastSync = ''; // "snapshot" | "resumed"
    this.gaps = 0; // consecutive out-of-order events (see onGap)
    this.viewer = null; // {sub, role, name} from welcome
    this.hasState = false; // a snapshot arrived
    this.pos = null; // events shown to this client; null before the first snapshot
    this.pending = new Map(); // command id -> pending
    this.state = 'idle'; // idle | connecting | live | reconnecting | error
    // Clock: server time ≈ Date.now() + offset; the sample with the
    // shortest round trip wins (its error is at most rtt/2).
    this.clock = { offset: 0, rtt: Infinity, samples: [] };
    this.probes = new Map();
    this.probeTimer = null;
    this.stopped = false;
  }

  /** start connects, or shows err.noToken without a room and token; it also wires online and conn-retry. */
  start() {
    window.addEventListener('online', () => {
      if (!this.ws && !this.fatal && !this.stopped) {
        this.attempt = 0;
        this.connect();
      }
    });
    $('conn-retry')?.addEventListener('click', () => this.retryNow());
    if (!this.room || !this.token) {
      this.fail(this.messages.noToken);
      return;
    }
    this.connect();
  }

  serverNow() {
    return Date.now() + this.clock.offset;
  }

  setState(s) {
    this.state = s;
    this.hooks.change?.();
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.fatal || this.stopped) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ room: this.room, access_token: this.token });
    if (this.pos !== null) q.set('pos', String(this.pos));
    const sock = new WebSocket(`${proto}//${location.host}/ws?${q}`);
    this.ws = sock;
    this.live = false;
    let welcomed = false;
    this.setState(this.everLive ? 'reconnecting' : 'connecting');
    sock.addEventListener('message', (m) => {
      if (this.ws !== sock) return;
      let f;
      try {
        f = JSON.parse(m.data);
      } catch {
        return;
      }
      if (f.type === 'welcome') welcomed = true;
      this.onFrame(f);
    });
    sock.addEventListener('close', () => {
      if (this.ws !== sock) return; // replaced on purpose
      this.ws = null;
      this.live = false;
      this.stopProbes();
      this.onLost(welcomed);
    });
  }

  /** reconnectNow drops the current socket and connects again at once (from pos). */
  reconnectNow() {
    const old = this.ws;
    this.ws = null;
    this.live = false;
    this.stopProbes();
    if (old) old.close(4000, 'resync');
    this.connect();
  }

  /** resync starts over from a fresh snapshot (for an event the page cannot fold exactly). */
  resync() {
    this.pos = null;
    this.reconnectNow();
  }

  /** retryNow clears a fatal error and connects again. */
  retryNow() {
    this.fatal = null;
    const box = $('room-error');
    if (box) box.hidden = true;
    this.attempt = 0;
    this.reconnectNow();
  }

  /** stop closes the connection for good (the page has nothing more to show). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const old = this.ws;
    this.ws = null;
    this.live = false;
    this.stopProbes();
    if (old) old.close(1000, 'done');
    this.setState('idle');
  }

  // onGap handles an event whose pos is not the next one: first resume from
  // the last position held; if that gaps again, start over from a snapshot,
  // and from then on back off rather than reconnect in a tight loop.
  onGap() {
    this.gaps++;
    if (this.gaps >= 2) this.pos = null;
    if (this.gaps <= 2) {
      this.reconnectNow();
      return;
    }
    const old = this.ws;
    this.ws = null;
    this.live = false;
    this.stopProbes();
    if (old) old.close(4000, 'resync');
    this.scheduleRetry();
  }

  async onLost(welcomed) {
    if (this.stopped) return;
    if (!welcomed) {
      // The upgrade failed before any frame (first connection, or a
      // reconnect after the token expired or the viewer was let out of
      // the room): find out whether retrying can help.
      const problem = await this.diagnose();
      if (problem) {
        // A room that refuses this token (403) will refuse it again: no retry.
        if (problem[1].status === 403) this.refuse(...problem);
        else this.fail(...problem);
        return;
      }
    }
    this.scheduleRetry();
  }

  scheduleRetry() {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt++;
    this.retryAt = Date.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setState(this.everLive || this.attempt > 1 ? 'reconnecting' : 'connecting');
  }

  // diagnose asks the REST API why the websocket was refused; it returns
  // [key, params] when the token or room is bad (retrying will not help).
  async diagnose() {
    try {
      const r = await fetch(`/api/v1/sessions/${encodeURIComponent(this.room)}`, {
        headers: { Authorization: `Bearer ${this.token}` },
        cache: 'no-store',
      });
      if (r.ok || r.status >= 500) return null;
      const body = await r.json().catch(() => ({}));
      const msg = body?.error?.message || `HTTP ${r.status}`;
      const m = this.messages;
      const key = r.status === 404 ? m.gone : r.status === 403 && m.forbidden ? m.forbidden : m.auth;
      return [key, { message: msg, status: r.status, code: body?.error?.code || '' }];
    } catch {
      return null; // network down: keep retrying
    }
  }

  /**
   * refuse closes the connection for good and shows key in the room-error
   * box instead of the room: the page will not show this room to this
   * viewer (what it received is dropped).
   */
  refuse(key, params = {}) {
    this.stop();
    this.hasState = false;
    this.fail(key, params);
  }

  /** fail stops retrying and shows key in the room-error box. */
  fail(key, params = {}) {
    this.fatal = { key, params };
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const box = $('room-error');
    if (box) box.hidden = false;
    this.setState('error');
  }

  goLive(kind) {
    this.live = true;
    this.everLive = true;
    this.attempt = 0;
    this.lastSync = kind;
    this.setState('live');
    for (const id of this.pending.keys()) this.sendCommand(id); // retry with the same id
  }

  onFrame(f) {
    switch (f.type) {
      case 'welcome':
        this.viewer = { sub: f.you?.sub, role: f.you?.role, name: f.name || '' };
        if (this.clock.rtt === Infinity) this.clock.offset = parseTime(f.server_time) - Date.now();
        this.startProbes();
        this.hooks.welcome?.(this.viewer, f);
        break;
      case 'snapshot': {
        const reloaded = this.hasState;
        this.hasState = true;
        this.pos = f.pos;
        if (reloaded) this.catchUp = { n: 0, countUntil: 0, until: Date.now() + 5000 };
        this.hooks.snapshot?.(f, reloaded);
        if (this.stopped) return; // the page left the room (another page, or refused it)
        this.goLive('snapshot');
        break;
      }
      case 'resumed':
        if (f.pos !== this.pos || !this.hasState) {
          this.pos = null; // not where we stand: start over from a snapshot
          this.reconnectNow();
          return;
        }
        this.resumes++;
        // The replayed events follow this frame at once; count those.
        this.catchUp = { n: 0, countUntil: Date.now() + 1000, until: Date.now() + 5000 };
        this.goLive('resumed');
        break;
      case 'event':
        if (!this.hasState || this.pos === null || f.pos !== this.pos + 1) {
          this.onGap();
          return;
        }
        this.gaps = 0;
        this.pos = f.pos;
        if (this.catchUp && Date.now() < this.catchUp.countUntil) this.catchUp.n++;
        this.hooks.event?.(f.event, f.pos);
        break;
      case 'ack':
        this.onAck(f);
        break;
      case 'error':
        this.onError(f);
        break;
      case 'time':
        this.onTime(f);
        break;
      default:
        break; // frames added later within v1
    }
  }

  // ---- clock ----

  probe() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const id = 't-' + uuid();
    this.probes.set(id, Date.now());
    this.ws.send(JSON.stringify({ v: 1, type: 'time', id }));
  }

  startProbes() {
    this.stopProbes();
    this.probe();
    setTimeout(() => this.probe(), 300);
    setTimeout(() => this.probe(), 1200);
    this.probeTimer = setInterval(() => this.probe(), TIME_PROBE_EVERY_MS);
  }

  stopProbes() {
    clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.probes.clear();
  }

  onTime(f) {
    const sent = this.probes.get(f.id);
    if (sent === undefined) return;
    this.probes.delete(f.id);
    const now = Date.now();
    const rtt = now - sent;
    const offset = parseTime(f.server_time) + rtt / 2 - now;
    if (Number.isNaN(offset)) return;
    const c = this.clock;
    c.samples.push({ rtt, offset });
    if (c.samples.length > 8) c.samples.shift();
    const best = c.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    c.offset = best.offset;
    c.rtt = best.rtt;
  }

  // ---- commands ----

  /** command sends cmd with data; what names it for the person (an i18n key); done(ok) runs once answered. */
  command(cmd, data, what, done) {
    const id = uuid();
    this.pending.set(id, { command: cmd, data, what, done });
    this.sendCommand(id);
    return id;
  }

  /** busy reports whether a command of type is waiting for its answer. */
  busy(type) {
    return [...this.pending.values()].some((p) => p.command === type);
  }

  sendCommand(id) {
    const p = this.pending.get(id);
    if (!p) return;
    const ws = this.ws;
    if (!ws || !this.live || ws.readyState !== WebSocket.OPEN) {
      this.hooks.feedback?.('cmd.queued', { what: t(p.what) }, 'info');
      return;
    }
    const frame = { v: 1, type: 'command', id, command: p.command };
    if (p.data !== undefined) frame.data = p.data;
    ws.send(JSON.stringify(frame));
    this.hooks.feedback?.('cmd.sending', { what: t(p.what) }, 'info');
  }

  onAck(f) {
    const p = this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id);
    p.done?.(true, f);
    this.hooks.ack?.(p, f);
  }

  onError(f) {
    const p = f.id ? this.pending.get(f.id) : null;
    if (p) {
      // conflict and server_error may succeed on retry with the same id.
      if (f.code === 'conflict' || f.code === 'server_error') {
        setTimeout(() => this.sendCommand(f.id), 1000);
        return;
      }
      this.pending.delete(f.id);
      p.done?.(false, f);
      this.hooks.refused?.(p, f);
      return;
    }
    if (f.code === 'resume_ahead') {
      this.pos = null; // a snapshot follows
      return;
    }
    this.hooks.serverError?.(f);
  }
}

/**
 * renderConnection draws sock's state into the indicator the pages share:
 * conn-status (data-state, data-sync, data-resumes), conn-label,
 * conn-detail, conn-retry, stale-banner and the room-error text; the body
 * gets is-stale, is-empty and is-fatal.
 */
export function renderConnection(sock) {
  const c = $('conn-status');
  const s = sock.state;
  c.dataset.state = s;
  $('conn-label').textContent = t(`conn.${s}`);
  let detail = '';
  if (s === 'reconnecting' && sock.retryTimer) {
    detail = t('conn.retryIn', { s: Math.max(1, Math.ceil((sock.retryAt - Date.now()) / 1000)) });
  } else if (s === 'live' && sock.catchUp && Date.now() < sock.catchUp.until) {
    if (sock.lastSync === 'snapshot') detail = t('conn.snapshot');
    else detail = sock.catchUp.n > 0 ? t('conn.resumed', { n: sock.catchUp.n }) : t('conn.resumedNone');
  }
  if (sock.fatal) $('room-error').querySelector('.fatal-text').textContent = t(sock.fatal.key, sock.fatal.params);
  $('conn-detail').textContent = detail;
  // A page that left the room for good (sock.stop, sock.refuse) offers no retry.
  $('conn-retry').hidden = sock.stopped || !(s === 'error' || (s === 'reconnecting' && sock.attempt >= 3));
  c.dataset.sync = sock.lastSync;
  c.dataset.resumes = String(sock.resumes);

  const banner = $('stale-banner');
  const stale = sock.hasState && s !== 'live' && !sock.stopped;
  banner.hidden = !stale || !!sock.fatal;
  if (stale) banner.textContent = t('conn.stale');
  document.body.classList.toggle('is-stale', stale && !sock.fatal);
  document.body.classList.toggle('is-empty', !sock.hasState);
  document.body.classList.toggle('is-fatal', !!sock.fatal);
}

/** needsConnRender reports whether the indicator changes by itself (a retry countdown, a fading catch-up note). */
export function needsConnRender(sock) {
  return sock.state === 'reconnecting' || (sock.catchUp && Date.now() < sock.catchUp.until + 1000);
}
