//! Charts for reports. plotters draws each chart as SVG; resvg renders the same SVG to PNG with
//! the bundled DejaVu Sans font, so a PNG looks the same on every machine (no system fonts).

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use resvg::{tiny_skia, usvg};
use std::path::{Path, PathBuf};

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

const WIDTH: u32 = 960;
const HEIGHT: u32 = 600;
/// PNGs are rendered at this multiple of the SVG size, for sharp text.
const PNG_SCALE: f32 = 1.5;

/// Distinct, print-safe colours (Tableau 10).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Why a chart could not be drawn or saved.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing '{title}': {message}")]
    Draw { title: String, message: String },
    #[error("rendering the SVG to PNG: {0}")]
    Render(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ChartError {
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ChartError + '_ {
        move |source| ChartError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One curve: a line through predictions, or dots for measurements.
#[derive(Clone, Debug)]
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Low and high at each x (a prediction band), drawn as a shaded area.
    pub band: Vec<(f64, f64, f64)>,
    pub measured: bool,
    pub dashed: bool,
    pub color: usize,
}

/// A horizontal reference line (a plateau).
#[derive(Clone, Debug)]
pub struct Level {
    pub label: String,
    pub y: f64,
    pub color: usize,
}

/// A marked point (a knee).
#[derive(Clone, Debug)]
pub struct Mark {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub color: usize,
}

#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub curves: Vec<Curve>,
    pub levels: Vec<Level>,
    pub marks: Vec<Mark>,
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

impl Chart {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            curves: Vec::new(),
            levels: Vec::new(),
            marks: Vec::new(),
        }
    }

    /// Whether anything can be drawn.
    pub fn has_data(&self) -> bool {
        self.curves.iter().any(|c| c.points.iter().any(finite))
    }

    /// The axis ranges: x over the data with a margin, y from 0 to the highest value shown.
    fn ranges(&self) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
        let xs = self
            .curves
            .iter()
            .flat_map(|c| c.points.iter().filter(|p| finite(p)).map(|p| p.0))
            .chain(self.marks.iter().map(|m| m.x));
        let (mut x0, mut x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        let ys = self
            .curves
            .iter()
            .flat_map(|c| {
                c.points
                    .iter()
                    .filter(|p| finite(p))
                    .map(|p| p.1)
                    .chain(c.band.iter().map(|b| b.2).filter(|v| v.is_finite()))
            })
            .chain(self.levels.iter().map(|l| l.y))
            .chain(self.marks.iter().map(|m| m.y));
        let (y_lo, y_hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        if !(x0.is_finite() && x1.is_finite()) {
            (x0, x1) = (0.0, 1.0);
        }
        let pad = if x1 > x0 {
            (x1 - x0) * 0.04
        } else {
            x0.abs().max(1.0) * 0.5
        };
        let y0 = if y_lo.is_finite() && y_lo < 0.0 {
            y_lo * 1.1
        } else {
            0.0
        };
        let y1 = if y_hi.is_finite() && y_hi > y0 {
            y_hi * 1.12
        } else {
            1.0
        };
        (
            (x0 - pad).max(if x0 >= 0.0 { 0.0 } else { f64::MIN })..x1 + pad,
            y0..y1,
        )
    }

    /// The chart as an SVG document.
    pub fn svg(&self) -> Result<String, ChartError> {
        let mut out = String::new();
        draw(self, &mut out).map_err(|e| ChartError::Draw {
            title: self.title.clone(),
            message: e.to_string(),
        })?;
        Ok(out)
    }

    /// Writes `STEM.svg` and `STEM.png` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf), ChartError> {
        let svg = self.svg()?;
        let png = svg_to_png(&svg)?;
        let (svg_path, png_path) = (
            dir.join(format!("{stem}.svg")),
            dir.join(format!("{stem}.png")),
        );
        std::fs::write(&svg_path, svg).map_err(ChartError::io(&svg_path))?;
        std::fs::write(&png_path, png).map_err(ChartError::io(&png_path))?;
        Ok((svg_path, png_path))
    }
}

/// Width kept right of the plot for the legend (outside the data).
const LEGEND_WIDTH: u32 = 250;

/// Whether values spanning this many times from smallest to largest get a log axis.
const LOG_SPAN: f64 = 20.0;

/// Whether an axis of these values should be logarithmic: all positive and spanning more
/// than [`LOG_SPAN`]×.
fn wants_log(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    lo > 0.0 && hi / lo > LOG_SPAN
}

impl Chart {
    fn xs(&self) -> impl Iterator<Item = f64> + '_ {
        self.curves
            .iter()
            .flat_map(|c| c.points.iter().filter(|p| finite(p)).map(|p| p.0))
    }

    fn ys(&self) -> impl Iterator<Item = f64> + '_ {
        self.curves.iter().flat_map(|c| {
            c.points
                .iter()
                .filter(|p| finite(p))
                .map(|p| p.1)
                .chain(c.band.iter().flat_map(|b| [b.1, b.2]))
        })
    }

    /// Whether every x is a whole number (users, replicas, tokens): ticks then stay whole.
    fn integer_x(&self) -> bool {
        self.xs().all(|x| (x - x.round()).abs() < 1e-9)
    }
}

fn draw(c: &Chart, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let (xr, yr) = c.ranges();
    let log_x = wants_log(c.xs());
    let log_y = wants_log(c.ys());
    let integer_x = c.integer_x();
    // Log ranges over the positive data (a little beyond it).
    let (x_lo, x_hi) = c
        .xs()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (y_lo, y_hi) = c
        .ys()
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    // A log axis starts at a power of ten: plotters puts no key points below the first whole
    // decade, so a range starting between decades would leave its lowest values unlabelled.
    let decade_below = |v: f64| 10f64.powf(v.log10().floor());
    let xr = if log_x {
        decade_below(x_lo / 1.25)..x_hi * 1.25
    } else {
        xr
    };
    let yr = if log_y {
        decade_below(y_lo / 1.5)..y_hi * 1.5
    } else {
        yr
    };
    let mut builder = ChartBuilder::on(&plot);
    builder
        .caption(&c.title, ("sans-serif", 24))
        .margin(18)
        .x_label_area_size(56)
        .y_label_area_size(84);
    let labels = (
        format!("{}{}", c.x_label, if log_x { " (log scale)" } else { "" }),
        format!("{}{}", c.y_label, if log_y { " (log scale)" } else { "" }),
    );
    let entries = match (log_x, log_y) {
        (false, false) => {
            let mut ch = builder.build_cartesian_2d(xr.clone(), yr)?;
            body(
                &mut ch,
                c,
                &labels,
                integer_x,
                (xr.start, xr.end),
                (log_x, log_y),
            )?
        }
        (true, false) => {
            let mut ch = builder.build_cartesian_2d(xr.clone().log_scale(), yr)?;
            body(
                &mut ch,
                c,
                &labels,
                integer_x,
                (xr.start, xr.end),
                (log_x, log_y),
            )?
        }
        (false, true) => {
            let mut ch = builder.build_cartesian_2d(xr.clone(), yr.log_scale())?;
            body(
                &mut ch,
                c,
                &labels,
                integer_x,
                (xr.start, xr.end),
                (log_x, log_y),
            )?
        }
        (true, true) => {
            let mut ch = builder.build_cartesian_2d(xr.clone().log_scale(), yr.log_scale())?;
            body(
                &mut ch,
                c,
                &labels,
                integer_x,
                (xr.start, xr.end),
                (log_x, log_y),
            )?
        }
    };
    legend(&legend_area, &entries)?;
    root.present()?;
    Ok(())
}

/// A legend entry: its label, colour and how its series is drawn.
enum Entry {
    Line {
        label: String,
        color: RGBColor,
        dashed: bool,
    },
    Marks {
        label: String,
        color: RGBColor,
        cross: bool,
    },
    Level {
        label: String,
        color: RGBColor,
    },
}

/// The legend, right of the plot, one entry a line.
fn legend(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    entries: &[Entry],
) -> Result<(), Box<dyn std::error::Error>> {
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    let mut y = 70;
    for e in entries {
        let (label, col) = match e {
            Entry::Line {
                label,
                color,
                dashed,
            } => {
                let style = ShapeStyle::from(color).stroke_width(3);
                if *dashed {
                    area.draw(&PathElement::new(vec![(6, y), (14, y)], style))?;
                    area.draw(&PathElement::new(vec![(20, y), (28, y)], style))?;
                } else {
                    area.draw(&PathElement::new(vec![(6, y), (28, y)], style))?;
                }
                (label, color)
            }
            Entry::Marks {
                label,
                color,
                cross,
            } => {
                let mark = ShapeStyle::from(color).stroke_width(2);
                if *cross {
                    area.draw(&Cross::new((17, y), 6, mark))?;
                } else {
                    area.draw(&Circle::new((17, y), 6, mark))?;
                }
                (label, color)
            }
            Entry::Level { label, color } => {
                let style = ShapeStyle::from(&color.mix(0.8)).stroke_width(2);
                area.draw(&PathElement::new(vec![(6, y), (10, y)], style))?;
                area.draw(&PathElement::new(vec![(16, y), (20, y)], style))?;
                area.draw(&PathElement::new(vec![(26, y), (28, y)], style))?;
                (label, color)
            }
        };
        let _ = col;
        // Long labels wrap at ~26 characters.
        let mut line = String::new();
        let mut lines = Vec::new();
        for word in label.split_whitespace() {
            if !line.is_empty() && line.len() + word.len() > 26 {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
        for (i, l) in lines.iter().enumerate() {
            area.draw(&Text::new(
                l.clone(),
                (36, y - 8 + i as i32 * 17),
                font.clone(),
            ))?;
        }
        y += 17 * lines.len() as i32 + 10;
        if y > HEIGHT as i32 - 20 {
            break;
        }
    }
    Ok(())
}

/// Draws the mesh, curves, levels and marks; returns the legend entries.
fn body<X, Y>(
    chart: &mut ChartContext<SVGBackend, Cartesian2d<X, Y>>,
    c: &Chart,
    labels: &(String, String),
    integer_x: bool,
    (x0, x1): (f64, f64),
    (log_x, log_y): (bool, bool),
) -> Result<Vec<Entry>, Box<dyn std::error::Error>>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let x_fmt = |v: &f64| {
        if integer_x && (v - v.round()).abs() > 1e-9 {
            String::new() // no "1.5 users"
        } else if log_x {
            log_tick(*v)
        } else {
            tick(*v)
        }
    };
    let y_fmt = |v: &f64| if log_y { log_tick(*v) } else { tick(*v) };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(&labels.0)
        .y_desc(&labels.1)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .max_light_lines(2)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(210, 210, 210));
    // A log axis asked for many key points gets 1…9 × each decade (log paper); labels go on
    // 1, 2 and 5 only, so a sub-decade range still reads.
    if log_x {
        mesh.x_labels(40);
    }
    if log_y {
        mesh.y_labels(40);
    }
    mesh.draw()?;
    let mut entries = Vec::new();
    for curve in &c.curves {
        let col = color(curve.color);
        let pts: Vec<(f64, f64)> = curve.points.iter().copied().filter(finite).collect();
        let band: Vec<(f64, f64, f64)> = curve
            .band
            .iter()
            .copied()
            .filter(|b| b.0.is_finite() && b.1.is_finite() && b.2.is_finite() && b.1 > 0.0)
            .collect();
        if band.len() >= 2 {
            let mut outline: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.2)).collect();
            outline.extend(band.iter().rev().map(|b| (b.0, b.1)));
            chart.draw_series(std::iter::once(Polygon::new(
                outline,
                col.mix(0.14).filled(),
            )))?;
        }
        if curve.measured {
            // Measurements are marks: circles, crosses for the second metric of a chart.
            let mark = ShapeStyle::from(&col).stroke_width(2);
            if curve.dashed {
                chart.draw_series(pts.iter().map(|&p| Cross::new(p, 6, mark)))?;
            } else {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 6, mark)))?;
            }
            entries.push(Entry::Marks {
                label: curve.label.clone(),
                color: col,
                cross: curve.dashed,
            });
            continue;
        }
        let style = ShapeStyle::from(&col).stroke_width(if curve.dashed { 2 } else { 3 });
        if curve.dashed {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 10, 6, style))?;
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))?;
        }
        entries.push(Entry::Line {
            label: curve.label.clone(),
            color: col,
            dashed: curve.dashed,
        });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
    }
    for level in &c.levels {
        let col = color(level.color);
        let style = ShapeStyle::from(&col.mix(0.8)).stroke_width(2);
        chart.draw_series(DashedLineSeries::new(
            vec![(x0, level.y), (x1, level.y)],
            4,
            6,
            style,
        ))?;
        entries.push(Entry::Level {
            label: level.label.clone(),
            color: col,
        });
    }
    for mark in &c.marks {
        let col = color(mark.color);
        chart.draw_series(std::iter::once(TriangleMarker::new(
            (mark.x, mark.y),
            11,
            col.filled(),
        )))?;
        // The label goes left of the mark in the right half of the chart, so it stays inside.
        let width = (mark.label.chars().count() * 8) as i32;
        let (px, _) = chart.backend_coord(&(mark.x, mark.y));
        let (right, _) = chart.backend_coord(&(x1, mark.y));
        let (left, _) = chart.backend_coord(&(x0, mark.y));
        let dx = if px > (left + right) / 2 {
            -width - 14
        } else {
            14
        };
        chart.draw_series(std::iter::once(
            EmptyElement::at((mark.x, mark.y))
                + Text::new(
                    mark.label.clone(),
                    (dx, -22),
                    ("sans-serif", 15).into_font().color(&BLACK),
                ),
        ))?;
    }
    Ok(entries)
}

/// An axis label: no trailing ".0", thousands without decimals.
/// A log axis's label: the value where its leading digit is 1, 2 or 5, else none.
fn log_tick(v: f64) -> String {
    if !(v.is_finite() && v > 0.0) {
        return String::new();
    }
    let m = v / 10f64.powf(v.log10().floor());
    if [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|k| (m - k).abs() < 1e-6 * k)
    {
        tick(v)
    } else {
        String::new()
    }
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 || (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Renders an SVG to PNG bytes with the bundled font.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, ChartError> {
    let mut opt = usvg::Options::default();
    {
        let db = opt.fontdb_mut();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family("DejaVu Sans");
    }
    opt.font_family = "DejaVu Sans".into();
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| ChartError::Render(e.to_string()))?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * PNG_SCALE).ceil() as u32,
        (size.height() * PNG_SCALE).ceil() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(w, h)
        .ok_or_else(|| ChartError::Render(format!("cannot make a {w}x{h} image")))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| ChartError::Render(format!("encoding the PNG: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chart {
        let mut c = Chart::new(
            "Output throughput vs concurrency",
            "concurrency",
            "output tok/s",
        );
        c.curves.push(Curve {
            label: "predicted".into(),
            points: vec![(1.0, 50.0), (2.0, 90.0), (4.0, 130.0), (8.0, 131.0)],
            band: vec![
                (1.0, 45.0, 55.0),
                (2.0, 80.0, 100.0),
                (4.0, 120.0, 140.0),
                (8.0, 121.0, 141.0),
            ],
            measured: false,
            dashed: false,
            color: 0,
        });
        c.curves.push(Curve {
            label: "measured".into(),
            points: vec![(1.0, 48.0), (2.0, f64::NAN), (4.0, 128.0)],
            band: vec![],
            measured: true,
            dashed: false,
            color: 1,
        });
        c.levels.push(Level {
            label: "plateau 130 tok/s".into(),
            y: 130.0,
            color: 0,
        });
        c.marks.push(Mark {
            label: "knee".into(),
            x: 4.0,
            y: 130.0,
            color: 0,
        });
        c
    }

    #[test]
    fn svg_has_title_axes_and_legend() {
        let svg = sample().svg().unwrap();
        for text in [
            "Output throughput vs concurrency",
            "concurrency",
            "output tok/s",
            "predicted",
            "measured",
            "plateau 130 tok/s",
            "knee",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
    }

    #[test]
    fn png_renders_with_text() {
        let png = svg_to_png(&sample().svg().unwrap()).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        // Text is drawn: an image with labels differs from the same chart without any text.
        let bare = svg_to_png(
            &sample()
                .svg()
                .unwrap()
                .replace("Output throughput vs concurrency", ""),
        )
        .unwrap();
        assert_ne!(png, bare);
    }

    #[test]
    fn a_chart_without_finite_points_has_no_data() {
        let mut c = Chart::new("t", "x", "y");
        assert!(!c.has_data());
        c.curves.push(Curve {
            label: "x".into(),
            points: vec![(f64::NAN, 1.0)],
            band: vec![],
            measured: false,
            dashed: false,
            color: 0,
        });
        assert!(!c.has_data());
        assert!(c.svg().is_ok(), "drawing an empty chart does not fail");
    }
}
