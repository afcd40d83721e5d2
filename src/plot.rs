//! Charts for inspecting anomaly-detection experiments: raw series with flagged
//! cells, label matrices, score distributions, and ROC / PR curves.
//!
//! Every chart is generic over the plotters backend, so the same function can
//! write an SVG file ([`save_svg`]), produce an SVG string ([`svg_string`]) or
//! display inline in an evcxr Jupyter notebook ([`Figure`]).

use ndarray::{ArrayView2, Axis};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Why a chart could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The plotting backend failed while drawing.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The rendered SVG could not be written to disk.
    #[error("cannot write plot to {path}: {cause}")]
    Io {
        /// The SVG file being written.
        path: PathBuf,
        /// The I/O error (quoted in the message, so not also the `source()`).
        cause: std::io::Error,
    },
    /// The data handed to a chart function is unusable (shape, emptiness, NaN...).
    #[error("{0}")]
    Input(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(err: DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(err.to_string())
    }
}

const TITLE_FONT: (&str, u32) = ("sans-serif", 22);
const CAPTION_FONT: (&str, u32) = ("sans-serif", 16);
/// Tick labels and axis titles: legible once a notebook scales a chart to its column width.
const TICK_FONT: (&str, u32) = ("sans-serif", 14);
const AXIS_FONT: (&str, u32) = ("sans-serif", 15);
/// Room below a chart for tick labels *and* the axis title under them (no overlap).
const X_LABEL_AREA: u32 = 48;
/// Room left of a chart for tick labels and the rotated axis title.
const Y_LABEL_AREA: u32 = 72;
/// Space right of the plotting area, so the last tick label is not clipped.
const RIGHT_MARGIN: u32 = 24;

/// Formats a tick as a whole number (row indices, minutes, counts).
fn integer_tick(v: &f64) -> String {
    format!("{:.0}", v)
}

/// Formats a value tick compactly, so it fits beside the axis title: `200` rather than `200.0`,
/// `8M` rather than `8000000.0`, `0.25` as it is.
fn value_tick(v: &f64) -> String {
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (*v, ""),
    };
    let text = format!("{scaled:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_string(),
        t => format!("{t}{suffix}"),
    }
}
const HIST_BINS: usize = 60;

fn input_err<T>(msg: impl Into<String>) -> Result<T, PlotError> {
    Err(PlotError::Input(msg.into()))
}

/// Min/max of finite values, or an Input error naming `what` if any value is not finite.
fn finite_range(
    values: impl IntoIterator<Item = f64>,
    what: &str,
) -> Result<(f64, f64), PlotError> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for (i, v) in values.into_iter().enumerate() {
        if !v.is_finite() {
            return input_err(format!("{what}: non-finite value {v} at index {i}"));
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return input_err(format!("{what}: no data"));
    }
    Ok((lo, hi))
}

/// Pad a range by 5 % on each side; widen degenerate (all-equal) ranges so the axis is
/// non-empty. Ranges whose span overflows f64 are rejected (plotters would hang on them).
/// `(a, b)` if it is a finite interval with `a < b`, else an input error naming `what`.
fn finite_interval(what: &str, (a, b): (f64, f64)) -> Result<(f64, f64), PlotError> {
    if a.is_finite() && b.is_finite() && a < b {
        Ok((a, b))
    } else {
        input_err(format!("{what} {a}..{b} is not a finite interval"))
    }
}

fn padded(lo: f64, hi: f64) -> Result<(f64, f64), PlotError> {
    let span = hi - lo;
    let (a, b) = if span <= f64::EPSILON * lo.abs().max(hi.abs()).max(1.0) {
        let w = (lo.abs() * 0.05).max(0.5);
        (lo - w, hi + w)
    } else {
        (lo - span * 0.05, hi + span * 0.05)
    };
    if !(a.is_finite() && b.is_finite() && (b - a).is_finite()) {
        return input_err(format!("range {lo:e}..{hi:e} is too wide to plot"));
    }
    Ok((a, b))
}

/// Reject empty grids and a `names` list that does not match the feature columns.
fn check_grid(names: &[String], labels: &ArrayView2<u8>) -> Result<(), PlotError> {
    let (rows, cols, n) = (labels.nrows(), labels.ncols(), names.len());
    if rows == 0 || cols == 0 {
        return input_err(format!("empty data: {rows} rows x {cols} features"));
    }
    if n != cols {
        return input_err(format!("names has {n} entries but data has {cols} columns"));
    }
    Ok(())
}

/// Each feature's time series with its anomalous cells highlighted, one panel per
/// feature stacked vertically. Use it to eyeball *where* the labels (or detector
/// flags) sit relative to the raw signal: spikes, level shifts, flat-lines.
///
/// `values` and `labels` are `n_rows x n_features`; a label of 1 marks an anomalous
/// cell (drawn as a red dot). The x axis is the row index ("minute").
pub fn series_with_anomalies<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    names: &[String],
    values: ArrayView2<f64>,
    labels: ArrayView2<u8>,
    title: &str,
) -> Result<(), PlotError> {
    let (vs, ls) = (values.shape(), labels.shape());
    if vs != ls {
        return input_err(format!("shape mismatch: values {vs:?} vs labels {ls:?}"));
    }
    check_grid(names, &labels)?;
    let mut y_ranges = Vec::with_capacity(values.ncols());
    for (name, col) in names.iter().zip(values.axis_iter(Axis(1))) {
        let (lo, hi) = finite_range(col.iter().copied(), &format!("feature '{name}'"))?;
        y_ranges.push(padded(lo, hi)?);
    }
    let (x0, x1) = padded(0.0, (values.nrows() - 1) as f64)?;

    area.fill(&WHITE)?;
    let body = area.titled(title, TITLE_FONT)?;
    let panels = body.split_evenly((values.ncols(), 1));
    for (j, panel) in panels.iter().enumerate() {
        let (y0, y1) = y_ranges[j];
        let mut chart = ChartBuilder::on(panel)
            .caption(&names[j], CAPTION_FONT)
            .margin(5)
            .margin_right(RIGHT_MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_y_mesh()
            .y_labels(5)
            .x_label_formatter(&integer_tick)
            .y_label_formatter(&value_tick)
            .label_style(TICK_FONT)
            .axis_desc_style(AXIS_FONT)
            .x_desc("minute")
            .y_desc("value")
            .draw()?;
        let col = values.column(j);
        let col_values: Vec<f64> = col.iter().copied().collect();
        let width = chart.plotting_area().dim_in_pixel().0 as usize;
        chart.draw_series(LineSeries::new(
            thin(&col_values, width.max(1)),
            BLUE.stroke_width(1),
        ))?;
        // flagged cells, at most the lowest and highest per dot width (4 px): more would only
        // overlap, and each costs bytes in every saved notebook
        let flags = labels.column(j);
        let per_px = 4 * values.nrows().div_ceil(width.max(1)).max(1);
        let mut dots = Vec::new();
        for start in (0..values.nrows()).step_by(per_px) {
            let flagged = (start..(start + per_px).min(values.nrows())).filter(|&i| flags[i] == 1);
            let (mut lo, mut hi): (Option<usize>, Option<usize>) = (None, None);
            for i in flagged {
                if lo.is_none_or(|l| col[i] < col[l]) {
                    lo = Some(i);
                }
                if hi.is_none_or(|h| col[i] > col[h]) {
                    hi = Some(i);
                }
            }
            dots.extend(lo);
            dots.extend(hi.filter(|h| Some(*h) != lo));
        }
        chart.draw_series(
            dots.into_iter()
                .map(|i| Circle::new((i as f64, col[i]), 3, RED.filled())),
        )?;
    }
    Ok(())
}

/// Compact overview of which cells are anomalous: x = row index, one horizontal
/// band per feature plus a final "anomaly (row)" band marking rows where any
/// feature is anomalous. Shows at a glance how anomalies cluster in time and
/// whether they co-occur across features. Draws one mark per anomalous cell, so
/// it stays cheap for long series.
pub fn label_matrix<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    names: &[String],
    labels: ArrayView2<u8>,
    title: &str,
) -> Result<(), PlotError> {
    check_grid(names, &labels)?;
    let n_rows = labels.nrows();
    let n_bands = labels.ncols() + 1;
    let mut band_names: Vec<String> = names.to_vec();
    band_names.push("anomaly (row)".to_string());
    // Band k (top to bottom) spans integer y in [BAND*(n_bands-1-k), BAND*(n_bands-k)];
    // integer y because plotters' f64 axis loses its label formatter under with_key_points.
    const BAND: i32 = 10;
    let band_y = |k: usize| BAND * (n_bands - 1 - k) as i32;
    let centres: Vec<i32> = (0..n_bands).map(|k| band_y(k) + BAND / 2).collect();
    let label_of = |y: &i32| -> String {
        let k = n_bands as i32 - 1 - y.div_euclid(BAND);
        usize::try_from(k)
            .ok()
            .and_then(|k| band_names.get(k).cloned())
            .unwrap_or_default()
    };

    area.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(area)
        .caption(title, TITLE_FONT)
        .margin(10)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(120)
        .build_cartesian_2d(
            0.0..n_rows as f64,
            (0..BAND * n_bands as i32).with_key_points(centres),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .y_label_formatter(&label_of)
        .x_label_formatter(&integer_tick)
        .label_style(TICK_FONT)
        .axis_desc_style(AXIS_FONT)
        .x_desc("minute")
        .draw()?;

    // One mark per run of flagged pixel columns, not per cell: at 10,000 rows a pixel holds
    // many rows, and a mark per cell made the chart hundreds of kilobytes of overlapping lines
    let px_width = (chart.plotting_area().dim_in_pixel().0 as usize).max(1);
    let rows_per_px = n_rows.div_ceil(px_width).max(1);
    let runs = |flagged: &dyn Fn(usize) -> bool| -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for start in (0..n_rows).step_by(rows_per_px) {
            let end = (start + rows_per_px).min(n_rows);
            if (start..end).any(flagged) {
                match runs.last_mut() {
                    Some(last) if last.1 == start => last.1 = end,
                    _ => runs.push((start, end)),
                }
            }
        }
        runs
    };
    let mark = |(from, to): (usize, usize), k: usize| {
        let y = band_y(k);
        Rectangle::new(
            [(from as f64, y + 1), (to as f64, y + BAND - 1)],
            RED.filled(),
        )
    };
    for c in 0..labels.ncols() {
        let column = labels.column(c);
        chart.draw_series(
            runs(&|r| column[r] == 1)
                .into_iter()
                .map(|run| mark(run, c)),
        )?;
    }
    let any = |r: usize| labels.row(r).iter().any(|&l| l == 1);
    chart.draw_series(runs(&any).into_iter().map(|run| mark(run, n_bands - 1)))?;
    Ok(())
}

/// Histogram of anomaly scores (higher = more abnormal) with the decision
/// threshold drawn as a vertical line. With ground truth (`is_anomaly`) the
/// normal and anomalous scores are overlaid in blue and red, which shows how well
/// the score separates the classes and what a threshold trades off.
pub fn score_distribution<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    anomaly_scores: &[f64],
    is_anomaly: Option<&[bool]>,
    threshold: f64,
    title: &str,
) -> Result<(), PlotError> {
    if anomaly_scores.is_empty() {
        return input_err("anomaly_scores is empty");
    }
    let n = anomaly_scores.len();
    if let Some(flags) = is_anomaly.filter(|f| f.len() != n) {
        let m = flags.len();
        return input_err(format!(
            "is_anomaly has {m} entries but anomaly_scores has {n}"
        ));
    }
    if !threshold.is_finite() {
        return input_err(format!("threshold is not finite: {threshold}"));
    }
    let (lo, hi) = finite_range(anomaly_scores.iter().copied(), "anomaly_scores")?;
    let (lo, hi) = if hi > lo { (lo, hi) } else { padded(lo, hi)? };
    let width = (hi - lo) / HIST_BINS as f64;
    let hist = |want: Option<bool>| {
        let mut counts = vec![0usize; HIST_BINS];
        for (i, s) in anomaly_scores.iter().enumerate() {
            if want.is_none() || is_anomaly.map(|f| f[i]) == want {
                let b = ((s - lo) / width).floor().max(0.0) as usize;
                counts[b.min(HIST_BINS - 1)] += 1;
            }
        }
        counts
    };
    let groups = match is_anomaly {
        None => vec![("scores", BLUE.mix(0.5), hist(None))],
        Some(_) => vec![
            ("normal", BLUE.mix(0.5), hist(Some(false))),
            ("anomalous", RED.mix(0.5), hist(Some(true))),
        ],
    };
    let max_count = groups.iter().flat_map(|g| g.2.iter()).max().copied();
    let y_top = max_count.unwrap_or(0).max(1) as f64 * 1.1;
    let (x0, x1) = padded(lo.min(threshold), hi.max(threshold))?;

    area.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(area)
        .caption(title, TITLE_FONT)
        .margin(10)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x0..x1, 0.0..y_top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .y_label_formatter(&integer_tick)
        .label_style(TICK_FONT)
        .axis_desc_style(AXIS_FONT)
        .x_desc("anomaly score")
        .y_desc("count")
        .draw()?;
    for (name, color, counts) in groups {
        let bars = counts.into_iter().enumerate().filter(|(_, c)| *c > 0);
        chart
            .draw_series(bars.map(|(b, c)| {
                let left = lo + b as f64 * width;
                Rectangle::new([(left, 0.0), (left + width, c as f64)], color.filled())
            }))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    chart
        .draw_series(DashedLineSeries::new(
            [(threshold, 0.0), (threshold, y_top)],
            6,
            4,
            BLACK.stroke_width(2),
        ))?
        .label("threshold")
        .legend(line_key(BLACK.stroke_width(2)));
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    position: SeriesLabelPosition,
) -> Result<(), PlotError> {
    let mut labels = chart.configure_series_labels();
    labels
        .position(position)
        .background_style(WHITE.mix(0.85))
        .label_font(TICK_FONT);
    labels.border_style(BLACK).draw()?;
    Ok(())
}

/// Legend key: a short horizontal line in `style`.
fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], style)
}

fn check_unit_points(points: &[(f64, f64)], what: &str) -> Result<(), PlotError> {
    if points.is_empty() {
        return input_err(format!("{what}: no points"));
    }
    for (i, &(x, y)) in points.iter().enumerate() {
        let ok = |v: f64| v.is_finite() && (-1e-9..=1.0 + 1e-9).contains(&v);
        if !ok(x) || !ok(y) {
            return input_err(format!("{what}: point {i} ({x}, {y}) is not within [0, 1]"));
        }
    }
    Ok(())
}

/// A curve over 10,000 thresholds has far more points than pixels: keeps each point that moved
/// more than `eps` from the last one kept, and the last point.
fn keep_corners(points: &[(f64, f64)], eps: f64) -> Vec<(f64, f64)> {
    let mut kept: Vec<(f64, f64)> = Vec::with_capacity(points.len().min(4_000));
    for (i, &p) in points.iter().enumerate() {
        let moved = kept
            .last()
            .is_none_or(|&(x, y): &(f64, f64)| (p.0 - x).abs() > eps || (p.1 - y).abs() > eps);
        if moved || i + 1 == points.len() {
            kept.push(p);
        }
    }
    kept
}

/// Shared layout for ROC and PR: unit square, a grey reference line, the curve in
/// blue with `curve_label` in the legend.
fn unit_curve<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    points: &[(f64, f64)],
    curve: String,
    reference: ([(f64, f64); 2], String),
    axes: [&str; 2],
    title: &str,
) -> Result<(), PlotError> {
    area.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(area)
        .caption(title, TITLE_FONT)
        .margin(10)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .label_style(TICK_FONT)
        .axis_desc_style(AXIS_FONT)
        .x_desc(axes[0])
        .y_desc(axes[1])
        .draw()?;
    let grey = RGBColor(150, 150, 150);
    chart
        .draw_series(LineSeries::new(reference.0, grey.stroke_width(1)))?
        .label(reference.1)
        .legend(line_key(grey.stroke_width(1)));
    chart
        .draw_series(LineSeries::new(
            keep_corners(points, 1e-3),
            BLUE.stroke_width(2),
        ))?
        .label(curve)
        .legend(line_key(BLUE.stroke_width(2)));
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
}

/// ROC curve (false positive rate vs true positive rate) with the chance diagonal:
/// threshold-free ranking quality of a detector, summarised by `auc` in the legend.
pub fn roc_curve<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    points: &[(f64, f64)],
    auc: f64,
    title: &str,
) -> Result<(), PlotError> {
    check_unit_points(points, "roc_curve")?;
    let diagonal = ([(0.0, 0.0), (1.0, 1.0)], "chance".to_string());
    let axes = ["false positive rate", "true positive rate"];
    unit_curve(
        area,
        points,
        format!("AUC = {auc:.3}"),
        diagonal,
        axes,
        title,
    )
}

/// Precision-recall curve with the chance level (`base_rate`, the anomaly
/// fraction) as a horizontal line. More informative than ROC when anomalies are
/// rare; `average_precision` is shown in the legend.
pub fn pr_curve<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    points: &[(f64, f64)],
    average_precision: f64,
    base_rate: f64,
    title: &str,
) -> Result<(), PlotError> {
    check_unit_points(points, "pr_curve")?;
    if !(base_rate.is_finite() && (0.0..=1.0).contains(&base_rate)) {
        return input_err(format!("base_rate {base_rate} is not within [0, 1]"));
    }
    let chance = format!("chance = {base_rate:.3}");
    let level = ([(0.0, base_rate), (1.0, base_rate)], chance);
    let ap = format!("AP = {average_precision:.3}");
    unit_curve(area, points, ap, level, ["recall", "precision"], title)
}

/// One detector's curve for [`curves`]: its points, a summary for the legend (AUC, AP) and,
/// optionally, the point where its threshold operates.
pub struct Curve<'a> {
    /// Legend name, e.g. `improved (AUC 0.999)`.
    pub name: String,
    /// Points in `[0, 1]²`, in curve order.
    pub points: &'a [(f64, f64)],
    /// Where the detector's threshold puts it on the curve (drawn as a dot), if known.
    pub operating_point: Option<(f64, f64)>,
}

/// The parts of the polyline `points` inside the window `x × y` (Liang-Barsky clipping of each
/// segment), as runs of connected points: plotters would otherwise clamp points outside a
/// zoomed window onto its frame and draw lines along the edges.
fn clip_polyline(points: &[(f64, f64)], x: (f64, f64), y: (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut open = false;
    for seg in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (seg[0], seg[1]);
        let (dx, dy) = (x1 - x0, y1 - y0);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let mut inside = true;
        for (p, q) in [
            (-dx, x0 - x.0),
            (dx, x.1 - x0),
            (-dy, y0 - y.0),
            (dy, y.1 - y0),
        ] {
            if p == 0.0 {
                inside &= q >= 0.0;
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if !inside || t0 > t1 {
            open = false;
            continue;
        }
        let a = (x0 + t0 * dx, y0 + t0 * dy);
        let b = (x0 + t1 * dx, y0 + t1 * dy);
        if !open || t0 > 0.0 {
            runs.push(vec![a]);
        }
        runs.last_mut().expect("a run was opened").push(b);
        open = t1 >= 1.0;
    }
    runs
}

/// Which unit-square curve [`curves`] draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurveKind {
    /// False positive rate against true positive rate, with the chance diagonal.
    Roc,
    /// Recall against precision.
    PrecisionRecall,
}

/// Several detectors' ROC or precision-recall curves on one axes, each with its operating point,
/// and a zoomed inset of the corner where good curves hug the frame (top left for ROC, top
/// right for PR): comparing recipes needs one picture, not one per recipe.
pub fn curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    kind: CurveKind,
    curves: &[Curve<'_>],
    title: &str,
) -> Result<(), PlotError> {
    if curves.is_empty() {
        return input_err("no curves to draw");
    }
    for c in curves {
        check_unit_points(c.points, &c.name)?;
        if let Some(p) = c.operating_point {
            check_unit_points(&[p], &c.name)?;
        }
    }
    let (axes, zoom) = match kind {
        CurveKind::Roc => (
            ["false positive rate", "true positive rate"],
            ((0.0, 0.1), (0.9, 1.0)),
        ),
        CurveKind::PrecisionRecall => (["recall", "precision"], ((0.9, 1.0), (0.9, 1.0))),
    };
    area.fill(&WHITE)?;
    let (main, inset) = area.split_horizontally(area.dim_in_pixel().0 * 62 / 100);
    let draw_on = |panel: &DrawingArea<DB, Shift>,
                   x: (f64, f64),
                   y: (f64, f64),
                   caption: &str,
                   legend: bool|
     -> Result<(), PlotError> {
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, CAPTION_FONT)
            .margin(10)
            .margin_right(RIGHT_MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .label_style(TICK_FONT)
            .axis_desc_style(AXIS_FONT)
            .x_labels(5)
            .y_labels(5)
            .x_desc(axes[0])
            .y_desc(axes[1])
            .draw()?;
        if kind == CurveKind::Roc {
            let grey = RGBColor(150, 150, 150);
            let diagonal = clip_polyline(&[(0.0, 0.0), (1.0, 1.0)], x, y);
            let s = chart.draw_series(
                diagonal
                    .into_iter()
                    .map(|run| PathElement::new(run, grey.stroke_width(1))),
            )?;
            if legend {
                s.label("chance").legend(line_key(grey.stroke_width(1)));
            }
        }
        // about a pixel of the panel: finer steps are invisible and only add bytes
        let eps = (x.1 - x.0) / 400.0;
        for (i, c) in curves.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let inside = |&(px, py): &(f64, f64)| {
                px >= x.0 - eps && px <= x.1 + eps && py >= y.0 - eps && py <= y.1 + eps
            };
            let points = keep_corners(c.points, eps);
            let s = chart.draw_series(
                clip_polyline(&points, x, y)
                    .into_iter()
                    .map(|run| PathElement::new(run, colour.stroke_width(2))),
            )?;
            if legend {
                s.label(c.name.clone())
                    .legend(line_key(colour.stroke_width(2)));
            }
            chart.draw_series(
                c.operating_point
                    .iter()
                    .filter(|p| inside(p))
                    .map(|&p| Circle::new(p, 5, colour.filled())),
            )?;
        }
        if legend {
            draw_legend(
                &mut chart,
                match kind {
                    CurveKind::Roc => SeriesLabelPosition::LowerRight,
                    CurveKind::PrecisionRecall => SeriesLabelPosition::LowerLeft,
                },
            )?;
        }
        Ok(())
    };
    let body_title = format!("{title} (dots: each detector's threshold)");
    draw_on(&main, (0.0, 1.0), (0.0, 1.0), &body_title, true)?;
    draw_on(&inset, zoom.0, zoom.1, "zoomed into the corner", false)
}

/// At most `buckets` points per series that keep every bucket's minimum and maximum, in order:
/// a 20,000-row series drawn at chart width loses no spike and weighs a fraction of the bytes.
pub fn thin(values: &[f64], buckets: usize) -> Vec<(f64, f64)> {
    let per = values.len().div_ceil(buckets.max(1)).max(1);
    if per <= 2 {
        return values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect();
    }
    let mut out = Vec::with_capacity(2 * buckets + 2);
    for (b, chunk) in values.chunks(per).enumerate() {
        let base = b * per;
        let (mut lo, mut hi) = (0, 0);
        for (i, v) in chunk.iter().enumerate() {
            if *v < chunk[lo] {
                lo = i;
            }
            if *v > chunk[hi] {
                hi = i;
            }
        }
        for i in if lo <= hi { [lo, hi] } else { [hi, lo] } {
            out.push(((base + i) as f64, chunk[i]));
        }
    }
    out
}

/// A stream scored over time, for [`score_timeline`].
pub struct Timeline<'a> {
    /// The series.
    pub values: &'a [f64],
    /// The upper panel's y-axis title: what `values` are.
    pub value_desc: &'a str,
    /// One anomaly score per row, in `[0, 1]`.
    pub scores: &'a [f64],
    /// Rows scoring at or above it are detections.
    pub threshold: f64,
    /// Labelled anomaly windows (inclusive row ranges).
    pub windows: &'a [(usize, usize)],
    /// Rows at the start that are not scored (shaded grey).
    pub probation: usize,
    /// Earliest detection of each detected window (green).
    pub true_positives: &'a [usize],
    /// Detections outside every window (red).
    pub false_positives: &'a [usize],
    /// Windows without a detection (index into `windows`; marked orange).
    pub missed: &'a [usize],
}

/// Row-level outcomes of a detector in the shape [`score_timeline`] draws: each run of
/// consecutive anomalous rows is a window, its first flagged row a true positive, every flagged
/// normal row a false positive, and a run without a flag a miss. Built from per-row flags and
/// labels (the synthetic data's case); NAB's labelled windows come with their own outcomes.
///
/// ```
/// use anomaly_kit::plot::RowEvents;
/// let truth = [false, true, true, false, false, true, false];
/// let flags = [false, false, true, false, true, false, false];
/// let e = RowEvents::new(&flags, &truth).unwrap();
/// assert_eq!(e.windows, vec![(1, 2), (5, 5)]);
/// assert_eq!(e.true_positives, vec![2]);
/// assert_eq!(e.false_positives, vec![4]);
/// assert_eq!(e.missed, vec![1]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowEvents {
    /// Runs of consecutive anomalous rows (inclusive).
    pub windows: Vec<(usize, usize)>,
    /// The first flagged row of each window that has one.
    pub true_positives: Vec<usize>,
    /// Flagged rows outside every window.
    pub false_positives: Vec<usize>,
    /// Indices into `windows` of the runs with no flagged row.
    pub missed: Vec<usize>,
}

impl RowEvents {
    /// Outcomes of `flagged` against `truth` (one entry per row in each).
    pub fn new(flagged: &[bool], truth: &[bool]) -> Result<Self, PlotError> {
        if flagged.len() != truth.len() {
            let (f, t) = (flagged.len(), truth.len());
            return input_err(format!("{f} flags but {t} labels"));
        }
        let mut events = RowEvents::default();
        let mut detected = false;
        for (i, (&flag, &anomalous)) in flagged.iter().zip(truth).enumerate() {
            if anomalous {
                match events.windows.last_mut() {
                    Some(w) if w.1 + 1 == i => w.1 = i,
                    _ => {
                        if !events.windows.is_empty() && !detected {
                            events.missed.push(events.windows.len() - 1);
                        }
                        events.windows.push((i, i));
                        detected = false;
                    }
                }
            }
            match (flag, anomalous) {
                (true, true) if !detected => {
                    events.true_positives.push(i);
                    detected = true;
                }
                (true, false) => events.false_positives.push(i),
                _ => {}
            }
        }
        if !events.windows.is_empty() && !detected {
            events.missed.push(events.windows.len() - 1);
        }
        Ok(events)
    }

    /// A [`Timeline`] of `values` and `scores` with these outcomes marked.
    pub fn timeline<'a>(
        &'a self,
        values: &'a [f64],
        scores: &'a [f64],
        threshold: f64,
        probation: usize,
    ) -> Timeline<'a> {
        Timeline {
            values,
            value_desc: "value",
            scores,
            threshold,
            windows: &self.windows,
            probation,
            true_positives: &self.true_positives,
            false_positives: &self.false_positives,
            missed: &self.missed,
        }
    }
}

/// The picture of a streaming detector at work: the series with its labelled windows shaded,
/// the probation period greyed, each window's first detection in green, false alarms in red and
/// missed windows in orange; below it, the score over time and the threshold.
pub fn score_timeline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Timeline<'_>,
    title: &str,
) -> Result<(), PlotError> {
    let n = t.values.len();
    if n == 0 || t.scores.len() != n {
        return input_err(format!("{} values and {} scores", n, t.scores.len()));
    }
    let (lo, hi) = finite_range(t.values.iter().copied(), "values")?;
    finite_range(t.scores.iter().copied(), "scores")?;
    let (y0, y1) = padded(lo, hi)?;
    // headroom above the series for the legend, so it covers no data (nor the miss markers,
    // which sit at the top of the data's range)
    let top_of_data = y1;
    let y1 = y1 + (y1 - y0) * 0.3;
    let x1 = (n - 1).max(1) as f64;
    area.fill(&WHITE)?;
    let body = area.titled(title, TITLE_FONT)?;
    let (top, bottom) = body.split_vertically(body.dim_in_pixel().1 * 62 / 100);
    let shade = |chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
                 y0: f64,
                 y1: f64|
     -> Result<(), PlotError> {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y0), (t.probation as f64, y1)],
            RGBColor(225, 225, 225).filled(),
        )))?;
        // a window covers its rows whole: half a row either side of the first and last
        chart.draw_series(t.windows.iter().map(|&(s, e)| {
            Rectangle::new(
                [(s as f64 - 0.5, y0), (e as f64 + 0.5, y1)],
                RGBColor(255, 214, 214).filled(),
            )
        }))?;
        Ok(())
    };
    let mut chart = ChartBuilder::on(&top)
        .margin(8)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(30)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .label_style(TICK_FONT)
        .axis_desc_style(AXIS_FONT)
        .y_desc(t.value_desc)
        .y_labels(5)
        .x_label_formatter(&integer_tick)
        .y_label_formatter(&value_tick)
        .draw()?;
    shade(&mut chart, y0, y1)?;
    chart.draw_series(LineSeries::new(thin(t.values, 800), BLUE.stroke_width(1)))?;
    let at = |i: usize| (i as f64, t.values[i]);
    chart
        .draw_series(
            t.false_positives
                .iter()
                .map(|&i| Circle::new(at(i), 3, RED.filled())),
        )?
        .label("false alarm")
        .legend(|(x, y)| Circle::new((x, y), 3, RED.filled()));
    chart
        .draw_series(
            t.true_positives
                .iter()
                .map(|&i| Circle::new(at(i), 5, GREEN.filled())),
        )?
        .label("window found (first detection)")
        .legend(|(x, y)| Circle::new((x, y), 5, GREEN.filled()));
    let orange = RGBColor(255, 140, 0);
    chart
        .draw_series(
            t.missed
                .iter()
                .filter_map(|&w| t.windows.get(w))
                .map(|&(s, _)| TriangleMarker::new((s as f64, top_of_data), 7, orange.filled())),
        )?
        .label("window missed")
        .legend(move |(x, y)| TriangleMarker::new((x, y), 6, orange.filled()));
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    let mut scores = ChartBuilder::on(&bottom)
        .margin(8)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..x1, 0.0..1.05)?;
    scores
        .configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .label_style(TICK_FONT)
        .axis_desc_style(AXIS_FONT)
        .y_desc("anomaly score")
        .x_desc("row")
        .y_labels(6)
        .x_label_formatter(&integer_tick)
        .draw()?;
    shade(&mut scores, 0.0, 1.05)?;
    scores.draw_series(LineSeries::new(thin(t.scores, 800), BLACK.stroke_width(1)))?;
    scores.draw_series(LineSeries::new(
        [(0.0, t.threshold), (x1, t.threshold)],
        RED.stroke_width(1),
    ))?;
    // the threshold is named at the line's right end instead of in a legend box over the trace
    let label = TextStyle::from(TICK_FONT.into_font())
        .color(&RED)
        .pos(Pos::new(HPos::Right, VPos::Bottom));
    scores.draw_series(std::iter::once(Text::new(
        format!("threshold {:.4}", t.threshold),
        (x1, t.threshold + 0.02),
        label,
    )))?;
    Ok(())
}

/// Colours of the kit's multi-series charts, in order (matplotlib's first six, which read well
/// for most colour-vision deficiencies).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// One named line of a [`LineChart`].
pub struct Line<'a> {
    /// Legend name.
    pub name: String,
    /// Points in x order; each is drawn as a dot joined to the next.
    pub points: &'a [(f64, f64)],
}

/// What [`line_chart`] draws: a few lines over a shared x axis, e.g. a metric against a
/// parameter, one line per recipe.
pub struct LineChart<'a> {
    /// The x axis title.
    pub x_desc: &'a str,
    /// The y axis title.
    pub y_desc: &'a str,
    /// The lines, coloured in order.
    pub lines: &'a [Line<'a>],
    /// A fixed y range (e.g. `(0.0, 1.02)` for metrics); `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// A vertical reference line at this x, with its legend name (a default, a true rate).
    pub marker: Option<(f64, String)>,
    /// Tick the x axis with whole numbers (window sizes, counts).
    pub integer_x: bool,
}

/// Lines with dots at their points on one axes: how a metric moves with a parameter. The
/// dots matter: a sweep is measured at its points, and the lines between them are a guide only.
pub fn line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &LineChart<'_>,
    title: &str,
) -> Result<(), PlotError> {
    if chart.lines.iter().all(|l| l.points.is_empty()) {
        return input_err("no points to draw");
    }
    let all = || chart.lines.iter().flat_map(|l| l.points.iter());
    let (x_lo, x_hi) = finite_range(all().map(|p| p.0), "x values")?;
    let (y_lo, y_hi) = finite_range(all().map(|p| p.1), "y values")?;
    let x_lo = chart.marker.as_ref().map_or(x_lo, |m| x_lo.min(m.0));
    let x_hi = chart.marker.as_ref().map_or(x_hi, |m| x_hi.max(m.0));
    let (x0, x1) = padded(x_lo, x_hi)?;
    let (y0, y1) = match chart.y_range {
        Some(range) => finite_interval("y range", range)?,
        None => padded(y_lo, y_hi)?,
    };
    area.fill(&WHITE)?;
    let mut c = ChartBuilder::on(area)
        .caption(title, CAPTION_FONT)
        .margin(10)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let mut mesh = c.configure_mesh();
    mesh.max_light_lines(0)
        .label_style(TICK_FONT)
        .axis_desc_style(AXIS_FONT)
        .x_labels(6)
        .y_labels(6)
        .x_desc(chart.x_desc)
        .y_desc(chart.y_desc);
    if chart.integer_x {
        mesh.x_label_formatter(&integer_tick);
    }
    mesh.draw()?;
    if let Some((x, name)) = &chart.marker {
        let grey = RGBColor(120, 120, 120);
        c.draw_series(std::iter::once(PathElement::new(
            vec![(*x, y0), (*x, y1)],
            grey.stroke_width(1),
        )))?
        .label(name.clone())
        .legend(line_key(grey.stroke_width(1)));
    }
    for (i, line) in chart.lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        c.draw_series(LineSeries::new(
            line.points.iter().copied(),
            colour.stroke_width(2),
        ))?
        .label(line.name.clone())
        .legend(line_key(colour.stroke_width(2)));
        c.draw_series(
            line.points
                .iter()
                .map(|&p| Circle::new(p, 3, colour.filled())),
        )?;
    }
    draw_legend(&mut c, SeriesLabelPosition::LowerRight)
}

/// A detector's score over a plane of two features, for [`decision_surface`].
pub struct Surface<'a> {
    /// The x range the grid covers.
    pub x: (f64, f64),
    /// The y range the grid covers.
    pub y: (f64, f64),
    /// Cells per side.
    pub resolution: usize,
    /// One anomaly score per cell, in [`Surface::grid`]'s order.
    pub scores: &'a [f64],
    /// Cells scoring at or above it are flagged; the boundary is drawn in black.
    pub threshold: f64,
    /// Points to show on top (e.g. a sample of test rows).
    pub points: &'a [(f64, f64)],
    /// One label per point: `true` draws it red (anomalous), `false` blue.
    pub labels: &'a [bool],
    /// The axis titles: the two features' names.
    pub axes: [&'a str; 2],
}

impl Surface<'_> {
    /// The cell centres to score, `resolution²` rows of `(x, y)`: row `i * resolution + j` is
    /// column `j` of grid row `i`, counting from the bottom left.
    pub fn grid(x: (f64, f64), y: (f64, f64), resolution: usize) -> ndarray::Array2<f64> {
        let r = resolution.max(1);
        let at = |(lo, hi): (f64, f64), k: usize| lo + (hi - lo) * (k as f64 + 0.5) / r as f64;
        ndarray::Array2::from_shape_fn((r * r, 2), |(row, col)| {
            if col == 0 {
                at(x, row % r)
            } else {
                at(y, row / r)
            }
        })
    }
}

/// Levels of [`decision_surface`]'s colour scale: few enough that a row of cells merges into a
/// handful of rectangles (a 60 × 60 grid stays small as SVG), enough to read the gradient.
const SURFACE_LEVELS: usize = 10;

/// The picture of what an Isolation Forest learned, after scikit-learn's example: its anomaly
/// score over two features as shades (darker = more anomalous), the threshold's boundary in
/// black, and the rows on top. The boundary's right angles are the forest's axis-parallel splits.
pub fn decision_surface<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Surface<'_>,
    title: &str,
) -> Result<(), PlotError> {
    let r = s.resolution;
    if r < 2 || s.scores.len() != r * r {
        return input_err(format!(
            "a {r} x {r} grid needs {} scores, got {}",
            r * r,
            s.scores.len()
        ));
    }
    if s.points.len() != s.labels.len() {
        let (p, l) = (s.points.len(), s.labels.len());
        return input_err(format!("{p} points but {l} labels"));
    }
    let (lo, hi) = finite_range(s.scores.iter().copied(), "scores")?;
    finite_interval("x range", s.x)?;
    finite_interval("y range", s.y)?;
    let level = |v: f64| {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        ((t * SURFACE_LEVELS as f64) as usize).min(SURFACE_LEVELS - 1)
    };
    // From near-white to a dark red: low scores recede, high ones stand out.
    let shade = |k: usize| {
        let t = (k as f64 + 0.5) / SURFACE_LEVELS as f64;
        let mix = |a: f64, b: f64| (a + (b - a) * t) as u8;
        RGBColor(mix(250.0, 165.0), mix(246.0, 15.0), mix(240.0, 21.0))
    };
    area.fill(&WHITE)?;
    let mut c = ChartBuilder::on(area)
        .caption(title, CAPTION_FONT)
        .margin(10)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(s.x.0..s.x.1, s.y.0..s.y.1)?;
    c.configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .label_style(TICK_FONT)
        .axis_desc_style(AXIS_FONT)
        .x_desc(s.axes[0])
        .y_desc(s.axes[1])
        .draw()?;
    let (dx, dy) = ((s.x.1 - s.x.0) / r as f64, (s.y.1 - s.y.0) / r as f64);
    let edge = |(lo, _): (f64, f64), d: f64, k: usize| lo + d * k as f64;
    // Runs of equal shade along each grid row, and a run repeated in the rows above it grows
    // into one taller rectangle: a few hundred elements instead of one per cell.
    let mut open: Vec<(usize, usize, usize, usize)> = Vec::new(); // (from, to, level, first row)
    let mut cells = Vec::new();
    let rect = |(j, end, k, first): (usize, usize, usize, usize), last: usize| {
        Rectangle::new(
            [
                (edge(s.x, dx, j), edge(s.y, dy, first)),
                (edge(s.x, dx, end), edge(s.y, dy, last)),
            ],
            shade(k).filled(),
        )
    };
    for i in 0..r {
        let row = &s.scores[i * r..(i + 1) * r];
        let mut runs = Vec::new();
        let mut j = 0;
        while j < r {
            let k = level(row[j]);
            let end = (j..r).find(|&e| level(row[e]) != k).unwrap_or(r);
            runs.push((j, end, k));
            j = end;
        }
        let mut next = Vec::with_capacity(runs.len());
        for (j, end, k) in runs {
            match open.iter().position(|o| (o.0, o.1, o.2) == (j, end, k)) {
                Some(p) => next.push(open.swap_remove(p)),
                None => next.push((j, end, k, i)),
            }
        }
        cells.extend(open.drain(..).map(|o| rect(o, i)));
        open = next;
    }
    cells.extend(open.drain(..).map(|o| rect(o, r)));
    c.draw_series(cells)?;
    // The boundary: every cell edge between a flagged and an unflagged cell.
    let flagged = |i: usize, j: usize| s.scores[i * r + j] >= s.threshold;
    let mut boundary = Vec::new();
    for i in 0..r {
        for j in 0..r {
            if j + 1 < r && flagged(i, j) != flagged(i, j + 1) {
                let x = edge(s.x, dx, j + 1);
                boundary.push(vec![(x, edge(s.y, dy, i)), (x, edge(s.y, dy, i + 1))]);
            }
            if i + 1 < r && flagged(i, j) != flagged(i + 1, j) {
                let y = edge(s.y, dy, i + 1);
                boundary.push(vec![(edge(s.x, dx, j), y), (edge(s.x, dx, j + 1), y)]);
            }
        }
    }
    let black = BLACK.stroke_width(2);
    c.draw_series(boundary.into_iter().map(|seg| PathElement::new(seg, black)))?
        .label(format!("threshold {:.3}", s.threshold))
        .legend(line_key(black));
    let inside = |&(x, y): &(f64, f64)| x >= s.x.0 && x <= s.x.1 && y >= s.y.0 && y <= s.y.1;
    for (anomalous, colour, name) in [
        (false, PALETTE[0], "normal row"),
        (true, RED, "anomalous row"),
    ] {
        c.draw_series(
            s.points
                .iter()
                .zip(s.labels)
                .filter(|&(p, &l)| l == anomalous && inside(p))
                .map(|(&p, _)| Circle::new(p, 3, colour.filled())),
        )?
        .label(name)
        .legend(move |(x, y)| Circle::new((x, y), 3, colour.filled()));
    }
    draw_legend(&mut c, SeriesLabelPosition::UpperRight)
}

/// Render with `draw` into an SVG file at `path` of the given size in pixels.
pub fn save_svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    let svg = svg_string(size, draw)?;
    let io = |source| PlotError::Io {
        path: path.to_path_buf(),
        cause: source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    crate::files::check_writable(path).map_err(&io)?;
    std::fs::write(path, svg).map_err(io)
}

/// Render into an SVG string (used by notebooks and tests).
pub fn svg_string(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), PlotError>,
) -> Result<String, PlotError> {
    let mut buf = String::new();
    {
        let area = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        draw(&area)?;
        area.present()?;
    }
    for default in SVG_DEFAULTS {
        buf = buf.replace(default, "");
    }
    Ok(buf)
}

/// Attributes plotters writes on every element although they only restate SVG's defaults
/// (full opacity, no stroke, black fill): a fifth of a chart's bytes, and the same picture
/// without them.
const SVG_DEFAULTS: [&str; 3] = [" opacity=\"1\"", " stroke=\"none\"", " fill=\"#000000\""];

/// A rendered chart that displays itself inline in evcxr (the Jupyter Rust kernel):
/// make it the last expression of a cell.
///
/// It displays as an `<img>` whose source is the SVG itself (a `data:` URI) inside an HTML
/// output: JupyterLab strips inline `<svg>` from the HTML of a notebook it does not trust (every
/// notebook freshly cloned from git), and shows images. So the charts appear in JupyterLab,
/// Notebook 7, VS Code, nbviewer and GitHub's renderer alike, with no `jupyter trust`.
///
/// ```
/// use anomaly_kit::plot::{self, Figure};
/// let scores = [0.1, 0.2, 0.9];
/// let fig = Figure::new((400, 300), |area| {
///     plot::score_distribution(area, &scores, None, 0.5, "Scores")
/// })
/// .unwrap();
/// assert_eq!(fig.alt_text(), "Scores"); // the chart's title, unless set with `alt`
/// assert!(fig.html().starts_with("<img alt=\"Scores\""));
/// assert!(fig.html().contains("src=\"data:image/svg+xml,"));
/// ```
pub struct Figure {
    svg: String,
    size: (u32, u32),
    alt: Option<String>,
}

impl Figure {
    /// Render `draw` onto an SVG canvas of `size` pixels.
    pub fn new(
        size: (u32, u32),
        draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), PlotError>,
    ) -> Result<Self, PlotError> {
        Ok(Figure {
            svg: svg_string(size, draw)?,
            size,
            alt: None,
        })
    }

    /// Sets the text a screen reader (or a renderer without images) shows instead of the chart.
    pub fn alt(mut self, text: impl Into<String>) -> Self {
        self.alt = Some(text.into());
        self
    }

    /// The alternative text: what [`Self::alt`] set, else the chart's title (the first text
    /// the kit's charts draw), else "chart".
    pub fn alt_text(&self) -> String {
        if let Some(alt) = &self.alt {
            return alt.clone();
        }
        self.svg
            .split("<text")
            .nth(1)
            .and_then(|t| t.split_once('>'))
            .and_then(|(_, rest)| rest.split_once("</text>"))
            .map(|(title, _)| unescape_xml(title.trim()))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "chart".into())
    }

    /// The SVG markup of the figure.
    pub fn svg(&self) -> &str {
        &self.svg
    }

    /// The figure as an HTML `<img>` whose source is the SVG as a `data:` URI, with alt text.
    pub fn html(&self) -> String {
        format!(
            "<img alt=\"{}\" width=\"{}\" style=\"max-width: 100%; height: auto\" src=\"data:image/svg+xml,{}\">",
            crate::display::escape_html(&self.alt_text()),
            self.size.0,
            svg_data(&self.svg)
        )
    }

    /// Emit the figure as HTML using evcxr's rich-output convention (called by evcxr).
    pub fn evcxr_display(&self) {
        println!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT",
            self.html()
        );
    }
}

/// SVG text for a `data:` URI: double quotes become single ones (valid XML, and the URI sits
/// in a double-quoted attribute), and the characters a URI or HTML could misread are
/// percent-encoded. Smaller than base64 (about a tenth larger than the SVG, not a third).
fn svg_data(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len() + svg.len() / 8);
    for c in svg.chars() {
        match c {
            '"' => out.push('\''),
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '&' => out.push_str("%26"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn render(
        draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), PlotError>,
    ) -> Result<String, PlotError> {
        svg_string((600, 400), draw)
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("feat_{i}")).collect()
    }

    /// Count SVG elements `tag` whose line contains `attr`.
    fn count(svg: &str, tag: &str, attr: &str) -> usize {
        svg.lines()
            .filter(|l| l.starts_with(tag) && l.contains(attr))
            .count()
    }

    /// Every one of `texts` appears in the chart.
    fn assert_has(svg: &str, texts: &[&str]) {
        for text in texts {
            assert!(svg.contains(text), "missing {text}");
        }
    }

    fn assert_input(r: Result<String, PlotError>, needle: &str) {
        match r {
            Err(PlotError::Input(msg)) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
            other => panic!("expected Input error containing {needle:?}, got {other:?}"),
        }
    }

    fn sample() -> (Array2<f64>, Array2<u8>) {
        let v = Array2::from_shape_fn((30, 2), |(i, j)| (i as f64 * 0.4).sin() + j as f64);
        let mut l = Array2::zeros((30, 2));
        for idx in [[4, 0], [17, 1], [18, 1], [18, 0]] {
            l[idx] = 1;
        }
        (v, l)
    }

    #[test]
    fn series_with_anomalies_renders_and_validates() {
        let ((v, l), n) = (sample(), names(2));
        let svg = render(|a| series_with_anomalies(a, &n, v.view(), l.view(), "Demo")).unwrap();
        assert_eq!(count(&svg, "<circle", "fill=\"#FF0000\""), 4);
        assert!(svg.contains("stroke=\"#0000FF\""));
        assert_has(&svg, &["Demo", "feat_0", "feat_1", "minute"]);
        // A single constant row must not panic on its zero-width ranges.
        let (c, one) = (
            Array2::from_elem((1, 1), 3.0),
            Array2::from_elem((1, 1), 1u8),
        );
        let svg = render(|a| series_with_anomalies(a, &n[..1], c.view(), one.view(), "t"));
        assert_eq!(count(&svg.unwrap(), "<circle", "#FF0000"), 1);

        let draw = |n: &[String], v: &Array2<f64>, l: &Array2<u8>| {
            svg_string((300, 200), |a| {
                series_with_anomalies(a, n, v.view(), l.view(), "t")
            })
        };
        assert_input(draw(&n, &v, &Array2::zeros((30, 3))), "shape mismatch");
        assert_input(draw(&names(3), &v, &l), "names has 3");
        assert_input(
            draw(&n, &Array2::zeros((0, 2)), &Array2::zeros((0, 2))),
            "empty",
        );
        let mut bad = v.clone();
        bad[[7, 1]] = f64::NAN;
        assert_input(draw(&n, &bad, &l), "feat_1");
    }

    #[test]
    fn label_matrix_renders_and_validates() {
        let ((_, l), n) = (sample(), names(2));
        let svg = render(|a| label_matrix(a, &n, l.view(), "Labels")).unwrap();
        // runs of flagged rows: feat_0 at 4 and 18, feat_1 at 17-18, any feature at 4 and 17-18
        assert_eq!(count(&svg, "<rect", "fill=\"#FF0000\""), 5);
        assert_has(&svg, &["Labels", "feat_0", "feat_1", "anomaly (row)"]);
        assert_input(render(|a| label_matrix(a, &n[..1], l.view(), "t")), "names");
        let e = Array2::<u8>::zeros((0, 2));
        assert_input(render(|a| label_matrix(a, &n, e.view(), "t")), "empty");
    }

    #[test]
    fn label_matrix_draws_runs_of_pixels_not_cells() {
        let l = Array2::from_shape_fn((10_000, 5), |(i, j)| u8::from((i * 7 + j * 13) % 20 == 0));
        let cells = l.iter().filter(|&&x| x == 1).count();
        let rows = l
            .rows()
            .into_iter()
            .filter(|r| r.iter().any(|&x| x == 1))
            .count();
        let n = names(5);
        let svg = render(|a| label_matrix(a, &n, l.view(), "big")).unwrap();
        assert_eq!((cells, rows), (2500, 2500));
        let marks = count(&svg, "<rect", "#FF0000");
        assert!(
            marks > 0 && marks < cells / 2,
            "{marks} marks for {cells} cells"
        );
        assert!(svg.len() < 100_000, "{} bytes", svg.len());
    }

    #[test]
    fn score_distribution_renders_and_validates() {
        let s: Vec<f64> = (0..100)
            .map(|i| (i % 10) as f64 * 0.1 + f64::from(i % 7 == 0))
            .collect();
        let f: Vec<bool> = (0..100).map(|i| i % 7 == 0).collect();
        let svg = render(|a| score_distribution(a, &s, Some(&f), 0.95, "Scores")).unwrap();
        assert_has(
            &svg,
            &[
                "Scores",
                "normal",
                "anomalous",
                "threshold",
                "count",
                "opacity=\"0.5\"",
            ],
        );
        assert!(count(&svg, "<rect", "fill=\"#FF0000\"") > 0);
        let svg = render(|a| score_distribution(a, &s, None, 0.5, "One")).unwrap();
        assert!(svg.contains("threshold") && !svg.contains("anomalous"));
        assert_eq!(count(&svg, "<rect", "fill=\"#FF0000\""), 0);
        let flat = [2.0; 5];
        assert!(render(|a| score_distribution(a, &flat, None, 2.0, "f")).is_ok());

        let draw = |s: &[f64], f: Option<&[bool]>, t: f64| {
            svg_string((300, 200), |a| score_distribution(a, s, f, t, "t"))
        };
        assert_input(draw(&[], None, 0.5), "empty");
        assert_input(draw(&s, Some(&f[..10]), 0.5), "is_anomaly has 10");
        assert_input(draw(&[0.1, f64::INFINITY], None, 0.5), "non-finite");
        assert_input(draw(&s, None, f64::NAN), "threshold");
        assert_input(draw(&[-1e308, 1e308], None, 0.0), "too wide");
    }

    #[test]
    fn roc_and_pr_curves_render_and_validate() {
        let roc = [(0.0, 0.0), (0.25, 0.5), (0.5, 1.0), (1.0, 1.0)];
        let svg = render(|a| roc_curve(a, &roc, 0.75, "ROC")).unwrap();
        assert!(svg.contains("AUC = 0.750") && svg.contains("false positive rate"));
        let pr = [(0.0, 1.0), (0.5, 0.8), (1.0, 0.2)];
        let svg = render(|a| pr_curve(a, &pr, 0.9123, 0.2, "PR")).unwrap();
        assert!(svg.contains("AP = 0.912") && svg.contains("chance = 0.200"));

        assert_input(render(|a| roc_curve(a, &[], 0.5, "t")), "no points");
        let out = [(0.0, 0.0), (1.5, 1.0)];
        assert_input(render(|a| roc_curve(a, &out, 0.5, "t")), "point 1");
        let nan = [(f64::NAN, 0.5)];
        assert_input(render(|a| pr_curve(a, &nan, 0.5, 0.1, "t")), "point 0");
        assert_input(render(|a| pr_curve(a, &pr, 0.5, 2.0, "t")), "base_rate");
    }

    #[test]
    fn save_svg_and_figure() {
        let pts = [(0.0, 0.0), (1.0, 1.0)];
        let dir = std::env::temp_dir().join(format!("anomaly_kit_plot_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("roc.svg");
        save_svg(&path, (300, 300), |a| roc_curve(a, &pts, 0.5, "t")).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("AUC = 0.500")
        );
        // missing folders are created; a path under a file cannot be
        save_svg(&dir.join("new/x.svg"), (300, 300), |a| {
            roc_curve(a, &pts, 0.5, "t")
        })
        .unwrap();
        let err = save_svg(&path.join("x.svg"), (300, 300), |a| {
            roc_curve(a, &pts, 0.5, "t")
        });
        assert!(matches!(err, Err(PlotError::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
        let fig = Figure::new((300, 300), |a| roc_curve(a, &pts, 0.5, "t")).unwrap();
        assert!(fig.svg().starts_with("<svg") && fig.svg().contains("</svg>"));
    }

    #[test]
    fn thinning_keeps_every_spike() {
        let mut v: Vec<f64> = (0..20_000).map(|i| (i as f64 / 300.0).sin()).collect();
        v[12_345] = 9.0;
        v[777] = -9.0;
        let thin = thin(&v, 400);
        assert!(thin.len() <= 800);
        assert!(thin.contains(&(12_345.0, 9.0)) && thin.contains(&(777.0, -9.0)));
        assert!(thin.windows(2).all(|w| w[0].0 < w[1].0), "in order");
        assert_eq!(super::thin(&[1.0, 2.0], 400).len(), 2);
    }

    #[test]
    fn score_timeline_marks_hits_alarms_and_misses() {
        let values: Vec<f64> = (0..500).map(|i| (i as f64 / 20.0).sin()).collect();
        let scores: Vec<f64> = (0..500)
            .map(|i| if i == 300 || i == 420 { 0.99 } else { 0.1 })
            .collect();
        let t = Timeline {
            values: &values,
            value_desc: "requests",
            scores: &scores,
            threshold: 0.9,
            windows: &[(290, 310), (100, 120)],
            probation: 75,
            true_positives: &[300],
            false_positives: &[420],
            missed: &[1],
        };
        let svg = render(|a| score_timeline(a, &t, "NAB file")).unwrap();
        assert_has(
            &svg,
            &[
                "NAB file",
                "requests",
                "threshold 0.9000",
                "window missed",
                "false alarm",
                "anomaly score",
            ],
        );
        let bad = Timeline {
            scores: &scores[..10],
            ..t
        };
        assert_input(
            render(|a| score_timeline(a, &bad, "x")),
            "500 values and 10 scores",
        );
    }

    #[test]
    fn curves_compare_detectors_with_operating_points_and_a_zoom() {
        let good: Vec<(f64, f64)> = (0..=100)
            .map(|i| (i as f64 / 100.0, (i as f64 / 100.0).powf(0.05)))
            .collect();
        let poor: Vec<(f64, f64)> = (0..=100)
            .map(|i| (i as f64 / 100.0, (i as f64 / 100.0).sqrt()))
            .collect();
        let list = [
            Curve {
                name: "improved (AUC 0.99)".into(),
                points: &good,
                operating_point: Some((0.01, 0.95)),
            },
            Curve {
                name: "tutorial (AUC 0.80)".into(),
                points: &poor,
                operating_point: Some((0.3, 0.55)),
            },
        ];
        let svg = render(|a| curves(a, CurveKind::Roc, &list, "ROC")).unwrap();
        assert_has(
            &svg,
            &[
                "improved (AUC 0.99)",
                "tutorial (AUC 0.80)",
                "chance",
                "zoomed into the corner",
                "false positive rate",
            ],
        );
        // both operating points on the main axes, only the good one inside the zoom
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_input(
            render(|a| curves(a, CurveKind::PrecisionRecall, &[], "x")),
            "no curves",
        );
        let bad = [Curve {
            name: "bad".into(),
            points: &[(0.0, 1.5)],
            operating_point: None,
        }];
        assert_input(render(|a| curves(a, CurveKind::Roc, &bad, "x")), "bad");
    }

    #[test]
    fn clipping_keeps_only_what_is_inside_the_window() {
        let runs = clip_polyline(&[(0.0, 0.0), (1.0, 1.0)], (0.0, 0.1), (0.9, 1.0));
        assert!(runs.is_empty(), "{runs:?}");
        let runs = clip_polyline(
            &[(0.0, 0.5), (0.05, 0.95), (0.2, 1.0)],
            (0.0, 0.1),
            (0.9, 1.0),
        );
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert!((run[0].1 - 0.9).abs() < 1e-12 && (run[0].0 - 0.04444444444444444).abs() < 1e-12);
        assert!((run.last().unwrap().0 - 0.1).abs() < 1e-12);
        assert!(run.iter().all(|&(x, y)| (0.0..=0.1 + 1e-12).contains(&x) && (0.9 - 1e-12..=1.0).contains(&y)));
    }

    #[test]
    fn value_ticks_are_compact() {
        let cases = [
            (200.0, "200"),
            (8_000_000.0, "8M"),
            (12_500.0, "12.5k"),
            (0.25, "0.25"),
            (-0.0, "0"),
            (-3.5e9, "-3.5G"),
            (1e-4, "0"),
        ];
        for (v, want) in cases {
            assert_eq!(value_tick(&v), want, "{v}");
        }
    }

    #[test]
    fn row_events_split_runs_into_hits_alarms_and_misses() {
        // runs: 1..=2 (found at 2), 4..=4 (missed), 6..=7 (found at 6, 7 not a second hit),
        // 9 (missed: the last run, with no row after it); rows 3 and 8 are false alarms
        let truth = [
            false, true, true, false, true, false, true, true, false, true,
        ];
        let flags = [
            false, false, true, true, false, false, true, true, true, false,
        ];
        let e = RowEvents::new(&flags, &truth).unwrap();
        assert_eq!(e.windows, vec![(1, 2), (4, 4), (6, 7), (9, 9)]);
        assert_eq!(e.true_positives, vec![2, 6]);
        assert_eq!(e.false_positives, vec![3, 8]);
        assert_eq!(e.missed, vec![1, 3]);
        let clean = RowEvents::new(&[false; 3], &[false; 3]).unwrap();
        assert_eq!(clean, RowEvents::default());
        match RowEvents::new(&flags[..4], &truth) {
            Err(PlotError::Input(m)) => assert_eq!(m, "4 flags but 10 labels"),
            other => panic!("{other:?}"),
        }
        let scores = vec![0.5; truth.len()];
        let values = vec![1.0; truth.len()];
        let svg =
            render(|a| score_timeline(a, &e.timeline(&values, &scores, 0.6, 2), "rows")).unwrap();
        assert!(svg.contains("window missed"));
    }

    #[test]
    fn line_chart_draws_every_point_and_the_marker() {
        let a = [(3.0, 0.5), (15.0, 0.9), (45.0, 0.8)];
        let b = [(3.0, 0.4), (15.0, 0.7)];
        let lines = [
            Line {
                name: "F1".into(),
                points: &a,
            },
            Line {
                name: "recall".into(),
                points: &b,
            },
        ];
        let chart = LineChart {
            x_desc: "window",
            y_desc: "metric",
            lines: &lines,
            y_range: Some((0.0, 1.0)),
            marker: Some((15.0, "default window".into())),
            integer_x: true,
        };
        let svg = render(|area| line_chart(area, &chart, "Window sweep")).unwrap();
        assert_has(
            &svg,
            &[
                "Window sweep",
                "default window",
                "F1",
                "recall",
                "window",
                "metric",
            ],
        );
        // one dot per point; the legend keys are lines
        assert_eq!(svg.matches("<circle").count(), 5);
        assert!(!svg.contains("15.0<"), "integer ticks only");
        let nan = [(1.0, f64::NAN)];
        let bad = LineChart {
            lines: &[Line {
                name: "x".into(),
                points: &nan,
            }],
            ..chart
        };
        assert_input(
            render(|area| line_chart(area, &bad, "t")),
            "y values: non-finite value NaN",
        );
        let flipped = LineChart {
            lines: &lines,
            y_range: Some((1.0, 0.0)),
            marker: None,
            ..bad
        };
        assert_input(
            render(|area| line_chart(area, &flipped, "t")),
            "not a finite interval",
        );
    }

    #[test]
    fn decision_surface_shades_merged_cells_and_draws_the_boundary() {
        let r = 60;
        let grid = Surface::grid((-1.0, 1.0), (-1.0, 1.0), r);
        assert_eq!(grid.dim(), (r * r, 2));
        assert!((grid[[0, 0]] + 1.0 - 1.0 / r as f64).abs() < 1e-12 && grid[[r, 1]] > grid[[0, 1]]);
        // a plus-shaped score: high when either coordinate is far from 0
        let scores: Vec<f64> = grid
            .rows()
            .into_iter()
            .map(|p| p[0].abs().max(p[1].abs()))
            .collect();
        let points = [(0.0, 0.0), (0.9, 0.0), (5.0, 5.0)];
        let labels = [false, true, true];
        let surface = Surface {
            x: (-1.0, 1.0),
            y: (-1.0, 1.0),
            resolution: r,
            scores: &scores,
            threshold: 0.5,
            points: &points,
            labels: &labels,
            axes: ["residual 1", "residual 2"],
        };
        let svg = render(|a| decision_surface(a, &surface, "Surface")).unwrap();
        // runs of equal shade merge: far fewer rectangles than the 3,600 cells
        let rects = svg.matches("<rect").count();
        assert!(rects < r * 12, "{rects} rectangles");
        assert!(svg.contains("threshold 0.500") && svg.contains("anomalous row"));
        // the boundary is a square of side 1: 4 sides of 30 cell edges each
        assert_eq!(
            svg.matches("stroke-width=\"2\"").count() - 1,
            4 * 30,
            "boundary segments (legend key excluded)"
        );
        // the point outside the plotted range is not drawn (plotters would pin it to the frame)
        assert_eq!(svg.matches("<circle").count(), 2 + 2);
        let short = Surface {
            scores: &scores[..10],
            ..surface
        };
        assert_input(
            render(|a| decision_surface(a, &short, "t")),
            "a 60 x 60 grid needs 3600 scores, got 10",
        );
    }
}
