//! Module implementing Prometheus 2.42's parser as far as its errors go: the grammar of
//! `generated_parser.y` with its error productions, the checks its actions make, and
//! `checkAST`'s type checks, each with the message and the position Prometheus gives. The
//! expression itself is the `promql-parser` crate's; this pass says where and why an
//! expression is wrong, and refuses what Prometheus 2.42 refuses and the crate (following
//! Prometheus 3) takes. See [`check`] for details.

use super::lex::{lex, Item, LexError, Tok};

/// Where an expression is wrong (a byte offset) and Prometheus's words for why.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Diagnosis {
    pub(super) pos: usize,
    pub(super) message: String,
}

impl From<LexError> for Diagnosis {
    fn from(e: LexError) -> Self {
        Diagnosis {
            pos: e.pos,
            message: e.message,
        }
    }
}

/// The first error Prometheus 2.42 reports for `input`, or `None` for an expression it
/// takes.
pub(super) fn check(input: &str) -> Option<Diagnosis> {
    let (items, lex_error) = lex(input);
    let mut parser = Parser {
        items,
        lex_error,
        next: 0,
        aggregations: 0,
    };
    let node = match parser.expression() {
        Ok(node) => node,
        Err(diagnosis) => return Some(diagnosis),
    };
    check_node(&node).err()
}

/// A value type, as Prometheus's `ValueType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Scalar,
    Vector,
    Matrix,
    Str,
}

impl Ty {
    /// `ValueType.String()`.
    fn name(self) -> &'static str {
        match self {
            Ty::Scalar => "scalar",
            Ty::Vector => "vector",
            Ty::Matrix => "matrix",
            Ty::Str => "string",
        }
    }

    /// `DocumentedType`.
    fn documented(self) -> &'static str {
        match self {
            Ty::Vector => "instant vector",
            Ty::Matrix => "range vector",
            other => other.name(),
        }
    }
}

/// Prometheus 2.42's functions (`promql/parser/functions.go`): name, argument types, how
/// many optional trailing arguments (-1: any number), result type.
const FUNCTIONS: &[(&str, &[Ty], i32, Ty)] = {
    use Ty::{Matrix as M, Scalar as S, Str, Vector as V};
    &[
        ("abs", &[V], 0, V),
        ("absent", &[V], 0, V),
        ("absent_over_time", &[M], 0, V),
        ("acos", &[V], 0, V),
        ("acosh", &[V], 0, V),
        ("asin", &[V], 0, V),
        ("asinh", &[V], 0, V),
        ("atan", &[V], 0, V),
        ("atanh", &[V], 0, V),
        ("avg_over_time", &[M], 0, V),
        ("ceil", &[V], 0, V),
        ("changes", &[M], 0, V),
        ("clamp", &[V, S, S], 0, V),
        ("clamp_max", &[V, S], 0, V),
        ("clamp_min", &[V, S], 0, V),
        ("cos", &[V], 0, V),
        ("cosh", &[V], 0, V),
        ("count_over_time", &[M], 0, V),
        ("days_in_month", &[V], 1, V),
        ("day_of_month", &[V], 1, V),
        ("day_of_week", &[V], 1, V),
        ("day_of_year", &[V], 1, V),
        ("deg", &[V], 0, V),
        ("delta", &[M], 0, V),
        ("deriv", &[M], 0, V),
        ("exp", &[V], 0, V),
        ("floor", &[V], 0, V),
        ("histogram_count", &[V], 0, V),
        ("histogram_sum", &[V], 0, V),
        ("histogram_fraction", &[S, S, V], 0, V),
        ("histogram_quantile", &[S, V], 0, V),
        ("holt_winters", &[M, S, S], 0, V),
        ("hour", &[V], 1, V),
        ("idelta", &[M], 0, V),
        ("increase", &[M], 0, V),
        ("irate", &[M], 0, V),
        ("label_replace", &[V, Str, Str, Str, Str], 0, V),
        ("label_join", &[V, Str, Str, Str], -1, V),
        ("last_over_time", &[M], 0, V),
        ("ln", &[V], 0, V),
        ("log10", &[V], 0, V),
        ("log2", &[V], 0, V),
        ("max_over_time", &[M], 0, V),
        ("min_over_time", &[M], 0, V),
        ("minute", &[V], 1, V),
        ("month", &[V], 1, V),
        ("pi", &[], 0, S),
        ("predict_linear", &[M, S], 0, V),
        ("present_over_time", &[M], 0, V),
        ("quantile_over_time", &[S, M], 0, V),
        ("rad", &[V], 0, V),
        ("rate", &[M], 0, V),
        ("resets", &[M], 0, V),
        ("round", &[V, S], 1, V),
        ("scalar", &[V], 0, S),
        ("sgn", &[V], 0, V),
        ("sin", &[V], 0, V),
        ("sinh", &[V], 0, V),
        ("sort", &[V], 0, V),
        ("sort_desc", &[V], 0, V),
        ("sqrt", &[V], 0, V),
        ("stddev_over_time", &[M], 0, V),
        ("stdvar_over_time", &[M], 0, V),
        ("sum_over_time", &[M], 0, V),
        ("tan", &[V], 0, V),
        ("tanh", &[V], 0, V),
        ("time", &[], 0, S),
        ("timestamp", &[V], 0, V),
        ("vector", &[S], 0, V),
        ("year", &[V], 1, V),
    ]
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
}

/// A label matcher in braces: name, operator, unquoted value.
type LabelMatch = (String, Tok, String);

/// The parts of a parsed expression the checks read.
#[derive(Debug)]
enum Node {
    Vector {
        pos: usize,
        name: Option<String>,
        matchers: Vec<LabelMatch>,
        offset: bool,
        at: bool,
    },
    Matrix {
        vs: Box<Node>,
        offset: bool,
        at: bool,
    },
    Subquery {
        expr: Box<Node>,
        offset: bool,
        at: bool,
    },
    Number {
        pos: usize,
    },
    Str {
        pos: usize,
    },
    Paren {
        pos: usize,
        expr: Box<Node>,
    },
    Unary {
        pos: usize,
        expr: Box<Node>,
    },
    Binary {
        lhs: Box<Node>,
        rhs: Box<Node>,
        op: Tok,
        op_text: String,
        op_pos: usize,
        bool_: bool,
        on: bool,
        matching: Vec<String>,
        include: Vec<String>,
        card: Card,
    },
    Call {
        pos: usize,
        func: &'static (&'static str, &'static [Ty], i32, Ty),
        args: Vec<Node>,
    },
    Aggregate {
        pos: usize,
        op: Tok,
        expr: Box<Node>,
        param: Option<Box<Node>>,
    },
}

impl Node {
    /// Where the node starts (`PositionRange().Start`).
    fn pos(&self) -> usize {
        match self {
            Node::Vector { pos, .. }
            | Node::Number { pos }
            | Node::Str { pos }
            | Node::Paren { pos, .. }
            | Node::Unary { pos, .. }
            | Node::Call { pos, .. }
            | Node::Aggregate { pos, .. } => *pos,
            Node::Matrix { vs, .. } => vs.pos(),
            Node::Subquery { expr, .. } => expr.pos(),
            Node::Binary { lhs, .. } => lhs.pos(),
        }
    }

    /// `Expr.Type()`.
    fn ty(&self) -> Ty {
        match self {
            Node::Vector { .. } | Node::Aggregate { .. } => Ty::Vector,
            Node::Matrix { .. } | Node::Subquery { .. } => Ty::Matrix,
            Node::Number { .. } => Ty::Scalar,
            Node::Str { .. } => Ty::Str,
            Node::Paren { expr, .. } | Node::Unary { expr, .. } => expr.ty(),
            Node::Binary { lhs, rhs, .. } => {
                if lhs.ty() == Ty::Scalar && rhs.ty() == Ty::Scalar {
                    Ty::Scalar
                } else {
                    Ty::Vector
                }
            }
            Node::Call { func, .. } => func.3,
        }
    }
}

fn error(pos: usize, message: impl Into<String>) -> Diagnosis {
    Diagnosis {
        pos,
        message: message.into(),
    }
}

/// A binary operator's precedence (yacc's `%left`/`%right` lines), higher binds tighter.
fn precedence(tok: Tok) -> Option<u8> {
    use Tok::*;
    Some(match tok {
        Lor => 1,
        Land | Lunless => 2,
        Eqlc | Gte | Gtr | Lss | Lte | Neq => 3,
        Add | Sub => 4,
        Mul | Div | Mod | Atan2 => 5,
        Pow => 6,
        _ => return None,
    })
}

/// The tokens a metric name may be (`metric_identifier`), aggregators and `IDENTIFIER` aside.
fn names_a_metric(tok: Tok) -> bool {
    use Tok::*;
    matches!(
        tok,
        By | Land | Lor | Lunless | MetricIdentifier | Offset | Without | Start | End
    )
}

/// Whether an expression can start with `tok`.
fn starts_expression(tok: Tok) -> bool {
    use Tok::*;
    tok.is_aggregator()
        || names_a_metric(tok)
        || matches!(
            tok,
            Number | Str | LeftParen | LeftBrace | Identifier | Add | Sub
        )
}

/// The tokens a grouping label may be (`maybe_label`).
fn may_be_label(tok: Tok) -> bool {
    use Tok::*;
    tok.is_aggregator()
        || matches!(
            tok,
            Bool | By
                | GroupLeft
                | GroupRight
                | Identifier
                | Ignoring
                | Land
                | Lor
                | Lunless
                | MetricIdentifier
                | Offset
                | On
                | Start
                | End
                | Atan2
        )
}

fn is_label(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

struct Parser<'a> {
    items: Vec<Item<'a>>,
    lex_error: Option<LexError>,
    next: usize,
    /// How many aggregations enclose the position: yacc's `aggregate_op error` production
    /// is on its stack, and errors without a nearer production are "in aggregation".
    aggregations: usize,
}

type Parsed<T> = Result<T, Diagnosis>;

impl<'a> Parser<'a> {
    /// The next token; past the last one, the lexer's error.
    fn peek(&self) -> Parsed<Item<'a>> {
        match self.items.get(self.next) {
            Some(item) => Ok(*item),
            None => Err(self
                .lex_error
                .clone()
                .map_or_else(|| error(0, "unexpected end of input"), Diagnosis::from)),
        }
    }

    fn bump(&mut self) {
        self.next += 1;
    }

    /// Prometheus's `unexpected(context, expected)` for `item`.
    fn unexpected(&self, item: Item<'_>, context: &str, expected: &str) -> Diagnosis {
        let mut message = format!("unexpected {}", item.desc());
        if !context.is_empty() {
            message.push_str(" in ");
            message.push_str(context);
        }
        if !expected.is_empty() {
            message.push_str(", expected ");
            message.push_str(expected);
        }
        error(item.pos, message)
    }

    /// An unexpected token where no nearer error production applies.
    fn fail(&self, item: Item<'_>) -> Diagnosis {
        let context = if self.aggregations > 0 {
            "aggregation"
        } else {
            ""
        };
        self.unexpected(item, context, "")
    }

    /// `start: START_EXPRESSION expr EOF`.
    fn expression(&mut self) -> Parsed<Node> {
        let first = self.peek()?;
        if first.tok == Tok::Eof {
            return Err(error(0, "no expression found in input"));
        }
        let node = self.binary(0)?;
        let end = self.peek()?;
        if end.tok == Tok::Eof {
            Ok(node)
        } else {
            Err(self.fail(end))
        }
    }

    /// Binary expressions whose operators bind at least `min` tightly.
    fn binary(&mut self, min: u8) -> Parsed<Node> {
        let mut lhs = self.unary()?;
        loop {
            let op = self.peek()?;
            let Some(prec) = precedence(op.tok).filter(|p| *p >= min) else {
                return Ok(lhs);
            };
            self.bump();
            let mut bool_ = false;
            let mut on = false;
            let mut matching = Vec::new();
            let mut include = Vec::new();
            let mut card = Card::OneToOne;
            if self.peek()?.tok == Tok::Bool {
                self.bump();
                bool_ = true;
            }
            let t = self.peek()?;
            if matches!(t.tok, Tok::On | Tok::Ignoring) {
                self.bump();
                on = t.tok == Tok::On;
                matching = self.grouping_labels()?;
                let g = self.peek()?;
                if matches!(g.tok, Tok::GroupLeft | Tok::GroupRight) {
                    self.bump();
                    card = if g.tok == Tok::GroupLeft {
                        Card::ManyToOne
                    } else {
                        Card::OneToMany
                    };
                    if self.peek()?.tok == Tok::LeftParen {
                        include = self.grouping_labels()?;
                    }
                }
            }
            let next_min = if op.tok == Tok::Pow { prec } else { prec + 1 };
            let rhs = self.binary(next_min)?;
            lhs = Node::Binary {
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                op: op.tok,
                op_text: op.val.to_ascii_lowercase(),
                op_pos: op.pos,
                bool_,
                on,
                matching,
                include,
                card,
            };
        }
    }

    /// `unary_op expr %prec MUL`, or an operand with its modifiers.
    fn unary(&mut self) -> Parsed<Node> {
        let t = self.peek()?;
        if !matches!(t.tok, Tok::Add | Tok::Sub) {
            return self.postfix();
        }
        self.bump();
        // Only `^` binds tighter than the sign.
        let operand = self.binary(6)?;
        Ok(match operand {
            Node::Number { .. } => Node::Number { pos: t.pos },
            expr => Node::Unary {
                pos: t.pos,
                expr: Box::new(expr),
            },
        })
    }

    /// An operand followed by ranges, subqueries, offsets and `@`.
    fn postfix(&mut self) -> Parsed<Node> {
        let mut node = self.operand()?;
        loop {
            let t = self.peek()?;
            match t.tok {
                Tok::LeftBracket => {
                    self.bump();
                    node = self.range(node, t)?;
                }
                Tok::Offset => {
                    self.bump();
                    let mut d = self.peek()?;
                    if d.tok == Tok::Sub {
                        self.bump();
                        d = self.peek()?;
                    }
                    if d.tok != Tok::Duration {
                        return Err(self.unexpected(d, "offset", "duration"));
                    }
                    self.bump();
                    duration(d)?;
                    node = offset(node)?;
                }
                Tok::At => {
                    self.bump();
                    node = self.at(node)?;
                }
                _ => return Ok(node),
            }
        }
    }

    /// After `expr [`: a range or a subquery.
    fn range(&mut self, node: Node, bracket: Item<'_>) -> Parsed<Node> {
        let d = self.peek()?;
        if d.tok != Tok::Duration {
            return Err(self.unexpected(d, "subquery selector", "duration"));
        }
        self.bump();
        duration(d)?;
        let t = self.peek()?;
        match t.tok {
            Tok::RightBracket => {
                self.bump();
                let problem = match &node {
                    Node::Vector { offset: true, .. } => {
                        Some("no offset modifiers allowed before range")
                    }
                    Node::Vector { at: true, .. } => Some("no @ modifiers allowed before range"),
                    Node::Vector { .. } => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(problem) = problem {
                    return Err(error(bracket.pos, problem));
                }
                Ok(Node::Matrix {
                    vs: Box::new(node),
                    offset: false,
                    at: false,
                })
            }
            Tok::Colon => {
                self.bump();
                let step = self.peek()?;
                if step.tok == Tok::Duration {
                    self.bump();
                    duration(step)?;
                    let close = self.peek()?;
                    if close.tok != Tok::RightBracket {
                        return Err(self.unexpected(close, "subquery selector", "\"]\""));
                    }
                } else if step.tok != Tok::RightBracket {
                    return Err(self.unexpected(step, "subquery selector", "duration or \"]\""));
                }
                self.bump();
                Ok(Node::Subquery {
                    expr: Box::new(node),
                    offset: false,
                    at: false,
                })
            }
            _ => Err(self.unexpected(t, "subquery or range", "\":\" or \"]\"")),
        }
    }

    /// After `expr @`: a timestamp or `start()`/`end()`.
    fn at(&mut self, node: Node) -> Parsed<Node> {
        let t = self.peek()?;
        match t.tok {
            Tok::Number | Tok::Add | Tok::Sub => {
                let mut sign = 1.0;
                let mut n = t;
                if t.tok != Tok::Number {
                    self.bump();
                    n = self.peek()?;
                    if n.tok != Tok::Number {
                        return Err(self.unexpected(n, "@", "timestamp"));
                    }
                    if t.tok == Tok::Sub {
                        sign = -1.0;
                    }
                }
                self.bump();
                let ts = sign * go_number(n.val);
                if !ts.is_finite() || ts >= i64::MAX as f64 || ts <= i64::MIN as f64 {
                    return Err(error(
                        node.pos(),
                        format!("timestamp out of bounds for @ modifier: {ts:.6}"),
                    ));
                }
                set_at(node)
            }
            Tok::Start | Tok::End => {
                self.bump();
                for want in [Tok::LeftParen, Tok::RightParen] {
                    let p = self.peek()?;
                    if p.tok != want {
                        return Err(self.unexpected(p, "@", "timestamp"));
                    }
                    self.bump();
                }
                set_at(node)
            }
            _ => Err(self.unexpected(t, "@", "timestamp")),
        }
    }

    /// A selector, literal, parenthesis, function call or aggregation.
    fn operand(&mut self) -> Parsed<Node> {
        let t = self.peek()?;
        match t.tok {
            Tok::Number => {
                self.bump();
                Ok(Node::Number { pos: t.pos })
            }
            Tok::Str => {
                self.bump();
                Ok(Node::Str { pos: t.pos })
            }
            Tok::LeftParen => {
                self.bump();
                let expr = self.binary(0)?;
                let close = self.peek()?;
                if close.tok != Tok::RightParen {
                    return Err(self.fail(close));
                }
                self.bump();
                Ok(Node::Paren {
                    pos: t.pos,
                    expr: Box::new(expr),
                })
            }
            Tok::LeftBrace => self.selector(None, t.pos),
            Tok::Identifier => {
                self.bump();
                if self.peek()?.tok == Tok::LeftParen {
                    return self.call(t);
                }
                self.selector(Some(t.val), t.pos)
            }
            tok if tok.is_aggregator() => {
                self.bump();
                if matches!(self.peek()?.tok, Tok::LeftParen | Tok::By | Tok::Without) {
                    return self.aggregation(t);
                }
                self.selector(Some(t.val), t.pos)
            }
            tok if names_a_metric(tok) => {
                self.bump();
                self.selector(Some(t.val), t.pos)
            }
            _ => Err(self.fail(t)),
        }
    }

    /// A vector selector: `name`, `name{…}` or `{…}`, the name already read.
    fn selector(&mut self, name: Option<&str>, pos: usize) -> Parsed<Node> {
        let mut matchers = Vec::new();
        if self.peek()?.tok == Tok::LeftBrace {
            self.bump();
            matchers = self.label_matchers()?;
        }
        Ok(Node::Vector {
            pos,
            name: name.map(str::to_owned),
            matchers,
            offset: false,
            at: false,
        })
    }

    /// After `{`: matchers up to `}`.
    fn label_matchers(&mut self) -> Parsed<Vec<LabelMatch>> {
        let mut matchers = Vec::new();
        if self.peek()?.tok == Tok::RightBrace {
            self.bump();
            return Ok(matchers);
        }
        loop {
            let name = self.peek()?;
            if name.tok != Tok::Identifier {
                return Err(self.unexpected(name, "label matching", "identifier or \"}\""));
            }
            self.bump();
            let op = self.peek()?;
            if !matches!(op.tok, Tok::Eql | Tok::Neq | Tok::EqlRegex | Tok::NeqRegex) {
                return Err(self.unexpected(op, "label matching", "label matching operator"));
            }
            self.bump();
            let value = self.peek()?;
            if value.tok != Tok::Str {
                return Err(self.unexpected(value, "label matching", "string"));
            }
            self.bump();
            matchers.push((name.val.to_owned(), op.tok, unquote(value.val)));
            let t = self.peek()?;
            match t.tok {
                Tok::Comma => {
                    self.bump();
                    if self.peek()?.tok == Tok::RightBrace {
                        self.bump();
                        return Ok(matchers);
                    }
                }
                Tok::RightBrace => {
                    self.bump();
                    return Ok(matchers);
                }
                _ => return Err(self.unexpected(t, "label matching", "\",\" or \"}\"")),
            }
        }
    }

    /// `( label, … )` after `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
    fn grouping_labels(&mut self) -> Parsed<Vec<String>> {
        let open = self.peek()?;
        if open.tok != Tok::LeftParen {
            return Err(self.unexpected(open, "grouping opts", "\"(\""));
        }
        self.bump();
        let mut labels = Vec::new();
        if self.peek()?.tok == Tok::RightParen {
            self.bump();
            return Ok(labels);
        }
        loop {
            let label = self.peek()?;
            if !may_be_label(label.tok) {
                return Err(self.unexpected(label, "grouping opts", "label"));
            }
            self.bump();
            if !is_label(label.val) {
                // 2.42's `grouping_label` action: the token itself is unexpected.
                return Err(self.unexpected(label, "grouping opts", "label"));
            }
            labels.push(label.val.to_owned());
            let t = self.peek()?;
            match t.tok {
                Tok::Comma => {
                    self.bump();
                    if self.peek()?.tok == Tok::RightParen {
                        self.bump();
                        return Ok(labels);
                    }
                }
                Tok::RightParen => {
                    self.bump();
                    return Ok(labels);
                }
                _ => return Err(self.unexpected(t, "grouping opts", "\",\" or \")\"")),
            }
        }
    }

    /// After `(`: arguments up to `)`.
    fn arguments(&mut self) -> Parsed<Vec<Node>> {
        self.bump();
        let mut args = Vec::new();
        if self.peek()?.tok == Tok::RightParen {
            self.bump();
            return Ok(args);
        }
        loop {
            args.push(self.binary(0)?);
            let t = self.peek()?;
            match t.tok {
                Tok::Comma => {
                    self.bump();
                    // yacc reduces `args COMMA` on any token that cannot start an argument.
                    if !starts_expression(self.peek()?.tok) {
                        return Err(error(
                            t.pos,
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                Tok::RightParen => {
                    self.bump();
                    return Ok(args);
                }
                _ => return Err(self.fail(t)),
            }
        }
    }

    /// `name(args)`, the name read and `(` next.
    fn call(&mut self, name: Item<'_>) -> Parsed<Node> {
        let args = self.arguments()?;
        let Some(func) = FUNCTIONS.iter().find(|f| f.0 == name.val) else {
            return Err(error(
                name.pos,
                format!("unknown function with name {}", super::go_quote(name.val)),
            ));
        };
        Ok(Node::Call {
            pos: name.pos,
            func,
            args,
        })
    }

    /// An aggregation, its operator read and `(`, `by` or `without` next.
    fn aggregation(&mut self, op: Item<'_>) -> Parsed<Node> {
        self.aggregations += 1;
        let mut modified = false;
        if matches!(self.peek()?.tok, Tok::By | Tok::Without) {
            self.bump();
            self.grouping_labels()?;
            modified = true;
        }
        let open = self.peek()?;
        if open.tok != Tok::LeftParen {
            return Err(self.fail(open));
        }
        let mut args = self.arguments()?;
        self.aggregations -= 1;
        if !modified && matches!(self.peek()?.tok, Tok::By | Tok::Without) {
            self.bump();
            self.grouping_labels()?;
        }
        if args.is_empty() {
            return Err(error(
                op.pos,
                "no arguments for aggregate expression provided",
            ));
        }
        let wanted = if matches!(
            op.tok,
            Tok::Topk | Tok::Bottomk | Tok::CountValues | Tok::Quantile
        ) {
            2
        } else {
            1
        };
        if args.len() != wanted {
            return Err(error(
                op.pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {wanted}, got {}",
                    args.len()
                ),
            ));
        }
        // One or two arguments, as checked: the expression last, the parameter before it.
        let param = (wanted == 2).then(|| Box::new(args.remove(0)));
        Ok(Node::Aggregate {
            pos: op.pos,
            op: op.tok,
            expr: Box::new(args.remove(0)),
            param,
        })
    }
}

/// The `duration` rule: Prometheus's `model.ParseDuration`, and no zero.
fn duration(item: Item<'_>) -> Parsed<()> {
    let text = item.val;
    let mut rest = text;
    let mut total: u128 = 0;
    // Units in the order the duration must give them.
    let units: [(&str, u128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut next_unit = 0;
    let invalid = || {
        error(
            item.pos,
            format!("not a valid duration string: {}", super::go_quote(text)),
        )
    };
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let Some(found) = (next_unit..units.len())
            .filter(|&u| rest.starts_with(units[u].0))
            // `ms` before `m`: the longest unit that fits.
            .max_by_key(|&u| units[u].0.len())
        else {
            return Err(invalid());
        };
        rest = &rest[units[found].0.len()..];
        total = total.saturating_add(n.saturating_mul(units[found].1));
        next_unit = found + 1;
    }
    if text.is_empty() {
        return Err(invalid());
    }
    if total > i64::MAX as u128 / 1_000_000 {
        return Err(error(item.pos, "duration out of range"));
    }
    if total == 0 {
        return Err(error(item.pos, "duration must be greater than 0"));
    }
    Ok(())
}

/// `addOffset`.
fn offset(node: Node) -> Parsed<Node> {
    let pos = node.pos();
    let twice = || error(pos, "offset may not be set multiple times");
    match node {
        Node::Vector { offset: true, .. }
        | Node::Matrix { offset: true, .. }
        | Node::Subquery { offset: true, .. } => Err(twice()),
        Node::Vector {
            pos,
            name,
            matchers,
            at,
            ..
        } => Ok(Node::Vector {
            pos,
            name,
            matchers,
            offset: true,
            at,
        }),
        Node::Matrix { vs, at, .. } => Ok(Node::Matrix {
            vs,
            offset: true,
            at,
        }),
        Node::Subquery { expr, at, .. } => Ok(Node::Subquery {
            expr,
            offset: true,
            at,
        }),
        _ => Err(error(
            pos,
            "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        )),
    }
}

/// `getAtModifierVars` and the setting of the timestamp.
fn set_at(node: Node) -> Parsed<Node> {
    let pos = node.pos();
    match node {
        Node::Vector { at: true, .. }
        | Node::Matrix { at: true, .. }
        | Node::Subquery { at: true, .. } => {
            Err(error(pos, "@ <timestamp> may not be set multiple times"))
        }
        Node::Vector {
            pos,
            name,
            matchers,
            offset,
            ..
        } => Ok(Node::Vector {
            pos,
            name,
            matchers,
            offset,
            at: true,
        }),
        Node::Matrix { vs, offset, .. } => Ok(Node::Matrix {
            vs,
            offset,
            at: true,
        }),
        Node::Subquery { expr, offset, .. } => Ok(Node::Subquery {
            expr,
            offset,
            at: true,
        }),
        _ => Err(error(
            pos,
            "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        )),
    }
}

/// A number token's value as Prometheus reads it (`strconv.ParseInt(val, 0, 64)`, then
/// `ParseFloat`).
fn go_number(text: &str) -> f64 {
    let lower = text.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        if let Ok(n) = i64::from_str_radix(hex, 16) {
            return n as f64;
        }
    }
    match lower.as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => lower.parse().unwrap_or(0.0),
    }
}

/// A string token's value (Go's `strconv.Unquote` for the escapes the lexer lets through).
fn unquote(text: &str) -> String {
    let inner = &text[1..text.len().saturating_sub(1).max(1)];
    if text.starts_with('`') {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.next() {
            Some('a') => '\u{7}',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('v') => '\u{b}',
            Some(d @ ('x' | 'u' | 'U' | '0'..='7')) => {
                let (len, radix) = match d {
                    'x' => (2, 16),
                    'u' => (4, 16),
                    'U' => (8, 16),
                    _ => (2, 8),
                };
                let mut digits: String = if radix == 8 {
                    d.to_string()
                } else {
                    String::new()
                };
                digits.extend(chars.by_ref().take(len));
                u32::from_str_radix(&digits, radix)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}')
            }
            Some(other) => other,
            None => break,
        };
        out.push(escaped);
    }
    out
}

/// Whether a matcher accepts the empty value (`Matcher.Matches("")`).
fn matches_empty((_, op, value): &LabelMatch) -> bool {
    let regex = || {
        regex::Regex::new(&format!("^(?s:{value})$"))
            .map(|r| r.is_match(""))
            // A regular expression the crate refuses is the crate's error to report.
            .unwrap_or(false)
    };
    match op {
        Tok::Eql => value.is_empty(),
        Tok::Neq => !value.is_empty(),
        Tok::EqlRegex => regex(),
        _ => !regex(),
    }
}

fn expect_type(node: &Node, want: Ty, context: &str) -> Parsed<()> {
    let got = check_node(node)?;
    if got == want {
        return Ok(());
    }
    Err(error(
        node.pos(),
        format!(
            "expected type {} in {context}, got {}",
            want.documented(),
            got.documented()
        ),
    ))
}

/// `checkAST`: the type checks, in Prometheus's order.
fn check_node(node: &Node) -> Parsed<Ty> {
    let ty = node.ty();
    match node {
        Node::Aggregate {
            op, expr, param, ..
        } => {
            expect_type(expr, Ty::Vector, "aggregation expression")?;
            if let Some(param) = param {
                let want = if *op == Tok::CountValues {
                    Ty::Str
                } else {
                    Ty::Scalar
                };
                expect_type(param, want, "aggregation parameter")?;
            }
        }
        Node::Binary {
            lhs,
            rhs,
            op,
            op_text,
            op_pos,
            bool_,
            on,
            matching,
            include,
            card,
        } => {
            let lt = check_node(lhs)?;
            let rt = check_node(rhs)?;
            if *bool_ && !op.is_comparison() {
                return Err(error(
                    *op_pos,
                    "bool modifier can only be used on comparison operators",
                ));
            }
            if op.is_comparison() && !bool_ && lt == Ty::Scalar && rt == Ty::Scalar {
                return Err(error(
                    *op_pos,
                    "comparisons between scalars must use BOOL modifier",
                ));
            }
            if *on {
                if let Some(label) = matching.iter().find(|l| include.contains(l)) {
                    return Err(error(
                        *op_pos,
                        format!(
                            "label {} must not occur in ON and GROUP clause at once",
                            super::go_quote(label)
                        ),
                    ));
                }
            }
            for (side, t) in [(lhs, lt), (rhs, rt)] {
                if t != Ty::Scalar && t != Ty::Vector {
                    return Err(error(
                        side.pos(),
                        "binary expression must contain only scalar and instant vector types",
                    ));
                }
            }
            let quoted_op = super::go_quote(op_text);
            if lt != Ty::Vector || rt != Ty::Vector {
                if !matching.is_empty() {
                    return Err(error(
                        node.pos(),
                        "vector matching only allowed between instant vectors",
                    ));
                }
            } else if op.is_set_operator() && matches!(card, Card::OneToMany | Card::ManyToOne) {
                return Err(error(
                    node.pos(),
                    format!("no grouping allowed for {quoted_op} operation"),
                ));
            }
            if (lt == Ty::Scalar || rt == Ty::Scalar) && op.is_set_operator() {
                return Err(error(
                    node.pos(),
                    format!("set operator {quoted_op} not allowed in binary scalar expression"),
                ));
            }
        }
        Node::Call { pos, func, args } => {
            let (name, arg_types, variadic, _) = **func;
            let quoted = super::go_quote(name);
            let nargs = arg_types.len();
            if variadic == 0 {
                if nargs != args.len() {
                    return Err(error(
                        *pos,
                        format!(
                            "expected {nargs} argument(s) in call to {quoted}, got {}",
                            args.len()
                        ),
                    ));
                }
            } else {
                let least = nargs - 1;
                if least > args.len() {
                    return Err(error(
                        *pos,
                        format!(
                            "expected at least {least} argument(s) in call to {quoted}, got {}",
                            args.len()
                        ),
                    ));
                }
                let most = least as i64 + i64::from(variadic);
                if variadic > 0 && most < args.len() as i64 {
                    return Err(error(
                        *pos,
                        format!(
                            "expected at most {most} argument(s) in call to {quoted}, got {}",
                            args.len()
                        ),
                    ));
                }
            }
            let context = format!("call to function {quoted}");
            for (i, arg) in args.iter().enumerate() {
                let want = if i < nargs {
                    arg_types[i]
                } else if variadic == 0 {
                    break;
                } else {
                    arg_types[nargs - 1]
                };
                expect_type(arg, want, &context)?;
            }
        }
        Node::Paren { expr, .. } => {
            check_node(expr)?;
        }
        Node::Unary { pos, expr } => {
            let t = check_node(expr)?;
            if t != Ty::Scalar && t != Ty::Vector {
                return Err(error(
                    *pos,
                    format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                        super::go_quote(t.documented())
                    ),
                ));
            }
        }
        Node::Subquery { expr, .. } => {
            let t = check_node(expr)?;
            if t != Ty::Vector {
                return Err(error(
                    node.pos(),
                    format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        t.name()
                    ),
                ));
            }
        }
        Node::Matrix { vs, .. } => {
            check_node(vs)?;
        }
        Node::Vector {
            pos,
            name,
            matchers,
            ..
        } => match name {
            Some(name) => {
                if let Some(m) = matchers.iter().find(|m| m.0 == "__name__") {
                    return Err(error(
                        *pos,
                        format!(
                            "metric name must not be set twice: {} or {}",
                            super::go_quote(name),
                            super::go_quote(&m.2)
                        ),
                    ));
                }
            }
            None => {
                if matchers.iter().all(matches_empty) {
                    return Err(error(
                        *pos,
                        "vector selector must contain at least one non-empty matcher",
                    ));
                }
            }
        },
        Node::Number { .. } | Node::Str { .. } => {}
    }
    Ok(ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(input: &str) -> Option<(usize, String)> {
        check(input).map(|d| (d.pos, d.message))
    }

    #[test]
    fn valid_expressions_pass() {
        for ok in [
            "x",
            "sum by (a) (rate(x{b=~\"c\"}[5m:1m] offset 1h)) > bool 1",
            "-2 ^ -x @ 5 offset -1m",
            "topk(3, x) + on(a) group_left(b) y",
            "label_join(x, \"d\", \",\", \"a\", \"b\", \"c\")",
            "round(x)",
            "sum(x) without (by, on)",
            "by + offset",
            "time() > bool 1",
            "x @ start()",
            "count_values(\"v\", x)",
        ] {
            assert_eq!(said(ok), None, "{ok}");
        }
    }

    #[test]
    fn syntax_errors_as_prometheus_words_them() {
        for (input, pos, message) in [
            (
                "sum(x) by bar",
                10,
                "unexpected identifier \"bar\" in grouping opts, expected \"(\"",
            ),
            ("sum(x) bar", 7, "unexpected identifier \"bar\""),
            (
                "sum by (a) x",
                11,
                "unexpected identifier \"x\" in aggregation",
            ),
            (
                "sum(rate(x y))",
                11,
                "unexpected identifier \"y\" in aggregation",
            ),
            (
                "x{a=\"1\" b=\"2\"}",
                8,
                "unexpected identifier \"b\" in label matching, expected \",\" or \"}\"",
            ),
            (
                "x + on(5) y",
                7,
                "unexpected number \"5\" in grouping opts, expected label",
            ),
            ("sum(x) without (a) by (b)", 19, "unexpected <by>"),
            (
                "x offset x",
                9,
                "unexpected identifier \"x\" in offset, expected duration",
            ),
            (
                "x @ x",
                4,
                "unexpected identifier \"x\" in @, expected timestamp",
            ),
            (
                "sum(x,)",
                5,
                "trailing commas not allowed in function call args",
            ),
            ("x +", 3, "unexpected end of input"),
            ("", 0, "no expression found in input"),
        ] {
            assert_eq!(said(input), Some((pos, message.to_owned())), "{input}");
        }
    }

    #[test]
    fn type_errors_as_prometheus_words_them() {
        for (input, pos, message) in [
            ("rate(x)", 5, "expected type range vector in call to function \"rate\", got instant vector"),
            ("foo(x)", 0, "unknown function with name \"foo\""),
            ("x + bool y", 2, "bool modifier can only be used on comparison operators"),
            ("x unless on(a) group_left y", 0, "no grouping allowed for \"unless\" operation"),
            ("{a=~\".*\"}", 0, "vector selector must contain at least one non-empty matcher"),
            ("-\"a\"", 0, "unary expression only allowed on expressions of type scalar or instant vector, got \"string\""),
            ("x[5m] offset 1m[1m]", 15, "ranges only allowed for vector selectors"),
            ("x[0s]", 2, "duration must be greater than 0"),
        ] {
            assert_eq!(said(input), Some((pos, message.to_owned())), "{input}");
        }
    }
}
