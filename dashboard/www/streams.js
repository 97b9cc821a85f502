'use strict';
/* Streams: stream.list; one stream's stream.info and its consumer groups (group.list); add,
 * edit, purge and delete a stream; add, reset and delete a group. #/streams/<name> selects one. */

let streamCache = [];   /* the last stream.list, also used by the dead-letter page */

/* The stream that keeps a topic (its subjects cover it), or null */
function streamForTopic(topic, streams) {
  if (topic == null) return null;
  return (streams || streamCache).find(s => (s.subjects || []).some(p => topicMatches(p, topic))) || null;
}

(() => {
  let streams = [];
  let selectedName = null;
  let info = null;          /* stream.info of the selected stream */
  let groups = [];
  let detailError = null;
  const prevStored = new Map();
  let storedRate = {};
  let listTable, groupTable, detail, detailTitle, detailBody, detailNote;

  const sizeInput = v => {
    v = Number(v) || 0;
    if (!v) return '';
    for (const [d, u] of [[1073741824, 'g'], [1048576, 'm'], [1024, 'k']]) if (v % d === 0) return `${v / d}${u}`;
    return String(v);
  };
  const durInput = (v, keepZero) => {
    if (v == null || (!v && !keepZero)) return '';
    v = Number(v);
    for (const [d, u] of [[86400000, 'd'], [3600000, 'h'], [60000, 'm'], [1000, 's']]) if (v && v % d === 0) return `${v / d}${u}`;
    return String(v);
  };

  function limitsText(s) {
    const parts = [];
    if (Number(s.max_msgs) > 0) parts.push(`${fmtNum(s.max_msgs)} msgs`);
    if (Number(s.max_bytes) > 0) parts.push(fmtBytes(s.max_bytes));
    if (Number(s.max_age_ms) > 0) parts.push(fmtMs(s.max_age_ms));
    return parts.length ? parts.join(' · ') + (s.discard === 'new' ? ' (discard new)' : '') : 'none';
  }

  function seqText(s) {
    if (!isNum(s.first_seq) || !isNum(s.last_seq)) return DASH;
    return Number(s.last_seq) < Number(s.first_seq) ? `empty (next ${fmtInt(Number(s.last_seq) + 1)})` : `${fmtInt(s.first_seq)}–${fmtInt(s.last_seq)}`;
  }

  /* ---------------- forms */

  function streamDialog(existing) {
    const e = existing || {};
    const edit = !!existing;
    formDialog({
      title: edit ? `Edit stream ${e.name}` : 'Add stream',
      intro: edit ? 'The whole definition is replaced (stream.edit); the log stays. Tighter limits remove what they must.' : null,
      testid: 'stream-dialog',
      submit: edit ? 'Save definition' : 'Add stream',
      fields: [
        {name: 'name', label: 'Name', required: true, value: e.name, readonly: edit, placeholder: 'e.g. orders',
          help: '1 to 64 letters, digits, _ and -'},
        {name: 'subjects', label: 'Subjects', required: true, type: 'textarea', value: (e.subjects || []).join('\n'),
          placeholder: 'orders.>\nrefunds.*', help: '1 to 16 patterns, one per line (or comma separated); not overlapping another stream'},
        {section: 'Retention', note: 'Empty or 0: no limit.'},
        {name: 'max_msgs', label: 'Max messages', value: e.max_msgs ? String(e.max_msgs) : '', placeholder: 'e.g. 1000000'},
        {name: 'max_bytes', label: 'Max bytes', value: sizeInput(e.max_bytes), placeholder: 'e.g. 1g', help: 'of topic, headers and payload: 65536, 64m, 1g'},
        {name: 'max_age', label: 'Max age', value: durInput(e.max_age_ms), placeholder: 'e.g. 24h', help: 'ms, or with s, m, h, d, w'},
        {name: 'discard', label: 'At a limit', type: 'select', value: e.discard || 'old',
          options: [['old', 'discard old messages'], ['new', 'refuse new messages (STREAM_FULL)']]},
        {name: 'retention', label: 'Retention', type: 'select', value: e.retention || 'limits',
          options: [['limits', 'limits: keep until a limit removes them'], ['interest', 'interest: also drop what every group acknowledged']]},
        {name: 'max_msg_size', label: 'Max message size', value: sizeInput(e.max_msg_size), placeholder: 'the frame limit', help: 'empty: max-frame'},
        {name: 'dedup_window', label: 'Dedup window', value: edit ? durInput(e.dedup_window_ms, true) : '', placeholder: 'default 2m',
          help: 'how long a trpc-msg-id is remembered; 0: off; empty: 2 minutes'},
        {section: 'Consumer group defaults (optional)', note: 'Groups take these unless they declare their own.'},
        {name: 'max_deliveries', label: 'Max deliveries', value: e.max_deliveries != null ? String(e.max_deliveries) : '', placeholder: 'unset (no limit)'},
        {name: 'ack_wait', label: 'Ack wait', value: e.ack_wait_ms != null ? durInput(e.ack_wait_ms, true) : '', placeholder: 'unset (30s)'},
        {name: 'backoff', label: 'Backoff', value: e.backoff || '', placeholder: 'e.g. 100,2,60000,0.2', help: 'initial ms, factor, max ms, jitter'},
        {name: 'dlq', label: 'Dead-letter topic', value: e.dlq || '', placeholder: 'e.g. dlq.orders', help: 'not matched by this stream\'s subjects'},
      ],
      async onSubmit(v) {
        const doc = {name: v.name.trim(), subjects: v.subjects.split(/[\s,]+/).filter(Boolean)};
        const put = (k, x) => { if (x != null) doc[k] = x; };
        put('max_msgs', parseCount(v.max_msgs, 'Max messages'));
        put('max_bytes', parseSize(v.max_bytes));
        put('max_age_ms', parseDuration(v.max_age));
        doc.discard = v.discard;
        doc.retention = v.retention;
        put('max_msg_size', parseSize(v.max_msg_size));
        put('dedup_window_ms', parseDuration(v.dedup_window));
        put('max_deliveries', parseCount(v.max_deliveries, 'Max deliveries'));
        put('ack_wait_ms', parseDuration(v.ack_wait));
        if (v.backoff.trim()) doc.backoff = v.backoff.trim();
        if (v.dlq.trim()) doc.dlq = v.dlq.trim();
        if (!doc.name) throw new Error('a name is needed');
        if (!doc.subjects.length) throw new Error('at least one subject is needed');
        if (edit) {
          const r = await api('stream.edit', doc);
          toast(r.updated === false ? `Stream ${doc.name}: same definition, nothing changed` : `Stream ${doc.name} updated`, 'ok');
        } else {
          const r = await api('stream.add', doc);
          toast(r.created === false ? `Stream ${doc.name} exists with this definition (nothing changed)` : `Stream ${doc.name} added`, 'ok');
          location.hash = pageLink('streams', doc.name);
        }
        refreshNow();
      },
    });
  }

  function groupDialog(s) {
    formDialog({
      title: `Add consumer group to ${s.name}`,
      intro: 'Declares a group with its delivery policy before any member subscribes (group.add). Members then subscribe with :durable NAME on the same pattern.',
      testid: 'group-dialog',
      submit: 'Add group',
      fields: [
        {name: 'name', label: 'Name', required: true, placeholder: 'billing', help: '1 to 64 letters, digits, _ and -'},
        {name: 'pattern', label: 'Pattern', placeholder: (s.subjects || []).length === 1 ? s.subjects[0] : 'covered by a subject',
          help: 'empty: the stream\'s subject, when it has exactly one'},
        {name: 'start', label: 'Start', value: 'all', help: 'all, new, seq:N or time:2026-12-05T10:00:00Z'},
        {name: 'max_deliveries', label: 'Max deliveries', placeholder: 'stream default'},
        {name: 'ack_wait', label: 'Ack wait', placeholder: 'stream default (30s)', help: 'ms, or with s, m, h'},
        {name: 'backoff', label: 'Backoff', placeholder: '100,2,60000,0.2', help: 'initial ms, factor, max ms, jitter'},
        {name: 'dlq', label: 'Dead-letter topic', placeholder: 'dlq.' + s.name, help: 'a stream dlq-<topic> is added when none keeps it'},
      ],
      async onSubmit(v) {
        const doc = {stream: s.name, name: v.name.trim()};
        if (!doc.name) throw new Error('a name is needed');
        if (v.pattern.trim()) doc.pattern = v.pattern.trim();
        if (v.start.trim()) doc.start = v.start.trim();
        const md = parseCount(v.max_deliveries, 'Max deliveries');
        if (md != null) doc.max_deliveries = md;
        const aw = parseDuration(v.ack_wait);
        if (aw != null) doc.ack_wait_ms = aw;
        if (v.backoff.trim()) doc.backoff = v.backoff.trim();
        if (v.dlq.trim()) doc.dlq = v.dlq.trim();
        const r = await api('group.add', doc);
        toast(r.created === false ? `Group ${doc.name} exists with this policy (nothing changed)` : `Group ${doc.name} added to ${s.name}`, 'ok');
        refreshNow();
      },
    });
  }

  function resetDialog(g) {
    const s = info || {};
    formDialog({
      title: `Reset group ${g.name}`,
      intro: `Moves where the group reads in ${s.name}. Every message it had delivered and not settled (${fmtInt(g.pending)} now) is forgotten; the members stay. Give a sequence or a time.`,
      testid: 'reset-dialog',
      submit: 'Reset group',
      danger: true,
      fields: [
        {name: 'seq', label: 'Sequence', type: 'number', value: isNum(s.first_seq) ? String(s.first_seq) : '',
          help: `kept: ${seqText(s)}; below the oldest reads from the oldest`},
        {name: 'time', label: 'or time', placeholder: '2026-12-05T10:00:00Z', help: 'RFC 3339: reads from the first message stored at or after it'},
      ],
      async onSubmit(v) {
        const doc = {stream: s.name, name: g.name};
        const seq = v.seq.trim(), time = v.time.trim();
        if (time && seq && seq !== String(s.first_seq)) throw new Error('give a sequence or a time, not both');
        if (time) doc.time = time;
        else if (seq) doc.seq = parseCount(seq, 'Sequence');
        else throw new Error('give a sequence or a time');
        const r = await api('group.reset', doc);
        toast(`Group ${g.name} reset to ${doc.time ? doc.time : 'seq ' + doc.seq}` +
          (isNum(r.dropped) ? `; ${fmtInt(r.dropped)} unsettled deliveries forgotten` : ''), 'ok');
        refreshNow();
      },
    });
  }

  async function purgeStream(s, b) {
    if (!confirm(`Purge stream ${s.name}?\n\nEvery message it holds (${fmtInt(s.messages)} messages, ${fmtBytes(s.bytes)}) is removed. ` +
      'The definition stays; consumer groups skip what was removed.')) return;
    await act(b, () => api('stream.purge', {name: s.name}), r => `Purged ${fmtInt(r.purged)} messages from ${s.name}`);
  }

  async function deleteStream(s, b) {
    if (!confirm(`Delete stream ${s.name}?\n\nIts definition, its ${fmtInt(s.messages)} messages and its ${fmtInt(s.groups)} consumer groups go; members get UNAVAILABLE. This cannot be undone.`)) return;
    const r = await act(b, () => api('stream.delete', {name: s.name}), `Stream ${s.name} deleted`);
    if (r) location.hash = '#/streams';
  }

  async function deleteGroup(g, b) {
    const stream = selectedName;
    if (!confirm(`Delete consumer group ${g.name} of ${stream}?\n\nIts ${fmtInt(g.members)} members' subscriptions end and its ${fmtInt(g.pending)} unsettled messages are forgotten. The stream's messages stay.`)) return;
    await act(b, () => api('group.delete', {stream, name: g.name}), `Group ${g.name} deleted`);
  }

  /* ---------------- rendering */

  function renderList() {
    listTable.setRows(streams);
    listTable.select(selectedName);
  }

  function dlqLink(topic) {
    if (topic == null) return h('span', {class: 'muted', text: 'none'});
    const st = streamForTopic(topic, streams);
    if (!st) return h('span', {class: 'mono', text: String(topic), title: 'no stream keeps this topic now'});
    return h('a', {class: 'mono', href: pageLink('dlq', st.name), text: String(topic), title: `dead letters in stream ${st.name}`});
  }

  function renderDetail() {
    detail.hidden = selectedName == null;
    if (selectedName == null) return;
    setText(detailTitle, selectedName);
    const s = info;
    const kids = [];
    if (detailError) kids.push(h('div', {class: 'banner banner-error', role: 'alert', text: errText(detailError)}));
    if (s) {
      if (s.error) kids.push(h('div', {class: 'banner banner-error', text: `Log error: ${s.error} (PUBs get STORAGE_FAILED)`}));
      if (s.recovery) kids.push(h('div', {class: 'banner banner-warn', text: `Recovery: ${typeof s.recovery === 'string' ? s.recovery : JSON.stringify(s.recovery)}`}));
      kids.push(h('div', {class: 'grid grid-3'},
        card('Definition', kvList([
          ['subjects', h('span', {class: 'mono wrap', text: (s.subjects || []).join(', ')})],
          ['retention', s.retention],
          ['max messages', Number(s.max_msgs) ? fmtInt(s.max_msgs) : 'none'],
          ['max bytes', Number(s.max_bytes) ? [fmtBytes(s.max_bytes), fmtInt(s.max_bytes) + ' bytes'] : 'none'],
          ['max age', fmtMs(s.max_age_ms, true)],
          ['discard', s.discard],
          ['max message size', Number(s.max_msg_size) ? fmtBytes(s.max_msg_size) : 'frame limit'],
          ['dedup window', Number(s.dedup_window_ms) ? fmtMs(s.dedup_window_ms) : 'off'],
          ['created', s.created ? timeEl(s.created) : DASH],
          ['owner core', s.core],
          ['direct I/O', fmtBool(s.direct_io)],
        ])),
        card('State', kvList([
          ['messages', fmtInt(s.messages)],
          ['bytes', [fmtBytes(s.bytes), fmtInt(s.bytes) + ' bytes']],
          ['sequences', seqText(s)],
          ['stored', [fmtInt(s.stored), 'PUBs stored since the broker started']],
          ['stored/s', fmtNum(storedRate[s.name])],
          ['refused', [fmtInt(s.refused), 'full stream (discard new), full queue or failed log']],
          ['expired', [fmtInt(s.expired), 'removed by retention since the broker started']],
          ['duplicates', fmtInt(s.duplicates)],
          ['deleted', [fmtInt(s.deleted), 'deleted one by one (redriven dead letters), not yet removed by retention']],
          ['pending', [fmtInt(s.pending), 'PUBs waiting for the disk']],
          ['groups', fmtInt(s.groups)],
        ])),
        card('Consumer group defaults', kvList([
          ['max deliveries', s.max_deliveries == null ? 'unset' : Number(s.max_deliveries) === 0 ? 'no limit' : fmtInt(s.max_deliveries)],
          ['ack wait', s.ack_wait_ms == null ? 'unset' : fmtMs(s.ack_wait_ms)],
          ['backoff', s.backoff == null ? 'unset' : s.backoff],
          ['dead-letter topic', s.dlq == null ? 'unset' : dlqLink(s.dlq)],
        ]))));
    }
    setKids(detailBody, ...kids);
    groupTable.setRows(groups);
    setText(detailNote, `${fmtInt(groups.length)} of at most 6`);
  }

  function policyText(g) {
    const p = [];
    p.push(Number(g.max_deliveries) ? `${g.max_deliveries}×` : '∞');
    if (isNum(g.ack_wait_ms)) p.push(fmtMs(g.ack_wait_ms));
    if (g.backoff) p.push('backoff');
    return p.join(' · ');
  }

  registerPage('streams', {
    title: 'Streams',
    init(section) {
      listTable = new DataTable({
        label: 'Streams', key: s => s.name, empty: 'No streams. Add one, or let a consumer group\'s dead-letter topic make one.',
        onRowClick: s => { location.hash = pageLink('streams', s.name); },
        rowAttrs: (tr, s) => { tr.dataset.testid = 'stream-row'; tr.dataset.name = s.name; },
        rowClass: s => (s.error ? 'row-bad' : ''),
        columns: [
          {label: 'name', key: 'name', cls: () => 'mono strong'},
          {label: 'subjects', value: s => (s.subjects || []).join(','), text: s => (s.subjects || []).join(', '), cls: () => 'mono ellipsis',
            title: s => (s.subjects || []).join('\n')},
          {label: 'messages', key: 'messages', num: true, text: s => fmtInt(s.messages)},
          {label: 'bytes', key: 'bytes', num: true, text: s => fmtBytes(s.bytes)},
          {label: 'sequences', value: s => s.last_seq, text: seqText},
          {label: 'stored/s', value: s => storedRate[s.name], num: true, text: s => fmtNum(storedRate[s.name])},
          {label: 'groups', key: 'groups', num: true},
          {label: 'limits', value: limitsText, text: limitsText, cls: s => (limitsText(s) === 'none' ? 'muted' : '')},
          {label: 'retention', key: 'retention'},
          {label: 'refused', key: 'refused', num: true, text: s => fmtInt(s.refused), cls: s => (Number(s.refused) ? 'warn-text' : '')},
          {label: 'expired', key: 'expired', num: true, text: s => fmtInt(s.expired), opt: true},
          {label: 'core', key: 'core', num: true, opt: true},
          {label: 'status', value: s => (s.error ? 1 : 0), cell: (td, s) => {
            const want = s.error ? 'error' : 'ok';
            if (td.dataset.v !== want) {
              td.dataset.v = want;
              setKids(td, badge(want, s.error ? 'bad' : 'ok', s.error ? String(s.error) : null));
            }
          }},
        ],
      });
      groupTable = new DataTable({
        label: 'Consumer groups', key: g => g.name, empty: 'No consumer groups.', class: 'compact opt-narrow',
        rowAttrs: (tr, g) => { tr.dataset.testid = 'group-row'; tr.dataset.name = g.name; },
        columns: [
          {label: 'group', key: 'name', cls: () => 'mono strong', title: g => `policy: ${policyText(g)}\nmax deliveries: ${Number(g.max_deliveries) ? g.max_deliveries : 'no limit'}\nack wait: ${fmtMs(g.ack_wait_ms)}\nbackoff: ${g.backoff == null ? 'none' : g.backoff}`},
          {label: 'pattern', key: 'pattern', cls: () => 'mono'},
          {label: 'members', key: 'members', num: true, cls: g => (Number(g.members) ? '' : 'warn-text')},
          {label: 'next seq', key: 'next_seq', num: true, text: g => fmtInt(g.next_seq), help: 'first sequence the group has not read yet'},
          {label: 'lag', key: 'lag', num: true, text: g => fmtInt(g.lag), help: 'messages stored from next seq on', cls: g => (Number(g.lag) ? 'strong' : '')},
          {label: 'pending', key: 'pending', num: true, text: g => fmtInt(g.pending), help: 'delivered and not settled (in flight + waiting + lost)'},
          {label: 'in flight', key: 'inflight', num: true, text: g => fmtInt(g.inflight), help: 'pending, with a member (ack pending)'},
          {label: 'waiting', key: 'waiting', num: true, text: g => fmtInt(g.waiting), help: 'pending, waiting for backoff or a member with room'},
          {label: 'lost', key: 'lost', num: true, text: g => fmtInt(g.lost), help: 'known from before a restart, not read again yet', opt: true},
          {label: 'delivered', key: 'delivered', num: true, text: g => fmtInt(g.delivered)},
          {label: 'redelivered', key: 'redelivered', num: true, text: g => fmtInt(g.redelivered)},
          {label: 'acked', key: 'acked', num: true, text: g => fmtInt(g.acked)},
          {label: 'dead', key: 'dead', num: true, text: g => fmtInt(g.dead), help: 'dead-lettered', cls: g => (Number(g.dead) ? 'warn-text' : '')},
          {label: 'termed', key: 'termed', num: true, text: g => fmtInt(g.termed), opt: true},
          {label: 'expired', key: 'expired', num: true, text: g => fmtInt(g.expired)},
          {label: 'dlq', value: g => g.dlq, help: 'dead-letter topic', cell: (td, g) => {
            const key = String(g.dlq);
            if (td.dataset.v !== key) { td.dataset.v = key; setKids(td, dlqLink(g.dlq)); }
          }},
          {label: '', nosort: true, actions: true, cell: td => {
            if (td.firstChild) return;
            td.append(h('div', {class: 'row-actions'},
              h('button', {type: 'button', class: 'btn btn-sm', text: 'Reset…', testid: 'reset-group',
                onclick: () => resetDialog(td.parentNode._row)}),
              h('button', {type: 'button', class: 'btn btn-sm btn-danger-ghost', text: 'Delete', testid: 'delete-group',
                onclick: ev => deleteGroup(td.parentNode._row, ev.currentTarget)})));
          }},
        ],
      });
      detailTitle = h('h2', {class: 'detail-title mono'});
      detailBody = h('div');
      detailNote = h('span', {class: 'muted small'});
      const cur = () => info || streams.find(s => s.name === selectedName);
      detail = h('section', {class: 'detail', hidden: true, testid: 'stream-detail', 'aria-label': 'Stream detail'},
        h('div', {class: 'detail-head'},
          h('div', {class: 'detail-name'}, h('span', {class: 'muted', text: 'Stream'}), detailTitle),
          h('div', {class: 'page-actions'},
            btn('Add group…', () => cur() && groupDialog(cur()), {testid: 'add-group'}),
            btn('Edit…', () => cur() && streamDialog(cur()), {testid: 'edit-stream'}),
            btn('Purge…', ev => cur() && purgeStream(cur(), ev.currentTarget), {cls: 'btn-warn', testid: 'purge-stream'}),
            btn('Delete…', ev => cur() && deleteStream(cur(), ev.currentTarget), {cls: 'btn-danger', testid: 'delete-stream'}),
            btn('✕', () => { location.hash = '#/streams'; }, {cls: 'btn-ghost', label: 'Close stream detail', title: 'Close'}))),
        detailBody,
        h('section', {class: 'card card-flush'},
          h('div', {class: 'card-title-row'}, h('h2', {class: 'card-title', text: 'Consumer groups'}), detailNote),
          groupTable.el));
      section.append(
        pageHead('Streams', 'Stored topics and their consumer groups (stream.list, group.list)',
          btn('Add stream…', () => streamDialog(null), {cls: 'btn-primary', testid: 'add-stream'})),
        h('div', {class: 'card card-flush'}, listTable.el),
        detail);
    },
    show(arg) {
      const name = arg == null ? null : String(arg);
      if (name !== selectedName) {
        selectedName = name;
        info = streams.find(s => s.name === name) || null;
        groups = [];
        detailError = null;
        renderList();
        renderDetail();
        if (name != null) setTimeout(() => detail.scrollIntoView({block: 'nearest', behavior: 'smooth'}), 50);
      }
    },
    async refresh() {
      const name = selectedName;
      const [list, si, gl] = await Promise.all([
        api('stream.list'),
        name != null ? api('stream.info', {name}).catch(e => e) : null,
        name != null ? api('group.list', {stream: name}).catch(e => e) : null,
      ]);
      streams = Array.isArray(list.streams) ? list.streams : [];
      streamCache = streams;
      const now = Date.now();
      storedRate = {};
      for (const s of streams) {
        const p = prevStored.get(s.name);
        if (p && now > p.t && Number(s.stored) >= p.v) storedRate[s.name] = (Number(s.stored) - p.v) / ((now - p.t) / 1000);
        prevStored.set(s.name, {v: Number(s.stored) || 0, t: now});
      }
      renderList();
      if (name !== selectedName) return;
      if (name != null) {
        detailError = null;
        if (si instanceof Error) {
          detailError = si.code === 'NOT_FOUND' ? new ApiError('NOT_FOUND', `stream ${name} does not exist (any more)`) : si;
          info = null;
        } else {
          info = si.stream || si;
        }
        if (gl instanceof Error) {
          if (!detailError) detailError = gl;
          groups = [];
        } else {
          groups = Array.isArray(gl.groups) ? gl.groups : [];
        }
      }
      renderDetail();
    },
  });
})();
