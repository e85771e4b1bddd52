//! Charts drawn as SVG on the server: no chart library, no script, nothing
//! to vendor. Colours come from the style sheet's classes (the CSP admits
//! no inline style); each chart has a text alternative (its `<title>` and
//! the figures beside it).

use chrono::{DateTime, Utc};
use maud::{Markup, html};

/// One bar: its label, its value, the value as written, its colour class.
pub struct Bar {
    /// What the bar counts.
    pub label: String,
    /// Its length, in the chart's unit.
    pub value: f64,
    /// The value as people read it.
    pub shown: String,
    /// The style sheet class that colours it (`bar`, `bar-high`, …).
    pub class: &'static str,
}

/// The drawing widths, in SVG units: about the pixels each chart gets on a
/// wide screen, so that its 12-unit text reads as 12 pixels there.
const NARROW: f64 = 340.0;
const WIDE: f64 = 1000.0;

/// Horizontal bars, one row each, scaled to the largest magnitude (negative
/// values extend left of a zero line).
pub fn bars(title: &str, rows: &[Bar]) -> Markup {
    const WIDTH: f64 = NARROW;
    let row = 30.0;
    let label_width = 112.0;
    let value_width = 52.0;
    let plot = WIDTH - label_width - value_width;
    let height = row * rows.len().max(1) as f64 + 6.0;
    let has_negative = rows.iter().any(|r| r.value < 0.0);
    let largest = rows.iter().map(|r| r.value.abs()).fold(0.0, f64::max);
    let scale = if largest > 0.0 { plot / largest } else { 0.0 };
    let zero = if has_negative {
        label_width + plot / 2.0
    } else {
        label_width
    };
    let scale = if has_negative { scale / 2.0 } else { scale };
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(title) {
                title { (title) }
                @for (i, bar) in rows.iter().enumerate() {
                    @let y = i as f64 * row + 4.0;
                    @let length = (bar.value.abs() * scale).max(if bar.value != 0.0 { 1.0 } else { 0.0 });
                    @let x = if bar.value < 0.0 { zero - length } else { zero };
                    text x=(label_width - 8.0) y=(y + 16.0) text-anchor="end" { (bar.label) }
                    rect class=(bar.class) x=(fmt(x)) y=(y + 3.0) width=(fmt(length)) height="18" rx="3" {}
                    text x=(WIDTH - 4.0) y=(y + 16.0) text-anchor="end" { (bar.shown) }
                }
                line.axis x1=(zero) x2=(zero) y1="0" y2=(height) {}
            }
        }
    }
}

/// Vertical columns (a histogram), with their labels under them.
pub fn columns(title: &str, rows: &[Bar]) -> Markup {
    const WIDTH: f64 = NARROW;
    let height = 220.0;
    let bottom = 190.0;
    let top = 20.0;
    let left = 8.0;
    let step = (WIDTH - left * 2.0) / rows.len().max(1) as f64;
    let largest = rows.iter().map(|r| r.value).fold(0.0, f64::max);
    let scale = if largest > 0.0 {
        (bottom - top) / largest
    } else {
        0.0
    };
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(title) {
                title { (title) }
                @for (i, bar) in rows.iter().enumerate() {
                    @let tall = (bar.value * scale).max(if bar.value > 0.0 { 1.0 } else { 0.0 });
                    @let x = left + i as f64 * step;
                    rect class=(bar.class) x=(fmt(x + 3.0)) y=(fmt(bottom - tall)) width=(fmt(step - 6.0)) height=(fmt(tall)) rx="2" {}
                    text x=(fmt(x + step / 2.0)) y=(fmt(bottom - tall - 4.0)) text-anchor="middle" { (bar.shown) }
                    text x=(fmt(x + step / 2.0)) y=(bottom + 18.0) text-anchor="middle" { (bar.label) }
                }
                line.axis x1=(left) x2=(WIDTH - left) y1=(bottom) y2=(bottom) {}
            }
        }
    }
}

/// A line of ratios (0 to the largest, at least 10%) over days.
pub fn trend(title: &str, points: &[(String, f64)]) -> Markup {
    const WIDTH: f64 = WIDE;
    let (height, left, right, top, bottom) = (240.0, 64.0, 8.0, 12.0, 210.0);
    let largest = points.iter().map(|p| p.1).fold(0.1, f64::max);
    let ceiling = (largest * 10.0).ceil() / 10.0;
    let step = if points.len() > 1 {
        (WIDTH - left - right) / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy = |i: usize, v: f64| {
        (
            left + i as f64 * step,
            bottom - (v / ceiling) * (bottom - top),
        )
    };
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (x, y) = xy(i, p.1);
            format!("{},{}", fmt(x), fmt(y))
        })
        .collect();
    let area = if points.is_empty() {
        String::new()
    } else {
        let (first, _) = xy(0, 0.0);
        let (last, _) = xy(points.len() - 1, 0.0);
        format!(
            "{},{} {} {},{}",
            fmt(first),
            bottom,
            line.join(" "),
            fmt(last),
            bottom
        )
    };
    let ticks = [0.0, 0.5, 1.0].map(|f| f * ceiling);
    html! {
        figure.chart.wide tabindex="0" {
            svg viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(title) {
                title { (title) }
                @for tick in ticks {
                    @let (_, y) = xy(0, tick);
                    line.gridline x1=(left) x2=(WIDTH - right) y1=(fmt(y)) y2=(fmt(y)) {}
                    text x=(left - 6.0) y=(fmt(y + 4.0)) text-anchor="end" { (format!("{:.0}%", tick * 100.0)) }
                }
                @if !points.is_empty() {
                    polygon.area points=(area) {}
                    polyline.line points=(line.join(" ")) {}
                    text x=(left) y=(bottom + 20.0) { (points[0].0) }
                    text x=(WIDTH - right) y=(bottom + 20.0) text-anchor="end" { (points[points.len() - 1].0) }
                }
                line.axis x1=(left) x2=(WIDTH - right) y1=(bottom) y2=(bottom) {}
            }
        }
    }
}

/// One payment on the timeline.
pub struct Dot {
    /// When.
    pub at: DateTime<Utc>,
    /// How much, in units.
    pub amount: f64,
    /// Its status (`success`, `failed`, …), the dot's class and shape.
    pub status: String,
}

/// Payments as dots: date across, amount up, coloured and shaped by status
/// (a success is a circle, anything else a diamond, so colour is not the
/// only cue between paid and not).
pub fn timeline(title: &str, dots: &[Dot]) -> Markup {
    const WIDTH: f64 = WIDE;
    let (height, left, right, top, bottom) = (240.0, 68.0, 12.0, 12.0, 206.0);
    let first = dots.iter().map(|d| d.at).min();
    let last = dots.iter().map(|d| d.at).max();
    let largest = dots.iter().map(|d| d.amount).fold(1.0, f64::max);
    let span = match (first, last) {
        (Some(a), Some(b)) => (b - a).num_seconds().max(1) as f64,
        _ => 1.0,
    };
    let x_of = |at: DateTime<Utc>| {
        let offset = first.map_or(0.0, |f| (at - f).num_seconds() as f64);
        if dots.len() < 2 {
            (left + WIDTH - right) / 2.0
        } else {
            left + offset / span * (WIDTH - left - right)
        }
    };
    let y_of = |amount: f64| bottom - amount / largest * (bottom - top);
    html! {
        figure.chart.wide tabindex="0" {
            svg #payments-timeline viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(title) {
                title { (title) }
                @for tick in [0.0, 0.5, 1.0].map(|f| f * largest) {
                    line.gridline x1=(left) x2=(WIDTH - right) y1=(fmt(y_of(tick))) y2=(fmt(y_of(tick))) {}
                    text x=(left - 6.0) y=(fmt(y_of(tick) + 4.0)) text-anchor="end" { (format!("{tick:.2}")) }
                }
                @for dot in dots {
                    @let (x, y) = (x_of(dot.at), y_of(dot.amount));
                    @if dot.status == "success" {
                        circle class={ "dot-" (dot.status) } data-status=(dot.status) cx=(fmt(x)) cy=(fmt(y)) r="5" {}
                    } @else {
                        path class={ "dot-" (dot.status) } data-status=(dot.status)
                            d=(format!("M{} {}l4 4l4 -4l-4 -4z", fmt(x - 4.0), fmt(y))) {}
                    }
                }
                @if let (Some(a), Some(b)) = (first, last) {
                    text x=(left) y=(bottom + 22.0) { (a.format("%Y-%m-%d")) }
                    text x=(WIDTH - right) y=(bottom + 22.0) text-anchor="end" { (b.format("%Y-%m-%d")) }
                }
                line.axis x1=(left) x2=(WIDTH - right) y1=(bottom) y2=(bottom) {}
            }
            figcaption {
                ul.legend {
                    @for (status, shape) in [("success", "circle"), ("failed", "diamond"), ("declined", "diamond"), ("pending", "diamond"), ("refunded", "diamond")] {
                        li {
                            svg viewBox="0 0 12 12" aria-hidden="true" {
                                @if shape == "circle" {
                                    circle class={ "dot-" (status) } cx="6" cy="6" r="5" {}
                                } @else {
                                    path class={ "dot-" (status) } d="M1 6l5 5l5 -5l-5 -5z" {}
                                }
                            }
                            " " (status)
                        }
                    }
                }
            }
        }
    }
}

/// A coordinate with one decimal.
fn fmt(value: f64) -> String {
    format!("{value:.1}")
}
