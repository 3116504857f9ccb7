//! Which list requests read `limit` items from `offset` in the configured paging style
//! (`[qalita.paging]`). The port speaks in offsets; in the page style an offset inside a page (a
//! backfill resumed mid-page) reads that page and the next, and the client keeps the items asked for.

use crate::config::qalita_shape::{PagingStyle, QalitaPaging};

/// The requests of one read, and what to keep of their items put end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// The paging parameters of each request, in order; a later request is only sent when the one
    /// before it came back full.
    pub pages: Vec<Vec<(String, String)>>,
    /// The items to drop at the start.
    pub skip: usize,
}

/// The plan of reading `limit` items from `offset`.
pub(super) fn plan(paging: &QalitaPaging, offset: u64, limit: u32) -> Plan {
    let [(_, position), (_, count)] = paging.parameters();
    let param = |name: &str, value: u64| (name.trim().to_owned(), value.to_string());
    match paging.style {
        PagingStyle::Offset => {
            Plan { pages: vec![vec![param(position, offset), param(count, u64::from(limit))]], skip: 0 }
        }
        PagingStyle::Page => {
            let size = u64::from(limit.max(1));
            let (index, skip) = (offset / size, offset % size);
            let page = |index: u64| vec![param(position, paging.first_page + index), param(count, size)];
            let pages = match skip {
                0 => vec![page(index)],
                _ => vec![page(index), page(index + 1)],
            };
            Plan { pages, skip: usize::try_from(skip).unwrap_or(usize::MAX) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, u64)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    #[test]
    fn the_offset_style_asks_for_the_offset_and_the_limit_as_given() {
        let plan = plan(&QalitaPaging::default(), 20, 50);
        assert_eq!(plan, Plan { pages: vec![query(&[("offset", 20), ("limit", 50)])], skip: 0 });
    }

    #[test]
    fn the_page_style_numbers_pages_from_the_first_page() {
        let paging = QalitaPaging { style: PagingStyle::Page, ..QalitaPaging::default() };
        assert_eq!(plan(&paging, 0, 50).pages, vec![query(&[("page", 1), ("size", 50)])]);
        assert_eq!(plan(&paging, 100, 50).pages, vec![query(&[("page", 3), ("size", 50)])]);
        let from_zero = QalitaPaging { first_page: 0, size_param: "per_page".into(), ..paging };
        assert_eq!(plan(&from_zero, 100, 50).pages, vec![query(&[("page", 2), ("per_page", 50)])]);
    }

    #[test]
    fn an_offset_inside_a_page_reads_that_page_and_the_next() {
        let paging = QalitaPaging { style: PagingStyle::Page, page_param: "p".into(), ..QalitaPaging::default() };
        let plan = plan(&paging, 7, 5);
        assert_eq!(plan.pages, vec![query(&[("p", 2), ("size", 5)]), query(&[("p", 3), ("size", 5)])]);
        assert_eq!(plan.skip, 2);
    }
}
