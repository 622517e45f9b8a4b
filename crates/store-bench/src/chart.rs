//! One SVG chart per workload: ops/s per backend, a bar per contender
//! (ours, ours via tower-sessions, the raw floor, the peer), one panel per
//! operation and concurrency level, on a log scale so that memory and
//! MongoDB fit on one axis.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::Workload;
use crate::harness::Measured;
use crate::target::Role;

const ROLES: [Role; 4] = [Role::Ours, Role::Adapter, Role::Floor, Role::Peer];

fn color(role: Role) -> RGBColor {
    match role {
        Role::Ours => RGBColor(31, 119, 180),
        Role::Adapter => RGBColor(120, 180, 230),
        Role::Floor => RGBColor(140, 140, 140),
        Role::Peer => RGBColor(255, 127, 14),
        Role::Layer => RGBColor(44, 160, 44),
    }
}

/// Draws `workloads` (one row of panels each) × `levels` (one column each)
/// from `results` into the SVG file `path`.
pub fn draw(
    path: &Path,
    title: &str,
    workloads: &[Workload],
    levels: &[usize],
    backends: &[String],
    results: &[Measured],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("chart {}: {e}", path.display());
    let width = 360 * levels.len() as u32;
    let height = 60 + 300 * workloads.len() as u32;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, body) = root.split_vertically(60);
    top.titled(title, ("sans-serif", 18)).map_err(|e| err(&e))?;
    // The legend, once, under the title: the roles these panels show.
    let shown_roles: Vec<Role> = ROLES
        .into_iter()
        .filter(|r| {
            results
                .iter()
                .any(|m| m.role == *r && workloads.contains(&m.workload))
        })
        .collect();
    for (i, role) in shown_roles.iter().enumerate() {
        let x = 20 + 200 * i as i32;
        top.draw(&Rectangle::new(
            [(x, 38), (x + 14, 52)],
            color(*role).filled(),
        ))
        .map_err(|e| err(&e))?;
        top.draw(&Text::new(
            role.to_string(),
            (x + 20, 40),
            ("sans-serif", 13).into_font(),
        ))
        .map_err(|e| err(&e))?;
    }
    let panels = body.split_evenly((workloads.len(), levels.len()));
    let mut panel = panels.iter();
    for &workload in workloads {
        for &tasks in levels {
            let area = panel.next().expect("one panel per cell");
            let cell: Vec<&Measured> = results
                .iter()
                .filter(|m| m.workload == workload && m.tasks == tasks && m.role != Role::Layer)
                .collect();
            let shown: Vec<&String> = backends
                .iter()
                .filter(|b| cell.iter().any(|m| &m.backend == *b))
                .collect();
            if shown.is_empty() {
                continue;
            }
            let top_rate = cell.iter().map(|m| m.ops_per_sec).fold(10.0, f64::max) * 2.0;
            let low_rate = cell
                .iter()
                .map(|m| m.ops_per_sec)
                .fold(f64::MAX, f64::min)
                .max(1.0)
                / 2.0;
            let n = shown.len();
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{} · {tasks} task{}",
                        workload.name(),
                        if tasks == 1 { "" } else { "s" }
                    ),
                    ("sans-serif", 14),
                )
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(56)
                .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (low_rate..top_rate).log_scale())
                .map_err(|e| err(&e))?;
            let labels: Vec<String> = shown
                .iter()
                .map(|b| b.replace("sqlite_file", "sqlite"))
                .collect();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 0.01 && i >= 0.0 && (i as usize) < labels.len() {
                        labels[i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .y_desc("ops/s")
                .y_label_formatter(&|y| {
                    if *y >= 1e6 {
                        format!("{:.0}M", y / 1e6)
                    } else if *y >= 1e3 {
                        format!("{:.0}k", y / 1e3)
                    } else {
                        format!("{y:.0}")
                    }
                })
                .label_style(("sans-serif", 11))
                .draw()
                .map_err(|e| err(&e))?;
            for (i, backend) in shown.iter().enumerate() {
                let bars: Vec<&&Measured> = ROLES
                    .iter()
                    .filter_map(|r| cell.iter().find(|m| &m.backend == *backend && m.role == *r))
                    .collect();
                let w = 0.8 / bars.len().max(1) as f64;
                for (j, m) in bars.iter().enumerate() {
                    let x0 = i as f64 - 0.4 + w * j as f64;
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, low_rate), (x0 + w * 0.9, m.ops_per_sec)],
                            color(m.role).filled(),
                        )))
                        .map_err(|e| err(&e))?;
                }
            }
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
