//! The built-in dashboard and the Grafana dashboards generated to match.
//!
//! Open the monitor's address (`http://127.0.0.1:9090/`, the demo prints it first) in a browser:
//!
//! The page has four dashboards as tabs: **Database Performance** (queries per
//! second, p50/p95/p99 per operation, errors and slow queries, connections, a panel for each
//! family of your own), **Storage Usage** (size, operations, throughput, cache hit ratio, I/O
//! latency, the monitor's own history on disk), **System Resources** (CPU, memory, disk,
//! network, threads and files) and **Health Status** (each health check's state over time, the
//! alerts over time, the pending and firing alerts with labels, summary and since when, the rule
//! groups with their last evaluation, each notification channel's last error). It picks 5 m,
//! 1 h or the whole retention, refreshes every collection interval (at most once a second;
//! pausable), reads out exact values and times under the cursor (synchronised across charts), writes units on the axes
//! (ms/µs, KiB/MiB, %), follows the browser's light or dark theme and fits a phone's width. A
//! query that fails shows its error in its own panel; the rest keep drawing.
//!
//! Everything it loads comes from the monitor, behind the same auth and limits as the other
//! endpoints: the page, its script and style are files under `src/dashboard/web/` compiled into
//! the crate, charts are drawn by [uPlot](https://github.com/leeoniya/uPlot) 1.6.32 (MIT, shipped
//! beside them with its licence), and its queries go to the monitor's own `/api/v1`. A first load
//! transfers about 45 KB (gzip) and draws its first chart in about 0.3 s; a page left open costs
//! the monitor about 4 ms of CPU per second (`cargo bench --bench dashboard`).
//!
//! Each panel is one PromQL expression, written once in the crate, that the page and Grafana
//! both run. Add your own:
//!
//! ```rust
//! use kotoba_monitoring::{DashboardPanel, DashboardView, PanelKind, Unit};
//! # let monitor = kotoba_monitoring::Monitor::new(Default::default())?;
//! monitor.add_dashboard_panel(
//!     DashboardPanel::new(
//!         DashboardView::Storage,
//!         PanelKind::TimeSeries,
//!         "Compactions per second",
//!         "sum by (level) (rate(app_compactions_total[$__rate_interval]))",
//!     )?
//!     .with_unit(Unit::PerSecond)
//!     .with_legend("level {{level}}"),
//! )?;
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! # Grafana
//!
//!
//! `monitor.grafana_dashboards()` (and `GET /api/v1/grafana/dashboards`) gives the same four
//! dashboards as Grafana JSON, drawn from the families the monitor exports with their units and
//! labels: a `datasource` variable (any Prometheus data source), `operation`, `instance` and one
//! variable per label of your own families, `timeseries`, `stat`, `state-timeline` and `table`
//! panels, and firing alerts as annotations from `ALERTS`. They work the same against a
//! Prometheus that scrapes the database and against the monitor itself (a Prometheus data source
//! whose URL is the monitor's address: it answers Prometheus's `/api/v1`).
//! `cargo run --example grafana -- DIR [CONFIG.toml]` writes them to `DIR` with a provisioning
//! provider, for a monitor with a database, the demo's rules or your configuration file. Then
//! either import each `kotoba-*.json` (Dashboards → New → Import → upload), or copy
//! `kotoba-dashboards.yaml` into Grafana's `provisioning/dashboards/` folder: Grafana loads the
//! dashboards from that folder into a "KotobaDB" folder and reloads them when they change.
