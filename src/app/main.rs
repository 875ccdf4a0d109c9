//! The `mba` binary: the application layer. Flags, settings files, backend choice, progress
//! bars and printing live here; everything that computes lives in the `mba` library.

mod backends;
mod bench;
mod choices;
mod cli;
mod deadline;
mod peer;
mod progress;
mod settings;

fn main() {
    // Die quietly on a closed pipe (`mba solve ... | head`) instead of panicking.
    // SAFETY: resetting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = cli::run_from_args() {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
