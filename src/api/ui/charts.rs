//! Chart geometry for the reports page: horizontal bars, one row per label, drawn as inline
//! SVG by a template (`templates/ui/chart.html`, escaped like every page). Pure: values in,
//! coordinates out, so scaling, empty data and huge values are tested with tables. Each row
//! may carry a marker (a limit or a target) and is marked `over` when its value passes it,
//! which the page says in words as well (colour is never the only signal).

/// The drawing is this wide (SVG user units); CSS scales it to the page.
pub const WIDTH: f64 = 360.0;
/// Where bars start: the labels sit left of it.
pub const BAR_X: f64 = 104.0;
/// The longest bar, so the value text after it still fits.
pub const BAR_MAX: f64 = 140.0;
const ROW: f64 = 24.0;
const BAR_H: f64 = 14.0;
const TOP: f64 = 4.0;
/// Longest label drawn (the table beside the chart has the whole name).
const LABEL_CHARS: usize = 14;

/// One row as given: what it is, its value, its marker, and the text that says the value.
#[derive(Debug, Clone, PartialEq)]
pub struct BarInput {
    pub label: String,
    pub value: f64,
    pub marker: Option<f64>,
    pub text: String,
}

/// One row as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct BarRow {
    pub label: String,
    /// Top of the bar.
    pub y: f64,
    /// Baseline of the row's texts.
    pub text_y: f64,
    pub width: f64,
    /// Where the value text starts.
    pub text_x: f64,
    pub text: String,
    /// The marker's x and its line's top and bottom.
    pub marker_x: Option<f64>,
    pub marker_top: f64,
    pub marker_bottom: f64,
    /// The value is above the marker.
    pub over: bool,
}

/// A whole chart: its size, its rows, and the words for screen readers.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Unique on the page (it names the `<title>` and `<desc>` elements).
    pub id: &'static str,
    pub title: String,
    pub desc: String,
    pub width: f64,
    pub height: f64,
    pub bar_h: f64,
    pub bar_x: f64,
    pub label_x: f64,
    pub rows: Vec<BarRow>,
}

/// A number fit to draw: not negative, not NaN or infinite.
fn clean(v: f64) -> f64 {
    if v.is_finite() { v.max(0.0) } else { 0.0 }
}

/// One decimal place: short attributes, no float noise.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The label as drawn: at most [`LABEL_CHARS`] characters, cut with an ellipsis.
pub fn short_label(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_string()
    } else {
        let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// The chart of `rows`, all on one scale: the largest value or marker fills [`BAR_MAX`]. A
/// value above zero is at least one unit wide, so it never looks like nothing.
pub fn bar_chart(
    id: &'static str,
    title: impl Into<String>,
    desc: impl Into<String>,
    rows: &[BarInput],
) -> BarChart {
    let max = rows
        .iter()
        .flat_map(|r| [clean(r.value), r.marker.map_or(0.0, clean)])
        .fold(0.0, f64::max);
    let scale = |v: f64| {
        if max > 0.0 {
            (clean(v) / max * BAR_MAX).min(BAR_MAX)
        } else {
            0.0
        }
    };
    let drawn = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let y = TOP + i as f64 * ROW;
            let mut width = scale(r.value);
            if clean(r.value) > 0.0 {
                width = width.max(1.0);
            }
            let marker = r.marker.map(clean);
            BarRow {
                label: short_label(&r.label),
                y: round(y),
                text_y: round(y + BAR_H - 3.0),
                width: round(width),
                text_x: round(BAR_X + width + 4.0),
                text: r.text.clone(),
                marker_x: marker.map(|m| round(BAR_X + scale(m))),
                marker_top: round(y - 3.0),
                marker_bottom: round(y + BAR_H + 3.0),
                over: marker.is_some_and(|m| clean(r.value) > m),
            }
        })
        .collect::<Vec<_>>();
    BarChart {
        id,
        title: title.into(),
        desc: desc.into(),
        width: WIDTH,
        height: round(TOP * 2.0 + drawn.len() as f64 * ROW),
        bar_h: BAR_H,
        bar_x: BAR_X,
        label_x: 0.0,
        rows: drawn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, value: f64, marker: Option<f64>) -> BarInput {
        BarInput {
            label: label.into(),
            value,
            marker,
            text: format!("{value}"),
        }
    }

    fn widths(c: &BarChart) -> Vec<f64> {
        c.rows.iter().map(|r| r.width).collect()
    }

    #[test]
    fn bars_share_one_scale_the_largest_filling_the_width() {
        let table: Vec<(Vec<BarInput>, Vec<f64>)> = vec![
            // The largest value fills the bar area; the others in proportion.
            (
                vec![
                    row("a", 10.0, None),
                    row("b", 5.0, None),
                    row("c", 0.0, None),
                ],
                vec![BAR_MAX, BAR_MAX / 2.0, 0.0],
            ),
            // A marker above every value sets the scale.
            (
                vec![row("a", 2.0, Some(4.0)), row("b", 1.0, Some(4.0))],
                vec![BAR_MAX / 2.0, BAR_MAX / 4.0],
            ),
            // Zero data: no bars, no division by zero.
            (
                vec![row("a", 0.0, None), row("b", 0.0, Some(0.0))],
                vec![0.0, 0.0],
            ),
            // One person.
            (vec![row("solo", 3.0, None)], vec![BAR_MAX]),
            // Huge values beside small ones: the small stays visible (one unit at least).
            (
                vec![row("a", 1e12, None), row("b", 1.0, None)],
                vec![BAR_MAX, 1.0],
            ),
            // Nonsense values draw as nothing.
            (
                vec![
                    row("a", f64::NAN, None),
                    row("b", -5.0, None),
                    row("c", f64::INFINITY, None),
                    row("d", 2.0, None),
                ],
                vec![0.0, 0.0, 0.0, BAR_MAX],
            ),
        ];
        for (rows, want) in table {
            let c = bar_chart("c", "t", "d", &rows);
            assert_eq!(widths(&c), want, "{rows:?}");
            for r in &c.rows {
                assert!(r.width <= BAR_MAX && r.text_x <= BAR_X + BAR_MAX + 4.0);
            }
        }
    }

    #[test]
    fn markers_are_placed_on_the_scale_and_flag_the_rows_past_them() {
        let c = bar_chart(
            "weeks",
            "t",
            "d",
            &[
                row("ann", 6.0, Some(4.0)),
                row("bob", 4.0, Some(4.0)),
                row("cid", 1.0, None),
            ],
        );
        let marks: Vec<Option<f64>> = c.rows.iter().map(|r| r.marker_x).collect();
        let at_four = round(BAR_X + BAR_MAX * 4.0 / 6.0);
        assert_eq!(marks, [Some(at_four), Some(at_four), None]);
        let over: Vec<bool> = c.rows.iter().map(|r| r.over).collect();
        assert_eq!(over, [true, false, false], "at the limit is not over it");
    }

    #[test]
    fn rows_stack_and_the_height_fits_them() {
        let empty = bar_chart("c", "t", "d", &[]);
        assert!(empty.rows.is_empty());
        assert_eq!(empty.height, 2.0 * TOP);
        let c = bar_chart("c", "t", "d", &[row("a", 1.0, None), row("b", 2.0, None)]);
        assert_eq!(c.rows[0].y, TOP);
        assert_eq!(c.rows[1].y, TOP + ROW);
        assert!(c.height >= c.rows[1].y + BAR_H);
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis_by_characters() {
        for (label, want) in [
            ("ann", "ann"),
            ("fourteen-chars", "fourteen-chars"),
            ("a-very-long-person-name", "a-very-long-p…"),
            ("ééééééééééééééé", "ééééééééééééé…"),
        ] {
            assert_eq!(short_label(label), want);
        }
    }
}
