//! What arrives to be synced, read once into the sync's types: the GitLab delivery as the webhook
//! function queues it ([`gitlab`], trimmed to the fields the sync uses) and what it says about its
//! issue or note ([`facts`]), and QALITA's change events ([`qalita`]).

pub mod facts;
pub mod gitlab;
pub mod qalita;
