//! Reviews (docs/API.md §11): the purchase check against the orders read model, and the
//! commands the product's actor decides (it owns the reviews and the rating aggregate, so one
//! actor serialises every change of both: two racing reviews by one customer cannot both win).

use crate::{
    actors::{ProductRegistry, Shared, product::ProductMsg},
    domain::{
        ids::{ProductId, ReviewId, UserId},
        order::OrderStatus,
        review::{Review, ReviewCommand, ReviewDraft, ReviewEffect},
        time::now_ms,
    },
    services::error::ServiceError,
    views::ProductView,
};
use std::sync::Arc;

/// Orders of `GET /products/{id}/reviews`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReviewSort {
    /// Newest first (the default).
    #[default]
    NewestFirst,
    /// Most stars first, newest first among equals.
    RatingDesc,
    /// Fewest stars first, newest first among equals.
    RatingAsc,
}

impl ReviewSort {
    /// Parses the API spelling (`-created_at`, `-rating`, `rating`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "-created_at" => Some(Self::NewestFirst),
            "-rating" => Some(Self::RatingDesc),
            "rating" => Some(Self::RatingAsc),
            _ => None,
        }
    }
}

/// Review operations.
pub struct Reviews {
    shared: Arc<Shared>,
    products: Arc<ProductRegistry>,
}

impl Reviews {
    /// The review service.
    pub fn new(shared: Arc<Shared>, products: Arc<ProductRegistry>) -> Self {
        Self { shared, products }
    }

    /// The product, or 404.
    fn product(&self, id: &ProductId) -> Result<ProductView, ServiceError> {
        self.shared
            .read_model
            .product(id)
            .ok_or(ServiceError::NotFound)
    }

    /// Whether `customer` has a delivered order holding `product` (a verified purchase).
    /// Reads only that customer's orders (through the read model's per-customer index), so
    /// its cost does not grow with the shop's order count.
    pub fn has_received(&self, customer: &UserId, product: &ProductId) -> bool {
        self.shared
            .read_model
            .orders_of(customer)
            .iter()
            .any(|order| {
                order.status == OrderStatus::Delivered
                    && order.items.iter().any(|line| &line.product_id == product)
            })
    }

    /// Writes `customer`'s review of `product`: 422 for a bad draft, 404 for an unknown
    /// product, 403 `not_purchased` without a delivered order holding it, 409
    /// `already_reviewed` for a second one.
    pub async fn create(
        &self,
        customer: &UserId,
        author_name: String,
        product: &ProductId,
        draft: ReviewDraft,
    ) -> Result<(Review, ProductView), ServiceError> {
        self.product(product)?;
        let errors = draft.validate();
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        if !self.has_received(customer, product) {
            return Err(ServiceError::NotPurchased);
        }
        let now = now_ms();
        let review = Review {
            id: ReviewId::generate(),
            product_id: product.clone(),
            customer_id: customer.clone(),
            author_name,
            rating: u8::try_from(draft.rating)
                .map_err(|_| ServiceError::field("rating", "out of range"))?,
            title: draft.title,
            body: draft.body,
            created_at: now,
            updated_at: now,
        };
        self.run(product, ReviewCommand::Create(review)).await
    }

    /// Replaces the content of `editor`'s review: 403 when someone else wrote it.
    pub async fn edit(
        &self,
        editor: &UserId,
        product: &ProductId,
        id: ReviewId,
        draft: ReviewDraft,
    ) -> Result<(Review, ProductView), ServiceError> {
        self.product(product)?;
        let errors = draft.validate();
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let command = ReviewCommand::Edit {
            id,
            editor: editor.clone(),
            draft,
            at: now_ms(),
        };
        self.run(product, command).await
    }

    /// Removes a review; `author: Some(user)` only if `user` wrote it, `None` for moderators
    /// (the caller checked they are staff of the store or an admin).
    pub async fn delete(
        &self,
        product: &ProductId,
        id: ReviewId,
        author: Option<UserId>,
    ) -> Result<(Review, ProductView), ServiceError> {
        self.product(product)?;
        self.run(product, ReviewCommand::Delete { id, author })
            .await
    }

    /// A page of a product's reviews and how many there are.
    pub async fn list(
        &self,
        product: &ProductId,
        sort: ReviewSort,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<Review>, usize), ServiceError> {
        self.product(product)?;
        let storage = self.shared.storage.clone();
        let id = product.clone();
        let mut reviews = tokio::task::spawn_blocking(move || storage.reviews(&id))
            .await
            .map_err(|e| ServiceError::Unavailable(format!("review listing failed: {e}")))??;
        let newest = |a: &Review, b: &Review| (b.created_at, &b.id).cmp(&(a.created_at, &a.id));
        match sort {
            ReviewSort::NewestFirst => reviews.sort_by(newest),
            ReviewSort::RatingDesc => {
                reviews.sort_by(|a, b| b.rating.cmp(&a.rating).then_with(|| newest(a, b)))
            }
            ReviewSort::RatingAsc => {
                reviews.sort_by(|a, b| a.rating.cmp(&b.rating).then_with(|| newest(a, b)))
            }
        }
        let total = reviews.len();
        let items = reviews
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect();
        Ok((items, total))
    }

    /// Sends a review command to the product's actor.
    async fn run(
        &self,
        product: &ProductId,
        command: ReviewCommand,
    ) -> Result<(Review, ProductView), ServiceError> {
        let (effect, view) = self
            .products
            .call(product, |reply| ProductMsg::Review {
                command: Box::new(command.clone()),
                reply,
            })
            .await?;
        let review = match effect {
            ReviewEffect::Put(review) | ReviewEffect::Removed(review) => review,
        };
        Ok((review, view))
    }
}
