//! Tables for people: polars DataFrames as HTML tables in evcxr notebooks (the Jupyter Rust
//! kernel), and [`TextTable`] for terminals and Markdown.
//!
//! evcxr shows a value through its `Debug` text unless the value's type has an
//! `evcxr_display(&self)` method, which prints the content between `EVCXR_BEGIN_CONTENT <mime>`
//! and `EVCXR_END_CONTENT` lines. A polars `DataFrame` has no such method, so a notebook wraps it:
//! make `html_table(&df)` the last expression of a cell and the frame shows as an HTML table,
//! its shape and column types included, with long frames cut to their first and last rows as
//! polars' own text display does. Charts display through [`crate::plot::Figure`].
//!
//! Tables need the `polars` feature (the notebooks and the CLI turn it on).
//!
//! ```
//! # #[cfg(feature = "polars")]
//! # fn main() -> Result<(), anomaly_kit::polars::prelude::PolarsError> {
//! use anomaly_kit::display::html_table;
//! use anomaly_kit::polars::prelude::*;
//! let df = df!("recipe" => ["tutorial", "improved"], "f1" => [0.474, 0.998])?;
//! let html = html_table(&df).to_html();
//! assert!(html.contains("<td>tutorial</td><td>0.474</td>"));
//! assert!(html.contains("shape: (2, 2)"));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "polars"))]
//! # fn main() {}
//! ```

#[cfg(feature = "polars")]
use polars::prelude::{AnyValue, DataFrame};

#[cfg(feature = "polars")]
/// Rows shown by default: the first and last half of this many, as polars' text display.
pub const DEFAULT_MAX_ROWS: usize = 10;

#[cfg(feature = "polars")]
/// A DataFrame that displays as an HTML table in evcxr. Build it with [`html_table`] or
/// [`HtmlTable::new`], optionally set [`HtmlTable::max_rows`] and [`HtmlTable::caption`].
#[derive(Clone, Debug)]
pub struct HtmlTable {
    frame: DataFrame,
    max_rows: usize,
    caption: Option<String>,
}

#[cfg(feature = "polars")]
/// Wraps a copy of `df` for display (polars frames share their buffers, so the copy is cheap).
pub fn html_table(df: &DataFrame) -> HtmlTable {
    HtmlTable::new(df.clone())
}

#[cfg(feature = "polars")]
impl From<DataFrame> for HtmlTable {
    fn from(frame: DataFrame) -> Self {
        Self::new(frame)
    }
}

#[cfg(feature = "polars")]
impl HtmlTable {
    /// Wraps `frame`, showing at most [`DEFAULT_MAX_ROWS`] rows and no caption.
    pub fn new(frame: DataFrame) -> Self {
        Self {
            frame,
            max_rows: DEFAULT_MAX_ROWS,
            caption: None,
        }
    }

    /// Show at most `n` rows (the first `ceil(n/2)` and the last `floor(n/2)`, with a row of
    /// ellipses between); frames with at most `n` rows are shown whole. `n = 0` shows every row.
    pub fn max_rows(mut self, n: usize) -> Self {
        self.max_rows = n;
        self
    }

    /// A caption above the table (escaped, so any text is safe).
    pub fn caption(mut self, text: impl Into<String>) -> Self {
        self.caption = Some(text.into());
        self
    }

    /// The wrapped frame.
    pub fn frame(&self) -> &DataFrame {
        &self.frame
    }

    /// Indices of the rows shown, `None` marking the elided middle.
    fn shown_rows(&self) -> Vec<Option<usize>> {
        let n = self.frame.height();
        if self.max_rows == 0 || n <= self.max_rows {
            return (0..n).map(Some).collect();
        }
        let head = self.max_rows.div_ceil(2);
        let tail = self.max_rows / 2;
        (0..head)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((n - tail..n).map(Some))
            .collect()
    }

    /// The table as an HTML fragment: a `<table>` whose caption gives the shape, a header of
    /// column names over their types, and one row per shown row. All text is escaped.
    pub fn to_html(&self) -> String {
        let columns = self.frame.columns();
        let mut html = String::from("<table class=\"anomaly-kit-frame\">\n<caption>");
        if let Some(c) = &self.caption {
            html.push_str(&escape_html(c));
            html.push_str(" &mdash; ");
        }
        html.push_str(&format!(
            "shape: ({}, {})</caption>\n<thead><tr>",
            self.frame.height(),
            self.frame.width()
        ));
        for c in columns {
            html.push_str(&format!(
                "<th>{}<br><small>{}</small></th>",
                escape_html(c.name()),
                escape_html(&c.dtype().to_string())
            ));
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        for row in self.shown_rows() {
            html.push_str("<tr>");
            for c in columns {
                let text = match row {
                    Some(i) => c.get(i).map(|v| cell_text(&v)).unwrap_or_default(),
                    None => "\u{2026}".to_string(),
                };
                html.push_str("<td>");
                html.push_str(&escape_html(&text));
                html.push_str("</td>");
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</tbody>\n</table>");
        html
    }

    /// Prints the table with evcxr's rich-output markers (evcxr calls this for a cell's value).
    pub fn evcxr_display(&self) {
        println!("{}", self.evcxr_content());
    }

    fn evcxr_content(&self) -> String {
        format!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT",
            self.to_html()
        )
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A float as a table shows it: up to six decimals without trailing zeros (`0.474`, `1.0`,
/// `13.527364`), scientific notation for very large or very small magnitudes.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-5..1e15).contains(&a) {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0');
    let s = if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    };
    if s == "-0.0" { "0.0".into() } else { s }
}

/// A plain-text table for terminals and Markdown files: the CLI's reports print through it.
///
/// ```
/// use anomaly_kit::display::TextTable;
/// let mut t = TextTable::new(["recipe", "f1"]);
/// t.push(["tutorial", "0.474"]);
/// t.push(["improved", "0.998"]);
/// assert_eq!(t.aligned(), "recipe    f1\ntutorial  0.474\nimproved  0.998\n");
/// assert!(t.markdown().starts_with("| recipe | f1 |\n|---|---|\n| tutorial | 0.474 |"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl TextTable {
    /// A table with these column names and no rows.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (cells beyond the header are kept; missing cells print empty).
    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    fn cell(&self, row: &[String], i: usize) -> String {
        row.get(i).cloned().unwrap_or_default()
    }

    /// Columns padded to their widest cell, two spaces apart, one line per row.
    pub fn aligned(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| self.cell(r, i).chars().count())
                    .chain([self.header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<String>| {
            let text: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("{}\n", text.join("  ").trim_end())
        };
        let mut out = line(self.header.clone());
        for r in &self.rows {
            out += &line((0..self.header.len()).map(|i| self.cell(r, i)).collect());
        }
        out
    }

    /// A GitHub-flavoured Markdown table.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "| {} |\n|{}\n",
            self.header.join(" | "),
            "---|".repeat(self.header.len())
        );
        for r in &self.rows {
            let cells: Vec<String> = (0..self.header.len()).map(|i| self.cell(r, i)).collect();
            out += &format!("| {} |\n", cells.join(" | "));
        }
        out
    }
}

#[cfg(feature = "polars")]
/// The text of one cell: strings without quotes, floats by [`format_float`], `null` for nulls.
fn cell_text(v: &AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => "null".into(),
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Float64(x) => format_float(*x),
        AnyValue::Float32(x) => format_float(f64::from(*x)),
        other => other.to_string(),
    }
}

#[cfg(feature = "polars")]
#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn rows_of(html: &str) -> Vec<&str> {
        html.lines().filter(|l| l.starts_with("<tr><td>")).collect()
    }

    #[test]
    fn escapes_markup_in_names_values_and_captions() {
        let df = df!("a<b" => ["x & y", "\"quoted\" 'single'"]).unwrap();
        let html = html_table(&df).caption("<script>").to_html();
        assert!(html.contains("<th>a&lt;b<br>"), "{html}");
        assert!(html.contains("<td>x &amp; y</td>"), "{html}");
        assert!(
            html.contains("<td>&quot;quoted&quot; &#39;single&#39;</td>"),
            "{html}"
        );
        assert!(html.contains("<caption>&lt;script&gt; &mdash; shape: (2, 1)"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn shows_the_shape_types_and_every_row_of_a_small_frame() {
        let df = df!(
            "name" => ["a", "b", "c"],
            "n" => [1i64, 2, 3],
            "x" => [0.5, 1.0, 13.5273641],
            "ok" => [true, false, true]
        )
        .unwrap();
        let html = html_table(&df).to_html();
        assert!(html.contains("<caption>shape: (3, 4)</caption>"));
        assert!(html.contains("<th>name<br><small>str</small></th>"));
        assert!(html.contains("<th>n<br><small>i64</small></th>"));
        assert!(html.contains("<th>x<br><small>f64</small></th>"));
        assert_eq!(
            rows_of(&html),
            [
                "<tr><td>a</td><td>1</td><td>0.5</td><td>true</td></tr>",
                "<tr><td>b</td><td>2</td><td>1.0</td><td>false</td></tr>",
                "<tr><td>c</td><td>3</td><td>13.527364</td><td>true</td></tr>",
            ]
        );
        assert_eq!(
            html.matches("<tr>").count(),
            4,
            "one header row, three rows"
        );
    }

    #[test]
    fn long_frames_show_head_and_tail_around_an_ellipsis_row() {
        let df = df!("i" => (0..25i64).collect::<Vec<_>>()).unwrap();
        let html = html_table(&df).max_rows(5).to_html();
        let rows = rows_of(&html);
        let cells: Vec<&str> = rows
            .iter()
            .map(|r| {
                r.trim_start_matches("<tr><td>")
                    .trim_end_matches("</td></tr>")
            })
            .collect();
        assert_eq!(cells, ["0", "1", "2", "\u{2026}", "23", "24"]);
        assert!(
            html.contains("shape: (25, 1)"),
            "the shape counts every row"
        );
        let all = html_table(&df).max_rows(0).to_html();
        assert_eq!(rows_of(&all).len(), 25);
        let default = html_table(&df).to_html();
        assert_eq!(rows_of(&default).len(), DEFAULT_MAX_ROWS + 1);
    }

    #[test]
    fn nulls_datetimes_and_empty_frames() {
        let s =
            Series::new("t".into(), [Some(0i64), None]).into_datetime(TimeUnit::Milliseconds, None);
        let df = DataFrame::new(2, vec![s.into()]).unwrap();
        let html = html_table(&df).to_html();
        assert!(html.contains("<td>1970-01-01 00:00:00</td>"), "{html}");
        assert!(html.contains("<td>null</td>"), "{html}");
        let empty = DataFrame::empty();
        let html = html_table(&empty).to_html();
        assert!(html.contains("shape: (0, 0)"));
        assert!(rows_of(&html).is_empty());
    }

    #[test]
    fn floats_are_short_and_exact_enough() {
        assert_eq!(format_float(0.474), "0.474");
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(-0.0), "0.0");
        assert_eq!(format_float(-2.5), "-2.5");
        assert_eq!(format_float(2247.0), "2247.0");
        assert_eq!(format_float(1e-7), "1e-7");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn evcxr_markers_wrap_the_html() {
        let df = df!("a" => [1i32]).unwrap();
        let t = html_table(&df);
        let shown = t.evcxr_content();
        assert!(shown.starts_with("EVCXR_BEGIN_CONTENT text/html\n<table"));
        assert!(shown.ends_with("</table>\nEVCXR_END_CONTENT"));
        assert_eq!(t.frame().shape(), (1, 1));
    }
}
