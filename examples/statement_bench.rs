//! Times writing (laying out, shaping, encrypting) a statement of N transactions, and
//! reports the process's peak memory (VmHWM). The rows are made one at a time, as the
//! database hands them over, so the peak is the writer's own. Run each size in its
//! own process so the peaks do not mix:
//!
//! `cargo run --release --example statement_bench -- <rows> [out.pdf]`
//!
//! The CPU figure is the whole process's (the writer and its sealing thread), per
//! document: small documents are written several times over (at least 200,000 rows
//! in all) and the time divided, as the kernel counts process time in 10 ms ticks.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, NaiveDate};
use piivault::domain::{Currency, Period, Transaction};
use piivault::pdf::{mask_phone, FontLibrary, StatementHeader, StatementWriter};

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

/// Seconds of CPU this process has used, all threads (utime + stime of
/// /proc/self/stat, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().unwrap_or_else(|| "10000".to_owned()).parse()?;
    let out = args.next();
    let start = NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .ok_or_else(|| anyhow::anyhow!("bad start date"))?;
    let transaction = |n: usize| {
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
    };
    let fonts = FontLibrary::shared(None)?;
    let before = peak_memory_mib().unwrap_or(0.0);
    let header = StatementHeader {
        customer_name: "Дмитрий Σωκράτης Zoë".to_owned(),
        masked_phone: Some(mask_phone("+254712345678")),
        period: Period {
            from: start.date(),
            to: (start + Duration::seconds(i64::try_from(rows).unwrap_or(0) * 97)).date(),
        },
        currency: Currency::KES,
        requested_at: chrono::Utc::now(),
        reference: "bench".to_owned(),
    };

    let repeat = (200_000 / rows.max(1)).max(1);
    let cpu_started = cpu_seconds();
    let started = Instant::now();
    let mut written = (0, 0);
    for round in 0..repeat {
        let out_file: Box<dyn std::io::Write> = match (&out, round) {
            (Some(path), 0) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
            _ => Box::new(std::io::sink()),
        };
        let mut counted = Counted(out_file, 0);
        let mut writer =
            StatementWriter::start(&mut counted, "12345678", Arc::clone(&fonts), header.clone())?;
        writer.opening(1_000_000);
        for n in 0..rows {
            writer.add(&transaction(n))?;
        }
        let (_, missing) = writer.finish()?;
        written = (counted.1, missing);
    }
    let total = started.elapsed().as_secs_f64() / repeat as f64;
    let cpu = (cpu_seconds() - cpu_started) / repeat as f64;
    let (bytes, missing) = written;
    println!(
        "rows={rows} documents={repeat} per document: total={total:.3}s cpu={cpu:.3}s pdf={:.1}MiB; peak_rss={:.0}MiB (before writing {:.0}MiB) missing_glyphs={missing}",
        bytes as f64 / 1_048_576.0,
        peak_memory_mib().unwrap_or(f64::NAN),
        before,
    );
    Ok(())
}

/// A writer that counts what passes through.
struct Counted<W>(W, u64);

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.0.write(bytes)?;
        self.1 += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
