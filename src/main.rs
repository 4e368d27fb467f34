//! `ddpm`: see `ddpm --help` and the README.

fn main() {
    // An internal error (a bug) still gets one line, not a backtrace, unless RUST_BACKTRACE is set.
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            eprintln!(
                "internal error: {}{place} (please report it; RUST_BACKTRACE=1 shows more)",
                msg.replace('\n', " ")
            );
        }));
    }
    if let Err(e) = ddpm::cli::main() {
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}
