//! An endpoint's delivery worker: reads the log in order, POSTs each matching event until it
//! succeeds or the retry schedule is used up, records every attempt durably, then moves its
//! cursor.
//!
//! Successful first attempts are recorded in one write per batch of log records (before the
//! cursor moves past them), so a steady stream costs one group commit per batch, not one per
//! event; a crash before that write only repeats those deliveries (same event ids). A failed
//! attempt is recorded at once (`retrying`, with `next_attempt_at`), before the wait.

use super::{Webhooks, events::WebhookEvent, guard, sign};
use crate::{
    domain::{
        time::now_ms,
        webhook::{Attempt, Delivery, DeliveryStatus, Endpoint, EventPosition},
    },
    persistence::{ProductWrite, StorageError, consumer::Consumer},
};
use std::{sync::Arc, time::Instant};
use tokio::sync::watch;

/// Log records read per batch.
const BATCH: usize = 256;

/// Longest time a worker's cursor lags behind batches that delivered nothing.
const CURSOR_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How a delivery ended for the worker.
enum Outcome {
    /// Delivered or given up: on to the next event.
    Done,
    /// The endpoint was disabled for failing too long: the worker stops.
    Disabled,
}

impl Webhooks {
    /// The worker loop of one endpoint (runs until aborted, or until the endpoint is
    /// disabled automatically).
    pub(super) async fn run_worker(
        self: Arc<Self>,
        mut consumer: Consumer,
        endpoint: watch::Receiver<Endpoint>,
    ) {
        let id = endpoint.borrow().id.clone();
        if let Err(error) = self.work(&mut consumer, &endpoint).await {
            tracing::error!(webhook = %id, %error, "a webhook worker stopped; deliveries to this endpoint are paused until restart");
        }
    }

    async fn work(
        &self,
        consumer: &mut Consumer,
        endpoint: &watch::Receiver<Endpoint>,
    ) -> Result<(), StorageError> {
        let mut last_save = Instant::now();
        loop {
            let records = consumer.next(BATCH).await?;
            let Some(last) = records.last().map(|r| r.lsn) else {
                continue;
            };
            let mut delivered = ProductWrite::default();
            let mut any = false;
            for record in &records {
                for event in super::events::derive(record, &self.shared.read_model) {
                    let current = endpoint.borrow().clone();
                    if !current.matches(&event.kind, event.store_id.as_ref()) {
                        continue;
                    }
                    if self
                        .shared
                        .storage
                        .delivery(&current.id, event.position)?
                        .is_some_and(|d| d.status.is_final())
                    {
                        // Finished before a crash; the cursor had not moved yet.
                        continue;
                    }
                    match self
                        .deliver(endpoint, &event, &mut delivered, &mut any)
                        .await?
                    {
                        Outcome::Done => {}
                        Outcome::Disabled => {
                            self.flush(&mut delivered, &mut any).await?;
                            return Ok(());
                        }
                    }
                }
            }
            let wrote = any;
            self.flush(&mut delivered, &mut any).await?;
            self.note_success(endpoint).await?;
            // A batch without deliveries (other workers' delivery records, say) need not
            // cost a flush each time: replaying it after a crash derives nothing new.
            if wrote || last_save.elapsed() >= CURSOR_SAVE_EVERY {
                consumer.save(last).await?;
                last_save = Instant::now();
            }
        }
    }

    /// Writes the buffered delivery records.
    async fn flush(&self, write: &mut ProductWrite, any: &mut bool) -> Result<(), StorageError> {
        if std::mem::take(any) {
            self.shared
                .committer
                .write_durable(std::mem::take(write))
                .await?;
        }
        Ok(())
    }

    /// Delivers one event: attempts after the schedule's delays until one succeeds, the
    /// schedule is used up, or the endpoint has failed for `disable_after_seconds`.
    async fn deliver(
        &self,
        endpoint: &watch::Receiver<Endpoint>,
        event: &WebhookEvent,
        delivered: &mut ProductWrite,
        any: &mut bool,
    ) -> Result<Outcome, StorageError> {
        let config = &self.shared.config.webhooks;
        let body = event.body();
        let first = endpoint.borrow().clone();
        let mut record = Delivery {
            id: event.position.delivery_id(),
            webhook_id: first.id.clone(),
            event_id: event.position.event_id(),
            kind: event.kind.clone(),
            body,
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: None,
        };
        // A delivery interrupted by a crash goes on with its recorded attempts.
        if let Some(stored) = self.shared.storage.delivery(&first.id, event.position)? {
            record = stored;
        }
        loop {
            let current = endpoint.borrow().clone();
            let attempt = self.attempt(&current, &record.body, &record.event_id).await;
            let ok = attempt.error.is_none();
            let lock = self.delivery_lock(event.position).lock().await;
            // A manual redelivery may have finished it meanwhile.
            if let Some(stored) = self.shared.storage.delivery(&current.id, event.position)? {
                record = stored;
            }
            if record.status == DeliveryStatus::Delivered {
                return Ok(Outcome::Done);
            }
            record.attempts.push(attempt);
            if ok {
                record.status = DeliveryStatus::Delivered;
                record.next_attempt_at = None;
                delivered.delivery(event.position, &record)?;
                *any = true;
                self.succeeded(endpoint).await?;
                return Ok(Outcome::Done);
            }
            let failing_since = self.failed(&current).await?;
            let disable =
                now_ms() - failing_since >= (config.disable_after_seconds * 1000.0).round() as i64;
            let next = (!disable)
                .then(|| config.delay_before(record.attempts.len()))
                .flatten();
            match next {
                Some(delay) => {
                    record.status = DeliveryStatus::Retrying;
                    record.next_attempt_at = Some(now_ms() + delay.as_millis() as i64);
                }
                None => {
                    record.status = DeliveryStatus::Failed;
                    record.next_attempt_at = None;
                }
            }
            let mut write = std::mem::take(delivered);
            *any = false;
            write.delivery(event.position, &record)?;
            self.shared.committer.write_durable(write).await?;
            drop(lock);
            if disable {
                self.disable(&current).await?;
                return Ok(Outcome::Disabled);
            }
            match next {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Ok(Outcome::Done),
            }
        }
    }

    /// One POST of `body` to the endpoint.
    pub(super) async fn attempt(&self, endpoint: &Endpoint, body: &str, event_id: &str) -> Attempt {
        let at = now_ms();
        let started = Instant::now();
        let result = self.post(endpoint, body, event_id).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(code) if (200..300).contains(&code) => Attempt {
                at,
                status_code: Some(code),
                duration_ms,
                error: None,
            },
            Ok(code) => Attempt {
                at,
                status_code: Some(code),
                duration_ms,
                error: Some(format!("the endpoint answered {code}")),
            },
            Err(error) => Attempt {
                at,
                status_code: None,
                duration_ms,
                error: Some(error),
            },
        }
    }

    async fn post(&self, endpoint: &Endpoint, body: &str, event_id: &str) -> Result<u16, String> {
        let config = &self.shared.config.webhooks;
        let url = reqwest::Url::parse(&endpoint.url).map_err(|_| "the URL is not valid")?;
        if !config.allow_private_targets && guard::literal_forbidden(&url) {
            return Err("the target is a loopback, link-local or private address".into());
        }
        let timeout = std::time::Duration::from_millis(config.timeout_ms);
        let signature = sign::signature(&endpoint.secret, now_ms().div_euclid(1000), body);
        let send = async {
            let response = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::USER_AGENT, "Emporium-Webhooks/1")
                .header("Emporium-Event-Id", event_id)
                .header("Emporium-Signature", signature)
                .body(body.to_owned())
                .send()
                .await?;
            let code = response.status().as_u16();
            // Read the answer so the connection can be reused.
            let _ = response.bytes().await;
            Ok::<u16, reqwest::Error>(code)
        };
        match tokio::time::timeout(timeout, send).await {
            Err(_) => Err(format!("no answer within {} ms", config.timeout_ms)),
            Ok(Err(error)) => Err(describe(&error)),
            Ok(Ok(code)) => Ok(code),
        }
    }

    /// A manual redelivery: one attempt now, recorded in the delivery.
    pub(super) async fn redeliver_now(
        &self,
        endpoint: Endpoint,
        position: EventPosition,
    ) -> Result<(), StorageError> {
        let Some(stored) = self.shared.storage.delivery(&endpoint.id, position)? else {
            return Ok(());
        };
        let attempt = self
            .attempt(&endpoint, &stored.body, &stored.event_id)
            .await;
        let ok = attempt.error.is_none();
        let _lock = self.delivery_lock(position).lock().await;
        let Some(mut record) = self.shared.storage.delivery(&endpoint.id, position)? else {
            return Ok(());
        };
        record.attempts.push(attempt);
        if ok {
            record.status = DeliveryStatus::Delivered;
            record.next_attempt_at = None;
        }
        let mut write = ProductWrite::default();
        write.delivery(position, &record)?;
        self.shared.committer.write_durable(write).await
    }

    /// After a success: clears the endpoint's failing state (durably, only when it was
    /// failing) and notes the time.
    async fn succeeded(&self, endpoint: &watch::Receiver<Endpoint>) -> Result<(), StorageError> {
        let id = endpoint.borrow().id.clone();
        if endpoint.borrow().failing_since.is_none() {
            if let Ok(mut last) = self.pending_success.lock() {
                last.insert(id, now_ms());
            }
            return Ok(());
        }
        self.change_endpoint(&id, |e| {
            e.failing_since = None;
            e.last_success_at = Some(now_ms());
        })
        .await
    }

    /// Writes the last success time of a batch (at most once a minute per endpoint).
    async fn note_success(&self, endpoint: &watch::Receiver<Endpoint>) -> Result<(), StorageError> {
        let (id, stored) = {
            let e = endpoint.borrow();
            (e.id.clone(), e.last_success_at)
        };
        let Some(at) = self
            .pending_success
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&id))
        else {
            return Ok(());
        };
        if stored.is_some_and(|s| at - s < 60_000) {
            return Ok(());
        }
        self.change_endpoint(&id, |e| e.last_success_at = Some(at))
            .await
    }

    /// After a failure: the start of the failing spell (recorded when it begins).
    async fn failed(&self, endpoint: &Endpoint) -> Result<i64, StorageError> {
        if let Some(since) = endpoint.failing_since {
            return Ok(since);
        }
        let now = now_ms();
        self.change_endpoint(&endpoint.id, |e| {
            e.failing_since.get_or_insert(now);
        })
        .await?;
        Ok(now)
    }

    /// Disables an endpoint that failed for `disable_after_seconds` (its worker returns
    /// right after).
    async fn disable(&self, endpoint: &Endpoint) -> Result<(), StorageError> {
        let seconds = self.shared.config.webhooks.disable_after_seconds;
        let reason = format!("no successful delivery for {seconds} seconds");
        tracing::warn!(webhook = %endpoint.id, url = %endpoint.url, %reason, "disabled a failing webhook endpoint");
        self.change_endpoint(&endpoint.id, |e| {
            e.enabled = false;
            e.disabled_reason = Some(reason.clone());
        })
        .await?;
        if let Ok(mut workers) = self.workers.lock() {
            workers.remove(&endpoint.id);
        }
        self.shared
            .storage
            .drop_cursor(&super::cursor_name(&endpoint.id))
    }

    /// Read-modify-write of an endpoint record, durably; the worker sees the new record.
    async fn change_endpoint(
        &self,
        id: &crate::domain::ids::WebhookId,
        change: impl FnOnce(&mut Endpoint),
    ) -> Result<(), StorageError> {
        let _guard = self.endpoint_lock.lock().await;
        let Some(mut endpoint) = self.shared.storage.webhook(id)? else {
            return Ok(());
        };
        change(&mut endpoint);
        endpoint.updated_at = now_ms();
        self.put_endpoint(&endpoint).await?;
        self.notify_worker(&endpoint);
        Ok(())
    }
}

/// A transport error in a sentence (no internals beyond the kind of failure).
fn describe(error: &reqwest::Error) -> String {
    if error.is_connect() {
        "could not connect".into()
    } else if error.is_timeout() {
        "timed out".into()
    } else if error.is_redirect() {
        "redirects are not followed".into()
    } else {
        "the request failed".into()
    }
}
