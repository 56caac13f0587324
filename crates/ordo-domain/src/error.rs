use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field: `field` is a path into the request body such as `lines[2].sku`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Errors a command can end with, independent of transport and storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (illegal transition, failed compare-and-swap).
    #[error("{message}")]
    Conflict {
        message: String,
        current: Option<String>,
    },
}

impl Problem {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem::Invalid(vec![FieldError::new(field, message)])
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Problem::Conflict {
            message: message.into(),
            current: None,
        }
    }
}

/// Collects field errors so a request reports every problem at once.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Problem> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(Problem::Invalid(self.0))
        }
    }
}
