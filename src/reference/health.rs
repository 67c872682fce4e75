//! Health checks: the built-in checks, their thresholds, how the overall status is decided and exported.
//!
//! `HealthChecker` (run by `Monitor` when `enable_health_checks` is set, or on its own:
//! `HealthChecker::new(config)`, `add_default_checks()?`, `register_check(name, check)?`,
//! `check_health()?`, `start()?`) runs every check on a thread of its own with
//! `health_config.check_timeout` (5 s): a check that hangs is reported Unhealthy ("timed out
//! after 5s") and is not started again until it returns, so it costs one thread, not one per
//! round; a check that panics is reported Unhealthy with the panic message.
//!
//! | built-in check | measures | Degraded / Unhealthy (defaults) | counts as |
//! |---|---|---|---|
//! | `memory` | memory in use (total − available) | 85% / 95% | critical |
//! | `disk` | the disk holding `health_config.data_path` | 85% / 95%, or the path missing | critical |
//! | `cpu` | CPU usage since the last run | 90% / 99% | non-critical |
//! | `database` | `MonitoredDatabase::ping` latency | slower than 100 ms / an error | critical, readiness only |
//! | `network` (feature `cluster`) | TCP reachability of `health_config.peers` | some / none reachable | non-critical, readiness only |
//!
//! Overall: Unknown when nothing is registered or nothing has run (never Healthy by default);
//! Unhealthy when a critical check is unhealthy; Degraded when any check is degraded or a
//! non-critical one is unhealthy or unknown; Unknown when a critical check has not run; else
//! Healthy. `health_check_status{check_name}` reads 1 healthy, 0.5 degraded, 0 unhealthy, −1
//! unknown (so the rule `health_check_status{check_name="database"} == 0` fires on unhealthy only),
//! and `health_check_duration_seconds{check_name}` the last run's time. `current_health()` returns
//! the last result without running anything, `history()` the last `health_config.history_size`
//! (100) results.
