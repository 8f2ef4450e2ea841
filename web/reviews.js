// Star ratings and the product page with its reviews (docs/API.md, "Reviews and ratings"):
// the rating summary, the review list with its sort orders, and for a signed-in customer a
// form that writes (or edits) their review. Every user-written text goes into the page as
// text nodes (`h` with `text` or string children), never as HTML.

import {
  ApiError, describe, formatMoney, h, listAll, request, showPicture,
} from './api.js';

const NOT_PURCHASED = 'Only customers who received this product can review it';

const SORTS = [
  ['-created_at', 'Newest'],
  ['-rating', 'Highest rated'],
  ['rating', 'Lowest rated'],
];

/** "★★★★☆" for an average (rounded to the nearest whole star). */
export function starText(average) {
  const full = Math.round(Math.max(0, Math.min(5, average || 0)));
  return '★'.repeat(full) + '☆'.repeat(5 - full);
}

/** A product's rating as a small line: stars, average and count (or "No reviews yet"). */
export function ratingLine(rating, { className = 'rating' } = {}) {
  const count = rating?.count || 0;
  if (!count || rating.average === null || rating.average === undefined) {
    return h('span', { class: `${className} rating-none muted`, text: 'No reviews yet' });
  }
  const average = Number(rating.average).toFixed(2).replace(/\.?0+$/, '');
  const label = `Rated ${average} out of 5 by ${count} ${count === 1 ? 'customer' : 'customers'}`;
  return h('span', { class: className, role: 'img', 'aria-label': label, title: label },
    h('span', { class: 'stars', 'aria-hidden': 'true', text: starText(rating.average) }),
    h('span', { class: 'rating-average num', 'aria-hidden': 'true', text: ` ${average}` }),
    h('span', { class: 'rating-count muted', 'aria-hidden': 'true', text: ` (${count})` }));
}

/**
 * The product page (`#product/prod_…`): details, rating summary, reviews and the review form.
 * `session` is the shopper's; `onSignIn(reason)` opens the sign-in dialog.
 */
export class ProductPage {
  constructor({ container, session, onSignIn }) {
    this.container = container;
    this.session = session;
    this.onSignIn = onSignIn;
    this.product = null;
    this.reviews = [];
    this.total = 0;
    this.sort = '-created_at';
    this.page = 1;
    this.perPage = 10;
    this.generation = 0;
  }

  /** Shows product `id` (loading it and its first page of reviews). */
  async show(id) {
    const generation = ++this.generation;
    if (this.product?.id !== id) {
      this.product = null;
      this.page = 1;
      this.container.replaceChildren(h('p', { class: 'muted', text: 'Loading product…' }));
    }
    try {
      const product = await request('GET', `/products/${id}`);
      if (generation !== this.generation) return;
      this.product = product;
      await this.loadReviews(generation);
    } catch (error) {
      if (generation !== this.generation) return;
      this.container.replaceChildren(h('p', {
        class: 'notice notice-error',
        text: error instanceof ApiError && error.status === 404
          ? 'This product cannot be found.' : describe(error),
      }));
    }
  }

  /** Forgets the shown product (the page was left). */
  hide() {
    this.generation += 1;
    this.product = null;
  }

  /** A newer copy of a product arrived (`product.updated`): refresh the summary if shown. */
  productUpdated(product) {
    if (this.product?.id !== product.id) return;
    const ratingChanged = JSON.stringify(product.rating) !== JSON.stringify(this.product.rating);
    this.product = product;
    if (ratingChanged) this.loadReviews(this.generation);
    else this.render();
  }

  /** Re-renders for a new session (the form depends on who is signed in). */
  refresh() {
    if (this.product) this.loadReviews(this.generation);
  }

  async loadReviews(generation) {
    const params = new URLSearchParams({
      sort: this.sort, page: String(this.page), per_page: String(this.perPage),
    });
    const page = await request('GET', `/products/${this.product.id}/reviews?${params}`);
    if (generation !== this.generation) return;
    this.reviews = page.items;
    this.total = page.total;
    // The signed-in customer's own review (to edit instead of writing a second one).
    this.mine = null;
    const me = this.session.user;
    if (me && me.role === 'customer') {
      this.mine = this.reviews.find((r) => r.customer_id === me.id) || null;
    }
    this.render();
  }

  render() {
    const p = this.product;
    if (!p) return;
    const pages = Math.max(1, Math.ceil(this.total / this.perPage));
    const picture = h('div', { class: 'thumb detail-image', 'aria-hidden': 'true' });
    showPicture(picture, p, { width: 800 });
    this.container.replaceChildren(
      h('article', { class: 'product-detail' },
        picture,
        h('div', { class: 'detail-body' },
          h('h1', { id: 'product-title', tabindex: '-1', text: p.name }),
          h('p', { class: 'product-meta muted', text: [p.category, p.brand].filter(Boolean).join(' · ') }),
          h('p', { class: 'price num', text: formatMoney(p.price) }),
          h('p', { id: 'product-rating', class: 'rating-summary' }, ratingLine(p.rating)),
          p.description ? h('p', { class: 'detail-description', text: p.description }) : null)),
      h('section', { class: 'reviews', 'aria-labelledby': 'reviews-title' },
        h('div', { class: 'reviews-head' },
          h('h2', { id: 'reviews-title', text: `Reviews (${this.total})` }),
          h('label', { class: 'field inline' },
            h('span', { class: 'label', text: 'Sort' }),
            h('select', {
              id: 'review-sort',
              onchange: (e) => {
                this.sort = e.target.value;
                this.page = 1;
                this.loadReviews(this.generation);
              },
            }, SORTS.map(([value, label]) => h('option', {
              value, text: label, selected: value === this.sort,
            }))))),
        this.total === 0
          ? h('p', { id: 'no-reviews', class: 'muted', text: 'No reviews yet.' })
          : h('ul', { id: 'review-list', class: 'review-list' },
            this.reviews.map((r) => this.reviewItem(r))),
        pages > 1 ? h('nav', { class: 'row pager', 'aria-label': 'Review pages' },
          h('button', {
            class: 'button', type: 'button', disabled: this.page <= 1,
            onclick: () => { this.page -= 1; this.loadReviews(this.generation); },
          }, 'Previous'),
          h('span', { class: 'muted num', text: `Page ${this.page} of ${pages}` }),
          h('button', {
            class: 'button', type: 'button', disabled: this.page >= pages,
            onclick: () => { this.page += 1; this.loadReviews(this.generation); },
          }, 'Next')) : null,
        this.form()),
    );
  }

  reviewItem(r) {
    const mine = this.mine?.id === r.id;
    return h('li', { class: 'review', dataset: { reviewId: r.id } },
      h('div', { class: 'review-head' },
        h('span', {
          class: 'stars', role: 'img', 'aria-label': `${r.rating} out of 5 stars`, text: starText(r.rating),
        }),
        r.title ? h('strong', { class: 'review-title', text: r.title }) : null),
      r.body ? h('p', { class: 'review-body', text: r.body }) : null,
      h('p', { class: 'review-meta muted small' },
        h('span', { class: 'review-author', text: r.author_name }),
        r.verified_purchase ? ' · Verified purchase' : '',
        ` · ${new Date(r.created_at).toLocaleDateString()}`,
        mine ? ' · Your review' : ''),
      mine ? h('button', {
        class: 'button link', type: 'button', id: 'delete-review',
        onclick: () => this.remove(r),
      }, 'Delete my review') : null);
  }

  form() {
    const user = this.session.user;
    if (!user) {
      return h('p', { class: 'review-signin' },
        h('button', {
          class: 'button', type: 'button', id: 'review-sign-in',
          onclick: () => this.onSignIn('Sign in to review this product.'),
        }, 'Sign in to write a review'));
    }
    if (user.role !== 'customer') return null;
    const mine = this.mine;
    // Five to one in the document, shown one to five (row-reverse), so that a checked or
    // hovered star lights itself and the ones after it in the document: the lower ones.
    const stars = [5, 4, 3, 2, 1].map((n) => h('label', { class: 'star-choice' },
      h('input', {
        type: 'radio', name: 'rating', value: String(n), required: true,
        checked: mine?.rating === n,
      }),
      h('span', { 'aria-hidden': 'true', text: '★' }),
      h('span', { class: 'sr-only', text: `${n} ${n === 1 ? 'star' : 'stars'}` })));
    const form = h('form', { id: 'review-form', class: 'review-form', 'aria-labelledby': 'review-form-title' },
      h('h3', { id: 'review-form-title', text: mine ? 'Edit your review' : 'Write a review' }),
      h('fieldset', { class: 'star-picker' },
        h('legend', { text: 'Your rating' }), stars),
      h('label', { class: 'field' },
        h('span', { class: 'label', text: 'Title (optional)' }),
        h('input', { id: 'review-title', name: 'title', maxlength: '120', autocomplete: 'off', value: mine?.title || '' })),
      h('label', { class: 'field' },
        h('span', { class: 'label', text: 'Review (optional)' }),
        h('textarea', { id: 'review-body', name: 'body', maxlength: '5000', rows: '4' })),
      h('button', { id: 'review-submit', class: 'button primary', type: 'submit' },
        mine ? 'Save review' : 'Post review'),
      h('p', { id: 'review-message', class: 'notice', role: 'alert', hidden: true }));
    // A textarea's text is its content, not an attribute.
    form.querySelector('#review-body').value = mine?.body || '';
    form.addEventListener('submit', (e) => this.submit(e, form));
    return form;
  }

  async submit(event, form) {
    event.preventDefault();
    const message = form.querySelector('#review-message');
    const say = (text, kind) => {
      message.hidden = !text;
      message.textContent = text || '';
      message.className = `notice${kind ? ` notice-${kind}` : ''}`;
    };
    const data = new FormData(form);
    const body = { rating: Number(data.get('rating')) };
    const title = String(data.get('title') || '').trim();
    const text = String(data.get('body') || '').trim();
    if (title) body.title = title;
    if (text) body.body = text;
    if (!body.rating) {
      say('Choose a rating from 1 to 5 stars.', 'error');
      return;
    }
    const submit = form.querySelector('#review-submit');
    submit.disabled = true;
    try {
      const path = this.mine
        ? `/products/${this.product.id}/reviews/${this.mine.id}`
        : `/products/${this.product.id}/reviews`;
      await request(this.mine ? 'PUT' : 'POST', path, { body, session: this.session });
      await this.reload();
      const note = this.container.querySelector('#review-message');
      if (note) {
        note.hidden = false;
        note.className = 'notice';
        note.textContent = 'Thanks! Your review is posted.';
      }
    } catch (error) {
      if (error.code === 'not_purchased') say(NOT_PURCHASED, 'error');
      else if (error.code === 'already_reviewed') await this.findMine(say);
      else if (error.status === 401) this.onSignIn('Your session ended. Sign in again to post your review.');
      else say(describe(error), 'error');
    } finally {
      submit.disabled = false;
    }
  }

  async remove(review) {
    try {
      await request('DELETE', `/products/${this.product.id}/reviews/${review.id}`, { session: this.session });
      await this.reload();
    } catch (error) {
      const note = this.container.querySelector('#review-message');
      if (note) {
        note.hidden = false;
        note.className = 'notice notice-error';
        note.textContent = describe(error);
      }
    }
  }

  /**
   * Our review is on another page than the one shown: find it, and offer to edit it instead
   * (read only after the server said it exists, so a product page never walks every review).
   */
  async findMine(say) {
    const me = this.session.user;
    try {
      const all = await listAll(`/products/${this.product.id}/reviews`, { sort: '-created_at' });
      this.mine = all.find((r) => r.customer_id === me?.id) || null;
    } catch {
      this.mine = null;
    }
    if (!this.mine) {
      say('You already reviewed this product.', 'error');
      return;
    }
    this.render();
    const note = this.container.querySelector('#review-message');
    if (note) {
      note.hidden = false;
      note.className = 'notice notice-warn';
      note.textContent = 'You already reviewed this product: edit your review here instead.';
    }
  }

  /** Reads the product (its new rating) and the reviews again after a change of ours. */
  async reload() {
    const generation = this.generation;
    const product = await request('GET', `/products/${this.product.id}`);
    if (generation !== this.generation) return;
    this.product = product;
    await this.loadReviews(generation);
  }
}
