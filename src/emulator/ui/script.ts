/**
 * The console's script, served at `/_emulator/ui/app.js`. Plain ES2020, no framework, nothing
 * fetched from elsewhere. Every value from the emulator is rendered with `textContent` or as an
 * attribute value — never through `innerHTML` — so a message or errmsg cannot inject markup.
 */
export const CONSOLE_JS = `'use strict';
(function () {
  var MAX_ROWS = 500;
  var state = { lastSeq: 0, events: [], overview: null, overviewAt: 0, orders: [] };

  function $(id) { return document.getElementById(id); }

  // Builds an element: attributes are set with setAttribute, children are nodes or text (textContent).
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') el.textContent = String(v);
        else if (k === 'onclick') el.addEventListener('click', v);
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === undefined || c === null || c === false) continue;
      el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  var toastTimer;
  function toast(message, error) {
    var el = $('toast');
    el.textContent = message;
    el.className = 'toast' + (error ? ' error' : '');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.className = 'toast hidden'; }, 4000);
  }

  async function api(method, path, body) {
    var init = { method: method, headers: { accept: 'application/json' } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['content-type'] = 'application/json';
    }
    var res = await fetch(path, init);
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      var message = data && typeof data.error === 'string' ? data.error : 'HTTP ' + res.status;
      throw new Error(message);
    }
    return data;
  }

  // Emulated time, shown in China time (UTC+8) as WeChat writes it.
  function chinaTime(ms, withDate) {
    var iso = new Date(ms + 8 * 3600 * 1000).toISOString();
    return withDate ? iso.slice(0, 10) + ' ' + iso.slice(11, 19) : iso.slice(11, 19);
  }

  function yuan(fen, currency) {
    return (fen / 100).toFixed(2) + ' ' + (currency || 'CNY');
  }

  // ---- live log -------------------------------------------------------------------------------

  function matches(event) {
    var kind = $('log-kind').value;
    if (kind === '' && event.kind === 'control') return false;
    if (kind && kind !== 'all' && event.kind !== kind) return false;
    if ($('log-refused').checked && event.verdict !== 'refused') return false;
    var text = $('log-text').value.trim().toLowerCase();
    if (!text) return true;
    var hay = (event.summary + ' ' + (event.reason || '') + ' ' + JSON.stringify(event.detail)).toLowerCase();
    return hay.indexOf(text) !== -1;
  }

  function eventRow(event) {
    var row = h('tr', { class: 'event ' + event.verdict, 'data-seq': event.seq, 'data-kind': event.kind, 'data-verdict': event.verdict },
      h('td', { class: 'mono', text: chinaTime(event.at) }),
      h('td', {}, h('span', { class: 'kind', text: event.kind })),
      h('td', { class: 'summary mono', text: event.summary }),
      h('td', {}, h('span', { class: 'badge ' + event.verdict, text: event.verdict })),
      h('td', { class: 'reason', text: event.reason || describeAccepted(event) }));
    row.addEventListener('click', function () {
      var next = row.nextSibling;
      if (next && next.classList && next.classList.contains('detail')) { next.remove(); return; }
      var detail = h('tr', { class: 'detail' }, h('td', { colspan: '5' }, h('pre', { text: JSON.stringify(event.detail, null, 2) })));
      row.parentNode.insertBefore(detail, row.nextSibling);
    });
    return row;
  }

  function describeAccepted(event) {
    var d = event.detail || {};
    if (event.kind === 'push') return 'server answered HTTP ' + d.status + (d.replied ? ' with a reply' : '');
    if (event.kind === 'pay-notification') return 'acknowledged, HTTP ' + d.status + ' (attempt ' + d.attempt + ')';
    if (d.errcode !== undefined) return 'errcode ' + d.errcode;
    if (d.status !== undefined) return 'HTTP ' + d.status;
    return '';
  }

  function renderLog() {
    var body = $('log-body');
    clear(body);
    var shown = 0;
    for (var i = state.events.length - 1; i >= 0; i--) {
      if (!matches(state.events[i])) continue;
      body.appendChild(eventRow(state.events[i]));
      shown++;
    }
    updateLogCount(shown);
  }

  function updateLogCount(shown) {
    var refused = state.events.filter(function (e) { return e.verdict === 'refused'; }).length;
    $('log-count').textContent = state.events.length + ' events, ' + refused + ' refused' +
      (shown !== state.events.length ? ' (' + shown + ' shown)' : '');
    $('log-empty').classList.toggle('hidden', state.events.length > 0);
  }

  function addEvent(event) {
    if (event.seq <= state.lastSeq) return;
    state.lastSeq = event.seq;
    state.events.push(event);
    if (state.events.length > MAX_ROWS) state.events.shift();
    var body = $('log-body');
    if (matches(event)) {
      body.insertBefore(eventRow(event), body.firstChild);
      while (body.children.length > MAX_ROWS) body.removeChild(body.lastChild);
    }
    updateLogCount(body.querySelectorAll('tr.event').length);
  }

  // ---- overview: apps, clock, faults ----------------------------------------------------------

  function renderApps(overview) {
    var box = $('apps');
    clear(box);
    overview.apps.forEach(function (app) {
      box.appendChild(h('div', { class: 'app', 'data-app': app.appId },
        h('div', { class: 'app-title' }, h('span', { class: 'kind', text: app.kind }), h('span', { class: 'mono', text: app.appId })),
        h('dl', { class: 'kv' },
          h('dt', { text: 'secret' }), h('dd', { text: app.secret }),
          h('dt', { text: 'token' }), h('dd', { text: app.token || '–' }),
          h('dt', { text: 'EncodingAESKey' }), h('dd', { text: app.encodingAESKey || '–' }),
          h('dt', { text: 'mode' }), h('dd', { text: app.messageMode }),
          h('dt', { text: 'callbackUrl' }), h('dd', { text: app.callbackUrl || 'not set: no pushes' }),
          h('dt', { text: 'access tokens' }), h('dd', { text: app.tokensIssued + ' issued' }))));
    });
    overview.merchants.forEach(function (m) {
      box.appendChild(h('div', { class: 'app', 'data-merchant': m.mchid },
        h('div', { class: 'app-title' }, h('span', { class: 'kind', text: 'merchant' }), h('span', { class: 'mono', text: m.mchid })),
        h('dl', { class: 'kv' },
          h('dt', { text: 'APIv3 key' }), h('dd', { text: m.apiV3Key }),
          h('dt', { text: 'APIv2 key' }), h('dd', { text: m.apiV2Key }),
          h('dt', { text: 'verify mode' }), h('dd', { text: m.verifyMode }))));
    });
    (overview.corps || []).forEach(function (c) {
      var list = h('dl', { class: 'kv' });
      c.agents.forEach(function (a) {
        list.appendChild(h('dt', { text: 'agent ' + a.agentId }));
        list.appendChild(h('dd', { text: (a.name ? a.name + ', ' : '') + 'secret ' + a.secret }));
      });
      box.appendChild(h('div', { class: 'app', 'data-corp': c.corpId },
        h('div', { class: 'app-title' }, h('span', { class: 'kind', text: 'wecom' }), h('span', { class: 'mono', text: c.corpId })),
        list));
    });
    (overview.components || []).forEach(function (c) {
      box.appendChild(h('div', { class: 'app', 'data-component': c.componentAppId },
        h('div', { class: 'app-title' }, h('span', { class: 'kind', text: 'open platform' }), h('span', { class: 'mono', text: c.componentAppId })),
        h('dl', { class: 'kv' },
          h('dt', { text: 'secret' }), h('dd', { text: c.secret }),
          h('dt', { text: 'token' }), h('dd', { text: c.token }),
          h('dt', { text: 'callbackUrl' }), h('dd', { text: c.callbackUrl || 'not set: no pushes' }))));
    });
    var select = $('push-app');
    var chosen = select.value;
    clear(select);
    overview.apps.forEach(function (app) {
      if (app.kind === 'wecom') return;
      select.appendChild(h('option', { value: app.appId, disabled: !app.callbackUrl, text: app.appId + ' (' + app.kind + (app.callbackUrl ? '' : ', no callbackUrl') + ')' }));
    });
    var usable = overview.apps.filter(function (a) { return a.callbackUrl; });
    if (chosen && usable.some(function (a) { return a.appId === chosen; })) select.value = chosen;
    else if (usable.length) select.value = usable[0].appId;
    showPushTarget();
  }

  function showPushTarget() {
    var overview = state.overview;
    if (!overview) return;
    var app = overview.apps.find(function (a) { return a.appId === $('push-app').value; });
    $('push-target').textContent = app && app.callbackUrl ? '→ ' + app.callbackUrl : 'no app with a callbackUrl';
    $('push-send').disabled = !(app && app.callbackUrl);
  }

  function renderClock() {
    var o = state.overview;
    if (!o) return;
    var now = o.clock.mode === 'manual' ? o.now : o.now + (Date.now() - state.overviewAt);
    $('clock-now').textContent = chinaTime(now, true) + ' (UTC+8)';
    var offset = Math.round(o.clock.offsetMs / 1000);
    $('clock-mode').textContent = o.clock.mode + ' clock' + (offset ? ', ' + (offset > 0 ? '+' : '') + offset + ' s' : '');
  }

  function renderScheduled(o) {
    $('scheduled-summary').textContent = o.scheduled.length
      ? o.scheduled.length + ' delayed job(s) waiting on the emulated clock (soonest first):'
      : 'No delayed work waiting.';
    var list = $('scheduled-list');
    clear(list);
    o.scheduled.slice(0, 6).forEach(function (s) {
      list.appendChild(h('li', { text: s.label + ' — in ' + Math.max(0, Math.round(s.dueInMs)) + ' ms' }));
    });
  }

  function renderFaults(o) {
    var body = $('faults-body');
    clear(body);
    o.faults.forEach(function (f) {
      var what = f.errcode !== undefined ? 'errcode ' + f.errcode + (f.errmsg ? ' ' + f.errmsg : '')
        : f.drop ? 'drop' : f.truncate ? 'truncate' : 'latency ' + f.latencyMs + ' ms';
      if (f.errcode !== undefined && f.latencyMs) what += ' after ' + f.latencyMs + ' ms';
      body.appendChild(h('tr', { class: 'fault' },
        h('td', { class: 'mono', text: f.path }),
        h('td', { text: what }),
        h('td', { text: f.remaining === 0 ? 'until cleared' : String(f.remaining) })));
    });
    $('faults-count').textContent = o.faults.length ? o.faults.length + ' pending' : '';
    $('faults-empty').classList.toggle('hidden', o.faults.length > 0);
    $('faults').classList.toggle('hidden', o.faults.length === 0);
  }

  async function refreshOverview() {
    var o = await api('GET', '/_emulator/overview');
    state.overview = o;
    state.overviewAt = Date.now();
    renderApps(o);
    renderClock();
    renderScheduled(o);
    renderFaults(o);
  }

  // ---- Pay orders -----------------------------------------------------------------------------

  function orderAction(label, cls, path, order, body, done) {
    return h('button', {
      type: 'button', class: 'tiny ' + cls, 'data-action': label.toLowerCase(),
      onclick: async function (ev) {
        ev.target.disabled = true;
        try {
          await api('POST', '/_emulator/pay/transactions/' + encodeURIComponent(order.out_trade_no) + '/' + path,
            Object.assign({ mchid: order.mchid }, body || {}));
          toast(done + ': ' + order.out_trade_no);
        } catch (e) {
          toast(label + ' failed: ' + e.message, true);
        }
        scheduleRefresh();
      },
    }, label);
  }

  function renderOrders() {
    var body = $('orders-body');
    clear(body);
    var orders = state.orders.slice().reverse();
    orders.forEach(function (o) {
      var left = o.amount.total - o.refunded;
      var actions = h('div', { class: 'actions' });
      if (o.trade_state === 'NOTPAY') {
        actions.appendChild(orderAction('Pay', 'primary', 'succeed', o, {}, 'Paid'));
        actions.appendChild(orderAction('Close', '', 'close', o, {}, 'Closed'));
      }
      if ((o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND') && left > 0)
        actions.appendChild(orderAction('Refund', 'danger', 'refund', o, {}, 'Refund requested'));
      var refunds = o.refunds.map(function (r) { return r.status + ' ' + yuan(r.refund, o.amount.currency); }).join(', ');
      body.appendChild(h('tr', { class: 'order', 'data-order': o.out_trade_no, 'data-state': o.trade_state },
        h('td', { class: 'mono', text: o.out_trade_no }),
        h('td', { class: 'mono', text: o.mchid }),
        h('td', {}, o.description, refunds ? h('div', { class: 'small muted', text: 'refunds: ' + refunds }) : null),
        h('td', { class: 'mono', text: yuan(o.amount.total, o.amount.currency) }),
        h('td', {}, h('span', { class: 'badge state ' + o.trade_state, text: o.trade_state })),
        h('td', {}, actions)));
    });
    $('orders-count').textContent = orders.length ? String(orders.length) : '';
    $('orders-empty').classList.toggle('hidden', orders.length > 0);
    $('orders').classList.toggle('hidden', orders.length === 0);
  }

  async function refreshOrders() {
    state.orders = (await api('GET', '/_emulator/pay/orders')).orders;
    renderOrders();
  }

  var refreshTimer;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      Promise.all([refreshOverview(), refreshOrders()]).catch(function (e) { toast('refresh failed: ' + e.message, true); });
    }, 120);
  }

  // ---- forms ----------------------------------------------------------------------------------

  function pushMessage() {
    var type = $('push-type').value;
    var content = $('push-content').value;
    var message = type === 'text' ? { MsgType: 'text', Content: content } : { MsgType: 'event', Event: type };
    if (type === 'CLICK') message.EventKey = content;
    var from = $('push-from').value.trim();
    if (from) message.FromUserName = from;
    return message;
  }

  function showPushResult(result) {
    var box = $('push-result');
    clear(box);
    var refused = result.replyError !== undefined;
    box.className = 'result ' + (refused ? 'refused' : 'accepted');
    box.setAttribute('data-verdict', refused ? 'refused' : 'accepted');
    box.appendChild(h('div', {},
      h('span', { class: 'badge ' + (refused ? 'refused' : 'accepted'), text: refused ? 'refused' : 'accepted' }),
      ' HTTP ' + result.status + ', ' + result.attempts + ' attempt(s)'));
    if (refused) box.appendChild(h('div', { class: 'small', text: result.replyError + (result.replyErrorMessage ? ': ' + result.replyErrorMessage : '') }));
    if (typeof result.reply === 'string') {
      box.appendChild(h('div', { class: 'small muted', text: result.reply ? 'passive reply (decrypted):' : 'no passive reply ("success" or empty)' }));
      if (result.reply) box.appendChild(h('pre', { class: 'reply', text: result.reply }));
    }
  }

  function wireForms() {
    $('push-app').addEventListener('change', showPushTarget);
    $('push-type').addEventListener('change', function () {
      var type = $('push-type').value;
      $('push-content-label').classList.toggle('hidden', type === 'subscribe' || type === 'unsubscribe');
      $('push-content-label').firstChild.textContent = type === 'CLICK' ? 'EventKey' : 'content';
    });
    $('push-form').addEventListener('submit', async function (ev) {
      ev.preventDefault();
      var button = $('push-send');
      button.disabled = true;
      try {
        showPushResult(await api('POST', '/_emulator/push', { appId: $('push-app').value, message: pushMessage() }));
      } catch (e) {
        toast('push failed: ' + e.message, true);
      } finally {
        button.disabled = false;
      }
    });

    async function advance(seconds) {
      try {
        await api('POST', '/_emulator/clock', { advanceSeconds: seconds });
        toast('clock moved ' + seconds + ' s');
      } catch (e) {
        toast('clock: ' + e.message, true);
      }
      scheduleRefresh();
    }
    document.querySelectorAll('[data-advance]').forEach(function (b) {
      b.addEventListener('click', function () { advance(Number(b.getAttribute('data-advance'))); });
    });
    $('clock-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var seconds = Number($('clock-seconds').value);
      if (!isFinite(seconds) || seconds <= 0) { toast('enter a number of seconds above 0', true); return; }
      advance(seconds);
    });

    $('fault-kind').addEventListener('change', function () {
      var kind = $('fault-kind').value;
      $('fault-errcode-label').classList.toggle('hidden', kind !== 'errcode');
      $('fault-errmsg-label').classList.toggle('hidden', kind !== 'errcode');
      $('fault-latency-label').classList.toggle('hidden', kind !== 'latency');
    });
    $('fault-form').addEventListener('submit', async function (ev) {
      ev.preventDefault();
      var kind = $('fault-kind').value;
      var fault = { path: $('fault-path').value.trim() || '*', count: Number($('fault-count').value) };
      if (kind === 'errcode') {
        fault.errcode = Number($('fault-errcode').value);
        if ($('fault-errmsg').value) fault.errmsg = $('fault-errmsg').value;
      } else if (kind === 'latency') fault.latencyMs = Number($('fault-latency').value);
      else fault[kind] = true;
      try {
        await api('POST', '/_emulator/faults', fault);
        toast('fault added for ' + fault.path);
      } catch (e) {
        toast('fault refused: ' + e.message, true);
      }
      scheduleRefresh();
    });
    $('fault-clear').addEventListener('click', async function () {
      try { await api('DELETE', '/_emulator/faults'); toast('faults cleared'); } catch (e) { toast(e.message, true); }
      scheduleRefresh();
    });

    ['log-kind', 'log-refused'].forEach(function (id) { $(id).addEventListener('change', renderLog); });
    $('log-text').addEventListener('input', renderLog);
    $('log-clear').addEventListener('click', function () { state.events = []; renderLog(); });
  }

  // ---- live updates (server-sent events) -------------------------------------------------------

  function connect() {
    var pill = $('conn');
    var source = new EventSource('/_emulator/events');
    source.addEventListener('open', function () {
      pill.textContent = 'live';
      pill.className = 'pill live';
      scheduleRefresh();
    });
    source.addEventListener('error', function () {
      pill.textContent = source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…';
      pill.className = 'pill down';
    });
    source.addEventListener('emulator', function (message) {
      try { addEvent(JSON.parse(message.data)); } catch (e) { return; }
      scheduleRefresh();
    });
  }

  function start() {
    wireForms();
    connect();
    scheduleRefresh();
    setInterval(renderClock, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
`;
