'use strict';
/* Widgets shared by the pages: DataTable (keyed rows updated in place, sortable columns),
 * Pager (offset/limit paging as clients.list and subs.list do it), kvList (a definition list),
 * formDialog (a modal form), and small helpers. */

function cmp(a, b) {
  if (a == null && b == null) return 0;
  if (a == null) return 1;
  if (b == null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, {numeric: true});
}

/* A table whose rows are kept by key, so that a refresh updates cells in place (focus, hover
 * and a click in progress survive it).
 *   columns: [{label, key, num, text(row) -> string, title(row), cell(td, row) (custom, called
 *             on every update), value(row) (for sorting), cls(row), help, nosort,
 *             actions (the buttons: kept at the right edge when the table scrolls sideways),
 *             opt (rarely needed: hidden on narrow screens, style.css says when)}]
 *   key(row), label (aria-label), empty (text when no rows), onRowClick(row, ev),
 *   rowAttrs(tr, row) (called once per new row), rowClass(row)
 * A table wider than its box scrolls sideways; the box's data-overflow says which way there is
 * more ("left", "right" or both), for style.css to show it. */
class DataTable {
  constructor(opts) {
    this.o = opts;
    this.cols = opts.columns.map(c => ({...c,
      base: [c.num && 'num', c.actions && 'col-actions', c.opt && 'col-opt'].filter(Boolean).join(' ')}));
    this.trs = new Map();
    this.sort = null;
    this.selectedKey = null;
    this.rows = [];
    const head = h('tr');
    for (const c of this.cols) {
      const th = h('th', {scope: 'col', class: c.base || null, title: c.help || null});
      if (!c.nosort && (c.value || c.key || c.text)) {
        th.append(h('button', {type: 'button', class: 'th-sort', text: c.label, onclick: () => this.toggleSort(c)}));
        th.setAttribute('aria-sort', 'none');
      } else {
        th.textContent = c.label;
      }
      c.th = th;
      head.append(th);
    }
    this.tbody = h('tbody');
    this.emptyRow = h('tr', {class: 'empty'}, h('td', {colspan: this.cols.length, text: opts.empty || 'Nothing to show.'}));
    this.table = h('table', {class: 'data ' + (opts.class || ''), 'aria-label': opts.label}, h('thead', null, head), this.tbody);
    this.el = h('div', {class: 'table-wrap' + (this.cols.some(c => c.actions) ? ' has-actions' : '')}, this.table);
    this.tbody.append(this.emptyRow);
    const edges = () => this.markOverflow();
    this.el.addEventListener('scroll', edges, {passive: true});
    if (typeof ResizeObserver !== 'undefined') {
      const ro = new ResizeObserver(edges);
      ro.observe(this.el);
      ro.observe(this.table);
    }
  }

  /* data-overflow: is there more to the left, to the right (only paint depends on it) */
  markOverflow() {
    const w = this.el, max = w.scrollWidth - w.clientWidth;
    const v = max > 1 ? [w.scrollLeft > 1 && 'left', w.scrollLeft < max - 1 && 'right'].filter(Boolean).join(' ') : '';
    if ((w.dataset.overflow || '') !== v) {
      if (v) w.dataset.overflow = v;
      else delete w.dataset.overflow;
    }
  }

  toggleSort(c) {
    if (this.sort && this.sort.col === c) {
      this.sort = this.sort.dir === 1 ? {col: c, dir: -1} : null;
    } else {
      this.sort = {col: c, dir: c.num ? -1 : 1};
    }
    for (const x of this.cols) {
      if (x.th.hasAttribute('aria-sort')) {
        x.th.setAttribute('aria-sort', this.sort && this.sort.col === x ? (this.sort.dir === 1 ? 'ascending' : 'descending') : 'none');
      }
    }
    this.setRows(this.rows);
  }

  setEmpty(text) {
    setText(this.emptyRow.firstChild, text);
  }

  setRows(rows) {
    this.rows = rows;
    let list = rows;
    if (this.sort) {
      const c = this.sort.col, dir = this.sort.dir;
      const v = c.value || (c.key ? r => r[c.key] : c.text);
      list = rows.slice().sort((a, b) => cmp(v(a), v(b)) * dir);
    }
    const order = [];
    const seen = new Set();
    for (const row of list) {
      const k = String(this.o.key(row));
      if (seen.has(k)) continue;
      seen.add(k);
      let tr = this.trs.get(k);
      if (!tr) {
        tr = this.makeRow(k, row);
        this.trs.set(k, tr);
      }
      tr._row = row;
      this.fill(tr, row);
      order.push(tr);
    }
    for (const [k, tr] of this.trs) {
      if (!seen.has(k)) {
        tr.remove();
        this.trs.delete(k);
      }
    }
    if (!order.length) {
      if (!this.emptyRow.parentNode) this.tbody.append(this.emptyRow);
      return;
    }
    this.emptyRow.remove();
    let at = this.tbody.firstChild;
    for (const tr of order) {
      if (at === tr) at = at.nextSibling;
      else this.tbody.insertBefore(tr, at);
    }
    this.markSelected();
  }

  makeRow(k, row) {
    const tr = h('tr');
    tr._key = k;
    for (const c of this.cols) tr.append(h('td', {class: c.base || null}));
    if (this.o.onRowClick) {
      tr.classList.add('clickable');
      tr.tabIndex = 0;
      tr.addEventListener('click', ev => {
        if (ev.target.closest('button, a, input, select, label')) return;
        this.o.onRowClick(tr._row, ev);
      });
      tr.addEventListener('keydown', ev => {
        if ((ev.key === 'Enter' || ev.key === ' ') && ev.target === tr) {
          ev.preventDefault();
          this.o.onRowClick(tr._row, ev);
        }
      });
    }
    if (this.o.rowAttrs) this.o.rowAttrs(tr, row);
    return tr;
  }

  fill(tr, row) {
    this.cols.forEach((c, i) => {
      const td = tr.cells[i];
      if (c.cell) {
        c.cell(td, row);
      } else {
        setText(td, c.text ? c.text(row) : orDash(row[c.key]));
        if (c.title) setTitle(td, c.title(row));
      }
      if (c.cls) {
        const want = `${c.base} ${c.cls(row) || ''}`.trim();
        if (td.className !== want) td.className = want;
      }
    });
    if (this.o.rowClass) {
      const extra = this.o.rowClass(row) || '';
      if (tr._extra !== extra) {
        if (tr._extra) tr.classList.remove(...tr._extra.split(' '));
        if (extra) tr.classList.add(...extra.split(' '));
        tr._extra = extra;
      }
    }
  }

  select(key) {
    this.selectedKey = key == null ? null : String(key);
    this.markSelected();
  }

  markSelected() {
    for (const [k, tr] of this.trs) {
      const on = k === this.selectedKey;
      tr.classList.toggle('selected', on);
      if (this.o.onRowClick) tr.setAttribute('aria-selected', on ? 'true' : 'false');
    }
  }
}

/* Paging as clients.list and subs.list do it: a page may hold fewer than `limit` entries; the
 * next one starts at offset plus the number received. */
class Pager {
  constructor(onChange, {sizes = [100, 250, 1000], size = 250, label = 'rows'} = {}) {
    this.onChange = onChange;
    this.offset = 0;
    this.size = size;
    this.total = 0;
    this.count = 0;
    this.back = [];
    this.label = label;
    this.info = h('span', {class: 'pager-info', 'aria-live': 'polite'});
    this.bFirst = h('button', {type: 'button', class: 'btn btn-sm', text: '«', title: 'First page', 'aria-label': 'First page', onclick: () => this.first()});
    this.bPrev = h('button', {type: 'button', class: 'btn btn-sm', text: '‹ Prev', 'aria-label': 'Previous page', onclick: () => this.prev()});
    this.bNext = h('button', {type: 'button', class: 'btn btn-sm', text: 'Next ›', 'aria-label': 'Next page', onclick: () => this.next()});
    const sel = h('select', {class: 'input input-sm', 'aria-label': 'Rows per page',
      onchange: () => { this.size = Number(sel.value); this.first(); }},
    sizes.map(s => h('option', {value: String(s), selected: s === size ? true : null, text: `${s} / page`})));
    this.el = h('div', {class: 'pager'}, this.info, this.bFirst, this.bPrev, this.bNext, sel);
    this.update(0, 0, 0);
  }

  update(total, offset, count) {
    this.total = Number(total) || 0;
    this.offset = Number(offset) || 0;
    this.count = count;
    const from = count ? this.offset + 1 : 0;
    setText(this.info, `${fmtInt(from)}–${fmtInt(this.offset + count)} of ${fmtInt(this.total)} ${this.label}`);
    this.bFirst.disabled = this.bPrev.disabled = this.offset === 0;
    this.bNext.disabled = this.offset + count >= this.total || count === 0;
    this.el.classList.toggle('single', this.offset === 0 && count >= this.total);
  }

  /* A page that came back empty past the end (the list shrank): go back to the first */
  emptyPastEnd() {
    if (this.count === 0 && this.offset > 0) {
      this.offset = 0;
      this.back = [];
      return true;
    }
    return false;
  }

  first() { this.back = []; this.offset = 0; this.onChange(); }
  prev() { this.offset = this.back.length ? this.back.pop() : 0; this.onChange(); }
  next() {
    if (this.offset + this.count >= this.total) return;
    this.back.push(this.offset);
    this.offset += this.count;
    this.onChange();
  }
}

/* Every entry of a paged list verb (clients.list, subs.list), up to max: for a filter that
 * covers the whole list rather than one page. */
async function fetchAll(verb, key, max = 10000) {
  const items = [];
  let total = 0;
  for (let calls = 0; calls < 20 && items.length < max; calls++) {
    const d = await api(verb, {offset: items.length, limit: Math.min(10000, max - items.length)});
    const list = Array.isArray(d[key]) ? d[key] : [];
    total = Number(d.total) || 0;
    items.push(...list);
    if (!list.length || items.length >= total) break;
  }
  return {items, total};
}

/* Run fn once typing pauses */
function debounce(fn, ms = 300) {
  let t = null;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

/* <dl> of [label, value] pairs; a value may be a Node, a string, or [text, title] */
function kvList(pairs, cls) {
  const dl = h('dl', {class: 'kv ' + (cls || '')});
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    let dd;
    if (v instanceof Node) dd = h('dd', null, v);
    else if (Array.isArray(v)) dd = h('dd', {title: v[1] || null, text: orDash(v[0])});
    else dd = h('dd', {text: orDash(v)});
    dl.append(h('div', {class: 'kv-row'}, h('dt', {text: k}), dd));
  }
  return dl;
}

function card(title, ...body) {
  return h('section', {class: 'card'}, title ? h('h2', {class: 'card-title', text: title}) : null, ...body);
}

function pageHead(title, sub, ...actions) {
  return h('div', {class: 'page-head'},
    h('div', null, h('h1', {text: title}), sub ? h('p', {class: 'page-sub', text: sub}) : null),
    h('div', {class: 'page-actions'}, ...actions));
}

function btn(text, onclick, {cls = '', testid, title, label} = {}) {
  return h('button', {type: 'button', class: 'btn ' + cls, text, onclick, testid, title, 'aria-label': label});
}

function filterInput(placeholder, oninput, testid) {
  return h('input', {type: 'search', class: 'input filter', placeholder, 'aria-label': placeholder, testid,
    oninput, spellcheck: 'false', autocomplete: 'off'});
}

/* A badge for a state: 'ok', 'warn', 'bad', 'muted' */
function badge(text, state, title) {
  return h('span', {class: 'badge badge-' + (state || 'muted'), text, title: title || null});
}

/* A modal form. fields: [{name, label, type: text|number|password|select|textarea|checkbox, value,
 * placeholder, help, options: [[value, label]], required, readonly, testid, autocomplete, rows}] or
 * {section: 'Title', note}. onSubmit(values) (a checkbox's value: true or false) may throw: its
 * message is shown in the dialog, which stays open; it closes once onSubmit resolves. */
function formDialog({title, intro, fields, submit = 'Save', danger = false, onSubmit, testid}) {
  const dlg = h('dialog', {class: 'dialog', 'aria-labelledby': 'dlg-title', testid});
  const err = h('div', {class: 'banner banner-error', role: 'alert', hidden: true});
  const inputs = {};
  const body = [];
  let n = 0;
  for (const f of fields) {
    if (f.section) {
      body.push(h('h3', {class: 'form-section', text: f.section}), f.note ? h('p', {class: 'muted small', text: f.note}) : null);
      continue;
    }
    const id = `dlg-f-${++n}`;
    let input;
    if (f.type === 'select') {
      input = h('select', {id, class: 'input', name: f.name, testid: f.testid},
        f.options.map(([v, l]) => h('option', {value: v, text: l, selected: String(f.value) === v ? true : null})));
    } else if (f.type === 'textarea') {
      input = h('textarea', {id, class: 'input', name: f.name, rows: f.rows || 3, placeholder: f.placeholder || null,
        value: f.value == null ? '' : String(f.value), testid: f.testid, spellcheck: 'false'});
    } else if (f.type === 'checkbox') {
      input = h('input', {id, class: 'checkbox', name: f.name, type: 'checkbox', checked: !!f.value, testid: f.testid});
    } else {
      input = h('input', {id, class: 'input', name: f.name, type: f.type || 'text', placeholder: f.placeholder || null,
        value: f.value == null ? '' : String(f.value), required: f.required || null, readonly: f.readonly || null,
        autocomplete: f.autocomplete || 'off', spellcheck: 'false', min: f.type === 'number' ? '0' : null, testid: f.testid});
    }
    inputs[f.name] = input;
    body.push(h('div', {class: 'form-row'},
      h('label', {for: id, text: f.label + (f.required ? ' *' : '')}),
      input,
      f.help ? h('div', {class: 'form-help', text: f.help}) : null));
  }
  const ok = h('button', {type: 'submit', class: 'btn ' + (danger ? 'btn-danger' : 'btn-primary'), text: submit, testid: 'dialog-submit'});
  const cancel = h('button', {type: 'button', class: 'btn', text: 'Cancel', testid: 'dialog-cancel', onclick: () => dlg.close()});
  const form = h('form', {method: 'dialog', novalidate: true},
    h('h2', {id: 'dlg-title', class: 'dialog-title', text: title}),
    intro ? h('p', {class: 'dialog-intro', text: intro}) : null,
    h('div', {class: 'dialog-body'}, body),
    err,
    h('div', {class: 'dialog-actions'}, cancel, ok));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const values = {};
    for (const [k, el] of Object.entries(inputs)) values[k] = el.type === 'checkbox' ? el.checked : el.value;
    err.hidden = true;
    ok.disabled = true;
    try {
      await onSubmit(values);
      dlg.close();
    } catch (e) {
      setText(err, errText(e));
      err.hidden = false;
    } finally {
      ok.disabled = false;
    }
  });
  dlg.append(form);
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  const firstEditable = Object.values(inputs).find(i => !i.readOnly);
  if (firstEditable) firstEditable.focus();
  return dlg;
}

/* A side panel next to a table (clients, dead letters): returns {el, body, title, actions}, actions
 * being the place in its header (always in view, whatever the body scrolls) for its buttons */
function sidePanel(titleText, onClose) {
  const title = h('h2', {class: 'panel-title', text: titleText});
  const body = h('div', {class: 'panel-body'});
  const actions = h('div', {class: 'panel-head-actions'});
  const closeBtn = h('button', {type: 'button', class: 'btn btn-sm btn-ghost', text: '✕', 'aria-label': 'Close panel', title: 'Close (Esc)', onclick: () => onClose()});
  const el = h('aside', {class: 'panel', hidden: true, tabindex: '-1', 'aria-label': titleText},
    h('div', {class: 'panel-head'}, title, actions, closeBtn), body);
  el.addEventListener('keydown', ev => { if (ev.key === 'Escape') onClose(); });
  return {el, body, title, actions};
}

/* Decode base64 to bytes; text when it is valid UTF-8 (else null) */
function decodePayload(b64) {
  let bytes;
  try {
    const bin = atob(b64 || '');
    bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  } catch {
    return {bytes: new Uint8Array(0), text: null, bad: true};
  }
  let text = null;
  try { text = new TextDecoder('utf-8', {fatal: true}).decode(bytes); } catch { text = null; }
  return {bytes, text};
}

/* A classic hex dump: offset, 16 bytes in hex, printable ASCII */
function hexDump(bytes, max = 65536) {
  const lines = [];
  const n = Math.min(bytes.length, max);
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    let hex = '', asc = '';
    for (let i = 0; i < 16; i++) {
      if (i < row.length) {
        hex += row[i].toString(16).padStart(2, '0') + ' ';
        asc += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : '.';
      } else {
        hex += '   ';
      }
      if (i === 7) hex += ' ';
    }
    lines.push(off.toString(16).padStart(8, '0') + '  ' + hex + ' |' + asc + '|');
  }
  if (bytes.length > n) lines.push(`… ${fmtInt(bytes.length - n)} more bytes`);
  return lines.join('\n');
}

/* Text of a payload, pretty-printed when it is JSON */
function prettyText(text) {
  const t = text.trim();
  if ((t.startsWith('{') || t.startsWith('[')) && t.length < 1 << 20) {
    try { return JSON.stringify(JSON.parse(t), null, 2); } catch { /* not JSON */ }
  }
  return text;
}

/* A payload viewer: text (pretty JSON) when UTF-8, else hex, with a switch */
function payloadView(b64, size) {
  if (b64 == null) /* the broker left it out: the reply would have passed half of max-output-bytes */
    return h('p', {class: 'muted small', testid: 'payload', text: `${fmtBytes(size || 0)} left out: too large for one reply (half of max-output-bytes)`});
  const {bytes, text, bad} = decodePayload(b64);
  const pre = h('pre', {class: 'payload', testid: 'payload', tabindex: '0'});
  const modes = text != null ? ['text', 'hex', 'base64'] : ['hex', 'base64'];
  const info = h('span', {class: 'muted small'});
  const tabs = h('div', {class: 'seg', role: 'group', 'aria-label': 'Payload view'});
  const show = mode => {
    for (const b of tabs.children) b.setAttribute('aria-pressed', b.dataset.mode === mode ? 'true' : 'false');
    if (mode === 'text') pre.textContent = prettyText(text);
    else if (mode === 'hex') pre.textContent = bytes.length ? hexDump(bytes) : '(empty)';
    else pre.textContent = b64 || '';
    pre.classList.toggle('payload-wrap', mode === 'base64');
  };
  for (const m of modes) tabs.append(h('button', {type: 'button', class: 'btn btn-sm', dataset: {mode: m}, text: m, onclick: () => show(m)}));
  setText(info, bad ? 'payload_base64 is not valid base64' :
    `${fmtBytes(size != null ? size : bytes.length)} · ${text != null ? 'UTF-8 text' : 'binary (not UTF-8): shown as hex'}`);
  show(modes[0]);
  if (text === '') pre.textContent = '(empty)';
  return h('div', {class: 'payload-view'}, h('div', {class: 'payload-bar'}, info, tabs), pre);
}

/* A header list [{key, value}] as a small table; a null value is not UTF-8 */
function headersTable(headers) {
  const list = Array.isArray(headers) ? headers : [];
  if (!list.length) return h('p', {class: 'muted small', text: 'No headers.'});
  return h('table', {class: 'data compact', 'aria-label': 'Headers'},
    h('thead', null, h('tr', null, h('th', {scope: 'col', text: 'key'}), h('th', {scope: 'col', text: 'value'}))),
    h('tbody', null, list.map(x => h('tr', {class: String(x.key).startsWith('trpc-') ? 'sys' : null},
      h('td', {class: 'mono', text: orDash(x.key)}),
      h('td', {class: 'mono wrap', text: x.value == null ? '(not UTF-8)' : String(x.value)})))));
}
