// daxie.js: amounts in 大写 as a bidder confirms a bid, checked against
// amounts written out by hand.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { daxie } from '../web/static/daxie.js';

describe('daxie', () => {
  it('writes amounts as the 支付结算办法 asks', () => {
    const cases = {
      '0': '零元整',
      '0.5': '伍角',
      '0.05': '伍分',
      '1': '壹元整',
      '10': '壹拾元整',
      '101': '壹佰零壹元整',
      '110.00': '壹佰壹拾元整',
      '1409.50': '壹仟肆佰零玖元伍角',
      '6007.14': '陆仟零柒元壹角肆分',
      '1680.32': '壹仟陆佰捌拾元叁角贰分',
      '10000': '壹万元整',
      '10001': '壹万零壹元整',
      '100010000': '壹亿零壹万元整',
      '1000000001': '壹拾亿零壹元整',
      '12345678.90': '壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角',
      '107000.53': '壹拾万柒仟元伍角叁分',
      '325000.05': '叁拾贰万伍仟元零伍分',
      '217000000': '贰亿壹仟柒佰万元整',
      '1000000000000': '壹万亿元整',
      '1000000000000000': '壹仟万亿元整',
      '1000100000000': '壹万零壹亿元整',
      '9999999999999999.99': '玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分',
      '008': '捌元整',
    };
    for (const [amount, want] of Object.entries(cases)) assert.equal(daxie(amount), want, amount);
  });

  it('writes nothing for what is not an amount', () => {
    for (const bad of ['', 'abc', '1.234', '-5', '1e6', '12345678901234567', '1,000', ' ', '1.']) assert.equal(daxie(bad), '', bad);
  });
});
