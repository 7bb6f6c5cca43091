//! Times rendering and encrypting a statement of N transactions, and reports the
//! process's peak memory (VmHWM). Run each size in its own process so the peaks do
//! not mix:
//!
//! `cargo run --release --example statement_bench -- <rows> [out.pdf]`

use std::time::Instant;

use chrono::{Duration, NaiveDate};
use piivault::domain::{Currency, Period, Transaction};
use piivault::pdf::{encrypt, mask_phone, render_statement, Statement};

const DETAILS: [&str; 4] = [
    "Customer Transfer to 0712*****8 Mama Mboga",
    "Pay Bill Online to 888880 - KPLC PREPAID Acc. 37192837465",
    "Оплата за хлеб и молоко, магазин на углу",
    "Merchant Payment to Σωκράτης Cafe Nairobi",
];

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Nanoseconds this thread has spent on a CPU: on a shared machine, where other work
/// competes for the cores, this is the figure that does not depend on the neighbours.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |nanos| nanos / 1e9)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().unwrap_or_else(|| "10000".to_owned()).parse()?;
    let out = args.next();
    let start = NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .ok_or_else(|| anyhow::anyhow!("bad start date"))?;
    let transactions: Vec<Transaction> = (0..rows)
        .map(|n| {
            let amount = if n % 3 == 0 {
                250_000
            } else {
                -(12_345 + i64::try_from(n % 97).unwrap_or(0) * 100)
            };
            Transaction {
                id: piivault::id::TransactionId::generate(),
                reference: format!("QFT{n:07}X"),
                occurred_at: start + Duration::seconds(i64::try_from(n).unwrap_or(0) * 97),
                details: DETAILS[n % DETAILS.len()].to_owned(),
                amount,
                currency: Currency::KES,
            }
        })
        .collect();
    let before = peak_memory_mib().unwrap_or(0.0);
    let statement = Statement {
        customer_name: "Дмитрий Σωκράτης Zoë".to_owned(),
        masked_phone: Some(mask_phone("+254712345678")),
        period: Period {
            from: start.date(),
            to: transactions
                .last()
                .map_or(start.date(), |last| last.occurred_at.date()),
        },
        currency: Currency::KES,
        requested_at: chrono::Utc::now(),
        reference: "bench".to_owned(),
        opening_balance: 1_000_000,
        transactions,
    };

    let cpu_started = cpu_seconds();
    let started = Instant::now();
    let document = render_statement(&statement)?;
    let rendered = started.elapsed();
    let protected = encrypt(&document, "12345678")?;
    let total = started.elapsed();
    let cpu = cpu_seconds() - cpu_started;
    println!(
        "rows={rows} render={:.3}s encrypt={:.3}s total={:.3}s cpu={cpu:.3}s pdf={:.1}MiB peak_rss={:.0}MiB (input rows alone {:.0}MiB)",
        rendered.as_secs_f64(),
        total.saturating_sub(rendered).as_secs_f64(),
        total.as_secs_f64(),
        protected.len() as f64 / 1_048_576.0,
        peak_memory_mib().unwrap_or(f64::NAN),
        before,
    );
    if let Some(path) = out {
        std::fs::write(path, &protected)?;
    }
    Ok(())
}
