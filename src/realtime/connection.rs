//! One WebSocket connection as the hub sees it: a bounded outbound queue and a close signal.
//!
//! Fan-out only ever `try_send`s into the queue, so publishing never waits on a socket. A
//! connection whose queue is full is told to close with 4008 (`lagged`); the client resumes
//! with `since`.

use super::Frame;
use tokio::sync::{mpsc, watch};

/// Close code for a client that did not keep up.
pub const CLOSE_LAGGED: u16 = 4008;
/// Close code for a policy violation (oversized frame, too many errors).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code when the credentials the connection runs on ended (token expired).
pub const CLOSE_UNAUTHORIZED: u16 = 4001;
/// Close code when the server shuts down.
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// The hub's handle on one connection.
pub struct Connection {
    /// Process-unique id (subscriber identity within a topic).
    pub id: u64,
    tx: mpsc::Sender<Frame>,
    close: watch::Sender<u16>,
}

impl Connection {
    /// A connection with room for `capacity` queued frames; returns the queue's receiving end
    /// (for the writer task).
    pub fn new(id: u64, capacity: usize) -> (Self, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (close, _) = watch::channel(0);
        (Self { id, tx, close }, rx)
    }

    /// Queues a frame without waiting. A full queue closes the connection as lagged.
    pub fn push(&self, frame: Frame) -> bool {
        let queued = self.push_uncounted(frame);
        if queued {
            crate::observability::HOT.ws_deliveries.increment(1);
        }
        queued
    }

    /// [`Connection::push`] without counting the delivery: a fan-out to thousands counts
    /// them once (a counter update per push was ~9 % of a large fan-out).
    pub fn push_uncounted(&self, frame: Frame) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_with(CLOSE_LAGGED);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the connection's tasks to close with `code`; the first code wins.
    pub fn close_with(&self, code: u16) {
        let first = self.close.send_if_modified(|current| {
            if *current == 0 {
                *current = code;
                true
            } else {
                false
            }
        });
        if first && code == CLOSE_LAGGED {
            crate::observability::HOT.ws_lagged.increment(1);
        }
    }

    /// Whether a close was requested.
    pub fn is_closing(&self) -> bool {
        *self.close.borrow() != 0
    }

    /// A receiver that wakes when a close is requested.
    pub fn close_signal(&self) -> watch::Receiver<u16> {
        self.close.subscribe()
    }
}
