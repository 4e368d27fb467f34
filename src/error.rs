//! The errors a user can cause or meet, by kind. Each prints as one line for the terminal (the
//! message says what happened and what to do); code and tests can tell the kinds apart with
//! `anyhow::Error::downcast_ref::<ddpm::Error>()`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter, or none that matches `--adapter` / `--backend`.
    #[error("{0}")]
    Adapter(String),
    /// Beyond what the adapter can do: a tensor over its largest storage binding.
    #[error("{0}")]
    Limit(String),
    /// A model config (preset name or config.json) this engine cannot build.
    #[error("{0}")]
    Config(String),
    /// A file or folder that is missing, unreadable, of the wrong kind or of another model.
    #[error("{0}")]
    File(String),
    /// Training stopped because the loss or the weights became non-finite.
    #[error("{0}")]
    Diverged(String),
}

/// Returns early with a typed [`Error`] of kind `$kind`: `fail!(Config, "unknown preset")`.
#[macro_export]
macro_rules! fail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::error::Error::$kind(format!($($arg)*)).into())
    };
}
