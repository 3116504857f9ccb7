//! A line diff of two small texts (configuration documents), as `config apply` shows it: removed
//! lines with `-`, added with `+`, and up to three unchanged lines around each change.

/// Lines of context kept around a change.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The lines of `old` and `new` in order, by a longest common subsequence.
fn lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // lcs[i][j]: the length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            (i, j) = (i + 1, j + 1);
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| Line::Removed(l)));
    out.extend(b[j..].iter().map(|l| Line::Added(l)));
    out
}

/// The diff for people, empty when the texts have the same lines.
pub fn render(old: &str, new: &str) -> String {
    let lines = lines(old, new);
    let changed: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| !matches!(l, Line::Same(_))).map(|(i, _)| i).collect();
    if changed.is_empty() {
        return String::new();
    }
    let near = |index: usize| changed.iter().any(|c| c.abs_diff(index) <= CONTEXT);
    let mut out = String::new();
    let mut skipped = false;
    for (index, line) in lines.iter().enumerate() {
        match line {
            Line::Same(text) if near(index) => {
                out.push_str(&format!("  {text}\n"));
                skipped = false;
            }
            Line::Same(_) => {
                if !skipped {
                    out.push_str("  …\n");
                }
                skipped = true;
            }
            Line::Removed(text) => out.push_str(&format!("- {text}\n")),
            Line::Added(text) => out.push_str(&format!("+ {text}\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_marked_and_far_context_is_elided() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\ne\nf\nG\nh\ni\n";
        assert_eq!(render(old, new), "  …\n  d\n  e\n  f\n- g\n+ G\n  h\n+ i\n");
        assert_eq!(render(old, old), "");
        assert_eq!(render("", "x = 1\n"), "+ x = 1\n");
    }
}
