//! The NAB scorer against NAB's own published figures: the per-row scores of two published
//! detectors ship with the corpus, and scoring them must give the published normalised scores.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};

use anomaly_kit::nab::{Corpus, score_all_profiles};

fn nab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/nab")
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
    assert_eq!(names, ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]);
}

#[test]
fn published_random_cut_forest_and_windowed_gaussian_scores_are_reproduced() {
    let corpus = Corpus::load(&nab_dir()).unwrap();
    for (detector, published) in [
        ("randomCutForest", [51.717054557073276, 38.360772142413786, 59.74876476310345]),
        ("windowedGaussian", [39.649523496077585, 20.86798582474138, 47.4100271583046]),
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
