//! The `cairn` binary.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use cairn::config::Config;

/// Cairn: a self-hosted log service speaking the Alibaba Cloud Log Service (SLS) API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on: host:port, [v6]:port or :port (every IPv4 interface)
        /// [default: 127.0.0.1:7070, or `listen` in the config file].
        #[arg(long)]
        listen: Option<String>,
        /// Data directory [default: ./cairn-data, or `data_dir` in the config file].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file (see cairn.example.toml for every key and its default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Serve requests without authentication (throw-away local use only).
        #[arg(long)]
        no_auth: bool,
    },
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain of causes on one line; no backtrace, whatever RUST_BACKTRACE says.
            eprintln!("cairn: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    // The search library logs every commit at info; only its warnings are the operator's
    // business, unless CAIRN_LOG names it.
    let directives = std::env::var("CAIRN_LOG").unwrap_or_else(|_| "info".into());
    let directives = if directives.contains("tantivy") {
        directives
    } else {
        format!("{directives},tantivy=warn")
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&directives)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            config,
            no_auth,
        } => {
            let mut cfg = match config {
                Some(path) => Config::from_file(&path)?,
                None => Config::default(),
            };
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            if no_auth {
                cfg.auth.enabled = false;
            }
            cfg.validate()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(cairn::server::run(cfg))
        }
    }
}
