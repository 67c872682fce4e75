//! Writes the Grafana dashboards for a monitor like the demo's into a folder, with a
//! provisioning file for Grafana to read them from:
//!
//! ```text
//! cargo run --example grafana -- OUT_DIR [CONFIG.toml]
//! ```
//!
//! `OUT_DIR` then holds `kotoba-database.json`, `kotoba-storage.json`, `kotoba-system.json`,
//! `kotoba-health.json` (each ready for Dashboards → New → Import) and
//! `kotoba-dashboards.yaml`, a provider for Grafana's `provisioning/dashboards/` folder that
//! loads them from `OUT_DIR`. Every dashboard reads a `${datasource}` variable: a Prometheus
//! data source pointed at a Prometheus that scrapes the database, or straight at the
//! monitor's own address (it answers Prometheus's `/api/v1`).
//!
//! The panels follow the families the monitor exports: those registered when it is asked,
//! and those it will register as it runs (the database's, the system's, the health checks',
//! the rules'). This example builds a monitor like the demo's, with a database and the demo's
//! rules, or with the configuration file given (`-- OUT_DIR CONFIG.toml`; its storage is left
//! closed, so that a running database keeps its folder). A program of your own gets the same
//! from `monitor.grafana_dashboards()`, or from `GET /api/v1/grafana/dashboards` of a running
//! monitor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kotoba_monitoring::{
    DatabaseMetrics, Monitor, MonitoredDatabase, MonitoringConfig, MonitoringError, QueryMetrics,
    StorageMetrics,
};

/// The database the dashboards are for, which this example never reads: the monitor only
/// needs to know there is one.
struct NotRead;

impl MonitoredDatabase for NotRead {
    fn get_database_metrics(&self) -> Result<DatabaseMetrics, MonitoringError> {
        Err(MonitoringError::Unsupported {
            what: "reading the database here",
        })
    }
    fn get_query_metrics(&self) -> Result<QueryMetrics, MonitoringError> {
        Err(MonitoringError::Unsupported {
            what: "reading the database here",
        })
    }
    fn get_storage_metrics(&self) -> Result<StorageMetrics, MonitoringError> {
        Err(MonitoringError::Unsupported {
            what: "reading the database here",
        })
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let Some(out) = args.next() else {
        eprintln!("usage: cargo run --example grafana -- OUT_DIR [CONFIG.toml]");
        std::process::exit(2);
    };
    let config = args.next();
    if let Err(e) = write(&out, config.as_deref()) {
        eprintln!("grafana: {e}");
        std::process::exit(1);
    }
}

fn write(out: &Path, config_file: Option<&Path>) -> Result<(), MonitoringError> {
    let io = |source| MonitoringError::Io {
        path: out.to_owned(),
        source,
    };
    std::fs::create_dir_all(out).map_err(io)?;
    let mut config = match config_file {
        Some(file) => MonitoringConfig::load(Some(file))?,
        None => {
            let mut config = MonitoringConfig::default();
            config.alerting_config.enabled = true;
            config.alerting_config.rule_files =
                vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules/monitored_db.yml")];
            config
        }
    };
    config.storage.path = None;
    let monitor = Monitor::with_database(Arc::new(NotRead), config)?;
    let folder = out.canonicalize().map_err(io)?;
    for dashboard in monitor.grafana_dashboards() {
        let path = out.join(dashboard.file_name());
        std::fs::write(&path, dashboard.to_json_string()).map_err(|source| {
            MonitoringError::Io {
                path: path.clone(),
                source,
            }
        })?;
        println!("{}", path.display());
    }
    let provider = format!(
        "# Copy into Grafana's provisioning/dashboards/ folder.\n\
         apiVersion: 1\n\
         providers:\n\
         \x20 - name: kotoba-monitoring\n\
         \x20   folder: KotobaDB\n\
         \x20   type: file\n\
         \x20   allowUiUpdates: true\n\
         \x20   options:\n\
         \x20     path: {}\n",
        folder.display()
    );
    let path = out.join("kotoba-dashboards.yaml");
    std::fs::write(&path, provider).map_err(|source| MonitoringError::Io {
        path: path.clone(),
        source,
    })?;
    println!("{}", path.display());
    Ok(())
}
