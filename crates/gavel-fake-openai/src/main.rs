//! `gavel-fake-openai`: the fake OpenAI server as a process, for benchmarks and manual tries.
//!
//! ```text
//! gavel-fake-openai [--bind 127.0.0.1:0] [--threads 2] [--reply pairwise|quality|rating|first] [--latency-ms 0]
//! ```
//! Prints the base URL (`http://127.0.0.1:PORT/v1`) on the first line of stdout, then serves
//! until it is killed. `GET /stats` returns the counters.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use gavel_fake_openai::{
    FakeOpenAi, Options, Reply, hashed_pairwise_verdict, hashed_rating, quality_verdict,
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut options = Options::default();
    let mut reply = "pairwise".to_string();
    let mut latency = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bind" => {
                options.bind = value("--bind")?
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("--bind: {e}"))?;
            }
            "--threads" => {
                options.threads = value("--threads")?
                    .parse()
                    .map_err(|e| format!("--threads: {e}"))?;
            }
            "--reply" => reply = value("--reply")?,
            "--latency-ms" => {
                latency = Duration::from_millis(
                    value("--latency-ms")?
                        .parse()
                        .map_err(|e| format!("--latency-ms: {e}"))?,
                );
            }
            "-h" | "--help" => {
                println!(
                    "gavel-fake-openai [--bind ADDR] [--threads N] [--reply pairwise|quality|rating|first] [--latency-ms MS]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let script: fn(&gavel_fake_openai::ChatCall) -> Reply = match reply.as_str() {
        "pairwise" => hashed_pairwise_verdict,
        "rating" => hashed_rating,
        "quality" => quality_verdict,
        "first" => |_| Reply::text("Assistant A is better. [[A]]"),
        other => return Err(format!("unknown --reply `{other}`")),
    };
    let server = FakeOpenAi::start_with(options, move |call| script(call).after(latency))
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", server.base_url()).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    // Serve until killed.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
        let _ = &server;
    }
}
