//! GitLab's issue `search` (the `ILIKE` fuzzy match of its finders): words of three characters or
//! more, each found as a substring, all in the same column. A marker search therefore also finds
//! every longer id that contains it: callers check the exact marker.

/// Whether an issue matches GitLab's `search` in the given columns: the query is cut into words
/// (a `"quoted phrase"` is one word) and words shorter than 3 characters are dropped; every word
/// must occur, without regard to case, in the same column. With no word left, the whole query must
/// equal a column.
pub(super) fn matches_search(query: &str, columns: &[&str]) -> bool {
    let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if query.is_empty() {
        return true;
    }
    let words: Vec<String> = fuzzy_words(&query).into_iter().filter(|w| w.chars().count() >= 3).collect();
    columns.iter().map(|column| column.to_lowercase()).any(|column| {
        if words.is_empty() {
            column == query.to_lowercase()
        } else {
            words.iter().all(|word| column.contains(&word.to_lowercase()))
        }
    })
}

fn fuzzy_words(query: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = query;
    while !rest.is_empty() {
        rest = rest.trim_start();
        if let Some(quoted) = rest.strip_prefix('"')
            && let Some(end) = quoted.find("\" ").or_else(|| quoted.strip_suffix('"').map(str::len))
        {
            words.push(quoted[..end].to_owned());
            rest = &quoted[(end + 1).min(quoted.len())..];
            continue;
        }
        let end = rest.find(' ').unwrap_or(rest.len());
        words.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    words.retain(|word| !word.is_empty());
    words
}

#[cfg(test)]
mod tests {
    use super::matches_search;

    #[test]
    fn search_needs_every_word_of_three_characters_in_one_column() {
        let description = "Dataset orders\n<!-- qalita-issue:42 -->";
        assert!(matches_search("<!-- qalita-issue:42 -->", &["title", description]));
        assert!(matches_search("QALITA-ISSUE:42", &["title", description]));
        assert!(!matches_search("qalita-issue:43", &["title", description]));
        assert!(!matches_search("title qalita-issue:42", &["title", description]));
        assert!(matches_search("\"orders <!--\"", &["", description.replace('\n', " ").as_str()]));
        assert!(matches_search("ab", &["ab"]));
        assert!(!matches_search("ab", &["abc"]));
    }
}
