//! `goodhart::batches`: the pipeline on in-memory record batches gives the
//! same features and scores as on the files they came from.

use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use goodhart::batches::features_from_batches;
use goodhart::pipeline::{Events, Pipeline};
use goodhart::scan::{features, Dataset, Window};
use goodhart::{Config, Error};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sample")
}

/// Every event row of the sample, file by file (the order `features` reads them in).
fn sample_batches(dataset: &Dataset) -> Vec<RecordBatch> {
    let (files, _) = dataset.files(None).unwrap();
    files
        .iter()
        .flat_map(|f| goodhart::io::read_parquet(&f.path).unwrap())
        .collect()
}

fn setup() -> (Dataset, goodhart::LoadedConfig, Window) {
    let dataset = Dataset::locate(&[sample()], None).unwrap();
    let loaded = Config::discover(None, dataset.root.as_deref()).unwrap();
    let cfg = &loaded.config;
    let window = Window {
        as_of: cfg.scan.as_of.unwrap(),
        days: cfg.window_days(),
    };
    (dataset, loaded, window)
}

fn setup_features() -> (Dataset, goodhart::features::FeatureOptions, Window) {
    let (dataset, loaded, window) = setup();
    let fopts = loaded
        .config
        .feature_options(Some(window.as_of), window.days)
        .unwrap();
    (dataset, fopts, window)
}

#[test]
fn batches_give_the_features_of_the_files_whatever_the_batch_size() {
    let (dataset, fopts, window) = setup_features();
    let from_files = features(&dataset, &fopts, Some(window), None).unwrap();
    let roster = from_files.roster.clone();
    let batches = sample_batches(&dataset);
    for size in [usize::MAX, 4_096, 977] {
        let split: Vec<RecordBatch> = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows())
                    .step_by(size.min(b.num_rows()).max(1))
                    .map(|o| b.slice(o, size.min(b.num_rows() - o)))
                    .collect::<Vec<_>>()
            })
            .collect();
        let run = features_from_batches(
            split.into_iter().map(Ok),
            "events",
            &fopts,
            Some(window),
            roster.clone(),
            None,
        )
        .unwrap();
        assert_eq!(run.features.users, from_files.features.users, "size {size}");
        assert_eq!(
            run.features.sessions, from_files.features.sessions,
            "size {size}"
        );
        assert_eq!(run.ingest.counts, from_files.ingest.counts);
        assert_eq!(run.ingest.files.len(), 1);
        assert_eq!(run.ingest.files[0].file, "events");
    }
}

#[test]
fn pipeline_on_batches_scores_as_on_the_dataset() {
    let (dataset, loaded, window) = setup();
    let pipeline = Pipeline::builder()
        .config(loaded)
        .window(window)
        .build()
        .unwrap();
    let a = pipeline.run(Events::Dataset(&dataset)).unwrap();
    let roster = goodhart::io::read_roster(dataset.roster.as_ref().unwrap()).unwrap();
    let b = pipeline
        .run(Events::Batches {
            batches: Box::new(sample_batches(&dataset).into_iter().map(Ok)),
            source: "events".into(),
            roster: Some(roster),
        })
        .unwrap();
    assert_eq!(a.scores.users, b.scores.users);
    assert_eq!(a.scores.sessions, b.scores.sessions);
    assert_eq!(a.waste.users_table, b.waste.users_table);
    // Compared as JSON: figures withheld for small cohorts are NaN, and NaN != NaN.
    let json = |x: &Vec<goodhart::alerts::AlertCandidate>| serde_json::to_string(x).unwrap();
    assert_eq!(json(&a.alerts), json(&b.alerts));
    assert!(!a.alerts.is_empty());
    // The alerts carry their pattern's waste, as `goodhart scan` delivers them.
    assert!(a
        .alerts
        .iter()
        .all(|c| c.evidence.iter().any(|e| e.feature == "waste_usd")));
    assert_eq!(a.summary.users, 300);
    assert_eq!(a.summary.rows.read, a.run.ingest.counts.rows_read);
}

#[test]
fn cancel_stops_the_run_and_stream_errors_name_the_source() {
    let (dataset, fopts, window) = setup_features();
    let batches = sample_batches(&dataset);
    let stop = || true;
    let e = features_from_batches(
        batches.clone().into_iter().map(Ok),
        "events",
        &fopts,
        Some(window),
        None,
        Some(&stop),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Interrupted));
    assert!(!e.is_user_error());

    let failing = batches
        .into_iter()
        .take(1)
        .map(Ok)
        .chain(std::iter::once(Err(
            arrow::error::ArrowError::ComputeError("producer went away".into()),
        )));
    let e =
        features_from_batches(failing, "my_table", &fopts, Some(window), None, None).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("my_table: the Arrow stream failed"),
        "{e}"
    );
    assert!(e.to_string().contains("producer went away"), "{e}");
}

#[test]
fn missing_column_is_a_user_error_naming_the_source() {
    let (dataset, fopts, window) = setup_features();
    let b = sample_batches(&dataset).remove(0);
    let i = b.schema().index_of("user_id").unwrap();
    let mut b = b;
    b.remove_column(i);
    let e =
        features_from_batches([Ok(b)], "my_table", &fopts, Some(window), None, None).unwrap_err();
    assert!(e.is_user_error());
    let msg = e.to_string();
    assert!(msg.contains("my_table") && msg.contains("user_id"), "{msg}");
}

#[test]
fn duplicate_events_are_counted_as_the_dataset_path_counts_them() {
    let (dataset, fopts, window) = setup_features();
    let from_files = features(&dataset, &fopts, Some(window), None).unwrap();
    let batches = sample_batches(&dataset);
    let run = |b: Vec<RecordBatch>| {
        features_from_batches(
            b.into_iter().map(Ok),
            "events",
            &fopts,
            Some(window),
            None,
            None,
        )
        .unwrap()
    };
    let once = run(batches.clone());
    assert_eq!(once.duplicate_events, from_files.duplicate_events);
    // The first 100 rows of the first batch again: 100 more duplicates
    // (counted, not removed: the rows read and accepted grow by 100 too).
    let mut doubled = batches.clone();
    doubled.push(batches[0].slice(0, 100));
    let twice = run(doubled);
    assert_eq!(twice.duplicate_events, once.duplicate_events + 100);
    assert_eq!(
        twice.ingest.counts.rows_accepted,
        once.ingest.counts.rows_accepted + 100
    );
}
