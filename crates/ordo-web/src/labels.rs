//! Printed documents in the back office: built by `ordo_http::documents`, exactly as the
//! API builds them; only their refusals are answered the back office's way.

use ordo_domain::{FieldError, Problem};

use crate::error::WebError;

/// A label the courier could not use (an address lacks what delivery needs), as a 422.
pub(crate) fn document_error(e: ordo_labels::DocumentError) -> WebError {
    match e {
        ordo_labels::DocumentError::Invalid(fields) => WebError::Problem(Problem::Invalid(
            fields
                .into_iter()
                .map(|f| FieldError::new(f.field, f.message))
                .collect(),
        )),
    }
}
