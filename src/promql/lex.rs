//! Module implementing Prometheus 2.42's PromQL lexer (`promql/parser/lex.go`), state for
//! state, so that [`super::check`] sees the tokens, the positions and the lexer's errors
//! Prometheus sees. See [`lex`] for details.

/// A token's kind, as Prometheus's `ItemType`s (the series-description ones aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok {
    Eql,
    Colon,
    Comma,
    Duration,
    Eof,
    Identifier,
    LeftBrace,
    LeftBracket,
    LeftParen,
    MetricIdentifier,
    Number,
    RightBrace,
    RightBracket,
    RightParen,
    Str,
    // Operators.
    Add,
    Div,
    Eqlc,
    EqlRegex,
    Gte,
    Gtr,
    Land,
    Lor,
    Lss,
    Lte,
    Lunless,
    Mod,
    Mul,
    Neq,
    NeqRegex,
    Pow,
    Sub,
    At,
    Atan2,
    // Aggregators.
    Avg,
    Bottomk,
    Count,
    CountValues,
    Group,
    Max,
    Min,
    Quantile,
    Stddev,
    Stdvar,
    Sum,
    Topk,
    // Keywords.
    Bool,
    By,
    GroupLeft,
    GroupRight,
    Ignoring,
    Offset,
    On,
    Without,
    // Preprocessors.
    Start,
    End,
}

impl Tok {
    /// The keyword a word lexes to (`key` in lex.go), case-insensitively.
    fn keyword(word: &str) -> Option<Tok> {
        Some(match word.to_ascii_lowercase().as_str() {
            "and" => Tok::Land,
            "or" => Tok::Lor,
            "unless" => Tok::Lunless,
            "atan2" => Tok::Atan2,
            "sum" => Tok::Sum,
            "avg" => Tok::Avg,
            "count" => Tok::Count,
            "min" => Tok::Min,
            "max" => Tok::Max,
            "group" => Tok::Group,
            "stddev" => Tok::Stddev,
            "stdvar" => Tok::Stdvar,
            "topk" => Tok::Topk,
            "bottomk" => Tok::Bottomk,
            "count_values" => Tok::CountValues,
            "quantile" => Tok::Quantile,
            "offset" => Tok::Offset,
            "by" => Tok::By,
            "without" => Tok::Without,
            "on" => Tok::On,
            "ignoring" => Tok::Ignoring,
            "group_left" => Tok::GroupLeft,
            "group_right" => Tok::GroupRight,
            "bool" => Tok::Bool,
            "start" => Tok::Start,
            "end" => Tok::End,
            "inf" | "nan" => Tok::Number,
            _ => return None,
        })
    }

    pub(super) fn is_operator(self) -> bool {
        use Tok::*;
        matches!(
            self,
            Add | Div
                | Eqlc
                | EqlRegex
                | Gte
                | Gtr
                | Land
                | Lor
                | Lss
                | Lte
                | Lunless
                | Mod
                | Mul
                | Neq
                | NeqRegex
                | Pow
                | Sub
                | At
                | Atan2
        )
    }

    pub(super) fn is_aggregator(self) -> bool {
        use Tok::*;
        matches!(
            self,
            Avg | Bottomk
                | Count
                | CountValues
                | Group
                | Max
                | Min
                | Quantile
                | Stddev
                | Stdvar
                | Sum
                | Topk
        )
    }

    fn is_keyword(self) -> bool {
        use Tok::*;
        matches!(
            self,
            Bool | By | GroupLeft | GroupRight | Ignoring | Offset | On | Without
        )
    }

    pub(super) fn is_comparison(self) -> bool {
        use Tok::*;
        matches!(self, Eqlc | Neq | Lte | Lss | Gte | Gtr)
    }

    pub(super) fn is_set_operator(self) -> bool {
        matches!(self, Tok::Land | Tok::Lor | Tok::Lunless)
    }

    /// Whether Prometheus's `ItemTypeStr` names this kind (its `desc` then shows the text).
    fn has_fixed_text(self) -> bool {
        !matches!(
            self,
            Tok::Duration
                | Tok::Eof
                | Tok::Identifier
                | Tok::MetricIdentifier
                | Tok::Number
                | Tok::Str
        )
    }
}

/// A token: its kind, its byte offset in the input and its text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item<'a> {
    pub(super) tok: Tok,
    pub(super) pos: usize,
    pub(super) val: &'a str,
}

impl Item<'_> {
    /// How Prometheus's `unexpected` names the token (`Item.desc`): `identifier "x"`,
    /// `number "5"`, `"("`, `<op:+>`, `<aggr:sum>`, `<by>`, `end of input`.
    pub(super) fn desc(&self) -> String {
        if self.tok == Tok::At {
            // `@` has no entry in `ItemTypeStr`: Go prints its type by number.
            return "\"<Item 57385>\" <op:@>".to_owned();
        }
        if self.tok.has_fixed_text() {
            return self.text();
        }
        let kind = match self.tok {
            Tok::Eof => return "end of input".to_owned(),
            Tok::Identifier => "identifier",
            Tok::MetricIdentifier => "metric identifier",
            Tok::Str => "string",
            Tok::Number => "number",
            _ => "duration",
        };
        format!("{kind} {}", self.text())
    }

    /// Prometheus's `Item.String`.
    fn text(&self) -> String {
        let tok = self.tok;
        if tok == Tok::Eof {
            "EOF".to_owned()
        } else if tok == Tok::Identifier || tok == Tok::MetricIdentifier {
            super::go_quote(self.val)
        } else if tok.is_keyword() {
            format!("<{}>", self.val)
        } else if tok.is_operator() {
            format!("<op:{}>", self.val)
        } else if tok.is_aggregator() {
            format!("<aggr:{}>", self.val)
        } else if self.val.chars().count() > 10 {
            // Go's `%.10q`: the first ten characters, quoted.
            let first: String = self.val.chars().take(10).collect();
            format!("{}...", super::go_quote(&first))
        } else {
            super::go_quote(self.val)
        }
    }
}

/// A lexer error: Prometheus's message and the offset of the token it stopped in.
#[derive(Debug, Clone)]
pub(super) struct LexError {
    pub(super) pos: usize,
    pub(super) message: String,
}

/// The tokens of `input` as Prometheus 2.42 lexes an expression, comments skipped, up to
/// `Eof` or up to the first lexer error, which ends the list.
pub(super) fn lex(input: &str) -> (Vec<Item<'_>>, Option<LexError>) {
    let mut lexer = Lexer {
        input,
        pos: 0,
        start: 0,
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        after_bracket: false,
        items: Vec::new(),
    };
    let error = lexer.run().err();
    (lexer.items, error)
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    paren_depth: i32,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    /// Just after `[`: a duration is lexed (`lexDuration`).
    after_bracket: bool,
    items: Vec<Item<'a>>,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alphanumeric(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn backup(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
        }
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn emit(&mut self, tok: Tok) {
        self.items.push(Item {
            tok,
            pos: self.start,
            val: &self.input[self.start..self.pos],
        });
        self.start = self.pos;
    }

    fn error(&self, message: String) -> LexError {
        LexError {
            pos: self.start,
            message,
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.next();
        }
        self.start = self.pos;
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            if self.after_bracket {
                self.after_bracket = false;
                self.duration()?;
                continue;
            }
            if self.input[self.pos..].starts_with('#') {
                // A comment runs to the end of the line; the parser never sees it.
                while self.peek().is_some_and(|c| c != '\n' && c != '\r') {
                    self.next();
                }
                self.start = self.pos;
                continue;
            }
            if self.brace_open {
                self.inside_braces()?;
            } else if self.statement()? {
                return Ok(());
            }
        }
    }

    /// `lexStatements`; true at the end of the input.
    fn statement(&mut self) -> Result<bool, LexError> {
        let Some(r) = self.next() else {
            if self.paren_depth != 0 {
                return Err(self.error("unclosed left parenthesis".into()));
            }
            if self.bracket_open {
                return Err(self.error("unclosed left bracket".into()));
            }
            self.emit(Tok::Eof);
            return Ok(true);
        };
        match r {
            ',' => self.emit(Tok::Comma),
            c if is_space(c) => self.skip_spaces(),
            '*' => self.emit(Tok::Mul),
            '/' => self.emit(Tok::Div),
            '%' => self.emit(Tok::Mod),
            '+' => self.emit(Tok::Add),
            '-' => self.emit(Tok::Sub),
            '^' => self.emit(Tok::Pow),
            '=' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(Tok::Eqlc);
                }
                Some('~') => return Err(self.error("unexpected character after '=': '~'".into())),
                _ => self.emit(Tok::Eql),
            },
            '!' => match self.next() {
                Some('=') => self.emit(Tok::Neq),
                t => {
                    return Err(
                        self.error(format!("unexpected character after '!': {}", go_rune(t)))
                    )
                }
            },
            '<' => {
                if self.accept("=") {
                    self.emit(Tok::Lte);
                } else {
                    self.emit(Tok::Lss);
                }
            }
            '>' => {
                if self.accept("=") {
                    self.emit(Tok::Gte);
                } else {
                    self.emit(Tok::Gtr);
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.backup(Some(c));
                self.number_or_duration()?;
            }
            '"' | '\'' => self.string(r)?,
            '`' => self.raw_string()?,
            c if is_alpha(c) || c == ':' => {
                if !self.bracket_open {
                    self.backup(Some(c));
                    self.keyword_or_identifier();
                } else if self.got_colon {
                    return Err(self.error(format!("unexpected colon {}", go_rune(Some(c)))));
                } else {
                    self.emit(Tok::Colon);
                    self.got_colon = true;
                }
            }
            '(' => {
                self.emit(Tok::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.emit(Tok::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // lex.go's error item takes the place of the parenthesis it just emitted,
                    // at the position after it.
                    self.items.pop();
                    return Err(self.error("unexpected right parenthesis ')'".into()));
                }
            }
            '{' => {
                self.emit(Tok::LeftBrace);
                self.brace_open = true;
            }
            '[' => {
                if self.bracket_open {
                    return Err(self.error("unexpected left bracket '['".into()));
                }
                self.got_colon = false;
                self.emit(Tok::LeftBracket);
                self.skip_spaces();
                self.bracket_open = true;
                self.after_bracket = true;
            }
            ']' => {
                if !self.bracket_open {
                    return Err(self.error("unexpected right bracket ']'".into()));
                }
                self.emit(Tok::RightBracket);
                self.bracket_open = false;
            }
            '@' => self.emit(Tok::At),
            c => return Err(self.error(format!("unexpected character: {}", go_rune(Some(c))))),
        }
        Ok(false)
    }

    /// `lexInsideBraces`.
    fn inside_braces(&mut self) -> Result<(), LexError> {
        let Some(r) = self.next() else {
            return Err(self.error("unexpected end of input inside braces".into()));
        };
        match r {
            c if is_space(c) => self.skip_spaces(),
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alphanumeric) {
                    self.next();
                }
                self.emit(Tok::Identifier);
            }
            ',' => self.emit(Tok::Comma),
            '"' | '\'' => self.string(r)?,
            '`' => self.raw_string()?,
            '=' => {
                if self.accept("~") {
                    self.emit(Tok::EqlRegex);
                } else {
                    self.emit(Tok::Eql);
                }
            }
            '!' => match self.next() {
                Some('~') => self.emit(Tok::NeqRegex),
                Some('=') => self.emit(Tok::Neq),
                nr => {
                    return Err(self.error(format!(
                        "unexpected character after '!' inside braces: {}",
                        go_rune(nr)
                    )))
                }
            },
            '{' => return Err(self.error("unexpected left brace '{'".into())),
            '}' => {
                self.emit(Tok::RightBrace);
                self.brace_open = false;
            }
            c => {
                return Err(self.error(format!(
                    "unexpected character inside braces: {}",
                    go_rune(Some(c))
                )))
            }
        }
        Ok(())
    }

    /// `lexString` (with `lexEscape`): a quoted string on one line.
    fn string(&mut self, quote: char) -> Result<(), LexError> {
        loop {
            match self.next() {
                Some('\\') => self.escape(quote)?,
                None | Some('\n') => return Err(self.error("unterminated quoted string".into())),
                Some(c) if c == quote => break,
                Some(_) => {}
            }
        }
        self.emit(Tok::Str);
        Ok(())
    }

    fn escape(&mut self, quote: char) -> Result<(), LexError> {
        let c = self.next();
        let (mut n, base, max) = match c {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(()),
            Some(c) if c == quote => return Ok(()),
            Some('0'..='7') => (3, 8, 255),
            Some('x') => (2, 16, 255),
            Some('u') => (4, 16, 0x10FFFF),
            Some('U') => (8, 16, 0x10FFFF),
            None => return Err(self.error("escape sequence not terminated".into())),
            Some(c) => return Err(self.error(format!("unknown escape sequence {}", go_unicode(c)))),
        };
        let mut ch = if matches!(c, Some('x' | 'u' | 'U')) {
            self.next()
        } else {
            c
        };
        let mut x: u32 = 0;
        while n > 0 {
            let d = ch.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if d >= base {
                return Err(match ch {
                    None => self.error("escape sequence not terminated".into()),
                    Some(c) => self.error(format!(
                        "illegal character {} in escape sequence",
                        go_unicode(c)
                    )),
                });
            }
            x = x.saturating_mul(base).saturating_add(d);
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Err(self.error("escape sequence is an invalid Unicode code point".into()));
        }
        Ok(())
    }

    fn raw_string(&mut self) -> Result<(), LexError> {
        loop {
            match self.next() {
                None => return Err(self.error("unterminated raw string".into())),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Tok::Str);
        Ok(())
    }

    /// `lexDuration`: right after `[`.
    fn duration(&mut self) -> Result<(), LexError> {
        if self.scan_number() {
            return Err(self.error("missing unit character in duration".into()));
        }
        if !self.accept_remaining_duration() {
            return Err(self.error(format!(
                "bad duration syntax: {}",
                super::go_quote(&self.input[self.start..self.pos])
            )));
        }
        self.emit(Tok::Duration);
        Ok(())
    }

    fn number_or_duration(&mut self) -> Result<(), LexError> {
        if self.scan_number() {
            self.emit(Tok::Number);
            return Ok(());
        }
        if self.accept_remaining_duration() {
            self.emit(Tok::Duration);
            return Ok(());
        }
        Err(self.error(format!(
            "bad number or duration syntax: {}",
            super::go_quote(&self.input[self.start..self.pos])
        )))
    }

    /// `acceptRemainingDuration`, leaving the position after the duration (lex.go reads one
    /// character past it and backs up).
    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            self.accept_run("0123456789");
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        match self.peek() {
            Some(c) if is_alphanumeric(c) => {
                // lex.go reads it and reports the text up to and with it.
                self.next();
                false
            }
            _ => true,
        }
    }

    fn scan_number(&mut self) -> bool {
        let mut digits = "0123456789";
        if self.accept("0") && self.accept("xX") {
            digits = "0123456789abcdefABCDEF";
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789");
        }
        !self.peek().is_some_and(is_alphanumeric)
    }

    fn keyword_or_identifier(&mut self) {
        while self.peek().is_some_and(|c| is_alphanumeric(c) || c == ':') {
            self.next();
        }
        let word = &self.input[self.start..self.pos];
        let tok = match Tok::keyword(word) {
            Some(tok) => tok,
            None if word.contains(':') => Tok::MetricIdentifier,
            None => Tok::Identifier,
        };
        self.emit(tok);
    }
}

/// Go's `%q` of a rune (`'5'`, `'\n'`); the end of the input reads as Go's `eof` (-1).
fn go_rune(c: Option<char>) -> String {
    match c {
        None => "'\\uffff'".to_owned(),
        Some('\'') => "'\\''".to_owned(),
        Some(c) => {
            let quoted = super::go_quote(&c.to_string());
            let inner = &quoted[1..quoted.len() - 1];
            let inner = if inner == "\\\"" { "\"" } else { inner };
            format!("'{inner}'")
        }
    }
}

/// Go's `%#U` of a rune: `U+0071 'q'`.
fn go_unicode(c: char) -> String {
    format!("U+{:04X} '{c}'", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<Tok> {
        lex(input).0.iter().map(|i| i.tok).collect()
    }

    #[test]
    fn tokens_as_prometheus_lexes_them() {
        use Tok::*;
        assert_eq!(
            kinds("sum by (a) (rate(x{b=~\"c\"}[5m:1m] offset 1h)) > bool 1"),
            vec![
                Sum,
                By,
                LeftParen,
                Identifier,
                RightParen,
                LeftParen,
                Identifier,
                LeftParen,
                Identifier,
                LeftBrace,
                Identifier,
                EqlRegex,
                Str,
                RightBrace,
                LeftBracket,
                Duration,
                Colon,
                Duration,
                RightBracket,
                Offset,
                Duration,
                RightParen,
                RightParen,
                Gtr,
                Bool,
                Number,
                Eof
            ]
        );
        assert_eq!(
            kinds("a:b # c\n+ Inf"),
            vec![MetricIdentifier, Add, Number, Eof]
        );
    }

    #[test]
    fn errors_at_the_token_they_stop_in() {
        let (_, e) = lex("x{a 5}");
        let e = e.unwrap();
        assert_eq!(
            (e.pos, e.message.as_str()),
            (4, "unexpected character inside braces: '5'")
        );
        let (_, e) = lex("x[5m:x]");
        assert_eq!(e.unwrap().message, "unexpected colon 'x'");
        let (_, e) = lex("x[x]");
        assert_eq!(e.unwrap().message, "bad duration syntax: \"\"");
        let (_, e) = lex("sum(x");
        assert_eq!(e.unwrap().message, "unclosed left parenthesis");
    }

    #[test]
    fn descriptions_as_prometheus_words_them() {
        let (items, _) = lex("bar 5 ( + sum by \"a long string\"");
        let descs: Vec<String> = items.iter().map(Item::desc).collect();
        assert_eq!(
            descs,
            vec![
                "identifier \"bar\"",
                "number \"5\"",
                "\"(\"",
                "<op:+>",
                "<aggr:sum>",
                "<by>",
                "string \"\\\"a long st\"...",
            ]
        );
    }
}
