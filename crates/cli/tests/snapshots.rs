//! Insta snapshots of the kit's key numbers: a rerun that changes any of them fails until the
//! change is reviewed (`cargo insta review`) and the `.snap` files in `snapshots/` are committed.

mod common;

use anomaly_kit::experiment::{self, WalkthroughConfig};
use anomaly_kit::frame;
use anomaly_kit::model::ModelArtefact;
use anomaly_kit::synth::{SynthParams, Trend};
use common::{SNAPSHOTS, rounded};
use serde_json::json;

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => SNAPSHOTS, prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_json_snapshot!($name, rounded(serde_json::to_value(&$value).unwrap(), 6));
        })
    };
}

#[test]
fn generator_summaries_per_trend() {
    for trend in Trend::ALL {
        let data = SynthParams::tutorial().trend(trend).generate().unwrap();
        let stats = frame::describe(&data.feature_names, data.values.view()).unwrap();
        let per_feature: Vec<serde_json::Value> = data
            .feature_names
            .iter()
            .map(|name| {
                let col = stats.column(name).unwrap().f64().unwrap();
                let v: Vec<f64> = col.into_no_null_iter().collect();
                json!({ "feature": name, "mean": v[1], "std": v[2], "min": v[3], "max": v[4] })
            })
            .collect();
        let per_feature_anomalies: Vec<usize> = data
            .cell_labels
            .columns()
            .into_iter()
            .map(|c| c.iter().map(|&v| v as usize).sum())
            .collect();
        snapshot!(
            format!("generator_{trend}"),
            json!({
                "summary": experiment::DataSummary::from(&data),
                "anomalies_per_feature": per_feature_anomalies,
                "first_row": data.values.row(0).to_vec(),
                "features": per_feature,
            })
        );
    }
}

#[test]
fn walkthrough_metrics_and_model_summary() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalkthroughConfig {
        out_dir: dir.path().to_path_buf(),
        plots: false,
        ..WalkthroughConfig::default()
    };
    let report = experiment::run_walkthrough(&config, |_| {}).unwrap();
    let table = |r: &experiment::RecipeResult| {
        json!({ "precision": r.precision, "recall": r.recall, "f1": r.f1, "roc_auc": r.roc_auc,
                "average_precision": r.average_precision, "flagged": r.flagged, "anomalies": r.anomalies, "threshold": r.threshold })
    };
    let trends: Vec<serde_json::Value> = report
        .trends
        .iter()
        .map(|t| json!({ "trend": t.trend, "tutorial": table(&t.tutorial), "threshold_only": table(&t.threshold_only), "improved": table(&t.improved), "oracle_roc_auc": t.oracle_roc_auc }))
        .collect();
    snapshot!(
        "walkthrough_metrics",
        json!({
            "train": report.train, "test": report.test,
            "tutorial": table(&report.recipes.tutorial),
            "threshold_only": table(&report.recipes.threshold_only),
            "improved": table(&report.recipes.improved),
            "same_seed": table(&report.same_seed.tutorial_on_own_training_set),
            "trends": trends,
            "notes": report.notes,
        })
    );
    let model = ModelArtefact::load(&report.artefacts.model).unwrap();
    snapshot!("model_summary_improved", model.summary());
    let tutorial = ModelArtefact::load(&report.artefacts.tutorial_model).unwrap();
    snapshot!("model_summary_tutorial", tutorial.summary());
}
