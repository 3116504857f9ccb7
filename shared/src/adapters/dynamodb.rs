//! The link store on DynamoDB (adapter of [`crate::ports::LinkStore`]).
