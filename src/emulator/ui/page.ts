/**
 * The console's page, served at `/_emulator/ui`. Static markup only: every value is filled in by
 * `app.js` through `textContent` (never `innerHTML`), under a Content-Security-Policy of 'self'.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>weixin-kit emulator console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/_emulator/ui/app.css">
<script src="/_emulator/ui/app.js" defer></script>
</head>
<body>
<header class="top">
  <h1><span class="logo"></span>weixin-kit emulator<span class="sub">console</span></h1>
  <span id="conn" class="pill">connecting…</span>
  <span class="spacer"></span>
  <span class="clock-top">emulated <span id="clock-now">–</span> <span id="clock-mode" class="muted"></span></span>
</header>
<main class="grid">
  <div class="col">
    <section class="card" id="log-section">
      <h2>Live log <span class="count" id="log-count"></span></h2>
      <div class="row small" id="log-filters">
        <label>kind
          <select id="log-kind">
            <option value="">calls, pushes, notifications</option>
            <option value="all">everything (with control)</option>
            <option value="api">API calls</option>
            <option value="push">pushes</option>
            <option value="pay-notification">Pay notifications</option>
            <option value="control">control</option>
          </select>
        </label>
        <label>filter<input id="log-text" type="search" placeholder="path, appId, reason…"></label>
        <label class="check"><input id="log-refused" type="checkbox"> refused only</label>
        <button type="button" id="log-clear" class="tiny">clear view</button>
      </div>
      <div class="scroll" id="log-scroll">
        <table id="log">
          <thead><tr><th>time</th><th>kind</th><th>what</th><th>verdict</th><th>why</th></tr></thead>
          <tbody id="log-body"></tbody>
        </table>
        <p class="empty" id="log-empty">Nothing yet: call an API, push a message or pay an order.</p>
      </div>
    </section>
    <section class="card" id="orders-section">
      <h2>WeChat Pay orders <span class="count" id="orders-count"></span></h2>
      <table id="orders">
        <thead><tr><th>out_trade_no</th><th>mchid</th><th>description</th><th>amount</th><th>state</th><th></th></tr></thead>
        <tbody id="orders-body"></tbody>
      </table>
      <p class="empty" id="orders-empty">No v3 order yet: orders appear when a client calls POST /v3/pay/transactions/jsapi or /native.</p>
    </section>
  </div>
  <div class="col">
    <section class="card" id="push-section">
      <h2>Push a message</h2>
      <form id="push-form">
        <div class="row">
          <label>app<select id="push-app" required></select></label>
          <label>type
            <select id="push-type">
              <option value="text">text message</option>
              <option value="subscribe">event: subscribe</option>
              <option value="unsubscribe">event: unsubscribe</option>
              <option value="CLICK">event: CLICK (menu)</option>
            </select>
          </label>
        </div>
        <label id="push-content-label">content<input id="push-content" value="Hello from the console"></label>
        <label>from openid (optional)<input id="push-from" placeholder="a new user when empty"></label>
        <div class="row"><button type="submit" class="primary" id="push-send">Push</button><span class="muted small" id="push-target"></span></div>
      </form>
      <div id="push-result" class="result hidden"></div>
    </section>
    <section class="card" id="clock-section">
      <h2>Clock</h2>
      <div class="row">
        <button type="button" class="tiny" data-advance="60">+1 min</button>
        <button type="button" class="tiny" data-advance="300">+5 min</button>
        <button type="button" class="tiny" data-advance="3600">+1 h</button>
        <button type="button" class="tiny" data-advance="7200">+2 h (token expiry)</button>
        <button type="button" class="tiny" data-advance="86400">+1 day</button>
      </div>
      <form id="clock-form" class="row spaced">
        <label>advance by seconds<input id="clock-seconds" type="number" min="0" step="any" value="15"></label>
        <button type="submit">Advance</button>
      </form>
      <p class="small muted" id="scheduled-summary"></p>
      <ul class="small mono" id="scheduled-list"></ul>
    </section>
    <section class="card" id="faults-section">
      <h2>Faults <span class="count" id="faults-count"></span></h2>
      <form id="fault-form">
        <div class="row">
          <label>path<input id="fault-path" value="*" placeholder="/cgi-bin/token or *"></label>
          <label>count (0 = until cleared)<input id="fault-count" type="number" min="0" step="1" value="1"></label>
        </div>
        <div class="row">
          <label>kind
            <select id="fault-kind">
              <option value="errcode">errcode</option>
              <option value="latency">latency</option>
              <option value="drop">drop the connection</option>
              <option value="truncate">truncate the body</option>
            </select>
          </label>
          <label id="fault-errcode-label">errcode<input id="fault-errcode" type="number" value="-1"></label>
          <label id="fault-latency-label" class="hidden">latency ms<input id="fault-latency" type="number" min="0" value="3000"></label>
        </div>
        <label id="fault-errmsg-label">errmsg<input id="fault-errmsg" value="system error"></label>
        <div class="row"><button type="submit">Add fault</button><button type="button" id="fault-clear" class="danger">Clear all</button></div>
      </form>
      <table id="faults" class="small">
        <thead><tr><th>path</th><th>what</th><th>left</th></tr></thead>
        <tbody id="faults-body"></tbody>
      </table>
      <p class="empty" id="faults-empty">No fault pending: every call is served normally.</p>
    </section>
    <section class="card" id="apps-section">
      <h2>Apps and merchants</h2>
      <div id="apps"></div>
      <p class="small muted">Secrets and keys are masked here; the full test credentials are at GET /_emulator/config.</p>
    </section>
  </div>
</main>
<div id="toast" class="toast hidden" role="status"></div>
</body>
</html>
`;
