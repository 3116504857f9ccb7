//! The inbound planner's rules, one by one.
