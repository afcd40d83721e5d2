//! The NAB scorer against NAB's own published figures: the per-row scores of two published
//! detectors ship with the corpus, and scoring them must give the published normalised scores.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};

use anomaly_kit::nab::{Corpus, score_all_profiles};
use common::kit;

mod common;

fn nab_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("../shared/datasets/nab")
}

/// Reads `file,timestamp,anomaly_score` rows into per-file score series in corpus order.
fn published_scores(corpus: &Corpus, detector: &str) -> Vec<Vec<f64>> {
    let path = nab_dir().join(format!("results/{detector}/per_row_scores.csv.gz"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("per-row scores"))
        .read_to_string(&mut text)
        .expect("gzip");
    let mut by_file: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for record in reader.records() {
        let r = record.expect("csv row");
        by_file
            .entry(r[0].to_string())
            .or_default()
            .push((r[1].to_string(), r[2].parse().expect("score")));
    }
    // one file's per-row scores are sorted by time while its data file is not (a clock that
    // steps back): line them up by timestamp, duplicates in order
    corpus
        .files
        .iter()
        .map(|f| {
            let rows = by_file
                .remove(&f.name)
                .unwrap_or_else(|| panic!("no scores for {}", f.name));
            assert_eq!(rows.len(), f.values.len(), "{}", f.name);
            let mut at: HashMap<String, VecDeque<f64>> = HashMap::new();
            for (t, s) in rows {
                at.entry(t).or_default().push_back(s);
            }
            f.timestamps
                .iter()
                .map(|t| {
                    at.get_mut(t)
                        .and_then(|q| q.pop_front())
                        .unwrap_or_else(|| panic!("{}: no score at {t}", f.name))
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_corpus_is_nab_v1_1() {
    let corpus = Corpus::load(&nab_dir()).unwrap();
    assert_eq!(corpus.files.len(), 58);
    assert_eq!(corpus.n_rows(), 365_558);
    assert_eq!(corpus.n_windows(), 116);
    let names: Vec<&str> = corpus.profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
    );
}

#[test]
fn published_random_cut_forest_and_windowed_gaussian_scores_are_reproduced() {
    let corpus = Corpus::load(&nab_dir()).unwrap();
    for (detector, published) in [
        (
            "randomCutForest",
            [51.717054557073276, 38.360772142413786, 59.74876476310345],
        ),
        (
            "windowedGaussian",
            [39.649523496077585, 20.86798582474138, 47.4100271583046],
        ),
    ] {
        let scores = published_scores(&corpus, detector);
        let ours = score_all_profiles(&corpus, &scores).unwrap();
        for (o, p) in ours.iter().zip(published) {
            assert!(
                (o.normalised - p).abs() < 0.01,
                "{detector} {}: ours {:.4}, published {p:.4}",
                o.profile,
                o.normalised
            );
        }
    }
}

fn json_lines(out: &std::process::Output) -> HashMap<String, serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object per line");
            (v["detector"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

/// The acceptance line of the online detector: above Random Cut Forest on all three profiles and
/// above the simple causal baseline on the standard one, with one parameter set and NAB's
/// one-threshold-per-profile rule; and the baselines land where they should.
#[test]
fn the_online_detector_beats_random_cut_forest_and_the_causal_baseline() {
    let data = nab_dir();
    let out = tempfile::tempdir().unwrap();
    let run = kit(&[
        "nab",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--json",
    ]);
    let results = json_lines(&run);
    let order: Vec<&str> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| {
            if l.contains("\"online\"") {
                "online"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(order[0], "online", "the online detector runs first");
    let online = &results["online"];
    let baseline = &results["zscore-baseline"];
    let score = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    for (profile, rcf) in [
        ("standard", 51.72),
        ("reward_low_FP_rate", 38.36),
        ("reward_low_FN_rate", 59.75),
    ] {
        assert!(score(online, profile) > rcf, "{profile}: {online}");
    }
    assert!(
        score(online, "standard") > score(baseline, "standard"),
        "{online} vs {baseline}"
    );
    // our windowed Gaussian is a sanity check of the harness: near NAB's published 39.6
    let wg = score(&results["windowed-gaussian"], "standard");
    assert!((wg - 39.65).abs() < 2.0, "windowed Gaussian {wg}");
    // results in NAB's layout and columns, one row per data row
    let corpus = Corpus::load(&data).unwrap();
    let f = &corpus.files[0];
    let written = out
        .path()
        .join("online")
        .join(f.category())
        .join(format!("online_{}", f.file_name()));
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.starts_with("timestamp,value,anomaly_score,label\n"));
    assert_eq!(text.lines().count(), f.values.len() + 1);
}

#[test]
fn nab_scores_do_not_depend_on_the_thread_count() {
    let data = nab_dir();
    let run = |threads: &str| {
        kit(&[
            "--threads",
            threads,
            "nab",
            "--data",
            data.to_str().unwrap(),
            "--detector",
            "online",
            "--json",
        ])
    };
    let (one, two) = (run("1"), run("2"));
    let strip = |o: &std::process::Output| {
        let mut v = json_lines(o).remove("online").unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        v
    };
    assert_eq!(strip(&one), strip(&two));
}

#[test]
fn nab_refuses_what_it_cannot_use() {
    let err = |args: &[&str]| {
        let o = kit(args);
        assert!(!o.status.success(), "{args:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let data = nab_dir();
    let data = data.to_str().unwrap();
    assert!(err(&["nab", "--data", "/nonexistent"]).contains("combined_windows.json"));
    assert!(
        err(&["nab", "--data", data, "--detector", "htm"]).contains("unknown detector \"htm\"")
    );
    let e = err(&["nab", "--data", data, "--params", r#"{"trees": 0}"#]);
    assert!(e.contains("`trees`"), "{e}");
    let e = err(&["nab", "--data", data, "--params", r#"{"tres": 10}"#]);
    assert!(e.contains("unknown field `tres`"), "{e}");
}
