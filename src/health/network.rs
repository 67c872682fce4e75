//! Module implementing the built-in network check (feature `cluster`). See [`NetworkCheck`].

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{HealthCheck, HealthCheckResult, HealthStatus};

/// Opens a TCP connection to each cluster peer (`host:port`) with a timeout: all reachable is
/// Healthy, some unreachable Degraded, none reachable (or no peers configured) Unhealthy.
#[derive(Debug, Clone)]
pub struct NetworkCheck {
    peers: Vec<String>,
    timeout: Duration,
}

impl NetworkCheck {
    /// A check of `peers`, waiting at most `timeout` for each.
    pub fn new(peers: Vec<String>, timeout: Duration) -> Self {
        Self { peers, timeout }
    }

    fn reach(&self, peer: &str) -> Result<Duration, String> {
        let addrs: Vec<SocketAddr> = peer
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve: {e}"))?
            .collect();
        let mut last = String::from("no address");
        for addr in addrs {
            let started = Instant::now();
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(_) => return Ok(started.elapsed()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}

impl HealthCheck for NetworkCheck {
    fn check_health(&self) -> HealthCheckResult {
        let started = Instant::now();
        let mut down = Vec::new();
        let mut result =
            HealthCheckResult::new("network", HealthStatus::Healthy, "", Duration::ZERO);
        for peer in &self.peers {
            match self.reach(peer) {
                Ok(rtt) => {
                    result = result.with_detail(
                        peer.clone(),
                        format!("reachable in {:.2} ms", rtt.as_secs_f64() * 1e3),
                    )
                }
                Err(why) => {
                    result = result.with_detail(peer.clone(), format!("unreachable: {why}"));
                    down.push(format!("{peer} ({why})"));
                }
            }
        }
        let reachable = self.peers.len() - down.len();
        (result.status, result.message) = if self.peers.is_empty() {
            (
                HealthStatus::Unhealthy,
                "no peers configured (health_config.peers)".to_owned(),
            )
        } else if down.is_empty() {
            (
                HealthStatus::Healthy,
                format!("all {} peers reachable", self.peers.len()),
            )
        } else if reachable > 0 {
            (
                HealthStatus::Degraded,
                format!(
                    "{reachable} of {} peers reachable; down: {}",
                    self.peers.len(),
                    down.join(", ")
                ),
            )
        } else {
            (
                HealthStatus::Unhealthy,
                format!("no peer reachable: {}", down.join(", ")),
            )
        };
        result.duration = started.elapsed();
        result
    }
}
