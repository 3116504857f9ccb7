//! Faults a test arms while a simulator runs, for the next N requests that match a method and a path
//! prefix (either may be left open). What a fault does is the simulator's own vocabulary, `F`.

/// A fault for the next `times` requests that match (after the first `after` of them, if set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule<F> {
    fault: F,
    times: u32,
    after: u32,
    method: Option<String>,
    path_prefix: Option<String>,
}

impl<F> FaultRule<F> {
    /// `fault` for the next request, whatever it is.
    pub fn new(fault: F) -> Self {
        FaultRule { fault, times: 1, after: 0, method: None, path_prefix: None }
    }

    /// Lets the first `after` matching requests through untouched, then applies: a fault in the
    /// middle of a run (the third page of a list).
    pub fn after(mut self, after: u32) -> Self {
        self.after = after;
        self
    }

    /// For the next `times` matching requests instead of one.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Only for requests of `method` whose path, as the simulator records it, starts with
    /// `path_prefix` (`"POST"`, `"/projects/1/issues"`).
    pub fn on(mut self, method: &str, path_prefix: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self.path_prefix = Some(path_prefix.to_owned());
        self
    }

    /// Only for requests, of any method, whose path starts with `path_prefix`.
    pub fn under(mut self, path_prefix: &str) -> Self {
        self.path_prefix = Some(path_prefix.to_owned());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path_prefix.as_deref().is_none_or(|prefix| path.starts_with(prefix))
    }
}

/// The armed rules, first armed first used.
#[derive(Debug)]
pub struct FaultRules<F>(Vec<FaultRule<F>>);

impl<F> Default for FaultRules<F> {
    fn default() -> Self {
        FaultRules(Vec::new())
    }
}

impl<F: Clone> FaultRules<F> {
    /// Arms a rule, behind those armed before.
    pub fn arm(&mut self, rule: FaultRule<F>) {
        self.0.push(rule);
    }

    /// Disarms every rule.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The fault for this request, if a rule matches; it uses up one of the first such rule's times.
    /// A matching rule still letting requests through counts this one and is passed over.
    pub fn take(&mut self, method: &str, path: &str) -> Option<F> {
        let mut applying = None;
        for rule in self.0.iter_mut().filter(|rule| rule.matches(method, path)) {
            if rule.after == 0 {
                applying = Some(rule);
                break;
            }
            rule.after -= 1;
        }
        let rule = applying?;
        rule.times -= 1;
        let fault = rule.fault.clone();
        self.0.retain(|rule| rule.times > 0);
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_rule_is_used_up_by_method_and_path_prefix() {
        let mut rules = FaultRules::default();
        rules.arm(FaultRule::new("post").on("post", "/projects/1/issues").times(2));
        rules.arm(FaultRule::new("users").under("/users"));
        rules.arm(FaultRule::new("any"));

        assert_eq!(rules.take("GET", "/projects/1/issues"), Some("any"), "another method");
        assert_eq!(rules.take("POST", "/projects/1/issues/7/notes"), Some("post"));
        assert_eq!(rules.take("POST", "/projects/2/issues"), None, "another path; `any` was used up");
        assert_eq!(rules.take("PUT", "/users/3"), Some("users"));
        assert_eq!(rules.take("POST", "/projects/1/issues"), Some("post"));
        assert_eq!(rules.take("POST", "/projects/1/issues"), None);
    }

    #[test]
    fn a_rule_with_after_lets_that_many_matching_requests_through_first() {
        let mut rules = FaultRules::default();
        rules.arm(FaultRule::new("late").on("GET", "/projects/1/issues").after(2).times(2));
        assert_eq!(rules.take("GET", "/projects/2/issues"), None, "not matching: not counted");
        assert_eq!(rules.take("GET", "/projects/1/issues"), None);
        assert_eq!(rules.take("GET", "/projects/1/issues"), None);
        assert_eq!(rules.take("GET", "/projects/1/issues"), Some("late"));
        assert_eq!(rules.take("GET", "/projects/1/issues"), Some("late"));
        assert_eq!(rules.take("GET", "/projects/1/issues"), None, "used up");
    }

    #[test]
    fn a_rule_for_no_request_is_never_used() {
        let mut rules = FaultRules::default();
        rules.arm(FaultRule::new(1).times(0));
        assert_eq!(rules.take("GET", "/"), None);
        rules.clear();
        rules.arm(FaultRule::new(2));
        rules.clear();
        assert_eq!(rules.take("GET", "/"), None);
    }
}
