/** Sample WeChat documents shared by the XML tests. Shapes follow WeChat's published examples. */

export const TEXT_MESSAGE = `<xml>
  <ToUserName><![CDATA[gh_1234567890ab]]></ToUserName>
  <FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>
  <CreateTime>1700000000</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[你好 👋 <b>&amp;</b>]]></Content>
  <MsgId>24312345678901234</MsgId>
</xml>`;

export const NEWS_REPLY = `<xml>
<ToUserName><![CDATA[oUser]]></ToUserName>
<FromUserName><![CDATA[gh_app]]></FromUserName>
<CreateTime>12345678</CreateTime>
<MsgType><![CDATA[news]]></MsgType>
<ArticleCount>2</ArticleCount>
<Articles>
<item>
<Title><![CDATA[title1]]></Title>
<Description><![CDATA[description1]]></Description>
<PicUrl><![CDATA[https://example.com/a.png]]></PicUrl>
<Url><![CDATA[https://example.com/?a=1&b=2]]></Url>
</item>
<item>
<Title><![CDATA[title2]]></Title>
<Description><![CDATA[description2]]></Description>
<PicUrl><![CDATA[https://example.com/b.png]]></PicUrl>
<Url><![CDATA[https://example.com/?c=3]]></Url>
</item>
</Articles>
</xml>`;

export const SEND_PICS_EVENT = `<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>
<FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>
<CreateTime>1408090816</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[pic_weixin]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<SendPicsInfo><Count>1</Count>
<PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum>
</item>
</PicList>
</SendPicsInfo>
</xml>`;

export const TEMPLATE_JOB_FINISH = `<xml>
<ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>
<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>
<CreateTime>1395658920</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>
<MsgID>200163836</MsgID>
<Status><![CDATA[success]]></Status>
</xml>`;

export const PAY_NOTIFY = `<xml>
<appid><![CDATA[wx2421b1c4370ec43b]]></appid>
<attach><![CDATA[支付测试]]></attach>
<bank_type><![CDATA[CFT]]></bank_type>
<fee_type><![CDATA[CNY]]></fee_type>
<mch_id><![CDATA[10000100]]></mch_id>
<nonce_str><![CDATA[5d2b6c2a8db53831f7eda20af46e531c]]></nonce_str>
<openid><![CDATA[oUpF8uMEb4qRXf22hE3X68TekukE]]></openid>
<out_trade_no><![CDATA[1409811653]]></out_trade_no>
<result_code><![CDATA[SUCCESS]]></result_code>
<return_code><![CDATA[SUCCESS]]></return_code>
<sign><![CDATA[B552ED6B279343CB493C5DD0D78AB241]]></sign>
<time_end><![CDATA[20140903131540]]></time_end>
<total_fee>0012345</total_fee>
<cash_fee>1.0084507402014111e+27</cash_fee>
<trade_type><![CDATA[JSAPI]]></trade_type>
<transaction_id>1004400740201409030005092168</transaction_id>
</xml>`;
