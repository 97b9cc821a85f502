'use strict';
/* Dead letters: a stream's dead letters (dlq.list) page by page, one inspected (stream.get:
 * headers and payload), redriven (dlq.redrive) or purged (dlq.purge). #/dlq/<stream>. */

(() => {
  const PAGE = 100;
  let streamName = null;
  let from = null;           /* first sequence of this page; null: the first kept */
  let back = [];             /* earlier pages' `from` */
  let reply = null;          /* the last dlq.list reply */
  let messages = [];
  let inspectSeq = null;
  let streamsSeen = '';
  let pick, reason, table, panel, info, result, bPrev, bNext, bFirst, emptyNote;

  const isDlq = s => /^dlq-/.test(s.name);

  function renderPicker(streams) {
    const sig = streams.map(s => s.name).join('\n');
    if (sig !== streamsSeen) {
      streamsSeen = sig;
      const dl = streams.filter(isDlq), other = streams.filter(s => !isDlq(s));
      setKids(pick,
        h('option', {value: '', text: streams.length ? '— choose a stream —' : '— no streams —'}),
        dl.length ? h('optgroup', {label: 'Dead-letter streams'}, dl.map(s => h('option', {value: s.name, text: s.name}))) : null,
        other.length ? h('optgroup', {label: 'Other streams'}, other.map(s => h('option', {value: s.name, text: s.name}))) : null);
    }
    if (streamName != null && !streams.some(s => s.name === streamName)) {
      pick.append(h('option', {value: streamName, text: streamName + ' (not found)'}));
      streamsSeen = '';
    }
    pick.value = streamName || '';
  }

  function setStream(name) {
    streamName = name || null;
    from = null;
    back = [];
    reply = null;
    messages = [];
    table.setRows([]);
    closeInspect();
    setText(result, '');
    result.hidden = true;
    renderNav();
  }

  function selection() {
    return reason.value ? {reason: reason.value} : {};
  }

  function renderNav() {
    const has = streamName != null;
    emptyNote.hidden = has;
    bFirst.disabled = bPrev.disabled = !has || !back.length;
    bNext.disabled = !has || !reply || !reply.more;
    if (!has) { setText(info, ''); return; }
    if (!reply) { setText(info, 'Loading…'); return; }
    const first = messages.length ? messages[0].seq : null, last = messages.length ? messages[messages.length - 1].seq : null;
    setText(info, messages.length
      ? `seq ${fmtInt(first)}–${fmtInt(last)} · ${fmtInt(messages.length)} shown${reply.more ? ', more after' : ''}${reason.value ? ` · reason ${reason.value}` : ''}`
      : `no dead letters${reason.value ? ` with reason ${reason.value}` : ''}${back.length ? ' on this page' : ''}`);
  }

  function showResult(kind, r) {
    const done = kind === 'redrive' ? r.redriven : r.purged;
    const verb = kind === 'redrive' ? 'redriven' : 'purged';
    const text = `${fmtInt(done)} ${verb}, ${fmtInt(r.failed)} failed, ${fmtInt(r.skipped)} skipped` +
      (r.why ? ` — ${r.why}` : '') + (r.more ? ` · more left from seq ${r.next_seq}: run it again` : '');
    result.hidden = false;
    result.className = 'banner ' + (Number(r.failed) || Number(r.skipped) ? 'banner-warn' : 'banner-ok');
    setText(result, `${kind === 'redrive' ? 'Redrive' : 'Purge'}: ${text}`);
    toast(`${streamName}: ${text}`, Number(r.failed) ? 'error' : 'ok');
  }

  async function run(kind, sel, question, button) {
    if (!confirm(question)) return;
    const doc = {stream: streamName, ...sel};
    const r = await act(button, () => api(kind === 'redrive' ? 'dlq.redrive' : 'dlq.purge', doc));
    if (r) {
      showResult(kind, r);
      if (sel.seq != null && inspectSeq === sel.seq) closeInspect();
    }
  }

  function redriveOne(m, b) {
    run('redrive', {seq: m.seq}, `Redrive dead letter ${m.seq} of ${streamName}?\n\nIt is published again on ${m.origin_topic || '(its origin topic)'} ` +
      'into the stream that keeps that topic now, then deleted from here.', b);
  }

  function purgeOne(m, b) {
    run('purge', {seq: m.seq}, `Purge dead letter ${m.seq} of ${streamName}?\n\nIt is deleted for good.`, b);
  }

  function bulk(kind, b) {
    const what = reason.value ? `every dead letter with reason "${reason.value}"` : 'every dead letter';
    const q = kind === 'redrive'
      ? `Redrive ${what} of ${streamName}?\n\nEach is published again on its origin topic, then deleted from here (at most 1000 per call).`
      : `Purge ${what} of ${streamName}?\n\nThey are deleted for good (at most 1000 per call).`;
    run(kind, {all: true, ...selection()}, q, b);
  }

  function closeInspect() {
    inspectSeq = null;
    table.select(null);
    panel.el.hidden = true;
    panel.el.parentNode.classList.remove('has-panel');
    setKids(panel.actions);
  }

  async function inspect(m) {
    inspectSeq = m.seq;
    table.select(m.seq);
    panel.el.hidden = false;
    panel.el.parentNode.classList.add('has-panel');
    setText(panel.title, `Dead letter ${m.seq}`);
    const stream = streamName;
    /* in the panel's header: the headers below can be long */
    setKids(panel.actions,
      btn('Redrive', ev => redriveOne(m, ev.currentTarget), {cls: 'btn-sm btn-primary', testid: 'redrive', title: 'Publish it again on its origin topic (dlq.redrive)'}),
      btn('Purge', ev => purgeOne(m, ev.currentTarget), {cls: 'btn-sm btn-danger', testid: 'purge-message', title: 'Delete this dead letter (dlq.purge)'}));
    const meta = kvList([
      ['reason', m.reason == null ? DASH : h('span', null, badge(String(m.reason), 'warn'), m.term_reason ? ` ${m.term_reason}` : '')],
      ['origin topic', h('span', {class: 'mono', text: orDash(m.origin_topic)})],
      ['origin stream', m.origin_stream == null ? DASH : h('a', {href: pageLink('streams', m.origin_stream), text: String(m.origin_stream)})],
      ['origin seq', m.origin_seq],
      ['group', m.group],
      ['deliveries', m.deliveries],
      ['last client', m.last_client == null ? DASH : h('a', {href: pageLink('clients', m.last_client), class: 'mono', text: String(m.last_client)})],
      ['first delivery', m.first_delivery ? timeEl(m.first_delivery) : DASH],
      ['last delivery', m.last_delivery ? timeEl(m.last_delivery) : DASH],
      ['dead-lettered', m.time ? timeEl(m.time) : DASH],
    ], 'kv-wide');
    const msgBox = h('div', null, h('p', {class: 'muted small', text: 'Loading stream.get…'}));
    setKids(panel.body, meta, h('h3', {class: 'panel-sub', text: 'Message'}), msgBox);
    panel.el.focus({preventScroll: true});
    try {
      const g = await api('stream.get', {name: stream, seq: m.seq});
      if (inspectSeq !== m.seq || streamName !== stream) return;
      setKids(msgBox,
        kvList([['topic', h('span', {class: 'mono', text: orDash(g.topic)})], ['stored', g.time ? timeEl(g.time) : DASH],
          ['size', [fmtBytes(g.size), fmtInt(g.size) + ' bytes']]], 'kv-wide'),
        h('h3', {class: 'panel-sub', text: 'Headers'}), headersTable(g.headers),
        h('h3', {class: 'panel-sub', text: 'Payload'}), payloadView(g.payload_base64, g.size));
    } catch (e) {
      if (inspectSeq === m.seq) setKids(msgBox, h('div', {class: 'banner banner-error', text: errText(e)}));
    }
  }

  function preview(m) {
    if (m.payload != null) {
      const t = String(m.payload).replace(/\s+/g, ' ');
      return t.length > 80 ? t.slice(0, 80) + '…' : t;
    }
    return `(binary, ${fmtBytes(m.size)})`;
  }

  registerPage('dlq', {
    title: 'Dead letters',
    init(section) {
      pick = h('select', {class: 'input', id: 'dlq-stream', testid: 'dlq-stream',
        onchange: () => { location.hash = pick.value ? pageLink('dlq', pick.value) : '#/dlq'; }});
      reason = h('select', {class: 'input', id: 'dlq-reason', testid: 'dlq-reason',
        onchange: () => { from = null; back = []; closeInspect(); refreshNow(); }},
      [['', 'any reason'], ['nack', 'nack'], ['timeout', 'timeout'], ['member left', 'member left'], ['term', 'term']]
        .map(([v, l]) => h('option', {value: v, text: l})));
      info = h('span', {class: 'muted small', 'aria-live': 'polite'});
      bFirst = btn('«', () => { from = null; back = []; refreshNow(); }, {cls: 'btn-sm', label: 'First page', title: 'First page'});
      bPrev = btn('‹ Prev', () => { from = back.length ? back.pop() : null; refreshNow(); }, {cls: 'btn-sm', label: 'Previous page'});
      bNext = btn('Next ›', () => {
        if (!reply || !reply.more) return;
        back.push(from);
        from = reply.next_seq;
        refreshNow();
      }, {cls: 'btn-sm', label: 'Next page'});
      result = h('div', {class: 'banner', role: 'status', testid: 'dlq-result', hidden: true});
      emptyNote = h('div', {class: 'banner banner-info',
        text: 'Choose the stream that keeps a dead-letter topic. A consumer group with a dead-letter topic (trpc-dlq, or dlq in group.add) gets one named dlq-<topic>.'});
      table = new DataTable({
        label: 'Dead letters', key: m => m.seq, empty: 'No dead letters.',
        onRowClick: m => inspect(m),
        rowAttrs: (tr, m) => { tr.dataset.testid = 'dlq-row'; tr.dataset.seq = String(m.seq); },
        columns: [
          {label: 'seq', key: 'seq', num: true, text: m => String(m.seq)},
          {label: 'dead-lettered', key: 'time', text: m => fmtAgo(m.time), title: m => fmtAbs(m.time)},
          {label: 'reason', key: 'reason', cell: (td, m) => {
            const k = `${m.reason}|${m.term_reason}`;
            if (td.dataset.v === k) return;
            td.dataset.v = k;
            setKids(td, m.reason == null ? h('span', {class: 'muted', text: 'not a dead letter'}) : badge(String(m.reason), 'warn'),
              m.term_reason ? h('span', {class: 'small', text: ' ' + m.term_reason}) : null);
          }},
          {label: 'origin topic', key: 'origin_topic', cls: () => 'mono'},
          {label: 'origin', value: m => m.origin_stream, text: m => (m.origin_stream == null ? DASH : `${m.origin_stream} #${m.origin_seq}`), opt: true},
          {label: 'group', key: 'group'},
          {label: 'deliveries', key: 'deliveries', num: true, value: m => Number(m.deliveries)},
          {label: 'size', key: 'size', num: true, text: m => fmtBytes(m.size), opt: true},
          {label: 'payload', nosort: true, text: preview, cls: m => (m.payload == null ? 'muted ellipsis' : 'mono ellipsis'), title: m => (m.payload == null ? '' : String(m.payload).slice(0, 500))},
        ],
      });
      panel = sidePanel('Dead letter', () => closeInspect());
      panel.el.dataset.testid = 'dlq-detail';
      panel.el.classList.add('panel-wide');
      section.append(
        pageHead('Dead letters', 'Messages consumer groups gave up on (dlq.list)',
          btn('Redrive all…', ev => bulk('redrive', ev.currentTarget), {testid: 'redrive-all', title: 'dlq.redrive {"all": true} (with the reason filter)'}),
          btn('Purge all…', ev => bulk('purge', ev.currentTarget), {cls: 'btn-danger', testid: 'purge-all', title: 'dlq.purge {"all": true} (with the reason filter)'})),
        h('div', {class: 'toolbar'},
          h('label', {for: 'dlq-stream', class: 'inline-label', text: 'Stream'}), pick,
          h('label', {for: 'dlq-reason', class: 'inline-label', text: 'Reason'}), reason,
          h('div', {class: 'spacer'}), info, bFirst, bPrev, bNext),
        emptyNote, result,
        h('div', {class: 'split'}, h('div', {class: 'split-main card card-flush'}, table.el), panel.el));
    },
    show(arg) {
      const name = arg == null ? null : String(arg);
      if (name !== streamName) setStream(name);
    },
    async refresh() {
      const list = await api('stream.list');
      const streams = Array.isArray(list.streams) ? list.streams : [];
      streamCache = streams;
      if (streamName == null) {
        const first = streams.find(isDlq);
        if (first && parseHash().name === 'dlq') {
          location.replace(pageLink('dlq', first.name));
          return;
        }
      }
      renderPicker(streams);
      for (const b of section().querySelectorAll('[data-testid=redrive-all], [data-testid=purge-all]')) b.disabled = streamName == null;
      if (streamName == null) { renderNav(); return; }
      const name = streamName, f = from;
      const doc = {stream: name, limit: PAGE, ...selection()};
      if (f != null) doc.from = f;
      const r = await api('dlq.list', doc);
      if (name !== streamName || f !== from) return;
      reply = r;
      messages = Array.isArray(r.messages) ? r.messages : [];
      table.setRows(messages);
      table.setEmpty(reason.value ? `No dead letters with reason ${reason.value}.` : 'No dead letters.');
      table.select(inspectSeq);
      renderNav();
    },
  });

  const section = () => document.getElementById('page-dlq');
})();
