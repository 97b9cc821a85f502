'use strict';
/* Settings: settings.get; live ones edited in place (settings.set, settings.reset), the others
 * read-only (config file, restart). Also tls.reload. */

(() => {
  let settings = [];
  const rows = new Map();   /* name -> {tr, input, status, value, live} */
  let liveBody, fixedBody, filter, countNote;

  function setStatus(r, kind, text) {
    r.status.className = 'setting-status ' + (kind ? 'st-' + kind : '');
    setText(r.status, text);
    setTitle(r.status, text);
  }

  async function save(r) {
    const name = r.name, value = r.input.value.trim();
    r.save.disabled = true;
    setStatus(r, 'busy', 'saving…');
    try {
      const d = await api('settings.set', {name, value});
      r.input.value = d.value;
      r.server = d.value;
      markDirty(r);
      setStatus(r, 'ok', d.previous === d.value ? 'saved (unchanged)' : `saved: ${d.previous} → ${d.value}`);
      toast(`${name} = ${d.value} (was ${d.previous})`, 'ok');
    } catch (e) {
      setStatus(r, 'error', errText(e));
      toastError(e, name);
    } finally {
      r.save.disabled = false;
    }
  }

  async function reset(r) {
    r.reset.disabled = true;
    setStatus(r, 'busy', 'resetting…');
    try {
      const d = await api('settings.reset', {name: r.name});
      r.input.value = d.value;
      r.server = d.value;
      markDirty(r);
      setStatus(r, 'ok', `reset: ${d.previous} → ${d.value}`);
      toast(`${r.name} reset to ${d.value} (was ${d.previous})`, 'ok');
    } catch (e) {
      setStatus(r, 'error', errText(e));
      toastError(e, r.name);
    } finally {
      r.reset.disabled = false;
    }
  }

  function markDirty(r) {
    const dirty = r.input.value !== r.server;
    r.tr.classList.toggle('dirty', dirty);
    r.input.setAttribute('aria-invalid', 'false');
  }

  function makeRow(s) {
    const name = String(s.name);
    const r = {name, live: !!s.live, server: String(s.value)};
    const nameCell = h('td', {class: 'mono strong setting-name', text: name});
    const help = h('td', {class: 'help', text: s.help || ''});
    if (r.live) {
      const id = 'set-' + name.replace(/[^A-Za-z0-9_-]/g, '_');
      r.input = h('input', {id, class: 'input input-mono', type: 'text', value: r.server, testid: 'input-' + name,
        'aria-label': `Value of ${name}`, autocomplete: 'off', spellcheck: 'false'});
      r.input.addEventListener('input', () => markDirty(r));
      r.input.addEventListener('keydown', ev => {
        if (ev.key === 'Enter') { ev.preventDefault(); save(r); }
        if (ev.key === 'Escape') { r.input.value = r.server; markDirty(r); }
      });
      r.save = h('button', {type: 'button', class: 'btn btn-sm btn-primary', text: 'Save', testid: 'save-' + name,
        'aria-label': `Save ${name}`, onclick: () => save(r)});
      r.reset = h('button', {type: 'button', class: 'btn btn-sm', text: 'Reset', testid: 'reset-' + name,
        'aria-label': `Reset ${name} to its configured value`, title: 'Back to the config file\'s value (settings.reset)', onclick: () => reset(r)});
      r.status = h('div', {class: 'setting-status', 'aria-live': 'polite'});
      r.tr = h('tr', {testid: 'setting-' + name, dataset: {name, live: 'true'}},
        nameCell,
        h('td', {class: 'value'}, h('div', {class: 'setting-edit'}, r.input, r.save, r.reset), r.status),
        h('td', null, badge('live', 'ok', 'changes at once on every core')),
        help);
    } else {
      r.valueEl = h('code', {class: 'value-ro', text: r.server === '' ? '(empty)' : r.server});
      r.tr = h('tr', {testid: 'setting-' + name, dataset: {name, live: 'false'}},
        nameCell,
        h('td', {class: 'value'}, r.valueEl, h('div', {class: 'hint', text: 'config file, restart'})),
        h('td', null, badge('restart', 'muted', 'set in the config file or on the command line; takes a restart')),
        help);
    }
    return r;
  }

  function render() {
    const f = filter.value.trim().toLowerCase();
    const live = [], fixed = [];
    for (const s of settings) {
      const name = String(s.name);
      let r = rows.get(name);
      if (!r || r.live !== !!s.live) {
        if (r) r.tr.remove();
        r = makeRow(s);
        rows.set(name, r);
      }
      const v = String(s.value);
      if (r.live) {
        /* keep what the user is typing; follow the server otherwise */
        if (r.input.value === r.server) r.input.value = v;
        r.server = v;
        markDirty(r);
      } else {
        r.server = v;
        setText(r.valueEl, v === '' ? '(empty)' : v);
      }
      r.tr.hidden = !!f && !name.toLowerCase().includes(f) && !String(s.help || '').toLowerCase().includes(f);
      (r.live ? live : fixed).push(r.tr);
    }
    const names = new Set(settings.map(s => String(s.name)));
    for (const [n, r] of rows) if (!names.has(n)) { r.tr.remove(); rows.delete(n); }
    reorder(liveBody, live);
    reorder(fixedBody, fixed);
    setText(countNote, `${live.length} live · ${fixed.length} need a restart`);
  }

  function reorder(body, trs) {
    let at = body.firstChild;
    for (const tr of trs) {
      if (at === tr) at = at.nextSibling;
      else body.insertBefore(tr, at);
    }
  }

  function settingsTable(label, body) {
    return h('div', {class: 'table-wrap'}, h('table', {class: 'data settings', 'aria-label': label},
      h('colgroup', null, h('col', {class: 'c-name'}), h('col', {class: 'c-value'}), h('col', {class: 'c-live'}), h('col')),
      h('thead', null, h('tr', null, ['name', 'value', 'live', 'help'].map(t => h('th', {scope: 'col', text: t})))),
      body));
  }

  async function tlsReload(b) {
    if (!confirm('Reload the TLS certificate, key and CA files?\n\nNew connections get the new certificate; established ones keep theirs. A reload that fails keeps the old one.')) return;
    await act(b, () => api('tls.reload'), 'TLS certificates reloaded');
  }

  registerPage('settings', {
    title: 'Settings',
    init(section) {
      liveBody = h('tbody');
      fixedBody = h('tbody');
      filter = filterInput('Filter settings', render, 'settings-filter');
      countNote = h('span', {class: 'muted small'});
      section.append(
        pageHead('Settings', 'Options in force (settings.get). Live ones change at once on every core and are kept in the store until reset.',
          btn('Reload TLS certificates…', ev => tlsReload(ev.currentTarget), {testid: 'tls-reload', title: 'tls.reload: read tls-cert, tls-key and tls-ca again'})),
        h('div', {class: 'toolbar'}, filter, countNote),
        card('Live settings', h('p', {class: 'muted small', text: 'Enter saves, Esc reverts. Reset goes back to the config file\'s value (or the default).'}),
          settingsTable('Live settings', liveBody)),
        card('Restart settings', h('p', {class: 'muted small', text: 'Set in the config file or on the command line; they take a restart.'}),
          settingsTable('Settings that need a restart', fixedBody)));
    },
    async refresh() {
      const d = await api('settings.get');
      settings = Array.isArray(d.settings) ? d.settings : [];
      render();
    },
  });
})();
