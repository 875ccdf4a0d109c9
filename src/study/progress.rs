//! What a long study reports while it runs. The library only calls this trait; showing it (a
//! bar, lines, nothing) is the application's choice.

/// Progress of a study: stages of counted work units, and remarks. Every method defaults to
/// doing nothing, and may be called from several threads at once.
pub trait Progress: Sync {
    /// A stage of `total` work units named `label` begins.
    fn start(&self, _label: &str, _total: u64) {}
    /// `n` more units of the current stage are done.
    fn advance(&self, _n: u64) {}
    /// The current stage is over.
    fn finish(&self) {}
    /// A remark worth a line (e.g. a scheme left out and why).
    fn note(&self, _message: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
