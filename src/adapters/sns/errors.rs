//! Which SNS failures are worth retrying: throttling, server errors and network trouble are
//! transient; anything else the service refuses (no such topic, bad parameter, no permission)
//! fails again the same way, so it is permanent.

use crate::ports::notifier::NotifyError;
use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Error codes SNS answers when it wants the caller to slow down.
const THROTTLING_CODES: &[&str] = &["Throttling", "ThrottlingException", "ThrottledException"];

pub fn classify<E>(error: SdkError<E, HttpResponse>) -> NotifyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("unknown");
            let message = service.err().message().unwrap_or("");
            let text = format!("SNS refused the message ({status} {code}): {message}");
            if status == 429 || status >= 500 || THROTTLING_CODES.contains(&code) {
                NotifyError::Transient(text)
            } else {
                NotifyError::Permanent(text)
            }
        }
        SdkError::ConstructionFailure(_) => NotifyError::Permanent(format!(
            "cannot build the SNS request: {}",
            DisplayErrorContext(&error)
        )),
        _ => NotifyError::Transient(format!(
            "SNS did not answer: {}",
            DisplayErrorContext(&error)
        )),
    }
}
