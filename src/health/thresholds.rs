//! Module implementing the two-threshold rule the built-in checks share. See [`Thresholds`].

use super::HealthStatus;

/// A reading at or above `degraded` is Degraded, at or above `unhealthy` Unhealthy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Where Degraded begins.
    pub degraded: f64,
    /// Where Unhealthy begins.
    pub unhealthy: f64,
}

impl Thresholds {
    /// The status of `reading`.
    pub fn status(&self, reading: f64) -> HealthStatus {
        if reading >= self.unhealthy {
            HealthStatus::Unhealthy
        } else if reading >= self.degraded {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_belong_to_the_worse_status() {
        let t = Thresholds {
            degraded: 80.0,
            unhealthy: 95.0,
        };
        assert_eq!(t.status(79.9), HealthStatus::Healthy);
        assert_eq!(t.status(80.0), HealthStatus::Degraded);
        assert_eq!(t.status(95.0), HealthStatus::Unhealthy);
    }
}
