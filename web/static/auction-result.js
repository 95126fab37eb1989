// What the auction's pages (auction.html, ticker.html) draw alike: an
// amount in yuan, and the result card (成交/流拍, the price, the winning
// number, the reserve now revealed, when and where it ended).

import './i18n-auction.js';
import { t } from './i18n.js';
import { fmtTime, fmtAmount } from './format.js';
import { $ } from './dom.js';

/** money is an amount (a decimal string in yuan) as "1,234,000 元", or a dash. */
export const money = (a) => (a ? t('auc.yuan', { amount: fmtAmount(a) }) : '—');

/** renderResultCard fills the result card's shared fields from r (the view's result). */
export function renderResultCard(r) {
  const w = $('result-word');
  w.dataset.result = r.result;
  w.textContent = t(`auc.result.${r.result}`);
  $('result-price-label').textContent = t(r.result === 'sold' ? 'auc.result.price' : 'auc.result.top');
  $('result-price').textContent = r.price ? money(r.price) : t('auc.result.noBids');
  $('result-number').textContent = r.result === 'sold' ? r.number || '—' : '—';
  const res = $('result-reserve');
  res.dataset.reserve = r.reserve_price || '';
  res.textContent = r.reserve_price ? `${money(r.reserve_price)}（${t(r.reserve_met ? 'auc.result.reserveMet' : 'auc.result.reserveNotMet')}）` : t('auc.result.noReserve');
  $('result-ended-at').textContent = `${fmtTime(r.ended_at)} · ${t(`auc.result.stage.${r.stage}`)}`;
}
