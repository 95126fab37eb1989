// A person's private key in the page: the key file they choose, read here
// and never sent, and the WebAssembly module (unlock.wasm, cmd/bidwasm)
// that uses it — bidroomUnlock and bidroomSignIn for a bidder at the
// opening, bidroomConfirm for the read-out's confirmation, bidroomEvalSign
// for an expert's declaration, sheets and report.

/** MAX_KEY_BYTES is the largest file taken for a key: anything larger is not one. */
export const MAX_KEY_BYTES = 64 * 1024;

/** KeyError is a failure named by a code the pages put into words (detail: the underlying message). */
export class KeyError extends Error {
  constructor(code, detail = '') {
    super(code);
    this.code = code;
    this.detail = detail || '';
  }
}

/** keyFileProblem says why file cannot be a key file ('no_file', 'too_big'), or ''. */
export function keyFileProblem(file) {
  if (!file) return 'no_file';
  if (file.size > MAX_KEY_BYTES) return 'too_big';
  return '';
}

/** readText reads a chosen file as text in the page. */
export function readText(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error);
    r.readAsText(file);
  });
}

/**
 * readKeyFile reads the key file chosen in input (a file input), or
 * throws a KeyError: no_file, too_big.
 */
export async function readKeyFile(input) {
  const file = input.files?.[0];
  const problem = keyFileProblem(file);
  if (problem) throw new KeyError(problem);
  return readText(file);
}

const FUNCTIONS = ['bidroomUnlock', 'bidroomSignIn', 'bidroomConfirm', 'bidroomEvalSign'];

let ready = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(s);
  });
}

/** wasmLoading reports whether the module has been asked for (a first load shows a line while it loads). */
export function wasmLoading() {
  return ready !== null;
}

/**
 * loadWasm loads wasm_exec.js and unlock.wasm once and resolves to
 * {unlock, signIn, confirm, evalSign}, the module's functions; a failed
 * load may be tried again.
 */
export function loadWasm() {
  if (!ready) {
    ready = (async () => {
      if (typeof globalThis.Go !== 'function') await loadScript('wasm_exec.js');
      const go = new globalThis.Go();
      const { instance } = await WebAssembly.instantiateStreaming(fetch('unlock.wasm'), go.importObject);
      go.run(instance); // main registers the functions, then blocks for the page's lifetime
      const there = () => FUNCTIONS.every((f) => typeof globalThis[f] === 'function');
      for (let i = 0; i < 100 && !there(); i++) await new Promise((r) => setTimeout(r, 20));
      if (!there()) throw new Error(`unlock.wasm did not register ${FUNCTIONS.filter((f) => typeof globalThis[f] !== 'function').join(', ')}`);
      const g = globalThis;
      return { unlock: g.bidroomUnlock, signIn: g.bidroomSignIn, confirm: g.bidroomConfirm, evalSign: g.bidroomEvalSign };
    })();
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}
