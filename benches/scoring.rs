//! Micro-benchmark of the pure scoring core: scores per second on one core,
//! for the history sizes the demo data has (1 to 15 payments).
//!
//! `cargo bench --bench scoring`; criterion prints the time per `assess` call,
//! and the throughput line gives scores per second.
#![expect(
    clippy::expect_used,
    reason = "a benchmark's fixed inputs are valid or it should stop at once"
)]

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use risk_monitor::risk::{self, Outcome, PaymentFact, ScoringConfig, UserFacts};

fn history(n: usize) -> Vec<PaymentFact> {
    let newest = Utc
        .with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .expect("date");
    (0..n)
        .map(|i| PaymentFact {
            paid_at: newest - Duration::days(30 * i as i64),
            amount: if i < 2 { 2.99 } else { 12.99 },
            outcome: match i % 4 {
                0 | 3 => Outcome::Failed,
                _ => Outcome::Success,
            },
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let config = ScoringConfig::default();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("date");
    let user = UserFacts {
        created_at: now - Duration::days(400),
    };
    let mut group = c.benchmark_group("assess");
    for n in [1, 5, 8, 15] {
        let payments = history(n);
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("{n} payments"), |b| {
            b.iter(|| risk::assess(black_box(&user), black_box(&payments), &config, now))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
