//! Classification of AWS SDK errors into "try again later" and "this will not work", shared by the
//! AWS adapters. The class is a short, secret-free string fit for a log line.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

/// Error codes that mean "slow down" or "try again" whatever the service.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "KmsThrottled",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// How an SDK call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// Whether the same call may succeed later.
    pub transient: bool,
    /// The AWS error code, or `dispatch`, `timeout`, `response`, `http-<status>`.
    pub class: String,
    /// The service's message, when there is one.
    pub message: String,
}

/// Classifies any SDK error: no answer, a time-out, a 5xx or a throttling code is transient; any
/// other service error is not.
pub fn classify<E, R>(error: &SdkError<E, R>) -> Classified
where
    E: ProvideErrorMetadata,
    R: HttpStatus,
{
    match error {
        SdkError::DispatchFailure(_) => transient("dispatch"),
        SdkError::TimeoutError(_) => transient("timeout"),
        SdkError::ResponseError(e) => {
            let status = e.raw().status_code();
            Classified { transient: true, class: format!("response-http-{status}"), message: String::new() }
        }
        SdkError::ServiceError(e) => {
            let status = e.raw().status_code();
            let code = e.err().code().map(str::to_owned).unwrap_or_else(|| format!("http-{status}"));
            let transient = status >= 500 || status == 429 || TRANSIENT_CODES.contains(&code.as_str());
            Classified { transient, class: code, message: e.err().message().unwrap_or_default().to_owned() }
        }
        _ => Classified { transient: false, class: "construction".into(), message: String::new() },
    }
}

fn transient(class: &str) -> Classified {
    Classified { transient: true, class: class.into(), message: String::new() }
}

/// The HTTP status of a raw SDK response.
pub trait HttpStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_sqs::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
