'use strict';
/* TRPC broker dashboard: shared helpers, the API client, routing and refresh, the live event
 * stream with the health badge, and the header. The pages (overview.js, topics.js, clients.js,
 * streams.js, dlq.js, settings.js) register themselves with registerPage(); ui.js has the table,
 * pager and dialog widgets. Server data only ever reaches the page through textContent,
 * attributes set with setAttribute/dataset, or input values: never as HTML. */

/* ---------------------------------------------------------------- DOM */

/* h('div', {class: 'x', text: 'y', onclick: fn, testid: 'z'}, child, ...): an element. Strings
 * among the children become text nodes; null, undefined and false are skipped. */
function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'testid') el.dataset.testid = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || (k in el && typeof v === 'boolean')) el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of kids.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);

/* Replace an element's children (null, undefined and false skipped; strings as text) */
function setKids(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter(k => k != null && k !== false)
    .map(k => (k instanceof Node ? k : String(k))));
}

function setText(el, t) {
  t = t == null ? '' : String(t);
  if (el.textContent !== t) el.textContent = t;
}

function setTitle(el, t) {
  t = t == null ? '' : String(t);
  if (el.title !== t) el.title = t;
}

/* ---------------------------------------------------------------- formatting */

const DASH = '–';

function isNum(x) {
  return x !== null && x !== '' && Number.isFinite(Number(x));
}

/* 1234567 -> "1,234,567" */
function fmtInt(n) {
  if (!isNum(n)) return n == null ? DASH : String(n);
  return Number(n).toLocaleString('en-US', {maximumFractionDigits: 0});
}

function sig(v) {
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return String(parseFloat(v.toFixed(2)));
}

/* Compact numbers for rates: 0, 0.25, 12.5, 950, 12.3k, 4.56M, 1.2G */
function fmtNum(x) {
  if (!isNum(x)) return DASH;
  x = Number(x);
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a < 0.01) return '<0.01';
  for (const [d, u] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
    if (a >= d * 0.9995) return sig(x / d) + u;
  }
  return sig(x);
}

const fmtRate = x => (isNum(x) ? fmtNum(x) + '/s' : DASH);

/* Bytes with binary units: 512 B, 1.50 KiB, 64.0 MiB */
function fmtBytes(n) {
  if (!isNum(n)) return DASH;
  n = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Math.abs(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const s = i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return (n < 0 ? '-' : '') + s + ' ' + units[i];
}

const fmtByteRate = n => (isNum(n) ? fmtBytes(n) + '/s' : DASH);

/* A span of time, coarse: "3 d 4 h", "2 h 5 m", "4 m 10 s", "12 s" */
function fmtDuration(ms) {
  if (!isNum(ms)) return DASH;
  let s = Math.max(0, Math.floor(Number(ms) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} m`;
  if (m) return `${m} m ${s} s`;
  return `${s} s`;
}

/* A configured duration in ms, exact: "30 s", "1 d", "1500 ms"; 0 -> "none" when zeroIsNone */
function fmtMs(ms, zeroIsNone) {
  if (!isNum(ms)) return DASH;
  ms = Number(ms);
  if (ms === 0 && zeroIsNone) return 'none';
  for (const [d, u] of [[604800000, 'w'], [86400000, 'd'], [3600000, 'h'], [60000, 'm'], [1000, 's']]) {
    if (ms >= d && ms % d === 0) return `${ms / d} ${u}`;
  }
  return `${ms} ms`;
}

function toDate(t) {
  if (t == null || t === '') return null;
  const d = new Date(typeof t === 'number' ? t : String(t));
  return isNaN(d.getTime()) ? null : d;
}

/* "3 m ago" */
function fmtAgo(t) {
  const d = toDate(t);
  if (!d) return t == null || t === '' ? DASH : String(t);
  const s = Math.floor((Date.now() - d.getTime()) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/* The absolute time for a title: local time, then the server's text */
function fmtAbs(t) {
  const d = toDate(t);
  if (!d) return '';
  const local = d.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
  return typeof t === 'string' ? `${local} (${t})` : `${local} (${d.toISOString()})`;
}

/* 14:05 or 14:05:30 */
function fmtClock(ms, seconds) {
  return new Date(ms).toLocaleTimeString(undefined, {hour12: false, hour: '2-digit', minute: '2-digit', second: seconds ? '2-digit' : undefined});
}

/* A <time> showing "3 m ago" with the absolute time as its title (refreshTimes() keeps it current) */
function timeEl(t) {
  const d = toDate(t);
  return h('time', {datetime: d ? d.toISOString() : null, title: fmtAbs(t), text: fmtAgo(t)});
}

/* Every timeEl on the page says how long ago again (boot() runs it every second) */
function refreshTimes() {
  for (const t of document.querySelectorAll('time[datetime]')) setText(t, fmtAgo(t.dateTime));
}

const fmtBool = b => (b === true ? 'yes' : b === false ? 'no' : DASH);
const orDash = v => (v == null || v === '' ? DASH : String(v));

/* Form input: "64m", "1.5g", "65536" -> bytes; "" -> null */
function parseSize(s) {
  s = String(s).trim();
  if (s === '') return null;
  const m = /^(\d+(?:\.\d+)?)\s*(b|[kmgt](?:i?b)?)?$/i.exec(s);
  if (!m) throw new Error(`"${s}" is not a size (examples: 65536, 64k, 512m, 1g)`);
  const mul = {b: 1, k: 1024, m: 1048576, g: 1073741824, t: 1099511627776}[(m[2] || 'b')[0].toLowerCase()];
  return Math.round(parseFloat(m[1]) * mul);
}

/* Form input: "90s", "24h", "7d", "1500" (ms) -> ms; "" -> null */
function parseDuration(s) {
  s = String(s).trim();
  if (s === '') return null;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/i.exec(s);
  if (!m) throw new Error(`"${s}" is not a duration (examples: 1500, 30s, 10m, 24h, 7d)`);
  const mul = {ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000}[(m[2] || 'ms').toLowerCase()];
  return Math.round(parseFloat(m[1]) * mul);
}

function parseCount(s, what) {
  s = String(s).trim();
  if (s === '') return null;
  if (!/^\d+$/.test(s)) throw new Error(`${what}: "${s}" is not a whole number`);
  return Number(s);
}

/* Does a topic match a subscription pattern (protocol.md section 5: '*' one token, '>' the rest)? */
function topicMatches(pattern, topic) {
  const p = String(pattern).split('.'), t = String(topic).split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== '*' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

/* ---------------------------------------------------------------- API */

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

const errText = e => (e && e.code ? `${e.code}: ${e.message}` : String((e && e.message) || e));
const API_TIMEOUT_MS = 45000;

/* ---------------------------------------------------------------- session */

/* What GET /api/session says: whether the broker runs with authentication (auth; null while
 * unknown), who is logged in (user, null before a login) and the CSRF token every POST carries
 * (csrf: the session's, or before a login the one the login POST carries). */
const Session = {auth: null, user: null, csrf: null};
let sessionPromise = null;
let sessionGen = 0;          /* bumped by a login and a session's end: older answers are stale */

/* GET /api/session, once (again when renew: after a refused CSRF token, a 401, a logout).
 * Resolves to Session, updated. */
function loadSession(renew) {
  if (!sessionPromise || renew) {
    const gen = sessionGen;
    const p = (async () => {
      let r;
      try {
        r = await fetch('/api/session', {cache: 'no-store', credentials: 'same-origin'});
      } catch (e) {
        throw new ApiError('NETWORK', 'dashboard unreachable: ' + e.message, 0);
      }
      const d = await r.json().catch(() => null);
      if (!d || !d.ok || typeof d.csrf !== 'string') {
        const er = (d && d.error) || {};
        throw new ApiError(er.code || 'SESSION', er.message || `GET /api/session: HTTP ${r.status}`, r.status);
      }
      if (gen !== sessionGen) return Session;    /* a login or logout happened meanwhile */
      Session.auth = d.auth === true;
      Session.user = typeof d.user === 'string' && d.user !== '' ? d.user : null;
      Session.csrf = d.csrf;
      return Session;
    })();
    sessionPromise = p;
    p.catch(() => { if (sessionPromise === p) sessionPromise = null; });
  }
  return sessionPromise;
}

/* The CSRF token for a POST */
const csrfToken = async renew => (await loadSession(renew)).csrf;

/* POST path with the JSON document doc and the CSRF token: {r, d}, d the reply document or null
 * when the body is not JSON. Throws an ApiError when there is no answer. */
async function postJson(path, doc, csrf, what) {
  const abort = new AbortController();
  /* the broker answers within seconds (BUSY after 2 s, a redrive within 30 s): do not wait forever */
  const timer = setTimeout(() => abort.abort(), API_TIMEOUT_MS);
  let r;
  try {
    r = await fetch(path, {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
      body: JSON.stringify(doc || {}),
      credentials: 'same-origin',
      signal: abort.signal,
    });
  } catch (e) {
    throw abort.signal.aborted
      ? new ApiError('TIMEOUT', `${what}: no answer from the dashboard in ${API_TIMEOUT_MS / 1000} s`, 0)
      : new ApiError('NETWORK', `${what}: dashboard unreachable (${e.message})`, 0);
  } finally {
    clearTimeout(timer);
  }
  const d = await r.json().catch(() => null);
  return {r, d: d && typeof d === 'object' ? d : null};
}

/* Every admin verb goes through here: POST /api/<verb> with the request document. Resolves to
 * the reply document ({"ok":true,...}); throws an ApiError with the reply's error.code and
 * error.message otherwise. A 401 (the session ended: expired, its user disabled, logged out
 * elsewhere) brings back the login form; a refused CSRF token is fetched again, once. */
async function api(verb, doc, isRetry) {
  const csrf = await csrfToken();
  const {r, d} = await postJson('/api/' + verb, doc, csrf, verb);
  const e = (d && d.error) || {};
  if (r.status === 401) {
    sessionEnded(e.message || 'the session ended');
    throw new ApiError(e.code || 'UNAUTHORIZED', e.message || `${verb}: not logged in (HTTP 401)`, 401);
  }
  if (!d) throw new ApiError('HTTP_' + r.status, `${verb}: HTTP ${r.status} ${r.statusText}`.trim(), r.status);
  if (d.ok !== true) {
    if (e.code === 'CSRF' && !isRetry) {
      const s = await loadSession(true);
      if (s.auth && !s.user) {
        sessionEnded('the session ended');
        throw new ApiError('UNAUTHORIZED', `${verb}: the session ended: log in again`, 401);
      }
      return api(verb, doc, true);
    }
    throw new ApiError(e.code || 'ERROR', e.message || `${verb} failed (HTTP ${r.status})`, r.status);
  }
  return d;
}

/* POST /api/login: resolves once logged in (Session updated); throws an ApiError with the
 * broker's code and message otherwise (UNAUTHORIZED "bad credentials", FORBIDDEN, BUSY, ...). */
async function login(user, password) {
  for (let retry = false; ; retry = true) {
    const csrf = Session.csrf && !Session.user ? Session.csrf : await csrfToken(true);
    const {r, d} = await postJson('/api/login', {user, password}, csrf, 'login');
    if (d && d.ok === true && typeof d.csrf === 'string') {
      sessionGen++;
      Session.auth = true;
      Session.user = typeof d.user === 'string' ? d.user : user;
      Session.csrf = d.csrf;
      sessionPromise = Promise.resolve(Session);
      return Session;
    }
    const e = (d && d.error) || {};
    if (e.code === 'CSRF' && !retry) {
      await loadSession(true);
      continue;
    }
    throw new ApiError(e.code || 'HTTP_' + r.status, e.message || `login: HTTP ${r.status} ${r.statusText}`.trim(), r.status);
  }
}

/* POST /api/logout, then the login form */
async function logout(button) {
  if (button) button.disabled = true;
  try {
    for (let retry = false; ; retry = true) {
      const {r, d} = await postJson('/api/logout', {}, Session.csrf || await csrfToken(), 'logout');
      const e = (d && d.error) || {};
      if (r.status === 401 || (d && d.ok === true)) break;    /* 401: it had ended already */
      if (e.code === 'CSRF' && !retry) {
        await loadSession(true);
        if (!Session.user) break;
        continue;
      }
      throw new ApiError(e.code || 'HTTP_' + r.status, e.message || `logout: HTTP ${r.status}`, r.status);
    }
    sessionEnded(null, 'Logged out.');
  } catch (e) {
    toastError(e, 'Log out');
  } finally {
    if (button) button.disabled = false;
  }
}

/* ---------------------------------------------------------------- toasts */

function toast(msg, kind = 'info', ms) {
  const area = $('#toast');
  const item = h('div', {class: `toast toast-${kind}`},
    h('span', {class: 'toast-msg', text: msg}),
    h('button', {class: 'toast-x', type: 'button', 'aria-label': 'Dismiss', text: '×',
      onclick: () => item.remove()}));
  area.append(item);
  while (area.children.length > 5) area.firstElementChild.remove();
  setTimeout(() => item.remove(), ms || (kind === 'error' ? 12000 : 5000));
  return item;
}

const toastError = (e, what) => toast((what ? what + ': ' : '') + errText(e), 'error');

/* Run a user action: disable the button meanwhile, toast the outcome, refresh the page. */
async function act(btn, fn, okMsg) {
  if (btn) btn.disabled = true;
  try {
    const r = await fn();
    if (okMsg) toast(typeof okMsg === 'function' ? okMsg(r) : okMsg, 'ok');
    refreshNow();
    return r;
  } catch (e) {
    toastError(e);
    return null;
  } finally {
    if (btn) btn.disabled = false;
  }
}

/* ---------------------------------------------------------------- pages, routing, refresh */

const pages = {};
let currentPage = null;
let appRunning = false;      /* the pages, their refresh and the event stream run (not the login form) */
const REFRESH_MS = 2500;

/* page: {title, init(section), show(arg), hide(), refresh(): Promise, authOnly (only when the
 * broker runs with authentication: the nav entry is hidden otherwise)} */
function registerPage(name, page) {
  page.name = name;
  pages[name] = page;
}

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  let arg = null;
  if (parts.length > 1 && parts.slice(1).join('/') !== '') {
    try { arg = decodeURIComponent(parts.slice(1).join('/')); } catch { arg = null; }
  }
  return {name: parts[0] || 'overview', arg};
}

/* #/clients/<id>, #/streams/<name>, #/dlq/<stream> */
const pageLink = (name, arg) => '#/' + name + (arg != null ? '/' + encodeURIComponent(arg) : '');

function route() {
  if (!appRunning) return;    /* the login form: the page is shown again after the login */
  const {name, arg} = parseHash();
  const page = pages[name];
  if (!page || (page.authOnly && Session.auth === false)) {
    location.replace('#/overview');
    return;
  }
  if (currentPage !== page) {
    if (currentPage) {
      currentPage.section.hidden = true;
      if (currentPage.hide) currentPage.hide();
    }
    currentPage = page;
    page.section.hidden = false;
    for (const a of document.querySelectorAll('nav.tabs a')) {
      if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${page.title} · TRPC broker`;
  }
  if (page.show) page.show(arg);
  refreshNow();
}

let refreshing = false, refreshAgain = false;

/* Refresh the visible page now (and then every REFRESH_MS while it stays visible). */
async function refreshNow() {
  const page = currentPage;
  if (!appRunning || !page || !page.refresh || document.visibilityState !== 'visible') return;
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    await page.refresh();
    showPageError(page, null);
  } catch (e) {
    showPageError(page, e);
  } finally {
    refreshing = false;
  }
  if (refreshAgain) {
    refreshAgain = false;
    refreshNow();
  }
}

function showPageError(page, e) {
  const b = page.errorBanner;
  if (!b) return;
  b.hidden = !e;
  setText(b, e ? `Could not refresh: ${errText(e)}` : '');
}

/* ---------------------------------------------------------------- live data (SSE) and health */

const PROBLEM_COUNTERS = ['drops', 'slow_consumers', 'protocol_errors', 'request_timeouts', 'tls_failures'];
const HEALTH_COUNTERS = ['drops', 'slow_consumers', 'request_timeouts', 'protocol_errors'];
const COUNTER_LABEL = {
  drops: 'drops', slow_consumers: 'slow consumers', protocol_errors: 'protocol errors',
  request_timeouts: 'request timeouts', tls_failures: 'TLS failures',
};

const Live = {
  info: null, infoAt: 0,       /* server.info and when it came */
  snap: null, snapAt: 0,       /* last snapshot event and when it came (local clock) */
  open: false, everOpen: false,
  win: [],                     /* [{t, totals}] of the last minute, for "rose in the last minute" */
  handlers: {history: [], snapshot: [], info: [], session: []},
  on(ev, fn) { this.handlers[ev].push(fn); },
  emit(ev, d) {
    for (const fn of this.handlers[ev]) {
      try { fn(d); } catch (e) { console.error(e); }
    }
  },
  /* How much a counter rose over the last minute (0 when unknown) */
  lastMinute(name) {
    if (this.win.length < 2) return 0;
    const a = this.win[0].totals[name], b = this.win[this.win.length - 1].totals[name];
    return isNum(a) && isNum(b) && b > a ? b - a : 0;
  },
};

function addToWindow(s) {
  const totals = s.totals || {};
  const t = isNum(s.t) ? Number(s.t) : Date.now();
  const last = Live.win[Live.win.length - 1];
  /* a counter going down means the broker restarted: start over */
  if (last && (t < last.t || HEALTH_COUNTERS.concat(['tls_failures']).some(c => (totals[c] || 0) < (last.totals[c] || 0)))) {
    Live.win = [];
  }
  Live.win.push({t, totals});
  while (Live.win.length > 1 && Live.win[0].t < t - 60500) Live.win.shift();
}

let eventSource = null;
let eventRetry = null;

function startEvents() {
  clearTimeout(eventRetry);
  eventRetry = null;
  if (typeof EventSource === 'undefined' || !appRunning || eventSource) return;
  const es = new EventSource('/api/events');
  eventSource = es;
  es.addEventListener('open', () => {
    if (eventSource !== es) return;
    const reopened = Live.everOpen;
    Live.open = true;
    Live.everOpen = true;
    updateHealth();
    /* boot() asked for server.info; after a reconnect the broker may have restarted */
    if (reopened) loadInfo();
  });
  es.addEventListener('error', () => {
    if (eventSource !== es || es.readyState === EventSource.OPEN) return;
    Live.open = false;
    updateHealth();
    /* with authentication the broker ends the stream when the session ends, and answers 401
     * to the reconnection: ask /api/session whether the login is still there */
    if (Session.auth) checkSession();
    /* CLOSED (a non-200 answer, say while the broker restarts): EventSource gives up, so retry */
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      eventSource = null;
      eventRetry = setTimeout(startEvents, 3000);
    }
  });
  es.addEventListener('history', ev => {
    if (eventSource !== es) return;
    let d;
    try { d = JSON.parse(ev.data); } catch { return; }
    Live.emit('history', Array.isArray(d.points) ? d.points : []);
  });
  es.addEventListener('snapshot', ev => {
    if (eventSource !== es) return;
    let s;
    try { s = JSON.parse(ev.data); } catch { return; }
    if (!s || typeof s !== 'object') return;
    Live.open = true;
    Live.snap = s;
    Live.snapAt = Date.now();
    addToWindow(s);
    Live.emit('snapshot', s);
    updateHealth();
    updateHeader();
  });
}

function stopEvents() {
  clearTimeout(eventRetry);
  eventRetry = null;
  if (eventSource) {
    const es = eventSource;
    eventSource = null;
    es.close();
  }
  Live.open = false;
  Live.everOpen = false;
  Live.snap = null;
  Live.win = [];
}

function updateHealth() {
  const badge = $('#health');
  const why = [];
  let state, text;
  const stale = Live.snap ? Date.now() - Live.snapAt : 0;
  if (!Live.open && !Live.everOpen && !Live.snap) {
    state = 'unknown'; text = 'connecting…';
  } else if (!Live.open) {
    state = 'down'; text = 'disconnected';
    why.push('event stream /api/events lost: reconnecting');
  } else if (Live.snap && stale > 5000) {
    state = 'down'; text = 'disconnected';
    why.push(`no snapshot from the broker for ${Math.round(stale / 1000)} s`);
  } else if (!Live.snap) {
    state = 'unknown'; text = 'connecting…';
  } else {
    if (Live.snap.store_up === false) why.push('store down');
    const rates = Live.snap.rates || {};
    for (const c of HEALTH_COUNTERS) {
      const d = Math.max(Live.lastMinute(c), Math.ceil(Number(rates[c]) || 0));
      if (d > 0) why.push(`${COUNTER_LABEL[c]} +${fmtInt(d)} in the last minute`);
    }
    state = why.length ? 'warn' : 'ok';
    text = why.length ? 'degraded' : 'healthy';
  }
  badge.dataset.state = state;
  document.body.dataset.health = state;
  setText($('.health-text', badge), text);
  setTitle(badge, why.length ? why.join('\n') :
    state === 'ok' ? 'Event stream connected, store up, no drops, slow consumers, request timeouts or protocol errors in the last minute' : '');
  setText($('#health-why'), why.join(' · '));
}

/* ---------------------------------------------------------------- header */

async function loadInfo() {
  if (!appRunning || (document.visibilityState !== 'visible' && Live.info)) return;
  try {
    Live.info = await api('server.info');
    Live.infoAt = Date.now();
    Live.emit('info', Live.info);
    updateHeader();
  } catch (e) {
    if (!Live.info) setText($('#hdr-name'), 'broker unreachable');
  }
}

function updateHeader() {
  const i = Live.info, s = Live.snap;
  if (i) {
    setText($('#hdr-name'), i.name || 'trpc-broker');
    setText($('#hdr-version'), i.version ? 'v' + i.version : DASH);
    setText($('#hdr-listen'), orDash(i.listen));
    setText($('#hdr-cores'), i.cores != null ? `${i.cores}${i.io_uring_tier ? ' · ' + i.io_uring_tier : ''}` : DASH);
    setTitle($('#hdr-started'), i.started ? 'started ' + fmtAbs(i.started) : '');
  }
  let up = null;
  if (s && isNum(s.uptime_ms)) up = Number(s.uptime_ms) + (Live.open ? Date.now() - Live.snapAt : 0);
  else if (i && isNum(i.uptime_ms)) up = Number(i.uptime_ms) + (Date.now() - Live.infoAt);
  setText($('#hdr-uptime'), up == null ? DASH : fmtDuration(up));
  const st = i && i.store;
  const storeUp = s && typeof s.store_up === 'boolean' ? s.store_up : st ? st.up : null;
  const el = $('#hdr-store');
  setText(el, st || storeUp != null ? `${(st && st.backend) || 'store'} ${storeUp === false ? 'down' : 'up'}` : DASH);
  el.dataset.state = storeUp === false ? 'down' : storeUp ? 'up' : '';
  if (st) {
    setTitle(el, [st.url, `outages: ${fmtInt(st.outages)}`, st.last_error ? 'last error: ' + st.last_error : '']
      .filter(Boolean).join('\n'));
  }
}

/* ---------------------------------------------------------------- login state */

/* 'off' (no authentication, or not known yet), 'login' (the login form) or 'in' (logged in) */
const authState = () => (Session.auth ? (Session.user ? 'in' : 'login') : 'off');

/* Shows what Session says: the login form, or the pages (started when they were not running),
 * the user's name and Log out in the header, the nav entries for authentication. */
function applySession() {
  const st = authState();
  document.body.dataset.auth = st;
  setText($('#hdr-user-name'), Session.user || '');
  $('#hdr-user').hidden = st !== 'in';
  for (const a of document.querySelectorAll('nav.tabs a[data-page]')) {
    const page = pages[a.dataset.page];
    if (page && page.authOnly) a.hidden = !Session.auth;
  }
  if (st === 'login') {
    stopApp();
    LoginForm.show();
  } else {
    LoginForm.hide();
    startApp();
  }
  Live.emit('session', Session);
}

function startApp() {
  if (appRunning) return;
  appRunning = true;
  updateHealth();
  startEvents();
  loadInfo();
  if (!location.hash) location.replace('#/overview');
  route();
}

function stopApp() {
  if (!appRunning) return;
  appRunning = false;
  stopEvents();
  updateHealth();
  /* a form left open would sit over the login form */
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
}

/* The session ended (a 401, a logout): the login form, with note (or the reason why) above it.
 * The page in the address stays, so the login goes back to it. */
function sessionEnded(why, note) {
  Session.auth = true;    /* a 401: authentication is on (now) */
  const was = Session.user;
  sessionGen++;
  Session.user = null;
  if (was != null || appRunning) {
    LoginForm.note(note || (why ? `Your session ended (${why}): log in again.` : 'Your session ended: log in again.'));
  }
  applySession();
  /* the token for the login POST (and whether authentication is still on) */
  loadSession(true).then(applySession, () => {});
}

let checking = null;

/* Asks /api/session whether the login still holds (the event stream broke) */
function checkSession() {
  if (checking || !Session.user) return;
  checking = loadSession(true)
    .then(s => { if (s.auth && !s.user) sessionEnded(null); else if (!s.auth) applySession(); }, () => {})
    .finally(() => { setTimeout(() => { checking = null; }, 2000); });
}

/* ---------------------------------------------------------------- charts */

const chartsAvailable = () => typeof Chart !== 'undefined';

/* A box holding a chart canvas, or the note saying why there is none */
function chartBox(id, label, cls) {
  if (!chartsAvailable()) {
    return {el: h('div', {class: 'chart-na ' + (cls || ''), role: 'note', text: 'charts unavailable: install libjs-chart.js'}), canvas: null};
  }
  const canvas = h('canvas', {id, role: 'img', 'aria-label': label});
  return {el: h('div', {class: 'chart-box ' + (cls || '')}, canvas), canvas};
}

/* ---------------------------------------------------------------- boot */

async function boot() {
  if (chartsAvailable()) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 11;
    Chart.defaults.color = '#5b6577';
    Chart.defaults.animation = false;
  }
  for (const [name, page] of Object.entries(pages)) {
    const section = document.getElementById('page-' + name);
    if (!section) continue;
    page.section = section;
    section.hidden = true;
    page.init(section);
    page.errorBanner = h('div', {class: 'banner banner-error', role: 'alert', hidden: true});
    section.insertBefore(page.errorBanner, section.children[1] || null);
  }
  $('#logout').addEventListener('click', ev => logout(ev.currentTarget));
  window.addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      refreshNow();
      loadInfo();
    }
  });
  setInterval(refreshNow, REFRESH_MS);
  setInterval(() => { updateHealth(); updateHeader(); refreshTimes(); }, 1000);
  setInterval(loadInfo, 15000);
  updateHealth();
  /* the login form or the pages; a broker out of reach: the pages, which say so (and a 401
   * brings the login form once it answers) */
  try {
    await loadSession();
  } catch (e) {
    console.warn('GET /api/session: ' + errText(e));
  }
  applySession();
}

document.addEventListener('DOMContentLoaded', boot);
