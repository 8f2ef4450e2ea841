// The storefront (`/`): choose a store, browse with live stock, keep a cart with a stock hold,
// sign in, check out with the simulated provider's test cards, and follow the order live.
// Search goes through `/search` (typo tolerant, facet counts, highlights) with suggestions from
// `/search/suggest` under the box. Uses only the public API (docs/API.md §4–§9, §11).

import {
  ApiError, EventFeed, Live, Session, describe, formatMoney, h, idempotencyKey, listAll, request,
  showPicture,
} from './api.js';
import { ProductPage, ratingLine } from './reviews.js';

const session = new Session('emporium.shopper');
const live = new Live(() => session.token());
const $ = (id) => document.getElementById(id);
const productPage = new ProductPage({
  container: $('product-body'),
  session,
  onSignIn: (reason) => openAuth(reason),
});

const CART_KEY = 'emporium.cart';
const STORE_KEY = 'emporium.store';
const CURRENCY_KEY = 'emporium.currency';
/** Results per page of `/search` ("Show more" asks for the next). */
const PAGE_SIZE = 60;
const FACETS = 'category,brand,price,rating';

/** The simulated provider's test cards (docs/API.md §8). */
const CARDS = [
  ['tok_visa', 'Visa', 'paid at once'],
  ['tok_mastercard', 'Mastercard', 'paid at once'],
  ['tok_chargeDeclined', 'Declined', 'card_declined'],
  ['tok_insufficientFunds', 'No funds', 'insufficient_funds'],
  ['tok_flaky', 'Flaky', 'fails twice, paid on retry'],
  ['tok_slow', 'Slow', 'pending first, paid later'],
  ['tok_unavailable', 'Provider down', 'provider_unavailable'],
];

const DECLINES = {
  card_declined: 'The card was declined.',
  insufficient_funds: 'The card has insufficient funds.',
  provider_unavailable: 'The payment provider could not be reached.',
  invalid_token: 'That card is not valid.',
  stock_unavailable: 'The items were no longer available, so the charge was refunded.',
};

const STATUS_LABELS = {
  pending: 'Awaiting payment',
  confirmed: 'Confirmed',
  preparing: 'Preparing',
  ready: 'Ready',
  in_transit: 'On its way',
  delivered: 'Delivered',
  cancelled: 'Cancelled',
  payment_failed: 'Payment failed',
};
const RETAIL_LABELS = { preparing: 'Packing', ready: 'Ready to ship', in_transit: 'Shipped' };
const STEPS = ['pending', 'confirmed', 'preparing', 'ready', 'in_transit', 'delivered'];

const state = {
  stores: [],
  store: null,
  products: new Map(), // id → product (as last listed or updated)
  stock: new Map(), // id → {available, version}
  cards: new Map(), // id → grid <li>
  visible: [], // ids in the current filter's order
  total: 0, // results of the current query, over every page
  page: 1,
  listGeneration: 0,
  highlights: new Map(), // id → {name, html}: the server's highlighted name for that name
  displayCurrency: localStorage.getItem(CURRENCY_KEY) || '', // '' = the store's own
  display: new Map(), // id → {amount, money}: the converted price, for that store price
  facets: emptyFacets(), // the shopper's facet choices
  query: {}, // the last answer's `query` ({q, corrected})
  sortChosen: false, // the shopper picked a sort: keep it when the words change
  cart: null,
  cartTopic: null,
  orderTopic: null,
  order: null,
  pendingCheckoutOrder: null,
};

// ---------------------------------------------------------------- small helpers

function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('show'), 5000);
}

function statusLabel(status) {
  if (state.store?.kind === 'retail' && RETAIL_LABELS[status]) return RETAIL_LABELS[status];
  return STATUS_LABELS[status] || status;
}

function stockLabel(available) {
  return available > 0 ? `${available} left` : 'Sold out';
}


function emptyFacets() {
  return { category: new Set(), brand: new Set(), price: null, rating: null };
}

/**
 * The server's highlight (`<mark>` around matched words, the rest HTML-escaped) as nodes. It
 * is parsed inert and rebuilt from text and `<mark>` only, so nothing else can get through.
 */
function highlightNodes(html) {
  const template = document.createElement('template');
  template.innerHTML = html;
  return [...template.content.childNodes].map((node) => (node.nodeName === 'MARK'
    ? h('mark', { text: node.textContent })
    : document.createTextNode(node.textContent)));
}


function setNotice(el, text, kind) {
  el.hidden = !text;
  el.textContent = text || '';
  el.className = `notice${kind ? ` notice-${kind}` : ''}`;
}

// ---------------------------------------------------------------- display currency

/** The currency prices are also shown in, or '' for none (the store's own was chosen). */
function shownCurrency() {
  const chosen = state.displayCurrency;
  return chosen && chosen !== state.store?.currency ? chosen : '';
}

/** The picker: the store's currency, then every currency with an exchange rate (§14). */
async function loadCurrencies() {
  const select = $('currency-select');
  let codes = [];
  try {
    const rates = await request('GET', '/admin/exchange-rates');
    codes = rates.updated_at ? [rates.base, ...Object.keys(rates.rates)] : [];
  } catch {
    codes = [];
  }
  select.replaceChildren(
    h('option', { value: '', text: 'Store currency' }),
    ...codes.map((code) => h('option', { value: code, text: code })),
  );
  if (!codes.includes(state.displayCurrency)) state.displayCurrency = '';
  select.value = state.displayCurrency;
  select.closest('label').hidden = codes.length === 0;
}

function chooseCurrency(code) {
  state.displayCurrency = code;
  localStorage.setItem(CURRENCY_KEY, code);
  state.display.clear();
  loadProducts();
}

// ---------------------------------------------------------------- stores and products

async function loadStores() {
  state.stores = await listAll('/stores');
  const select = $('store-select');
  select.replaceChildren(
    ...state.stores.map((s) => h('option', { value: s.id, text: `${s.name}` })),
  );
  if (state.stores.length === 0) {
    $('store-name').textContent = 'No stores yet';
    $('result-count').textContent = 'Start the server with --demo to load a sample catalog.';
    return;
  }
  const params = new URLSearchParams(location.search);
  const wanted = params.get('store') || sessionStorage.getItem(STORE_KEY);
  const store = state.stores.find((s) => s.id === wanted) || state.stores[0];
  // `?q=` opens a search (the page keeps it there, so a search can be shared).
  $('search').value = params.get('q') || '';
  await selectStore(store.id);
}

async function selectStore(storeId) {
  const store = state.stores.find((s) => s.id === storeId);
  if (!store) return;
  if (state.store) live.unsubscribe(`store:${state.store.id}`);
  state.store = store;
  sessionStorage.setItem(STORE_KEY, store.id);
  const url = new URL(location.href);
  url.searchParams.set('store', store.id);
  history.replaceState(history.state, '', url);
  $('store-select').value = store.id;
  $('store-name').textContent = store.name;
  document.title = `${store.name} · Emporium`;
  document.body.dataset.storeKind = store.kind;
  renderStoreOpen();
  state.products.clear();
  state.stock.clear();
  state.cards.clear();
  state.highlights.clear();
  state.facets = emptyFacets();
  closeSuggestions();
  $('grid').replaceChildren();
  // One subscription per store carries every product's stock (not one per product).
  live.subscribe(`store:${store.id}`, onStoreMessage);
  await loadProducts();
  renderCart();
}

function onStoreMessage(msg) {
  if (msg.type === 'snapshot') {
    updateStore(msg.snapshot);
    // After a gap too long to replay, the stock we hold may be stale: list it again.
    if (msg.reset) loadProducts();
  } else if (msg.type === 'event') {
    if (msg.event === 'stock.changed') {
      applyStock(msg.data.product_id, msg.data.available, msg.data.version);
    } else if (msg.event === 'product.updated') {
      rememberProduct(msg.data);
      const card = state.cards.get(msg.data.id);
      if (card) fillCard(card, msg.data);
      productPage.productUpdated(msg.data);
    } else if (msg.event === 'store.status_changed') {
      updateStore(msg.data);
    }
  }
}

function updateStore(store) {
  const index = state.stores.findIndex((s) => s.id === store.id);
  if (index >= 0) state.stores[index] = store;
  if (state.store?.id === store.id) {
    state.store = store;
    renderStoreOpen();
  }
}

function renderStoreOpen() {
  const open = state.store?.open !== false;
  $('closed-banner').hidden = open;
  document.body.classList.toggle('store-closed', !open);
  for (const id of state.cards.keys()) renderBadge(id);
  renderCheckoutAvailability();
}

function rememberProduct(product) {
  state.products.set(product.id, product);
  applyStock(product.id, product.stock.available, product.stock.version);
}

/** Keeps the newest stock we have heard of (REST lists and events may arrive in any order). */
function applyStock(productId, available, version) {
  const known = state.stock.get(productId);
  if (known && version < known.version) return;
  state.stock.set(productId, { available, version });
  renderBadge(productId);
}

/** Relevance needs words; without them the list is newest first unless the shopper chose. */
function syncSort() {
  const q = $('search').value.trim();
  const sort = $('sort');
  sort.querySelector('option[value="relevance"]').disabled = !q;
  if (!q && sort.value === 'relevance') sort.value = '-created_at';
  else if (q && !state.sortChosen) sort.value = 'relevance';
}

function hasFilters() {
  const f = state.facets;
  return f.category.size > 0 || f.brand.size > 0 || f.price !== null || f.rating !== null
    || $('in-stock').checked;
}

/** The `/search` parameters of the box, the facets, the toggle and the sort. */
function searchParams(page) {
  const query = new URLSearchParams({ store_id: state.store.id });
  const q = $('search').value.trim();
  if (q) query.set('q', q);
  const f = state.facets;
  for (const value of f.category) query.append('category', value);
  for (const value of f.brand) query.append('brand', value);
  if (f.price) {
    query.set('min_price', String(f.price.from));
    // A bucket's `to` is exclusive, `max_price` inclusive.
    query.set('max_price', String(f.price.to - 1));
  }
  if (f.rating) query.set('min_rating', String(f.rating));
  if ($('in-stock').checked) query.set('in_stock', 'true');
  const sort = $('sort').value;
  if (sort && (sort !== 'relevance' || q)) query.set('sort', sort);
  if (page === 1) query.set('facets', FACETS);
  const shown = shownCurrency();
  if (shown) query.set('currency', shown);
  query.set('page', String(page));
  query.set('per_page', String(PAGE_SIZE));
  return query;
}

/** Runs the search afresh (or, with `more`, appends its next page). */
async function loadProducts({ more = false } = {}) {
  if (!state.store) return;
  searchSoon.cancel();
  const generation = ++state.listGeneration;
  syncSort();
  const page = more ? state.page + 1 : 1;
  const q = $('search').value.trim();
  $('grid').setAttribute('aria-busy', 'true');
  try {
    const body = await request('GET', `/search?${searchParams(page)}`);
    if (generation !== state.listGeneration) return;
    if (!more) state.highlights.clear();
    if (!more) state.display.clear();
    for (const item of body.items) {
      if (item.product.display_price) {
        state.display.set(item.product.id, { amount: item.product.price.amount, money: item.product.display_price });
      }
      rememberProduct(item.product);
      if (item.highlights?.name) {
        state.highlights.set(item.product.id, { name: item.product.name, html: item.highlights.name });
      }
    }
    const ids = body.items.map((item) => item.product.id);
    state.visible = more ? [...state.visible, ...ids.filter((id) => !state.visible.includes(id))] : ids;
    state.page = page;
    state.total = body.total;
    if (!more) {
      const url = new URL(location.href);
      if (q) url.searchParams.set('q', q);
      else url.searchParams.delete('q');
      history.replaceState(history.state, '', url);
      state.query = body.query || {};
      renderFacets(body.facets || {});
      renderSearchNotice();
    }
    renderGrid();
  } catch (error) {
    if (generation !== state.listGeneration) return;
    if (error instanceof ApiError && error.code === 'no_exchange_rate' && shownCurrency()) {
      // This store's currency has no rate to the chosen one: show its own prices only.
      toast(`Prices cannot be shown in ${shownCurrency()} for this store.`);
      $('currency-select').value = '';
      chooseCurrency('');
      return;
    }
    toast(describe(error));
  } finally {
    if (generation === state.listGeneration) $('grid').removeAttribute('aria-busy');
  }
}

function renderSearchNotice() {
  const notice = $('search-notice');
  const { q, corrected } = state.query || {};
  if (corrected && corrected !== q) {
    notice.replaceChildren('Showing results for ', h('em', { class: 'corrected', text: corrected }));
    notice.hidden = false;
  } else {
    notice.replaceChildren();
    notice.hidden = true;
  }
}

function renderGrid() {
  const grid = $('grid');
  grid.replaceChildren(...state.visible.map((id) => cardFor(id)));
  const n = state.total;
  $('result-count').textContent = n === 1 ? '1 product' : `${n} products`;
  $('more').hidden = state.visible.length >= state.total;
  if (state.visible.length === 0) grid.append(emptyState());
}

function emptyState() {
  const q = $('search').value.trim();
  const filtered = hasFilters();
  return h('li', { class: 'empty muted' },
    h('p', {}, q ? ['No products match ', h('strong', { text: `“${q}”` })] : 'No products match',
      filtered ? (q ? ' — try fewer words or clear filters.' : ' these filters.') : (q ? ' — try fewer or other words.' : '.')),
    filtered ? h('button', { class: 'button', type: 'button', onclick: clearFilters }, 'Clear filters') : null);
}

// ---------------------------------------------------------------- facets

function renderFacets(facets) {
  const currency = state.store?.currency || 'USD';
  $('facet-groups').replaceChildren(...[
    valueFacet('category', 'Category', facets.category),
    valueFacet('brand', 'Brand', facets.brand),
    priceFacet(facets.price, currency),
    ratingFacet(facets.rating),
  ].filter(Boolean));
  $('clear-filters').hidden = !hasFilters();
}

function facetOption({ type, name, value, checked, label, count, onchange }) {
  return h('label', { class: 'facet-option' },
    h('input', { type, name: `facet-${name}`, value, checked, onchange }),
    h('span', { class: 'facet-value' }, label),
    count === null ? null : h('span', { class: 'count num', text: String(count) }));
}

/** Checkboxes (any of) with counts; a ticked value stays listed even when nothing has it. */
function valueFacet(name, title, values = []) {
  const selected = state.facets[name];
  const list = [...values];
  for (const value of selected) if (!list.some((v) => v.value === value)) list.push({ value, count: 0 });
  if (list.length === 0) return null;
  return h('fieldset', { class: 'facet', dataset: { facet: name } },
    h('legend', { text: title }),
    list.map(({ value, count }) => facetOption({
      type: 'checkbox', name, value, checked: selected.has(value), label: value, count,
      onchange: (e) => {
        if (e.target.checked) selected.add(value);
        else selected.delete(value);
        loadProducts();
      },
    })));
}

/** One price range at a time (the API takes one `min_price`..`max_price`). */
function priceFacet(price, currency) {
  const chosen = state.facets.price;
  const buckets = (price?.buckets || []).filter((b) => b.count > 0
    || (chosen && b.from === chosen.from && b.to === chosen.to));
  if (chosen && !buckets.some((b) => b.from === chosen.from && b.to === chosen.to)) {
    buckets.unshift({ ...chosen, count: 0 });
  }
  if (buckets.length === 0) return null;
  // Whole amounts without their zero cents: "$25 – $50".
  const money = (amount) => formatMoney({ amount, currency }).replace(/[.,]00(?=\D*$)/, '');
  const pick = (range) => () => {
    state.facets.price = range;
    loadProducts();
  };
  return h('fieldset', { class: 'facet', dataset: { facet: 'price' } },
    h('legend', { text: 'Price' }),
    facetOption({
      type: 'radio', name: 'price', value: '', checked: !chosen, label: 'Any price', count: null,
      onchange: pick(null),
    }),
    buckets.map((b) => facetOption({
      type: 'radio', name: 'price', value: `${b.from}-${b.to}`,
      checked: Boolean(chosen && chosen.from === b.from && chosen.to === b.to),
      label: priceLabel(b, money), count: b.count,
      onchange: pick({ from: b.from, to: b.to }),
    })));
}

/** "Under $25", "$25 – $50" (a bucket's `to` is exclusive), or one price for a one-cent bucket. */
function priceLabel({ from, to }, money) {
  if (to - from <= 1) return money(from);
  return from === 0 ? `Under ${money(to)}` : `${money(from)} – ${money(to)}`;
}

/** "4★ & up": the counts of each whole rating summed from the top. */
function ratingFacet(values = []) {
  const counts = new Map(values.map((v) => [Number(v.value), v.count]));
  const chosen = state.facets.rating;
  if (![...counts.values()].some((c) => c > 0) && !chosen) return null;
  const pick = (rating) => () => {
    state.facets.rating = rating;
    loadProducts();
  };
  const options = [];
  let atLeast = counts.get(5) || 0;
  for (let stars = 4; stars >= 1; stars -= 1) {
    atLeast += counts.get(stars) || 0;
    if (atLeast > 0 || chosen === stars) {
      options.push(facetOption({
        type: 'radio', name: 'rating', value: String(stars), checked: chosen === stars,
        label: [h('span', { class: 'stars', 'aria-hidden': 'true', text: '★'.repeat(stars) + '☆'.repeat(5 - stars) }),
          h('span', { class: 'sr-only', text: `${stars} stars` }), ' & up'],
        count: atLeast, onchange: pick(stars),
      }));
    }
  }
  return h('fieldset', { class: 'facet', dataset: { facet: 'rating' } },
    h('legend', { text: 'Rating' }),
    facetOption({
      type: 'radio', name: 'rating', value: '', checked: !chosen, label: 'Any rating', count: null,
      onchange: pick(null),
    }),
    options);
}

function clearFilters() {
  state.facets = emptyFacets();
  $('in-stock').checked = false;
  loadProducts();
}

// ---------------------------------------------------------------- suggestions

const suggest = { items: [], active: -1, generation: 0 };

async function loadSuggestions() {
  const q = $('search').value.trim();
  const generation = ++suggest.generation;
  if (!q || !state.store) {
    closeSuggestions();
    return;
  }
  try {
    const body = await request('GET', `/search/suggest?${new URLSearchParams({ q, store_id: state.store.id })}`);
    if (generation !== suggest.generation) return;
    renderSuggestions(body.suggestions || []);
  } catch {
    if (generation === suggest.generation) closeSuggestions();
  }
}

function renderSuggestions(list) {
  suggest.items = list;
  suggest.active = -1;
  if (list.length === 0) {
    closeSuggestions();
    return;
  }
  $('suggestions').replaceChildren(...list.map((s, i) => h('li', {
    id: `suggestion-${i}`, role: 'option', 'aria-selected': 'false',
    class: `suggestion suggestion-${s.kind}`,
    dataset: s.product_id ? { kind: s.kind, productId: s.product_id } : { kind: s.kind },
    // Keeps the focus in the box, so the list is still there for the click.
    onmousedown: (e) => e.preventDefault(),
    onclick: () => pickSuggestion(i),
  },
  h('span', { class: 'suggestion-text', text: s.text }),
  s.kind === 'category' ? h('span', { class: 'suggestion-kind muted', text: 'Category' }) : null)));
  $('suggestions').hidden = false;
  $('search').setAttribute('aria-expanded', 'true');
}

function closeSuggestions() {
  suggestSoon.cancel();
  suggest.generation += 1;
  suggest.items = [];
  suggest.active = -1;
  $('suggestions').hidden = true;
  $('suggestions').replaceChildren();
  $('search').setAttribute('aria-expanded', 'false');
  $('search').removeAttribute('aria-activedescendant');
}

function setActiveSuggestion(index) {
  suggest.active = index;
  for (const [i, li] of [...$('suggestions').children].entries()) {
    li.setAttribute('aria-selected', String(i === index));
    if (i === index) li.scrollIntoView({ block: 'nearest' });
  }
  if (index >= 0) $('search').setAttribute('aria-activedescendant', `suggestion-${index}`);
  else $('search').removeAttribute('aria-activedescendant');
}

function onSearchKey(event) {
  const open = !$('suggestions').hidden && suggest.items.length > 0;
  const n = suggest.items.length;
  if (event.key === 'ArrowDown' && open) {
    event.preventDefault();
    setActiveSuggestion((suggest.active + 1) % n);
  } else if (event.key === 'ArrowUp' && open) {
    event.preventDefault();
    setActiveSuggestion(suggest.active <= 0 ? n - 1 : suggest.active - 1);
  } else if (event.key === 'ArrowDown' && $('search').value.trim()) {
    event.preventDefault();
    loadSuggestions();
  } else if (event.key === 'Enter' && open && suggest.active >= 0) {
    event.preventDefault();
    pickSuggestion(suggest.active);
  } else if (event.key === 'Escape' && open) {
    // Only closes the list (the browser would otherwise also empty the box).
    event.preventDefault();
    closeSuggestions();
  }
}

/** A category narrows to it; a product is searched by its name and brought into view. */
async function pickSuggestion(index) {
  const s = suggest.items[index];
  closeSuggestions();
  if (!s) return;
  if (s.kind === 'category') {
    $('search').value = '';
    state.facets.category = new Set([s.text]);
    await loadProducts();
    return;
  }
  $('search').value = s.text;
  await loadProducts();
  if (s.product_id) await spotlight(s.product_id);
}

async function spotlight(productId) {
  if (!state.visible.includes(productId)) {
    try {
      rememberProduct(await request('GET', `/products/${productId}`));
    } catch (error) {
      toast(describe(error));
      return;
    }
    state.visible.unshift(productId);
    renderGrid();
  }
  const card = state.cards.get(productId);
  if (!card) return;
  card.scrollIntoView({ block: 'center', behavior: 'smooth' });
  card.classList.add('spotlight');
  clearTimeout(card.spotlightTimer);
  card.spotlightTimer = setTimeout(() => card.classList.remove('spotlight'), 2500);
}

// ---------------------------------------------------------------- cards

function cardFor(id) {
  let card = state.cards.get(id);
  if (!card) {
    card = h('li', { class: 'product', dataset: { productId: id } },
      h('div', { class: 'thumb', 'aria-hidden': 'true' }),
      h('div', { class: 'product-body' },
        h('h2', { class: 'product-name' }, h('a', { href: `#product/${id}` })),
        h('p', { class: 'product-meta muted' }),
        h('p', { class: 'product-rating' }),
        h('div', { class: 'product-foot' },
          h('span', { class: 'price num' }),
          h('span', { class: 'display-price muted num' }),
          h('span', { class: 'stock-badge num' })),
        h('button', {
          class: 'button primary add', type: 'button',
          onclick: () => changeQuantity(id, +1),
        }, 'Add to cart'),
        h('button', {
          class: 'button notify', type: 'button', hidden: true,
          onclick: (e) => joinWaitlist(id, e.currentTarget),
        }, 'Notify me / hold for me')));
    state.cards.set(id, card);
  }
  fillCard(card, state.products.get(id));
  return card;
}

function fillCard(card, product) {
  if (!product) return;
  const thumb = card.querySelector('.thumb');
  if (thumb.dataset.shows !== (product.image_urls?.[0] || '')) {
    thumb.dataset.shows = product.image_urls?.[0] || '';
    showPicture(thumb, product, { width: 400 });
  }
  const name = card.querySelector('.product-name a');
  // The server escaped the highlight; it is used only while it is of the current name.
  const highlight = state.highlights.get(product.id);
  if (highlight && highlight.name === product.name) name.replaceChildren(...highlightNodes(highlight.html));
  else name.textContent = product.name;
  name.title = product.name;
  card.querySelector('.product-rating').replaceChildren(ratingLine(product.rating));
  card.querySelector('.product-meta').textContent = [product.category, product.brand].filter(Boolean).join(' · ');
  card.querySelector('.price').textContent = formatMoney(product.price);
  // The converted price only while it is of the price shown (a live price change hides it
  // until the next listing converts the new one).
  const display = state.display.get(product.id);
  card.querySelector('.display-price').textContent = display && display.amount === product.price.amount
    ? `≈ ${formatMoney(display.money)}` : '';
  card.querySelector('.add').setAttribute('aria-label', `Add ${product.name} to cart`);
  renderBadge(product.id);
}

function renderBadge(productId) {
  const card = state.cards.get(productId);
  const stock = state.stock.get(productId);
  if (!card || !stock) return;
  const product = state.products.get(productId);
  const badge = card.querySelector('.stock-badge');
  badge.textContent = stockLabel(stock.available);
  const low = stock.available > 0 && stock.available <= Math.max(product?.low_stock_threshold || 0, 3);
  badge.dataset.level = stock.available <= 0 ? 'out' : low ? 'low' : 'ok';
  card.classList.toggle('sold-out', stock.available <= 0);
  const add = card.querySelector('.add');
  add.disabled = stock.available <= 0 || state.store?.open === false;
  add.textContent = stock.available <= 0 ? 'Sold out' : 'Add to cart';
  // Sold out: a signed-in customer may wait in line (docs/API.md §13).
  card.querySelector('.notify').hidden = !(stock.available <= 0 && session.user?.role === 'customer');
}

/** Joins a sold-out product's waitlist and shows the place in line. */
async function joinWaitlist(productId, button) {
  button.disabled = true;
  try {
    const entry = await request('POST', `/products/${productId}/waitlist`, {
      body: { quantity: 1 }, session,
    });
    button.textContent = `In line: #${entry.position}`;
    toast(`You are #${entry.position} in line; we will hold it in a cart for you when it is back.`);
  } catch (e) {
    button.disabled = false;
    toast(describe(e));
  }
}

// ---------------------------------------------------------------- product page

/**
 * The "Customers also bought" and "Similar" rows under the product page (docs/API.md §11),
 * each hidden while empty.
 */
async function showRecommendations(id) {
  for (const row of ['pd-also-bought', 'pd-similar']) $(row).hidden = true;
  try {
    const [alsoBought, similar] = await Promise.all([
      request('GET', `/products/${id}/recommendations?kind=also_bought&limit=6`),
      request('GET', `/products/${id}/recommendations?kind=similar&limit=6`),
    ]);
    if (location.hash !== `#product/${id}`) return;
    fillRow($('pd-also-bought'), alsoBought.items);
    fillRow($('pd-similar'), similar.items);
  } catch (error) {
    toast(describe(error));
  }
}

function fillRow(section, products) {
  section.hidden = products.length === 0;
  section.querySelector('.pd-items').replaceChildren(...products.map((p) => {
    rememberProduct(p);
    return h('li', { dataset: { productId: p.id } },
      h('a', { href: `#product/${p.id}`, 'aria-label': `View ${p.name}` },
        h('span', { class: 'pd-item-name', text: p.name }),
        h('span', { class: 'muted num', text: `${formatMoney(p.price)} · ${stockLabel(p.stock.available)}` })));
  }));
}

// ---------------------------------------------------------------- cart

async function ensureCart() {
  if (state.cart) return state.cart;
  const stored = sessionStorage.getItem(CART_KEY);
  if (stored) {
    try {
      setCart(await request('GET', `/carts/${stored}`, { session }));
      watchCart();
      return state.cart;
    } catch {
      forgetCart();
    }
  }
  setCart(await request('POST', '/carts', { session }));
  watchCart();
  return state.cart;
}

function watchCart() {
  const topic = `cart:${state.cart.id}`;
  if (state.cartTopic === topic) return;
  if (state.cartTopic) live.unsubscribe(state.cartTopic);
  state.cartTopic = topic;
  live.subscribe(topic, (msg) => {
    if (msg.type === 'snapshot') setCart(msg.snapshot);
    else if (msg.type === 'event') {
      setCart(msg.data);
      if (msg.event === 'cart.hold_expired') showHoldExpired();
    } else if (msg.type === 'error' && msg.code === 'not_found') {
      // The cart is gone (checked out, or it expired): start afresh on the next add.
      forgetCart();
    }
  });
}

function forgetCart() {
  if (state.cartTopic) live.unsubscribe(state.cartTopic);
  state.cartTopic = null;
  state.cart = null;
  sessionStorage.removeItem(CART_KEY);
  $('hold-alert').hidden = true;
  renderCart();
}

/** Takes a cart answer or event unless we already have a newer one. */
function setCart(cart) {
  if (!cart) return;
  if (state.cart && state.cart.id === cart.id && cart.updated_at < state.cart.updated_at) return;
  state.cart = cart;
  sessionStorage.setItem(CART_KEY, cart.id);
  if (cart.hold) $('hold-alert').hidden = true;
  renderCart();
}

function showHoldExpired() {
  const alert = $('hold-alert');
  alert.textContent = 'Your hold lapsed, so these items went back on the shelf. They are still in '
    + 'your cart; checkout will try to reserve them again.';
  alert.hidden = false;
}

function lineQuantity(productId) {
  return state.cart?.items.find((i) => i.product_id === productId)?.quantity || 0;
}

/** Cart changes run one after another, so quick clicks add up and make only one cart. */
let cartQueue = Promise.resolve();

function queued(change) {
  cartQueue = cartQueue.then(change, change);
  return cartQueue;
}

function changeQuantity(productId, delta) {
  return queued(() => setQuantity(productId, lineQuantity(productId) + delta));
}

async function setQuantity(productId, quantity, retried = false) {
  try {
    const cart = await ensureCart();
    const path = `/carts/${cart.id}/items/${productId}`;
    setCart(quantity > 0
      ? await request('PUT', path, { body: { quantity }, session })
      : await request('DELETE', path, { session }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && !retried) {
      forgetCart();
      if (quantity > 0) await setQuantity(productId, quantity, true);
      return;
    }
    const name = state.products.get(productId)?.name || 'That product';
    if (error.code === 'insufficient_stock') {
      const shortage = error.problem.shortages?.[0];
      toast(shortage && shortage.available > 0
        ? `Only ${shortage.available} of ${name} can be held right now.`
        : `${name} is sold out.`);
    } else if (error.code === 'store_mismatch') {
      toast('Your cart holds another store\'s items. Empty it to shop here.');
    } else {
      toast(describe(error));
    }
  }
}

function renderCart() {
  const cart = state.cart;
  const items = cart?.items || [];
  const count = cart?.item_count || 0;
  $('cart-count').textContent = String(count);
  $('cart-button').setAttribute('aria-label', `Cart, ${count} ${count === 1 ? 'item' : 'items'}`);
  $('cart-empty').hidden = items.length > 0;
  $('subtotal').textContent = items.length ? formatMoney(cart.subtotal) : '–';
  $('cart-lines').replaceChildren(...items.map((item) => h('li', {
    class: 'cart-line', dataset: { productId: item.product_id },
  },
  h('span', { class: 'line-name', text: item.name }),
  h('span', { class: 'line-price muted num', text: `${formatMoney(item.unit_price)} each` }),
  h('span', { class: 'qty', role: 'group', 'aria-label': `Quantity of ${item.name}` },
    h('button', {
      class: 'button icon', type: 'button', 'aria-label': `Remove one ${item.name}`,
      onclick: () => changeQuantity(item.product_id, -1),
    }, '−'),
    h('span', { class: 'qty-value num', text: String(item.quantity) }),
    h('button', {
      class: 'button icon', type: 'button', 'aria-label': `Add one more ${item.name}`,
      onclick: () => changeQuantity(item.product_id, +1),
    }, '+')),
  h('span', { class: 'line-total num', text: formatMoney(item.line_total) }),
  h('button', {
    class: 'button link remove', type: 'button', 'aria-label': `Remove ${item.name} from cart`,
    onclick: () => queued(() => setQuantity(item.product_id, 0)),
  }, 'Remove'))));
  renderHold();
  renderCheckoutAvailability();
}

function renderHold() {
  const el = $('hold');
  const cart = state.cart;
  if (!cart || cart.items.length === 0) {
    el.textContent = '';
    el.dataset.state = 'none';
    return;
  }
  if (cart.hold) {
    const left = Math.max(0, Math.round((Date.parse(cart.hold.expires_at) - Date.now()) / 1000));
    const mm = Math.floor(left / 60);
    const ss = String(left % 60).padStart(2, '0');
    el.dataset.state = left <= 60 ? 'ending' : 'held';
    el.replaceChildren('Items held for you for ', h('span', { class: 'countdown num', text: `${mm}:${ss}` }));
  } else {
    el.dataset.state = 'lapsed';
    el.textContent = 'Not held: checkout will reserve the items again.';
  }
}

function renderCheckoutAvailability() {
  const pay = $('pay');
  if (pay.dataset.busy === 'true') return;
  const hasItems = (state.cart?.items.length || 0) > 0;
  const open = state.store?.open !== false;
  // Checkout (with the list of test cards) shows once there is something to pay for; a
  // message about the last attempt stays visible.
  $('checkout').hidden = !hasItems && $('checkout-message').hidden;
  const paying = state.pendingCheckoutOrder !== null;
  pay.disabled = !hasItems || !open || paying;
  pay.textContent = paying ? 'Waiting for the payment…'
    : !open ? 'Store closed' : session.user ? 'Place order' : 'Sign in to order';
}

// ---------------------------------------------------------------- checkout

function renderCards() {
  $('card-options').replaceChildren(...CARDS.map(([token, label, outcome], i) => h('label', {
    class: 'card-option',
  },
  h('input', { type: 'radio', name: 'card', value: token, checked: i === 0 }),
  h('strong', { class: 'card-label', text: label }),
  h('span', { class: 'card-detail muted' }, h('code', { text: token }), ` · ${outcome}`))));
}

async function checkout(event) {
  event.preventDefault();
  const message = $('checkout-message');
  setNotice(message, '');
  if (!session.user) {
    openAuth('Sign in or create an account to place your order.');
    return;
  }
  if (session.user.role === 'staff') {
    setNotice(message, 'Staff accounts cannot place orders. Sign in as a customer.', 'error');
    return;
  }
  if (!state.cart || state.cart.items.length === 0) return;
  const token = new FormData($('checkout')).get('card');
  const body = { cart_id: state.cart.id, payment: { method: 'card', token } };
  const note = $('order-note').value.trim();
  if (note) body.note = note;
  const pay = $('pay');
  pay.dataset.busy = 'true';
  pay.disabled = true;
  pay.textContent = 'Processing payment…';
  $('checkout').setAttribute('aria-busy', 'true');
  const slowHint = setTimeout(() => {
    pay.textContent = 'Still waiting for the payment provider…';
  }, 1500);
  try {
    const { status, body: order } = await request('POST', '/orders', {
      body, session, raw: true, headers: { 'Idempotency-Key': idempotencyKey() },
    });
    $('order-note').value = '';
    if (status === 201) forgetCart();
    state.pendingCheckoutOrder = status === 202 ? order.id : null;
    openOrder(order);
  } catch (error) {
    if (error.code === 'payment_failed') {
      const code = error.problem.decline_code || 'declined';
      const number = error.problem.order?.number;
      setNotice(message, '', 'error');
      message.append(
        h('strong', { text: 'Payment declined: ' }),
        `${DECLINES[code] || 'The payment failed.'} (`, h('code', { text: code }), '). ',
        number ? h('span', {}, 'Order ', h('span', { class: 'nowrap', text: number }), ' was not charged. ') : '',
        'Your cart still has its items; try another card.',
      );
      message.hidden = false;
      message.dataset.declineCode = code;
      await refreshCart();
      loadMyOrders();
      message.scrollIntoView({ block: 'nearest' });
    } else if (error.code === 'insufficient_stock') {
      const names = (error.problem.shortages || []).map((s) => {
        const name = state.products.get(s.product_id)?.name || s.product_id;
        return `${name} (${s.available} available)`;
      });
      setNotice(message, `Not enough stock for ${names.join(', ') || 'some items'}. Adjust your cart and try again.`, 'error');
      await refreshCart();
    } else if (error.status === 401) {
      openAuth('Your session ended. Sign in again to place your order.');
    } else {
      setNotice(message, describe(error), 'error');
    }
  } finally {
    clearTimeout(slowHint);
    delete pay.dataset.busy;
    $('checkout').removeAttribute('aria-busy');
    renderCheckoutAvailability();
  }
}

async function refreshCart() {
  if (!state.cart) return;
  try {
    setCart(await request('GET', `/carts/${state.cart.id}`, { session }));
  } catch {
    forgetCart();
  }
}

// ---------------------------------------------------------------- orders

function openOrder(order) {
  state.order = order;
  if (location.hash !== `#order/${order.id}`) location.hash = `order/${order.id}`;
  else route();
}

function route() {
  const product = location.hash.match(/^#product\/(prod_[A-Za-z0-9_-]+)$/);
  $('product-view').hidden = !product;
  if (product) {
    $('catalog').hidden = true;
    $('order-view').hidden = true;
    productPage.show(product[1]).then(() => $('product-title')?.focus?.());
    showRecommendations(product[1]);
    return;
  }
  productPage.hide();
  const match = location.hash.match(/^#order\/(ord_[A-Za-z0-9_-]+)$/);
  const showingOrder = Boolean(match);
  $('catalog').hidden = showingOrder;
  $('order-view').hidden = !showingOrder;
  if (!showingOrder) {
    // Keep following an order whose payment still runs: its end decides the cart's fate.
    if (state.orderTopic && state.orderTopic !== `order:${state.pendingCheckoutOrder}`) {
      live.unsubscribe(state.orderTopic);
      state.orderTopic = null;
    }
    followOrderWithoutSocket(live.status);
    state.order = null;
    return;
  }
  const orderId = match[1];
  if (!session.user) {
    $('order-body').replaceChildren(h('p', { text: 'Sign in to see this order.' }));
    openAuth('Sign in to see your order.');
    return;
  }
  if (state.order?.id === orderId) renderOrder(state.order);
  else $('order-body').replaceChildren(h('p', { class: 'muted', text: 'Loading order…' }));
  const topic = `order:${orderId}`;
  if (state.orderTopic !== topic) {
    if (state.orderTopic) live.unsubscribe(state.orderTopic);
    state.orderTopic = topic;
    live.subscribe(topic, orderHandler);
  }
  followOrderWithoutSocket(live.status);
  $('order-view').focus?.();
}

/** The order page's SSE fallback while the WebSocket is down (see `followOrderWithoutSocket`). */
const fallback = { feed: null, timer: null };

function orderHandler(msg) {
  if (msg.type === 'snapshot') setOrder(msg.snapshot);
  else if (msg.type === 'event' && msg.data?.order) setOrder(msg.data.order);
  else if (msg.type === 'error') {
    $('order-body').replaceChildren(h('p', { text: 'This order cannot be found for your account.' }));
  }
}

/**
 * Keeps the order page live when the WebSocket fails (e.g. a proxy that drops upgrades): two
 * seconds offline and the page follows the order over Server-Sent Events instead, until the
 * socket is back (it then resumes the topic itself).
 */
function followOrderWithoutSocket(status) {
  clearTimeout(fallback.timer);
  const stop = () => {
    fallback.feed?.close();
    fallback.feed = null;
  };
  if (status === 'online' || !state.orderTopic || $('order-view').hidden) {
    stop();
    return;
  }
  if (status !== 'offline') return;
  fallback.timer = setTimeout(() => {
    if (live.status !== 'offline' || !state.orderTopic || $('order-view').hidden) return;
    if (fallback.feed?.topic === state.orderTopic) return;
    stop();
    fallback.feed = new EventFeed(state.orderTopic, orderHandler, () => session.token());
  }, 2000);
}

function setOrder(order) {
  if (state.order?.id === order.id && order.history.length < state.order.history.length) return;
  state.order = order;
  renderOrder(order);
  if (state.pendingCheckoutOrder === order.id && order.status !== 'pending') {
    state.pendingCheckoutOrder = null;
    // The slow charge ended: a confirmed order consumed the cart; a failed one left it.
    if (order.status === 'confirmed') forgetCart();
    else refreshCart();
    renderCheckoutAvailability();
  }
  loadMyOrders();
}

function renderOrder(order) {
  const reached = new Set(order.history.map((e) => e.status));
  const current = order.status;
  const failed = current === 'cancelled' || current === 'payment_failed';
  const steps = STEPS.map((step) => {
    let stepState = reached.has(step) ? 'done' : 'todo';
    if (step === current) stepState = 'current';
    else if (step === 'in_transit' && current === 'delivered' && !reached.has(step)) stepState = 'skipped';
    return h('li', {
      class: `step step-${stepState}`, 'aria-current': step === current ? 'step' : null,
      dataset: { step },
    }, h('span', { class: 'dot', 'aria-hidden': 'true' }), statusLabel(step));
  });
  const decline = order.payment?.decline_code;
  $('order-body').replaceChildren(...[
    h('div', { class: 'order-head' },
      h('h1', { id: 'order-title', tabindex: '-1' }, `Order ${order.number}`),
      h('p', { class: 'status-line' }, 'Status: ',
        h('strong', { id: 'order-status', class: 'status-pill', dataset: { status: current }, text: statusLabel(current) }))),
    failed ? null : h('ol', { class: 'steps', 'aria-label': 'Order progress' }, steps),
    current === 'pending'
      ? h('p', { class: 'notice', role: 'status' }, 'Waiting for the payment provider. This page updates by itself.')
      : null,
    current === 'payment_failed'
      ? h('p', { class: 'notice notice-error' }, `Payment failed: ${DECLINES[decline] || decline || ''} Nothing was charged.`)
      : null,
    current === 'cancelled'
      ? h('p', { class: 'notice notice-warn' }, `This order was cancelled${order.payment?.status === 'refunded' ? ' and refunded' : ''}.`)
      : null,
    h('table', { class: 'order-items' },
      h('caption', { class: 'sr-only', text: 'Items' }),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', text: 'Item' }),
        h('th', { scope: 'col', class: 'num', text: 'Qty' }),
        h('th', { scope: 'col', class: 'num', text: 'Total' }))),
      h('tbody', {}, order.items.map((item) => h('tr', {},
        h('td', { text: item.name }),
        h('td', { class: 'num', text: String(item.quantity) }),
        h('td', { class: 'num', text: formatMoney(item.line_total) })))),
      h('tfoot', {}, h('tr', {},
        h('th', { scope: 'row', colspan: '2', text: 'Total' }),
        h('td', { class: 'num', text: formatMoney(order.total) })))),
    h('p', { class: 'muted small' },
      `Payment: ${order.payment?.status || 'pending'}${order.payment?.attempts ? ` after ${order.payment.attempts} attempt${order.payment.attempts === 1 ? '' : 's'}` : ''}.`),
    order.payment?.refunded?.amount
      ? h('p', { class: 'muted small', id: 'order-refunded' }, `Refunded: ${formatMoney(order.payment.refunded)}.`)
      : null,
    trackingFor(order),
    current === 'delivered' ? returnFormFor(order) : null,
  ].filter(Boolean));
}

const SHIPMENT_LABELS = {
  shipped: 'Shipped', in_transit: 'In transit', out_for_delivery: 'Out for delivery',
  delivered: 'Delivered', failed_attempt: 'Delivery attempt failed', returned: 'Returned to the store',
};

/** Tracking (docs/API.md §13): each shipment's carrier, number, link and steps. */
function trackingFor(order) {
  if (!order.fulfillments?.length) return null;
  return h('section', { class: 'tracking-box', 'aria-labelledby': 'tracking-title' },
    h('h2', { id: 'tracking-title', text: 'Tracking' }),
    order.fulfillments.map((f) => h('div', { class: 'shipment', dataset: { fulfillmentId: f.id } },
      h('p', {},
        h('strong', { text: SHIPMENT_LABELS[f.status] || f.status }),
        f.carrier ? ` · ${f.carrier}` : '',
        f.tracking_number ? ' · ' : '',
        f.tracking_number
          ? (f.tracking_url && /^https?:\/\//.test(f.tracking_url)
            ? h('a', { href: f.tracking_url, target: '_blank', rel: 'noopener noreferrer', text: f.tracking_number })
            : h('span', { class: 'num', text: f.tracking_number }))
          : ''),
      h('ol', { class: 'tracking' }, f.events.map((e) => h('li', { class: 'small' },
        h('time', { datetime: e.at, text: new Date(e.at).toLocaleString() }), ' ',
        SHIPMENT_LABELS[e.status] || e.status, e.note ? ` — ${e.note}` : '')))))); 
}

const RETURN_REASONS = [
  ['changed_mind', 'Changed my mind'], ['damaged', 'Arrived damaged'], ['wrong_item', 'Wrong item'],
  ['not_as_described', 'Not as described'], ['other', 'Other'],
];

/** "Request a return" for a delivered order. */
function returnFormFor(order) {
  const rows = order.items.map((item) => ({
    item,
    quantity: h('input', { type: 'number', min: '0', max: String(item.quantity), value: '0', 'aria-label': `Units of ${item.name} to return` }),
    reason: h('select', { 'aria-label': `Why return ${item.name}` },
      RETURN_REASONS.map(([value, label]) => h('option', { value, text: label }))),
  }));
  const note = h('input', { type: 'text', maxlength: '2000', 'aria-label': 'Note' });
  const status = h('p', { class: 'small', role: 'status' });
  const form = h('form', {
    class: 'return-form', hidden: true,
    onsubmit: async (event) => {
      event.preventDefault();
      const items = rows
        .map(({ item, quantity, reason }) => ({ product_id: item.product_id, quantity: Number(quantity.value), reason: reason.value }))
        .filter((i) => i.quantity > 0);
      if (!items.length) {
        status.textContent = 'Choose how many units to send back.';
        return;
      }
      const body = { items };
      if (note.value.trim()) body.note = note.value.trim();
      try {
        const ret = await request('POST', `/orders/${order.id}/returns`, { body, session });
        status.textContent = `Return requested (${ret.id}). We will tell you when it is approved.`;
        form.querySelector('button[type=submit]').disabled = true;
      } catch (e) {
        status.textContent = e.code === 'over_returned'
          ? 'That is more than you can still return.'
          : e.code === 'return_window_closed' ? 'The return window for this order has closed.' : describe(e);
      }
    },
  },
  rows.map(({ item, quantity, reason }) => h('p', {}, `${item.name}: `, quantity, ' ', reason)),
  h('p', {}, 'Note: ', note),
  h('button', { class: 'button primary', type: 'submit' }, 'Send return request'),
  status);
  const open = h('button', {
    class: 'button', type: 'button', id: 'request-return',
    onclick: () => { form.hidden = false; open.hidden = true; },
  }, 'Request a return');
  return h('section', { class: 'return-box' }, open, form);
}

async function loadMyOrders() {
  const box = $('my-orders');
  if (!session.user || session.user.role !== 'customer') {
    box.hidden = true;
    return;
  }
  try {
    const page = await request('GET', '/orders?per_page=5', { session });
    box.hidden = page.items.length === 0;
    $('my-orders-list').replaceChildren(...page.items.map((o) => h('li', {},
      h('a', { href: `#order/${o.id}` }, o.number),
      ' ',
      h('span', { class: 'status-pill small', dataset: { status: o.status }, text: STATUS_LABELS[o.status] || o.status }),
      ' ',
      h('span', { class: 'num muted', text: formatMoney(o.total) }))));
  } catch {
    box.hidden = true;
  }
}

// ---------------------------------------------------------------- accounts

let authMode = 'signin';

function setAuthMode(mode) {
  authMode = mode;
  const signup = mode === 'signup';
  $('tab-signin').setAttribute('aria-pressed', String(!signup));
  $('tab-signup').setAttribute('aria-pressed', String(signup));
  $('name-field').hidden = !signup;
  $('auth-name').required = signup;
  $('auth-title').textContent = signup ? 'Create an account' : 'Sign in';
  $('auth-submit').textContent = signup ? 'Create account' : 'Sign in';
  $('auth-password').autocomplete = signup ? 'new-password' : 'current-password';
  setNotice($('auth-error'), '', 'error');
}

function openAuth(reason) {
  const reasonEl = $('auth-reason');
  reasonEl.hidden = !reason;
  reasonEl.textContent = reason || '';
  setAuthMode(authMode);
  if (!$('auth-dialog').open) $('auth-dialog').showModal();
  $('auth-email').focus();
}

async function submitAuth(event) {
  event.preventDefault();
  const email = $('auth-email').value.trim();
  const password = $('auth-password').value;
  const submit = $('auth-submit');
  submit.disabled = true;
  try {
    if (authMode === 'signup') await session.register(email, password, $('auth-name').value.trim());
    else await session.login(email, password);
    $('auth-password').value = '';
    $('auth-dialog').close();
    toast(`Signed in as ${session.user.name}.`);
  } catch (error) {
    const text = error.code === 'invalid_credentials' ? 'Wrong email or password.'
      : error.code === 'email_taken' ? 'An account with this email exists already. Sign in instead.'
        : describe(error);
    setNotice($('auth-error'), text, 'error');
  } finally {
    submit.disabled = false;
  }
}

function renderAccount() {
  const box = $('account');
  const user = session.user;
  if (user) {
    box.replaceChildren(
      h('span', { class: 'user-name', text: user.name, title: user.email }),
      h('button', {
        class: 'button', type: 'button', id: 'sign-out',
        onclick: () => session.logout(),
      }, 'Sign out'));
  } else {
    box.replaceChildren(h('button', {
      class: 'button', type: 'button', id: 'sign-in',
      onclick: () => openAuth(''),
    }, 'Sign in'));
  }
  renderCheckoutAvailability();
}

function onSessionChange() {
  renderAccount();
  if (!session.user) {
    // A signed-in customer's cart is theirs alone; start a new one.
    state.pendingCheckoutOrder = null;
    forgetCart();
    $('my-orders').hidden = true;
    if (state.order) location.hash = '';
  }
  // Reconnect so the socket carries the new identity; topics resume with `since`.
  live.connect();
  productPage.refresh();
  if (session.user) {
    loadMyOrders();
    if (location.hash.startsWith('#order/')) {
      state.orderTopic = null;
      route();
    }
  }
}

// ---------------------------------------------------------------- wiring

/** `fn` once calls stop for `ms`; `.cancel()` drops a pending call. */
function debounce(fn, ms) {
  let timer;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

const searchSoon = debounce(() => loadProducts(), 250);
const suggestSoon = debounce(loadSuggestions, 150);

function renderLiveStatus(status) {
  const el = $('live-status');
  el.dataset.status = status;
  el.textContent = status === 'online' ? 'Live' : status === 'connecting' ? 'Connecting…' : 'Offline';
  $('offline-banner').hidden = status !== 'offline';
}

async function start() {
  renderCards();
  renderAccount();
  renderCart();
  live.addEventListener('status', (e) => renderLiveStatus(e.detail));
  live.addEventListener('status', (e) => followOrderWithoutSocket(e.detail));
  session.addEventListener('change', onSessionChange);
  $('store-select').addEventListener('change', (e) => selectStore(e.target.value));
  $('currency-select').addEventListener('change', (e) => chooseCurrency(e.target.value));
  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    closeSuggestions();
    loadProducts();
  });
  $('search').addEventListener('input', () => {
    searchSoon();
    suggestSoon();
  });
  // Emptied without typing (a script, the field's clear button): search again if it changed.
  $('search').addEventListener('change', () => {
    if ($('search').value.trim() !== (state.query?.q || '')) loadProducts();
  });
  $('search').addEventListener('keydown', onSearchKey);
  $('search').addEventListener('blur', () => closeSuggestions());
  $('sort').addEventListener('change', () => {
    state.sortChosen = true;
    loadProducts();
  });
  $('in-stock').addEventListener('change', () => loadProducts());
  $('clear-filters').addEventListener('click', clearFilters);
  $('facets-toggle').addEventListener('click', () => {
    const open = $('facets').classList.toggle('open');
    $('facets-toggle').setAttribute('aria-expanded', String(open));
    $('facets-toggle').textContent = open ? 'Hide filters' : 'Show filters';
  });
  $('more').addEventListener('click', () => loadProducts({ more: true }));
  $('checkout').addEventListener('submit', checkout);
  $('cart-button').addEventListener('click', () => {
    $('cart').scrollIntoView({ behavior: 'smooth', block: 'start' });
    $('cart-title').setAttribute('tabindex', '-1');
    $('cart-title').focus({ preventScroll: true });
  });
  $('tab-signin').addEventListener('click', () => setAuthMode('signin'));
  $('tab-signup').addEventListener('click', () => setAuthMode('signup'));
  $('auth-form').addEventListener('submit', submitAuth);
  $('auth-cancel').addEventListener('click', () => $('auth-dialog').close());
  for (const id of ['back-to-shop', 'product-back']) {
    $(id).addEventListener('click', (e) => {
      e.preventDefault();
      location.hash = '';
    });
  }
  window.addEventListener('hashchange', route);
  setInterval(renderHold, 1000);
  live.connect();
  await loadCurrencies();
  try {
    await loadStores();
  } catch (error) {
    toast(describe(error));
  }
  if (sessionStorage.getItem(CART_KEY)) {
    try {
      await ensureCart();
    } catch {
      forgetCart();
    }
  }
  loadMyOrders();
  route();
  document.body.dataset.ready = 'true';
}

start();
