//! Everything the CLI writes: JSON documents and tables on stdout, errors and notes on stderr.

use std::io::{IsTerminal, Write};

use serde::Serialize;

/// `--format`: a human-readable table, or one JSON document on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    #[default]
    Text,
    /// One JSON document on stdout, nothing else.
    Json,
}

/// Prints one JSON document (pretty, with a final newline) on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Prints text on stdout.
pub fn print_text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Prints an error and its causes on stderr: `error: <what>` then `  caused by: <why>` lines.
pub fn print_error(error: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {error}");
    for cause in error.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {cause}");
    }
}

/// Prints a note on stderr (`note: ...`) unless quiet.
pub fn note(quiet: bool, text: &str) {
    if !quiet {
        eprintln!("note: {text}");
    }
}

/// Prints a warning on stderr (always).
pub fn warn(text: &str) {
    eprintln!("warning: {text}");
}

/// Whether colour may be used on stderr: a terminal, and NO_COLOR unset.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Column alignment in a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Left-aligned (text).
    Left,
    /// Right-aligned (numbers).
    Right,
}

/// A plain-text table: a header row, a rule, and rows; columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers; columns are left-aligned until told otherwise.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        let headers: Vec<String> = headers.into_iter().map(Into::into).collect();
        let aligns = vec![Align::Left; headers.len()];
        Table {
            headers,
            aligns,
            rows: Vec::new(),
        }
    }

    /// Right-aligns the given columns (0-based), for numbers.
    pub fn right(mut self, columns: &[usize]) -> Table {
        for &c in columns {
            if let Some(a) = self.aligns.get_mut(c) {
                *a = Align::Right;
            }
        }
        self
    }

    /// Adds a row (missing cells are blank).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Renders the table as text.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(width(c));
            }
        }
        let mut out = String::new();
        #[allow(clippy::needless_range_loop)] // `i` indexes cells, widths and aligns alike
        let line = |cells: &[String], out: &mut String| {
            let mut parts = Vec::with_capacity(n);
            for i in 0..n {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = widths[i].saturating_sub(width(c));
                parts.push(match self.aligns[i] {
                    Align::Left => format!("{c}{}", " ".repeat(pad)),
                    Align::Right => format!("{}{c}", " ".repeat(pad)),
                });
            }
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
        line(&self.headers, &mut out);
        out.push_str(
            &widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("  "),
        );
        out.push('\n');
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }
}

/// Formats a float for a table with a fixed number of decimals; `-` for none or NaN.
pub fn fixed(x: Option<f64>, decimals: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_and_aligns() {
        let mut t = Table::new(["model", "score"]).right(&[1]);
        t.row(["a", "1.50"]);
        t.row(["long-name", "10.25"]);
        assert_eq!(
            t.render(),
            "model      score\n---------  -----\na           1.50\nlong-name  10.25\n"
        );
    }
}
