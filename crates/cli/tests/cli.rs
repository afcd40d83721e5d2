//! The command line, end to end: what a user types, what they get back.

mod common;

use common::{kit, kit_err, kit_ok};
use serde_json::Value;

#[test]
fn generate_rejects_bad_arguments_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    assert!(
        kit_err(&["generate", "--rows", "0", "--out", out]).contains("n_rows must be at least 1")
    );
    assert!(
        kit_err(&[
            "generate",
            "--rows",
            "10",
            "--anomalies",
            "11",
            "--out",
            out
        ])
        .contains("larger than n_rows")
    );
    assert!(kit_err(&["generate", "--trend", "sideways", "--out", out]).contains("sideways"));
    assert!(kit_err(&["generate", "--features", "0", "--out", out]).contains("n_features"));
}

#[test]
fn generate_writes_the_tutorial_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let stdout = kit_ok(&[
        "generate",
        "--rows",
        "1000",
        "--anomalies",
        "50",
        "--seed",
        "3",
        "--out",
        out,
        "--name",
        "small",
    ]);
    assert!(
        stdout.contains("1000 rows x 5 features, 250 anomalous cells"),
        "{stdout}"
    );
    let data = std::fs::read_to_string(dir.path().join("small.csv")).unwrap();
    let labels = std::fs::read_to_string(dir.path().join("small_labels.csv")).unwrap();
    assert!(data.starts_with(
        "timestamp,feature_1,feature_2,feature_3,feature_4,feature_5\n2020-01-01 00:00:00,"
    ));
    assert!(
        labels.starts_with("timestamp,feature_1,feature_2,feature_3,feature_4,feature_5,anomaly\n")
    );
    assert_eq!(data.lines().count(), 1001);
}

#[test]
fn train_then_evaluate_on_generated_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    kit_ok(&[
        "generate",
        "--rows",
        "3000",
        "--anomalies",
        "150",
        "--seed",
        "100",
        "--out",
        &p(""),
        "--name",
        "train",
    ]);
    kit_ok(&[
        "generate",
        "--rows",
        "3000",
        "--anomalies",
        "150",
        "--seed",
        "101",
        "--out",
        &p(""),
        "--name",
        "test",
    ]);
    kit_ok(&[
        "train",
        "--input",
        &p("train.csv"),
        "--labels",
        &p("train_labels.csv"),
        "--out",
        &p("model"),
    ]);
    let report: Value = serde_json::from_str(&kit_ok(&[
        "evaluate",
        "--model",
        &p("model"),
        "--input",
        &p("test.csv"),
        "--labels",
        &p("test_labels.csv"),
        "--sweep",
        "--json",
    ]))
    .unwrap();
    let e = &report["evaluation"];
    assert!(e["f1"].as_f64().unwrap() > 0.95, "{report}");
    assert_eq!(report["rows"], 3000);
    assert_eq!(report["sweep"].as_array().unwrap().len(), 8);
}

#[test]
fn train_accepts_any_numeric_csv_with_a_label_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sensors.csv");
    let mut text = String::from("id,temperature,pressure,is_fault\n");
    for i in 0..400 {
        let (t, p, fault) = if i % 50 == 7 {
            (40.0, 3.0, 1)
        } else {
            (4.0 + (i % 7) as f64 * 0.1, 1.0 + (i % 5) as f64 * 0.01, 0)
        };
        text.push_str(&format!("{i},{t},{p},{fault}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let model = dir.path().join("m.json");
    let (csv, model) = (csv.to_str().unwrap(), model.to_str().unwrap());
    kit_ok(&[
        "train",
        "--input",
        csv,
        "--label-column",
        "is_fault",
        "--ignore",
        "id",
        "--recipe",
        "threshold-only",
        "--out",
        model,
    ]);
    let report: Value = serde_json::from_str(&kit_ok(&[
        "evaluate",
        "--model",
        model,
        "--input",
        csv,
        "--label-column",
        "is_fault",
        "--ignore",
        "id",
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["evaluation"]["recall"], 1.0, "{report}");
    // a model trained on these columns refuses data without them
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "a,b\n1,2\n").unwrap();
    let err = kit_err(&[
        "evaluate",
        "--model",
        model,
        "--input",
        other.to_str().unwrap(),
    ]);
    assert!(err.contains("needs column 'temperature'"), "{err}");
}

#[test]
fn bad_input_files_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n3,x\n").unwrap();
    let err = kit_err(&[
        "train",
        "--input",
        bad.to_str().unwrap(),
        "--recipe",
        "tutorial",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        err.contains("row 2, column 'b': 'x' is not a finite number"),
        "{err}"
    );
    let err = kit_err(&[
        "evaluate",
        "--model",
        dir.path().join("nope").to_str().unwrap(),
        "--input",
        bad.to_str().unwrap(),
    ]);
    assert!(err.contains("not found"), "{err}");
    let corrupt = dir.path().join("model.json");
    std::fs::write(
        &corrupt,
        "{\"format\": \"anomaly-kit/model\", \"format_version\": 1, \"detec",
    )
    .unwrap();
    let err = kit_err(&[
        "evaluate",
        "--model",
        corrupt.to_str().unwrap(),
        "--input",
        bad.to_str().unwrap(),
    ]);
    assert!(err.contains("truncated"), "{err}");
    let err = kit_err(&[
        "train",
        "--input",
        bad.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(err.contains("row 2"), "{err}");
}

/// Files the CLI should question: no header (its first row became the feature names), a name
/// twice (a model with duplicate features), values at the edge of `f64` (train called them
/// "inf"), and `--out` naming a device (it was replaced by a regular file).
#[test]
fn the_cli_questions_what_it_cannot_trust() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("x.csv");
    let out = dir.path().join("m");
    let train = |text: &str, extra: &[&str]| {
        std::fs::write(&csv, text).unwrap();
        let mut args = vec![
            "train",
            "--input",
            csv.to_str().unwrap(),
            "--recipe",
            "tutorial",
        ];
        args.extend_from_slice(extra);
        if !extra.contains(&"--out") {
            args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        }
        kit(&args)
    };
    let failed = |o: std::process::Output| {
        assert!(
            !o.status.success(),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = failed(train("1.5,2.5\n1.6,2.4\n1.7,2.6\n", &[]));
    assert!(
        err.contains("looks like data, not a header") && err.contains("add a header row"),
        "{err}"
    );
    let err = failed(train("a,b,a\n1,2,3\n4,5,6\n", &[]));
    assert!(err.contains("columns 1 and 3 are both named 'a'"), "{err}");
    assert!(!out.exists(), "nothing was written");

    let mut extreme = String::from("a,b\n");
    for i in 0..64 {
        let v = match i % 4 {
            0 => "1.7e308",
            1 => "-1.7e308",
            2 => "9e307",
            _ => "1.5",
        };
        extreme.push_str(&format!("{v},{i}\n"));
    }
    let o = train(&extreme, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value = serde_json::from_str(&kit_ok(&[
        "evaluate",
        "--model",
        out.to_str().unwrap(),
        "--input",
        csv.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert!(
        report.to_string().len() > 2 && !report.to_string().contains("inf"),
        "{report}"
    );

    // a named pipe stands in for a device (the test never writes near /dev)
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let fifo = dir.path().join("pipe");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = failed(train("a,b\n1,2\n3,4\n", &["--out", fifo.to_str().unwrap()]));
        assert!(
            err.contains("is a named pipe (FIFO), not a regular file"),
            "{err}"
        );
        let kind = std::fs::metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "the pipe was replaced");
    }
}

#[test]
fn improved_recipe_without_labels_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "a\n1\n2\n3\n4\n").unwrap();
    let err = kit_err(&[
        "train",
        "--input",
        csv.to_str().unwrap(),
        "--out",
        dir.path().join("m").to_str().unwrap(),
    ]);
    assert!(err.contains("needs training labels"), "{err}");
    // with an explicit contamination threshold it trains
    kit_ok(&[
        "train",
        "--input",
        csv.to_str().unwrap(),
        "--threshold",
        "0.25",
        "--out",
        dir.path().join("m").to_str().unwrap(),
    ]);
}

#[test]
fn scores_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    kit_ok(&[
        "generate",
        "--rows",
        "20000",
        "--anomalies",
        "500",
        "--out",
        &p(""),
        "--name",
        "d",
    ]);
    for threads in ["1", "2"] {
        let model = p(&format!("model{threads}.json"));
        kit_ok(&[
            "--threads",
            threads,
            "train",
            "--input",
            &p("d.csv"),
            "--labels",
            &p("d_labels.csv"),
            "--out",
            &model,
        ]);
        kit_ok(&[
            "--threads",
            threads,
            "evaluate",
            "--model",
            &model,
            "--input",
            &p("d.csv"),
            "--scores-out",
            &p(&format!("s{threads}.csv")),
        ]);
    }
    let one = std::fs::read(p("s1.csv")).unwrap();
    let two = std::fs::read(p("s2.csv")).unwrap();
    assert_eq!(one, two, "scores written with 1 and 2 threads differ");
    assert_eq!(
        std::fs::read(p("model1.json")).unwrap(),
        std::fs::read(p("model2.json")).unwrap()
    );
}

#[test]
fn walkthrough_reproduces_the_honest_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let report: Value =
        serde_json::from_str(&kit_ok(&["walkthrough", "--out", out, "--json"])).unwrap();
    let tutorial = &report["recipes"]["tutorial"];
    let improved = &report["recipes"]["improved"];
    for key in [
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "average_precision",
        "flagged",
    ] {
        assert!(
            tutorial[key].is_number() && improved[key].is_number(),
            "missing {key}"
        );
    }
    // the tutorial's recipe: precision near 1, recall near 0.29 (contamination=auto under-flags)
    assert!(tutorial["precision"].as_f64().unwrap() > 0.98, "{tutorial}");
    let recall = tutorial["recall"].as_f64().unwrap();
    assert!((0.24..0.36).contains(&recall), "{tutorial}");
    assert!(improved["f1"].as_f64().unwrap() >= 0.98, "{improved}");
    // the same-seed trap is detected, not assumed
    assert_eq!(report["same_seed"]["test_equals_train"], true);
    // the live part: every row of the test CSV streamed, scored once, and equal to offline
    let stream = &report["stream"];
    assert_eq!(stream["records_sent"], 10_000, "{stream}");
    assert_eq!(stream["records_scored"], 10_000, "{stream}");
    assert_eq!(stream["records_failed"], 0, "{stream}");
    assert_eq!(stream["matches_offline"], true, "{stream}");
    assert_eq!(stream["anomalies"], stream["offline_anomalies"], "{stream}");
    assert_eq!(stream["anomalies"], improved["flagged"], "{stream}");
    // every trend kind is reported, and random walk is fixed by the improved recipe too
    let trends = report["trends"].as_array().unwrap();
    assert_eq!(trends.len(), 4);
    let rw = trends.iter().find(|t| t["trend"] == "random_walk").unwrap();
    assert!(rw["improved"]["f1"].as_f64().unwrap() >= 0.98, "{rw}");
    let exp = trends.iter().find(|t| t["trend"] == "exponential").unwrap();
    assert!(
        exp["oracle_roc_auc"].as_f64().unwrap() < 0.7,
        "exponential should be noise-limited: {exp}"
    );
    // every listed file exists, and the model loads and scores
    let model = report["artefacts"]["model"].as_str().unwrap();
    assert!(std::path::Path::new(model).exists());
    for plot in report["artefacts"]["plots"].as_array().unwrap() {
        let svg = std::fs::read_to_string(plot.as_str().unwrap()).unwrap();
        assert!(svg.starts_with("<svg"), "{plot}");
    }
    let test_csv = report["artefacts"]["test_csv"].as_str().unwrap();
    let test_labels = report["artefacts"]["test_labels_csv"].as_str().unwrap();
    let eval: Value = serde_json::from_str(&kit_ok(&[
        "evaluate",
        "--model",
        model,
        "--input",
        test_csv,
        "--labels",
        test_labels,
        "--json",
    ]))
    .unwrap();
    assert_eq!(eval["evaluation"]["f1"], improved["f1"]);
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for cmd in [
        "generate",
        "plot",
        "train",
        "evaluate",
        "benchmark",
        "walkthrough",
    ] {
        let help = kit_ok(&[cmd, "--help"]);
        assert!(help.contains("Example"), "{cmd} --help has no example");
    }
    assert!(!kit(&["--version"]).stdout.is_empty());
}

#[test]
fn plot_writes_svg_charts() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    kit_ok(&[
        "generate",
        "--rows",
        "500",
        "--anomalies",
        "20",
        "--out",
        &p(""),
        "--name",
        "d",
    ]);
    kit_ok(&[
        "train",
        "--input",
        &p("d.csv"),
        "--labels",
        &p("d_labels.csv"),
        "--out",
        &p("m"),
    ]);
    let out = kit_ok(&[
        "plot",
        "--input",
        &p("d.csv"),
        "--labels",
        &p("d_labels.csv"),
        "--model",
        &p("m"),
        "--out",
        &p("plots"),
    ]);
    for name in [
        "series.svg",
        "labels.svg",
        "scores.svg",
        "roc.svg",
        "pr.svg",
    ] {
        assert!(out.contains(name), "{out}");
        let svg = std::fs::read_to_string(dir.path().join("plots").join(name)).unwrap();
        assert!(svg.contains("</svg>"));
    }
}

/// The live part with an online detector: the consumer learns per series and checkpoints the
/// detector in the series' state between batches; the stream must equal one uninterrupted run.
#[test]
fn walkthrough_live_part_can_learn_from_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let report: Value = serde_json::from_str(&kit_ok(&[
        "walkthrough",
        "--out",
        out,
        "--no-compare",
        "--no-plots",
        "--live-detector",
        "online",
        "--json",
    ]))
    .unwrap();
    let stream = &report["stream"];
    assert_eq!(stream["records_scored"], 10_000, "{stream}");
    assert_eq!(stream["matches_offline"], true, "{stream}");
    assert_eq!(stream["anomalies"], stream["offline_anomalies"], "{stream}");
    assert!(stream["anomalies"].as_u64().unwrap() > 0, "{stream}");
    assert_eq!(stream["endpoint"], "in-process online detector", "{stream}");
}

/// Every error either quotes its cause or returns it as its `source()`, never both, so the
/// chain the CLI prints names each cause once.
#[test]
fn an_error_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.csv");
    let missing = missing.to_str().unwrap();
    for args in [
        vec![
            "train",
            "--input",
            missing,
            "--out",
            dir.path().to_str().unwrap(),
        ],
        vec![
            "plot",
            "--input",
            missing,
            "--out",
            dir.path().to_str().unwrap(),
        ],
    ] {
        let err = kit_err(&args);
        let os_errors = err.matches("No such file or directory").count();
        assert_eq!(os_errors, 1, "{args:?}: {err}");
    }
}
