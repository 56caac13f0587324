//! Errors. Identifiers and barcodes fail with a precise reason; documents collect every
//! invalid field at once (like `ordo-domain`), so an API can answer one 422 naming them all.

use serde::Serialize;

/// Why an identifier (GTIN, SSCC, S10 tracking number) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must contain only the digits 0-9")]
    NotDigits,
    #[error("must be {expected} characters long, got {actual}")]
    WrongLength { expected: String, actual: usize },
    #[error("check digit is {found}, expected {expected}")]
    BadCheckDigit { expected: u8, found: u8 },
    #[error("{0}")]
    Invalid(String),
}

/// Why data cannot be drawn as a Code 128 symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    #[error("nothing to encode")]
    Empty,
    /// Only printable ASCII (space to `~`) is supported: control characters need subset A,
    /// which labels never use, and Latin-1 needs FNC4, which many scanners mishandle.
    #[error("character {0:?} cannot be encoded (printable ASCII only)")]
    UnsupportedCharacter(char),
    #[error("GS1 element string: {0}")]
    Gs1(String),
    /// A linear symbol longer than this does not fit on a 4-inch label at a scannable size.
    #[error("too long: {0} symbol characters (at most {max})", max = crate::code128::MAX_DATA_SYMBOLS)]
    TooLong(usize),
}

/// One invalid input field: `field` is a path such as `recipient.name` or `lines[2].quantity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Why a document (label, packing slip, manifest) was not produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("invalid input: {}", list(.0))]
    Invalid(Vec<FieldError>),
}

impl DocumentError {
    /// The invalid fields, for an API's problem response.
    pub fn fields(&self) -> &[FieldError] {
        match self {
            DocumentError::Invalid(fields) => fields,
        }
    }
}

fn list(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects field errors so a caller hears about every problem at once.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    pub(crate) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn finish(self) -> Result<(), DocumentError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DocumentError::Invalid(self.0))
        }
    }
}
