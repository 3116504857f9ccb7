//! Templates of titles, descriptions and labels: text with `{placeholder}`s (`{{` and `}}` for
//! literal braces). The placeholder names are checked when the configuration is loaded.

use std::fmt;

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "dataset",
    "rule",
    "severity",
    "domain",
    "source",
    "status",
    "owner",
    "evidence",
    "qalita_url",
    "issue_id",
    "due_date",
    "scope",
];

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` with a name that is not a placeholder.
    #[error("unknown placeholder {{{0}}} (known: {known})", known = PLACEHOLDERS.join(", "))]
    Unknown(String),
    /// A `{` without its `}`, or a lone `}`.
    #[error("unbalanced brace at character {0} (write {{{{ or }}}} for a literal brace)")]
    Unbalanced(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(&'static str),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, n)| *n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, n)| *n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, ch)) => name.push(ch),
                            None => return Err(TemplateError::Unbalanced(at)),
                        }
                    }
                    let known = PLACEHOLDERS.iter().find(|p| **p == name.trim()).ok_or(TemplateError::Unknown(name))?;
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(known));
                }
                '}' => return Err(TemplateError::Unbalanced(at)),
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { source: text.to_owned(), parts })
    }

    /// Renders with `value`; `None` when a placeholder has no value (a label is then left out).
    pub fn render_strict(&self, value: impl Fn(&str) -> Option<String>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Placeholder(name) => out.push_str(&value(name).filter(|v| !v.is_empty())?),
            }
        }
        Some(out)
    }

    /// Renders with `value`, writing `missing` where a placeholder has no value.
    pub fn render(&self, value: impl Fn(&str) -> Option<String>, missing: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Placeholder(name) => match value(name).filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(missing),
                },
            }
        }
        out
    }

    /// Whether `text` has the shape of a rendering of this template: the same text around the
    /// placeholders (each placeholder standing for any non-empty text). Used to recognise the
    /// labels a crashed attempt wrote from an older state.
    pub fn could_render(&self, text: &str) -> bool {
        let mut rest = text;
        let mut after_placeholder = false;
        for part in &self.parts {
            match part {
                Part::Text(literal) if after_placeholder => {
                    match rest.get(1..).and_then(|r| r.find(literal.as_str())) {
                        Some(at) => rest = &rest[1 + at + literal.len()..],
                        None => return false,
                    }
                }
                Part::Text(literal) => match rest.strip_prefix(literal.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                },
                Part::Placeholder(_) => after_placeholder = true,
            }
            if matches!(part, Part::Text(_)) {
                after_placeholder = false;
            }
        }
        if after_placeholder { !rest.is_empty() } else { rest.is_empty() }
    }

    /// The placeholders used, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(name) => Some(*name),
            Part::Text(_) => None,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(name: &str) -> Option<String> {
        match name {
            "dataset" => Some("billing.sites".into()),
            "rule" => Some("Invalid Latitude".into()),
            _ => None,
        }
    }

    #[test]
    fn placeholders_are_replaced_and_braces_escaped() {
        let t = Template::parse("[QALITA] {dataset}: {rule} {{x}}").unwrap();
        assert_eq!(t.render(values, "?"), "[QALITA] billing.sites: Invalid Latitude {x}");
        assert_eq!(t.placeholders().collect::<Vec<_>>(), ["dataset", "rule"]);
    }

    #[test]
    fn a_strict_render_with_a_missing_value_gives_nothing() {
        assert_eq!(Template::parse("severity:{severity}").unwrap().render_strict(values), None);
        assert_eq!(Template::parse("qalita").unwrap().render_strict(values).as_deref(), Some("qalita"));
        assert_eq!(Template::parse("sev:{severity}").unwrap().render(values, "unknown"), "sev:unknown");
    }

    #[test]
    fn a_rendering_is_recognised_by_its_shape() {
        let t = Template::parse("severity:{severity}").unwrap();
        assert!(t.could_render("severity:high") && t.could_render("severity:warning"));
        assert!(!t.could_render("severity:") && !t.could_render("priority:high") && !t.could_render("bug"));
        let literal = Template::parse("qalita").unwrap();
        assert!(literal.could_render("qalita") && !literal.could_render("qalita2"));
        let both = Template::parse("{domain}/{severity}").unwrap();
        assert!(both.could_render("billing/high") && !both.could_render("billing"));
    }

    #[test]
    fn unknown_placeholders_and_unbalanced_braces_are_refused() {
        assert_eq!(Template::parse("{datset}").unwrap_err(), TemplateError::Unknown("datset".into()));
        assert_eq!(Template::parse("a {rule").unwrap_err(), TemplateError::Unbalanced(2));
        assert_eq!(Template::parse("a } b").unwrap_err(), TemplateError::Unbalanced(2));
        assert!(TemplateError::Unknown("x".into()).to_string().contains("known: dataset, rule"));
    }
}
