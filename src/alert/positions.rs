//! Where a rule file's groups and rules' fields are written, for load errors that point at
//! them as `promtool check rules` does: `line:column`, 1-based, of the YAML node as Go's
//! `yaml.v3` places it, and `0:0` for a field that is not written.
//!
//! serde's YAML deserializer keeps no positions, so the text is read a second time as YAML
//! events, which carry them.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A node's `line:column` (`0:0` when the field is not written).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Pos {
    line: usize,
    column: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The positions of one rule's `record`, `alert` and `expr` values.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RulePos {
    pub(super) record: Pos,
    pub(super) alert: Pos,
    pub(super) expr: Pos,
}

/// The positions in one rule file: each group's mapping and its rules'.
#[derive(Debug, Default)]
pub(super) struct FilePositions {
    groups: Vec<(Pos, Vec<RulePos>)>,
}

impl FilePositions {
    /// Reads `text`'s positions; a text the YAML reader refuses has none (every lookup is
    /// `0:0`), since serde's reading already reported why.
    pub(super) fn read(text: &str) -> FilePositions {
        let mut events = Vec::new();
        for event in Parser::new_from_str(text) {
            match event {
                Ok(event) => events.push(event),
                Err(_) => return FilePositions::default(),
            }
        }
        let mut at = 0;
        let root = loop {
            match events.get(at) {
                Some((
                    Event::MappingStart(..) | Event::SequenceStart(..) | Event::Scalar(..),
                    _,
                )) => break Node::read(&events, &mut at, text),
                Some(_) => at += 1,
                None => return FilePositions::default(),
            }
        };
        let groups = root
            .get("groups")
            .map(|groups| {
                groups
                    .items()
                    .iter()
                    .map(|group| {
                        let rules = group.get("rules").map(Node::items).unwrap_or_default();
                        let rules = rules
                            .iter()
                            .map(|rule| RulePos {
                                record: rule.get("record").map(Node::pos).unwrap_or_default(),
                                alert: rule.get("alert").map(Node::pos).unwrap_or_default(),
                                expr: rule.get("expr").map(Node::pos).unwrap_or_default(),
                            })
                            .collect();
                        (group.pos(), rules)
                    })
                    .collect()
            })
            .unwrap_or_default();
        FilePositions { groups }
    }

    /// The `index`th group's position.
    pub(super) fn group(&self, index: usize) -> Pos {
        self.groups.get(index).map(|g| g.0).unwrap_or_default()
    }

    /// The positions of the `rule`th rule of the `group`th group.
    pub(super) fn rule(&self, group: usize, rule: usize) -> RulePos {
        self.groups
            .get(group)
            .and_then(|g| g.1.get(rule).copied())
            .unwrap_or_default()
    }
}

/// A YAML node with its position.
enum Node {
    Scalar(String, Pos),
    Sequence(Vec<Node>, Pos),
    Mapping(Vec<(Node, Node)>, Pos),
}

impl Node {
    /// Reads the node whose first event is `events[*at]`, leaving `at` past its last.
    fn read(events: &[(Event<'_>, Span)], at: &mut usize, text: &str) -> Node {
        let Some((event, span)) = events.get(*at) else {
            return Node::Scalar(String::new(), Pos::default());
        };
        *at += 1;
        let pos = Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        };
        match event {
            Event::Scalar(value, style, ..) => {
                let pos = match style {
                    // yaml.v3 places a block scalar at its `|` or `>`, before the text.
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        indicator_before(text, span.start.index()).unwrap_or(pos)
                    }
                    _ => pos,
                };
                Node::Scalar(value.to_string(), pos)
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                while *at < events.len() && !matches!(events[*at].0, Event::SequenceEnd) {
                    items.push(Node::read(events, at, text));
                }
                *at += 1;
                Node::Sequence(items, pos)
            }
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
                while *at < events.len() && !matches!(events[*at].0, Event::MappingEnd) {
                    let key = Node::read(events, at, text);
                    let value = Node::read(events, at, text);
                    entries.push((key, value));
                }
                *at += 1;
                Node::Mapping(entries, pos)
            }
            // An alias or a stray event: a node without a value of its own.
            _ => Node::Scalar(String::new(), pos),
        }
    }

    fn pos(&self) -> Pos {
        match self {
            Node::Scalar(_, pos) | Node::Sequence(_, pos) | Node::Mapping(_, pos) => *pos,
        }
    }

    /// A mapping's value under the scalar key `key`.
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Mapping(entries, _) => entries.iter().find_map(|(k, v)| match k {
                Node::Scalar(name, _) if name == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// A sequence's items (none for any other node).
    fn items(&self) -> &[Node] {
        match self {
            Node::Sequence(items, _) => items,
            _ => &[],
        }
    }
}

/// The position of the last `|` or `>` before the character at `index` in `text`: a block
/// scalar's indicator.
fn indicator_before(text: &str, index: usize) -> Option<Pos> {
    let before: Vec<char> = text.chars().take(index).collect();
    let at = before.iter().rposition(|c| *c == '|' || *c == '>')?;
    let line = 1 + before[..at].iter().filter(|c| **c == '\n').count();
    let line_start = before[..at]
        .iter()
        .rposition(|c| *c == '\n')
        .map_or(0, |n| n + 1);
    Some(Pos {
        line,
        column: at - line_start + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_where_yaml_v3_places_them() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: 'B'\n        expr: |\n          up\n      - alert: C\n  - name: h\n";
        let p = FilePositions::read(text);
        assert_eq!(p.group(0).to_string(), "2:5");
        assert_eq!(p.group(1).to_string(), "9:5");
        let rule = p.rule(0, 0);
        assert_eq!(rule.alert.to_string(), "4:16");
        assert_eq!(rule.record.to_string(), "5:17");
        assert_eq!(rule.expr.to_string(), "6:15");
        assert_eq!(p.rule(0, 1).expr.to_string(), "0:0");
        assert_eq!(p.rule(3, 3).alert.to_string(), "0:0");
        assert_eq!(FilePositions::read("groups: [").group(0).to_string(), "0:0");
    }
}
