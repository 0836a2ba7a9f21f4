//! The dataset card (`README.md`): sources, the exact command, every filter with its count,
//! de-biasing, balance before and after, splits and the example schema. It opens with the
//! YAML header the Hugging Face hub reads to find the split files. No timestamps: the same
//! build writes the same card.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use gavel_core::AtomicFile;

use crate::config::{BuildConfig, Split};
use crate::error::DatasetError;
use crate::report::{BuildReport, LabelCounts};

/// Quotes a command-line argument for a POSIX shell when it needs quoting.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@%+".contains(c));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / of as f64)
    }
}

fn labels_cell(l: &LabelCounts) -> String {
    let t = l.total();
    format!(
        "{} / {} / {} ({} / {} / {})",
        l.a,
        l.b,
        l.tie,
        pct(l.a, t),
        pct(l.b, t),
        pct(l.tie, t)
    )
}

/// Renders the card.
pub fn render(config: &BuildConfig, report: &BuildReport) -> String {
    let mut s = String::new();
    let w = &mut s;
    // Writing to a String cannot fail.
    let _ = writeln!(w, "---");
    let _ = writeln!(w, "configs:\n- config_name: default\n  data_files:");
    for split in Split::ALL {
        let ext = if config.parquet { "parquet" } else { "jsonl" };
        let _ = writeln!(w, "  - split: {0}\n    path: {0}.{ext}", split.as_str());
    }
    let _ = writeln!(w, "tags:\n- llm-as-a-judge\n- gavel\n---\n");
    let _ = writeln!(w, "# Judge training set\n");
    let examples = report.examples();
    let _ = writeln!(
        w,
        "Built by gavel {} (`gavel dataset build`) from {} teacher judgment records{}: \
         {} examples in the `{}` layout, targets in each template's own output convention.\n",
        env!("CARGO_PKG_VERSION"),
        report.teacher_records,
        match &report.human {
            Some(h) => format!(" and {} human labels", h.labels),
            None => String::new(),
        },
        examples,
        config.format.as_str()
    );

    let _ = writeln!(w, "## Command\n\n```sh");
    let cmd: Vec<String> = config.command.iter().map(|a| shell_quote(a)).collect();
    let _ = writeln!(
        w,
        "{}",
        if cmd.is_empty() {
            "(built through the library)".into()
        } else {
            cmd.join(" ")
        }
    );
    let _ = writeln!(w, "```\n");

    let _ = writeln!(w, "## Sources\n\n| role | file | records |\n|---|---|---:|");
    for i in &report.inputs {
        let _ = writeln!(w, "| {} | `{}` | {} |", i.role, i.path, i.records);
    }
    let _ = writeln!(w);

    let _ = writeln!(
        w,
        "## Filters\n\nEach teacher record is counted under the first filter that drops it, in \
         this order. Of {} records, {} ({}) gave at least one example.\n",
        report.teacher_records,
        report.teacher_records_kept,
        pct(report.teacher_records_kept, report.teacher_records)
    );
    let _ = writeln!(
        w,
        "| filter | drops | setting | records | examples |\n|---|---|---|---:|---:|"
    );
    for f in &report.filters {
        let _ = writeln!(
            w,
            "| `{}` | {} | {} | {} | {} |",
            f.reason.id(),
            f.description,
            f.setting,
            f.records,
            f.examples
        );
    }
    if !report.teacher_agreement_checked {
        let _ = writeln!(
            w,
            "\nSeveral records of one pair were not compared (teacher agreement off, or the \
             judgments came on stdin); later records of a pair were still dropped as \
             `repeated_pair`."
        );
    }
    let _ = writeln!(w);

    if let Some(h) = &report.human {
        let _ = writeln!(
            w,
            "## Human test set\n\n{} human labels on {} pairs; {} pairs written to `test` with \
             their majority label (verdict-only targets), {} without a majority, {} labels not \
             a pairwise choice.",
            h.labels, h.pairs, h.examples, h.no_majority, h.not_pairwise
        );
        for (reason, n) in &h.dropped {
            let _ = writeln!(w, "- dropped ({reason}): {n}");
        }
        let _ = writeln!(
            w,
            "\nTheir items are reserved: teacher judgments of them, and of items whose \
             instruction repeats theirs, are dropped (`human_test_item`, `test_leak`).\n"
        );
    }

    let _ = writeln!(w, "## De-biasing\n");
    let sw = &report.swap;
    let _ = writeln!(
        w,
        "- Swap augmentation (`{}`): {} examples in the teacher's order, {} with the responses \
         exchanged (label flipped). {} rationales had their mentions of the responses rewritten \
         ({} mentions: swapped positions, and the template's names such as \"Assistant A\" or \
         \"Response 1\").",
        sw.policy, sw.original_order, sw.swapped, sw.rationales_rewritten, sw.mentions_rewritten
    );
    let r = &report.reference;
    let _ = writeln!(
        w,
        "- Reference answers: {} examples had one; {} shown, {} left out by the drop (share {}), \
         the rest under templates that show none.",
        r.with_reference, r.shown, r.dropped, r.drop_share
    );
    let _ = writeln!(
        w,
        "- Templates, drawn per example by the seed among those that can carry its verdict:\n"
    );
    let _ = writeln!(
        w,
        "| template | convention | share asked | examples | share written |\n|---|---|---:|---:|---:|"
    );
    let written: u64 = report.templates.iter().map(|t| t.examples).sum();
    for t in &report.templates {
        let _ = writeln!(
            w,
            "| `{}` | `{}` | {:.1}% | {} | {} |",
            t.name,
            t.convention,
            100.0 * t.share,
            t.examples,
            pct(t.examples, written)
        );
    }
    let _ = writeln!(
        w,
        "\n- Label balance (`{}`), train and validation only (A / B / tie):\n",
        report.balance
    );
    let _ = writeln!(w, "| split | before | after |\n|---|---|---|");
    for split in Split::ALL {
        if let Some(sr) = report.splits.get(split.as_str()) {
            let _ = writeln!(
                w,
                "| {} | {} | {} |",
                split.as_str(),
                labels_cell(&sr.labels_before),
                labels_cell(&sr.labels)
            );
        }
    }
    let _ = writeln!(w);

    let _ = writeln!(
        w,
        "## Splits\n\nBy instruction (the normalised instruction with its input): an \
         instruction is in one split only; seed {}, shares train {:.0}% / validation {:.0}% / \
         test {:.0}% of the teacher's instructions{}.\n",
        config.seed,
        100.0 * config.splits.train,
        100.0 * config.splits.validation,
        100.0 * config.splits.test,
        if config.human.is_empty() {
            ""
        } else {
            "; the human-labelled items make the test split"
        }
    );
    let _ = writeln!(
        w,
        "| split | examples | items | instructions | teacher | human | A / B / tie |\n|---|---:|---:|---:|---:|---:|---|"
    );
    for split in Split::ALL {
        if let Some(sr) = report.splits.get(split.as_str()) {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {} |",
                split.as_str(),
                sr.examples,
                sr.items,
                sr.instructions,
                sr.teacher_examples,
                sr.human_examples,
                labels_cell(&sr.labels)
            );
        }
    }
    let _ = writeln!(
        w,
        "\n{} distinct instructions in the deduplication index.\n",
        report.distinct_instructions
    );

    let t = &report.tokens;
    let _ = writeln!(
        w,
        "## Lengths\n\nTokens {}: prompt mean {:.0}, max {}; target mean {:.0}, max {}.\n",
        t.counter, t.prompt_mean, t.prompt_max, t.target_mean, t.target_max
    );

    let _ = writeln!(
        w,
        "## Example fields\n\n{} Beside it, flat fields for trainers: `id`, `item`, {}`reference` \
         (as shown), `mode`, `response_a`, `response_b` (in the order shown), `model_a`, \
         `model_b`, `label` (`A` = the response shown first is better, `B`, `tie`), `scores`, \
         `order` (`AB` as the teacher saw it, `BA` swapped), `template`, `source` (the \
         teacher's annotator, or `human`). See gavel's docs/formats.md.\n",
        match config.format {
            crate::config::ExampleFormat::Messages =>
                "`messages`: the judge prompt (system, user) and the target as the assistant turn.",
            crate::config::ExampleFormat::Sharegpt =>
                "`conversations`: the judge prompt (system, human) and the target as the gpt turn.",
            crate::config::ExampleFormat::Alpaca =>
                "`instruction` (the judge prompt), `input` (empty), `output` (the target), `system`.",
        },
        match config.format {
            crate::config::ExampleFormat::Alpaca => "`item_instruction`, `item_input`, ",
            _ => "`instruction`, `input`, ",
        }
    );
    let _ = writeln!(
        w,
        "## Verify\n\n```sh\ngavel dataset check {}\n```\n\nre-parses every target with its \
         template's parser, checks that no instruction or item is in two splits, and reports \
         the balance.",
        shell_quote(&config.out.display().to_string())
    );
    s
}

/// Writes the card into the dataset directory.
pub fn write(dir: &Path, text: &str) -> Result<(), DatasetError> {
    let path = dir.join(crate::build::CARD);
    let mut f = AtomicFile::create(&path)?;
    f.write_all(text.as_bytes())
        .map_err(|e| DatasetError::io(&path, e))?;
    f.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--out"), "--out");
        assert_eq!(shell_quote("data/items.jsonl"), "data/items.jsonl");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
