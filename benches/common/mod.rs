//! What every criterion bench of this crate shares: one measurement budget, so the whole set
//! runs in a few minutes on a 2-core box (`cargo bench` flags still override it).

use criterion::Criterion;
use std::time::Duration;

/// 10 samples, 1 s warm-up, 3 s of measurement per benchmark.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}
