'use strict';
/* Overview: number tiles, live rate charts (from the SSE `history`, then each `snapshot`), the
 * cores, the problem counters and the broker/store facts. No polling: it lives on /api/events.
 * With authentication on, one more tile: failed logins per second, with a sparkline of the last
 * five minutes (each one-second point's auth_failures). */

(() => {
  const MAX_POINTS = 300;
  const RATE_SERIES = [
    {key: 'msgs_in', label: 'msgs in/s', color: '#2563eb'},
    {key: 'msgs_out', label: 'msgs out/s', color: '#16a34a', dash: [6, 4]},
    {key: 'requests', label: 'requests/s', color: '#9333ea'},
  ];
  const BYTE_SERIES = [
    {key: 'bytes_in', label: 'bytes in/s', color: '#0e7490'},
    {key: 'bytes_out', label: 'bytes out/s', color: '#ea580c'},
  ];
  const points = {auth_failures: []};
  for (const s of RATE_SERIES.concat(BYTE_SERIES)) points[s.key] = [];

  /* failed logins in the last ms of the points (each point: per second over one second) */
  function failuresIn(ms) {
    const arr = points.auth_failures;
    if (!arr.length) return 0;
    const from = arr[arr.length - 1].x - ms;
    let n = 0;
    for (let i = arr.length - 1; i >= 0 && arr[i].x > from; i--) n += arr[i].y;
    return Math.round(n);
  }

  /* a snapshot's one-second point: its rates, and auth_failures (at the top, or among the rates) */
  function snapPoint(s) {
    const r = s.rates || {};
    return {...r, auth_failures: isNum(s.auth_failures) ? s.auth_failures : r.auth_failures};
  }

  const TILES = [
    {id: 'msgs-in', label: 'msgs in/s', value: s => fmtNum(s.rates.msgs_in),
      sub: s => `${fmtByteRate(s.rates.bytes_in)} · ${fmtInt(s.totals.msgs_in)} total`},
    {id: 'msgs-out', label: 'msgs out/s', value: s => fmtNum(s.rates.msgs_out),
      sub: s => `${fmtByteRate(s.rates.bytes_out)} · ${fmtInt(s.totals.msgs_out)} total`},
    {id: 'requests', label: 'requests/s', value: s => fmtNum(s.rates.requests),
      sub: s => `${fmtInt(s.totals.requests)} total · ${fmtInt(s.totals.request_timeouts)} timed out`},
    {id: 'connections', label: 'connections', value: s => fmtInt(s.totals.connections),
      sub: s => `${fmtRate(s.rates.accepted)} accepted · ${fmtInt(s.totals.accepted)} total`},
    {id: 'subscriptions', label: 'subscriptions', value: s => fmtInt(s.totals.subscriptions),
      sub: s => `on ${fmtInt((s.cores || []).length)} cores`},
    {id: 'drops', label: 'drops', value: s => fmtInt(s.totals.drops),
      sub: s => `${fmtRate(s.rates.drops)} · +${fmtInt(Live.lastMinute('drops'))} last minute`,
      warn: s => Live.lastMinute('drops') > 0 || Number(s.rates.drops) > 0},
    {id: 'auth-failures', label: 'failed logins/s', authOnly: true, spark: 'auth_failures',
      value: s => fmtNum(snapPoint(s).auth_failures),
      sub: () => `+${fmtInt(failuresIn(60000))} last minute`,
      title: () => `${fmtInt(failuresIn(300000))} failed logins (clients' and this dashboard's) in the last 5 minutes`,
      warn: () => failuresIn(60000) > 0},
  ];

  let visible = false, dirty = false;
  const charts = [];
  const tileEls = {};
  let coreTable, problemTable, brokerBox, coreNote, acceptedEl, tilesEl;

  /* A sparkline of points[key] on a small canvas (no Chart.js needed): the last five minutes */
  function drawSpark(canvas, key) {
    const ctx = canvas.getContext && canvas.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, ht = canvas.clientHeight;
    if (!w || !ht) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(ht * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(ht * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, ht);
    const arr = points[key];
    if (arr.length < 2) return;
    const x1 = arr[arr.length - 1].x, x0 = Math.max(arr[0].x, x1 - 300000);
    const max = Math.max(1, ...arr.map(p => p.y));
    const px = x => ((Math.max(x, x0) - x0) / (x1 - x0)) * (w - 2) + 1;
    const py = y => ht - 1 - (y / max) * (ht - 3);
    ctx.beginPath();
    arr.forEach((p, i) => (i ? ctx.lineTo(px(p.x), py(p.y)) : ctx.moveTo(px(p.x), py(p.y))));
    ctx.strokeStyle = getComputedStyle(canvas).color;
    ctx.lineWidth = 1.4;
    ctx.stroke();
  }

  /* The tiles for authentication shown only when the broker runs with it */
  function showAuthTiles() {
    const on = Session.auth === true;
    for (const t of TILES) if (t.authOnly) tileEls[t.id].tile.hidden = !on;
    tilesEl.classList.toggle('tiles-auth', on);
  }

  function pushPoint(t, src) {
    if (!isNum(t)) return;
    t = Number(t);
    for (const key of Object.keys(points)) {
      const arr = points[key];
      const y = isNum(src[key]) ? Number(src[key]) : 0;
      if (arr.length && arr[arr.length - 1].x >= t) {
        if (arr[arr.length - 1].x === t) arr[arr.length - 1].y = y;
        continue;
      }
      arr.push({x: t, y});
      if (arr.length > MAX_POINTS) arr.splice(0, arr.length - MAX_POINTS);
    }
  }

  /* the x axis' tick step for the time span shown */
  function stepOf(chart) {
    const d = chart ? chart.data.datasets[0].data : [];
    const range = d.length > 1 ? d[d.length - 1].x - d[0].x : 0;
    return range > 240000 ? 60000 : range > 120000 ? 30000 : range > 40000 ? 10000 : 5000;
  }

  function makeChart(canvas, series, fmtY) {
    if (!canvas) return null;
    let chart = null;
    chart = new Chart(canvas, {
      type: 'line',
      data: {
        datasets: series.map(s => ({
          label: s.label, data: points[s.key], borderColor: s.color, backgroundColor: s.color + '14',
          borderWidth: 1.6, pointRadius: 0, pointHoverRadius: 3, tension: 0, fill: false,
          /* a dashed line is drawn over the others (Chart.js draws the lowest order last): msgs out
           * equal to msgs in shows as both, not as msgs in alone */
          borderDash: s.dash || [], order: s.dash ? -1 : 0,
        })),
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
        interaction: {mode: 'index', intersect: false},
        scales: {
          x: {type: 'linear', grid: {display: false},
            ticks: {maxRotation: 0, callback: v => fmtClock(v, stepOf(chart) < 60000)},
            /* ticks on whole minutes (or 30, 10, 5 s), not at the history's first point */
            afterBuildTicks: axis => {
              const step = stepOf(chart), out = [];
              if (!isFinite(axis.min) || !isFinite(axis.max)) return;
              for (let v = Math.ceil(axis.min / step) * step; v <= axis.max; v += step) out.push({value: v});
              axis.ticks = out;
            }},
          y: {beginAtZero: true, grid: {color: '#eef1f5'}, ticks: {maxTicksLimit: 6, callback: v => fmtY(v)}},
        },
        plugins: {
          /* in the series' order, whatever order they are drawn in */
          legend: {position: 'top', align: 'end', labels: {boxWidth: 10, boxHeight: 10, sort: (a, b) => a.datasetIndex - b.datasetIndex}},
          tooltip: {itemSort: (a, b) => a.datasetIndex - b.datasetIndex, callbacks: {
            title: items => (items.length ? new Date(items[0].parsed.x).toLocaleTimeString() : ''),
            label: item => `${item.dataset.label}: ${fmtY(item.parsed.y)}`,
          }},
        },
      },
    });
    charts.push(chart);
    return chart;
  }

  function redrawCharts() {
    dirty = false;
    for (const c of charts) {
      const d = c.data.datasets[0].data;
      const x = c.options.scales.x;
      if (d.length > 1) {
        x.min = d[0].x;
        x.max = d[d.length - 1].x;
      } else {
        delete x.min;
        delete x.max;
      }
      c.update('none');
    }
  }

  function meter(td, frac, text, warnAt) {
    if (!td.firstChild) {
      td.append(h('div', {class: 'meter-cell'},
        h('div', {class: 'meter', 'aria-hidden': 'true'}, h('div', {class: 'meter-fill'})),
        h('span', {class: 'meter-val'})));
    }
    const f = Math.max(0, Math.min(1, Number(frac) || 0));
    const fill = td.querySelector('.meter-fill');
    fill.style.width = (f * 100).toFixed(1) + '%';
    fill.classList.toggle('hot', warnAt != null && f >= warnAt);
    setText(td.querySelector('.meter-val'), text);
  }

  function renderSnapshot(s) {
    s = {...s, rates: s.rates || {}, totals: s.totals || {}};
    for (const t of TILES) {
      const e = tileEls[t.id];
      if (e.tile.hidden) continue;
      setText(e.value, t.value(s));
      setText(e.sub, t.sub(s));
      e.tile.classList.toggle('tile-warn', !!(t.warn && t.warn(s)));
      if (t.title) setTitle(e.tile, t.title(s));
      if (e.spark) drawSpark(e.spark, t.spark);
    }
    const cores = Array.isArray(s.cores) ? s.cores : [];
    const maxConn = Math.max(1, ...cores.map(c => Number(c.connections) || 0));
    coreTable.o.maxConn = maxConn;
    coreTable.setRows(cores);
    const avg = cores.length ? cores.reduce((a, c) => a + (Number(c.cpu) || 0), 0) / cores.length : 0;
    setText(coreNote, cores.length ? `${cores.length} cores · average CPU ${(avg * 100).toFixed(0)} %` : '');
    problemTable.setRows(PROBLEM_COUNTERS.map(name => ({
      name, total: s.totals[name], rate: s.rates[name], minute: Live.lastMinute(name),
    })));
    setText(acceptedEl, fmtInt(s.totals.accepted));
  }

  function renderInfo(i) {
    if (!i) return;
    const st = i.store || {};
    const storeUp = Live.snap && typeof Live.snap.store_up === 'boolean' ? Live.snap.store_up : st.up;
    setKids(brokerBox, kvList([
      ['name', i.name],
      ['version', i.version],
      ['started', i.started ? timeEl(i.started) : DASH],
      ['listen', i.listen],
      ['cores', `${fmtInt(i.cores)}${i.io_uring_tier ? ` (io_uring tier ${i.io_uring_tier})` : ''}`],
      ['accepted connections', acceptedEl],     /* live: renderSnapshot() */
      ['store', h('span', null, badge(storeUp === false ? 'down' : 'up', storeUp === false ? 'bad' : 'ok'), ' ', String(st.backend || DASH))],
      ['store location', st.url],
      ['store outages', fmtInt(st.outages)],
      ['store last error', st.last_error ? st.last_error : 'none'],
    ]));
  }

  registerPage('overview', {
    title: 'Overview',
    init(section) {
      const tiles = h('div', {class: 'tiles'});
      tilesEl = tiles;
      for (const t of TILES) {
        const value = h('div', {class: 'tile-value', testid: 'tile-' + t.id, text: DASH});
        const sub = h('div', {class: 'tile-sub', text: ' '});
        const spark = t.spark ? h('canvas', {class: 'tile-spark', 'aria-hidden': 'true'}) : null;
        const tile = h('div', {class: 'tile' + (spark ? ' tile-has-spark' : ''), role: 'group', 'aria-label': t.label, hidden: t.authOnly || null},
          h('div', {class: 'tile-label', text: t.label}), h('div', {class: 'tile-main'}, value, spark), sub);
        tileEls[t.id] = {tile, value, sub, spark};
        tiles.append(tile);
      }
      const rate = chartBox('rate-chart', 'Message and request rates per second, last 5 minutes', 'chart-lg');
      const bytes = chartBox('bytes-chart', 'Bytes in and out per second, last 5 minutes', 'chart-lg');
      coreTable = new DataTable({
        label: 'Cores', key: c => c.core, empty: 'Waiting for the first snapshot…', class: 'compact',
        columns: [
          {label: 'core', key: 'core', num: true},
          {label: 'CPU', num: false, value: c => c.cpu, cell: (td, c) => meter(td, c.cpu, `${((Number(c.cpu) || 0) * 100).toFixed(0)} %`, 0.85),
            help: 'fraction of one CPU over the last second'},
          {label: 'connections', value: c => c.connections, cell: (td, c) => meter(td, (Number(c.connections) || 0) / coreTable.o.maxConn, fmtInt(c.connections))},
          {label: 'subs', key: 'subscriptions', num: true, text: c => fmtInt(c.subscriptions)},
          {label: 'in/s', key: 'msgs_in', num: true, text: c => fmtNum(c.msgs_in)},
          {label: 'out/s', key: 'msgs_out', num: true, text: c => fmtNum(c.msgs_out)},
        ],
      });
      coreTable.o.maxConn = 1;
      problemTable = new DataTable({
        label: 'Problem counters', key: p => p.name, class: 'compact',
        rowClass: p => (p.minute > 0 || Number(p.rate) > 0 ? 'row-warn' : ''),
        columns: [
          {label: 'counter', key: 'name', text: p => COUNTER_LABEL[p.name], cell: (td, p) => {
            setText(td, COUNTER_LABEL[p.name]);
            td.dataset.testid = 'problem-' + p.name;
          }},
          {label: 'total', key: 'total', num: true, text: p => fmtInt(p.total)},
          {label: 'rate', key: 'rate', num: true, text: p => fmtRate(p.rate)},
          {label: 'last minute', key: 'minute', num: true, text: p => (p.minute ? '+' + fmtInt(p.minute) : '0')},
        ],
      });
      problemTable.setRows(PROBLEM_COUNTERS.map(name => ({name, total: null, rate: null, minute: 0})));
      brokerBox = h('div', {class: 'muted', text: 'Loading server.info…'});
      acceptedEl = h('span', {title: 'since the broker started (from the event stream)',
        text: Live.snap ? fmtInt((Live.snap.totals || {}).accepted) : DASH});
      coreNote = h('span', {class: 'muted small'});
      section.append(
        pageHead('Overview', 'Live from /api/events: one snapshot a second'),
        tiles,
        h('div', {class: 'grid grid-3'},
          h('section', {class: 'card span-2'}, h('h2', {class: 'card-title', text: 'Message rates'}), rate.el),
          h('section', {class: 'card'}, h('h2', {class: 'card-title', text: 'Throughput'}), bytes.el),
          h('section', {class: 'card'}, h('div', {class: 'card-title-row'}, h('h2', {class: 'card-title', text: 'Cores'}), coreNote), coreTable.el),
          card('Problem counters', problemTable.el),
          card('Broker', brokerBox)));
      makeChart(rate.canvas, RATE_SERIES, fmtNum);
      makeChart(bytes.canvas, BYTE_SERIES, v => fmtBytes(v) + '/s');

      Live.on('history', pts => {
        for (const k of Object.keys(points)) points[k].length = 0;
        for (const p of pts.slice(-MAX_POINTS)) pushPoint(p.t, p);
        if (visible) redrawCharts(); else dirty = true;
      });
      Live.on('snapshot', s => {
        pushPoint(s.t, snapPoint(s));
        if (visible) {
          redrawCharts();
          renderSnapshot(s);
        } else {
          dirty = true;
        }
      });
      Live.on('info', renderInfo);
      Live.on('session', () => {
        showAuthTiles();
        if (visible && Live.snap) renderSnapshot(Live.snap);
      });
      Live.on('history', () => { if (visible && Live.snap) renderSnapshot(Live.snap); });
    },
    show() {
      visible = true;
      showAuthTiles();
      if (Live.snap) renderSnapshot(Live.snap);
      renderInfo(Live.info);
      if (dirty) redrawCharts();
    },
    hide() { visible = false; },
  });
})();
