fn main() {
    // Die quietly on a closed pipe (`mba solve ... | head`) instead of panicking.
    // SAFETY: resetting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = mba::cli::run_from_args() {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
