//! URLs in the configuration: checking that one can be posted to, and naming one in errors
//! and labels without the credentials it may carry. See [`without_userinfo`].

/// `url` without a `user:password@` part, to name it in errors.
pub(crate) fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..host_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{}", &rest[host_end..]),
        None => url.to_owned(),
    }
}

/// Whether `url` is an `http://` or `https://` URL with a host.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.contains(char::is_whitespace) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_and_bad_urls_refused() {
        assert_eq!(
            without_userinfo("https://user:pa@ss@mimir.example:443/api/v1/push?x=1"),
            "https://mimir.example:443/api/v1/push?x=1"
        );
        assert_eq!(without_userinfo("http://host/a@b"), "http://host/a@b");
        assert!(check_url("http://127.0.0.1:9090/api/v1/write").is_ok());
        assert!(check_url("ftp://host").is_err());
        assert!(check_url("http:///path").is_err());
    }
}
