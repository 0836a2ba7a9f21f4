//! `gavel templates`: list and show the judge prompt templates.

use std::path::PathBuf;

use gavel_judge::template::{Template, TemplateError, TemplateInfo, fastchat_prompts};
use serde_json::{Value, json};

use crate::output::{self, OutputFormat, Table};
use crate::{GlobalArgs, Outcome, UsageError};

const EXAMPLES: &str = "Examples:
  # The built-in library: mode, output convention, scale, what each needs
  gavel templates list
  gavel templates list --format json

  # The prompts of a FastChat judge_prompts.jsonl file (use them as FILE#NAME)
  gavel templates list --file judge_prompts.jsonl

  # A template's text and metadata, then what the judge sees for an example item
  gavel templates show mt-bench-pair
  gavel templates show prometheus-absolute --example --var rubric='Is the answer correct?'
  gavel templates show my-judge.jinja --example --format json";

/// List and show the judge prompt templates (built-in, template files, FastChat prompt files).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the built-in templates (or the prompts of a FastChat judge_prompts.jsonl file).
    #[command(after_help = EXAMPLES)]
    List {
        /// List the prompts of this FastChat judge_prompts.jsonl file instead.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,

        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Show a template: its metadata and text, and optionally a rendered example.
    #[command(after_help = EXAMPLES)]
    Show {
        /// A built-in name, a template file, or FILE.jsonl#NAME (a FastChat prompt).
        #[arg(value_name = "NAME|FILE")]
        template: String,

        /// Also render the messages for an example item.
        #[arg(long)]
        example: bool,

        /// A value for a template field in the example (repeatable; `NAME=@PATH` reads a file).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,

        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

/// Runs the command.
pub fn run(args: Args, _global: &GlobalArgs) -> anyhow::Result<Outcome> {
    match args.action {
        Action::List { file, format } => {
            let templates = match &file {
                Some(path) => fastchat_prompts(path)?,
                None => Template::builtins(),
            };
            list(&templates, format)?;
        }
        Action::Show {
            template,
            example,
            vars,
            format,
        } => {
            let t = match Template::resolve(&template) {
                Ok(t) => t,
                Err(e @ TemplateError::Unknown { .. }) => {
                    return Err(anyhow::Error::new(UsageError(e.to_string())));
                }
                Err(e) => return Err(e.into()),
            };
            let vars = crate::commands::judge::parse_vars(&vars)?;
            let messages = if example {
                Some(
                    t.render_example(&vars)
                        .map_err(|e| anyhow::anyhow!("cannot render the example: {e}"))?,
                )
            } else {
                None
            };
            show(&t, messages.as_deref(), format)?;
        }
    }
    Ok(Outcome::Success)
}

fn scale_text(info: &TemplateInfo) -> String {
    match info.scale {
        Some([lo, hi]) => format!("{lo}-{hi}"),
        None => "-".into(),
    }
}

fn needs_text(info: &TemplateInfo) -> String {
    let mut needs = Vec::new();
    match info.reference {
        gavel_judge::template::ReferenceUse::Required => needs.push("reference".to_string()),
        gavel_judge::template::ReferenceUse::Optional => needs.push("(reference)".to_string()),
        gavel_judge::template::ReferenceUse::None => {}
    }
    needs.extend(info.fields.iter().cloned());
    needs.extend(info.defaults.keys().map(|k| format!("({k})")));
    if needs.is_empty() {
        "-".into()
    } else {
        needs.join(" ")
    }
}

fn list(templates: &[Template], format: OutputFormat) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        let all: Vec<&TemplateInfo> = templates.iter().map(Template::info).collect();
        return output::print_json(&json!({ "templates": all }));
    }
    let mut t = Table::new([
        "name",
        "mode",
        "parser",
        "scale",
        "turns",
        "needs",
        "description",
    ]);
    for tpl in templates {
        let i = tpl.info();
        t.row([
            i.name.clone(),
            i.mode.to_string(),
            i.parser.to_string(),
            scale_text(i),
            serde_json::to_value(i.turns)?
                .as_str()
                .unwrap_or("")
                .to_string(),
            needs_text(i),
            i.description.clone(),
        ]);
    }
    let mut text = t.render();
    text.push_str(
        "\nneeds: fields each item (or --var) must give; in parentheses, optional ones.\n\
         Show one with `gavel templates show NAME [--example]`.\n",
    );
    output::print_text(&text)
}

fn show(
    t: &Template,
    messages: Option<&[gavel_judge::backend::ChatMessage]>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let i = t.info();
    let convention = t.convention().describe(t.scale());
    if format == OutputFormat::Json {
        let mut v = serde_json::to_value(i)?;
        if let Value::Object(m) = &mut v {
            m.insert("verdict_format".into(), json!(convention));
            m.insert("text".into(), json!(t.text()));
            if let Some(ms) = messages {
                m.insert(
                    "example".into(),
                    json!(
                        ms.iter()
                            .map(|m| json!({"role": m.role, "content": m.content}))
                            .collect::<Vec<_>>()
                    ),
                );
            }
        }
        return output::print_json(&v);
    }
    let mut out = String::new();
    out.push_str(&format!("name         {}\n", i.name));
    out.push_str(&format!("description  {}\n", i.description));
    out.push_str(&format!("mode         {}\n", i.mode));
    out.push_str(&format!("parser       {} ({convention})\n", i.parser));
    out.push_str(&format!("scale        {}\n", scale_text(i)));
    out.push_str(&format!(
        "turns        {}\n",
        serde_json::to_value(i.turns)?.as_str().unwrap_or("")
    ));
    out.push_str(&format!("needs        {}\n", needs_text(i)));
    if let Some(s) = &i.source {
        out.push_str(&format!("follows      {s}\n"));
    }
    out.push_str(&format!("origin       {}\n", i.origin));
    out.push_str(&format!("sha256       {}\n", i.sha256));
    out.push_str("\n--- template ---\n");
    out.push_str(t.text().trim_end());
    out.push('\n');
    if let Some(ms) = messages {
        out.push_str("\n--- example: what the judge sees ---\n");
        for m in ms {
            out.push_str(&format!("[{}]\n{}\n\n", m.role, m.content));
        }
    }
    output::print_text(&out)
}
