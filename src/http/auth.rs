//! Module implementing the check of the `Authorization` header against
//! [`PrometheusConfig::auth`](crate::PrometheusConfig::auth). See [`Authorizer`] for details.

use base64::Engine as _;

use crate::HttpAuth;

/// Compares requests' credentials with the configured ones. `Debug` never shows them.
pub(crate) struct Authorizer {
    /// The scheme (lowercase) and the credentials expected after it.
    expected: Option<(&'static str, String)>,
}

impl Authorizer {
    pub(crate) fn new(auth: Option<&HttpAuth>) -> Self {
        let expected = auth.map(|auth| match auth {
            HttpAuth::Bearer { token } => ("bearer", token.clone()),
            HttpAuth::Basic { username, password } => (
                "basic",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
            ),
        });
        Self { expected }
    }

    /// Whether a request with this `Authorization` header may proceed.
    pub(crate) fn allows(&self, header: Option<&str>) -> bool {
        let Some((scheme, expected)) = &self.expected else {
            return true;
        };
        let Some((given_scheme, given)) = header.and_then(|h| h.trim().split_once(' ')) else {
            return false;
        };
        given_scheme.eq_ignore_ascii_case(scheme)
            && constant_time_eq(given.trim().as_bytes(), expected.as_bytes())
    }

    /// The `WWW-Authenticate` challenge of a 401, if credentials are required.
    pub(crate) fn challenge(&self) -> Option<&'static str> {
        self.expected.as_ref().map(|(scheme, _)| match *scheme {
            "basic" => "Basic realm=\"kotoba-monitoring\", charset=\"UTF-8\"",
            _ => "Bearer realm=\"kotoba-monitoring\"",
        })
    }
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("scheme", &self.expected.as_ref().map(|(s, _)| *s))
            .finish_non_exhaustive()
    }
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer() {
        let a = Authorizer::new(Some(&HttpAuth::bearer("t0ken")));
        assert!(a.allows(Some("Bearer t0ken")));
        assert!(a.allows(Some("bearer  t0ken ")));
        assert!(!a.allows(Some("Bearer t0ke")));
        assert!(!a.allows(Some("Basic t0ken")));
        assert!(!a.allows(None));
        assert!(!format!("{a:?}").contains("t0ken"));
        assert!(a.challenge().unwrap().starts_with("Bearer"));
    }

    #[test]
    fn basic() {
        let a = Authorizer::new(Some(&HttpAuth::basic("prom", "pa:ss")));
        // base64("prom:pa:ss")
        assert!(a.allows(Some("Basic cHJvbTpwYTpzcw==")));
        assert!(!a.allows(Some("Basic cHJvbTpwYXNz")));
        assert!(Authorizer::new(None).allows(None));
        assert!(Authorizer::new(None).challenge().is_none());
    }
}
