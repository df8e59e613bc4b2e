//! The report's chart (`chart.svg`, beside `report.md`): delivered messages
//! a second at the knee and fan-out p99 against clients, one line per
//! server, as a plain SVG.

use super::{fanout_p99, knee_delivered, median, present, Pick};
use crate::results::Run;
use crate::servers::Server;

/// Two panels, log-scaled: delivered msgs/s at the knee, and fan-out p99.
pub fn chart(runs: &[Run], sizes: &[usize]) -> String {
    let (w, h) = (420.0, 260.0);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">", w * 2.0 + 40.0, h + 40.0 + 20.0 * present(runs).len() as f64);
    let panels: [(&str, Pick); 2] = [
        ("delivered msgs/s at knee", knee_delivered),
        ("fan-out p99 ms", fanout_p99),
    ];
    for (panel, (title, pick)) in panels.into_iter().enumerate() {
        svg.push_str(&chart_panel(
            runs,
            sizes,
            panel as f64 * (w + 40.0),
            title,
            pick,
        ));
    }
    for (s, server) in present(runs).into_iter().enumerate() {
        let y = h + 20.0 + 18.0 * s as f64;
        svg.push_str(&format!("<rect x=\"50\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"68\" y=\"{}\">{}</text>", y - 10.0, color(server), y, server.name()));
    }
    svg.push_str("</svg>\n");
    svg
}

/// Each server keeps its colour whichever others a run measured.
fn color(server: Server) -> &'static str {
    let i = Server::ALL.iter().position(|s| *s == server).unwrap_or(0);
    const COLORS: [&str; 12] = [
        "#2f6fed", "#7aa2f7", "#a0c4ff", "#c8dcff", "#d64545", "#e0a800", "#f2c94c", "#8a5a00",
        "#c77dff", "#1f9d55", "#555555", "#00a3a3",
    ];
    COLORS[i % COLORS.len()]
}

fn chart_panel(runs: &[Run], sizes: &[usize], x0: f64, title: &str, pick: Pick) -> String {
    let (w, h, pad) = (420.0, 260.0, 50.0);
    let values: Vec<f64> = present(runs)
        .iter()
        .flat_map(|s| sizes.iter().filter_map(|&n| median(runs, *s, n, pick)))
        .filter(|v| *v > 0.0)
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let lo = lo.max(1e-3).log10().floor();
    let hi = hi.max(1e-3).log10().ceil().max(lo + 1.0);
    let mut svg = format!(
        "<text x=\"{}\" y=\"15\" font-weight=\"bold\">{title} (log scale) vs clients</text>",
        x0 + pad
    );
    svg.push_str(&format!(
        "<rect x=\"{}\" y=\"25\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
        x0 + pad,
        w - pad,
        h - 40.0
    ));
    let px = |i: usize| x0 + pad + (i as f64 + 0.5) * (w - pad) / sizes.len() as f64;
    let py = |v: f64| 25.0 + (h - 40.0) * (1.0 - (v.max(1e-3).log10() - lo) / (hi - lo));
    for (i, n) in sizes.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{h}\" text-anchor=\"middle\">{n}</text>",
            px(i)
        ));
    }
    for e in lo as i32..=hi as i32 {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">1e{e}</text>",
            x0 + pad - 4.0,
            py(10f64.powi(e)) + 4.0
        ));
    }
    for server in present(runs) {
        let pts: Vec<String> = sizes
            .iter()
            .enumerate()
            .filter_map(|(i, &n)| {
                let v = median(runs, server, n, pick).filter(|v| *v > 0.0)?;
                Some(format!("{:.1},{:.1}", px(i), py(v)))
            })
            .collect();
        svg.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            pts.join(" "),
            color(server)
        ));
    }
    svg
}
