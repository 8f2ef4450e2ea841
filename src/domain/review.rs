//! Product reviews (docs/API.md §11): one per customer and product, written by customers who
//! received the product, and the rating aggregate the product keeps from them.
//!
//! The aggregate is a sum and a count rather than an average so that adding, editing and
//! removing a review are exact integer steps (no drift from repeated float rounding), and the
//! average is derived when shown.

use super::{
    error::{DomainError, FieldError},
    ids::{ProductId, ReviewId, UserId},
    time::Millis,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Fewest stars a review gives.
pub const MIN_STARS: i64 = 1;
/// Most stars a review gives.
pub const MAX_STARS: i64 = 5;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 5000;

/// A product's rating aggregate: the sum of every review's stars and how many there are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// Total stars of every review.
    pub sum: u64,
    /// Number of reviews.
    pub count: u64,
}

impl Rating {
    /// The average in hundredths of a star, rounded half up (433 for 13/3); `None` without
    /// reviews. Exact, so filters and sorts on it never disagree with what is shown.
    pub fn average_hundredths(&self) -> Option<u64> {
        (self.count > 0).then(|| (self.sum * 200 + self.count) / (2 * self.count))
    }

    /// The average with two decimals (4.33), as the API shows it; `None` without reviews.
    pub fn average(&self) -> Option<f64> {
        self.average_hundredths().map(|h| h as f64 / 100.0)
    }

    /// The aggregate after `added` stars came and `removed` stars went.
    fn with(self, added: Option<u8>, removed: Option<u8>) -> Self {
        let mut next = self;
        if let Some(stars) = removed {
            next.sum = next.sum.saturating_sub(u64::from(stars));
            next.count = next.count.saturating_sub(1);
        }
        if let Some(stars) = added {
            next.sum += u64::from(stars);
            next.count += 1;
        }
        next
    }
}

/// One review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// `rev_…`
    pub id: ReviewId,
    /// The product reviewed.
    pub product_id: ProductId,
    /// The author (a customer with a delivered order holding the product).
    pub customer_id: UserId,
    /// The author's display name when the review was written.
    pub author_name: String,
    /// 1–5 stars.
    pub rating: u8,
    /// ≤ 120 characters.
    pub title: Option<String>,
    /// ≤ 5000 characters.
    pub body: Option<String>,
    /// When it was written.
    pub created_at: Millis,
    /// When it was last edited.
    pub updated_at: Millis,
}

/// What a customer writes (a new review, or the full replacement of theirs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewDraft {
    /// Stars, as sent (checked by [`ReviewDraft::validate`]).
    pub rating: i64,
    /// Optional title.
    pub title: Option<String>,
    /// Optional text.
    pub body: Option<String>,
}

impl ReviewDraft {
    /// Field errors of the draft.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(MIN_STARS..=MAX_STARS).contains(&self.rating) {
            errors.push(FieldError::new(
                "rating",
                format!("must be a whole number from {MIN_STARS} to {MAX_STARS}"),
            ));
        }
        for (field, value, max) in [
            ("title", &self.title, MAX_TITLE_CHARS),
            ("body", &self.body, MAX_BODY_CHARS),
        ] {
            if value.as_ref().is_some_and(|v| v.chars().count() > max) {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {max} characters"),
                ));
            }
        }
        errors
    }

    /// The stars as stored; a draft that failed [`ReviewDraft::validate`] is out of range.
    fn stars(&self) -> Result<u8, DomainError> {
        u8::try_from(self.rating)
            .ok()
            .filter(|s| (MIN_STARS..=MAX_STARS).contains(&i64::from(*s)))
            .ok_or(DomainError::OutOfRange("rating"))
    }
}

/// A review command for a product's actor.
#[derive(Clone, Debug)]
pub enum ReviewCommand {
    /// Write a new review (built by the caller, who checked the purchase).
    Create(Review),
    /// Replace the title, body and stars of a review.
    Edit {
        /// The review.
        id: ReviewId,
        /// Who edits (must be the author).
        editor: UserId,
        /// The new content.
        draft: ReviewDraft,
        /// When.
        at: Millis,
    },
    /// Remove a review.
    Delete {
        /// The review.
        id: ReviewId,
        /// `Some(user)`: only if `user` wrote it; `None`: moderation (staff, admin).
        author: Option<UserId>,
    },
}

/// What a decided review command does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewEffect {
    /// The review is stored as this (created or edited).
    Put(Review),
    /// The review is gone.
    Removed(Review),
}

/// The reviews of one product, as its actor keeps them to decide review commands.
#[derive(Clone, Debug, Default)]
pub struct ReviewBook {
    by_id: HashMap<ReviewId, Review>,
    by_customer: HashMap<UserId, ReviewId>,
}

impl ReviewBook {
    /// A book of the stored reviews.
    pub fn new(reviews: impl IntoIterator<Item = Review>) -> Self {
        let mut book = Self::default();
        for review in reviews {
            book.apply(&ReviewEffect::Put(review));
        }
        book
    }

    /// Decides `command` against the book and the product's current `rating`: the effect and
    /// the rating after it, or the refusal.
    pub fn decide(
        &self,
        command: &ReviewCommand,
        rating: Rating,
    ) -> Result<(ReviewEffect, Rating), DomainError> {
        match command {
            ReviewCommand::Create(review) => {
                if self.by_customer.contains_key(&review.customer_id) {
                    return Err(DomainError::AlreadyReviewed);
                }
                let stars = review.rating;
                if !(MIN_STARS..=MAX_STARS).contains(&i64::from(stars)) {
                    return Err(DomainError::OutOfRange("rating"));
                }
                Ok((
                    ReviewEffect::Put(review.clone()),
                    rating.with(Some(stars), None),
                ))
            }
            ReviewCommand::Edit {
                id,
                editor,
                draft,
                at,
            } => {
                let current = self.by_id.get(id).ok_or(DomainError::NotFound)?;
                if &current.customer_id != editor {
                    return Err(DomainError::NotReviewAuthor);
                }
                let stars = draft.stars()?;
                let next = Review {
                    rating: stars,
                    title: draft.title.clone(),
                    body: draft.body.clone(),
                    updated_at: *at,
                    ..current.clone()
                };
                Ok((
                    ReviewEffect::Put(next),
                    rating.with(Some(stars), Some(current.rating)),
                ))
            }
            ReviewCommand::Delete { id, author } => {
                let current = self.by_id.get(id).ok_or(DomainError::NotFound)?;
                if author.as_ref().is_some_and(|a| a != &current.customer_id) {
                    return Err(DomainError::NotReviewAuthor);
                }
                Ok((
                    ReviewEffect::Removed(current.clone()),
                    rating.with(None, Some(current.rating)),
                ))
            }
        }
    }

    /// Applies a decided effect.
    pub fn apply(&mut self, effect: &ReviewEffect) {
        match effect {
            ReviewEffect::Put(review) => {
                self.by_customer
                    .insert(review.customer_id.clone(), review.id.clone());
                self.by_id.insert(review.id.clone(), review.clone());
            }
            ReviewEffect::Removed(review) => {
                self.by_customer.remove(&review.customer_id);
                self.by_id.remove(&review.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(customer: &UserId, stars: u8) -> Review {
        Review {
            id: ReviewId::generate(),
            product_id: ProductId::generate(),
            customer_id: customer.clone(),
            author_name: "A".into(),
            rating: stars,
            title: None,
            body: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn averages_round_to_two_decimals_and_are_absent_without_reviews() {
        assert_eq!(Rating::default().average(), None);
        assert_eq!(Rating { sum: 9, count: 2 }.average(), Some(4.5));
        assert_eq!(Rating { sum: 13, count: 3 }.average(), Some(4.33));
        assert_eq!(Rating { sum: 14, count: 3 }.average(), Some(4.67));
        assert_eq!(Rating { sum: 5, count: 1 }.average_hundredths(), Some(500));
    }

    #[test]
    fn one_review_per_customer_and_the_aggregate_follows_every_change() {
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let mut book = ReviewBook::default();
        let mut rating = Rating::default();
        let first = review(&alice, 5);
        let (effect, next) = book
            .decide(&ReviewCommand::Create(first.clone()), rating)
            .expect("first review");
        book.apply(&effect);
        rating = next;
        assert_eq!(
            book.decide(&ReviewCommand::Create(review(&alice, 1)), rating),
            Err(DomainError::AlreadyReviewed)
        );
        let edit = ReviewCommand::Edit {
            id: first.id.clone(),
            editor: bob.clone(),
            draft: ReviewDraft {
                rating: 2,
                title: None,
                body: None,
            },
            at: 2,
        };
        assert_eq!(
            book.decide(&edit, rating),
            Err(DomainError::NotReviewAuthor)
        );
        let edit = ReviewCommand::Edit {
            id: first.id.clone(),
            editor: alice.clone(),
            draft: ReviewDraft {
                rating: 3,
                title: Some("ok".into()),
                body: None,
            },
            at: 2,
        };
        let (effect, next) = book.decide(&edit, rating).expect("author edits");
        book.apply(&effect);
        rating = next;
        assert_eq!(rating, Rating { sum: 3, count: 1 });
        let delete = ReviewCommand::Delete {
            id: first.id.clone(),
            author: None,
        };
        let (effect, next) = book.decide(&delete, rating).expect("moderation");
        book.apply(&effect);
        assert_eq!(next, Rating::default());
        assert!(book.by_id.is_empty() && book.by_customer.is_empty());
    }

    #[test]
    fn drafts_out_of_range_are_refused_per_field() {
        let draft = |rating, title: usize, body: usize| ReviewDraft {
            rating,
            title: Some("t".repeat(title)),
            body: Some("b".repeat(body)),
        };
        assert!(draft(1, 120, 5000).validate().is_empty());
        assert!(draft(5, 0, 0).validate().is_empty());
        let fields = |d: ReviewDraft| {
            d.validate()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(draft(0, 121, 5001)), ["rating", "title", "body"]);
        assert_eq!(fields(draft(6, 1, 1)), ["rating"]);
    }
}
