// The evaluation call (评标室视频会商) on the evaluation page (eval.js): the
// members see and hear each other, supervisors watch. Each expert publishes their
// own feed (WHIP, hall=evaluation; the server names it by the token's
// subject) and views every other expert's feed (WHEP, one connection per
// feed). Who is in the call comes from the media endpoint's roster, read
// every ROSTER_EVERY_MS: no websocket event announces a feed. The WHIP/WHEP
// plumbing is media.js's; this file is the panel.

import { t, onLangChange } from './i18n.js';
import { publish, view, mediaInfo, framesDecoded, grants, onServerClosed } from './media.js';
import { $, el } from './dom.js';

const HALL = 'evaluation';
const OTHER = '\u0000'; // the venue group of a feed no venue lists
const ROSTER_EVERY_MS = 2000;
const FRAMES_EVERY_MS = 1000;
const STILL_MS = 3000; // no new frame for this long: the picture has stopped
const REPUBLISH_MS = 3000;

/**
 * callMode says what viewer may do in the call: 'expert' (publish and
 * view), 'watch' (view only: supervisors, admins, an expert without the
 * publish grant) or '' (no panel: bidders, hosts, tokens without grants).
 * It mirrors media/policy.go Allowed so that nobody asks for what the
 * server would refuse.
 */
export function callMode(role, tokenGrants) {
  const g = tokenGrants; // null: unreadable, let the server decide
  const mayView = !g || g.includes('view') || g.includes('publish');
  if (role === 'expert') {
    if (!g || g.includes('publish')) return 'expert';
    return mayView ? 'watch' : '';
  }
  if (role === 'supervisor' || role === 'admin') return mayView ? 'watch' : '';
  return '';
}

/**
 * startCall shows the call panel for viewer ({sub, role, name} from the
 * welcome frame) when their role takes part, and returns the call's state
 * (also at window.__bidroomCall), or null. With venues (the evaluation
 * page: () => [{name, label, members: [sub]}] in the order to show them),
 * the tiles are grouped by venue (主会场/分会场), each under its label.
 */
export function startCall({ room, token, viewer, venues = null }) {
  const mode = callMode(viewer.role, grants(token));
  if (!mode) return null;
  const call = new Call(room, token, viewer, mode, venues);
  window.__bidroomCall = call.exposed; // for the browser tests and support staff
  return call;
}

class Call {
  constructor(room, token, viewer, mode, venues) {
    this.venues = venues; // null, or () => [{name, members}]
    this.venueBoxes = new Map(); // venue name -> {box, head, tiles}
    this.room = room;
    this.token = token;
    this.me = viewer;
    this.mode = mode;
    // expert: 'out' (not in the call) | 'joining' | 'in' | 'rejoining'
    this.joined = 'out';
    this.local = null; // {stream, mic, cam}: the expert's camera and microphone while in the call
    this.session = null; // {pc, stop()} from publish() while publishing
    this.republishTimer = null;
    this.roster = { feeds: null, error: null }; // feeds: subjects publishing, null until read
    this.tiles = new Map(); // feed -> {fig, video, handle, state, frames, framesAt, err}
    this.sound = false; // remote audio on (needs a click first: autoplay rules)
    this.note = null; // {key, params, kind}
    this.names = new Map([[viewer.sub, viewer.name || viewer.sub]]);
    this.exposed = { publisher: null, viewers: new Map(), mode };

    this.card = $('call');
    this.card.hidden = false;
    this.card.dataset.mode = mode;
    this.wire();
    onLangChange(() => this.render());
    window.addEventListener('pagehide', () => {
      this.leave(true);
      for (const feed of [...this.tiles.keys()]) this.dropTile(feed);
    });

    if (typeof RTCPeerConnection === 'undefined') {
      this.note = { key: 'call.err.unsupported', kind: 'error' };
      this.render();
      return;
    }
    this.render();
    this.pollRoster();
    this.rosterTimer = setInterval(() => this.pollRoster(), ROSTER_EVERY_MS);
    this.framesTimer = setInterval(() => this.checkFrames(), FRAMES_EVERY_MS);
  }

  wire() {
    $('call-join').addEventListener('click', () => this.join());
    $('call-leave').addEventListener('click', () => this.leave());
    $('call-mic').addEventListener('click', () => this.toggle('mic'));
    $('call-camera').addEventListener('click', () => this.toggle('cam'));
    $('call-sound').addEventListener('click', () => this.setSound(!this.sound));
  }

  nameOf(sub) {
    return this.names.get(sub) || sub;
  }

  // ---- roster ----

  async pollRoster() {
    if (this.stopped) return;
    try {
      const info = await mediaInfo(this.room, this.token, HALL);
      const feeds = (info.feeds || []).map((f) => f.name).filter(Boolean);
      // The roster names each publisher as their token does.
      for (const f of info.feeds || []) if (f.name && f.publisher_name) this.names.set(f.name, f.publisher_name);
      this.roster = { feeds, error: null };
    } catch (err) {
      if (err?.status === 401 || err?.status === 403 || err?.status === 404) {
        // Retrying cannot help: the server refuses this token the call.
        this.stopped = true;
        clearInterval(this.rosterTimer);
        clearInterval(this.framesTimer);
        this.leave(true);
        for (const feed of [...this.tiles.keys()]) this.dropTile(feed);
        this.note = { key: 'call.err.denied', params: { message: err.message || err.code }, kind: 'error' };
        this.roster = { feeds: [], error: err };
        this.render();
        return;
      }
      // Keep the tiles as they are; they retry on their own.
      this.roster = { feeds: this.roster.feeds, error: err };
    }
    this.syncTiles();
    this.render();
  }

  /** wanted is the set of feeds this page should be viewing now. */
  wanted() {
    const feeds = this.roster.feeds || [];
    if (this.mode === 'watch') return new Set(feeds);
    if (this.joined !== 'in' && this.joined !== 'rejoining') return new Set();
    return new Set(feeds.filter((f) => f !== this.me.sub));
  }

  syncTiles() {
    const want = this.wanted();
    for (const feed of [...this.tiles.keys()]) if (!want.has(feed)) this.dropTile(feed);
    for (const feed of want) if (!this.tiles.has(feed)) this.addTile(feed);
  }

  addTile(feed) {
    const video = el('video', { muted: true, autoplay: true, playsinline: true });
    const fig = el('figure', { class: 'call-tile', 'data-testid': 'call-tile', 'data-feed': feed });
    const tile = { fig, video, handle: null, state: 'connecting', frames: 0, framesAt: 0, err: null };
    this.tiles.set(feed, tile);
    tile.handle = view(this.room, this.token, video, (s, err) => {
      if (s === 'stopped') return;
      if (s === 'denied') {
        tile.state = 'denied';
        tile.err = err;
      } else if (s === 'reconnecting') {
        tile.state = 'reconnecting';
        tile.frames = 0;
      } else if (s === 'connecting' || (s === 'connected' && tile.state !== 'live')) {
        tile.state = s === 'connected' ? 'waiting' : 'connecting';
      }
      this.renderTile(feed);
      this.renderStatus();
    }, { hall: HALL, feed });
    video.muted = !this.sound;
    this.exposed.viewers.set(feed, tile.handle);
  }

  dropTile(feed) {
    const tile = this.tiles.get(feed);
    if (!tile) return;
    tile.handle.stop();
    tile.fig.remove();
    this.tiles.delete(feed);
    this.exposed.viewers.delete(feed);
  }

  // Frames advancing = live; connected but still = waiting for a picture.
  async checkFrames() {
    let changed = false;
    for (const [feed, tile] of this.tiles) {
      const pc = tile.handle.pc;
      if (!pc || pc.connectionState !== 'connected') continue;
      const n = await framesDecoded(pc);
      if (this.tiles.get(feed) !== tile) continue;
      const before = tile.state;
      if (n > tile.frames) {
        tile.frames = n;
        tile.framesAt = Date.now();
        tile.state = 'live';
      } else if (n < tile.frames) {
        tile.frames = n; // a new connection
      } else if (tile.state === 'live' && Date.now() - tile.framesAt > STILL_MS) {
        tile.state = 'waiting';
      }
      if (tile.state !== before) {
        changed = true;
        this.renderTile(feed);
      }
    }
    if (changed) this.renderStatus();
  }

  // ---- the expert's own feed ----

  async join() {
    if (this.mode !== 'expert' || this.joined !== 'out') return;
    this.joined = 'joining';
    this.note = null;
    this.setSound(true); // this click lets the page play the others' voices
    this.render();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } },
        audio: true,
      });
    } catch (err) {
      this.joined = 'out';
      this.note = { key: 'call.err.device', params: { message: deviceError(err) }, kind: 'error' };
      this.render();
      return;
    }
    this.local = { stream, mic: true, cam: true };
    this.publishNow();
  }

  async publishNow() {
    const local = this.local;
    if (!local) return;
    let session;
    try {
      session = await publish(this.room, this.token, local.stream, { hall: HALL });
    } catch (err) {
      if (this.local !== local) return;
      if (err?.status === 401 || err?.status === 403 || err?.status === 404) {
        this.leave(true);
        this.note = { key: 'call.err.publish', params: { message: err.message || err.code }, kind: 'error' };
        this.render();
        return;
      }
      this.joined = 'rejoining';
      this.note = { key: 'call.err.retrying', params: { message: err.message || err.code }, kind: 'error' };
      this.render();
      clearTimeout(this.republishTimer);
      this.republishTimer = setTimeout(() => this.publishNow(), REPUBLISH_MS);
      return;
    }
    if (this.local !== local) {
      session.stop(); // left meanwhile
      return;
    }
    this.session = session;
    this.exposed.publisher = session;
    this.joined = 'in';
    this.note = null;
    onServerClosed(session.pc, () => {
      if (this.session === session) this.republish(session);
    });
    session.pc.addEventListener('connectionstatechange', () => {
      if (this.session !== session) return;
      const s = session.pc.connectionState;
      if (s === 'failed' || s === 'closed') this.republish(session);
      else if (s === 'disconnected') {
        setTimeout(() => {
          if (this.session === session && session.pc.connectionState === 'disconnected') this.republish(session);
        }, REPUBLISH_MS);
      }
    });
    this.syncTiles();
    this.render();
    this.pollRoster();
  }

  // republish replaces a broken publisher connection, same camera.
  republish(session) {
    session.stop();
    this.session = null;
    this.exposed.publisher = null;
    this.joined = 'rejoining';
    this.note = { key: 'call.reconnecting' };
    this.render();
    clearTimeout(this.republishTimer);
    this.republishTimer = setTimeout(() => this.publishNow(), REPUBLISH_MS);
  }

  /** leave ends the expert's feed and stops viewing the others. */
  leave(quiet = false) {
    if (this.mode !== 'expert') return;
    const was = this.joined;
    clearTimeout(this.republishTimer);
    this.session?.stop();
    this.local?.stream.getTracks().forEach((tr) => tr.stop());
    this.session = null;
    this.local = null;
    this.exposed.publisher = null;
    this.joined = 'out';
    if (quiet) return;
    this.syncTiles();
    if (was !== 'out') this.note = { key: 'call.left' };
    this.render();
    this.pollRoster(); // the count without oneself, now rather than at the next tick
  }

  toggle(what) {
    if (!this.local) return;
    this.local[what] = !this.local[what];
    const tracks = what === 'mic' ? this.local.stream.getAudioTracks() : this.local.stream.getVideoTracks();
    for (const tr of tracks) tr.enabled = this.local[what];
    this.render();
  }

  setSound(on) {
    this.sound = on;
    for (const tile of this.tiles.values()) {
      tile.video.muted = !on;
      if (on) tile.video.play?.().catch(() => {});
    }
    this.renderControls();
  }

  // ---- rendering ----

  render() {
    this.renderStatus();
    this.renderControls();
    this.renderGrid();
    const note = $('call-note');
    const idle = this.mode === 'watch' ? 'call.note.watch' : this.joined === 'in' ? 'call.note.in' : 'call.note.expert';
    const n = this.note || { key: idle };
    note.textContent = t(n.key, n.params || {});
    note.dataset.kind = n.kind || 'info';
  }

  /** state is the panel's one-word state for its status pill. */
  state() {
    if (this.stopped) return 'error';
    if (this.mode === 'expert' && this.joined !== 'in') return this.joined;
    const tiles = [...this.tiles.values()];
    if (tiles.some((x) => x.state === 'live')) return 'live';
    if (tiles.length > 0) return tiles.some((x) => x.state === 'reconnecting') ? 'reconnecting' : 'connecting';
    return this.roster.feeds === null ? 'connecting' : 'waiting';
  }

  renderStatus() {
    const s = this.state();
    const st = $('call-status');
    st.dataset.state = s;
    st.textContent = t(`call.status.${s}`);
    const feeds = this.roster.feeds;
    const count = $('call-count');
    count.hidden = feeds === null;
    count.textContent = feeds === null ? '' : t('call.count', { n: feeds.length });
    const rosterErr = $('call-roster-error');
    rosterErr.hidden = !this.roster.error || this.stopped;
    rosterErr.textContent = this.roster.error ? t('call.err.roster') : '';
  }

  renderControls() {
    const expert = this.mode === 'expert' && !this.stopped;
    const inCall = this.joined === 'in' || this.joined === 'rejoining';
    $('call-controls').hidden = !expert;
    const join = $('call-join');
    join.hidden = inCall;
    join.disabled = this.joined === 'joining';
    join.textContent = t(this.joined === 'joining' ? 'call.joining' : this.note?.key === 'call.left' ? 'call.rejoin' : 'call.join');
    for (const id of ['call-mic', 'call-camera', 'call-leave']) $(id).hidden = !inCall;
    const mic = $('call-mic');
    const cam = $('call-camera');
    mic.textContent = t(this.local?.mic === false ? 'call.micOn' : 'call.micOff');
    mic.setAttribute('aria-pressed', String(this.local?.mic === false));
    mic.dataset.on = String(this.local?.mic !== false);
    cam.textContent = t(this.local?.cam === false ? 'call.camOn' : 'call.camOff');
    cam.setAttribute('aria-pressed', String(this.local?.cam === false));
    cam.dataset.on = String(this.local?.cam !== false);
    const sound = $('call-sound');
    sound.hidden = this.stopped || (this.mode === 'expert' && !inCall);
    sound.textContent = t(this.sound ? 'call.soundOff' : 'call.soundOn');
    sound.setAttribute('aria-pressed', String(this.sound));
  }

  renderGrid() {
    const grid = $('call-grid');
    const order = [];
    if (this.local) order.push(this.selfTile());
    const feeds = [...this.tiles.keys()].sort((a, b) => this.nameOf(a).localeCompare(this.nameOf(b), 'zh-CN') || (a < b ? -1 : 1));
    for (const feed of feeds) {
      this.renderTile(feed);
      order.push(this.tiles.get(feed).fig);
    }
    if (this.venues) {
      this.placeByVenue(grid, order);
    } else {
      place(grid, order);
    }
    const empty = $('call-empty');
    const waiting = this.mode === 'watch' || this.joined === 'in' || this.joined === 'rejoining';
    empty.hidden = this.tiles.size > 0 || !waiting || this.stopped;
    empty.textContent = t(this.mode === 'expert' ? 'call.empty.expert' : 'call.empty.watch');
    grid.hidden = order.length === 0;
  }

  /**
   * placeByVenue puts the tiles (own first, then by name) under their
   * venue's heading, venues in the order venues() gives; a feed of no
   * listed venue goes last, under "other".
   */
  placeByVenue(grid, figs) {
    grid.classList.add('by-venue');
    const list = this.venues() || [];
    const venueOf = new Map();
    for (const v of list) for (const sub of v.members || []) venueOf.set(sub, v.name || '');
    const groups = new Map(list.map((v) => [v.name || '', []]));
    for (const fig of figs) {
      const name = venueOf.has(fig.dataset.feed) ? venueOf.get(fig.dataset.feed) : null;
      const key = name === null ? OTHER : name;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(fig);
    }
    const boxes = [];
    for (const [key, tiles] of groups) {
      if (tiles.length === 0) continue;
      let b = this.venueBoxes.get(key);
      if (!b) {
        const head = el('h3', { class: 'call-venue-name' });
        const inner = el('div', { class: 'call-venue-tiles' });
        const box = el('section', { class: 'call-venue', 'data-testid': 'call-venue', 'data-venue': key === OTHER ? '-' : key });
        box.append(head, inner);
        b = { box, head, tiles: inner };
        this.venueBoxes.set(key, b);
      }
      const label = list.find((v) => (v.name || '') === key)?.label;
      b.head.textContent = key === OTHER ? t('call.venue.other') : label || key || t('call.venue.none');
      place(b.tiles, tiles);
      boxes.push(b.box);
    }
    place(grid, boxes);
  }

  selfTile() {
    if (!this.self) {
      const video = el('video', { muted: true, autoplay: true, playsinline: true });
      video.muted = true; // never hear oneself
      const fig = el('figure', { class: 'call-tile is-self', 'data-testid': 'call-tile', 'data-feed': this.me.sub, 'data-self': true });
      const cover = el('div', { class: 'call-tile-cover' });
      const label = el('span', { class: 'call-tile-label' });
      const me = el('span', { class: 'call-tile-me' });
      const badge = el('span', { class: 'call-tile-state', 'data-testid': 'call-tile-state' });
      const flags = el('span', { class: 'call-tile-flags' });
      fig.append(video, cover, el('figcaption', { class: 'call-tile-name' }, label, me), badge, flags);
      this.self = { fig, video, cover, label, me, badge, flags };
    }
    const x = this.self;
    if (x.video.srcObject !== this.local.stream) {
      x.video.srcObject = this.local.stream;
      x.video.play?.().catch(() => {});
    }
    const state = this.joined === 'in' ? 'live' : 'reconnecting';
    x.fig.dataset.state = state;
    x.fig.dataset.cam = String(this.local.cam);
    x.cover.hidden = this.local.cam;
    x.cover.textContent = t('call.flag.camOff');
    x.label.textContent = this.nameOf(this.me.sub);
    x.me.textContent = t('call.me');
    x.badge.dataset.state = state;
    x.badge.textContent = t(state === 'live' ? 'call.tile.sending' : 'call.tile.reconnecting');
    const flags = [];
    if (!this.local.mic) flags.push(t('call.flag.micOff'));
    if (!this.local.cam) flags.push(t('call.flag.camOff'));
    x.flags.hidden = flags.length === 0;
    x.flags.textContent = flags.join(' · ');
    return x.fig;
  }

  renderTile(feed) {
    const tile = this.tiles.get(feed);
    if (!tile) return;
    const { fig, video, state } = tile;
    fig.dataset.state = state;
    let label = t(`call.tile.${state}`);
    if (state === 'denied') label = t('call.tile.denied', { message: tile.err?.message || '' });
    if (!fig.contains(video)) fig.append(video);
    let cap = fig.querySelector('.call-tile-name');
    if (!cap) {
      cap = el('figcaption', { class: 'call-tile-name' }, el('span', { class: 'call-tile-label' }));
      fig.append(cap);
    }
    cap.firstChild.textContent = this.nameOf(feed);
    let badge = fig.querySelector('.call-tile-state');
    if (!badge) {
      badge = el('span', { class: 'call-tile-state', 'data-testid': 'call-tile-state' });
      fig.append(badge);
    }
    badge.dataset.state = state;
    badge.textContent = label;
  }
}

// place makes nodes the children of parent, in order, moving nodes only
// when the order changed: a moved <video> restarts.
function place(parent, nodes) {
  const now = [...parent.children];
  if (now.length !== nodes.length || now.some((n, i) => n !== nodes[i])) {
    parent.replaceChildren(...nodes);
    for (const v of parent.querySelectorAll('video')) if (v.paused && v.srcObject) v.play?.().catch(() => {});
  }
}

function deviceError(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return t('call.device.denied');
    case 'NotFoundError':
    case 'OverconstrainedError':
      return t('call.device.none');
    case 'NotReadableError':
      return t('call.device.busy');
    default:
      return err?.message || err?.name || '';
  }
}
