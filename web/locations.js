// The dashboard's Locations panel (docs/API.md §13): the store's stock locations (add one,
// edit its priority, switch it on or off) and, for one product, its stock per location with
// a transfer form. Uses only the public API.
import { describe, h, request } from './api.js';

const $ = (id) => document.getElementById(id);

/** Renders the store's locations and the product picker; `products` is the dashboard's map. */
export async function loadLocations(session, store, products, toast) {
  const list = $('locations-list');
  let locations = [];
  try {
    locations = (await request('GET', `/stores/${store.id}/locations`, { session })).items;
  } catch (e) {
    toast(describe(e));
    return;
  }
  const names = new Map(locations.map((l) => [l.id, l.name]));
  list.replaceChildren(...locations.map((l) => {
    const priority = h('input', {
      type: 'number', min: '0', max: '1000000', class: 'num', value: String(l.priority),
      'aria-label': `Priority of ${l.name}`,
    });
    const active = h('input', {
      type: 'checkbox', checked: l.active, disabled: l.default, 'aria-label': `${l.name} active`,
    });
    const save = async () => {
      try {
        await request('PATCH', `/locations/${l.id}`, {
          body: { priority: Number.parseInt(priority.value, 10) || 0, active: active.checked }, session,
        });
        toast(`Saved ${l.name}.`);
      } catch (e) {
        toast(describe(e));
      }
    };
    priority.addEventListener('change', save);
    active.addEventListener('change', save);
    return h('li', { class: 'location', dataset: { id: l.id } },
      h('span', { text: `${l.name} · ${l.kind}${l.default ? ' · default' : ''}` }),
      h('label', { class: 'small' }, 'Priority ', priority),
      h('label', { class: 'small' }, active, ' Active'));
  }));
  $('location-add').onsubmit = async (event) => {
    event.preventDefault();
    const name = $('location-name').value.trim();
    if (!name) return;
    try {
      await request('POST', `/stores/${store.id}/locations`, {
        body: { name, kind: $('location-kind').value }, session,
      });
      $('location-name').value = '';
      loadLocations(session, store, products, toast);
    } catch (e) {
      toast(describe(e));
    }
  };
  const picker = $('stock-product');
  picker.replaceChildren(...[...products.values()].map((p) => h('option', { value: p.id, text: p.name })));
  const options = () => locations.map((l) => h('option', { value: l.id, text: l.name }));
  $('transfer-from').replaceChildren(...options());
  $('transfer-to').replaceChildren(...options());
  const showLevels = (inventory) => {
    $('stock-levels').replaceChildren(...inventory.locations.map((level) => h('li', {
      text: `${names.get(level.location_id) || level.location_id}: ${level.on_hand} on hand, `
        + `${level.reserved} held, ${level.available} available`,
    })));
  };
  const refresh = async () => {
    if (!picker.value) return;
    try {
      showLevels(await request('GET', `/products/${picker.value}/inventory`, { session }));
    } catch (e) {
      toast(describe(e));
    }
  };
  picker.onchange = refresh;
  $('transfer-form').onsubmit = async (event) => {
    event.preventDefault();
    try {
      showLevels(await request('POST', `/products/${picker.value}/inventory/transfers`, {
        body: {
          from: $('transfer-from').value,
          to: $('transfer-to').value,
          quantity: Number.parseInt($('transfer-qty').value, 10) || 0,
        },
        session,
      }));
      toast('Moved.');
    } catch (e) {
      toast(describe(e));
    }
  };
  refresh();
}
