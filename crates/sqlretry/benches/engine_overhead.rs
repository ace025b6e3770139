//! What the retry wrappers add to an operation that succeeds at once, against calling it directly.
//!
//! `cargo bench -p sqlretry --bench engine_overhead`

#![allow(missing_docs)]

use std::hint::black_box;
use std::io;

use criterion::{Criterion, criterion_group, criterion_main};
use sqlretry::{Retry, RetryExt, RetryPolicy};

fn operation(x: u64) -> Result<u64, io::Error> {
    Ok(black_box(x).wrapping_mul(31))
}

fn overhead(c: &mut Criterion) {
    let policy = RetryPolicy::store_writes();
    let mut group = c.benchmark_group("succeeds_at_once");
    group.bench_function("direct", |b| b.iter(|| operation(black_box(7))));
    group.bench_function("sync_retry", |b| b.iter(|| Retry::new(&policy).call(|| operation(black_box(7)))));
    group.bench_function("policy_call", |b| b.iter(|| policy.call(|| operation(black_box(7)))));
    // An owned Retry kept in a struct ('static), and the extension trait on a closure.
    let owned: Retry<'static> = Retry::new(policy.clone()).named("bench");
    group.bench_function("owned_retry", |b| b.iter(|| owned.call(|| operation(black_box(7)))));
    group.bench_function("ext_retry", |b| b.iter(|| (|| operation(black_box(7))).retry(&policy).call()));

    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    group.bench_function("async_direct", |b| b.iter(|| runtime.block_on(async { operation(black_box(7)) })));
    group.bench_function("async_retry", |b| {
        b.iter(|| runtime.block_on(Retry::new(&policy).call_async(|| async { operation(black_box(7)) })))
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
