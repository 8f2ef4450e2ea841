// The staff dashboard (`/dashboard`): the store's open orders in lanes by status, filled live
// from `store:{id}:orders`; one-click advance and cancel; the store's open/closed switch; and a
// low-stock list with restock; for admins a Users tab (list, filter, role and store,
// disable/enable), for staff and admins a Notifications tab (notifications.js). Kitchen and
// order tickets (§13): customer, type and table, time placed, note, a countdown to the ready
// time, a beep on a new order (mute remembered), printing, a 10 s Undo of a status change,
// a stuck badge (`order.stuck`), a fulfil dialog and a returns queue. Uses only the public API
// (docs/API.md §4–§9, §12, §13).

import {
  Live, Session, age, describe, formatMoney, h, listAll, request,
} from './api.js';
import { loadLocations } from './locations.js';
import { loadNotifications, mountNotifications } from './notifications.js';

const session = new Session('emporium.staff');
const live = new Live(() => session.token());
const $ = (id) => document.getElementById(id);

/** [status, restaurant title, retail title] */
const LANES = [
  ['confirmed', 'New', 'New'],
  ['preparing', 'Preparing', 'Picking & packing'],
  ['ready', 'Ready', 'Ready to ship'],
  ['in_transit', 'Out for delivery', 'Shipped'],
];

/** Next steps per status: [target, restaurant label, retail label]. */
const NEXT = {
  confirmed: [['preparing', 'Start preparing', 'Start packing']],
  preparing: [['ready', 'Mark ready', 'Mark packed']],
  ready: [['delivered', 'Picked up', 'Collected'], ['in_transit', 'Out for delivery', 'Ship']],
  in_transit: [['delivered', 'Delivered', 'Delivered']],
};
const CANCELLABLE = new Set(['confirmed', 'preparing']);
const FULFILLABLE = new Set(['confirmed', 'preparing', 'ready']);
const TYPE_LABELS = { delivery: 'Delivery', pickup: 'Pickup', dine_in: 'Dine-in' };
/** Minutes a restaurant ticket promises when the kitchen starts it. */
const PREP_MINUTES = 15;

/** Who ordered: the address's name when there is one, else a short account id. */
function customerName(order) {
  const address = order.shipping_address || {};
  const name = address.name || address.full_name || address.recipient;
  if (name) return name;
  return order.customer_id ? `Customer …${order.customer_id.slice(-6)}` : 'Walk-in';
}

/** `12 min left`, `due now`, `5 min late`. */
function countdown(at) {
  const minutes = Math.round((Date.parse(at) - Date.now()) / 60000);
  if (minutes > 0) return `Ready in ${minutes} min`;
  if (minutes === 0) return 'Due now';
  return `${-minutes} min late`;
}

/** Prints one ticket: the print styles show only the ticket marked `print-target`. */
function printTicket(orderId) {
  const ticket = state.tickets.get(orderId);
  if (!ticket) return;
  ticket.classList.add('print-target');
  document.body.classList.add('printing-ticket');
  const done = () => {
    ticket.classList.remove('print-target');
    document.body.classList.remove('printing-ticket');
    window.removeEventListener('afterprint', done);
  };
  window.addEventListener('afterprint', done);
  window.print();
  setTimeout(done, 1000);
}
const TERMINAL = new Set(['delivered', 'cancelled', 'payment_failed']);
/** The steps the server lets staff take back within 10 s (docs/API.md, *Undo*). */
const UNDOABLE = new Set(['preparing', 'ready', 'in_transit']);

const state = {
  store: null,
  stores: [],
  orders: new Map(), // id → open order
  tickets: new Map(), // id → <article>
  lanes: new Map(), // status → {section, list, count}
  products: new Map(),
  stock: new Map(),
  lowItems: new Map(), // product id → <li>
  cancelled: new Map(), // id → recently cancelled order
  stuck: new Map(), // order id → reason (`order.stuck`)
  returns: new Map(), // id → open return
  firstSnapshot: true,
};

// ---------------------------------------------------------------- sound

const MUTE_KEY = 'emporium.dashboard.muted';
let audio = null;

function muted() {
  return localStorage.getItem(MUTE_KEY) === 'true';
}

function renderMute() {
  const button = $('mute-toggle');
  button.setAttribute('aria-pressed', String(muted()));
  button.textContent = muted() ? 'Sound off' : 'Sound on';
}

/** A short two-tone beep (Web Audio: nothing to download). */
function beep() {
  if (muted()) return;
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, frequency] of [880, 1320].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.2, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.17);
    }
  } catch {
    // No audio device: the flash and the toast still tell.
  }
}

// ---------------------------------------------------------------- undo

const UNDO_MS = 10000;

/** A toast with an Undo button for the status change just made (the server allows 10 s). */
function offerUndo(order, fromStatus) {
  const box = $('undo-toast');
  clearTimeout(offerUndo.timer);
  $('undo-text').textContent = `Order ${order.number} is ${order.status.replace('_', ' ')}.`;
  const button = $('undo-button');
  button.disabled = false;
  button.onclick = async () => {
    button.disabled = true;
    try {
      const back = await request('POST', `/orders/${order.id}/undo`, { session });
      upsert(back);
      box.hidden = true;
      toast(`Order ${back.number} is back to ${fromStatus.replace('_', ' ')}.`);
    } catch (e) {
      box.hidden = true;
      toast(e.code === 'invalid_transition' ? 'Too late to undo that change.' : describe(e));
    }
  };
  box.hidden = false;
  offerUndo.timer = setTimeout(() => { box.hidden = true; }, UNDO_MS);
}

function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('show'), 5000);
}

const retail = () => state.store?.kind === 'retail';

// ---------------------------------------------------------------- sign in

function renderAccount() {
  const user = session.user;
  $('account').replaceChildren(...(user
    ? [h('span', { class: 'user-name', text: user.name, title: user.email }),
      h('button', {
        class: 'button', type: 'button', id: 'sign-out', onclick: () => session.logout(),
      }, 'Sign out')]
    : []));
}

async function signIn(event) {
  event.preventDefault();
  const error = $('signin-error');
  error.hidden = true;
  $('signin-submit').disabled = true;
  try {
    await session.login($('email').value.trim(), $('password').value);
    $('password').value = '';
  } catch (e) {
    error.textContent = e.code === 'invalid_credentials' ? 'Wrong email or password.' : describe(e);
    error.hidden = false;
  } finally {
    $('signin-submit').disabled = false;
  }
}

async function onSession() {
  renderAccount();
  const user = session.user;
  leaveStore();
  $('tabs').hidden = !user || user.role === 'customer';
  $('tab-users').hidden = user?.role !== 'admin';
  showTab('orders');
  if (!user) {
    $('signin').hidden = false;
    $('board').hidden = true;
    $('store-toggle').hidden = true;
    $('store-name').textContent = 'Staff dashboard';
    live.connect();
    $('email').focus();
    return;
  }
  if (user.role === 'customer') {
    $('signin').hidden = false;
    $('board').hidden = true;
    const error = $('signin-error');
    error.textContent = `${user.email} is a customer account. Sign in with a staff account.`;
    error.hidden = false;
    await session.logout();
    return;
  }
  $('signin').hidden = true;
  showTab('orders');
  live.connect();
  try {
    if (user.role === 'staff') {
      state.stores = [await request('GET', `/stores/${user.store_id}`, { session })];
    } else {
      state.stores = await listAll('/stores', {}, { session });
    }
    const picker = $('store-picker');
    picker.hidden = state.stores.length < 2;
    $('store-select').replaceChildren(...state.stores.map((s) => h('option', { value: s.id, text: s.name })));
    if (state.stores.length) await enterStore(state.stores[0].id);
    else $('store-name').textContent = 'No stores yet';
  } catch (e) {
    toast(describe(e));
  }
}

// ---------------------------------------------------------------- store

function leaveStore() {
  if (state.store) {
    live.unsubscribe(`store:${state.store.id}:orders`);
    live.unsubscribe(`store:${state.store.id}`);
  }
  state.store = null;
  state.orders.clear();
  state.tickets.clear();
  state.products.clear();
  state.stock.clear();
  state.lowItems.clear();
  state.cancelled.clear();
  state.stuck.clear();
  state.returns.clear();
  state.firstSnapshot = true;
  $('lanes').replaceChildren();
  $('low-stock-list').replaceChildren();
  renderCancelled();
}

async function enterStore(storeId) {
  leaveStore();
  const store = state.stores.find((s) => s.id === storeId);
  state.store = store;
  $('store-select').value = store.id;
  document.body.dataset.storeKind = store.kind;
  buildLanes();
  renderStore();
  live.subscribe(`store:${store.id}:orders`, onOrdersMessage);
  live.subscribe(`store:${store.id}`, onStoreMessage);
  await Promise.all([loadProducts(), loadCancelled(), loadReturns()]);
  loadLocations(session, store, state.products, toast);
}

function renderStore() {
  const store = state.store;
  $('store-name').textContent = store.name;
  document.title = `Orders · ${store.name}`;
  const toggle = $('store-toggle');
  toggle.hidden = false;
  toggle.setAttribute('aria-checked', String(store.open));
  toggle.dataset.open = String(store.open);
  $('store-toggle-text').textContent = store.open ? 'Open' : 'Closed';
}

async function toggleStore() {
  const toggle = $('store-toggle');
  toggle.disabled = true;
  try {
    const store = await request('PUT', `/stores/${state.store.id}/status`, {
      body: { open: !state.store.open }, session,
    });
    updateStore(store);
    toast(store.open ? 'The store is open for orders.' : 'The store is closed; new orders are refused.');
  } catch (e) {
    toast(describe(e));
  } finally {
    toggle.disabled = false;
  }
}

function updateStore(store) {
  if (state.store?.id !== store.id) return;
  state.store = store;
  renderStore();
}

function onStoreMessage(msg) {
  if (msg.type === 'snapshot') {
    updateStore(msg.snapshot);
    if (msg.reset) loadProducts();
  } else if (msg.type === 'event') {
    if (msg.event === 'store.status_changed') updateStore(msg.data);
    else if (msg.event === 'stock.changed') applyStock(msg.data.product_id, msg.data);
    else if (msg.event === 'product.updated') {
      state.products.set(msg.data.id, msg.data);
      applyStock(msg.data.id, msg.data.stock);
    }
  }
}

// ---------------------------------------------------------------- orders

function buildLanes() {
  state.lanes.clear();
  $('lanes').replaceChildren(...LANES.map(([status, restaurantTitle, retailTitle]) => {
    const title = retail() ? retailTitle : restaurantTitle;
    const count = h('span', { class: 'count num', text: '0' });
    const list = h('div', { class: 'lane-list' });
    const section = h('section', {
      class: 'lane', id: `lane-${status}`, dataset: { status }, 'aria-labelledby': `lane-title-${status}`,
    },
    h('h2', { class: 'lane-title', id: `lane-title-${status}` }, title, ' ', count),
    status === 'confirmed' ? h('p', { id: 'pending-note', class: 'lane-note muted', role: 'status' }) : null,
    list);
    state.lanes.set(status, { section, list, count });
    return section;
  }));
}

function onOrdersMessage(msg) {
  if (msg.type === 'snapshot') {
    const known = new Set(state.orders.keys());
    state.orders.clear();
    for (const order of msg.snapshot.open_orders) state.orders.set(order.id, order);
    for (const [id, ticket] of state.tickets) {
      if (!state.orders.has(id)) {
        ticket.remove();
        state.tickets.delete(id);
      }
    }
    renderLanes();
    // After a reset (e.g. the server restarted while we were offline) flag what is new to us.
    if (!state.firstSnapshot) {
      for (const order of state.orders.values()) {
        if (!known.has(order.id) && order.status === 'confirmed') flash(order.id);
      }
    }
    state.firstSnapshot = false;
  } else if (msg.type === 'event') {
    if (msg.event === 'order.stuck') {
      state.stuck.set(msg.data.order_id, msg.data.reason);
      const ticket = state.tickets.get(msg.data.order_id);
      if (ticket) ticket.dataset.version = '';
      renderLanes();
      return;
    }
    const order = msg.event === 'order.created' ? msg.data : msg.data.order;
    if (!order) return;
    const previous = state.orders.get(order.id);
    if (previous && order.history.length < previous.history.length) return;
    if (order.status !== previous?.status) state.stuck.delete(order.id);
    upsert(order);
    if (order.status === 'confirmed' && previous?.status !== 'confirmed'
        && order.history.at(-1)?.reason !== 'undo') {
      flash(order.id);
      beep();
    }
  } else if (msg.type === 'error') {
    toast(`Live orders unavailable: ${msg.detail || msg.code}`);
  }
}

function upsert(order) {
  if (TERMINAL.has(order.status)) state.orders.delete(order.id);
  else state.orders.set(order.id, order);
  if (order.status === 'cancelled') noteCancelled(order);
  renderLanes();
}

// ---------------------------------------------------------------- cancelled

const CANCELLED_SHOWN = 10;

/** The history entry of the cancellation (its `reason` is what the canceller said). */
function cancellation(order) {
  return [...order.history].reverse().find((entry) => entry.status === 'cancelled') || {};
}

async function loadCancelled() {
  if (!state.store) return;
  const storeId = state.store.id;
  try {
    const params = new URLSearchParams({
      store_id: storeId, status: 'cancelled', per_page: String(CANCELLED_SHOWN),
    });
    const page = await request('GET', `/orders?${params}`, { session });
    if (state.store?.id !== storeId) return;
    for (const order of page.items) state.cancelled.set(order.id, order);
    renderCancelled();
  } catch (e) {
    toast(`Cancelled orders unavailable: ${describe(e)}`);
  }
}

function noteCancelled(order) {
  state.cancelled.set(order.id, order);
  renderCancelled();
}

function renderCancelled() {
  const newest = [...state.cancelled.values()]
    .sort((a, b) => (cancellation(b).at || '').localeCompare(cancellation(a).at || ''))
    .slice(0, CANCELLED_SHOWN);
  for (const id of state.cancelled.keys()) {
    if (!newest.some((order) => order.id === id)) state.cancelled.delete(id);
  }
  $('cancelled-empty').hidden = newest.length > 0;
  $('cancelled-list').replaceChildren(...newest.map((order) => {
    const entry = cancellation(order);
    const by = entry.by === order.customer_id ? 'by the customer' : 'by the store';
    return h('li', { class: 'cancelled-item', dataset: { orderId: order.id } },
      h('div', { class: 'cancelled-head' },
        h('strong', { class: 'num', text: order.number }),
        h('span', { class: 'muted small', title: entry.at, text: entry.at ? `${age(entry.at)} ago, ${by}` : by })),
      h('p', { class: `cancelled-reason small${entry.reason ? '' : ' muted'}`, text: entry.reason || 'No reason given.' }));
  }));
}

function renderLanes() {
  const byStatus = new Map(LANES.map(([status]) => [status, []]));
  let pending = 0;
  for (const order of state.orders.values()) {
    if (byStatus.has(order.status)) byStatus.get(order.status).push(order);
    else if (order.status === 'pending') pending += 1;
  }
  for (const [id, ticket] of state.tickets) {
    const order = state.orders.get(id);
    if (!order || !byStatus.has(order.status)) {
      ticket.remove();
      state.tickets.delete(id);
    }
  }
  for (const [status, orders] of byStatus) {
    orders.sort((a, b) => a.created_at.localeCompare(b.created_at));
    const lane = state.lanes.get(status);
    if (!lane) continue;
    const tickets = orders.map((order) => ticketFor(order));
    // Move only what is out of place, so a focused button keeps its focus.
    tickets.forEach((ticket, i) => {
      if (lane.list.children[i] !== ticket) lane.list.insertBefore(ticket, lane.list.children[i] || null);
    });
    while (lane.list.children.length > tickets.length) lane.list.lastElementChild.remove();
    lane.count.textContent = String(orders.length);
    lane.section.classList.toggle('empty', orders.length === 0);
  }
  $('pending-note').textContent = pending
    ? `+ ${pending} awaiting payment`
    : '';
}

function ticketFor(order) {
  let ticket = state.tickets.get(order.id);
  if (!ticket) {
    ticket = h('article', {
      class: 'ticket', dataset: { orderId: order.id }, 'aria-labelledby': `ticket-${order.id}`,
    });
    state.tickets.set(order.id, ticket);
  }
  const version = `${order.status}/${order.history.length}/${order.fulfillments?.length || 0}/${state.stuck.get(order.id) || ''}`;
  if (ticket.dataset.version === version) return ticket;
  ticket.dataset.version = version;
  ticket.dataset.status = order.status;
  if (order.status !== 'confirmed') ticket.classList.remove('flash', 'is-new');
  const actions = (NEXT[order.status] || []).map(([to, restaurantLabel, retailLabel]) => {
    const label = retail() ? retailLabel : restaurantLabel;
    return h('button', {
      class: `button ${to === (NEXT[order.status][0][0]) ? 'primary' : ''} advance`,
      type: 'button',
      dataset: { to },
      'aria-label': `${label}: order ${order.number}`,
      onclick: (e) => advance(order.id, to, e.currentTarget),
    }, label);
  });
  if (CANCELLABLE.has(order.status)) {
    actions.push(h('button', {
      class: 'button danger-outline cancel', type: 'button',
      'aria-label': `Cancel order ${order.number}`,
      onclick: (e) => cancel(order.id, e.currentTarget),
    }, 'Cancel'));
  }
  if (FULFILLABLE.has(order.status) && order.fulfillment_type === 'delivery'
      && order.fulfillment_status !== 'fulfilled') {
    actions.push(h('button', {
      class: 'button fulfil', type: 'button', 'aria-label': `Fulfil order ${order.number}`,
      onclick: () => openFulfil(order.id),
    }, 'Fulfil…'));
  }
  actions.push(h('button', {
    class: 'button print', type: 'button', 'aria-label': `Print order ${order.number}`,
    onclick: () => printTicket(order.id),
  }, 'Print'));
  const type = TYPE_LABELS[order.fulfillment_type] || order.fulfillment_type;
  const stuck = state.stuck.get(order.id);
  const placed = new Date(order.created_at);
  ticket.replaceChildren(...[
    h('header', { class: 'ticket-head' },
      h('h3', { id: `ticket-${order.id}`, class: 'ticket-number num', text: order.number }),
      h('span', { class: 'ticket-new', text: 'New', 'aria-hidden': 'true' }),
      stuck ? h('span', { class: 'ticket-stuck', text: stuck === 'pending_too_long' ? 'Payment stuck' : 'Waiting too long' }) : null,
      h('span', { class: 'age num', dataset: { since: order.created_at }, title: 'Time since the order came in', text: age(order.created_at) })),
    h('p', { class: 'ticket-meta small' },
      h('span', { class: 'ticket-type', text: order.table ? `${type} · Table ${order.table}` : type }),
      ' · ',
      h('span', { class: 'ticket-customer', text: customerName(order) }),
      ' · ',
      h('time', { class: 'ticket-placed num', datetime: order.created_at, text: placed.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) })),
    order.estimated_ready_at
      ? h('p', { class: 'ticket-ready num', dataset: { readyAt: order.estimated_ready_at }, text: countdown(order.estimated_ready_at) })
      : null,
    h('ul', { class: 'ticket-items' }, order.items.map((item) => h('li', {},
      h('span', { class: 'qty num', text: `${item.quantity}×` }), ' ', item.name))),
    order.note ? h('p', { class: 'ticket-note' }, h('strong', { text: 'Note: ' }), order.note) : null,
    order.fulfillments?.length
      ? h('p', { class: 'ticket-shipped small muted', text: `${order.fulfillment_status.replace('_', ' ')} (${order.fulfillments.length} shipment${order.fulfillments.length > 1 ? 's' : ''})` })
      : null,
    h('p', { class: 'ticket-total num', text: formatMoney(order.total) }),
    h('div', { class: 'ticket-actions' }, actions),
  ].filter(Boolean));
  return ticket;
}

/** A sound-free highlight for an order that just came in. */
function flash(orderId) {
  const ticket = state.tickets.get(orderId);
  if (!ticket) return;
  ticket.classList.remove('flash');
  // Restart the animation even if it is running.
  void ticket.offsetWidth;
  ticket.classList.add('flash', 'is-new');
  clearTimeout(ticket.newTimer);
  ticket.newTimer = setTimeout(() => ticket.classList.remove('is-new'), 60000);
  toast(`New order ${state.orders.get(orderId)?.number || ''}`);
}

async function advance(orderId, to, button) {
  button.disabled = true;
  try {
    const previous = state.orders.get(orderId);
    const body = { status: to };
    if (to === 'preparing' && !retail()) body.prep_minutes = PREP_MINUTES;
    const order = await request('PUT', `/orders/${orderId}/status`, { body, session });
    if (!previous || order.history.length >= previous.history.length) upsert(order);
    if (previous && UNDOABLE.has(to)) offerUndo(order, previous.status);
    const next = state.tickets.get(orderId)?.querySelector('button');
    if (next) next.focus();
  } catch (e) {
    button.disabled = false;
    toast(e.code === 'invalid_transition'
      ? `That order is ${e.problem.from} now; it cannot go to ${e.problem.to}.`
      : describe(e));
  }
}

async function cancel(orderId, button) {
  if (button.dataset.confirm !== 'true') {
    button.dataset.confirm = 'true';
    button.textContent = 'Confirm cancel';
    setTimeout(() => {
      if (button.isConnected) {
        button.dataset.confirm = 'false';
        button.textContent = 'Cancel';
      }
    }, 4000);
    return;
  }
  button.disabled = true;
  try {
    const order = await request('POST', `/orders/${orderId}/cancel`, {
      body: { reason: 'cancelled by the store' }, session,
    });
    upsert(order);
    toast(`Order ${order.number} cancelled${order.payment?.status === 'refunded' ? ' and refunded' : ''}.`);
  } catch (e) {
    button.disabled = false;
    toast(describe(e));
  }
}

// ---------------------------------------------------------------- low stock

async function loadProducts() {
  if (!state.store) return;
  const storeId = state.store.id;
  try {
    const products = await listAll('/products', { store_id: storeId }, { session });
    if (state.store?.id !== storeId) return;
    for (const product of products) {
      state.products.set(product.id, product);
      applyStock(product.id, product.stock);
    }
    renderImageProducts();
  } catch (e) {
    toast(describe(e));
  }
}

function applyStock(productId, stock) {
  const known = state.stock.get(productId);
  if (known && stock.version < known.version) return;
  state.stock.set(productId, { available: stock.available, version: stock.version });
  renderLowStock(productId);
}

function renderLowStock(productId) {
  const product = state.products.get(productId);
  const stock = state.stock.get(productId);
  if (!product || !stock) return;
  const low = stock.available < product.low_stock_threshold;
  let item = state.lowItems.get(productId);
  if (!low) {
    if (item) {
      item.remove();
      state.lowItems.delete(productId);
    }
  } else {
    if (!item) {
      const input = h('input', {
        type: 'number', min: '1', max: '100000', class: 'restock-qty num',
        value: String(Math.max(product.low_stock_threshold * 2 - stock.available, 1)),
        'aria-label': `Units of ${product.name} to add`,
      });
      item = h('li', { class: 'low-item', dataset: { productId } },
        h('span', { class: 'low-name', text: product.name }),
        h('span', { class: 'low-level num' }),
        h('span', { class: 'restock' },
          input,
          h('button', {
            class: 'button primary', type: 'button', 'aria-label': `Restock ${product.name}`,
            onclick: (e) => restock(productId, input, e.currentTarget),
          }, 'Restock')));
      state.lowItems.set(productId, item);
    }
    item.querySelector('.low-level').textContent = stock.available > 0
      ? `${stock.available} left · min ${product.low_stock_threshold}`
      : `Sold out · min ${product.low_stock_threshold}`;
    item.dataset.level = stock.available > 0 ? 'low' : 'out';
  }
  const items = [...state.lowItems.entries()]
    .sort(([a], [b]) => state.stock.get(a).available - state.stock.get(b).available)
    .map(([, li]) => li);
  const list = $('low-stock-list');
  items.forEach((li, i) => {
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
  });
  $('low-stock-count').textContent = String(items.length);
  $('low-stock-empty').hidden = items.length > 0;
}

async function restock(productId, input, button) {
  const delta = Number.parseInt(input.value, 10);
  if (!Number.isInteger(delta) || delta < 1) {
    input.focus();
    toast('Enter how many units arrived (1 or more).');
    return;
  }
  button.disabled = true;
  try {
    const inventory = await request('POST', `/products/${productId}/inventory/adjustments`, {
      body: { delta, reason: 'restock' }, session,
    });
    applyStock(productId, inventory);
    toast(`Restocked ${state.products.get(productId)?.name}: ${inventory.available} available.`);
  } catch (e) {
    toast(describe(e));
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- product images

/** The product picker of the images panel, keeping the current choice. */
function renderImageProducts() {
  const select = $('images-product');
  const chosen = select.value;
  const products = [...state.products.values()].sort((a, b) => a.name.localeCompare(b.name));
  select.replaceChildren(...products.map((p) => h('option', { value: p.id, text: p.name })));
  if (products.some((p) => p.id === chosen)) select.value = chosen;
  loadImages();
}

/** The chosen product's uploaded images, each with a Delete button. */
async function loadImages() {
  const productId = $('images-product').value;
  const list = $('images-list');
  if (!productId) {
    list.replaceChildren();
    $('images-empty').hidden = false;
    return;
  }
  try {
    const images = await listAll(`/products/${productId}/images`, {}, { session });
    if ($('images-product').value !== productId) return;
    list.replaceChildren(...images.map((image) => h('li', { class: 'image-item', dataset: { imageId: image.id } },
      h('img', { src: `${image.url}?w=200`, alt: '', width: 100 }),
      h('span', { class: 'muted small num', text: `${image.width}×${image.height}` }),
      h('button', {
        class: 'button', type: 'button', 'aria-label': `Delete image ${image.id}`,
        onclick: (e) => deleteImage(productId, image.id, e.currentTarget),
      }, 'Delete'))));
    $('images-empty').hidden = images.length > 0;
  } catch (e) {
    toast(describe(e));
  }
}

async function uploadImage(event) {
  event.preventDefault();
  const productId = $('images-product').value;
  const file = $('images-file').files[0];
  if (!productId || !file) {
    toast('Choose a product and an image file first.');
    return;
  }
  const form = new FormData();
  form.append('file', file);
  const button = event.submitter;
  if (button) button.disabled = true;
  try {
    const image = await request('POST', `/products/${productId}/images`, { form, session });
    $('images-file').value = '';
    toast(`Uploaded ${image.width}×${image.height} ${image.content_type}.`);
    await loadImages();
  } catch (e) {
    toast(describe(e));
  } finally {
    if (button) button.disabled = false;
  }
}

async function deleteImage(productId, imageId, button) {
  button.disabled = true;
  try {
    await request('DELETE', `/products/${productId}/images/${imageId}`, { session });
    toast('Image deleted.');
    await loadImages();
  } catch (e) {
    toast(describe(e));
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- users (admins)

const ROLES = ['customer', 'staff', 'admin'];
const users = { page: 1, perPage: 20, total: 0 };

/** Shows one section: the orders board, the users panel (admins) or the notifications
 * (staff and admins). */
function showTab(name) {
  const onUsers = name === 'users';
  const onNotifications = name === 'notifications';
  $('board').hidden = onUsers || onNotifications;
  $('users').hidden = !onUsers;
  $('notifications').hidden = !onNotifications;
  $('tab-orders').setAttribute('aria-selected', String(!onUsers && !onNotifications));
  $('tab-users').setAttribute('aria-selected', String(onUsers));
  $('tab-notifications').setAttribute('aria-selected', String(onNotifications));
  if (onNotifications) loadNotifications(session);
  if (onUsers) {
    $('users-store').replaceChildren(h('option', { value: '', text: 'Any' }),
      ...state.stores.map((s) => h('option', { value: s.id, text: s.name })));
    loadUsers();
  }
}

async function loadUsers() {
  const params = new URLSearchParams({ page: String(users.page), per_page: String(users.perPage) });
  const q = $('users-q').value.trim();
  if (q) params.set('q', q);
  if ($('users-role').value) params.set('role', $('users-role').value);
  if ($('users-store').value) params.set('store_id', $('users-store').value);
  try {
    const body = await request('GET', `/users?${params}`, { session });
    users.total = body.total;
    $('users-list').replaceChildren(...body.items.map(userRow));
    $('users-empty').hidden = body.items.length > 0;
    $('users-total').textContent = String(body.total);
    const pages = Math.max(1, Math.ceil(body.total / users.perPage));
    $('users-page').textContent = `Page ${users.page} of ${pages}`;
    $('users-prev').disabled = users.page <= 1;
    $('users-next').disabled = users.page >= pages;
  } catch (e) {
    toast(describe(e));
  }
}

/** One user's row: role and store pickers and the disable/enable switch, each saving at once. */
function userRow(user) {
  const storeName = (id) => state.stores.find((s) => s.id === id)?.name || id;
  const role = h('select', { 'aria-label': `Role of ${user.email}` },
    ...ROLES.map((r) => h('option', { value: r, text: r, selected: r === user.role })));
  const store = h('select', { 'aria-label': `Store of ${user.email}`, disabled: user.role !== 'staff' },
    h('option', { value: '', text: '—' }),
    ...state.stores.map((s) => h('option', { value: s.id, text: s.name, selected: s.id === user.store_id })));
  const row = h('tr', { dataset: { userId: user.id, disabled: String(user.disabled) } },
    h('td', { text: user.name }),
    h('td', { text: user.email }),
    h('td', {}, role),
    h('td', {}, store),
    h('td', {
      class: 'user-status', dataset: { disabled: String(user.disabled) },
      text: user.disabled ? 'Disabled' : 'Active',
    }),
    h('td', {}, h('button', {
      class: user.disabled ? 'button' : 'button danger-outline',
      type: 'button',
      'aria-label': `${user.disabled ? 'Enable' : 'Disable'} ${user.email}`,
      onclick: () => saveUser(user, { disabled: !user.disabled }, row,
        user.disabled ? `${user.email} can sign in again.` : `${user.email} is disabled and signed out everywhere.`),
    }, user.disabled ? 'Enable' : 'Disable')));
  role.addEventListener('change', () => {
    if (role.value === 'staff') {
      store.disabled = false;
      // Staff need a store: wait for one to be picked.
      if (!store.value) {
        store.focus();
        toast('Pick the store this staff member works for.');
        return;
      }
      saveUser(user, { role: 'staff', store_id: store.value }, row, `${user.email} is staff of ${storeName(store.value)}.`);
    } else {
      saveUser(user, { role: role.value }, row, `${user.email} is now ${role.value}.`);
    }
  });
  store.addEventListener('change', () => {
    if (role.value === 'staff' && store.value) {
      saveUser(user, { role: 'staff', store_id: store.value }, row, `${user.email} is staff of ${storeName(store.value)}.`);
    }
  });
  return row;
}

async function saveUser(user, body, row, done) {
  for (const control of row.querySelectorAll('select, button')) control.disabled = true;
  try {
    const changed = await request('PATCH', `/users/${user.id}`, { body, session });
    row.replaceWith(userRow(changed));
    toast(done);
  } catch (e) {
    toast(describe(e));
    row.replaceWith(userRow(user));
  }
}

// ---------------------------------------------------------------- wiring

function renderLiveStatus(status) {
  const el = $('live-status');
  el.dataset.status = status;
  el.textContent = status === 'online' ? 'Live' : status === 'connecting' ? 'Connecting…' : 'Offline';
  $('offline-banner').hidden = status !== 'offline' || !session.user;
  document.body.classList.toggle('offline', status === 'offline');
}

function tickAges() {
  for (const el of document.querySelectorAll('.ticket .age')) el.textContent = age(el.dataset.since);
  for (const el of document.querySelectorAll('.ticket .ticket-ready')) {
    el.textContent = countdown(el.dataset.readyAt);
    el.classList.toggle('late', Date.parse(el.dataset.readyAt) < Date.now());
  }
}

// ---------------------------------------------------------------- fulfil dialog

function openFulfil(orderId) {
  const order = state.orders.get(orderId);
  if (!order) return;
  const dialog = $('fulfil-dialog');
  dialog.dataset.orderId = orderId;
  $('fulfil-title').textContent = `Fulfil order ${order.number}`;
  $('fulfil-error').hidden = true;
  const shipped = new Map();
  for (const f of order.fulfillments || []) {
    for (const item of f.items) shipped.set(item.product_id, (shipped.get(item.product_id) || 0) + item.quantity);
  }
  $('fulfil-items').replaceChildren(...order.items.map((item) => {
    const left = item.quantity - (shipped.get(item.product_id) || 0);
    return h('label', { class: 'field inline' },
      h('span', { class: 'label', text: `${item.name} (${left} left)` }),
      h('input', {
        type: 'number', min: '0', max: String(left), value: String(Math.max(left, 0)),
        dataset: { productId: item.product_id }, class: 'fulfil-qty',
      }));
  }));
  dialog.showModal();
}

async function submitFulfil(event) {
  event.preventDefault();
  const dialog = $('fulfil-dialog');
  const items = [...document.querySelectorAll('.fulfil-qty')]
    .map((input) => ({ product_id: input.dataset.productId, quantity: Number(input.value) }))
    .filter((item) => item.quantity > 0);
  const body = { items };
  for (const key of ['carrier', 'tracking_number', 'tracking_url']) {
    const value = $(`fulfil-${key.replace('_', '-')}`).value.trim();
    if (value) body[key] = value;
  }
  try {
    await request('POST', `/orders/${dialog.dataset.orderId}/fulfillments`, { body, session });
    dialog.close();
    toast('Shipment recorded.');
    const order = await request('GET', `/orders/${dialog.dataset.orderId}`, { session });
    upsert(order);
  } catch (e) {
    $('fulfil-error').textContent = e.code === 'over_fulfilled'
      ? 'More units than remain to ship.' : describe(e);
    $('fulfil-error').hidden = false;
  }
}

// ---------------------------------------------------------------- returns queue

async function loadReturns() {
  if (!state.store) return;
  const storeId = state.store.id;
  try {
    const page = await request('GET', '/returns?per_page=100', { session });
    if (state.store?.id !== storeId) return;
    state.returns.clear();
    for (const ret of page.items) {
      if (ret.store_id === storeId && ['requested', 'approved', 'receiving'].includes(ret.status)) {
        state.returns.set(ret.id, ret);
      }
    }
    renderReturns();
  } catch (e) {
    toast(`Returns unavailable: ${describe(e)}`);
  }
}

function renderReturns() {
  const open = [...state.returns.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
  $('returns-empty').hidden = open.length > 0;
  $('returns-count').textContent = String(open.length);
  $('returns-list').replaceChildren(...open.map((ret) => {
    const act = async (path, body) => {
      try {
        const next = await request('POST', `/returns/${ret.id}/${path}`, { body, session });
        if (['rejected', 'refunded'].includes(next.status)) state.returns.delete(ret.id);
        else state.returns.set(ret.id, next);
        renderReturns();
        toast(`Return ${next.status}.`);
      } catch (e) {
        toast(describe(e));
      }
    };
    const inputs = ret.items.map((item) => ({
      item,
      received: h('input', { type: 'number', min: '0', max: String(item.quantity), value: String(item.quantity), 'aria-label': 'Received' }),
      damaged: h('input', { type: 'number', min: '0', max: String(item.quantity), value: '0', 'aria-label': 'Damaged' }),
    }));
    const buttons = ret.status === 'requested'
      ? [h('button', { class: 'button primary', type: 'button', onclick: () => act('approve') }, 'Approve'),
        h('button', { class: 'button danger-outline', type: 'button', onclick: () => act('reject') }, 'Reject')]
      : [h('button', {
        class: 'button primary', type: 'button',
        onclick: () => act('receive', {
          items: inputs.map(({ item, received, damaged }) => ({
            product_id: item.product_id, received: Number(received.value), damaged: Number(damaged.value),
          })),
        }),
      }, 'Receive & refund')];
    const orderNumber = state.orders.get(ret.order_id)?.number || ret.order_id;
    return h('li', { class: 'return-item', dataset: { returnId: ret.id } },
      h('div', { class: 'cancelled-head' },
        h('strong', { text: `Return for ${orderNumber}` }),
        h('span', { class: 'muted small', text: ret.status })),
      h('ul', { class: 'ticket-items' }, inputs.map(({ item, received, damaged }) => h('li', {},
        h('span', { class: 'qty num', text: `${item.quantity}×` }), ' ',
        state.products.get(item.product_id)?.name || item.product_id, ` (${item.reason.replace(/_/g, ' ')})`,
        ret.status === 'approved' ? h('span', { class: 'receive-fields' }, ' received ', received, ' damaged ', damaged) : null))),
      ret.note ? h('p', { class: 'small muted', text: ret.note }) : null,
      h('div', { class: 'ticket-actions' }, buttons));
  }));
}

function start() {
  live.addEventListener('status', (e) => renderLiveStatus(e.detail));
  session.addEventListener('change', onSession);
  $('signin-form').addEventListener('submit', signIn);
  $('store-toggle').addEventListener('click', toggleStore);
  $('store-select').addEventListener('change', (e) => enterStore(e.target.value));
  $('images-product').addEventListener('change', loadImages);
  $('images-form').addEventListener('submit', uploadImage);
  $('tab-orders').addEventListener('click', () => showTab('orders'));
  $('tab-users').addEventListener('click', () => showTab('users'));
  $('tab-notifications').addEventListener('click', () => showTab('notifications'));
  mountNotifications(session);
  $('users-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    users.page = 1;
    loadUsers();
  });
  $('users-prev').addEventListener('click', () => {
    users.page = Math.max(1, users.page - 1);
    loadUsers();
  });
  $('users-next').addEventListener('click', () => {
    users.page += 1;
    loadUsers();
  });
  $('mute-toggle').addEventListener('click', () => {
    localStorage.setItem(MUTE_KEY, String(!muted()));
    renderMute();
    if (!muted()) beep();
  });
  renderMute();
  $('fulfil-form').addEventListener('submit', submitFulfil);
  $('fulfil-cancel').addEventListener('click', () => $('fulfil-dialog').close());
  $('returns-refresh').addEventListener('click', loadReturns);
  setInterval(tickAges, 5000);
  onSession().finally(() => {
    document.body.dataset.ready = 'true';
  });
}

start();
