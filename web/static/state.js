// A room's state as one viewer sees it, kept in step with the server: a
// snapshot replaces it, each event frame is folded into it. fromSnapshot
// and applyEvent serve every room kind, dispatching on the snapshot's kind
// as the server's rooms.State does: the opening's fold is here (the way
// rooms/opening.go folds the log and rooms/view.go projects it), the
// evaluation's in evalstate.js, the auction's in auctionstate.js. Pure
// functions, no DOM and no network, so they can be tested alone.

import * as auction from './auctionstate.js';
import * as evaluation from './evalstate.js';

// The folds of the other room kinds, by kind; anything else is an opening.
const kinds = { evaluation, auction };

const MAX_ANNOUNCEMENTS = 50; // as rooms.maxAnnouncementsKept

const STAFF_ROLES = new Set(['host', 'supervisor', 'admin', 'system']);

/** isStaff reports whether role sees every event of a room. */
export function isStaff(role) {
  return STAFF_ROLES.has(role);
}

/** fromSnapshot returns a fresh client state from snapshot.state, of whatever kind it names. */
export function fromSnapshot(s) {
  const k = kinds[s?.kind];
  return k ? k.fromSnapshot(s) : openingFromSnapshot(s);
}

/**
 * applyEvent folds one event (the event field of an event frame) into st,
 * as seen by viewer {sub, role}, with the fold of st's kind, and returns
 * st. Unknown event types are ignored: the protocol may add them within a
 * version.
 */
export function applyEvent(st, ev, viewer) {
  const k = kinds[st?.kind];
  return k ? k.applyEvent(st, ev, viewer) : applyOpeningEvent(st, ev, viewer);
}

function openingFromSnapshot(s) {
  return {
    kind: s.kind || 'opening',
    room: s.room,
    phase: s.phase || '',
    session: { ...(s.session || {}) },
    openedAt: s.opened_at || null,
    // The end of the decryption window: from decryption_started (snapshots
    // do not carry it yet; see decrypt_ends_at should the server add it).
    decryptEndsAt: s.decrypt_ends_at || null,
    submitted: null,
    bidders: (s.bidders || []).map((b) => ({ ...b })),
    staff: (s.staff || []).map((p) => ({ ...p })),
    registered: typeof s.registered === 'number' ? s.registered : null,
    signedInAtOpening: null,
    // The snapshot only carries revealed names implicitly; a bidder seeing
    // anyone but themselves means the names are public.
    revealed: !['', 'scheduled', 'check_in'].includes(s.phase || '') && typeof s.registered === 'number',
    announcements: (s.announcements || []).map((a) => ({ text: a.text, time: a.time || null })),
    you: s.you ? { ...s.you } : null,
    // The opening's later steps (rooms/flow.go).
    failure: s.failure ? { ...s.failure } : null,
    pause: s.pause ? { ...s.pause } : null,
    extension: s.extension ? { ...s.extension } : null,
    readOut: s.read_out ? { ...s.read_out } : null,
    confirmEndsAt: s.confirm_ends_at || null,
    confirmClosed: !!s.confirm_closed,
    objections: (s.objections || []).map((o) => ({ ...o })),
    record: s.record ? { ...s.record } : null,
    chat: (s.chat || []).map((m) => ({ ...m })),
    notes: (s.violation_notes || []).map((n) => ({ ...n })),
    // price_alert events seen live (supervisors); a snapshot has the flags in read_out.
    priceAlerts: [],
  };
}

const MAX_CHAT = 200; // as rooms.maxChatKept
const MAX_NOTES = 200; // as rooms.maxNotesKept
const MAX_ATTEMPTS = 20; // as rooms.maxAttemptsKept

/** suggestOutcome is rooms.Participant.SuggestedOutcome: 撤回 where the log shows a server fault, 撤销 otherwise. */
export function suggestOutcome(b) {
  return (b.attempt_log || []).some((a) => a.code === 'server_error') ? 'withdrawn' : 'revoked';
}

/** unanswered counts the objections still waiting for the host. */
export function unanswered(st) {
  return (st?.objections || []).filter((o) => !o.answer).length;
}

function findBidder(st, sub) {
  return st.bidders.find((b) => b.sub === sub);
}

// participant finds (or, with create, adds) the record of sub in role,
// in the lists this viewer holds.
function participant(st, sub, role, create) {
  if (role === 'bidder') return findBidder(st, sub) || null;
  let p = st.staff.find((q) => q.sub === sub);
  if (!p && create) {
    p = { sub, role, signed_in: false, online: false };
    st.staff.push(p);
    st.staff.sort((a, b) => (a.sub < b.sub ? -1 : a.sub > b.sub ? 1 : 0));
  }
  return p || null;
}

// syncYou refreshes the viewer's own record after a change to it.
function syncYou(st, viewer, sub, role) {
  if (sub !== viewer.sub || role !== viewer.role) return;
  const p = participant(st, sub, role, false);
  if (p) st.you = { ...p };
}

// applyOpeningEvent is the opening's fold (rooms/opening.go apply).
function applyOpeningEvent(st, ev, viewer) {
  const d = ev.data || {};
  const staff = isStaff(viewer.role);
  switch (ev.type) {
    case 'session_created':
      st.session = { ...d };
      st.phase = 'scheduled';
      break;
    case 'session_terms': // staff only: the sealed 标底 and budget (R12)
      st.session = { ...st.session, ...d };
      break;
    case 'bidder_registered':
      if (!findBidder(st, d.id)) {
        const b = { sub: d.id, role: 'bidder', name: d.name, signed_in: false, online: false };
        if (d.public_key) b.has_key = true; // as rooms/opening.go: registered with a key, signs in with it
        st.bidders.push(b);
      }
      if (staff) st.registered = st.bidders.length;
      if (viewer.role === 'bidder' && d.id === viewer.sub) syncYou(st, viewer, d.id, 'bidder');
      break;
    case 'check_in_opened':
      st.phase = 'check_in';
      break;
    case 'signed_in': {
      const p = participant(st, d.sub, d.role, true);
      if (p) {
        p.signed_in = true;
        p.signed_at = ev.time;
        p.online = true;
      }
      // A viewer's own staff record appears only once they sign in.
      if (d.sub === viewer.sub && d.role === viewer.role && !p) {
        st.you = { sub: d.sub, role: d.role, signed_in: true, signed_at: ev.time, online: true };
      } else {
        syncYou(st, viewer, d.sub, d.role);
      }
      if (d.sub === viewer.sub && d.role === viewer.role && st.you && !st.you.name && viewer.name) {
        st.you.name = viewer.name;
      }
      break;
    }
    case 'presence_changed': {
      const p = participant(st, d.sub, d.role, false);
      if (p) p.online = !!d.online;
      syncYou(st, viewer, d.sub, d.role);
      break;
    }
    case 'opened':
      st.phase = 'opened';
      st.openedAt = ev.time;
      if (typeof d.registered === 'number') st.registered = d.registered;
      if (typeof d.signed_in === 'number') st.signedInAtOpening = d.signed_in;
      if (typeof d.submitted === 'number') st.submitted = d.submitted;
      break;
    case 'decryption_started':
      st.phase = 'decrypting';
      st.decryptEndsAt = d.ends_at || null;
      break;
    case 'decryption_closed':
      st.phase = 'decryption_closed';
      if (staff) {
        for (const b of st.bidders) {
          if (b.submitted && !b.opened && !b.outcome) b.suggested_outcome = suggestOutcome(b);
        }
      }
      break;
    case 'bid_submitted': {
      const b = findBidder(st, d.bidder);
      if (b) {
        b.bid = {
          bidder: d.bidder, digest: d.digest, size: d.size, header_digest: d.header_digest, version: d.version,
          received_at: ev.time || d.received_at,
        };
        if (d.backup_digest) b.bid.backup_digest = d.backup_digest; // committed with the bid (R10)
      }
      syncYou(st, viewer, d.bidder, 'bidder');
      break;
    }
    case 'bid_withdrawn': {
      const b = findBidder(st, d.bidder);
      if (b) delete b.bid; // a snapshot omits a withdrawn bid
      syncYou(st, viewer, d.bidder, 'bidder');
      break;
    }
    case 'bid_opened':
    case 'unlock_failed': {
      const b = findBidder(st, d.bidder);
      if (b) {
        b.attempts = (b.attempts || 0) + 1;
        b.attempt_log = [...(b.attempt_log || []), { at: ev.time, ok: !!d.ok, code: d.code, message: d.message, backup: d.backup }]
          .slice(-MAX_ATTEMPTS);
        if (d.ok) {
          b.opened = { ...d };
          delete b.last_failure;
        } else {
          // The snapshot's name for it, so readers look in one place.
          b.last_failure = { code: d.code, message: d.message };
        }
      }
      syncYou(st, viewer, d.bidder, 'bidder');
      break;
    }
    case 'bidders_revealed':
      // Registration order, as a fresh snapshot lists them; records this
      // viewer already holds (their own, or all for staff) are kept.
      st.bidders = [
        ...(d.bidders || []).map((b) => {
          const rec = findBidder(st, b.id) || { sub: b.id, role: 'bidder', name: b.name };
          rec.submitted = !!b.submitted;
          return rec;
        }),
        ...st.bidders.filter((b) => !(d.bidders || []).some((r) => r.id === b.sub)),
      ];
      st.revealed = true;
      st.registered = (d.bidders || []).length;
      break;
    case 'announcement':
      st.announcements.push({ text: d.text, time: ev.time || null });
      if (st.announcements.length > MAX_ANNOUNCEMENTS) {
        st.announcements = st.announcements.slice(-MAX_ANNOUNCEMENTS);
      }
      break;
    default:
      applyFlowEvent(st, ev, viewer);
      break;
  }
  return st;
}

// applyFlowEvent folds the events of the opening's later steps
// (rooms/flow.go applyFlow).
function applyFlowEvent(st, ev, viewer) {
  const d = ev.data || {};
  const bidder = (sub) => {
    const b = findBidder(st, sub);
    return b || null;
  };
  switch (ev.type) {
    case 'failed':
      st.failure = { ...d };
      st.phase = 'failed';
      break;
    case 'paused':
      st.pause = { ...d, at: ev.time };
      break;
    case 'resumed':
      st.pause = null;
      if (d.decrypt_ends_at) st.decryptEndsAt = d.decrypt_ends_at;
      if (d.confirm_ends_at) st.confirmEndsAt = d.confirm_ends_at;
      break;
    case 'decryption_extended':
      st.extension = { ...d };
      if (d.ends_at) st.decryptEndsAt = d.ends_at;
      break;
    case 'classified': {
      const b = bidder(d.bidder);
      if (b) {
        b.outcome = d.outcome;
        b.outcome_reason = d.reason;
        delete b.suggested_outcome;
      }
      syncYou(st, viewer, d.bidder, 'bidder');
      break;
    }
    case 'read_out':
      st.readOut = { ...d };
      st.phase = 'reading_out';
      break;
    case 'price_alert':
      st.priceAlerts.push({ ...d, at: ev.time });
      break;
    case 'confirmation_started':
      st.phase = 'confirming';
      st.confirmEndsAt = d.ends_at || null;
      break;
    case 'confirmed': {
      const b = bidder(d.bidder);
      if (b) b.confirmation = { ...d, at: ev.time };
      syncYou(st, viewer, d.bidder, 'bidder');
      break;
    }
    case 'objection':
      st.objections.push({ ...d, at: ev.time });
      break;
    case 'objection_answered':
      for (const o of st.objections) {
        if (o.id === d.id) Object.assign(o, { answer: d.text, answered_by: ev.actor?.sub, answered_at: ev.time });
      }
      break;
    case 'confirmation_closed':
      st.confirmClosed = true;
      for (const id of d.silent || []) {
        const b = bidder(id);
        if (b) b.silent = true;
        syncYou(st, viewer, id, 'bidder');
      }
      break;
    case 'bonds_checked':
      for (const s of d.bonds || []) {
        const b = bidder(s.bidder);
        if (b) b.bond = { ...s };
        syncYou(st, viewer, s.bidder, 'bidder');
      }
      break;
    case 'opening_record_signed':
      st.record = { ...d, at: ev.time };
      st.phase = 'record';
      break;
    case 'closed':
      st.phase = 'closed';
      break;
    case 'chat':
      st.chat.push({ ...d, at: ev.time });
      if (st.chat.length > MAX_CHAT) st.chat = st.chat.slice(-MAX_CHAT);
      break;
    case 'violation_noted':
      st.notes.push({ ...d, at: ev.time });
      if (st.notes.length > MAX_NOTES) st.notes = st.notes.slice(-MAX_NOTES);
      break;
    default:
      break;
  }
}

/** canSignIn reports whether the viewer may sign in now. */
export function canSignIn(st, viewer) {
  if (!st) return false;
  if (!['bidder', 'host', 'supervisor'].includes(viewer.role)) return false;
  if (st.phase !== 'check_in' && st.phase !== 'opened') return false;
  return !(st.you && st.you.signed_in);
}

/**
 * myRecord returns the viewer's own bidder record (bid, opened, attempts), or
 * null for anyone but a bidder.
 */
export function myRecord(st, viewer) {
  if (!st || !viewer || viewer.role !== 'bidder') return null;
  return findBidder(st, viewer.sub) || st.you || null;
}

/**
 * decryptStatus says where a bidder's unlock stands: 'opened', 'failed'
 * (attempted, not opened), 'pending', or 'none' when the viewer knows the
 * bidder holds no bid.
 */
export function decryptStatus(b, knowsBids) {
  if (b.opened) return 'opened';
  if (b.attempts > 0) return 'failed';
  if ((knowsBids && !b.bid) || b.submitted === false) return 'none';
  return 'pending';
}
