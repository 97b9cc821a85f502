'use strict';
/* The dashboard in a real browser (run by tests/dashboard/browser.sh, which starts the broker, makes
 * two dead letters with examples/durable and holds one idle client open): headless chromium driven
 * by playwright-core clicks through the pages as a person would, and trpcctl says whether the
 * broker did what the page claims. Prints one "ok - ..." or "not ok - ..." line per check and
 * "# ..." comments; browser.sh numbers them. A failed step is reported and the next one runs.
 *
 * Environment: DASH_URL (http://127.0.0.1:PORT/), TRPC_URL, TRPC_CTL, TRPC_BENCH, TRPC_DURABLE,
 * SHOTS (the screenshot directory), TRPC_NODE_MODULES (where playwright-core is), TRPC_CHROMIUM. */

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

/* Runs a program; resolves to {code, stdout, stderr} whatever its exit status. */
function run(file, args, timeoutMs = 15000) {
  return new Promise(resolve => {
    const child = execFile(file, args, {timeout: timeoutMs, killSignal: 'SIGKILL'}, (err, stdout, stderr) => {
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
const expected4xx = [];       /* URL endings of API calls the test makes fail on purpose */
const dialogs = [];           /* the confirm() questions, accepted */

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
  let tileMax = 0, chartMax = 0, redrawn = false;
  while (!benchDone) {
    await sleep(300);
    tileMax = Math.max(tileMax, (await tile()) || 0);
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

  expected4xx.push('/api/settings.set');
  await input.fill('soon');
  await page.click(tid('save-keepalive'));
  const err = await toastText('error', 'keepalive');
  ok(await keepalive() === '17s', `settings: "soon" gets an error toast ("${err.replace(/×$/, '')}") and changes nothing`);

  await page.click(tid('reset-keepalive'));
  await toastText('ok', 'keepalive reset');
  const now = await keepalive();
  ok(now === was && await input.inputValue() === was, `settings: Reset gives keepalive back ${was} (trpcctl: ${now})`);
  await shot('settings');
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
  page.setDefaultTimeout(8000);
  page.on('pageerror', e => problems.push(`page error: ${e.message}`));
  page.on('console', msg => {
    if (msg.type() !== 'error') return;
    const url = msg.location().url || '';
    if (/status of 4\d\d/.test(msg.text()) && expected4xx.some(e => url.endsWith(e))) return;
    problems.push(`console error: ${msg.text()} (${url})`);
  });
  page.on('dialog', d => {
    dialogs.push(d.message());
    d.accept();
  });

  await step('overview', overview);
  await step('rate chart', rateChart);
  await step('topics', topics);
  await step('clients', clients);
  await step('streams', streams);
  await step('dlq', dlq);
  await step('settings', settings);

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
