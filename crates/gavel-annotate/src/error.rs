//! The one error type of the app. Messages of the user-facing kinds are shown as they are;
//! database and internal errors are shown as a generic "internal error" (their details go to
//! the request log callback, never to the client).

/// An error from the app or its store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not signed in, or the credentials are wrong.
    #[error("sign in first")]
    Unauthorized,
    /// Signed in, but the role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// A state-changing request without a valid CSRF token or from another origin.
    #[error("the form is stale or came from another site; reload the page and try again")]
    Csrf,
    /// Nothing there (or nothing this user may see).
    #[error("{0} not found")]
    NotFound(String),
    /// The request is malformed or its data is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (e.g. a name already taken).
    #[error("{0}")]
    Conflict(String),
    /// SQLite failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// Anything else that is not the user's fault.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::Unauthorized => 401,
            Error::Forbidden(_) | Error::Csrf => 403,
            Error::NotFound(_) => 404,
            Error::BadRequest(_) => 400,
            Error::Conflict(_) => 409,
            Error::Db(_) | Error::Internal(_) => 500,
        }
    }

    /// What the client is told: the message, or a generic text for internal failures.
    pub fn public_message(&self) -> String {
        match self {
            Error::Db(_) | Error::Internal(_) => {
                "internal error; the server log has the details".to_string()
            }
            other => other.to_string(),
        }
    }

    /// Shorthand for a [`Error::BadRequest`].
    pub fn bad(message: impl Into<String>) -> Error {
        Error::BadRequest(message.into())
    }

    /// Shorthand for a [`Error::Forbidden`] about the lead role.
    pub fn lead_only() -> Error {
        Error::Forbidden("only a lead can do this".to_string())
    }
}
