// The owner's page (`/insights`): a store's revenue, refunds, orders and cancellations over
// time, top products and the funnel, from `GET /stores/{id}/insights` (docs/API.md §14). The
// charts are SVG drawn here (no charting library, no CDN). Signs in like the dashboard and
// shares its session within the tab.
import { Session, describe, formatMoney, h, listAll, request } from './api.js';

const session = new Session('emporium.staff');
const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const DAY = 86_400_000;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The smallest of 1, 2, 2.5 or 5 × 10ⁿ that is at least `raw`: a tick step a reader can add. */
function niceStep(raw) {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) * magnitude;
  return step;
}

/** Grouped bars: one group per period, one bar per series, with a y axis of 2–4 round ticks. */
function barChart(container, periods, series, format, { whole = false, unit = 1 } = {}) {
  const width = 640;
  const height = 240;
  const pad = { left: 64, right: 8, top: 12, bottom: 36 };
  const highest = Math.max(1, ...series.flatMap((s) => periods.map(s.value)));
  // Round steps (whole ones for counts; whole units of money for amounts in minor units).
  const step = Math.max(whole ? 1 : unit, niceStep(highest / 4));
  const ticks = Math.max(1, Math.ceil(highest / step));
  const max = step * ticks;
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const group = plotW / Math.max(1, periods.length);
  const bar = Math.max(1, (group * 0.8) / series.length);
  const y = (v) => pad.top + plotH - (v / max) * plotH;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'bars' });
  chart.append(svg('title', {}, series.map((s) => s.label).join(' and ')));
  for (let i = 0; i <= ticks; i += 1) {
    const v = step * i;
    chart.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'grid' }));
    chart.append(svg('text', { x: pad.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, format(v)));
  }
  const labelEvery = Math.ceil(periods.length / 8);
  periods.forEach((p, i) => {
    const x0 = pad.left + i * group + group * 0.1;
    series.forEach((s, j) => {
      const v = s.value(p);
      const rect = svg('rect', {
        x: x0 + j * bar, y: y(v), width: Math.max(1, bar - 1), height: Math.max(0, pad.top + plotH - y(v)),
        class: `bar bar-${j}`,
      });
      rect.append(svg('title', {}, `${p.period_start.slice(0, 10)} · ${s.label}: ${format(v)}`));
      chart.append(rect);
    });
    if (i % labelEvery === 0) {
      chart.append(svg('text', { x: x0 + group * 0.4, y: height - 14, 'text-anchor': 'middle', class: 'tick' },
        p.period_start.slice(5, 10)));
    }
  });
  const legend = h('p', { class: 'legend' }, ...series.map((s, j) => h('span', { class: `key key-${j}`, text: s.label })));
  container.replaceChildren(chart, legend);
}

function kpi(label, value) {
  return h('div', { class: 'kpi panel' }, h('span', { class: 'muted', text: label }), h('strong', { class: 'num', text: value }));
}

async function show() {
  const store = $('store-select').value;
  if (!store) return;
  const from = new Date(`${$('from').value}T00:00:00Z`).getTime();
  const to = new Date(`${$('to').value}T00:00:00Z`).getTime() + DAY;
  const query = new URLSearchParams({
    from: new Date(from).toISOString(), to: new Date(to).toISOString(), granularity: $('granularity').value,
  });
  $('status').textContent = 'Loading…';
  try {
    const answer = await request('GET', `/stores/${store}/insights?${query}`, { session });
    const money = (amount) => formatMoney({ amount: Math.round(amount), currency: answer.currency });
    const t = answer.totals;
    $('kpis').replaceChildren(
      kpi('Revenue', formatMoney(t.revenue)),
      kpi('Net revenue', formatMoney(t.net_revenue)),
      kpi('Orders', String(t.orders)),
      kpi('Average order', formatMoney(t.average_order_value)),
      kpi('New customers', String(t.new_customers)),
      kpi('Cancelled', String(t.cancelled)),
    );
    barChart($('chart-revenue'), answer.series, [
      { label: 'Revenue', value: (p) => p.revenue.amount },
      { label: 'Refunds', value: (p) => p.refunds.amount },
    ], money);
    barChart($('chart-orders'), answer.series, [
      { label: 'Orders', value: (p) => p.orders },
      { label: 'Cancelled', value: (p) => p.cancelled },
    ], (v) => String(Math.round(v)), { whole: true });
    $('top-products').replaceChildren(...(answer.top_products.length ? answer.top_products.map((p) => h('li', {},
      h('span', { text: p.name || p.product_id }),
      h('span', { class: 'muted num', text: ` ${p.units} sold · ${formatMoney(p.revenue)}` })))
      : [h('li', { class: 'muted', text: 'Nothing sold in this period.' })]));
    const f = answer.funnel;
    const steps = [['Product views', f.product_views], ['Cart adds', f.cart_adds], ['Checkouts', f.checkouts], ['Orders confirmed', f.orders_confirmed]];
    const top = Math.max(1, ...steps.map(([, n]) => n));
    const bar = (n) => {
      // Through the CSSOM: the page's Content-Security-Policy refuses inline style attributes.
      const el = h('span', { class: 'funnel-bar' });
      el.style.setProperty('--share', `${(n / top) * 100}%`);
      return el;
    };
    $('funnel').replaceChildren(
      ...steps.map(([label, n]) => h('div', { class: 'funnel-step', dataset: { step: label } },
        h('span', { text: label }),
        bar(n),
        h('strong', { class: 'num', text: String(n) }))),
      h('p', { class: 'muted', text: `Conversion: ${(f.conversion_rate * 100).toFixed(1)} % of views` }),
    );
    $('status').textContent = `${answer.series.length} periods, ${answer.currency}`;
  } catch (error) {
    $('status').textContent = describe(error);
  }
}

function setSpan(days) {
  const today = Date.now();
  $('to').value = isoDay(today);
  $('from').value = isoDay(today - (days - 1) * DAY);
}

async function start() {
  const user = session.user;
  if (!user || user.role === 'customer') {
    $('signin').hidden = false;
    $('report').hidden = true;
    return;
  }
  $('signin').hidden = true;
  $('report').hidden = false;
  const stores = user.role === 'admin' ? await listAll('/stores') : [await request('GET', `/stores/${user.store_id}`)];
  const wanted = new URLSearchParams(location.search).get('store');
  $('store-select').replaceChildren(...stores.map((s) => h('option', { value: s.id, text: s.name, selected: s.id === wanted })));
  await show();
}

$('signin').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await session.login($('email').value.trim(), $('password').value);
    $('signin-error').textContent = '';
    await start();
  } catch (error) {
    $('signin-error').textContent = describe(error);
  }
});
$('range').addEventListener('submit', (event) => {
  event.preventDefault();
  show();
});
for (const button of document.querySelectorAll('[data-days]')) {
  button.addEventListener('click', () => {
    setSpan(Number(button.dataset.days));
    show();
  });
}
$('store-select').addEventListener('change', show);
$('granularity').addEventListener('change', show);
setSpan(7);
start()
  .catch((error) => { $('status').textContent = describe(error); })
  // Tests (and people reading the page's state) know the first render is done.
  .finally(() => { document.body.dataset.ready = 'true'; });
