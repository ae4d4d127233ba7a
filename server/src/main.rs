//! `cybergraph`: the node binary. Parsing and dispatch live in [`cli`]; this file only maps the
//! outcome to an exit code.

mod blocking;
mod chain_sprint;
mod cli;
mod client;
mod codes;
mod compile_job;
mod data_dir;
mod device;
mod graphiql;
mod graphql;
mod http;
mod import;
mod limits;
mod metrics;
mod pool;
mod producer;
mod relay;
mod search;
mod settings;
mod sprint_job;
mod wire;

fn main() -> std::process::ExitCode {
    match cli::run(cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
