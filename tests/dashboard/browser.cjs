'use strict';
/* The dashboard in a real browser (run by tests/dashboard/browser.sh, which starts the broker, makes
 * two dead letters with examples/durable and holds one idle client open): headless chromium driven
 * by playwright-core clicks through the pages as a person would, and trpcctl says whether the
 * broker did what the page claims. Then the same against a second broker, with authentication on
 * (a browser context of its own, so cookies of its own): the login form, a wrong password, the
 * login, the Users page (a user added, disabled and enabled, a token made), a session ended
 * elsewhere, Log out, and a user who is no admin refused. Prints one "ok - ..." or "not ok - ..."
 * line per check and "# ..." comments; browser.sh numbers them. A failed step is reported and the
 * next one runs.
 *
 * Environment: DASH_URL (http://127.0.0.1:PORT/), TRPC_URL, TRPC_CTL, TRPC_BENCH, TRPC_DURABLE,
 * SHOTS (the screenshot directory), TRPC_NODE_MODULES (where playwright-core is), TRPC_CHROMIUM;
 * for the broker with authentication AUTH_DASH_URL, AUTH_TRPC_URL and AUTH_ADMIN_PW (the password
 * of its admin alice). */

const {execFile} = require('child_process');
const path = require('path');

const env = process.env;
const {chromium} = require(path.join(env.TRPC_NODE_MODULES, 'playwright-core'));
const DEADLINE_MS = 80000;     /* the whole run; browser.sh's timeout is the backstop */

/* ------------------------------------------------------------------ output */

let failed = 0;
function ok(pass, what) {
  if (!pass) failed++;
  console.log(`${pass ? 'ok' : 'not ok'} - ${what}`);
}
function diag(text) {
  /* playwright's messages carry terminal colours */
  for (const line of String(text).replace(/\x1b\[[0-9;]*m/g, '').split('\n')) console.log('# ' + line);
}

/* ------------------------------------------------------------------ helpers */

const sleep = ms => new Promise(r => setTimeout(r, ms));

const children = new Set();    /* the programs running now, killed if the run is cut short */

/* Runs a program (extraEnv: variables added to its environment); resolves to {code, stdout,
 * stderr} whatever its exit status. */
function run(file, args, timeoutMs = 15000, extraEnv = null) {
  return new Promise(resolve => {
    const opts = {timeout: timeoutMs, killSignal: 'SIGKILL', env: extraEnv ? {...process.env, ...extraEnv} : process.env};
    const child = execFile(file, args, opts, (err, stdout, stderr) => {
      children.delete(child);
      resolve({code: err ? (err.code ?? err.signal) : 0, stdout, stderr});
    });
    children.add(child);
  });
}

/* trpcctl --json ARGS: the reply document (throws when the broker said no). */
async function ctl(...args) {
  const r = await run(env.TRPC_CTL, ['--url', env.TRPC_URL, '--json', ...args]);
  let d = null;
  try { d = JSON.parse(r.stdout); } catch { /* below */ }
  if (!d || d.ok !== true) throw new Error(`trpcctl ${args.join(' ')}: exit ${r.code} ${r.stdout}${r.stderr}`);
  return d;
}

/* trpcctl --json ARGS against the broker with authentication, logged in as its admin alice. */
async function ctlAuth(...args) {
  const r = await run(env.TRPC_CTL, ['--url', env.AUTH_TRPC_URL, '--user', 'alice', '--json', ...args], 15000,
    {TRPC_PASSWORD: env.AUTH_ADMIN_PW});
  let d = null;
  try { d = JSON.parse(r.stdout); } catch { /* below */ }
  if (!d || d.ok !== true) throw new Error(`trpcctl --user alice ${args.join(' ')}: exit ${r.code} ${r.stdout}${r.stderr}`);
  return d;
}

/* Polls fn until it returns something truthy (or ms pass): that value, or the last one. */
async function until(fn, ms = 5000, every = 200) {
  const end = Date.now() + ms;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() >= end) return v;
    await sleep(every);
  }
}

/* A number as the dashboard shows it: "950", "12.3k", "4.56M", "1,234" (NaN otherwise). */
function shown(text) {
  const m = /^([\d.,]+)\s*([kMGT]?)$/.exec(String(text).trim());
  if (!m) return NaN;
  return parseFloat(m[1].replace(/,/g, '')) * {'': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12}[m[2]];
}

const tid = id => `[data-testid="${id}"]`;

/* ------------------------------------------------------------------ the run */

let browser, page;
const problems = [];          /* page errors and console errors, over the whole run */
const expected4xx = [];       /* URL endings (or {re, status}) of API calls the test makes fail on purpose */
const dialogs = [];           /* the confirm() questions, accepted */

/* A console error about an HTTP answer that the test asked for */
function expectedFailure(text, url) {
  const m = /status of (4\d\d)/.exec(text);
  if (!m) return false;
  return expected4xx.some(e => (typeof e === 'string' ? url.endsWith(e) :
    e.re.test(url) && (!e.status || e.status === Number(m[1]))));
}

/* Collects a page's errors and console errors, and accepts its confirm() questions */
function watch(p) {
  p.setDefaultTimeout(8000);
  p.on('pageerror', e => problems.push(`page error: ${e.message}`));
  p.on('console', msg => {
    if (msg.type() !== 'error') return;
    const url = msg.location().url || '';
    if (expectedFailure(msg.text(), url)) return;
    problems.push(`console error: ${msg.text()} (${url})`);
  });
  p.on('dialog', d => {
    dialogs.push(d.message());
    d.accept();
  });
}

async function shot(name) {
  /* from the top: a page scrolled down (the streams page scrolls to its detail) would draw the
   * sticky tabs in the middle of a full-page screenshot */
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({path: path.join(env.SHOTS, name + '.png'), fullPage: true});
}

/* A step: its checks print themselves; an exception is one more "not ok", with a screenshot. */
async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    ok(false, `${name}: ${String(e.message).split('\n')[0]}`);
    diag(e.stack || e);
    await shot('failed-' + name.replace(/\W+/g, '-')).catch(() => {});
  }
}

async function goPage(name) {
  await page.click(tid('nav-' + name));
  await page.waitForSelector(`#page-${name}:not([hidden])`, {timeout: 5000});
}

async function toastText(kind, contains) {
  const t = page.locator(`${tid('toast')} .toast-${kind}`, {hasText: contains}).first();
  await t.waitFor({timeout: 8000});
  return t.textContent();
}

async function overview() {
  await page.goto(env.DASH_URL);
  await page.waitForSelector(`${tid('health')}[data-state="ok"]`, {timeout: 10000});
  ok(true, 'overview: the health badge reaches data-state "ok"');
  /* the tiles from the event stream, the header from server.info */
  const filled = await until(async () => {
    const conns = await page.textContent(tid('tile-connections'));
    const version = await page.textContent('#hdr-version');
    return Number.isFinite(shown(conns)) && /^v\d/.test(version) ? {conns, version} : null;
  });
  ok(!!filled, `overview: the tiles and the header fill in (connections ${filled && filled.conns}, ` +
    `${await page.textContent('#hdr-version')})`);
  ok(problems.length === 0, `overview: loads with no page or console error (${problems.length})`);
  ok(!(await page.isVisible(tid('nav-users'))) && !(await page.isVisible(tid('logout'))) && !(await page.isVisible(tid('login-user'))),
    'overview: without authentication, no login form, no Log out and no Users page');
}

async function rateChart() {
  const haveChart = await page.evaluate(() => typeof Chart !== 'undefined' && !!Chart.getChart('rate-chart'));
  const tile = async () => shown(await page.textContent(tid('tile-msgs-in')));
  /* the msgs in/s series: its points, and the canvas as an image (does it redraw?) */
  const chart = () => page.evaluate(() => {
    const c = Chart.getChart('rate-chart');
    return {pts: c.data.datasets[0].data.map(p => [p.x, p.y]), png: c.canvas.toDataURL()};
  });
  await sleep(1200);    /* a snapshot or two of a quiet broker */
  const before = await tile();
  const c0 = haveChart ? await chart() : null;
  const t0 = c0 && c0.pts.length ? c0.pts[c0.pts.length - 1][0] : 0;

  const started = Date.now();
  let benchDone = false;
  const bench = run(env.TRPC_BENCH, ['pubsub', '--url', env.TRPC_URL, '--size', '16', '--duration', '5'], 30000)
    .finally(() => { benchDone = true; });
  let tileMax = 0, chartMax = 0, redrawn = false, coreRows = 0, cpuMax = 0;
  /* the Cores table: its rows' CPU column ("37 %"), found by its heading */
  const coreCpu = () => page.evaluate(() => {
    const table = document.querySelector('table[aria-label="Cores"]');
    const col = table ? [...table.querySelectorAll('thead th')].findIndex(th => th.textContent.trim() === 'CPU') : -1;
    return col < 0 ? [] : [...table.querySelectorAll('tbody tr:not(.empty)')].map(tr => parseFloat(tr.children[col].textContent));
  });
  while (!benchDone) {
    await sleep(300);
    tileMax = Math.max(tileMax, (await tile()) || 0);
    const cpu = await coreCpu();
    coreRows = Math.max(coreRows, cpu.length);
    cpuMax = Math.max(cpuMax, ...cpu.filter(Number.isFinite));
    if (haveChart) {
      const c = await chart();
      for (const [x, y] of c.pts) if (x > t0) chartMax = Math.max(chartMax, y);
      redrawn = redrawn || c.png !== c0.png;
    }
  }
  const b = await bench;
  diag(`trpc-bench pubsub: exit ${b.code} after ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
    (b.stdout.trim().split('\n').pop() || b.stderr.trim()));
  ok(b.code === 0, 'trpc-bench pubsub ran for 5 s');
  ok(before < 100 && tileMax > 1000,
    `overview: the msgs in/s tile rises while trpc-bench runs (${before}/s before, at most ${tileMax}/s during)`);
  ok(coreRows === 2 && cpuMax >= 5, `overview: the Cores table has a row per core, whose CPU rises under load (at most ${cpuMax} %)`);
  if (haveChart) {
    ok(chartMax > 1000 && redrawn,
      `overview: the rate chart takes the new points (at most ${Math.round(chartMax)}/s) and redraws`);
  } else {
    ok(true, 'overview: the rate chart # SKIP no Chart.js (libjs-chart.js is not installed)');
  }
  /* and back down once it stops */
  const after = await until(async () => {
    const v = await tile();
    const last = haveChart ? (await chart()).pts.slice(-1)[0][1] : 0;
    return v === 0 && last === 0 ? v : null;
  }, 6000, 300);
  ok(after === 0, `overview: the tile${haveChart ? ' and the chart' : ''} go back to 0/s once trpc-bench stops (${await tile()}/s)`);
  await shot('overview');
}

async function topics() {
  await goPage('topics');
  /* the idle client subscribes to idle.PID.0 */
  const row = page.locator(`${tid('pattern-row')}[data-pattern^="idle."]`);
  await row.first().waitFor({timeout: 6000});
  ok(true, `topics: the idle client's subscription is listed (${await row.first().getAttribute('data-pattern')})`);
  await shot('topics');
}

async function clients() {
  const list = (await ctl('clients', 'ls')).clients.filter(c => c.name !== 'trpcctl');
  ok(list.length === 1, `clients: trpcctl sees the idle client (${list.map(c => c.id).join(', ')})`);
  const id = String(list[0].id);
  await goPage('clients');
  const row = page.locator(`${tid('client-row')}[data-id="${id}"]`);
  await row.waitFor({timeout: 6000});
  await row.locator('td').first().click();
  const detail = page.locator(tid('client-detail'));
  await detail.locator('[data-testid="client-sub-row"]').first().waitFor({timeout: 6000});
  ok((await detail.textContent()).includes(id), `clients: its row opens its detail, with its subscription (client ${id})`);
  await shot('clients');

  const asked = dialogs.length;
  await row.locator(tid('kick')).click();
  await toastText('ok', `Kicked client ${id}`);
  await row.waitFor({state: 'detached', timeout: 8000});
  ok(dialogs.length === asked + 1 && dialogs[asked].includes(`Kick client ${id}`),
    'clients: Kick asks first (confirm accepted), then the row goes');
  const gone = await until(async () => !(await ctl('clients', 'ls')).clients.some(c => String(c.id) === id), 3000);
  ok(gone, `clients: trpcctl clients ls no longer lists client ${id}`);
}

async function streams() {
  await goPage('streams');
  await page.click(`${tid('stream-row')}[data-name="orders"]`);
  await page.waitForSelector(`${tid('stream-detail')}:not([hidden])`, {timeout: 5000});
  const g = page.locator(`${tid('group-row')}[data-name="billing"]`);
  await g.waitFor({timeout: 6000});
  const title = await page.textContent(`${tid('stream-detail')} .detail-title`);
  ok(title.trim() === 'orders', `streams: stream orders selected, its consumer group billing listed`);

  /* the group's figures as the page shows them (by column heading) against trpcctl's */
  const cols = {lag: 'lag', pending: 'pending', 'in flight': 'inflight', delivered: 'delivered', redelivered: 'redelivered', dead: 'dead'};
  let seen = '';
  const same = await until(async () => {
    const cells = await page.evaluate(() => {
      const tr = document.querySelector('[data-testid="group-row"][data-name="billing"]');
      if (!tr) return null;
      const heads = [...tr.closest('table').querySelectorAll('thead th')].map(th => th.textContent.trim());
      return Object.fromEntries([...tr.children].map((td, i) => [heads[i], td.textContent.trim()]));
    });
    const g = (await ctl('group', 'info', 'orders', 'billing')).group;
    seen = Object.entries(cols).map(([c, k]) => `${c} ${cells ? cells[c] : '?'}/${g[k]}`).join(', ');
    return !!cells && Object.entries(cols).every(([c, k]) => shown(cells[c]) === Number(g[k]));
  }, 6000, 300);
  ok(same && /redelivered [1-9]/.test(seen), `streams: group billing's figures on the page are the broker's (page/trpcctl: ${seen})`);
  await shot('streams');
}

async function dlq() {
  const dead = (await ctl('dlq', 'ls', 'orders-dead')).messages;
  const m = dead[0];
  const orders0 = (await ctl('stream', 'info', 'orders')).stream;
  const billing0 = (await ctl('group', 'info', 'orders', 'billing')).group;
  diag(`before: orders-dead holds ${dead.length} dead letters; orders last_seq ${orders0.last_seq}; ` +
    `billing next_seq ${billing0.next_seq}, lag ${billing0.lag}, delivered ${billing0.delivered}`);

  await goPage('dlq');
  await page.selectOption(tid('dlq-stream'), 'orders-dead');
  const row = page.locator(`${tid('dlq-row')}[data-seq="${m.seq}"]`);
  await row.waitFor({timeout: 6000});
  ok((await page.locator(tid('dlq-row')).count()) === dead.length,
    `dlq: stream orders-dead picked, its ${dead.length} dead letters listed`);
  await row.click();
  const payload = page.locator(`${tid('dlq-detail')} ${tid('payload')}`);
  await payload.waitFor({timeout: 6000});
  const detail = await page.textContent(tid('dlq-detail'));
  ok((await payload.textContent()).includes(m.payload) && detail.includes('orders.placed') && detail.includes(m.term_reason),
    `dlq: a row opens the dead letter: payload "${m.payload}", origin topic, reason "${m.term_reason}"`);
  await payload.scrollIntoViewIfNeeded();    /* the panel scrolls by itself: show the payload */
  await shot('dlq');

  const asked = dialogs.length;
  await page.click(`${tid('dlq-detail')} ${tid('redrive')}`);
  const result = page.locator(`${tid('dlq-result')}:not([hidden])`);
  await result.waitFor({timeout: 10000});
  const rtext = await result.textContent();
  ok(dialogs.length === asked + 1 && /Redrive: 1 redriven, 0 failed, 0 skipped/.test(rtext),
    `dlq: Redrive asks first, then says "${rtext}"`);
  await row.waitFor({state: 'detached', timeout: 8000});
  const left = (await ctl('dlq', 'ls', 'orders-dead')).messages;
  ok(!left.some(x => x.seq === m.seq) && left.length === dead.length - 1,
    `dlq: the row goes, and trpcctl dlq ls no longer lists dead letter ${m.seq}`);

  /* stored again in orders, for group billing as a new message */
  const orders1 = (await ctl('stream', 'info', 'orders')).stream;
  const billing1 = (await ctl('group', 'info', 'orders', 'billing')).group;
  const copy = orders1.last_seq;
  const got = copy === orders0.last_seq + 1 ? await ctl('stream', 'get', 'orders', String(copy)) : {};
  ok(got.payload === m.payload && got.topic === 'orders.placed' && billing1.lag === billing0.lag + 1,
    `dlq: the dead letter is stored again in orders as seq ${copy} (payload "${got.payload}"), ` +
    `group billing's lag ${billing0.lag} -> ${billing1.lag}`);

  /* delivered again: durable joins billing once more, is handed the copy first, and (order 5:
   * "no such product") terminates it again, which makes a new dead letter whose origin is the copy. */
  const d = await run(env.TRPC_DURABLE, [env.TRPC_URL, '4'], 20000);
  diag('durable again: ' + d.stdout.trim().replace(/\n/g, '; '));
  const again = await until(async () => (await ctl('dlq', 'ls', 'orders-dead')).messages
    .find(x => String(x.origin_seq) === String(copy)), 5000);
  const billing2 = (await ctl('group', 'info', 'orders', 'billing')).group;
  ok(!!again && again.payload === m.payload && billing2.delivered > billing1.delivered,
    `dlq: group billing delivers the copy to a member again (dead again as seq ${again && again.seq}, ` +
    `delivered ${billing1.delivered} -> ${billing2.delivered})`);
}

/* Purge: one dead letter from its panel, then the rest with Purge all (each asks first). */
async function dlqPurge() {
  const dead = (await ctl('dlq', 'ls', 'orders-dead')).messages;
  if (dead.length < 2) throw new Error(`orders-dead holds ${dead.length} dead letters, not 2 or more`);
  const m = dead[0];
  const row = page.locator(`${tid('dlq-row')}[data-seq="${m.seq}"]`);
  await row.waitFor({timeout: 8000});
  await row.click();
  const asked = dialogs.length;
  await page.click(`${tid('dlq-detail')} ${tid('purge-message')}`);
  await row.waitFor({state: 'detached', timeout: 8000});
  const left = (await ctl('dlq', 'ls', 'orders-dead')).messages;
  ok(dialogs.length === asked + 1 && /Purge dead letter/.test(dialogs[asked]) && !left.some(x => x.seq === m.seq) &&
    left.length === dead.length - 1,
  `dlq: Purge in a dead letter's panel asks first, the row goes, and trpcctl dlq ls no longer lists ${m.seq} (${left.length} left)`);

  /* the banner still says what the single purge did, which may read the same: clear it first */
  await page.evaluate(() => { document.querySelector('[data-testid="dlq-result"]').textContent = ''; });
  await page.click(tid('purge-all'));
  const none = await until(async () => (await ctl('dlq', 'ls', 'orders-dead')).messages.length === 0, 8000, 200);
  await page.locator(tid('dlq-row')).first().waitFor({state: 'detached', timeout: 8000});
  const rtext = await until(async () => (await page.textContent(tid('dlq-result'))).trim(), 8000, 200);
  ok(dialogs.length === asked + 2 && /Purge every dead letter/.test(dialogs[asked + 1]) && none &&
    rtext === `Purge: ${left.length} purged, 0 failed, 0 skipped`,
  `dlq: Purge all asks first, then empties the list ("${rtext}") and trpcctl dlq ls`);
}

async function settings() {
  const keepalive = async () => (await ctl('settings', 'get', 'keepalive')).settings[0].value;
  const was = await keepalive();
  await goPage('settings');
  const input = page.locator(tid('input-keepalive'));
  await input.waitFor({timeout: 6000});
  ok(await page.getAttribute(tid('setting-keepalive'), 'data-live') === 'true' && await input.inputValue() === was,
    `settings: keepalive is live and shows the broker's value (${was})`);

  await input.fill('17s');
  await page.click(tid('save-keepalive'));
  await toastText('ok', 'keepalive = 17s');
  ok(await keepalive() === '17s', 'settings: Save sets keepalive to 17s; trpcctl settings get keepalive says 17s');
  /* Applied, not only stored: the connection trpcctl lists clients over started after the change,
   * and its CONNACK announced 17 s (each trpcctl is gone once it answered: the one listed is it). */
  const ctlClient = async () => {
    /* Exactly one: an earlier trpcctl whose close the broker has not seen yet is waited out. */
    for (let i = 0; ; i++) {
      const mine = (await ctl('clients', 'ls')).clients.filter(c => c.name === 'trpcctl');
      if (mine.length === 1 || i === 10) return mine.length === 1 ? mine[0] : {};
      await sleep(200);
    }
  };
  const applied = await ctlClient();
  ok(applied.keepalive_ms === 17000,
    `settings: a client connecting after Save is told keepalive 17000 ms (trpcctl's connection: ${applied.keepalive_ms})`);

  expected4xx.push('/api/settings.set');
  await input.fill('soon');
  await page.click(tid('save-keepalive'));
  const err = await toastText('error', 'keepalive');
  ok(await keepalive() === '17s', `settings: "soon" gets an error toast ("${err.replace(/×$/, '')}") and changes nothing`);

  await page.click(tid('reset-keepalive'));
  await toastText('ok', 'keepalive reset');
  const now = await keepalive();
  ok(now === was && await input.inputValue() === was, `settings: Reset gives keepalive back ${was} (trpcctl: ${now})`);
  const after = await ctlClient();
  const wasMs = was.endsWith('ms') ? Number(was.slice(0, -2)) : was.endsWith('s') ? Number(was.slice(0, -1)) * 1000 : NaN;
  ok(after.keepalive_ms === wasMs, `settings: a client connecting after Reset is told ${after.keepalive_ms} ms again (${was})`);
  await shot('settings');
}

/* ------------------------------------------------------------------ with authentication */

const BOB_PW = `bob-pw-${process.pid}-Spruce`;

const loginShown = () => page.locator(tid('login-user')).waitFor({state: 'visible', timeout: 8000});

/* Fills the login form and submits it */
async function logIn(user, password) {
  await page.fill(tid('login-user'), user);
  await page.fill(tid('login-password'), password);
  await page.click(tid('login-submit'));
}

/* The login form's error once shown: {text, code} */
async function loginError() {
  const err = page.locator(`${tid('login-error')}:not([hidden])`);
  await err.waitFor({timeout: 8000});
  return {text: (await err.textContent()).trim(), code: await err.getAttribute('data-code')};
}

async function authLoginForm() {
  await page.goto(env.AUTH_DASH_URL);
  await loginShown();
  const pagesHidden = !(await page.isVisible('nav.tabs')) && !(await page.isVisible('#main')) && !(await page.isVisible(tid('logout')));
  ok(pagesHidden && await page.isVisible(tid('login-password')) && await page.isVisible(tid('login-submit')),
    'auth: the login form is shown instead of the pages');
  await shot('login');

  expected4xx.push('/api/login');
  await logIn('alice', 'not-the-password');
  const e = await loginError();
  ok(/bad credentials/.test(e.text) && e.code === 'UNAUTHORIZED' && await page.isVisible(tid('login-user')),
    `auth: a wrong password is refused in the form (${e.code}: "${e.text}")`);
}

async function authLogin() {
  await logIn('alice', env.AUTH_ADMIN_PW);
  await page.waitForSelector(`${tid('health')}[data-state="ok"]`, {timeout: 10000});
  const filled = await until(async () => {
    const conns = await page.textContent(tid('tile-connections'));
    const version = await page.textContent('#hdr-version');
    return Number.isFinite(shown(conns)) && /^v\d/.test(version) ? {conns, version} : null;
  });
  const user = (await page.textContent(tid('hdr-user'))).trim();
  ok(user === 'alice' && !!filled && await page.isVisible(tid('logout')) && !(await page.isVisible(tid('login-user'))),
    `auth: alice logs in: the overview loads over the event stream, "${user}" and Log out in the header`);

  /* a CONNECT with a wrong password: a failed login the tile counts */
  const bad = await run(env.TRPC_CTL, ['--url', env.AUTH_TRPC_URL, '--user', 'alice', 'server', 'info'], 15000,
    {TRPC_PASSWORD: 'wrong-password'});
  const tile = page.locator(tid('tile-auth-failures'));
  const sub = page.locator(`.tile:has(${tid('tile-auth-failures')}) .tile-sub`);
  const counted = await tile.isVisible() && await until(async () => /^\+[1-9]/.test(await sub.textContent()), 6000, 300);
  ok(counted, `overview: the failed logins tile (authentication on) counts trpcctl's refused login ` +
    `(exit ${bad.code}; tile ${await tile.textContent()}/s, "${await sub.textContent()}")`);
  if (!counted) {
    /* where the live points should carry it: the snapshot (at its top or among its rates) */
    diag('the last snapshot: ' + await page.evaluate(() => {
      const s = Live.snap;
      if (!s) return 'none';
      return `keys ${Object.keys(s).join(' ')}; auth_failures ${s.auth_failures}; rates.auth_failures ${(s.rates || {}).auth_failures}`;
    }));
  }
}

async function authUsers() {
  await goPage('users');
  const alice = page.locator(`${tid('user-row')}[data-name="alice"]`);
  await alice.waitFor({timeout: 6000});
  const aliceText = await alice.textContent();
  ok(/admin/.test(aliceText) && /enabled/.test(aliceText), `users: the Users page lists alice, admin and enabled`);

  await page.click(tid('user-add'));
  const dlg = page.locator(tid('user-add-dialog'));
  await dlg.waitFor();
  await page.fill(tid('add-user-name'), 'bob');
  await page.fill(tid('add-user-password'), BOB_PW);
  await page.fill(tid('add-user-password2'), BOB_PW);
  const adminBox = await page.isChecked(tid('add-user-admin'));
  await page.fill(tid('add-user-subscribe'), 'orders.*');
  await dlg.locator(tid('dialog-submit')).click();
  await dlg.waitFor({state: 'detached', timeout: 8000});
  const bob = page.locator(`${tid('user-row')}[data-name="bob"]`);
  await bob.waitFor({timeout: 6000});
  const u = (await ctlAuth('user', 'show', 'bob')).user;
  ok(!adminBox && !u.roles.includes('admin') && u.enabled === true && u.password === true &&
    u.subscribe.allow.includes('orders.*'),
  `users: bob, added through the dialog, is listed; trpcctl user show bob: roles [${u.roles}], enabled ${u.enabled}, ` +
    `password ${u.password}, subscribe ${u.subscribe.allow}`);
  const summary = await bob.locator('td.perm-summary').textContent();
  diag(`bob's row: ${(await bob.textContent()).replace(/\s+/g, ' ')}`);

  const asked = dialogs.length;
  await bob.locator(tid('user-toggle')).click();
  await bob.locator(`${tid('user-enabled')}[data-enabled="false"]`).waitFor({timeout: 8000});
  const off = (await ctlAuth('user', 'show', 'bob')).user.enabled;
  ok(dialogs.length === asked + 1 && /Disable user bob/.test(dialogs[asked]) && off === false,
    `users: Disable asks first, then bob shows disabled; trpcctl: enabled ${off}`);
  await bob.locator(tid('user-toggle')).click();
  await bob.locator(`${tid('user-enabled')}[data-enabled="true"]`).waitFor({timeout: 8000});
  const on = (await ctlAuth('user', 'show', 'bob')).user.enabled;
  ok(dialogs.length === asked + 1 && on === true, `users: Enable (no question) makes bob enabled again; trpcctl: enabled ${on}`);

  await bob.locator('td').first().click();
  const detail = page.locator(`${tid('user-detail')}:not([hidden])`);
  await detail.locator(tid('token-add')).click();
  const tdlg = page.locator(tid('token-add-dialog'));
  await page.fill(tid('token-name'), 'ci');
  await page.fill(tid('token-ttl'), '30d');
  await tdlg.locator(tid('dialog-submit')).click();
  const secret = page.locator(tid('token-secret'));
  await secret.waitFor({timeout: 8000});
  const token = await secret.inputValue();
  const m = /^trpc_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/.exec(token);
  ok(!!m, `users: New token shows the token once, to copy (trpc_<id>_<secret>: ${m ? 'trpc_' + m[1] + '_…' : 'not one'})`);
  await page.click(tid('token-done'));
  await page.locator(tid('token-dialog')).waitFor({state: 'detached'});
  const id = m ? m[1] : 'none';
  const row = detail.locator(`${tid('token-row')}[data-id="${id}"]`);
  await row.waitFor({timeout: 8000});
  const tokens = (await ctlAuth('token', 'list', 'bob')).tokens;
  const t = tokens.find(x => x.id === id);
  ok(!!t && t.name === 'ci' && !!t.expires && (await row.textContent()).includes('ci'),
    `users: the token is listed in bob's panel; trpcctl token list bob: ${tokens.map(x => `${x.id} ${x.name} expires ${x.expires}`).join(', ')}`);
  ok(!(await page.content()).includes(token), 'users: the token is nowhere in the page once its dialog is closed');
  diag(`bob's permissions in the table: ${summary}`);
  await shot('users');
}

async function authSessionEnded() {
  /* the session ends elsewhere (here: its logout by hand, with the page's cookie): the next call
   * or the event stream gets 401, the login form comes back; the login returns to the page */
  const hash = await page.evaluate(() => location.hash);
  expected4xx.push({re: /\/api\/(events|[a-z]+\.[a-z]+)$/, status: 401});
  const r = await page.evaluate(async () => {
    const s = await (await fetch('/api/session', {cache: 'no-store'})).json();
    const l = await fetch('/api/logout', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf}, body: '{}'});
    return {user: s.user, status: l.status};
  });
  await loginShown();
  const note = await page.textContent(tid('login-note'));
  ok(r.status === 200, `auth: the session ended elsewhere (POST /api/logout for ${r.user}: HTTP ${r.status}) brings back ` +
    `the login form ("${note.trim()}")`);
  await logIn('alice', env.AUTH_ADMIN_PW);
  await page.waitForSelector(`#page-users:not([hidden]) ${tid('user-row')}[data-name="bob"]`, {timeout: 8000});
  const back = await page.evaluate(() => location.hash);
  ok(back === hash && await page.isVisible(`${tid('user-detail')}`) && !(await page.isVisible(tid('login-user'))),
    `auth: logging in again returns to the page the user was on (${back})`);
}

async function authLogout() {
  await page.click(tid('logout'));
  await loginShown();
  const s = await page.evaluate(async () => ({
    session: await (await fetch('/api/session', {cache: 'no-store'})).json(),
    stream: typeof eventSource === 'undefined' ? 'undefined' : eventSource === null ? 'closed' : 'open',
  }));
  ok(s.session.user === null && s.session.auth === true && s.stream === 'closed' && !(await page.isVisible('nav.tabs')),
    `auth: Log out brings back the login form; /api/session: user ${s.session.user}; the event stream ${s.stream}`);
}

async function authNoAdmin() {
  await logIn('bob', BOB_PW);
  const e = await loginError();
  ok(e.code === 'FORBIDDEN' && await page.isVisible(tid('login-user')) && !(await page.isVisible('nav.tabs')),
    `auth: bob (no admin) is refused in the form (${e.code}: "${e.text}")`);
}

/* Cut short (the deadline, or browser.sh's timeout or trap): the programs, then the browser. */
async function abort(why) {
  ok(false, why);
  for (const c of children) c.kill('SIGKILL');
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}

async function main() {
  const timer = setTimeout(() => abort(`the run took more than ${DEADLINE_MS / 1000} s`), DEADLINE_MS);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => abort(`stopped by ${sig}`));
  browser = await chromium.launch({
    executablePath: env.TRPC_CHROMIUM,
    headless: true,
    handleSIGTERM: false, handleSIGINT: false, handleSIGHUP: false,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({viewport: {width: 1280, height: 800}});
  watch(page);

  await step('overview', overview);
  await step('rate chart', rateChart);
  await step('topics', topics);
  await step('clients', clients);
  await step('streams', streams);
  await step('dlq', dlq);
  await step('dlq purge', dlqPurge);
  await step('settings', settings);

  /* the broker with authentication, in a context of its own (its own cookies) */
  if (env.AUTH_DASH_URL) {
    const ctx = await browser.newContext({viewport: {width: 1280, height: 800}});
    page = await ctx.newPage();
    watch(page);
    await step('login form', authLoginForm);
    await step('login', authLogin);
    await step('users', authUsers);
    await step('session ended', authSessionEnded);
    await step('logout', authLogout);
    await step('no admin', authNoAdmin);
  } else {
    ok(true, 'authentication # SKIP no AUTH_DASH_URL');
  }

  ok(problems.length === 0, `no page error and no console error over the whole run (${problems.length})`);
  for (const p of problems) diag(p);
  await browser.close();
  clearTimeout(timer);
  process.exitCode = failed ? 1 : 0;
}

main().catch(async e => {
  ok(false, `the browser run: ${e.message.split('\n')[0]}`);
  diag(e.stack || e);
  if (browser) await browser.close().catch(() => {});
  process.exitCode = 1;
});
