//! An endpoint's delivery worker: reads the log in order, POSTs each matching event until it
//! succeeds or the retry schedule is used up, records every attempt durably, then moves its
//! cursor.
//!
//! The critical path of an event is its POST and little else, so that one endpoint keeps up
//! with a busy store (§10 allows one event in flight per endpoint):
//!
//! - the events of a log record and their bodies are derived once for every worker
//!   ([`super::derived`]);
//! - an event newer than the log's end when the worker started cannot have a delivery
//!   record yet, so it is not looked up (a replay after a restart looks each one up once);
//! - successful first attempts are recorded by the worker's *recorder* task while the worker
//!   goes on POSTing: it commits the records of the batches handed to it (all that gathered
//!   while its previous commit ran, in one write), and only then moves the cursor past those
//!   batches. A crash before that commit repeats those deliveries after the restart (same
//!   event ids: at least once); the cursor never passes a record whose deliveries are not
//!   durable, so nothing is lost.
//!
//! A failed attempt is recorded at once (`retrying`, with `next_attempt_at`), before the wait;
//! so is the success of an event that was retried (it has a record a manual redelivery may
//! also write, under the delivery lock).

use super::{Webhooks, derived::Prepared, guard, sign};
use crate::{
    domain::{
        time::{Millis, now_ms},
        webhook::{Attempt, Delivery, DeliveryStatus, Endpoint, EventPosition},
    },
    persistence::{
        ProductWrite, StorageError,
        consumer::{Consumer, CursorSaver},
        log::Lsn,
    },
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot, watch};

/// Log records read per batch.
const BATCH: usize = 256;

/// Longest time the saved cursor lags behind the records the recorder has finished (each
/// save is a sled flush; a replay after a crash skips recorded deliveries cheaply).
const CURSOR_SAVE_EVERY: Duration = Duration::from_millis(500);

/// Batches handed to the recorder that may wait for it before the worker waits too.
const RECORDER_QUEUE: usize = 64;

/// How a delivery ended for the worker.
pub(super) enum Outcome {
    /// Delivered: on to the next event.
    Delivered,
    /// The schedule is used up (recorded `failed`): on to the next event.
    GaveUp,
    /// The endpoint failed for `disable_after_seconds`: the worker stops, and the endpoint
    /// is disabled once the recorder is done.
    Disable(Arc<Endpoint>),
}

/// What a worker hands its recorder.
struct Finished {
    /// Delivery records to write.
    write: ProductWrite,
    /// The last log record whose events are all finished (`None`: a part of a batch).
    through: Option<Lsn>,
}

impl Webhooks {
    /// The worker of one endpoint with its recorder: runs until `stop` fires (or its sender
    /// is dropped), the log cannot be read, or the endpoint is disabled automatically. The
    /// recorder writes everything it was handed before this returns.
    pub(super) async fn run_worker(
        self: Arc<Self>,
        mut consumer: Consumer,
        endpoint: watch::Receiver<Arc<Endpoint>>,
        stop: oneshot::Receiver<()>,
    ) {
        let id = endpoint.borrow().id.clone();
        let (to_recorder, from_worker) = mpsc::channel(RECORDER_QUEUE);
        let recorder = tokio::spawn(Arc::clone(&self).record(consumer.saver(), from_worker));
        let outcome = tokio::select! {
            outcome = self.work(&mut consumer, &endpoint, &to_recorder) => outcome,
            _ = stop => Ok(None),
        };
        drop(to_recorder);
        let recorded = recorder
            .await
            .unwrap_or_else(|e| Err(StorageError::Other(format!("the recorder panicked: {e}"))));
        if let Err(error) = recorded {
            tracing::error!(webhook = %id, %error, "recording webhook deliveries failed; they are repeated after a restart");
            return;
        }
        match outcome {
            Err(error) => {
                tracing::error!(webhook = %id, %error, "a webhook worker stopped; deliveries to this endpoint are paused until restart");
            }
            Ok(Some(endpoint)) => {
                if let Err(error) = self.disable(&endpoint).await {
                    tracing::error!(webhook = %id, %error, "disabling a failing webhook endpoint failed");
                }
            }
            Ok(None) => {}
        }
    }

    /// Delivers batch after batch; answers the endpoint to disable when it failed too long.
    async fn work(
        &self,
        consumer: &mut Consumer,
        endpoint: &watch::Receiver<Arc<Endpoint>>,
        recorder: &mpsc::Sender<Finished>,
    ) -> Result<Option<Arc<Endpoint>>, StorageError> {
        let fresh_after = consumer.durable();
        let id = endpoint.borrow().id.clone();
        loop {
            let records = consumer.next(BATCH).await?;
            let Some(through) = records.last().map(|r| r.lsn) else {
                continue;
            };
            let mut write = ProductWrite::default();
            let mut succeeded = false;
            for record in &records {
                let derived = self.derived.of(record, &self.shared.read_model);
                for prepared in derived.iter() {
                    let event = &prepared.event;
                    if !endpoint
                        .borrow()
                        .matches(&event.kind, event.store_id.as_ref())
                    {
                        continue;
                    }
                    // Only a record from before this worker started may have been delivered
                    // (before a crash, the cursor not moved yet) or be under way.
                    let stored = if event.position.lsn > fresh_after {
                        None
                    } else {
                        self.shared.storage.delivery(&id, event.position)?
                    };
                    if stored.as_ref().is_some_and(|d| d.status.is_final()) {
                        continue;
                    }
                    match self
                        .deliver(endpoint, prepared, stored, &mut write, recorder)
                        .await?
                    {
                        Outcome::Delivered => succeeded = true,
                        Outcome::GaveUp => {}
                        Outcome::Disable(endpoint) => {
                            hand_over(recorder, write, None).await?;
                            return Ok(Some(endpoint));
                        }
                    }
                }
            }
            if succeeded {
                self.note_success(endpoint, now_ms()).await?;
            }
            hand_over(recorder, write, Some(through)).await?;
        }
    }

    /// The recorder of one worker: commits the delivery records handed to it (everything
    /// that gathered during the previous commit in one write), then saves the cursor (at
    /// most every [`CURSOR_SAVE_EVERY`], and when the worker is gone).
    async fn record(
        self: Arc<Self>,
        cursor: CursorSaver,
        mut batches: mpsc::Receiver<Finished>,
    ) -> Result<(), StorageError> {
        let mut unsaved: Option<Lsn> = None;
        let mut last_save = Instant::now();
        loop {
            let next = match unsaved {
                Some(_) => {
                    let left = CURSOR_SAVE_EVERY.saturating_sub(last_save.elapsed());
                    tokio::time::timeout(left, batches.recv()).await.ok()
                }
                None => Some(batches.recv().await),
            };
            let first = match next {
                // A quiet moment: save the cursor now.
                None => None,
                Some(None) => break,
                Some(Some(first)) => Some(first),
            };
            let quiet = first.is_none();
            if let Some(first) = first {
                let mut write = first.write;
                let mut through = first.through;
                while let Ok(more) = batches.try_recv() {
                    write.append(more.write);
                    through = more.through.or(through);
                }
                if !write.is_empty() {
                    self.shared.committer.write_durable(write).await?;
                }
                unsaved = through.or(unsaved);
            }
            if let Some(lsn) = unsaved {
                if quiet || last_save.elapsed() >= CURSOR_SAVE_EVERY {
                    cursor.save(lsn).await?;
                    unsaved = None;
                    last_save = Instant::now();
                }
            }
        }
        if let Some(lsn) = unsaved {
            cursor.save(lsn).await?;
        }
        Ok(())
    }

    /// Delivers one event: attempts after the schedule's delays until one succeeds, the
    /// schedule is used up, or the endpoint has failed for `disable_after_seconds`. A fresh
    /// event's first attempt that succeeds is added to `write` (the batch's records, for the
    /// recorder); every other outcome is recorded durably at once.
    async fn deliver(
        &self,
        endpoint: &watch::Receiver<Arc<Endpoint>>,
        prepared: &Prepared,
        stored: Option<Delivery>,
        write: &mut ProductWrite,
        recorder: &mpsc::Sender<Finished>,
    ) -> Result<Outcome, StorageError> {
        let event = &prepared.event;
        let position = event.position;
        let mut record = match stored {
            // Under way before a restart: the batch's records so far go first.
            Some(stored) => {
                hand_over(recorder, std::mem::take(write), None).await?;
                stored
            }
            None => {
                let current = Arc::clone(&endpoint.borrow());
                let mut record = Delivery {
                    id: position.delivery_id(),
                    webhook_id: current.id.clone(),
                    event_id: position.event_id(),
                    kind: event.kind.clone(),
                    body: prepared.body.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: Vec::new(),
                    next_attempt_at: None,
                };
                let attempt = self.attempt(&current, &record.body, &record.event_id).await;
                let ok = attempt.error.is_none();
                record.attempts.push(attempt);
                if ok {
                    // Nobody else can know this delivery yet (a redelivery needs its record).
                    record.status = DeliveryStatus::Delivered;
                    write.delivery(position, &record)?;
                    self.succeeded(&current).await?;
                    return Ok(Outcome::Delivered);
                }
                // The batch's records so far go first; this one is written at once.
                hand_over(recorder, std::mem::take(write), None).await?;
                match self.failed_attempt(&current, position, &mut record).await? {
                    Next::Retry(delay) => tokio::time::sleep(delay).await,
                    Next::GiveUp => return Ok(Outcome::GaveUp),
                    Next::Disable => return Ok(Outcome::Disable(current)),
                }
                record
            }
        };
        loop {
            let current = Arc::clone(&endpoint.borrow());
            let attempt = self.attempt(&current, &record.body, &record.event_id).await;
            let ok = attempt.error.is_none();
            let lock = self.delivery_lock(position).lock().await;
            // A manual redelivery may have finished it meanwhile.
            if let Some(stored) = self.shared.storage.delivery(&current.id, position)? {
                record = stored;
            }
            if record.status == DeliveryStatus::Delivered {
                return Ok(Outcome::Delivered);
            }
            record.attempts.push(attempt);
            if ok {
                record.status = DeliveryStatus::Delivered;
                record.next_attempt_at = None;
                self.write_delivery(position, &record).await?;
                drop(lock);
                self.succeeded(&current).await?;
                return Ok(Outcome::Delivered);
            }
            let next = self.failed_attempt(&current, position, &mut record).await?;
            drop(lock);
            match next {
                Next::Retry(delay) => tokio::time::sleep(delay).await,
                Next::GiveUp => return Ok(Outcome::GaveUp),
                Next::Disable => return Ok(Outcome::Disable(current)),
            }
        }
    }

    /// After a failed attempt (the last of `record.attempts`): records the delivery
    /// durably, `retrying` with its next attempt's time, or `failed` when the schedule is
    /// used up or the endpoint failed for too long.
    async fn failed_attempt(
        &self,
        current: &Endpoint,
        position: EventPosition,
        record: &mut Delivery,
    ) -> Result<Next, StorageError> {
        let config = &self.shared.config.webhooks;
        let failing_since = self.failed(current).await?;
        let disable =
            now_ms() - failing_since >= (config.disable_after_seconds * 1000.0).round() as i64;
        let delay = (!disable)
            .then(|| config.delay_before(record.attempts.len()))
            .flatten();
        let next = match delay {
            Some(delay) => {
                record.status = DeliveryStatus::Retrying;
                record.next_attempt_at = Some(now_ms() + delay.as_millis() as i64);
                Next::Retry(delay)
            }
            None => {
                record.status = DeliveryStatus::Failed;
                record.next_attempt_at = None;
                if disable { Next::Disable } else { Next::GiveUp }
            }
        };
        self.write_delivery(position, record).await?;
        Ok(next)
    }

    /// Writes one delivery record durably.
    async fn write_delivery(
        &self,
        position: EventPosition,
        record: &Delivery,
    ) -> Result<(), StorageError> {
        let mut write = ProductWrite::default();
        write.delivery(position, record)?;
        self.shared.committer.write_durable(write).await
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
    /// failing).
    async fn succeeded(&self, endpoint: &Endpoint) -> Result<(), StorageError> {
        if endpoint.failing_since.is_none() {
            return Ok(());
        }
        self.change_endpoint(&endpoint.id, |e| {
            e.failing_since = None;
            e.last_success_at = Some(now_ms());
        })
        .await
    }

    /// Notes the time of a batch's successes in the endpoint's record (at most once a
    /// minute: a steady stream must not rewrite the endpoint per batch).
    async fn note_success(
        &self,
        endpoint: &watch::Receiver<Arc<Endpoint>>,
        at: Millis,
    ) -> Result<(), StorageError> {
        let (id, stored) = {
            let e = endpoint.borrow();
            (e.id.clone(), e.last_success_at)
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

/// What follows a failed attempt.
enum Next {
    /// Another attempt after this delay.
    Retry(Duration),
    /// The schedule is used up.
    GiveUp,
    /// The endpoint failed for `disable_after_seconds`.
    Disable,
}

/// Hands a batch's records to the recorder (waiting when it is far behind).
async fn hand_over(
    recorder: &mpsc::Sender<Finished>,
    write: ProductWrite,
    through: Option<Lsn>,
) -> Result<(), StorageError> {
    if write.is_empty() && through.is_none() {
        return Ok(());
    }
    recorder
        .send(Finished { write, through })
        .await
        .map_err(|_| StorageError::Unavailable("the webhook recorder stopped"))
}
