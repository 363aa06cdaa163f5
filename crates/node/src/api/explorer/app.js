// The Machina explorer: a single page over the node's API.
//
// Routes are in the URL's fragment (`#/device/<id>`, `#/block/12`, `#/list/market`, ...).
// Each page renders from the API, then follows the event stream (`/v1/events`) to update
// itself without a reload. Charts are uPlot; proofs are verified in the page by verify.js
// against the genesis validators (loaded when a proof is first verified).


const view = document.getElementById('view');
const live = document.getElementById('live');

// ---------------------------------------------------------------- helpers

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path) {
  const response = await fetch(path);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body?.error?.message ?? response.statusText);
  return body;
}

/** The body, or `null` when the API answers 404. */
async function maybe(path) {
  try { return await api(path); } catch (e) { if (e.status === 404) return null; throw e; }
}

const escapes = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => escapes[c]);

/** HTML already safe to insert. */
class Raw { constructor(html) { this.html = html; } toString() { return this.html; } }
const raw = (html) => new Raw(html);

/** A template tag that escapes every interpolated value but `Raw` ones and arrays of them. */
function html(strings, ...values) {
  const part = (v) => (v instanceof Raw ? v.html : Array.isArray(v) ? v.map(part).join('') : esc(v));
  return raw(strings.reduce((out, s, i) => out + s + (i < values.length ? part(values[i]) : ''), ''));
}

/** The name of a status: a string, or an object tagged by `status` (e.g. a lease's). */
const statusName = (s) => (typeof s === 'string' ? s : s?.status ?? Object.keys(s ?? {})[0]);
const short = (id) => { const s = String(id); return s.length > 16 ? `${s.slice(0, 8)}…${s.slice(-6)}` : s; };
const time = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '');
const num = (n) => (n === null || n === undefined ? '' : Number(n).toLocaleString('en-US'));

// Entity kinds, their routes and proofs.
const KINDS = {
  account: { title: 'Account', record: (id) => `/v1/accounts/${id}`, proof: (id) => `/v1/proofs/accounts/${id}` },
  maker: { title: 'Maker', record: (id) => `/v1/makers/${id}` },
  device: { title: 'Device', record: (id) => `/v1/devices/${id}` },
  market: { title: 'Market', record: (id) => `/v1/markets/${id}` },
  offer: { title: 'Offer', record: (id) => `/v1/offers/${id}` },
  intent: { title: 'Intent', record: (id) => `/v1/intents/${id}` },
  lease: { title: 'Lease', record: (id) => `/v1/leases/${id}`, proof: (id) => `/v1/proofs/leases/${id}` },
  feed: { title: 'Feed', record: (id) => `/v1/feeds/${id}`, proof: (id) => `/v1/proofs/feeds/${id}` },
  machine: { title: 'Machine', record: (id) => `/v1/machines/${id}` },
  offering: { title: 'Offering', record: (id) => `/v1/offerings/${id}` },
  proposal: { title: 'Proposal', record: (id) => `/v1/proposals/${id}` },
  product: { title: 'Data product', record: (id) => `/v1/products/${id}` },
  subscription: { title: 'Subscription', record: (id) => `/v1/subscriptions/${id}`, proof: (id) => `/v1/proofs/subscriptions/${id}` },
  channel: { title: 'Channel', record: (id) => `/v1/channels/${id}`, proof: (id) => `/v1/proofs/channels/${id}` },
  pool: { title: 'Reward pool', record: (id) => `/v1/reward-pools/${id}`, proof: (id) => `/v1/proofs/reward-pools/${id}` },
  asset: { title: 'Asset', record: (id) => `/v1/assets/${id}` },
  nft: { title: 'NFT', record: (id) => `/v1/nfts/${id}` },
  multisig: { title: 'Multisig', record: (id) => `/v1/multisigs/${id}` },
};

// Fields of records and events that name an entity (the index uses the same names).
const ADDRESS_FIELDS = new Set(['to', 'from', 'account', 'proposer', 'holder', 'buyer', 'voter',
  'treasury', 'subscriber', 'solver', 'seller', 'payer', 'payee', 'owner', 'member', 'issuer',
  'guardian', 'funder', 'creator', 'consumer', 'by', 'signer', 'submitter', 'address']);
const ID_FIELDS = { device: 'device', maker: 'maker', market: 'market', offer: 'offer', intent: 'intent',
  lease: 'lease', first_lease: 'lease', feed: 'feed', machine: 'machine', offering: 'offering',
  product: 'product', subscription: 'subscription', channel: 'channel', pool: 'pool', right: 'nft', multisig: 'multisig' };

function fieldKind(field, value, context) {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  if (ADDRESS_FIELDS.has(field) && /^[0-9a-f]{64}$/.test(String(value))) return 'account';
  if (field === 'proposal' && context !== 'wallets') return 'proposal';
  if (field === 'asset' && context === 'bank') return 'asset';
  return ID_FIELDS[field] ?? null;
}

const link = (kind, id, label) => html`<a href="#/${kind}/${id}" class="${label ? '' : 'mono'}">${label ?? short(id)}</a>`;
const blockLink = (h) => html`<a href="#/block/${h}">${num(h)}</a>`;
const txLink = (hash) => html`<a class="mono" href="#/tx/${hash}">${short(hash)}</a>`;

/** A value rendered with links for the fields that name entities. */
function renderValue(value, field = '', context = '') {
  if (value === null || value === undefined) return html`<span class="muted">none</span>`;
  if (Array.isArray(value)) {
    if (!value.length) return html`<span class="muted">none</span>`;
    return html`${value.map((v, i) => html`${i ? ', ' : ''}${renderValue(v, field, context)}`)}`;
  }
  if (typeof value === 'object') {
    const ctx = value.event ?? value.module ?? context;
    return html`<dl class="kv">${Object.entries(value).map(([k, v]) => html`<dt>${k}</dt><dd>${renderValue(v, k, ctx)}</dd>`)}</dl>`;
  }
  const kind = fieldKind(field, value, context);
  if (kind) return link(kind, value);
  if (field === 'height' || field.endsWith('_height')) return blockLink(value);
  if (field === 'tx_hash' || field === 'hash') return txLink(value);
  if (field.endsWith('_ms') && value > 1e12) return html`${time(value)}`;
  if (typeof value === 'number') return html`${num(value)}`;
  return html`<span class="${String(value).length > 40 ? 'mono' : ''}">${value}</span>`;
}

/** One event as a line: its module and action, and its fields with links. */
function eventLine(event) {
  const fields = Object.entries(event).filter(([k]) => k !== 'event' && k !== 'action');
  const status = ['delivered', 'refunded', 'slashed'].includes(event.action) ? event.action : '';
  return html`<span class="pill ${status}">${event.event}.${event.action}</span> ${fields.map(([k, v]) =>
    html`<span class="muted">${k}</span> ${typeof v === 'object' && v !== null ? JSON.stringify(v) : renderValue(v, k, event.event)} `)}`;
}

function card(title, body, extra = '') {
  return html`<section class="card" ${raw(extra)}><h2>${title}</h2>${body}</section>`;
}

function table(headers, rows, empty = 'Nothing yet.') {
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<table><thead><tr>${headers.map((h) => html`<th class="${h.startsWith('#') ? 'num' : ''}">${h.replace(/^#/, '')}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table>`;
}

// ---------------------------------------------------------------- charts and maps

const charts = new Set();

/** A uPlot chart in `el` with time on x; series: [{label, values, color, bars}]. */
function chart(el, xs, series, height = 240) {
  const opts = {
    width: Math.max(320, el.clientWidth || 600),
    height,
    scales: { x: { time: true } },
    series: [{}, ...series.map((s) => ({
      label: s.label, stroke: s.color, width: 2, scale: s.scale ?? 'y',
      fill: s.bars ? s.color + '55' : undefined,
      paths: s.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
      points: { show: xs.length < 60 },
    }))],
    axes: [{}, { scale: 'y' }, ...(series.some((s) => s.scale === 'y2') ? [{ scale: 'y2', side: 1, grid: { show: false } }] : [])],
  };
  const plot = new uPlot(opts, [xs, ...series.map((s) => s.values)], el);
  charts.add(plot);
  return plot;
}

// Geohash cells to latitude/longitude boxes.
const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';
function geohashBox(hash) {
  let even = true; const lat = [-90, 90]; const lon = [-180, 180];
  for (const c of hash) {
    const bits = BASE32.indexOf(c);
    if (bits < 0) return null;
    for (let b = 4; b >= 0; b--) {
      const range = even ? lon : lat; const mid = (range[0] + range[1]) / 2;
      if ((bits >> b) & 1) range[0] = mid; else range[1] = mid;
      even = !even;
    }
  }
  return { lat, lon };
}

/** An SVG map of devices by geohash cell (no tiles: a graticule around the cells). */
function map(devices) {
  const boxes = devices.map((d) => ({ d, box: d.geohash ? geohashBox(d.geohash) : null })).filter((x) => x.box);
  if (!boxes.length) return html`<p class="muted">No device has a region (a <code>geohash</code> attribute) yet.</p>`;
  let [s, n, w, e] = [90, -90, 180, -180];
  for (const { box } of boxes) {
    s = Math.min(s, box.lat[0]); n = Math.max(n, box.lat[1]); w = Math.min(w, box.lon[0]); e = Math.max(e, box.lon[1]);
  }
  const pad = Math.max(n - s, e - w) * 0.15 + 0.002;
  [s, n, w, e] = [s - pad, n + pad, w - pad, e + pad];
  const W = 800, H = 320;
  const x = (lon) => ((lon - w) / (e - w)) * W;
  const y = (lat) => H - ((lat - s) / (n - s)) * H;
  const step = Math.pow(10, Math.floor(Math.log10(Math.max(n - s, e - w))));
  const lines = [];
  for (let v = Math.ceil(w / step) * step; v < e; v += step) lines.push(html`<line class="grid-line" x1="${x(v)}" x2="${x(v)}" y1="0" y2="${H}"/><text x="${x(v) + 2}" y="${H - 4}">${v.toFixed(3)}°</text>`);
  for (let v = Math.ceil(s / step) * step; v < n; v += step) lines.push(html`<line class="grid-line" y1="${y(v)}" y2="${y(v)}" x1="0" x2="${W}"/><text x="2" y="${y(v) - 2}">${v.toFixed(3)}°</text>`);
  const marks = boxes.map(({ d, box }) => html`<a href="#/device/${d.id}"><title>${d.label ?? d.id} (${d.geohash})</title>
    <rect class="cell" x="${x(box.lon[0])}" y="${y(box.lat[1])}" width="${Math.max(2, x(box.lon[1]) - x(box.lon[0]))}" height="${Math.max(2, y(box.lat[0]) - y(box.lat[1]))}"/>
    <circle class="dot" cx="${x((box.lon[0] + box.lon[1]) / 2)}" cy="${y((box.lat[0] + box.lat[1]) / 2)}" r="5"/></a>`);
  return html`<svg class="map" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" data-devices="${boxes.length}">${lines}${marks}</svg>`;
}

// ---------------------------------------------------------------- proofs

let genesis = null;

/**
 * The genesis the proofs verify against: fetched once, its hash computed here (SHA-256 of
 * the document as served, as the chain computes it) and pinned in this browser per chain id
 * on first use, so a node that later serves another genesis for the same chain is caught.
 */
async function genesisDoc() {
  if (genesis) return genesis;
  const response = await fetch('/v1/genesis');
  if (!response.ok) throw new ApiError(response.status, 'no genesis');
  const bytes = new Uint8Array(await response.arrayBuffer());
  const { sha256 } = await import('./vendor/noble-hashes.js');
  const hash = [...sha256(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const doc = JSON.parse(new TextDecoder().decode(bytes));
  const key = `machina-genesis:${doc.chain_id}`;
  const pinned = localStorage.getItem(key);
  if (pinned && pinned !== hash) {
    throw new Error(`this node serves genesis ${short(hash)} for ${doc.chain_id}, but this browser pinned ${short(pinned)}: do not trust its proofs (clear the pin in the browser's storage if the chain was restarted)`);
  }
  localStorage.setItem(key, hash);
  genesis = { doc, hash };
  return genesis;
}

/** Flips one hex digit of `text` at `at` (from the end if negative). */
function flipHex(text, at) {
  const i = at < 0 ? text.length + at : at;
  const c = text[i] === '0' ? '1' : '0';
  return text.slice(0, i) + c + text.slice(i + 1);
}

/** A proof box: a link to the file, verify it here, and verify a tampered copy (which must fail). */
function proofBox(url, kind) {
  const id = `p${Math.random().toString(36).slice(2)}`;
  setTimeout(() => {
    const box = document.getElementById(id);
    if (!box) return;
    const out = box.querySelector('.result');
    const run = async (tamper) => {
      out.innerHTML = '<span class="muted">verifying…</span>';
      try {
        const bundle = await api(url);
        const { doc, hash } = await genesisDoc();
        if (tamper) tamper(bundle);
        const { verifyStateBundle, verifyReadingBundle } = await import('./verify.js');
        const result = kind === 'reading' ? await verifyReadingBundle(bundle, doc) : await verifyStateBundle(bundle, doc);
        out.innerHTML = html`<span class="ok" data-verified="true">✓ verified in this browser</span>
          <span class="muted">finalized at height ${num(result.height)}, block ${short(result.block)}, signed by a quorum of the ${doc.validators.length} validator(s) of genesis ${short(hash)} (${doc.chain_id}, pinned in this browser)${result.decodedChecked === false ? '; raw value proven, its decoding shown by the node' : ''}</span>`.html;
      } catch (e) {
        out.innerHTML = html`<span class="bad" data-verified="false">✗ ${tamper ? 'tampered copy rejected' : 'does not verify'}:</span> ${e.message}`.html;
      }
    };
    box.querySelector('.verify').onclick = () => run(null);
    box.querySelector('.tamper').onclick = () => run((b) => {
      if (kind === 'reading') b.reading = flipHex(b.reading, -3);
      else if (b.value) b.value = flipHex(b.value, -1);
      else b.finalization = flipHex(b.finalization, -3);
    });
  });
  return html`<div class="proof" id="${id}"><a href="${url}" download>proof file</a>
    <button class="verify">Verify in browser</button> <button class="tamper">Verify a tampered copy</button>
    <div class="result"></div></div>`;
}

// ---------------------------------------------------------------- pages

const pages = {};

pages.home = async () => {
  const [overview, blocks, devices] = await Promise.all([
    api('/v1/explorer'), api('/v1/blocks?limit=12'), api('/v1/explorer/device?limit=200')]);
  const counts = overview.counts;
  const stat = (label, value, href) => html`<a class="stat" href="${href}"><b>${num(value)}</b><span>${label}</span></a>`;
  const blockRow = (b) => [blockLink(b.height), html`<span class="mono">${short(b.digest)}</span>`, html`${num(b.tx_count)}`, html`${time(b.timestamp_ms)}`];
  const txRow = (t) => [txLink(t.hash), link('account', t.signer), html`${t.calls.join(', ')}`, html`<span class="pill ${t.success ? 'success' : 'failed'}">${t.success ? 'ok' : 'failed'}</span>`];
  const clearingRow = (c) => [link('market', c.market), blockLink(c.height), html`${num(c.price)}`, html`${num(c.units)}`, c.leases ? link('lease', c.first_lease, `#${c.first_lease}+${c.leases - 1}`) : ''];
  view.innerHTML = html`<h1>Machine economy at a glance</h1>
    <div class="stats">
      ${stat('finalized height', overview.height, '#/blocks')}
      ${stat('devices', counts.device ?? 0, '#/list/device')}${stat('makers', counts.maker ?? 0, '#/list/maker')}
      ${stat('markets', counts.market ?? 0, '#/list/market')}${stat('leases', counts.lease ?? 0, '#/list/lease')}
      ${stat('accounts', counts.account ?? 0, '#/list/account')}${stat('feeds', counts.feed ?? 0, '#/list/feed')}
    </div>
    ${card('Devices', map(devices.entities))}
    <div class="grid">
      ${card('Latest blocks', html`<div id="blocks">${table(['height', 'digest', '#txs', 'time'], blocks.blocks.map(blockRow))}</div>`)}
      ${card('Latest transactions', html`<div id="txs">${table(['hash', 'signer', 'calls', 'outcome'], overview.recent_txs.slice(0, 12).map(txRow))}</div>`)}
    </div>
    ${card('Latest market clearings', table(['market', 'height', '#price', '#units', 'leases'], overview.recent_clearings.map(clearingRow), 'No batch has cleared yet.'))}`.html;
  const shown = blocks.blocks.slice();
  const txs = overview.recent_txs.slice(0, 12);
  return {
    async onBlock(block) {
      shown.unshift(block.header); shown.length = Math.min(shown.length, 12);
      const el = document.getElementById('blocks');
      if (el) el.innerHTML = table(['height', 'digest', '#txs', 'time'], shown.map(blockRow)).html;
      if (!block.receipts.length) return;
      const full = await api(`/v1/blocks/${block.header.height}`);
      const calls = new Map(full.txs.map((t) => [t.hash, t.calls.map((c) => `${c.module}.${c.call.op}`)]));
      for (const r of block.receipts) txs.unshift({ hash: r.tx_hash, signer: r.signer, calls: calls.get(r.tx_hash) ?? [], success: r.outcome.status === 'success' });
      txs.length = Math.min(txs.length, 12);
      const t = document.getElementById('txs');
      if (t) t.innerHTML = table(['hash', 'signer', 'calls', 'outcome'], txs.map(txRow)).html;
    },
  };
};

pages.blocks = async (_, query) => {
  const before = query.get('before');
  const page = await api(`/v1/blocks?limit=50${before ? `&before=${before}` : ''}`);
  view.innerHTML = html`<h1>Blocks</h1>${card('Finalized blocks', html`${table(['height', 'digest', 'proposer', '#txs', 'time'],
    page.blocks.map((b) => [blockLink(b.height), html`<span class="mono">${short(b.digest)}</span>`, link('account', b.proposer), html`${num(b.tx_count)}`, html`${time(b.timestamp_ms)}`]))}
    <div class="pager">${page.next ? html`<a href="#/blocks?before=${page.next}">older →</a>` : ''}</div>`)}`.html;
};

pages.block = async ([height]) => {
  const b = await api(`/v1/blocks/${encodeURIComponent(height)}`);
  const h = b.header;
  view.innerHTML = html`<h1>Block ${num(h.height)}</h1>
    <div class="pager">${h.height > 1 ? html`<a href="#/block/${h.height - 1}">← ${h.height - 1}</a>` : ''}<a href="#/block/${h.height + 1}">${h.height + 1} →</a></div>
    ${card('Header', renderValue({ digest: h.digest, height: h.height, parent: h.parent, time: time(h.timestamp_ms), view: h.view, proposer: h.proposer, tx_count: h.tx_count, tx_root: h.tx_root, state_root: h.state_root }))}
    ${card(`Transactions (${b.txs.length})`, table(['hash', 'signer', 'calls', '#fee'], b.txs.map((t) => [txLink(t.hash), link('account', t.signer), html`${t.calls.map((c) => `${c.module}.${c.call.op}`).join(', ')}`, html`${num(t.fee)}`]), 'No transactions.'), 'id="block-txs"')}
    ${card('Block-level events', b.events.length ? html`<ul>${b.events.map((e) => html`<li>${eventLine(e)}</li>`)}</ul>` : html`<p class="muted">None.</p>`)}
    ${card('Finalization certificate', html`<pre>${b.finalization ?? 'not yet available'}</pre>`)}`.html;
};

pages.tx = async ([hash]) => {
  const status = await api(`/v1/txs/${encodeURIComponent(hash)}`);
  const receipt = status.receipt;
  let tx = null;
  if (receipt) tx = (await api(`/v1/blocks/${receipt.height}`)).txs.find((t) => t.hash === hash);
  view.innerHTML = html`<h1>Transaction <span class="mono">${hash}</span></h1>
    ${card('Status', renderValue({ status: status.status, height: receipt?.height, index: receipt?.index, signer: receipt?.signer ?? tx?.signer, fee: receipt?.fee, outcome: receipt?.outcome?.status, error: status.error?.message }))}
    ${tx ? card('Calls', html`${tx.calls.map((c) => html`<h2>${c.module}.${c.call.op}</h2>${renderValue(c.call, '', c.module)}`)}`) : ''}
    ${receipt ? card('Events', receipt.events.length ? html`<ul>${receipt.events.map((e) => html`<li>${eventLine(e)}</li>`)}</ul>` : html`<p class="muted">None.</p>`) : ''}`.html;
};

pages.kinds = async () => {
  const overview = await api('/v1/explorer');
  view.innerHTML = html`<h1>Everything the index holds</h1>${card('Kinds', table(['kind', '#entities'],
    Object.keys(KINDS).map((k) => [html`<a href="#/list/${k}">${KINDS[k].title}</a>`, html`${num(overview.counts[k] ?? 0)}`])))}
    <p class="muted">Indexed to height ${num(overview.indexed_height)} of ${num(overview.height)}.</p>`.html;
};

pages.list = async ([kind], query) => {
  if (!KINDS[kind]) throw new ApiError(404, `no such kind ${kind}`);
  const before = query.get('before');
  const page = await api(`/v1/explorer/${kind}?limit=50${before ? `&before=${before}` : ''}`);
  const extra = kind === 'device' ? card('Map', map(page.entities)) : '';
  let prices = {};
  let names = {};
  if (kind === 'market') {
    const [histories, overview] = await Promise.all([
      Promise.all(page.entities.map((m) => api(`/v1/markets/${m.id}/clearings`))), api('/v1/market')]);
    prices = Object.fromEntries(histories.map((h) => [h.market, h.clearings.at(-1)]));
    names = Object.fromEntries(overview.markets.map((m) => [m.id, `${m.kind} in ${m.region}`]));
  }
  const rows = page.entities.map((e) => [link(kind, e.id, e.label ?? names[e.id]), html`<span class="mono">${short(e.id)}</span>`,
    ...(kind === 'device' ? [html`${e.geohash ?? ''}`] : []),
    ...(kind === 'market' ? [html`${num(prices[e.id]?.price)}`, html`${num(prices[e.id]?.units)}`] : []),
    blockLink(e.first_height), blockLink(e.last_height), html`${num(e.activity)}`]);
  const headers = ['name', 'id', ...(kind === 'device' ? ['region'] : []), ...(kind === 'market' ? ['#last price', '#last units'] : []), 'first seen', 'last active', '#activity'];
  view.innerHTML = html`<h1>${KINDS[kind].title}s <span class="muted">(${num(page.total)})</span></h1>${extra}
    ${card('Newest first', html`${table(headers, rows)}<div class="pager">${page.next ? html`<a href="#/list/${kind}?before=${page.next}">older →</a>` : ''}</div>`, `data-list="${kind}"`)}`.html;
  return { refreshEvery: before ? 0 : 5000 };
};

pages.search = async ([q]) => {
  const text = decodeURIComponent(q ?? '');
  const results = await api(`/v1/search?q=${encodeURIComponent(text)}`);
  const href = (h) => (h.kind === 'block' ? `#/block/${h.id}` : `#/${h.kind}/${h.id}`);
  if (results.hits.length === 1) { location.replace(href(results.hits[0])); return; }
  view.innerHTML = html`<h1>Search: ${text}</h1>${card(`${results.hits.length} result(s)`, table(['kind', 'id', 'name'],
    results.hits.map((h) => [html`${h.kind}`, html`<a class="mono" href="${href(h)}">${h.id}</a>`, html`${h.label ?? ''}`]), 'Nothing matches.'), 'id="search-results"')}`.html;
};

/** The activity of an entity, newest first. */
function activityTable(history) {
  return table(['height', 'time', 'tx', 'what'], history.activity.map((a) => [blockLink(a.height), html`${time(a.time_ms)}`,
    a.tx ? txLink(a.tx) : html`<span class="muted">block step</span>`,
    a.event ? eventLine(a.event) : html`signed ${a.signed.calls.join(', ')} <span class="pill ${a.signed.success ? 'success' : 'failed'}">${a.signed.success ? 'ok' : 'failed'}</span>`]),
  'No activity indexed yet.');
}

/** Any entity: its record, specialised sections, its proof and its activity. */
async function entityPage(kind, id) {
  const spec = KINDS[kind];
  const [record, found] = await Promise.all([maybe(spec.record(id)), api(`/v1/explorer/${kind}/${id}`)]);
  const history = found.entity ? found : null;
  if (!record && !history) throw new ApiError(404, `no ${kind} ${id}`);
  const title = history?.entity.label ?? (kind === 'device' ? record?.certificate?.model : null)
    ?? (kind === 'market' && record?.region ? `${record.kind} in ${record.region}` : null);
  // A market's record is its summary and its book; the book has its own section.
  const shown = kind === 'market' && record
    ? Object.fromEntries(Object.entries(record).filter(([k]) => k !== 'intents' && k !== 'offers')) : record;
  const sections = (await (special[kind]?.(id, record, history) ?? [])).filter(Boolean);
  view.innerHTML = html`<h1>${spec.title} ${title ? html`${title} ` : ''}<span class="mono muted">${id}</span></h1>
    ${history ? html`<p class="muted">first seen at ${blockLink(history.entity.first_height)}, last active at ${blockLink(history.entity.last_height)}, ${num(history.entity.activity)} activity record(s)</p>` : ''}
    ${sections.map((s) => raw(s.html))}
    ${shown ? card('Record', renderValue(shown, '', kind)) : ''}
    ${spec.proof ? card('Proof', proofBox(spec.proof(id), 'state'), 'id="record-proof"') : ''}
    ${card('Activity', history ? activityTable(history) : html`<p class="muted">Not in the index.</p>`, 'id="activity"')}`.html;
  for (const s of sections) s.mount?.();
  const mentions = (block) => JSON.stringify(block).includes(id);
  return {
    async onBlock(block) {
      if (!mentions(block) && !sections.some((s) => s.live)) return;
      for (const s of sections) await s.refresh?.();
      const fresh = await api(`/v1/explorer/${kind}/${id}`);
      const el = document.getElementById('activity');
      if (fresh.entity && el) el.innerHTML = html`<h2>Activity</h2>${activityTable(fresh)}`.html;
    },
  };
}

/** A section with a chart that can refresh its data. */
function chartSection(title, id, load, series) {
  let plot = null;
  return {
    html: card(title, html`<div class="chart" id="${id}"></div><p class="muted" id="${id}-note"></p>`).html,
    live: true,
    async mount() {
      const data = await load();
      const el = document.getElementById(id);
      if (!el) return;
      el.dataset.points = data.xs.length;
      if (!data.xs.length) { document.getElementById(`${id}-note`).textContent = 'No data yet.'; return; }
      plot = chart(el, data.xs, series(data));
    },
    async refresh() {
      const data = await load();
      const el = document.getElementById(id);
      if (!el) return;
      el.dataset.points = data.xs.length;
      if (plot) plot.setData([data.xs, ...series(data).map((s) => s.values)]);
      else if (data.xs.length) { document.getElementById(`${id}-note`).textContent = ''; plot = chart(el, data.xs, series(data)); }
    },
  };
}

/** A reading's value as a number (numeric readings), else null. */
function readingNumber(value) {
  return value?.type === 'numeric' ? value.value / Math.pow(10, value.decimals) : null;
}

function readingText(value) {
  if (value?.type === 'numeric') return `${readingNumber(value)} ${value.unit ?? ''}`;
  if (value?.type === 'sealed') return `sealed (key epoch ${value.epoch})`;
  return JSON.stringify(value);
}

const special = {
  async device(id, record, history) {
    const streams = new Set((history?.activity ?? []).filter((a) => a.event?.action === 'anchored').map((a) => a.event.stream));
    if (!streams.size) streams.add(1);
    const ordered = [...streams].sort((a, b) => a - b);
    const sections = [];
    const geohash = history?.entity.geohash ?? record?.attributes?.find?.((a) => a[0] === 'geohash')?.[1];
    sections.push({ html: card('Region', html`${geohash ? html`<p>geohash <b>${geohash}</b></p>` : ''}${map([{ id, label: history?.entity.label, geohash }])}`).html });
    for (const stream of ordered.slice(0, 4)) {
      const latest = async () => {
        const info = await maybe(`/v1/devices/${id}/streams/${stream}`);
        const last = info?.last_stored_seq ?? 0;
        const from = Math.max(0, last - 299);
        const page = info ? await api(`/v1/devices/${id}/streams/${stream}/readings?from_seq=${from}&limit=300&proofs=false`) : { readings: [] };
        return { info, readings: page.readings };
      };
      let cache = null;
      const load = async () => {
        cache = await latest();
        const numeric = cache.readings.filter((r) => readingNumber(r.reading.value) !== null);
        return { xs: numeric.map((r) => r.timestamp_ms / 1000), ys: numeric.map((r) => readingNumber(r.reading.value)), unit: numeric[0]?.reading.value.unit ?? '' };
      };
      const section = chartSection(`Stream ${stream}: readings`, `stream-${stream}`, load, (d) => [{ label: d.unit || 'value', values: d.ys, color: '#2456d6' }]);
      const table_id = `readings-${stream}`;
      const renderTable = () => {
        const el = document.getElementById(table_id);
        if (!el || !cache) return;
        const rows = cache.readings.slice(-8).reverse().map((r) => [html`${num(r.seq)}`, html`${time(r.timestamp_ms)}`, html`${readingText(r.reading.value)}`,
          r.anchored ? proofBox(`/v1/devices/${id}/streams/${stream}/readings/${r.seq}/proof`, 'reading') : html`<span class="muted">not yet anchored</span>`]);
        const info = cache.info;
        el.innerHTML = html`<p class="muted">${num(info?.stored ?? 0)} stored, ${num(info?.anchored ?? 0)} anchored in ${num(info?.anchors ?? 0)} anchor(s)</p>${table(['#seq', 'time', 'value', 'proof'], rows, 'No readings yet.')}`.html;
      };
      sections.push({ ...section, async mount() { await section.mount(); renderTable(); }, async refresh() { await section.refresh(); } });
      sections.push({ html: card(`Stream ${stream}: latest readings`, html`<div id="${table_id}"></div>`, `data-stream="${stream}"`).html, mount: renderTable });
    }
    const leases = (history?.activity ?? []).filter((a) => a.event?.lease !== undefined || a.event?.offer !== undefined);
    sections.push({ html: card('Market activity (offers, leases, earnings)', leases.length ? html`<ul>${leases.map((a) => html`<li>${blockLink(a.height)} ${eventLine(a.event)}</li>`)}</ul>` : html`<p class="muted">None yet.</p>`).html });
    return sections;
  },

  async market(id, record) {
    const depth = (orders, price, units) => {
      const levels = new Map();
      for (const o of orders) levels.set(o[price], (levels.get(o[price]) ?? 0) + units(o));
      return [...levels.entries()].sort((a, b) => b[0] - a[0]);
    };
    const bids = depth(record?.intents ?? [], 'max_price', (i) => i.units - i.filled);
    const asks = depth((record?.offers ?? []).map((o) => o.offer ?? o), 'floor_price', (o) => o.capacity);
    const book = html`<div class="grid">
      <div><h2>Bids (intents: limit, units)</h2>${table(['#limit', '#units'], bids.map(([p, u]) => [html`${num(p)}`, html`${num(u)}`]), 'No open intents.')}</div>
      <div><h2>Asks (offers: floor, units)</h2>${table(['#floor', '#units'], asks.reverse().map(([p, u]) => [html`${num(p)}`, html`${num(u)}`]), 'No open offers.')}</div></div>`;
    const load = async () => {
      const h = await api(`/v1/markets/${id}/clearings`);
      return { xs: h.clearings.map((c) => c.time_ms / 1000), price: h.clearings.map((c) => c.price), units: h.clearings.map((c) => c.units), clearings: h.clearings };
    };
    const section = chartSection('Clearing price and volume', 'market-chart', load, (d) => [
      { label: 'price', values: d.price, color: '#2456d6' }, { label: 'units', values: d.units, color: '#1a7f45', bars: true, scale: 'y2' }]);
    const history = await load();
    const last = history.clearings.at(-1);
    const fills = table(['batch', 'height', '#price', '#units', 'leases', 'solver'], history.clearings.slice(-10).reverse().map((c) => [
      html`${num(c.batch)}`, blockLink(c.height), html`${num(c.price)}`, html`${num(c.units)}`, c.leases ? link('lease', c.first_lease, `#${c.first_lease}…${c.first_lease + c.leases - 1}`) : '', c.solver ? link('account', c.solver) : html`<span class="muted">built-in</span>`]), 'No clearing yet.');
    let solutions = null;
    if (last) solutions = await maybe(`/v1/market/batches/${last.batch}/solutions`);
    const competition = solutions?.solutions?.length
      ? table(['solver', 'score / details'], solutions.solutions.map((s) => [link('account', s.solver ?? s.submitter ?? ''), html`<span class="mono">${JSON.stringify(s).slice(0, 160)}</span>`]))
      : html`<p class="muted">No solver solution for batch ${last?.batch ?? '-'} (the built-in clearing ran).</p>`;
    return [
      { html: html`<div class="stats"><div class="stat" id="last-price" data-price="${last?.price ?? ''}"><b>${last ? num(last.price) : '-'}</b><span>last clearing price</span></div>
        <div class="stat"><b>${num(history.clearings.length)}</b><span>clearings</span></div></div>`.html },
      section,
      { html: card('Order book depth', book).html },
      { html: card('Recent fills', fills).html },
      { html: card('Solver competition (latest batch)', competition).html },
    ];
  },

  async feed(id) {
    const load = async () => {
      const h = await api(`/v1/feeds/${id}/values`);
      const points = h.points.filter((p) => p.value !== null);
      return { xs: points.map((p) => p.time_ms / 1000), ys: points.map((p) => p.value), sources: points.map((p) => p.sources) };
    };
    return [chartSection('Value over time (with fresh sources)', 'feed-chart', load, (d) => [
      { label: 'value', values: d.ys, color: '#2456d6' }, { label: 'sources', values: d.sources, color: '#9a6700', scale: 'y2' }])];
  },

  async lease(id, record, history) {
    const steps = (history?.activity ?? []).filter((a) => a.event).slice().reverse();
    const items = [];
    if (record) items.push(html`<li><b>intent</b> ${link('intent', record.intent)} matched offer ${link('offer', record.offer)} in batch ${num(record.batch)}</li>`);
    for (const a of steps) {
      const action = a.event.action === 'market_cleared' ? 'leased (batch cleared)' : a.event.action;
      items.push(html`<li class="${a.event.action}"><b>${action}</b> at ${blockLink(a.height)} <span class="muted">${time(a.time_ms)}</span></li>`);
    }
    const status = statusName(record?.status);
    return [{ html: card(html`Timeline <span class="pill ${status}" id="lease-status">${status ?? 'unknown'}</span>`, html`<ul class="timeline">${items}</ul>
      ${record ? html`<p class="muted">deadline ${time(record.deadline_ms)}; ${num(record.units)} unit(s) at ${num(record.price)}, escrow ${num(record.escrow)}</p>` : ''}`).html }];
  },

  async account(id) {
    const [leases, stake] = await Promise.all([maybe(`/v1/accounts/${id}/leases?limit=20`), maybe(`/v1/accounts/${id}/stake`)]);
    return [{ html: card('Stake', stake ? renderValue({ provider: stake.provider, solver: stake.solver }) : html`<p class="muted">None.</p>`).html }, { html: card('Leases', table(['lease', 'device', 'status', '#units', '#price'], (leases?.leases ?? []).map((l) => [link('lease', l.id), link('device', l.device),
      html`${statusName(l.status)}`, html`${num(l.units)}`, html`${num(l.price)}`]), 'No leases.')).html }];
  },

  async maker(id, record, history) {
    const devices = (history?.activity ?? []).filter((a) => a.event?.action === 'device_onboarded').map((a) => a.event.device);
    return [{ html: card('Devices onboarded (recent)', devices.length ? html`<ul>${devices.map((d) => html`<li>${link('device', d)}</li>`)}</ul>` : html`<p class="muted">None in the recent activity.</p>`).html }];
  },
};

// ---------------------------------------------------------------- router and live updates

let current = null;
let lastRefresh = 0;

async function route() {
  for (const plot of charts) plot.destroy();
  charts.clear();
  current = null;
  document.body.removeAttribute('data-ready');
  const [path, search] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...args] = path.split('/').filter(Boolean);
  const query = new URLSearchParams(search ?? '');
  document.body.dataset.page = name || 'home';
  try {
    if (!name) current = await pages.home();
    else if (pages[name]) current = await pages[name](args, query);
    else if (KINDS[name] && args[0]) current = await entityPage(name, args[0]);
    else throw new ApiError(404, `no page ${path}`);
    document.body.dataset.renderedMs = Math.round(performance.now());
    document.body.dataset.ready = 'true';
  } catch (e) {
    view.innerHTML = html`<h1>${e.status === 404 ? 'Not found' : 'Something went wrong'}</h1><p class="bad">${e.message}</p>`.html;
    document.body.dataset.ready = 'error';
  }
}

let events = null;

/** Follows finalized blocks on the event stream. */
function follow() {
  events = new EventSource('/v1/events');
  events.addEventListener('block', async (message) => {
    const block = JSON.parse(message.data);
    live.textContent = `height ${num(block.header.height)}`;
    live.classList.remove('down');
    document.body.dataset.height = block.header.height;
    if (!current || document.body.dataset.ready !== 'true') return;
    const now = Date.now();
    if (current.refreshEvery && now - lastRefresh > current.refreshEvery) { lastRefresh = now; return route(); }
    if (current.onBlock && now - lastRefresh > 1000) {
      lastRefresh = now;
      try { await current.onBlock(block); } catch (e) { /* the next block retries */ }
    }
  });
  events.onerror = () => { live.textContent = 'reconnecting'; live.classList.add('down'); };
}

// A page left for another (and perhaps kept in the back-forward cache) closes its stream:
// browsers allow six connections per host, and streams held by pages out of sight would
// stall the next pages' requests.
window.addEventListener('pagehide', () => events?.close());
window.addEventListener('pageshow', (e) => { if (e.persisted) follow(); });

document.getElementById('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = e.target.q.value.trim();
  if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
});
window.addEventListener('hashchange', route);
route();
follow();
api('/v1/status').then((s) => { if (live.textContent === 'connecting') live.textContent = `height ${num(s.height)}`; }).catch(() => {});
