// What the auction tests share: an auction set up over REST on a server
// started by lib/opening.mjs's harness (with a movable clock), its bidders
// registered, paid and qualified, tokens, commands, the log, the public
// ticker, and the server's clock moved to a given time.

import assert from 'node:assert/strict';

const DAY = 24 * 3600 * 1000;

/** auctionHelpers returns the auction steps on harness h (after h.setUp). */
export function auctionHelpers(h) {
  const base = () => h.server.base;

  const x = {
    /** serverNow is the server's time (ms). */
    async serverNow() {
      const { server_time: now } = await (await fetch(`${base()}/api/v1/time`)).json();
      return Date.parse(now);
    },

    /**
     * create makes auction id: the listing starts startIn ms from the
     * server's now (whole seconds) and lasts 14 days (at least 10 working
     * days whatever the weekday); spec overrides the defaults. It returns
     * {id, spec (as created), view (the admin's)}.
     */
    async create(id, spec = {}, { startIn = 60_000 } = {}) {
      const start = new Date((await x.serverNow()) + startIn);
      start.setMilliseconds(0);
      const body = {
        id,
        title: '某市某区2026-08号地块国有建设用地使用权',
        lot: '2026-08',
        category: 'land',
        seller: '某市自然资源和规划局',
        details: [{ label: '位置', value: '某区某路以东、某街以北' }, { label: '面积', value: '32,456.7 平方米' }, { label: '用途', value: '城镇住宅用地' }, { label: '出让年限', value: '70 年' }],
        start_price: '10000000',
        increments: { stages: [{ from: '0', step: '100000' }, { from: '10500000', step: '200000' }] },
        deposit: '2000000',
        listing_start: start.toISOString(),
        listing_end: new Date(start.getTime() + 14 * DAY).toISOString(),
        countdown_seconds: 60,
        ...spec,
      };
      const res = await h.api('POST', '/api/v1/auctions', body);
      return { id, spec: res.state.spec, view: res.state };
    },

    /**
     * bidder registers, pays and (unless qualified is false) qualifies a
     * bidder, and mints their token: {bidder, name, number, token}.
     */
    async bidder(id, bidder, name, { pay = '2000000', qualified = true } = {}) {
      const { number } = await h.api('POST', `/api/v1/auctions/${id}/bidders`, { bidder, name });
      assert.match(number, /^[0-9]{4,8}$/);
      if (pay) await h.api('POST', `/api/v1/auctions/${id}/deposits`, { bidder, status: 'paid', amount: pay, reference: `BZJ-${bidder}` });
      if (qualified) await x.cmd(id, h.adminKey, 'qualify_bidder', { bidder, qualified: true });
      const token = (await h.api('POST', '/api/v1/tokens', { room: id, role: 'bidder', sub: bidder, name, ttl: '12h' })).token;
      return { bidder, name, number, token };
    },

    /** staff mints a host, supervisor or admin token for the auction. */
    async staff(id, role, sub, name) {
      return (await h.api('POST', '/api/v1/tokens', { room: id, role, sub, name, ttl: '12h' })).token;
    },

    /** cmd sends one room command with token and asserts it was taken. */
    async cmd(id, token, type, data) {
      x.n = (x.n || 0) + 1;
      return h.api('POST', `/api/v1/sessions/${id}/commands`, { id: `t-${type}-${x.n}-${Date.now()}`, type, data }, token);
    },

    /** tryCmd sends one room command and returns {status, body} whatever the answer. */
    async tryCmd(id, token, type, data) {
      x.n = (x.n || 0) + 1;
      const r = await fetch(`${base()}/api/v1/sessions/${id}/commands`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ id: `t-${type}-${x.n}-${Date.now()}`, type, data }),
      });
      return { status: r.status, body: await r.json() };
    },

    /** view is the room's view as token's holder gets it (GET /sessions/{id}: its state). */
    async view(id, token) {
      return (await h.api('GET', `/api/v1/sessions/${id}`, undefined, token)).state;
    },

    /** raw is the text of the snapshot answer as token's holder gets it. */
    async raw(id, token) {
      return (await fetch(`${base()}/api/v1/sessions/${id}`, { headers: { Authorization: `Bearer ${token}` } })).text();
    },

    /** log reads the room's whole log (with a supervisor's token: they see every event of an auction) as entries. */
    async log(id, token) {
      const r = await fetch(`${base()}/api/v1/sessions/${id}/log`, { headers: { Authorization: `Bearer ${token}` } });
      const text = await r.text();
      assert.ok(r.ok, `GET log: ${r.status} ${text}`);
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },

    /** ticker is the public ticker's answer {server_time, auction}. */
    async ticker(id) {
      const r = await fetch(`${base()}/api/v1/auctions/${id}/ticker`);
      const text = await r.text();
      assert.ok(r.ok, `GET ticker: ${r.status} ${text}`);
      return { text, ...JSON.parse(text) };
    },

    /** advanceTo moves the server's clock forward to ms (if it is not past it already); returns the server's time. */
    async advanceTo(ms) {
      const now = await x.serverNow();
      const d = Math.ceil(ms - now);
      if (d <= 0) return now;
      const { server_time: t } = await h.advanceClock(`${d}ms`);
      return Date.parse(t);
    },

    /** waitView polls token's view until ok(view) holds (up to ms) and returns it. */
    async waitView(id, token, ok, what, ms = 15_000) {
      const until = Date.now() + ms;
      for (;;) {
        const v = await x.view(id, token);
        if (ok(v)) return v;
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 600)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
  return x;
}

/**
 * visibleTo reports whether viewer {sub, role} receives a log entry, as
 * rooms.Visibility.VisibleTo says.
 */
export function visibleTo(entry, viewer) {
  const roles = entry.vis?.roles || [];
  const subs = entry.vis?.subs || [];
  if ((!roles.length && !subs.length) || viewer.role === 'system') return true;
  return roles.includes(viewer.role) || subs.includes(viewer.sub);
}

/**
 * frameEvent is a log entry as the websocket sends it to viewer: the whole
 * entry to staff; {type, time, actor, data} to others, a bid's actor
 * without its subject (rooms.PublicActor).
 */
export function frameEvent(entry, viewer) {
  if (['host', 'supervisor', 'admin'].includes(viewer.role)) return entry;
  const actor = entry.type === 'bid_placed' ? { sub: '', role: entry.actor.role } : entry.actor;
  return { type: entry.type, time: entry.time, actor, data: entry.data };
}
