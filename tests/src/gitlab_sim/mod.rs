//! A stateful simulator of the GitLab REST v4 subset the sync uses.
