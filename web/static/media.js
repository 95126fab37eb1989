// Live video over WebRTC: WHIP to publish, WHEP to view. The opening hall
// (the host to everyone) is the default; {hall: 'evaluation', feed} reaches
// the experts' call (see call.js). Non-trickle: the offer is sent once ICE
// gathering is complete. See media/whip.go for the server side.

const GATHER_TIMEOUT_MS = 3000;
const RETRY_MS = 3000;

/** MediaError carries the server's {error:{code,message}} or a local reason. */
export class MediaError extends Error {
  constructor(code, message, status = 0) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

const enc = encodeURIComponent;

/** query is the ?hall=&feed= part of a media URL ('' for the opening's main feed). */
function query({ hall = '', feed = '' } = {}) {
  const q = new URLSearchParams();
  if (hall) q.set('hall', hall);
  if (feed) q.set('feed', feed);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** iceServers asks the server which STUN/TURN servers to use; [] when that fails. */
export async function iceServers(room, token, hall = '') {
  try {
    const info = await mediaInfo(room, token, hall);
    return Array.isArray(info.ice_servers) ? info.ice_servers : [];
  } catch {
    return [];
  }
}

/**
 * mediaInfo reads GET /api/v1/sessions/{room}/media for a hall ('' is the
 * opening): {feeds (those with a publisher), ice_servers, stats (staff)}.
 */
export async function mediaInfo(room, token, hall = '') {
  const r = await fetch(`/api/v1/sessions/${enc(room)}/media${query({ hall })}`, {
    headers: { Authorization: `Bearer ${token}` },
    cache: 'no-store',
  });
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

async function errorOf(r) {
  let code = `http_${r.status}`;
  let message = r.statusText;
  try {
    const j = await r.json();
    if (j?.error) ({ code, message } = j.error);
  } catch {
    // not JSON
  }
  return new MediaError(code, message, r.status);
}

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      clearTimeout(timer);
      resolve();
    };
    // Host candidates are enough on a LAN; do not hang on a slow STUN server.
    const timer = setTimeout(() => {
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    }, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', done);
  });
}

/** negotiate sends pc's complete offer to url and applies the answer; resolves to the resource URL. */
async function negotiate(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const r = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/sdp' },
    body: pc.localDescription.sdp,
  });
  if (r.status !== 201) throw await errorOf(r);
  const loc = r.headers.get('Location');
  const sdp = await r.text();
  await pc.setRemoteDescription({ type: 'answer', sdp });
  return loc ? new URL(loc, location.href).href : null;
}

/**
 * onServerClosed calls fn once when the server ends pc's session on purpose:
 * it closes DTLS (close_notify) when it restarts, or when a rolling restart
 * hands the session's media to another server. connectionState does not
 * change then, and ICE notices the silence only after many seconds. Call it
 * once the answer is applied (the transports exist from then).
 */
export function onServerClosed(pc, fn) {
  const transports = new Set([...pc.getSenders(), ...pc.getReceivers()].map((x) => x.transport).filter(Boolean));
  let fired = false;
  for (const tr of transports) {
    tr.addEventListener('statechange', () => {
      if (fired || (tr.state !== 'closed' && tr.state !== 'failed')) return;
      fired = true;
      fn();
    });
  }
}

/**
 * release ends the server's session (DELETE on its Location), then closes
 * pc. In that order: a closed peer may be reaped first, and the DELETE would
 * find nothing.
 */
function release(resource, token, pc) {
  if (!resource) {
    pc?.close();
    return;
  }
  const close = () => pc?.close();
  const timer = setTimeout(close, 1000);
  fetch(resource, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` }, keepalive: true })
    .catch(() => {})
    .finally(() => {
      clearTimeout(timer);
      close();
    });
}

/**
 * publish sends stream's tracks to the room (WHIP), to the opening or, with
 * {hall: 'evaluation'}, as the token's expert in the call. Resolves to
 * {pc, stop()} once the server has answered; rejects with a MediaError.
 */
export async function publish(room, token, stream, { hall = '' } = {}) {
  const pc = new RTCPeerConnection({ iceServers: await iceServers(room, token, hall) });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  let resource = null;
  try {
    resource = await negotiate(pc, `/whip/${enc(room)}${query({ hall })}`, token);
  } catch (err) {
    pc.close();
    throw err;
  }
  let stopped = false;
  return {
    pc,
    stop() {
      if (stopped) return;
      stopped = true;
      release(resource, token, pc);
    },
  };
}

/**
 * view plays a live feed in videoEl (WHEP): the opening's main feed, or
 * with {hall: 'evaluation', feed: <expert sub>} one expert of the call. It
 * keeps trying every 3 s while it cannot connect or after the connection
 * drops. onState is called with 'connecting' | 'connected' |
 * 'reconnecting' | 'denied' | 'stopped' and the last error, if any. The
 * video starts muted (autoplay rules); unmute it after a click. Returns
 * {pc (the current one, or null), stop()}.
 */
export function view(room, token, videoEl, onState = () => {}, { hall = '', feed = '' } = {}) {
  videoEl.muted = true;
  videoEl.autoplay = true;
  videoEl.playsInline = true;
  const handle = { pc: null, stop };
  let stopped = false;
  let resource = null;
  let timer = null;
  let tries = 0;

  function retry(err) {
    if (stopped) return;
    if (err?.status === 401 || err?.status === 403 || err?.status === 404) {
      // Retrying cannot help: no view grant, bad token, or no such room.
      stopped = true;
      teardown();
      onState('denied', err);
      return;
    }
    teardown();
    onState('reconnecting', err);
    clearTimeout(timer);
    timer = setTimeout(attempt, RETRY_MS);
  }

  function teardown() {
    const pc = handle.pc;
    if (pc) {
      pc.onconnectionstatechange = null;
      pc.ontrack = null;
      handle.pc = null;
    }
    release(resource, token, pc);
    resource = null;
  }

  async function attempt() {
    if (stopped) return;
    onState(tries++ === 0 ? 'connecting' : 'reconnecting');
    const pc = new RTCPeerConnection({ iceServers: await iceServers(room, token, hall) });
    if (stopped) {
      pc.close();
      return;
    }
    handle.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (e) => {
      const src = e.streams?.[0];
      if (src) {
        if (videoEl.srcObject !== src) videoEl.srcObject = src;
      } else {
        stream.addTrack(e.track);
        if (videoEl.srcObject !== stream) videoEl.srcObject = stream;
      }
      videoEl.play?.().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (handle.pc !== pc) return;
      const s = pc.connectionState;
      if (s === 'connected') onState('connected');
      else if (s === 'failed' || s === 'closed') retry(new MediaError('connection_' + s, s));
      else if (s === 'disconnected') {
        // Often recovers by itself; give it the retry interval first.
        setTimeout(() => {
          if (handle.pc === pc && pc.connectionState === 'disconnected') retry(new MediaError('connection_lost', 'disconnected'));
        }, RETRY_MS);
      }
    };
    try {
      const res = await negotiate(pc, `/whep/${enc(room)}${query({ hall, feed })}`, token);
      if (handle.pc !== pc) {
        release(res, token);
        return;
      }
      resource = res;
      onServerClosed(pc, () => {
        if (handle.pc === pc) retry(new MediaError('connection_closed', 'closed by the server'));
      });
    } catch (err) {
      if (handle.pc === pc) retry(err);
    }
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    teardown();
    videoEl.srcObject = null;
    onState('stopped');
  }

  attempt();
  return handle;
}

/**
 * grants reads the grants a token claims (its JWT payload, unverified: only
 * to avoid asking for what the server would refuse). null when unreadable.
 */
export function grants(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')));
    return Array.isArray(claims.grants) ? claims.grants : [];
  } catch {
    return null;
  }
}

/** framesDecoded sums inbound video frames decoded so far on pc (0 when unknown). */
export async function framesDecoded(pc) {
  if (!pc) return 0;
  let n = 0;
  try {
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && (r.kind || r.mediaType) === 'video') n += r.framesDecoded || 0;
    });
  } catch {
    // closed
  }
  return n;
}
