//! Module implementing Go's `%q` quoting, which Prometheus's messages and label sets use.
//! See [`go_quote`] for details.

/// `text` as Go's `strconv.Quote` (and `%q`) writes it: printable characters kept, `"` and
/// `\` escaped, `\a \b \f \n \r \t \v` by name, other control characters below space and
/// DEL as `\xNN`, other characters Go does not print (spaces but the plain one, C1 controls)
/// as `\uNNNN` or `\UNNNNNNNN`. Format characters (Unicode's Cf) are kept, where Go escapes
/// them: Rust's standard library cannot tell them.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                let n = c as u32;
                if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
