// The demo's evaluation driven over REST, for the browser tests of what
// comes after it (the bidder's page, the admin's results tab): its three
// members (the demo plays the other two) sign with OpenSSL what the page
// would sign in WebAssembly — the declaration, the score sheets, the
// report — elect the first of them chair, who opens the scoring.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import { eventually } from './browser.mjs';

const STEPS = ['scoring', 'reported'];

/**
 * demoEvaluation returns a driver of the demo's evaluation on h (an
 * openingHarness after setUp; demo is GET /api/v1/demo's answer; name
 * prefixes the command ids): {room, experts, person(role, sub), cmd(tok,
 * type, data), state(), waitFor(what, ok), drive(until)}. drive takes the
 * evaluation to `until`: 'scoring' (every member declared, the chair
 * elected, the scoring open) or 'reported' (every member's sheets signed,
 * the tally, the report every member signed); it resolves to the room's
 * state then.
 */
export function demoEvaluation(h, demo, name) {
  const ev = demo.evaluation;
  assert.ok(ev, 'the demo has an evaluation');
  const room = ev.room;
  const experts = ev.people.filter((p) => p.role === 'expert');
  assert.equal(experts.length, 3, 'the demo offers three members');
  const keys = {}; // sub → the member's private key file
  let n = 0;
  let at = -1; // the last step reached, an index of STEPS

  const person = (role, sub) => ev.people.find((p) => p.role === role && (!sub || p.sub === sub));
  /** cmd sends a command to the evaluation over REST and asserts it was taken. */
  const cmd = (tok, type, data) => h.api('POST', `/api/v1/sessions/${room}/commands`, { id: `${name}-${type}-${++n}`, type, data }, tok);
  /** state is the evaluation as its supervisor sees it. */
  const state = async () => (await h.api('GET', `/api/v1/sessions/${room}`, undefined, person('supervisor').token)).state;
  /** waitFor waits (20 s at most) for the state to satisfy ok and resolves to it. */
  const waitFor = (what, ok) => eventually(async () => {
    const s = await state();
    assert.ok(ok(s), `waiting for ${what}: phase ${s.phase}`);
    return s;
  }, 20_000);
  const sign = (x, text) => h.sm2(keys[x.sub], text);

  async function toScoring() {
    for (const x of experts) {
      keys[x.sub] = path.join(h.tmp, `${x.sub}.key.pem`);
      await writeFile(keys[x.sub], await (await fetch(`${h.server.base}${x.key_url}`)).text());
    }
    for (const x of experts) await cmd(x.token, 'declare', { signature: await sign(x, `bidroom-declaration-v1\n${room}\n${x.sub}\nno-conflict\n`) });
    for (const x of experts) await cmd(x.token, 'vote_chair', { candidate: experts[0].sub });
    await waitFor('every member declared and the chair', (s) => s.committee.every((m) => m.declared) && s.committee.some((m) => m.chair));
    await cmd(experts[0].token, 'open_scoring');
    return state();
  }

  async function toReported() {
    const sheets = JSON.stringify((await state()).bids.map((bid, i) => ({
      bidder: bid.bidder,
      checks: { q1: { pass: true }, q2: { pass: true }, q3: { pass: true } },
      scores: { t1: String(24 + i), t2: '8', c1: String(7 + i), c2: '4' },
    })));
    for (const x of experts) await cmd(x.token, 'submit_sheets', { sheets, signature: await sign(x, `bidroom-score-sheets-v1\n${room}\n${x.sub}\n${sheets}`) });
    const { report_digest: digest } = await waitFor('the tally', (s) => s.phase === 'tallied' && s.report_digest);
    for (const x of experts) {
      await cmd(x.token, 'sign_report', { digest, signature: await sign(x, `bidroom-evaluation-report-v1\n${room}\n${x.sub}\n${digest}\n`) });
    }
    return waitFor('the report every member signed', (s) => s.phase === 'reported');
  }

  async function drive(until) {
    const to = STEPS.indexOf(until);
    assert.ok(to >= 0, `drive: no step ${until} (${STEPS.join(', ')})`);
    let s = null;
    for (const step of [toScoring, toReported].slice(at + 1, to + 1)) {
      s = await step();
      at++;
    }
    return s ?? state();
  }

  return { room, experts, person, cmd, state, waitFor, drive };
}

/** driveDemoEvaluation is demoEvaluation(h, demo, name) driven to `until` at once; it resolves to the driver. */
export async function driveDemoEvaluation(h, demo, { until = 'reported', name = 'demo' } = {}) {
  const ev = demoEvaluation(h, demo, name);
  await ev.drive(until);
  return ev;
}
