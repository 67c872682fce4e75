//! Module implementing the templates of alert labels and annotations, expanded as Prometheus
//! 2.42 expands them: Go's text/template (the `gtmpl` crate) with `$labels`, `$value`,
//! `$externalLabels`, `$externalURL` and Prometheus's functions. See [`expand`] for details.
//!
//! - `funcs`: the function table and the functions but the formatting ones;
//! - `format`: `printf`, `print` and `humanize*`, with Go's number formatting.

use std::collections::HashMap;

use std::cell::RefCell;
use std::rc::Rc;

use gtmpl::{Context, Template, Value};

use crate::query::Labels;

mod format;
mod funcs;

use crate::gofmt::format_float;
pub(crate) use funcs::query_escape;
use funcs::FUNCS;

/// What a rule's templates see of one alert.
#[derive(Debug, Clone)]
pub(crate) struct TemplateData<'a> {
    pub(crate) labels: &'a Labels,
    pub(crate) external_labels: &'a Labels,
    pub(crate) external_url: &'a str,
    pub(crate) value: f64,
}

/// What the `query` template function asks: an instant query at the alert's evaluation
/// time, its samples or the reason it failed.
pub(crate) type TemplateQuery = Rc<dyn Fn(&str) -> Result<Vec<(Labels, f64)>, String>>;

thread_local! {
    /// The `query` of the expansion this thread runs (gtmpl's functions are plain `fn`s).
    static QUERY: RefCell<Option<TemplateQuery>> = const { RefCell::new(None) };
    /// The external URL of the expansion this thread runs, for `externalURL` and
    /// `pathPrefix`.
    static EXTERNAL_URL: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with `query` as what templates' `query` function asks.
pub(crate) fn with_query<R>(query: Option<TemplateQuery>, f: impl FnOnce() -> R) -> R {
    let before = QUERY.with(|q| q.replace(query));
    let out = f();
    QUERY.with(|q| *q.borrow_mut() = before);
    out
}

/// Prometheus's definitions before every alert template.
const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// `text` expanded for `data`, or, as Prometheus writes it, `<error expanding template: …>`.
/// A text without `{{` is itself.
pub(crate) fn expand(name: &str, text: &str, data: &TemplateData<'_>) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    match try_expand(name, text, data) {
        Ok(out) => out,
        Err(reason) => format!("<error expanding template: {reason}>"),
    }
}

/// Whether `text` parses as a template, for checking rule files on load.
pub(crate) fn check(name: &str, text: &str) -> Result<(), String> {
    if !text.contains("{{") {
        return Ok(());
    }
    parsed(name, text).map(drop)
}

/// `text` parsed as the template `name`, after Prometheus's definitions and with every
/// printing action passed through `__print`.
fn parsed(name: &str, text: &str) -> Result<Template, String> {
    let mut template = Template::with_name(name);
    template.add_funcs(FUNCS);
    template
        .parse(format!("{DEFS}{}", printed(text)))
        .map_err(|e| format!("template: {name}: {e}"))?;
    Ok(template)
}

fn try_expand(name: &str, text: &str, data: &TemplateData<'_>) -> Result<String, String> {
    let template = parsed(name, text)?;
    let map = |labels: &Labels| -> Value {
        Value::Map(
            labels
                .iter()
                .map(|(n, v)| (n.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    let mut root = HashMap::new();
    root.insert("Labels".to_owned(), map(data.labels));
    root.insert("ExternalLabels".to_owned(), map(data.external_labels));
    root.insert(
        "ExternalURL".to_owned(),
        Value::String(data.external_url.to_owned()),
    );
    // As Go's `%v` text: gtmpl would turn a whole float into an integer (and one past 2^64
    // into its maximum). The functions below read it back as a number.
    root.insert(
        "Value".to_owned(),
        Value::String(format_float(data.value, 'g')),
    );
    let before = EXTERNAL_URL.with(|u| u.replace(data.external_url.to_owned()));
    let out = template
        .render(&Context::from(Value::Map(root)))
        .map_err(|e| format!("template: {name}: {e}"));
    EXTERNAL_URL.with(|u| *u.borrow_mut() = before);
    out
}

/// `text` with every printing action's pipeline passed through `__print`, which writes a
/// number as Go's `%v` does (gtmpl would write Rust's digits): `{{ $value }}` becomes
/// `{{ $value | __print }}`. Declarations, control actions and comments are left alone.
fn printed(text: &str) -> String {
    const CONTROL: [&str; 10] = [
        "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    ];
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = action_end(after) else {
            // Unclosed: the parser says so.
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        let (lead, body, trail) = trim_markers(inner);
        let word = body.split_whitespace().next().unwrap_or("");
        let declares = {
            let t = body.trim_start();
            t.starts_with('$')
                && t.split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w == ":=" || w == "=")
        };
        let plain = body.trim().is_empty()
            || body.trim_start().starts_with("/*")
            || CONTROL.contains(&word)
            || declares;
        out.push_str("{{");
        if plain {
            out.push_str(inner);
        } else {
            out.push_str(lead);
            out.push_str(body.trim_end());
            out.push_str(" | __print");
            // gtmpl reads " -}}" as a trim marker only right after the last word.
            out.push_str(if trail.is_empty() { " " } else { trail });
        }
        out.push_str("}}");
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Where the `}}` closing an action is, outside its quoted strings.
fn action_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None if b == b'"' || b == b'`' || b == b'\'' => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

/// An action's text split into its `- ` trim marker, its pipeline and its ` -` marker.
fn trim_markers(inner: &str) -> (&str, &str, &str) {
    let lead = if inner.starts_with("- ") { "- " } else { "" };
    let inner = &inner[lead.len()..];
    let trail = if inner.ends_with(" -") { " -" } else { "" };
    (lead, &inner[..inner.len() - trail.len()], trail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_with(text: &str, value: f64) -> String {
        let labels = vec![
            ("instance".to_string(), "db-1:9100".to_string()),
            ("job".to_string(), "kotoba".to_string()),
        ];
        let external = vec![("cluster".to_string(), "east".to_string())];
        expand(
            "__alert_Test",
            text,
            &TemplateData {
                labels: &labels,
                external_labels: &external,
                external_url: "http://prom:9090",
                value,
            },
        )
    }

    #[test]
    fn labels_values_and_externals_expand() {
        assert_eq!(
            expand_with("{{ $labels.instance }} of {{ .Labels.job }} in {{ $externalLabels.cluster }} at {{ $externalURL }}", 1.0),
            "db-1:9100 of kotoba in east at http://prom:9090"
        );
        assert_eq!(expand_with("plain", 1.0), "plain");
    }

    #[test]
    fn the_external_url_and_its_path_are_functions_too() {
        let labels = Labels::new();
        let data = |url| TemplateData {
            labels: &labels,
            external_labels: &labels,
            external_url: url,
            value: 0.0,
        };
        let text = "{{ externalURL }}|{{ pathPrefix }}";
        let cases = [
            (
                "http://prom:9090/prom/x?q=1",
                "http://prom:9090/prom/x?q=1|/prom/x",
            ),
            ("http://prom:9090", "http://prom:9090|"),
            ("", "|"),
        ];
        for (url, expanded) in cases {
            assert_eq!(expand("t", text, &data(url)), expanded, "{url}");
        }
        assert!(expand("t", "{{ pathPrefix 1 }}", &data("")).starts_with("<error expanding"));
    }

    #[test]
    fn values_print_as_go_s_v() {
        assert_eq!(expand_with("{{ $value }}", 12.0), "12");
        assert_eq!(expand_with("{{ $value }}", 0.25), "0.25");
        assert_eq!(expand_with("{{ $value }}", 1234567.0), "1.234567e+06");
        assert_eq!(expand_with("{{ $value }}", 0.00001), "1e-05");
        assert_eq!(expand_with("{{ $value }}", f64::INFINITY), "+Inf");
        assert_eq!(expand_with("{{- $value -}} s", 3.5), "3.5s");
        assert_eq!(
            expand_with("{{ if gt $value 10.0 }}high{{ else }}low{{ end }}", 12.0),
            "high"
        );
        assert_eq!(expand_with("{{ if lt $value 10.0 }}low{{ end }}", 1e21), "");
        assert_eq!(
            expand_with("{{ printf \"%.2f\" $value }}", 1234567.0),
            "1234567.00"
        );
        assert_eq!(
            expand_with(
                "{{ printf \"%.1e|%5.1f|%-4d|%s\" $value $value 7 $labels.job }}",
                1500.0
            ),
            "1.5e+03|1500.0|7   |kotoba"
        );
        assert_eq!(
            expand_with("{{ if eq $labels.job \"kotoba\" }}yes{{ end }}", 1.0),
            "yes"
        );
        assert_eq!(expand_with("[{{ $labels.nothing }}]", 1.0), "[]");
        assert_eq!(
            expand_with("{{ if eq $labels.nothing \"\" }}empty{{ end }}", 1.0),
            "empty"
        );
    }

    #[test]
    fn the_humanize_family_matches_prometheus() {
        for (text, v, want) in [
            ("{{ humanize $value }}", 1234567.0, "1.235M"),
            ("{{ humanize $value }}", 0.001234, "1.234m"),
            ("{{ humanize $value }}", 0.0, "0"),
            ("{{ humanize $value }}", 12.0, "12"),
            ("{{ humanize1024 $value }}", 1048576.0, "1Mi"),
            ("{{ humanizePercentage $value }}", 0.12345, "12.35%"),
            ("{{ humanizeDuration $value }}", 90061.0, "1d 1h 1m 1s"),
            ("{{ humanizeDuration $value }}", 1.5, "1.5s"),
            ("{{ humanizeDuration $value }}", 0.0012, "1.2ms"),
            (
                "{{ humanizeTimestamp $value }}",
                1435065584.128,
                "2015-06-23 13:19:44.128 +0000 UTC",
            ),
            ("{{ $labels.job | toUpper }}", 0.0, "KOTOBA"),
            (
                "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}",
                0.0,
                "db-1",
            ),
            ("{{ $labels.instance | stripPort }}", 0.0, "db-1"),
            ("{{ title \"hello world\" }}", 0.0, "Hello World"),
        ] {
            assert_eq!(expand_with(text, v), want, "{text}");
        }
    }

    #[test]
    fn a_bad_template_says_so_in_the_text() {
        let out = expand_with("{{ $labels.x", 1.0);
        assert!(out.starts_with("<error expanding template: "), "{out}");
        assert!(check("t", "{{ nosuchfunc }}").is_err());
        assert!(check("t", "{{ $value | humanize }}").is_ok());
    }
}
