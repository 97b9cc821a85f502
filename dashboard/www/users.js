'use strict';
/* Users (shown when the broker runs with authentication): user.list, each user's permissions and
 * tokens from user.get (the table's summary, the detail panel), and the verbs that change them
 * (docs/admin-api.md, "Users and tokens"): user.add, user.del, user.passwd, user.enable,
 * user.disable, user.grant and user.revoke (topic patterns, role admin, queue groups), token.add
 * (the token shown once), token.del. #/users/<name> selects one. Passwords and tokens go to the
 * broker only; a new token is shown in its dialog and nowhere else. */

(() => {
  const OPS = ['publish', 'subscribe', 'request'];
  const DETAIL_MAX_AGE_MS = 15000;   /* user.get again for the table's summary after this */
  const DETAIL_MAX = 200;            /* users whose summary the table shows (the first by name) */
  const DETAIL_PARALLEL = 4;
  const NAME_RE = /^[A-Za-z0-9._@-]{1,64}$/;

  let users = [];                    /* user.list */
  const details = new Map();         /* name -> {user (user.get), at} */
  let selectedName = null;
  let selectedErr = null;
  let panelKey = null;               /* what the panel shows: it is drawn again only when that changes */
  let filter, note, table, panel;

  const isAdmin = u => Array.isArray(u && u.roles) && u.roles.includes('admin');
  const listOf = (u, op, kind) => (u && u[op] && Array.isArray(u[op][kind]) ? u[op][kind].map(String) : []);
  const isMe = name => Session.user != null && String(name) === Session.user;
  const byteLen = s => new TextEncoder().encode(s).length;

  /* Patterns or group names typed in a form: separated by spaces, commas or new lines */
  const splitItems = s => String(s || '').split(/[\s,]+/).filter(Boolean);

  function remember(u) {
    if (u && typeof u.name === 'string') details.set(u.name, {user: u, at: Date.now()});
  }

  /* user.get again at the next refresh */
  function outdated(name) {
    const x = details.get(name);
    if (x) x.at = 0;
  }

  /* The table's permission summary of a user.get document: {text, title} */
  function permSummary(d) {
    if (!d) return {text: '…', title: 'loading user.get'};
    const parts = [], lines = [];
    for (const op of OPS) {
      const allow = listOf(d, op, 'allow'), deny = listOf(d, op, 'deny');
      if (allow.length) lines.push(`${op} allow: ${allow.join(' ')}`);
      if (deny.length) lines.push(`${op} deny: ${deny.join(' ')}`);
      if (!allow.length && !deny.length) continue;
      let t = `${op} ` + (allow.length ? allow.slice(0, 2).join(' ') + (allow.length > 2 ? ` +${allow.length - 2}` : '') : 'nothing');
      if (deny.length) t += ` (deny ${deny.length})`;
      parts.push(t);
    }
    if (Array.isArray(d.groups)) {
      lines.push(`queue groups: ${d.groups.length ? d.groups.join(' ') : 'none'}`);
      parts.push(`groups ${d.groups.length ? d.groups.join(' ') : 'none'}`);
    }
    if (!parts.length) return {text: 'no topics', title: 'may publish, subscribe and request nothing'};
    return {text: parts.join(' · '), title: lines.join('\n')};
  }

  function matches(u, f) {
    if (!f) return true;
    return String(u.name).toLowerCase().includes(f) || (Array.isArray(u.roles) && u.roles.join(' ').toLowerCase().includes(f)) ||
      String(u.cert || '').toLowerCase().includes(f);
  }

  function render() {
    const f = filter.value.trim().toLowerCase();
    const rows = users.filter(u => matches(u, f)).map(u => ({...u, d: (details.get(String(u.name)) || {}).user || null}));
    table.setRows(rows);
    table.setEmpty(f ? 'No user matches the filter.' : 'No users: add one.');
    const shown = users.length > DETAIL_MAX ? `; permissions of the first ${DETAIL_MAX}` : '';
    setText(note, (f ? `${fmtInt(rows.length)} of ${fmtInt(users.length)} users match` : `${fmtInt(users.length)} users`) + shown);
    renderDetail();
  }

  /* user.get for the users whose summary is missing, old, or disagrees with user.list */
  async function loadDetails() {
    const now = Date.now();
    const want = [];
    const sorted = users.map(u => String(u.name)).sort(cmp).slice(0, DETAIL_MAX);
    if (selectedName != null && !sorted.includes(selectedName) && users.some(u => String(u.name) === selectedName)) sorted.push(selectedName);
    for (const name of sorted) {
      const have = details.get(name);
      const u = users.find(x => String(x.name) === name);
      const d = have && have.user;
      const stale = !d || now - have.at > DETAIL_MAX_AGE_MS || name === selectedName ||
        d.enabled !== u.enabled || d.password !== u.password || String(d.cert || '') !== String(u.cert || '') ||
        String(d.roles || '') !== String(u.roles || '');
      if (stale) want.push(name);
    }
    const work = async () => {
      for (let name; (name = want.shift()) !== undefined;) {
        try {
          remember((await api('user.get', {name})).user);
          if (name === selectedName) selectedErr = null;
        } catch (e) {
          if (e.code === 'NOT_FOUND') details.delete(name);
          else if (name === selectedName) selectedErr = e;
          if (e.status === 401) return;
        }
      }
    };
    await Promise.all(Array.from({length: Math.min(DETAIL_PARALLEL, want.length)}, work));
  }

  /* ------------------------------------------------------------ actions */

  function addUser() {
    formDialog({
      title: 'Add user', testid: 'user-add-dialog', submit: 'Add user',
      intro: 'user.add: a user clients (and, with role admin, this dashboard) log in as.',
      fields: [
        {name: 'name', label: 'Name', required: true, testid: 'add-user-name', autocomplete: 'off',
          help: '1 to 64 letters, digits, ".", "_", "@" and "-"'},
        {name: 'password', label: 'Password', type: 'password', testid: 'add-user-password', autocomplete: 'new-password',
          help: '8 bytes at least; both empty: no password (the user logs in with a token or a certificate)'},
        {name: 'password2', label: 'Password again', type: 'password', testid: 'add-user-password2', autocomplete: 'new-password'},
        {name: 'admin', label: 'Role admin', type: 'checkbox', testid: 'add-user-admin',
          help: 'the admin API ($trpc.admin.>) and this dashboard'},
        {section: 'Permissions', note: 'Topic patterns (* one token, > the rest), separated by spaces or new lines. ' +
          'Permissions deny by default: without any, the user may publish, subscribe and request nothing.'},
        {name: 'publish', label: 'Publish allow', type: 'textarea', rows: 2, testid: 'add-user-publish', placeholder: 'orders.>'},
        {name: 'subscribe', label: 'Subscribe allow', type: 'textarea', rows: 2, testid: 'add-user-subscribe', placeholder: 'orders.*'},
        {name: 'request', label: 'Request allow', type: 'textarea', rows: 2, testid: 'add-user-request', placeholder: 'billing.>'},
      ],
      async onSubmit(v) {
        const name = v.name.trim();
        if (!NAME_RE.test(name)) throw new Error(`"${name}" is not a user name: 1 to 64 letters, digits, ".", "_", "@" and "-"`);
        if (v.password !== v.password2) throw new Error('The two passwords differ.');
        if (v.password !== '' && byteLen(v.password) < 8) throw new Error('A password has 8 bytes at least.');
        const doc = {name};
        if (v.password !== '') doc.password = v.password;
        if (v.admin) doc.roles = ['admin'];
        for (const op of OPS) {
          const allow = splitItems(v[op]);
          if (allow.length) doc[op] = {allow};
        }
        const d = await api('user.add', doc);
        remember(d.user);
        toast(`Added user ${name}${v.admin ? ' (admin)' : ''}`, 'ok');
        refreshNow();
      },
    });
  }

  async function delUser(name, button) {
    const d = details.get(name);
    const n = d && Array.isArray(d.user.tokens) ? d.user.tokens.length : null;
    if (!confirm(`Delete user ${name}${n ? ` and its ${n} token${n === 1 ? '' : 's'}` : ''}?\n\n` +
      'Its connected clients are closed; this cannot be undone.' +
      (isMe(name) ? '\n\nThis is you: your session ends.' : ''))) return;
    const r = await act(button, () => api('user.del', {name}),
      x => `Deleted user ${name}${x.tokens ? ` and its ${x.tokens} token${x.tokens === 1 ? '' : 's'}` : ''}`);
    if (r) {
      details.delete(name);
      if (name === selectedName) closeDetail();
    }
  }

  async function setEnabled(name, enable, button) {
    if (!enable && !confirm(`Disable user ${name}?\n\nIts logins are refused (password, token or certificate) and its ` +
      'connected clients are closed; nothing of it is deleted.' + (isMe(name) ? '\n\nThis is you: your session ends.' : ''))) return;
    const r = await act(button, () => api(enable ? 'user.enable' : 'user.disable', {name}),
      `User ${name} ${enable ? 'enabled' : 'disabled'}`);
    if (r) remember(r.user);
  }

  function passwd(name) {
    formDialog({
      title: `Password of ${name}`, testid: 'passwd-dialog', submit: 'Set password',
      intro: 'user.passwd: the new password. Clients logged in stay so; dashboard sessions of the user end' +
        (isMe(name) ? ' (this is you: log in again with the new one).' : '.'),
      fields: [
        {name: 'password', label: 'New password', type: 'password', required: true, testid: 'passwd-password',
          autocomplete: 'new-password', help: '8 bytes at least'},
        {name: 'password2', label: 'Again', type: 'password', required: true, testid: 'passwd-password2', autocomplete: 'new-password'},
      ],
      async onSubmit(v) {
        if (v.password !== v.password2) throw new Error('The two passwords differ.');
        if (byteLen(v.password) < 8) throw new Error('A password has 8 bytes at least.');
        remember((await api('user.passwd', {name, password: v.password})).user);
        toast(`Password of ${name} changed`, 'ok');
        refreshNow();
      },
    });
  }

  async function setAdmin(name, give, button) {
    if (!give && !confirm(`Take role admin from ${name}?\n\nIt may no longer use the admin API or this dashboard.` +
      (isMe(name) ? '\n\nThis is you: the dashboard stops answering you.' : ''))) return;
    const r = await act(button, () => api(give ? 'user.grant' : 'user.revoke', {name, role: 'admin'}),
      give ? `${name} is an admin` : `${name} is no longer an admin`);
    if (r) remember(r.user);
  }

  function grant(name) {
    formDialog({
      title: `Grant ${name}`, testid: 'grant-dialog', submit: 'Grant',
      intro: 'user.grant: patterns added to an allow or deny list (a topic needs an allow pattern and no deny pattern), ' +
        'or queue groups the user may use.',
      fields: [
        {name: 'op', label: 'What', type: 'select', value: 'publish', testid: 'grant-op',
          options: [['publish', 'publish'], ['subscribe', 'subscribe'], ['request', 'request'], ['groups', 'queue groups']]},
        {name: 'kind', label: 'List', type: 'select', value: 'allow', testid: 'grant-kind',
          options: [['allow', 'allow'], ['deny', 'deny']], help: 'not for queue groups'},
        {name: 'items', label: 'Patterns or groups', type: 'textarea', rows: 3, required: true, testid: 'grant-items',
          placeholder: 'orders.>  refunds.*', help: 'separated by spaces or new lines'},
      ],
      async onSubmit(v) {
        const items = splitItems(v.items);
        if (!items.length) throw new Error('Name a pattern (or a group) at least.');
        const doc = v.op === 'groups' ? {name, groups: items} : {name, op: v.op, [v.kind]: items};
        remember((await api('user.grant', doc)).user);
        toast(v.op === 'groups' ? `${name} may use groups ${items.join(' ')}` : `${name}: ${v.op} ${v.kind} ${items.join(' ')}`, 'ok');
        refreshNow();
      },
    });
  }

  async function revoke(name, op, kind, item, button) {
    const doc = op === 'groups' ? {name, groups: [item]} : {name, op, [kind]: [item]};
    const r = await act(button, () => api('user.revoke', doc),
      op === 'groups' ? `${name}: group ${item} revoked` : `${name}: ${op} ${kind} ${item} revoked`);
    if (r) remember(r.user);
  }

  function addToken(name) {
    formDialog({
      title: `New token for ${name}`, testid: 'token-add-dialog', submit: 'Create token',
      intro: 'token.add: a secret the user logs in with instead of a password (trpcctl --token, a client\'s :token). ' +
        'It is shown once, in the next dialog.',
      fields: [
        {name: 'label', label: 'Name', testid: 'token-name', placeholder: 'ci', help: 'a label, up to 64 bytes (optional)'},
        {name: 'ttl', label: 'Expires after', testid: 'token-ttl', placeholder: '30d',
          help: 'e.g. 12h, 30d, 52w; empty: never'},
      ],
      async onSubmit(v) {
        const doc = {user: name};
        if (v.label.trim() !== '') doc.name = v.label.trim();
        const ms = parseDuration(v.ttl);
        if (ms != null) {
          if (ms < 1000) throw new Error('Expires after: one second at least.');
          doc.ttl_s = Math.round(ms / 1000);
        }
        const d = await api('token.add', doc);
        outdated(name);
        refreshNow();
        /* after this dialog has closed */
        setTimeout(() => showToken(d), 0);
      },
    });
  }

  /* The new token, once: a read-only field to copy it from */
  function showToken(d) {
    const input = h('input', {class: 'input input-mono token-secret', type: 'text', readonly: true, value: String(d.token || ''),
      testid: 'token-secret', 'aria-label': 'The new token', spellcheck: 'false', autocomplete: 'off',
      onfocus: ev => ev.target.select()});
    const said = h('span', {class: 'muted small token-copied', 'aria-live': 'polite'});
    const copy = btn('Copy', async () => {
      input.select();
      let done = false;
      try {
        if (navigator.clipboard && window.isSecureContext) {
          await navigator.clipboard.writeText(input.value);
          done = true;
        }
      } catch { /* below */ }
      if (!done) {
        try { done = document.execCommand('copy'); } catch { done = false; }
      }
      setText(said, done ? 'Copied.' : 'Selected: press Ctrl+C (⌘C) to copy it.');
    }, {testid: 'token-copy', title: 'Copy the token to the clipboard'});
    const dlg = h('dialog', {class: 'dialog', 'aria-labelledby': 'tok-title', testid: 'token-dialog'});
    dlg.append(h('form', {method: 'dialog'},
      h('h2', {id: 'tok-title', class: 'dialog-title', text: `Token for ${orDash(d.user)}`}),
      h('p', {class: 'dialog-intro', text: 'Copy it now: the broker keeps only its hash, and this is the only time it is shown.'}),
      h('div', {class: 'dialog-body'},
        h('div', {class: 'token-row'}, input, copy),
        said,
        kvList([
          ['id', h('code', {text: orDash(d.id)})],
          ['name', d.name ? String(d.name) : DASH],
          ['created', d.created ? [String(d.created), fmtAbs(d.created)] : DASH],
          ['expires', d.expires ? [String(d.expires), fmtAbs(d.expires)] : 'never'],
        ], 'token-facts'),
        h('p', {class: 'muted small', text: 'Use: trpcctl --token TOKEN …, or TRPC_TOKEN=TOKEN; a client sends it as :token in its CONNECT.'})),
      h('div', {class: 'dialog-actions'}, h('button', {type: 'submit', class: 'btn btn-primary', text: 'Done', testid: 'token-done'}))));
    dlg.addEventListener('close', () => {
      input.value = '';
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
    input.focus();
  }

  async function delToken(t, button) {
    if (!confirm(`Delete token ${t.id}${t.name ? ` (${t.name})` : ''} of ${t.user}?\n\n` +
      'It logs in no more, and the clients that logged in with it are closed.')) return;
    const r = await act(button, () => api('token.del', {id: t.id}), `Deleted token ${t.id} of ${t.user}`);
    if (r) outdated(t.user);
  }

  /* ------------------------------------------------------------ the detail panel */

  function closeDetail() {
    if (parseHash().name === 'users' && parseHash().arg != null) location.hash = '#/users';
    else select(null);
  }

  function select(name) {
    selectedName = name == null ? null : String(name);
    selectedErr = null;
    panelKey = null;
    table.select(selectedName);
    panel.el.hidden = selectedName == null;
    panel.el.parentNode.classList.toggle('has-panel', selectedName != null);
    renderDetail();
    if (selectedName != null) {
      panel.el.focus({preventScroll: true});
      refreshNow();
    }
  }

  /* A pattern (or group) with a button that revokes it */
  function chip(name, op, kind, item) {
    const what = op === 'groups' ? `group ${item}` : `${op} ${kind} ${item}`;
    return h('span', {class: 'chip chip-' + kind, dataset: {op, kind, item}, testid: 'perm'},
      h('span', {class: 'mono', text: item}),
      h('button', {type: 'button', class: 'chip-x', text: '✕', testid: 'perm-revoke', title: `Revoke ${what} (user.revoke)`,
        'aria-label': `Revoke ${what} from ${name}`, onclick: ev => revoke(name, op, kind, item, ev.currentTarget)}));
  }

  function permissions(name, d) {
    const rows = [];
    for (const op of OPS) {
      const allow = listOf(d, op, 'allow'), deny = listOf(d, op, 'deny');
      rows.push(h('tr', {testid: 'perm-' + op},
        h('th', {scope: 'row', text: op}),
        h('td', null, allow.length ? allow.map(p => chip(name, op, 'allow', p)) : h('span', {class: 'muted', text: 'nothing'})),
        h('td', null, deny.length ? deny.map(p => chip(name, op, 'deny', p)) : h('span', {class: 'muted', text: DASH}))));
    }
    const groups = Array.isArray(d.groups) ? d.groups.map(String) : null;
    rows.push(h('tr', {testid: 'perm-groups'},
      h('th', {scope: 'row', text: 'queue groups'}),
      h('td', {colspan: 2}, groups == null ? h('span', {class: 'muted', text: 'any (no list)'}) :
        groups.length ? groups.map(g => chip(name, 'groups', 'allow', g)) : h('span', {class: 'muted', text: 'none'}))));
    return h('table', {class: 'data compact perms', 'aria-label': `Permissions of ${name}`},
      h('thead', null, h('tr', null, h('th', {scope: 'col', text: ''}), h('th', {scope: 'col', text: 'allow'}), h('th', {scope: 'col', text: 'deny'}))),
      h('tbody', null, rows));
  }

  function tokens(name, d) {
    const list = Array.isArray(d.tokens) ? d.tokens : [];
    if (!list.length) return h('p', {class: 'muted small', testid: 'tokens-none', text: 'No tokens.'});
    const now = Date.now();
    return h('div', {class: 'table-wrap'}, h('table', {class: 'data compact tokens', 'aria-label': `Tokens of ${name}`},
      h('thead', null, h('tr', null, ['id', 'name', 'expires', ''].map(t => h('th', {scope: 'col', text: t})))),
      h('tbody', null, list.map(t => {
        const exp = toDate(t.expires);
        const tok = {...t, user: name};
        return h('tr', {testid: 'token-row', dataset: {id: String(t.id)}, title: t.created ? `created ${fmtAbs(t.created)}` : null},
          h('td', {class: 'mono', text: String(t.id)}),
          h('td', {class: t.name ? 'wrap' : 'muted', text: t.name ? String(t.name) : DASH}),
          h('td', null, t.expires == null ? h('span', {class: 'muted', text: 'never'}) :
            exp && exp.getTime() <= now ? badge('expired', 'bad', fmtAbs(t.expires)) :
              h('span', {title: fmtAbs(t.expires), text: exp ? exp.toISOString().slice(0, 10) : String(t.expires)})),
          h('td', {class: 'num'}, h('button', {type: 'button', class: 'btn btn-sm btn-danger-ghost', text: 'Delete', testid: 'token-del',
            'aria-label': `Delete token ${t.id}`, onclick: ev => delToken(tok, ev.currentTarget)})));
      }))));
  }

  function subHead(text, ...actions) {
    return h('div', {class: 'panel-sub-row'}, h('h3', {class: 'panel-sub', text}), ...actions);
  }

  function renderDetail() {
    if (selectedName == null) {
      if (panelKey !== null) setKids(panel.body);
      panelKey = null;
      return;
    }
    const name = selectedName;
    const listed = users.find(u => String(u.name) === name) || null;
    const have = details.get(name);
    const d = have ? have.user : null;
    const key = JSON.stringify([name, listed, d, Session.user, selectedErr && errText(selectedErr), users.length > 0]);
    if (key === panelKey) return;
    panelKey = key;
    setText(panel.title, `User ${name}`);
    const kids = [];
    if (!listed && users.length) {
      kids.push(h('div', {class: 'banner banner-warn', text: `There is no user ${name} (any more).`}));
      setKids(panel.body, kids);
      return;
    }
    if (selectedErr) kids.push(h('div', {class: 'banner banner-error', role: 'alert', text: errText(selectedErr)}));
    if (!d) {
      kids.push(h('p', {class: 'muted small', text: 'Loading user.get…'}));
      setKids(panel.body, kids);
      return;
    }
    const enabled = d.enabled !== false;
    const admin = isAdmin(d);
    kids.push(h('div', {class: 'panel-actions wrap-actions'},
      btn('Change password…', () => passwd(name), {cls: 'btn-sm', testid: 'user-passwd', title: 'user.passwd'}),
      btn(admin ? 'Remove admin' : 'Make admin', ev => setAdmin(name, !admin, ev.currentTarget),
        {cls: 'btn-sm', testid: 'user-role', title: admin ? 'user.revoke role admin' : 'user.grant role admin'}),
      btn(enabled ? 'Disable' : 'Enable', ev => setEnabled(name, !enabled, ev.currentTarget),
        {cls: 'btn-sm' + (enabled ? ' btn-warn' : ''), testid: 'detail-toggle', title: enabled ? 'user.disable: refuse its logins' : 'user.enable'}),
      btn('Delete', ev => delUser(name, ev.currentTarget), {cls: 'btn-sm btn-danger', testid: 'detail-del', title: 'user.del: the user and its tokens'})));
    kids.push(kvList([
      ['name', h('span', {class: 'mono strong', text: name + (isMe(name) ? ' (you)' : '')})],
      ['roles', admin ? badge('admin', 'ok', 'the admin API and this dashboard') : 'none'],
      ['state', enabled ? badge('enabled', 'ok') : badge('disabled', 'bad', 'its logins are refused')],
      ['password', d.password ? 'set' : 'none (token or certificate only)'],
      ['certificate', d.cert ? h('code', {text: String(d.cert)}) : 'none'],
      ['created', d.created ? h('span', null, timeEl(d.created), ` · ${d.created}`) : DASH],
      ['updated', d.updated ? h('span', null, timeEl(d.updated), ` · ${d.updated}`) : DASH],
    ], 'kv-wide'));
    kids.push(subHead('Permissions', btn('Grant…', () => grant(name), {cls: 'btn-sm', testid: 'user-grant',
      title: 'user.grant: topic patterns or queue groups'})));
    kids.push(permissions(name, d));
    kids.push(h('p', {class: 'muted small', text: 'A topic needs an allow pattern and no deny pattern. ✕ revokes one (user.revoke).'}));
    kids.push(subHead('Tokens', btn('New token…', () => addToken(name), {cls: 'btn-sm', testid: 'token-add', title: 'token.add'})));
    kids.push(tokens(name, d));
    setKids(panel.body, kids);
  }

  /* ------------------------------------------------------------ the page */

  function enabledCell(td, u) {
    const on = u.enabled !== false;
    if (td.dataset.enabled !== String(on)) {
      td.dataset.enabled = String(on);
      td.dataset.testid = 'user-enabled';
      setKids(td, on ? badge('enabled', 'ok') : badge('disabled', 'bad', 'its logins are refused'));
    }
  }

  function actionsCell(td, u) {
    if (!td.firstChild) {
      td.append(h('div', {class: 'row-actions'},
        h('button', {type: 'button', class: 'btn btn-sm', testid: 'user-toggle',
          onclick: ev => { const r = td.parentNode._row; setEnabled(String(r.name), r.enabled === false, ev.currentTarget); }}),
        h('button', {type: 'button', class: 'btn btn-sm btn-danger-ghost', text: 'Delete', testid: 'user-del',
          onclick: ev => delUser(String(td.parentNode._row.name), ev.currentTarget)})));
    }
    const [toggle, del] = td.firstChild.children;
    const on = u.enabled !== false;
    setText(toggle, on ? 'Disable' : 'Enable');
    toggle.classList.toggle('btn-warn', on);
    toggle.setAttribute('aria-label', `${on ? 'Disable' : 'Enable'} user ${u.name}`);
    del.setAttribute('aria-label', `Delete user ${u.name}`);
  }

  registerPage('users', {
    title: 'Users',
    authOnly: true,
    init(section) {
      filter = filterInput('Filter by name or role', render, 'users-filter');
      note = h('span', {class: 'muted small'});
      table = new DataTable({
        label: 'Users', key: u => u.name, empty: 'No users.',
        onRowClick: u => { location.hash = pageLink('users', u.name); },
        rowAttrs: (tr, u) => { tr.dataset.testid = 'user-row'; tr.dataset.name = String(u.name); },
        rowClass: u => (u.enabled === false ? 'row-off' : ''),
        columns: [
          {label: 'name', key: 'name', text: u => String(u.name) + (isMe(u.name) ? ' (you)' : ''), cls: () => 'mono strong'},
          {label: 'roles', value: u => (isAdmin(u) ? 0 : 1), cell: (td, u) => {
            const a = isAdmin(u);
            if (td.dataset.admin !== String(a)) {
              td.dataset.admin = String(a);
              setKids(td, a ? badge('admin', 'ok') : h('span', {class: 'muted', text: DASH}));
            }
          }},
          {label: 'enabled', value: u => (u.enabled === false ? 1 : 0), cell: enabledCell},
          {label: 'password', key: 'password', text: u => fmtBool(u.password), opt: true},
          {label: 'certificate', key: 'cert', text: u => orDash(u.cert), cls: u => (u.cert ? 'mono ellipsis' : 'muted'), opt: true},
          {label: 'permissions', value: u => permSummary(u.d).text, text: u => permSummary(u.d).text,
            title: u => permSummary(u.d).title, cls: u => (u.d ? 'perm-summary mono' : 'perm-summary muted'),
            help: 'publish, subscribe and request allow patterns (user.get); the full lists in the panel'},
          {label: 'tokens', num: true, value: u => (u.d && Array.isArray(u.d.tokens) ? u.d.tokens.length : null),
            text: u => (u.d && Array.isArray(u.d.tokens) ? fmtInt(u.d.tokens.length) : DASH), opt: true},
          {label: '', nosort: true, actions: true, cell: actionsCell},
        ],
      });
      panel = sidePanel('User', () => closeDetail());
      panel.el.dataset.testid = 'user-detail';
      panel.el.classList.add('panel-wide');
      section.append(
        pageHead('Users', 'Who logs in to this broker and what each may do (user.list, user.get)',
          btn('Add user…', addUser, {cls: 'btn-primary', testid: 'user-add', title: 'user.add'})),
        h('div', {class: 'toolbar'}, filter, note),
        h('div', {class: 'split'}, h('div', {class: 'split-main card card-flush'}, table.el), panel.el));
    },
    show(arg) {
      if ((arg == null ? null : String(arg)) !== selectedName) select(arg);
    },
    async refresh() {
      const d = await api('user.list');
      users = Array.isArray(d.users) ? d.users : [];
      const names = new Set(users.map(u => String(u.name)));
      for (const n of details.keys()) if (!names.has(n)) details.delete(n);
      render();
      await loadDetails();
      render();
    },
  });
})();
