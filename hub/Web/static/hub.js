// Belay hub: the page's only script. No framework, no build step. Everything a host reported is
// put into the page as text (textContent), never as markup: a hostile agent can name a program
// anything. State-changing calls carry the CSRF token of the page (<meta name="csrf">).
'use strict';

const csrf = () => document.querySelector('meta[name="csrf"]').content;
const $ = (id) => document.getElementById(id);
const isAdmin = () => document.body.dataset.role === 'admin';

async function api(path, options = {}) {
  const init = { credentials: 'same-origin', headers: { 'Accept': 'application/json' }, ...options };
  if (init.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(init.body);
  }
  if (init.method && init.method !== 'GET') init.headers['X-CSRF-Token'] = csrf();
  const response = await fetch('/api/v1' + path, init);
  if (response.status === 401) {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
    throw new Error('signed out');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || ('HTTP ' + response.status));
  return body;
}

// el('td', {class: 'mono', title: 'x'}, 'text', otherNode): children are text or nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function ago(iso) {
  if (!iso) return 'never';
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return Math.floor(seconds) + ' s ago';
  if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago';
  if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ago';
  return Math.floor(seconds / 86400) + ' d ago';
}

function since(iso) {
  if (!iso) return '';
  return ago(iso).replace(' ago', '');
}

function stamp(iso) {
  return iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

function chip(name, state, kind) {
  return el('span', { class: 'chip ' + state + (kind ? ' ' + kind : ''), title: (kind === 'app' ? 'app ' : 'program ') + name + ': ' + state }, name);
}

function connection(host) {
  if (host.revoked) return el('span', { class: 'dot revoked' }, 'revoked');
  if (host.connected) return el('span', { class: 'dot on', title: 'connected since ' + stamp(host.connectedSince) }, 'connected');
  return el('span', { class: 'dot' }, 'disconnected');
}

function lastCheck(check) {
  if (!check || !check.at) return el('span', { class: 'sub' }, '–');
  return el('span', { class: 'result-' + (check.result || ''), title: (check.error || check.result || '') + ' at ' + stamp(check.at) },
    ago(check.at), ' · ', check.result || '?');
}

function markNav() {
  const page = document.body.dataset.page;
  for (const link of document.querySelectorAll('[data-nav]')) link.classList.toggle('active', link.dataset.nav === page);
}

// --- the fleet ---------------------------------------------------------------------------------

function fleetPage() {
  const params = new URLSearchParams(location.search);
  const group = $('f-group'), state = $('f-state'), search = $('f-q');
  state.value = params.get('state') || '';
  search.value = params.get('q') || '';
  let wantedGroup = params.get('group') || '';
  let timer;

  async function refresh() {
    clearTimeout(timer);
    try {
      const query = new URLSearchParams();
      if (group.value || wantedGroup) query.set('group', group.value || wantedGroup);
      if (state.value) query.set('state', state.value);
      if (search.value.trim()) query.set('q', search.value.trim());
      history.replaceState(null, '', query.toString() ? '?' + query : location.pathname);
      const [hosts, groups, all] = await Promise.all([api('/hosts?' + query), api('/groups'), api('/hosts')]);
      renderGroups(groups);
      renderSummary(all, groups);
      renderHosts(hosts, all.length);
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      const deploys = await api('/deploys?limit=10');
      renderDeploys(deploys);
    } catch (e) {
      $('updated').textContent = 'not updated: ' + e.message;
    }
    timer = setTimeout(refresh, 5000);
  }

  function renderGroups(groups) {
    const current = group.value || wantedGroup;
    group.replaceChildren(el('option', { value: '' }, 'all groups'),
      ...groups.map(g => el('option', { value: g.name }, g.name + ' (' + g.connected + '/' + g.hosts + ')')));
    group.value = groups.some(g => g.name === current) ? current : '';
    wantedGroup = '';
  }

  function renderSummary(all, groups) {
    $('s-hosts').textContent = all.length;
    $('s-connected').textContent = all.filter(h => h.connected).length;
    $('s-disconnected').textContent = all.filter(h => !h.connected).length;
    $('s-problems').textContent = all.filter(h => h.health === 'problem').length;
    $('s-groups').textContent = groups.length;
  }

  function renderHosts(hosts, total) {
    $('none').hidden = total !== 0;
    $('empty').hidden = total === 0 || hosts.length !== 0;
    fill(document.querySelector('#fleet tbody'), hosts.map(h => el('tr', { class: h.connected ? '' : 'gone', dataset: { host: h.id } },
      el('td', {},
        el('a', { class: 'host-link', href: '/hosts/' + encodeURIComponent(h.id) }, h.hostname || '(unnamed)'),
        el('div', { class: 'sub' }, h.id),
        h.problems.length ? el('div', { class: 'problems' }, h.problems.join(' · ')) : null),
      el('td', {}, h.group),
      el('td', { class: 'mono' }, h.version || '–'),
      el('td', {}, el('div', { class: 'chips' },
        h.programs.map(p => chip(p.name, p.state)), h.apps.map(a => chip(a.name, a.state, 'app')),
        h.programs.length + h.apps.length === 0 ? el('span', { class: 'sub' }, 'none') : null)),
      el('td', {}, lastCheck(h.lastCheck)),
      el('td', {}, h.connected ? 'now' : ago(h.lastSeen)),
      el('td', {}, connection(h)),
      el('td', { class: 'mono' }, h.macs.map(m => el('div', {}, m))))));
  }

  function renderDeploys(deploys) {
    $('deploys').hidden = deploys.length === 0;
    fill(document.querySelector('#deploy-table tbody'), deploys.map(d => el('tr', {},
      el('td', { title: stamp(d.at) }, ago(d.at)),
      el('td', {}, el('a', { href: '/hosts/' + encodeURIComponent(d.hostId) }, d.hostname || d.hostId)),
      el('td', {}, d.app), el('td', { class: 'mono' }, d.version || ''), el('td', { class: 'result-' + (d.result === 'ok' ? 'ok' : 'error') }, d.result || ''),
      el('td', {}, d.step || ''), el('td', { class: 'mono' }, d.exitCode ?? ''))));
  }

  group.addEventListener('change', refresh);
  state.addEventListener('change', refresh);
  let typing;
  search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(refresh, 250); });
  refresh();
}

// --- one host ----------------------------------------------------------------------------------

function hostPage() {
  const id = $('host').dataset.host;
  let timer;

  async function refresh() {
    clearTimeout(timer);
    try {
      render(await api('/hosts/' + encodeURIComponent(id)));
    } catch (e) {
      $('h-notice').hidden = false;
      $('h-notice').textContent = e.message;
    }
    timer = setTimeout(refresh, 5000);
  }

  function logLinks(name) {
    const base = '/hosts/' + encodeURIComponent(id) + '/logs/' + encodeURIComponent(name);
    return [el('a', { href: base + '?stream=stdout' }, 'stdout'), ' · ', el('a', { href: base + '?stream=stderr' }, 'stderr')];
  }

  function render(detail) {
    const h = detail.host;
    document.title = (h.hostname || h.id) + ' · Belay hub';
    $('h-title').textContent = h.hostname || h.id;
    $('h-crumb').textContent = h.hostname || h.id;
    const status = $('h-status');
    status.className = 'pill ' + (h.revoked ? 'bad' : h.connected ? 'on' : 'off');
    status.textContent = h.revoked ? 'revoked' : h.connected ? 'connected' : 'disconnected';
    $('poke').disabled = !h.connected;
    $('revoke').disabled = h.revoked;
    $('h-notice').hidden = h.problems.length === 0;
    $('h-notice').textContent = h.problems.join(' · ');
    const state = detail.state || {};
    const facts = [
      ['Hub id', h.id], ['Belay host id', (state.host && state.host.id) || ''], ['Group', h.group], ['Version', h.version || '–'],
      ['Previous version', state.previous || '–'], ['On trial', state.trial || '–'], ['Bad versions', (state.bad || []).join(', ') || '–'],
      ['Channel', state.channel || '–'], ['Feed', state.feed || '–'],
      ['Last check', h.lastCheck ? stamp(h.lastCheck.at) + ' ' + (h.lastCheck.result || '') + (h.lastCheck.error ? ': ' + h.lastCheck.error : '') : '–'],
      ['OS', h.os || '–'], ['RID', h.rid || '–'], ['MAC addresses', h.macs.join(', ') || '–'],
      ['Connection', h.connected ? 'since ' + stamp(h.connectedSince) + (detail.remote ? ' from ' + detail.remote : '') : 'last seen ' + (h.lastSeen ? stamp(h.lastSeen) : 'never')],
      ['Enrolled', stamp(h.enrolledAt)], ['Service manager', state.serviceManager || '–'],
    ];
    $('facts').replaceChildren(...facts.flatMap(([k, v]) => [el('div', {}, el('dt', {}, k), el('dd', {}, v))]));
    const programs = h.programs;
    $('no-programs').hidden = programs.length !== 0;
    fill(document.querySelector('#programs tbody'), programs.map(p => el('tr', {},
      el('td', {}, el('strong', {}, p.name)), el('td', {}, chip(p.state, p.state)), el('td', { class: 'mono' }, p.pid ?? '–'),
      el('td', { title: stamp(p.startedAt) }, p.startedAt && p.state === 'running' ? since(p.startedAt) : '–'),
      el('td', {}, p.restarts), el('td', { class: 'mono' }, p.lastExit || '–'), el('td', {}, h.connected ? logLinks(p.name) : el('span', { class: 'sub' }, 'host disconnected')))));
    $('apps-section').hidden = h.apps.length === 0;
    fill(document.querySelector('#apps tbody'), h.apps.map(a => el('tr', {},
      el('td', {}, el('strong', {}, a.name)), el('td', {}, chip(a.state, a.state)), el('td', { class: 'mono' }, a.desired || '–'),
      el('td', { class: 'mono' }, a.running || '–'), el('td', {}, a.step || ''), el('td', {}, h.connected ? logLinks(a.name) : ''))));
    $('deploys-section').hidden = detail.deploys.length === 0;
    fill(document.querySelector('#deploys tbody'), detail.deploys.map(d => el('tr', {},
      el('td', { title: stamp(d.at) }, stamp(d.at)), el('td', {}, d.app), el('td', { class: 'mono' }, d.version || ''),
      el('td', { class: 'result-' + (d.result === 'ok' ? 'ok' : 'error') }, d.result || ''), el('td', {}, d.step || ''), el('td', { class: 'mono' }, d.exitCode ?? ''))));
    $('tails-section').hidden = detail.tails.length === 0;
    fill(document.querySelector('#tails tbody'), detail.tails.map(t => el('tr', {},
      el('td', {}, t.program + ' ' + t.stream), el('td', {}, t.owner), el('td', {}, ago(t.openedAt)), el('td', {}, t.reading ? 'reading' : 'away'))));
    $('state').textContent = detail.state ? JSON.stringify(detail.state, null, 2) : '(nothing reported yet)';
  }

  $('poke').addEventListener('click', async () => {
    try {
      const done = await api('/hosts/' + encodeURIComponent(id) + '/poke', { method: 'POST' });
      $('h-notice').hidden = false;
      $('h-notice').textContent = done.result;
    } catch (e) { alert(e.message); }
  });
  $('revoke').addEventListener('click', async () => {
    if (!confirm('Revoke this host? Its credential is refused from now on and its connection closes. It can come back only by enrolling again.')) return;
    try {
      await api('/hosts/' + encodeURIComponent(id) + '/revoke', { method: 'POST' });
      refresh();
    } catch (e) { alert(e.message); }
  });
  refresh();
}

// --- a live log --------------------------------------------------------------------------------

const MaxLines = 5000;

function logPage() {
  const view = $('logview');
  const host = view.dataset.host, program = view.dataset.program, stream = view.dataset.stream;
  const log = $('log'), status = $('l-status');
  $('s-' + stream).classList.add('active');
  let partial = null;      // the line being written (no line break yet)
  let received = 0, dropped = 0, tailId = null, renewTimer = null, source = null;

  function setStatus(kind, text) {
    status.className = 'status ' + kind;
    status.textContent = text;
  }

  function counts() {
    $('l-counts').textContent = bytes(received) + ' received' + (dropped ? ' · ' + bytes(dropped) + ' dropped' : '');
  }

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  function trim() {
    while (log.childElementCount > MaxLines) log.firstElementChild.remove();
  }

  function append(text) {
    const follow = $('l-follow').checked;
    const parts = text.split('\n');
    parts.forEach((part, i) => {
      if (partial === null) {
        partial = el('div', { class: 'line' });
        log.append(partial);
      }
      partial.textContent += part;
      if (i < parts.length - 1) partial = null;
    });
    trim();
    if (follow) log.scrollTop = log.scrollHeight;
  }

  function marker(kind, text) {
    partial = null;
    log.append(el('div', { class: 'marker ' + kind }, text));
    trim();
    if ($('l-follow').checked) log.scrollTop = log.scrollHeight;
  }

  function open() {
    if (source) source.close();
    $('l-reopen').hidden = true;
    setStatus('waiting', 'connecting…');
    const url = '/api/v1/hosts/' + encodeURIComponent(host) + '/logs/' + encodeURIComponent(program) + '?stream=' + stream + '&lines=100';
    source = new EventSource(url);
    source.addEventListener('tail', (e) => {
      const info = JSON.parse(e.data);
      tailId = info.id;
      $('l-host').textContent = info.hostname || host;
      document.title = program + ' on ' + (info.hostname || host) + ' · Belay hub';
      setStatus('live', 'live');
      if (info.resumed) marker('info', 'reconnected: resumed where it stopped');
      clearInterval(renewTimer);
      renewTimer = setInterval(renew, info.renewEvery * 1000);
    });
    source.addEventListener('data', (e) => {
      const d = JSON.parse(e.data);
      received += new TextEncoder().encode(d.t).length;
      append(d.t);
      counts();
      if (status.className !== 'status live') setStatus('live', 'live');
    });
    source.addEventListener('skip', (e) => {
      const d = JSON.parse(e.data);
      dropped += d.n;
      marker('skip', '⋯ ' + bytes(d.n) + ' dropped here: the reader fell behind (the host never waits for it)');
      counts();
    });
    source.addEventListener('end', (e) => {
      const d = JSON.parse(e.data);
      source.close();
      clearInterval(renewTimer);
      marker('end', 'ended: ' + d.reason);
      setStatus('ended', 'ended');
      $('l-reopen').hidden = false;
      if (/disconnected/.test(d.reason)) setTimeout(() => { if (!$('l-reopen').hidden) open(); }, 5000);
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        setStatus('ended', 'closed');
        $('l-reopen').hidden = false;
      } else {
        setStatus('waiting', 'reconnecting…');
      }
    };
  }

  async function renew() {
    // Only a tab someone can see keeps a log open: a forgotten one ends after 15 minutes.
    if (tailId === null || document.visibilityState !== 'visible') return;
    try { await api('/streams/' + tailId + '/renew', { method: 'POST' }); } catch (e) { /* it ends by itself */ }
  }

  $('l-wrap').addEventListener('change', () => log.classList.toggle('wrap', $('l-wrap').checked));
  $('l-clear').addEventListener('click', () => { log.replaceChildren(); partial = null; });
  $('l-reopen').addEventListener('click', open);
  log.addEventListener('scroll', () => { if (!atBottom()) $('l-follow').checked = false; else $('l-follow').checked = true; });
  open();
}

// --- audit -------------------------------------------------------------------------------------

function auditPage() {
  const action = $('a-action');
  async function refresh() {
    try {
      const entries = await api('/audit?limit=500' + (action.value ? '&action=' + encodeURIComponent(action.value) : ''));
      fill(document.querySelector('#audit tbody'), entries.map(a => el('tr', {},
        el('td', { title: stamp(a.at) }, stamp(a.at)), el('td', {}, a.actor), el('td', { class: 'mono' }, a.action),
        el('td', {}, a.hostId ? el('a', { href: '/hosts/' + encodeURIComponent(a.hostId) }, a.hostId) : ''),
        el('td', {}, [a.target, a.detail].filter(Boolean).join(' · ')), el('td', { class: 'mono' }, a.remote || ''))));
      $('updated').textContent = entries.length + ' entries, newest first';
    } catch (e) {
      $('updated').textContent = e.message;
    }
  }
  action.addEventListener('change', refresh);
  refresh();
}

// --- admin -------------------------------------------------------------------------------------

function adminPage() {
  const origin = location.origin + '/';

  function secret(box, lines) {
    box.hidden = false;
    box.className = 'secret';
    box.replaceChildren(...lines);
  }

  function failed(box, message) {
    box.hidden = false;
    box.className = 'secret failed';
    box.replaceChildren(message);
  }

  function revokeButton(label, path, then) {
    return el('button', { class: 'danger', onclick: async () => {
      if (!confirm(label + '?')) return;
      try { await api(path, { method: 'DELETE' }); then(); } catch (e) { alert(e.message); }
    } }, label);
  }

  async function tokens() {
    const list = await api('/tokens');
    fill(document.querySelector('#tokens tbody'), list.map(t => el('tr', {},
      el('td', { class: 'mono' }, t.id), el('td', {}, t.group), el('td', {}, t.usesLeft + '/' + t.uses),
      el('td', { title: stamp(t.expiresAt) }, stamp(t.expiresAt)), el('td', {}, t.state), el('td', {}, t.createdBy),
      el('td', {}, t.state === 'usable' ? revokeButton('Revoke', '/tokens/' + encodeURIComponent(t.id), tokens) : ''))));
  }

  async function users() {
    const list = await api('/users');
    fill(document.querySelector('#users tbody'), list.map(u => el('tr', {},
      el('td', {}, u.name), el('td', {}, u.role), el('td', {}, stamp(u.createdAt)),
      el('td', {}, u.name === document.body.dataset.user ? '' : revokeButton('Remove', '/users/' + encodeURIComponent(u.name), users)))));
  }

  async function apitokens() {
    const list = await api('/apitokens');
    fill(document.querySelector('#apitokens tbody'), list.map(t => el('tr', {},
      el('td', { class: 'mono' }, t.id), el('td', {}, t.user), el('td', {}, t.name), el('td', {}, t.expiresAt ? stamp(t.expiresAt) : 'never'),
      el('td', {}, t.lastUsed ? ago(t.lastUsed) : 'never'), el('td', {}, t.revoked ? 'revoked' : revokeButton('Revoke', '/apitokens/' + encodeURIComponent(t.id), apitokens)))));
  }

  function form(id, path, body, shown, then) {
    $(id + '-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(e.target));
      try {
        const made = await api(path, { method: 'POST', body: body(data) });
        secret($(id + '-made'), shown(made));
        then();
      } catch (err) {
        failed($(id + '-made'), err.message);
      }
    });
  }

  form('token', '/tokens', d => ({ group: d.group, uses: Number(d.uses), expires: d.expires }), t => [
    'Token ' + t.id + ' for group ' + t.group + ' (' + t.uses + ' use' + (t.uses === 1 ? '' : 's') + ', until ' + stamp(t.expiresAt) + '). It is shown once; on a host:',
    el('code', {}, 'belay install --feed FEED --hub ' + origin + ' --enroll-token ' + t.token)], tokens);
  form('user', '/users', d => ({ name: d.name, role: d.role }), u => [
    'Operator ' + u.name + ' (' + u.role + ') added. Their password, shown once:', el('code', {}, u.password)], users);
  form('apitoken', '/apitokens', d => ({ user: d.user, name: d.name, expires: d.expires || 'never' }), t => [
    'API token ' + t.id + ' for ' + t.user + ', shown once:', el('code', {}, t.token),
    el('code', {}, 'curl -H "Authorization: Bearer ' + t.token + '" ' + origin + 'api/v1/hosts')], apitokens);
  tokens(); users(); apitokens();
}

document.addEventListener('DOMContentLoaded', () => {
  markNav();
  const pages = { fleet: fleetPage, host: hostPage, log: logPage, audit: auditPage, admin: adminPage };
  const page = pages[document.body.dataset.page];
  if (page) page();
});
