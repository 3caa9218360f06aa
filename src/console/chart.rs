//! Server-drawn SVG line charts: lines, shaded interval bands, axes with ticks and a legend.

use std::fmt::Write;

use super::layout::esc;

/// One line of a chart: `(x, y)` points in data units.
pub struct Line<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
    /// A CSS class from console.css (`series-a`, `series-b`, `series-c`).
    pub class: &'a str,
}

/// A shaded band between a lower and an upper line, e.g. a prediction interval.
pub struct Band<'a> {
    pub name: &'a str,
    /// `(x, lower, upper)`.
    pub points: Vec<(f64, f64, f64)>,
    pub class: &'a str,
}

/// What to draw.
pub struct Chart<'a> {
    /// Read by screen readers (`<title>`) and shown as the figure caption.
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub lines: Vec<Line<'a>>,
    pub bands: Vec<Band<'a>>,
    /// Labels for x positions (e.g. dates); empty: the numbers themselves.
    pub x_ticks: Vec<(f64, String)>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 48.0;

impl Chart<'_> {
    /// The chart as an inline `<figure>` with an SVG; an empty chart says so instead.
    pub fn render(&self) -> String {
        let xs = self
            .lines
            .iter()
            .flat_map(|line| line.points.iter().map(|p| p.0))
            .chain(self.bands.iter().flat_map(|b| b.points.iter().map(|p| p.0)));
        let ys = self
            .lines
            .iter()
            .flat_map(|line| line.points.iter().map(|p| p.1))
            .chain(self.bands.iter().flat_map(|b| b.points.iter().flat_map(|p| [p.1, p.2])));
        let (Some((x0, x1)), Some((mut y0, mut y1))) = (range(xs), range(ys)) else {
            return format!(r#"<figure><figcaption>{}</figcaption><p class="empty">no data to plot</p></figure>"#, esc(self.title));
        };
        if y0 > 0.0 && y0 < 0.5 * y1 {
            y0 = 0.0;
        }
        if (y1 - y0).abs() < 1e-12 {
            (y0, y1) = (y0 - 1.0, y1 + 1.0);
        }
        let x1 = if (x1 - x0).abs() < 1e-12 { x0 + 1.0 } else { x1 };
        let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT);
        let sy = |y: f64| TOP + (1.0 - (y - y0) / (y1 - y0)) * (HEIGHT - TOP - BOTTOM);
        let mut svg = format!(
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}"><title id="{id}">{title}</title>"#,
            id = chart_id(self.title),
            title = esc(self.title)
        );
        // Axes and y ticks.
        let _ = write!(
            svg,
            r#"<line class="axis" x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}"/>"#,
            b = HEIGHT - BOTTOM,
            r = WIDTH - RIGHT
        );
        for step in 0..=4 {
            let value = y0 + (y1 - y0) * f64::from(step) / 4.0;
            let y = sy(value);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{r}" y2="{y:.1}"/><text class="tick" x="{tx}" y="{ty:.1}" text-anchor="end">{label}</text>"#,
                r = WIDTH - RIGHT,
                tx = LEFT - 6.0,
                ty = y + 4.0,
                label = tick_label(value)
            );
        }
        let ticks: Vec<(f64, String)> = if self.x_ticks.is_empty() {
            (0..=4).map(|step| x0 + (x1 - x0) * f64::from(step) / 4.0).map(|x| (x, tick_label(x))).collect()
        } else {
            let every = self.x_ticks.len().div_ceil(6).max(1);
            self.x_ticks.iter().step_by(every).cloned().collect()
        };
        for (x, label) in ticks {
            let _ = write!(
                svg,
                r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                sx(x),
                HEIGHT - BOTTOM + 16.0,
                esc(&label)
            );
        }
        let _ = write!(
            svg,
            r#"<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (LEFT + WIDTH - RIGHT) / 2.0,
            HEIGHT - 8.0,
            esc(self.x_label)
        );
        let _ = write!(
            svg,
            r#"<text class="axis-label" x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>"#,
            HEIGHT / 2.0,
            HEIGHT / 2.0,
            esc(self.y_label)
        );
        for band in &self.bands {
            let upper = band.points.iter().map(|(x, _, hi)| format!("{:.1},{:.1}", sx(*x), sy(*hi)));
            let lower = band.points.iter().rev().map(|(x, lo, _)| format!("{:.1},{:.1}", sx(*x), sy(*lo)));
            let _ = write!(
                svg,
                r#"<polygon class="band {}" points="{}"><title>{}</title></polygon>"#,
                band.class,
                upper.chain(lower).collect::<Vec<_>>().join(" "),
                esc(band.name)
            );
        }
        for line in &self.lines {
            let points: Vec<String> = line.points.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect();
            let _ = write!(
                svg,
                r#"<polyline class="line {}" points="{}"><title>{}</title></polyline>"#,
                line.class,
                points.join(" "),
                esc(line.name)
            );
        }
        svg.push_str("</svg>");
        let legend: String = self
            .lines
            .iter()
            .map(|line| (line.name, line.class, "line"))
            .chain(self.bands.iter().map(|band| (band.name, band.class, "band")))
            .map(|(name, class, kind)| format!(r#"<li><span class="swatch {kind} {class}" aria-hidden="true"></span>{}</li>"#, esc(name)))
            .collect();
        format!(r#"<figure>{svg}<figcaption>{} <ul class="legend">{legend}</ul></figcaption></figure>"#, esc(self.title))
    }
}

/// Min and max of finite values.
fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| Some(acc.map_or((v, v), |(lo, hi): (f64, f64)| (lo.min(v), hi.max(v)))))
}

fn tick_label(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

fn chart_id(title: &str) -> String {
    let slug: String = title.chars().filter(|c| c.is_ascii_alphanumeric()).take(24).collect();
    format!("chart-{slug}-{}", title.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_its_lines_band_and_legend_in_the_plot_area() {
        let chart = Chart {
            title: "Units <sold>",
            x_label: "week",
            y_label: "units",
            lines: vec![Line { name: "history", points: vec![(0.0, 10.0), (1.0, 20.0), (2.0, 15.0)], class: "series-a" }],
            bands: vec![Band { name: "95% interval", points: vec![(2.0, 10.0, 20.0), (3.0, 8.0, 30.0)], class: "series-b" }],
            x_ticks: Vec::new(),
        };
        let svg = chart.render();
        assert!(svg.contains("<polyline") && svg.contains("<polygon") && svg.contains("Units &lt;sold&gt;"), "{svg}");
        assert!(svg.contains("95% interval") && svg.contains("history"));
        // Every plotted coordinate lies inside the view box.
        let points = svg
            .split("points=\"")
            .skip(1)
            .flat_map(|rest| rest.split('"').next().unwrap().split(' ').map(str::to_string).collect::<Vec<_>>());
        for point in points {
            let (x, y) = point.split_once(',').unwrap();
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!((LEFT..=WIDTH - RIGHT).contains(&x) && (TOP..=HEIGHT - BOTTOM).contains(&y), "{x},{y}");
        }
        let empty = Chart { title: "none", x_label: "", y_label: "", lines: Vec::new(), bands: Vec::new(), x_ticks: Vec::new() };
        assert!(empty.render().contains("no data"));
    }
}
