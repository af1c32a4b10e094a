/**
 * Throughput of `parseXml` against fast-xml-parser's `XMLParser` on typical WeChat documents.
 * Run with `npx tsx bench/xml.ts`. Prints ops/s for both parsers and the ratio.
 */
import { XMLParser } from 'fast-xml-parser';
import { parseXml } from '../src/xml/index.js';

const TEXT_MESSAGE = `<xml>
  <ToUserName><![CDATA[gh_1234567890ab]]></ToUserName>
  <FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>
  <CreateTime>1700000000</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[你好，我想查询一下订单 #20231114 的物流状态，谢谢！]]></Content>
  <MsgId>24312345678901234</MsgId>
  <MsgDataId>xxxx</MsgDataId>
  <Idx>0</Idx>
</xml>`;

const PAY_NOTIFY = `<xml>
<appid><![CDATA[wx2421b1c4370ec43b]]></appid>
<attach><![CDATA[支付测试]]></attach>
<bank_type><![CDATA[CFT]]></bank_type>
<fee_type><![CDATA[CNY]]></fee_type>
<is_subscribe><![CDATA[Y]]></is_subscribe>
<mch_id><![CDATA[10000100]]></mch_id>
<nonce_str><![CDATA[5d2b6c2a8db53831f7eda20af46e531c]]></nonce_str>
<openid><![CDATA[oUpF8uMEb4qRXf22hE3X68TekukE]]></openid>
<out_trade_no><![CDATA[1409811653]]></out_trade_no>
<result_code><![CDATA[SUCCESS]]></result_code>
<return_code><![CDATA[SUCCESS]]></return_code>
<sign><![CDATA[B552ED6B279343CB493C5DD0D78AB241]]></sign>
<time_end><![CDATA[20140903131540]]></time_end>
<total_fee>0000001</total_fee>
<coupon_fee><![CDATA[10]]></coupon_fee>
<coupon_count><![CDATA[1]]></coupon_count>
<coupon_type><![CDATA[CASH]]></coupon_type>
<coupon_id><![CDATA[10000]]></coupon_id>
<trade_type><![CDATA[JSAPI]]></trade_type>
<transaction_id><![CDATA[1004400740201409030005092168]]></transaction_id>
</xml>`;

const NEWS_EVENT = `<xml>
<ToUserName><![CDATA[gh_1234567890ab]]></ToUserName>
<FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>
<CreateTime>1700000000</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[pic_weixin]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<SendPicsInfo><Count>2</Count>
<PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>
<item><PicMd5Sum><![CDATA[7f54a7c2b1e35e8e6d2b0b0b8d5b6a11]]></PicMd5Sum></item>
</PicList>
</SendPicsInfo>
</xml>`;

const fxp = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

function opsPerSecond(fn: () => unknown, ms: number): number {
  for (let i = 0; i < 2_000; i++) fn(); // warm-up
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 500; i++) fn();
    ops += 500;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(11);

console.log(
  `${'document'.padEnd(28)} ${'parseXml ops/s'.padStart(15)} ${'XMLParser ops/s'.padStart(15)}  ratio`,
);
for (const [label, doc] of [
  ['text message', TEXT_MESSAGE],
  ['pay v2 notification', PAY_NOTIFY],
  ['SendPicsInfo event', NEWS_EVENT],
] as const) {
  const ours = opsPerSecond(() => parseXml(doc), 1_000);
  const theirs = opsPerSecond(() => fxp.parse(doc), 1_000);
  console.log(
    `${`${label} (${doc.length}c)`.padEnd(28)} ${fmt(ours)}     ${fmt(theirs)}     ${(ours / theirs).toFixed(1)}x`,
  );
}
