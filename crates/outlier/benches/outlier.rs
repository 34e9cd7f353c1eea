//! Criterion benchmark: Isolation Forest and ECOD fit + score on a seeded 10 000 x 20 matrix.
//!
//! `cargo bench -p goodhart-detect --bench outlier`

use criterion::{criterion_group, criterion_main, Criterion};
use goodhart_outlier::ecod::Ecod;
use goodhart_outlier::iforest::IsolationForestParams;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn data() -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut x = Array2::from_shape_fn((10_000, 20), |_| rng.gen_range(-1.0..1.0));
    // 1% planted outliers, shifted far out in every feature.
    for i in (0..10_000).step_by(100) {
        x.row_mut(i).mapv_inplace(|v| v * 6.0 + 5.0);
    }
    x
}

fn bench(c: &mut Criterion) {
    let x = data();
    let view = x.view();
    let mut g = c.benchmark_group("outlier_10k_x_20");
    g.sample_size(20);
    g.bench_function("iforest_fit_score", |b| {
        b.iter(|| {
            let f = IsolationForestParams::new().seed(0).fit(&view).unwrap();
            black_box(f.score(&view))
        });
    });
    g.bench_function("iforest_score_only", |b| {
        let f = IsolationForestParams::new().seed(0).fit(&view).unwrap();
        b.iter(|| black_box(f.score(&view)));
    });
    g.bench_function("ecod_fit_score", |b| {
        b.iter(|| {
            let e = Ecod::fit(&view).unwrap();
            black_box(e.score(&view))
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
