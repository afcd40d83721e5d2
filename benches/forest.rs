//! Micro-benchmarks of the forest's inner loops (criterion): `cargo bench --bench forest`.
//!
//! The side-by-side comparison with scikit-learn and isotree is `bench/speed.sh`; these measure
//! our own hot paths in isolation, including the container's case of a 10-row request.

use std::hint::black_box;

use anomaly_kit::detector::DetectorSpec;
use anomaly_kit::forest::{IsolationForest, IsolationForestParams, Layout, LayoutChoice};
use anomaly_kit::synth::SynthParams;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use linfa::ParamGuard;

fn scoring(c: &mut Criterion) {
    // the tutorial's trained model and data: 10,000 x 5 linear, seed 100
    let train = SynthParams::tutorial().generate().expect("tutorial data");
    let tutorial = DetectorSpec::tutorial(42)
        .fit(&train.feature_names, train.values.view(), None)
        .expect("fit");
    let test = SynthParams::tutorial()
        .seed(101)
        .generate()
        .expect("tutorial data");
    let ten = test.values.slice(ndarray::s![..10, ..]).to_owned();

    let mut group = c.benchmark_group("score");
    group.throughput(Throughput::Elements(10));
    group.bench_function("tutorial_model_10_rows", |b| {
        b.iter(|| tutorial.forest.score_samples(black_box(ten.view())))
    });
    group.throughput(Throughput::Elements(test.n_rows() as u64));
    group.bench_function("tutorial_model_10k_rows", |b| {
        b.iter(|| tutorial.forest.score_samples(black_box(test.values.view())))
    });
    let improved = DetectorSpec::improved(15, 42)
        .fit(
            &train.feature_names,
            train.values.view(),
            Some(&train.row_truth()),
        )
        .expect("fit");
    group.throughput(Throughput::Elements(10));
    group.bench_function("improved_detector_10_rows", |b| {
        b.iter(|| improved.score_samples(black_box(ten.view())))
    });
    group.finish();

    // every scoring layout this CPU runs, on the same model and rows (same scores, other speed)
    let mut group = c.benchmark_group("layout");
    for layout in Layout::ALL {
        let forest = match tutorial
            .forest
            .clone()
            .with_layout(LayoutChoice::Only(layout))
        {
            Ok(forest) => forest,
            Err(why) => {
                eprintln!("layout {layout} skipped: {why}");
                continue;
            }
        };
        group.throughput(Throughput::Elements(10));
        group.bench_function(format!("{layout}_10_rows"), |b| {
            b.iter(|| forest.score_samples(black_box(ten.view())))
        });
        group.throughput(Throughput::Elements(test.n_rows() as u64));
        group.bench_function(format!("{layout}_10k_rows"), |b| {
            b.iter(|| forest.score_samples(black_box(test.values.view())))
        });
    }
    group.finish();
}

fn fitting(c: &mut Criterion) {
    let data = SynthParams::tutorial()
        .rows(100_000)
        .anomalies(5_000)
        .generate()
        .expect("data");
    let params = IsolationForestParams::new().seed(1).check().expect("valid");
    let mut group = c.benchmark_group("fit");
    group.sample_size(20);
    group.bench_function("100_trees_256_samples_100k_rows", |b| {
        b.iter_batched(
            || (),
            |_| IsolationForest::fit_array(&params, black_box(data.values.view())),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, scoring, fitting);
criterion_main!(benches);
