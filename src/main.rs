//! `ddpm`: see `ddpm --help` and the README.

use std::panic::PanicHookInfo;

fn main() {
    let default_hook = std::panic::take_hook();
    let backtrace = std::env::var_os("RUST_BACKTRACE").is_some();
    std::panic::set_hook(Box::new(move |info| {
        if is_broken_pipe(info) {
            // `ddpm info | head`: a closed stdout ends the program quietly, as it would a C
            // tool (Rust ignores SIGPIPE, so `println!` panics instead).
            std::process::exit(0);
        }
        if backtrace {
            default_hook(info);
        } else {
            // An internal error (a bug) gets one line, not a backtrace.
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            eprintln!(
                "internal error: {}{place} (please report it; RUST_BACKTRACE=1 shows more)",
                message(info).replace('\n', " ")
            );
        }
    }));
    if let Err(e) = ddpm::cli::main() {
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}

fn message<'a>(info: &'a PanicHookInfo) -> &'a str {
    info.payload()
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| info.payload().downcast_ref::<&str>().copied())
        .unwrap_or("unknown")
}

fn is_broken_pipe(info: &PanicHookInfo) -> bool {
    let msg = message(info);
    msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe")
}
