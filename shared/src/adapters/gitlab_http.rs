//! The GitLab REST v4 client (adapter of [`crate::ports::GitlabApi`]).
