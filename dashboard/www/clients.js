'use strict';
/* Clients: clients.list paged and filtered, a detail panel (every field, the client's
 * subscriptions from subs.list), and Kick (clients.kick). #/clients/<id> selects one. */

(() => {
  let clients = [];
  let everyClient = null;    /* with a filter and more than one page: every client (up to 10,000) */
  let everyTotal = 0;
  const listed = () => everyClient || clients;
  let selectedId = null;     /* string */
  let selected = null;       /* the client object, from this page or found by scanning */
  let selectedSubs = null;
  let gone = false;
  const prev = new Map();    /* id -> {msgs_in, msgs_out, bytes_in, bytes_out, t} for rates */
  let rates = {};
  let pager, filter, table, panel, note;

  const FIELD_LABEL = {
    id: 'id', name: 'name', peer: 'peer', core: 'core', tls: 'TLS', subscriptions: 'subscriptions',
    msgs_in: 'msgs in', msgs_out: 'msgs out', bytes_in: 'bytes in', bytes_out: 'bytes out',
    pending_output: 'pending output', keepalive_ms: 'keepalive', connected_since: 'connected since',
  };

  function fmtField(k, v) {
    if (v == null) return k === 'tls' ? 'plaintext' : DASH;
    if (k === 'connected_since') return h('span', null, timeEl(v), ` · ${v}`);
    if (k.startsWith('bytes_') || k === 'pending_output') return [fmtBytes(v), `${fmtInt(v)} bytes`];
    if (k === 'keepalive_ms') return v === 0 ? 'none' : `${fmtInt(v)} ms`;
    if (k === 'name' && v === '') return '(none)';
    if (typeof v === 'number') return k === 'id' ? String(v) : fmtInt(v);
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  const tlsText = c => (c.tls == null ? 'no' : String(c.tls));

  function matches(c, f) {
    if (!f) return true;
    return String(c.id).includes(f) || String(c.name || '').toLowerCase().includes(f) ||
      String(c.peer || '').toLowerCase().includes(f) || tlsText(c).toLowerCase().includes(f);
  }

  const MAX_SHOWN = 1000;

  function render() {
    const f = filter.value.trim().toLowerCase();
    const all = f && everyClient ? everyClient : clients;
    const match = all.filter(c => matches(c, f));
    table.setRows(match.length > MAX_SHOWN ? match.slice(0, MAX_SHOWN) : match);
    table.setEmpty(f ? 'No client matches the filter.' : 'No clients connected.');
    pager.el.hidden = !!(f && everyClient);
    let t = '';
    if (f && everyClient) {
      t = `${fmtInt(match.length)} of ${fmtInt(everyTotal)} clients match` +
        (everyTotal > everyClient.length ? ` (the first ${fmtInt(everyClient.length)} searched)` : '') +
        (match.length > MAX_SHOWN ? `; the first ${fmtInt(MAX_SHOWN)} shown` : '');
    } else if (f) {
      t = `${fmtInt(match.length)} of ${fmtInt(clients.length)} match` + (pager.total > clients.length ? ' on this page; searching all…' : '');
    }
    setText(note, t);
  }

  async function kick(c, button) {
    const who = `client ${c.id}${c.name ? ` (${c.name})` : ''}${c.peer ? ` at ${c.peer}` : ''}`;
    if (!confirm(`Kick ${who}?\n\nIt gets the fatal error KICKED and its connection closes. ` +
      'libtrpc clients reconnect unless told not to.')) return;
    const r = await act(button, () => api('clients.kick', {id: c.id}), `Kicked client ${c.id}`);
    if (r && String(c.id) === selectedId) closeDetail();
  }

  function closeDetail() {
    if (parseHash().name === 'clients' && parseHash().arg != null) location.hash = '#/clients';
    else select(null);
  }

  function select(id) {
    selectedId = id == null ? null : String(id);
    selectedSubs = null;
    gone = false;
    selected = selectedId == null ? null : listed().find(c => String(c.id) === selectedId) || null;
    table.select(selectedId);
    panel.el.hidden = selectedId == null;
    panel.el.parentNode.classList.toggle('has-panel', selectedId != null);
    renderDetail();
    if (selectedId != null) {
      loadDetailExtras();
      panel.el.focus({preventScroll: true});
    }
  }

  /* subs.list is ordered by client then sid: read pages until past the client */
  async function subsOf(id) {
    const want = Number(id);
    const out = [];
    let offset = 0;
    for (let pages = 0; pages < 50; pages++) {
      const d = await api('subs.list', {offset, limit: 10000});
      const list = Array.isArray(d.subscriptions) ? d.subscriptions : [];
      for (const s of list) if (String(s.client) === String(id)) out.push(s);
      offset = (d.offset || offset) + list.length;
      if (!list.length || offset >= d.total || Number(list[list.length - 1].client) > want) break;
    }
    return out;
  }

  /* A client not on this page: clients.list is ordered by id, read pages until found */
  async function findClient(id) {
    const want = Number(id);
    let offset = 0;
    for (let pages = 0; pages < 50; pages++) {
      const d = await api('clients.list', {offset, limit: 10000});
      const list = Array.isArray(d.clients) ? d.clients : [];
      const c = list.find(x => String(x.id) === String(id));
      if (c) return c;
      offset = (d.offset || offset) + list.length;
      if (!list.length || offset >= d.total || Number(list[list.length - 1].id) > want) return null;
    }
    return null;
  }

  let extrasFor = null;       /* the id whose extras are being loaded */

  async function loadDetailExtras() {
    const id = selectedId;
    if (id == null || extrasFor === id) return;
    extrasFor = id;
    try {
      if (!selected || !listed().includes(selected)) {
        const c = await findClient(id);
        if (id !== selectedId) return;
        gone = !c;
        if (c) selected = c;
      }
      const s = await subsOf(id);
      if (id !== selectedId) return;
      selectedSubs = s;
    } catch (e) {
      if (id === selectedId) selectedSubs = e;
    } finally {
      if (extrasFor === id) extrasFor = null;
    }
    if (id === selectedId) renderDetail();
  }

  function renderDetail() {
    const body = panel.body;
    if (selectedId == null) { setKids(body); return; }
    const c = selected;
    setText(panel.title, c && c.name ? `Client ${c.name}` : `Client ${selectedId}`);
    const kids = [];
    if (gone || !c) {
      kids.push(h('div', {class: 'banner banner-warn', text: gone ? `Client ${selectedId} is not connected (any more).` : 'Loading…'}));
    }
    if (c) {
      const kickBtn = btn('Kick', ev => kick(c, ev.currentTarget), {cls: 'btn-danger', testid: 'detail-kick', title: 'Close this client\'s connection (clients.kick)'});
      kickBtn.disabled = gone;
      kids.push(h('div', {class: 'panel-actions'}, kickBtn));
      const keys = Object.keys(FIELD_LABEL).concat(Object.keys(c).filter(k => !(k in FIELD_LABEL)));
      const pairs = keys.filter(k => k in c).map(k => [FIELD_LABEL[k] || k, fmtField(k, c[k])]);
      const r = rates[String(c.id)];
      if (r) {
        pairs.push(['msgs in/s', fmtNum(r.msgs_in)], ['msgs out/s', fmtNum(r.msgs_out)],
          ['bytes in/s', fmtByteRate(r.bytes_in)], ['bytes out/s', fmtByteRate(r.bytes_out)]);
      }
      kids.push(kvList(pairs, 'kv-wide'));
    }
    kids.push(h('h3', {class: 'panel-sub', text: 'Subscriptions'}));
    if (selectedSubs == null) {
      kids.push(h('p', {class: 'muted small', text: 'Loading subs.list…'}));
    } else if (selectedSubs instanceof Error) {
      kids.push(h('div', {class: 'banner banner-error', text: errText(selectedSubs)}));
    } else if (!selectedSubs.length) {
      kids.push(h('p', {class: 'muted small', text: 'No subscriptions.'}));
    } else {
      kids.push(h('table', {class: 'data compact', 'aria-label': 'Subscriptions of this client'},
        h('thead', null, h('tr', null, ['sid', 'pattern', 'group', 'delivered'].map(t =>
          h('th', {scope: 'col', class: t === 'sid' || t === 'delivered' ? 'num' : null, text: t})))),
        h('tbody', null, selectedSubs.map(s => h('tr', {testid: 'client-sub-row'},
          h('td', {class: 'num', text: String(s.sid)}),
          h('td', {class: 'mono wrap', text: String(s.pattern)}),
          h('td', {class: s.group == null ? 'muted' : null, text: s.group == null ? DASH : String(s.group)}),
          h('td', {class: 'num', text: fmtInt(s.delivered)}))))));
    }
    setKids(body, ...kids);
  }

  function computeRates() {
    const now = Date.now();
    const next = {};
    for (const c of listed()) {
      const k = String(c.id);
      const p = prev.get(k);
      if (p && now > p.t) {
        const dt = (now - p.t) / 1000;
        next[k] = {};
        for (const f of ['msgs_in', 'msgs_out', 'bytes_in', 'bytes_out']) next[k][f] = Math.max(0, (c[f] - p[f]) / dt);
      }
      prev.set(k, {msgs_in: c.msgs_in, msgs_out: c.msgs_out, bytes_in: c.bytes_in, bytes_out: c.bytes_out, t: now});
    }
    if (prev.size > 20000) prev.clear();
    rates = next;
  }

  registerPage('clients', {
    title: 'Clients',
    init(section) {
      pager = new Pager(() => refreshNow(), {sizes: [100, 250, 1000], size: 250, label: 'clients'});
      const search = debounce(() => refreshNow());
      filter = filterInput('Filter by id, name, peer or TLS', () => { render(); search(); }, 'clients-filter');
      note = h('span', {class: 'muted small'});
      table = new DataTable({
        label: 'Clients', key: c => c.id, empty: 'No clients connected.',
        onRowClick: c => { location.hash = pageLink('clients', c.id); },
        rowAttrs: (tr, c) => { tr.dataset.testid = 'client-row'; tr.dataset.id = String(c.id); },
        columns: [
          {label: 'id', key: 'id', value: c => Number(c.id), text: c => String(c.id), cls: () => 'mono'},
          {label: 'name', key: 'name', text: c => (c.name ? String(c.name) : DASH), cls: c => (c.name ? 'ellipsis' : 'muted')},
          {label: 'peer', key: 'peer', cls: () => 'mono'},
          {label: 'core', key: 'core', num: true, opt: true},
          {label: 'TLS', key: 'tls', text: tlsText, cls: c => (c.tls == null ? 'muted' : ''), opt: true},
          {label: 'subs', key: 'subscriptions', num: true, text: c => fmtInt(c.subscriptions)},
          {label: 'msgs in', key: 'msgs_in', num: true, text: c => fmtNum(c.msgs_in), title: c => fmtInt(c.msgs_in)},
          {label: 'msgs out', key: 'msgs_out', num: true, text: c => fmtNum(c.msgs_out), title: c => fmtInt(c.msgs_out)},
          {label: 'bytes in', key: 'bytes_in', num: true, text: c => fmtBytes(c.bytes_in), title: c => fmtInt(c.bytes_in) + ' bytes', opt: true},
          {label: 'bytes out', key: 'bytes_out', num: true, text: c => fmtBytes(c.bytes_out), title: c => fmtInt(c.bytes_out) + ' bytes', opt: true},
          {label: 'pending out', key: 'pending_output', num: true, text: c => fmtBytes(c.pending_output),
            cls: c => (Number(c.pending_output) > 0 ? 'warn-text' : ''), help: 'bytes queued to the client now'},
          {label: 'connected', key: 'connected_since', value: c => c.connected_since, text: c => fmtAgo(c.connected_since), title: c => fmtAbs(c.connected_since)},
          {label: '', nosort: true, actions: true, cell: (td, c) => {
            if (!td.firstChild) {
              td.append(h('button', {type: 'button', class: 'btn btn-sm btn-danger-ghost', text: 'Kick', testid: 'kick',
                onclick: ev => kick(td.parentNode._row, ev.currentTarget)}));
            }
            td.firstChild.setAttribute('aria-label', `Kick client ${c.id}`);
          }},
        ],
      });
      panel = sidePanel('Client', () => closeDetail());
      panel.el.dataset.testid = 'client-detail';
      section.append(
        pageHead('Clients', 'Connections that finished their handshake (clients.list)'),
        h('div', {class: 'toolbar'}, filter, note, h('div', {class: 'spacer'}), pager.el),
        h('div', {class: 'split'}, h('div', {class: 'split-main card card-flush'}, table.el), panel.el));
    },
    show(arg) {
      if ((arg == null ? null : String(arg)) !== selectedId) select(arg);
    },
    hide() {},
    async refresh() {
      if (filter.value.trim() && (everyClient || pager.total > clients.length)) {
        /* a filter covers every client, not one page */
        const all = await fetchAll('clients.list', 'clients');
        everyClient = all.items;
        everyTotal = all.total;
      } else {
        everyClient = null;
        const d = await api('clients.list', {offset: pager.offset, limit: pager.size});
        clients = Array.isArray(d.clients) ? d.clients : [];
        pager.update(d.total, d.offset != null ? d.offset : pager.offset, clients.length);
        if (pager.emptyPastEnd()) return refreshNow();
      }
      computeRates();
      render();
      if (selectedId != null) {
        const c = listed().find(x => String(x.id) === selectedId);
        if (c) {
          selected = c;
          gone = false;
        }
        loadDetailExtras();
      }
    },
  });
})();
