// A finished opening for the tests that start where an opening ends (the
// evaluation): driven over the real REST API with no browser — bids sealed
// and submitted with bidtool, the deadline passed on the server's clock,
// each bid unlocked with bidtool, the read-out confirmed with an SM2
// signature made by OpenSSL, and the record signed by the platform.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * finishOpening runs room through a whole opening on h (an openingHarness
 * after setUp, with bidtool) with bidders [{id, name, price}], and resolves
 * once its record is signed. leadMs is how far the deadline lies ahead.
 */
export async function finishOpening(h, room, bidders, { title = '城南污水处理厂扩建工程施工', leadMs = 6000 } = {}) {
  await writeFile(path.join(h.tmp, `${room}-bid.txt`), `投标文件正文：${title}\n`.repeat(200));
  for (const b of bidders) {
    await h.tool(['keygen', '--out', path.join(h.tmp, `${room}-${b.id}`)]);
    await writeFile(path.join(h.tmp, `${room}-sheet-${b.id}.json`), JSON.stringify({ price: b.price }));
    await h.tool(['seal', '--in', `${room}-bid.txt`, '--sheet', `${room}-sheet-${b.id}.json`, '--key', `${room}-${b.id}.key.pem`,
      '--session', room, '--bidder', b.id, '--out', `${room}-bid-${b.id}.sealed`, '--quiet']);
  }
  const { now, deadline } = await h.deadlineIn(leadMs);
  const registered = [];
  for (const b of bidders) {
    registered.push({ id: b.id, name: b.name, public_key: await readFile(path.join(h.tmp, `${room}-${b.id}.pub.pem`), 'utf8') });
  }
  await h.api('POST', '/api/v1/sessions', {
    id: room, title, section: room, category: 'construction', deadline: deadline.toISOString(), check_in_at: now,
    control_price: '99000000', min_bids: Math.min(3, bidders.length), decrypt_window_minutes: 5, confirm_window_minutes: 5, bidders: registered,
  });
  const tokens = {};
  for (const b of bidders) {
    tokens[b.id] = await h.token(room, 'bidder', b.id, b.name);
    await writeFile(path.join(h.tmp, `${room}-${b.id}.token`), tokens[b.id]);
    await h.tool(['submit', '--server', h.server.base, '--session', room, '--in', `${room}-bid-${b.id}.sealed`, '--quiet'], { BIDROOM_TOKEN: tokens[b.id] });
  }
  const host = await h.token(room, 'host', 'host-1', '主持人');
  const phase = async () => (await h.api('GET', `/api/v1/sessions/${room}`, undefined, host)).state.phase;
  const waitPhase = async (want, ms) => {
    const until = Date.now() + ms;
    for (;;) {
      const p = await phase();
      if (p === want) return;
      assert.ok(Date.now() < until, `${room} stays ${p}, want ${want}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  let n = 0;
  const hostDo = (type) => h.api('POST', `/api/v1/sessions/${room}/commands`, { id: `${type}-${++n}`, type }, host);

  await waitPhase('opened', deadline.getTime() - Date.now() + 10_000);
  await hostDo('start_decryption');
  for (const b of bidders) {
    await h.tool(['unlock', '--server', h.server.base, '--session', room, '--token-file', `${room}-${b.id}.token`, '--key', `${room}-${b.id}.key.pem`]);
  }
  await hostDo('close_decryption');
  await hostDo('start_read_out');
  await hostDo('start_confirmation');
  for (const b of bidders) {
    const { message } = await h.api('GET', `/api/v1/sessions/${room}/confirm/challenge`, undefined, tokens[b.id]);
    const signature = await h.sm2(path.join(h.tmp, `${room}-${b.id}.key.pem`), message);
    await h.api('POST', `/api/v1/sessions/${room}/confirm`, { signature }, tokens[b.id]);
  }
  await hostDo('close_confirmation');
  await h.api('POST', `/api/v1/sessions/${room}/record`, undefined, host);
  await waitPhase('record', 5000);
}
