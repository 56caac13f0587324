//! The `ordo` command: serve the API, run the demo, migrate, verify, manage API keys.

mod demo;
mod import;
mod live;
mod serve;
mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ordo_store::Role;

// The capture path allocates many small, short-lived objects across threads; glibc's
// allocator spent a fifth of the CPU on them under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ordo",
    version,
    about = "Order management: every channel's orders, one truth about stock."
)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "ORDO_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve(serve::ServeArgs),
    /// Create a demo database full of realistic data and serve it.
    Demo(demo::DemoArgs),
    /// Apply database migrations and exit (serve does this too).
    Migrate {
        #[arg(long, env = "ORDO_DATABASE_URL", default_value = "sqlite://ordo.db")]
        db: String,
    },
    /// Recompute every balance from the ledger and every reservation from open orders;
    /// print discrepancies and exit 1 if there are any.
    Verify {
        #[arg(long, env = "ORDO_DATABASE_URL", default_value = "sqlite://ordo.db")]
        db: String,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Manage back-office users (the web UI).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Import data from files.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import orders from a CSV file (Shopify's orders export, Amazon's tab-separated
    /// order report, or Ordo's own CSV). Valid orders are imported, invalid rows listed
    /// with their line and column; importing the same file again adds nothing.
    Orders {
        #[arg(long, env = "ORDO_DATABASE_URL", default_value = "sqlite://ordo.db")]
        db: String,
        /// The channel the orders belong to.
        #[arg(long)]
        channel: String,
        /// shopify, amazon or ordo (default: recognised from the header row).
        #[arg(long)]
        format: Option<String>,
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from ORDO_PASSWORD or the first line of standard input.
    Create {
        #[arg(long, env = "ORDO_DATABASE_URL", default_value = "sqlite://ordo.db")]
        db: String,
        #[arg(long)]
        username: String,
        /// admin, manager, warehouse, support or readonly.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key and print it once (only its hash is stored).
    Create {
        #[arg(long, env = "ORDO_DATABASE_URL", default_value = "sqlite://ordo.db")]
        db: String,
        /// admin, manager, warehouse, support, readonly or integration.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A name to recognise the key by (shown as the actor of its writes).
        #[arg(long)]
        name: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        "must be one of admin, manager, warehouse, support, readonly, integration".into()
    })
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ORDO_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Migrate { db } => {
                let store = store::open(&db).await?;
                println!("{}: migrations applied", store.describe());
                store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            Command::Verify { db } => {
                let store = store::open(&db).await?;
                let report = store.verify().await?;
                store.close().await;
                println!(
                    "checked {} balances and {} orders: {} discrepancies",
                    report.balances_checked,
                    report.orders_checked,
                    report.discrepancies.len()
                );
                for d in &report.discrepancies {
                    println!(
                        "  {} at {} [{}]: recorded {}, expected {} (from {})",
                        d.sku, d.location, d.state, d.recorded, d.expected, d.source
                    );
                }
                Ok(if report.is_clean() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            Command::Import {
                command:
                    ImportCommand::Orders {
                        db,
                        channel,
                        format,
                        file,
                    },
            } => import::orders(&db, &channel, format.as_deref(), &file).await,
            Command::User {
                command: UserCommand::Create { db, username, role },
            } => {
                let password = match std::env::var("ORDO_PASSWORD") {
                    Ok(p) => p,
                    Err(_) => {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line)?;
                        line.trim_end_matches(['\r', '\n']).to_string()
                    }
                };
                if password.chars().count() < 8 {
                    anyhow::bail!("the password must have at least 8 characters");
                }
                if role == Role::Integration {
                    anyhow::bail!("integration is a role for API keys, not for people");
                }
                let hash = ordo_http::auth::hash_password(&password).map_err(anyhow::Error::msg)?;
                let store = store::open(&db).await?;
                let user = store.create_user(&username, role, &hash).await;
                store.close().await;
                let user = user?;
                eprintln!(
                    "created user #{} '{}' with role {}",
                    user.id,
                    user.username,
                    role.as_str()
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::Apikey {
                command: ApikeyCommand::Create { db, role, name },
            } => {
                let store = store::open(&db).await?;
                let token = ordo_http::auth::generate_token();
                let key = store
                    .create_api_key(&name, role, &ordo_http::auth::hash_token(&token))
                    .await?;
                store.close().await;
                println!("{token}");
                eprintln!(
                    "created key #{} '{}' with role {}; it is shown only this once",
                    key.id,
                    key.name,
                    role.as_str()
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
