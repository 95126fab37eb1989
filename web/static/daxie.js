// Amounts in 大写 (Chinese financial numerals), as a bidder confirms a bid
// before it is sent: 12,345,678.90 yuan is 人民币壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角.
// Written as the 支付结算办法 asks: 整 after an amount that ends at 元,
// no 整 after 角 or 分, one 零 for a run of zeros inside the number.
// Pure functions, no DOM, so they are tested alone (e2e/daxie.test.mjs).

const DIGITS = '零壹贰叁肆伍陆柒捌玖';
const PLACES = ['', '拾', '佰', '仟'];
const GROUPS = ['', '万', '亿', '万亿'];

/** MAX_DAXIE is the largest amount written: below 10^16 yuan. */
export const MAX_DAXIE = '9999999999999999.99';

/**
 * daxie returns amount (a decimal string of yuan, at most 2 decimals,
 * below 10^16) in 大写 without the 人民币 prefix, or '' when amount is
 * not such a string.
 */
export function daxie(amount) {
  const m = /^(\d{1,16})(?:\.(\d{1,2}))?$/.exec(String(amount).trim());
  if (!m) return '';
  const int = m[1].replace(/^0+(?=\d)/, '');
  const dec = (m[2] || '').padEnd(2, '0');
  const jiao = Number(dec[0]);
  const fen = Number(dec[1]);
  let out = '';
  if (int !== '0') out = integerPart(int) + '元';
  if (jiao === 0 && fen === 0) return int === '0' ? '零元整' : `${out}整`;
  if (jiao > 0) out += `${DIGITS[jiao]}角`;
  if (fen > 0) out += `${jiao === 0 && out ? '零' : ''}${DIGITS[fen]}分`;
  return out;
}

/** integerPart writes a non-zero integer of up to 16 digits. */
function integerPart(s) {
  const groups = [];
  for (let end = s.length; end > 0; end -= 4) groups.unshift(s.slice(Math.max(0, end - 4), end));
  let out = '';
  let zeroPending = false; // a zero run seen since the last digit written
  groups.forEach((g, gi) => {
    let unit = GROUPS[groups.length - 1 - gi];
    // 9999万9999亿, but 壹万亿 when the 亿 group is empty.
    if (unit === '万亿' && Number(groups[gi + 1]) !== 0) unit = '万';
    let wrote = false;
    for (let i = 0; i < g.length; i++) {
      const d = Number(g[i]);
      const place = PLACES[g.length - 1 - i];
      if (d === 0) {
        zeroPending = out !== '';
        continue;
      }
      if (zeroPending) out += '零';
      zeroPending = false;
      out += DIGITS[d] + place;
      wrote = true;
    }
    if (wrote) {
      // Zeros at the end of a group are covered by its unit (壹拾万柒仟);
      // an all-zero group writes nothing and its zeros join the run.
      out += unit;
      zeroPending = false;
    }
  });
  return out;
}
