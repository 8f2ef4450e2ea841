// The dashboard's Notifications tab: the emails the caller may see (admins all, staff their
// store's), newest first, and one email's text and HTML (the HTML in a sandboxed iframe: no
// scripts, no same-origin access, so a hostile product name cannot act in the dashboard).
import { age, describe, h, request } from './api.js';

const $ = (id) => document.getElementById(id);

/** Loads and renders the list; `session` is the dashboard's. */
export async function loadNotifications(session) {
  const list = $('notifications-list');
  const status = $('notifications-status');
  status.textContent = 'Loading…';
  try {
    const params = new URLSearchParams({ per_page: '50' });
    const filter = $('notifications-template').value;
    if (filter) params.set('template', filter);
    const page = await request('GET', `/notifications?${params}`, { session });
    status.textContent = page.total ? `${page.total} notifications` : 'No notifications yet.';
    list.replaceChildren(...page.items.map((n) => h('li', { class: 'notification', dataset: { id: n.id } },
      h('button', {
        class: 'button link', type: 'button', onclick: () => show(session, n.id),
        text: n.subject,
      }),
      h('span', { class: 'muted small', text: ` ${n.template} · ${n.to} · ${n.status} · ${age(n.created_at)} ago` }))));
  } catch (e) {
    status.textContent = `Notifications unavailable: ${describe(e)}`;
  }
}

async function show(session, id) {
  const detail = $('notification-detail');
  detail.hidden = false;
  try {
    const n = await request('GET', `/notifications/${id}`, { session });
    $('notification-subject').textContent = n.subject;
    $('notification-meta').textContent = `To ${n.to} · ${n.status}${n.last_error ? ` · ${n.last_error}` : ''}`;
    $('notification-text').textContent = n.text;
    const frame = h('iframe', { sandbox: '', title: 'HTML part of the email', class: 'email-html' });
    frame.srcdoc = n.html;
    $('notification-html').replaceChildren(frame);
  } catch (e) {
    $('notification-subject').textContent = describe(e);
  }
}

/** Wires the template filter (the tab itself is the dashboard's). */
export function mountNotifications(session) {
  $('notifications-template').addEventListener('change', () => loadNotifications(session));
}
