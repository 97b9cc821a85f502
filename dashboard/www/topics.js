'use strict';
/* Topics: the subscriptions of subs.list, paged, filtered, and counted per pattern. */

(() => {
  let subs = [];
  let everySub = null;       /* with a filter and more than one page: every subscription (up to 10,000) */
  let everyTotal = 0;
  const MAX_SHOWN = 2000;
  let pager, filter, patternTable, subTable, note;

  function matches(s, f) {
    if (!f) return true;
    return String(s.pattern).toLowerCase().includes(f) ||
      (s.group != null && String(s.group).toLowerCase().includes(f)) ||
      String(s.client).includes(f);
  }

  function render() {
    const f = filter.value.trim().toLowerCase();
    const all = f && everySub ? everySub : subs;
    const rows = all.filter(s => matches(s, f));
    const byPattern = new Map();
    for (const s of rows) {
      let p = byPattern.get(s.pattern);
      if (!p) {
        p = {pattern: s.pattern, subs: 0, plain: 0, groups: new Set(), clients: new Set(), delivered: 0};
        byPattern.set(s.pattern, p);
      }
      p.subs++;
      if (s.group == null) p.plain++;
      else p.groups.add(s.group);
      p.clients.add(String(s.client));
      p.delivered += Number(s.delivered) || 0;
    }
    const pats = [...byPattern.values()].sort((a, b) => b.subs - a.subs || cmp(a.pattern, b.pattern));
    patternTable.setRows(pats);
    subTable.setRows(rows.length > MAX_SHOWN ? rows.slice(0, MAX_SHOWN) : rows);
    const empty = f ? 'No subscription matches the filter.' : 'No subscriptions.';
    patternTable.setEmpty(empty);
    subTable.setEmpty(empty);
    pager.el.hidden = !!(f && everySub);
    let t;
    if (f && everySub) {
      t = `${fmtInt(rows.length)} of ${fmtInt(everyTotal)} subscriptions match` +
        (everyTotal > everySub.length ? ` (the first ${fmtInt(everySub.length)} searched)` : '');
    } else if (f) {
      t = `${fmtInt(rows.length)} of ${fmtInt(subs.length)} match` + (pager.total > subs.length ? ' on this page; searching all…' : '');
    } else {
      t = pager.total > subs.length ? `per-pattern counts cover this page (${fmtInt(subs.length)} of ${fmtInt(pager.total)})` : '';
    }
    if (rows.length > MAX_SHOWN) t += `; the first ${fmtInt(MAX_SHOWN)} listed`;
    setText(note, `${fmtInt(pats.length)} patterns` + (t ? ' · ' + t : ''));
  }

  registerPage('topics', {
    title: 'Topics',
    init(section) {
      pager = new Pager(() => refreshNow(), {sizes: [250, 1000, 5000], size: 1000, label: 'subscriptions'});
      const search = debounce(() => refreshNow());
      filter = filterInput('Filter by pattern, group or client id', () => { render(); search(); }, 'topics-filter');
      note = h('span', {class: 'muted small'});
      patternTable = new DataTable({
        label: 'Subscriptions per pattern', key: p => p.pattern, class: 'compact',
        onRowClick: p => { filter.value = p.pattern; render(); refreshNow(); },
        rowAttrs: (tr, p) => { tr.dataset.testid = 'pattern-row'; tr.dataset.pattern = p.pattern; tr.title = 'Click to filter by this pattern'; },
        columns: [
          {label: 'pattern', key: 'pattern', cls: () => 'mono wrap'},
          {label: 'subscriptions', key: 'subs', num: true, text: p => fmtInt(p.subs)},
          {label: 'plain', key: 'plain', num: true, text: p => fmtInt(p.plain), help: 'subscriptions without a queue group'},
          {label: 'groups', value: p => p.groups.size, text: p => (p.groups.size ? [...p.groups].join(', ') : DASH), cls: () => 'wrap'},
          {label: 'clients', value: p => p.clients.size, num: true, text: p => fmtInt(p.clients.size)},
          {label: 'delivered', key: 'delivered', num: true, text: p => fmtInt(p.delivered)},
        ],
      });
      subTable = new DataTable({
        label: 'Subscriptions', key: s => `${s.client}/${s.sid}`,
        rowAttrs: tr => { tr.dataset.testid = 'sub-row'; },
        columns: [
          {label: 'pattern', key: 'pattern', cls: () => 'mono wrap'},
          {label: 'group', key: 'group', text: s => (s.group == null ? DASH : String(s.group)), cls: s => (s.group == null ? 'muted' : '')},
          {label: 'client', key: 'client', value: s => Number(s.client), cell: (td, s) => {
            let a = td.firstChild;
            if (!a) { a = h('a', {class: 'mono'}); td.append(a); }
            a.href = pageLink('clients', s.client);
            setText(a, s.client);
            setTitle(a, 'Show client ' + s.client);
          }},
          {label: 'sid', key: 'sid', num: true},
          {label: 'delivered', key: 'delivered', num: true, text: s => fmtInt(s.delivered)},
        ],
      });
      section.append(
        pageHead('Topics', 'Subscriptions by pattern (subs.list)'),
        h('div', {class: 'toolbar'}, filter, note, h('div', {class: 'spacer'}), pager.el),
        h('section', {class: 'card card-flush block'},
          h('div', {class: 'card-title-row'}, h('h2', {class: 'card-title', text: 'Per pattern'}),
            h('span', {class: 'muted small', text: 'click a pattern to filter by it'})),
          h('div', {class: 'scroll-short'}, patternTable.el)),
        h('section', {class: 'card card-flush block'},
          h('div', {class: 'card-title-row'}, h('h2', {class: 'card-title', text: 'Subscriptions'})),
          subTable.el));
    },
    async refresh() {
      if (filter.value.trim() && (everySub || pager.total > subs.length)) {
        /* a filter covers every subscription, not one page */
        const all = await fetchAll('subs.list', 'subscriptions');
        everySub = all.items;
        everyTotal = all.total;
      } else {
        everySub = null;
        const d = await api('subs.list', {offset: pager.offset, limit: pager.size});
        subs = Array.isArray(d.subscriptions) ? d.subscriptions : [];
        pager.update(d.total, d.offset != null ? d.offset : pager.offset, subs.length);
        if (pager.emptyPastEnd()) return refreshNow();
      }
      render();
    },
  });
})();
