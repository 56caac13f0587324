//! `ordo import orders`: a CSV file of orders through the same import as the connectors.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ordo_connectors::csv_import::CsvFormat;
use ordo_connectors::import::import_file;

pub async fn orders(
    db: &str,
    channel: &str,
    format: Option<&str>,
    file: &Path,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let format = match format {
        Some(f) => CsvFormat::parse(f)
            .ok_or_else(|| anyhow::anyhow!("--format must be shopify, amazon or ordo"))?,
        None => CsvFormat::detect(&bytes).ok_or_else(|| {
            anyhow::anyhow!("the header row matches no known format; name one with --format")
        })?,
    };
    let store = crate::store::open(db).await?;
    if store.get_channel(channel).await?.is_none() {
        store.close().await;
        anyhow::bail!("channel {channel} does not exist");
    }
    // Secrets are not touched by an import; a throwaway key is enough.
    let secrets = ordo_connectors::secrets::SecretBox::from_key([0; 32]);
    let state = ordo_connectors::state::ChannelState::new(store.clone(), secrets, channel);
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report = import_file(&state, &bytes, format, |done, total| {
        if interactive && (done.is_multiple_of(25) || done == total) {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            eprint!(
                "\r  [{}{}] {done}/{total} orders",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            let _ = std::io::stderr().flush();
        }
    })
    .await;
    if interactive {
        eprintln!();
    }
    store.close().await;
    let report = report?;
    println!(
        "{} rows, {} orders: {} imported, {} already known, {} cancelled, {} waiting for attention, {} skipped",
        report.rows,
        report.orders,
        report.created,
        report.already_known,
        report.cancelled,
        report.needs_attention,
        report.skipped
    );
    for e in &report.errors {
        match &e.column {
            Some(c) => println!("  line {} column {c}: {}", e.line, e.reason),
            None => println!("  line {}: {}", e.line, e.reason),
        }
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
