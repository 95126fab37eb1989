// The DOM helpers every page shares: find elements by their data-testid
// (the pages' and the browser tests' one naming of what is on screen) and
// build an element in one expression; the feedback line and the
// confirmation dialog the room pages share.

/** $ returns the element with data-testid id under root, or null. */
export const $ = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/** $$ returns every element with data-testid id under root. */
export const $$ = (id, root = document) => [...root.querySelectorAll(`[data-testid="${id}"]`)];

/**
 * el builds an element: attrs sets attributes (class → className, text →
 * textContent, testid → data-testid, true → present and empty; undefined,
 * null and false leave it out), children are appended in order (nodes or
 * text; undefined, null, false and '' are skipped).
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'testid') e.dataset.testid = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c !== undefined && c !== null && c !== false && c !== '') e.append(c);
  }
  return e;
}

/**
 * confirmDialog opens the page's confirm-dialog (a <dialog> with
 * confirm-title, confirm-text, confirm-ok and confirm-cancel) and resolves
 * to true when the person chose ok. Cancel has the focus.
 */
export function confirmDialog(title, text, ok) {
  const d = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = ok;
  d.returnValue = '';
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
    $('confirm-cancel').focus();
  });
}

let feedbackTimer = null;

/**
 * feedback shows text in the page's feedback line (data-kind = kind); a
 * line that is not an error goes away after 8 s.
 */
export function feedback(text, kind = 'info') {
  const f = $('feedback');
  f.hidden = false;
  f.textContent = text;
  f.dataset.kind = kind;
  clearTimeout(feedbackTimer);
  if (kind !== 'error') feedbackTimer = setTimeout(() => (f.hidden = true), 8000);
}
