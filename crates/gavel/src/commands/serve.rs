//! `gavel serve`: the human-annotation web app, and the commands that set it up from a
//! terminal (people, projects, imports, exports) on the same database.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use gavel_annotate::export::{
    Filter, import_judgments, labels, read_items, read_upload, write_labels,
};
use gavel_annotate::projects::{
    Criterion, NewProject, ProjectSettings, TaskKind, add_members, create_project, import_items,
    project,
};
use gavel_annotate::users::{Role, create_user, list_users, reset_token, user_by_name};
use gavel_annotate::{AppState, Config, Db, RequestLog, app};

use crate::output::{Table, note, print_text};
use crate::{GlobalArgs, Outcome, UsageError};

/// Serve the human-annotation web app, or set it up: people, projects, imports, exports.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// The annotation database (SQLite; created on first use).
    #[arg(
        long,
        global = true,
        default_value = ".gavel/annotate.sqlite",
        value_name = "PATH"
    )]
    db: PathBuf,
    /// Address to listen on (loopback by default; put a TLS proxy in front to serve a network).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    bind: SocketAddr,
    /// Mark the session cookie Secure (when a TLS proxy serves the app over HTTPS).
    #[arg(long)]
    secure_cookies: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// People: add a lead or an annotator (prints their token once), list, new token.
    #[command(subcommand)]
    User(UserCmd),
    /// Create a project from the terminal (the web page does the same).
    Project(Box<ProjectArgs>),
    /// Import items (JSONL, JSON, CSV, Parquet) or judgments into a project.
    Import(ImportArgs),
    /// Export a project's labels as Label records (format from the extension).
    Export(ExportArgs),
}

#[derive(Debug, clap::Subcommand)]
enum UserCmd {
    /// Add a person; prints their personal sign-in token on stdout (only its hash is kept).
    Add {
        /// The name labels are recorded under.
        name: String,
        /// `lead` or `annotator`.
        #[arg(long, default_value = "annotator")]
        role: String,
        /// Also set a password, read from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List people (never their secrets).
    List,
    /// Replace a person's token (the old one stops working); prints the new one.
    Token {
        /// The person.
        name: String,
    },
}

#[derive(Debug, clap::Args)]
struct ProjectArgs {
    /// Short name used in URLs (`a-z`, `0-9`, `-`).
    #[arg(long)]
    slug: String,
    /// Display name (default: the short name).
    #[arg(long)]
    name: Option<String>,
    /// `pairwise` (A / B / tie), `likert` (a scale with anchors) or `binary` (pass / fail per criterion).
    #[arg(long, value_parser = ["pairwise", "likert", "binary"])]
    kind: String,
    /// Annotators per task (k).
    #[arg(long, default_value_t = 3)]
    overlap: i64,
    /// Pairwise: no tie answer.
    #[arg(long)]
    no_tie: bool,
    /// Pairwise: compare each model with this one only.
    #[arg(long)]
    baseline: Option<String>,
    /// Likert: the scale, e.g. `1-5`.
    #[arg(long, default_value = "1-5")]
    scale: String,
    /// Likert: the anchor of each point, lowest first (repeat once per point).
    #[arg(long = "anchor", value_name = "TEXT")]
    anchors: Vec<String>,
    /// Binary: a criterion, `name: question` (repeat for several).
    #[arg(long = "criterion", value_name = "NAME: QUESTION")]
    criteria: Vec<String>,
    /// Every label needs a reason.
    #[arg(long)]
    require_reason: bool,
    /// Drift threshold on Krippendorff's alpha (windows below it are flagged).
    #[arg(long, default_value_t = 0.667)]
    min_alpha: f64,
    /// The guideline, a Markdown file.
    #[arg(long, value_name = "FILE")]
    guideline: Option<PathBuf>,
    /// Items to import.
    #[arg(long, value_name = "FILE")]
    items: Option<PathBuf>,
    /// Members (comma-separated names of existing people).
    #[arg(long, value_delimiter = ',')]
    members: Vec<String>,
    /// Seed of the per-annotator random orders (default: random).
    #[arg(long)]
    seed: Option<i64>,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The project's short name.
    #[arg(long)]
    project: String,
    /// Items with responses.
    #[arg(long, value_name = "FILE", required_unless_present = "judgments")]
    items: Option<PathBuf>,
    /// Judgments from `gavel judge`, shown beside the humans.
    #[arg(long, value_name = "FILE")]
    judgments: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The project's short name.
    #[arg(long)]
    project: String,
    /// Output file: `.jsonl`, `.json`, `.csv` or `.parquet`.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Only this round (`main`, or a calibration round's name).
    #[arg(long)]
    round: Option<String>,
    /// Only this criterion (binary projects; items then keep their plain ids).
    #[arg(long)]
    criterion: Option<String>,
}

const AFTER_HELP: &str = "\
Examples:
  gavel serve user add lena --role lead            # prints lena's sign-in token once
  gavel serve user add ana                         # an annotator
  gavel serve project --slug helpful --kind pairwise --overlap 3 \\
      --guideline guideline.md --items items.jsonl --members ana,ben,cho
  gavel serve --bind 127.0.0.1:8080                # then open http://127.0.0.1:8080
  gavel serve export --project helpful --out labels.jsonl
  gavel agree --data labels.jsonl                  # the dashboard's numbers

Everything lives in one SQLite file (--db, default .gavel/annotate.sqlite). Tokens and
passwords are stored only as hashes; the request log on stderr never holds a secret.
GET /healthz answers 200 when the app is ready.";

/// Runs the command.
pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    match args.command {
        None => serve(&args.db, args.bind, args.secure_cookies, global),
        Some(Sub::User(cmd)) => user(&args.db, cmd),
        Some(Sub::Project(p)) => new_project(&args.db, &p, global),
        Some(Sub::Import(i)) => import(&args.db, &i, global),
        Some(Sub::Export(e)) => export(&args.db, &e, global),
    }
}

fn open(path: &Path) -> anyhow::Result<Db> {
    Db::open(path).with_context(|| format!("opening the annotation database {}", path.display()))
}

fn serve(
    db_path: &Path,
    bind: SocketAddr,
    secure_cookies: bool,
    global: &GlobalArgs,
) -> anyhow::Result<Outcome> {
    let db = open(db_path)?;
    let n_users = db.with(|c| list_users(c))?.len();
    let quiet = global.quiet;
    let state = AppState::new(
        db,
        Config {
            secure_cookies,
            ..Config::default()
        },
    )
    .with_log(Arc::new(move |l: &RequestLog| {
        // Method, path (never the query string), status, time and user: no secrets.
        if quiet && l.status < 500 {
            return;
        }
        let user = l.user.as_deref().unwrap_or("-");
        let mut line = format!(
            "{} {} {} {:.1}ms {user}",
            l.method, l.path, l.status, l.millis
        );
        if let Some(e) = &l.error {
            line.push_str(&format!(" error: {e}"));
        }
        eprintln!("{line}");
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        note(
            global.quiet,
            &format!("serving http://{addr} (database {})", db_path.display()),
        );
        if n_users == 0 {
            note(
                global.quiet,
                "hint: nobody can sign in yet; add a lead with `gavel serve user add NAME --role lead`",
            );
        }
        axum::serve(listener, app(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the server stopped")?;
        anyhow::Ok(())
    })?;
    Ok(Outcome::Success)
}

fn user(db_path: &Path, cmd: UserCmd) -> anyhow::Result<Outcome> {
    let db = open(db_path)?;
    match cmd {
        UserCmd::Add {
            name,
            role,
            password_stdin,
        } => {
            let role = Role::parse(&role).map_err(|e| UsageError(e.to_string()))?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the password from stdin")?;
                Some(s.lines().next().unwrap_or("").to_string())
            } else {
                None
            };
            let rounds = Config::default().pbkdf2_rounds;
            let (_, token) =
                db.with(|c| create_user(c, &name, role, password.as_deref(), rounds))?;
            print_text(&format!("{token}\n"))?;
        }
        UserCmd::List => {
            let users = db.with(|c| list_users(c))?;
            let mut t = Table::new(["name", "role", "password"]);
            for u in users {
                t.row([
                    u.name,
                    u.role.as_str().to_string(),
                    if u.has_password { "set" } else { "-" }.to_string(),
                ]);
            }
            print_text(&t.render())?;
        }
        UserCmd::Token { name } => {
            let token = db.with(|c| {
                let u = user_by_name(c, &name)?
                    .ok_or_else(|| gavel_annotate::Error::NotFound(format!("user {name:?}")))?;
                reset_token(c, u.id)
            })?;
            print_text(&format!("{token}\n"))?;
        }
    }
    Ok(Outcome::Success)
}

fn read_bytes(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    let bytes = fs_err::read(path)?;
    Ok((path.display().to_string(), bytes))
}

fn new_project(db_path: &Path, p: &ProjectArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let kind = match p.kind.as_str() {
        "pairwise" => TaskKind::Pairwise {
            tie: !p.no_tie,
            baseline: p.baseline.clone(),
        },
        "likert" => {
            let (lo, hi) = p
                .scale
                .split_once('-')
                .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
                .ok_or_else(|| {
                    UsageError(format!(
                        "--scale {:?}: expected LOW-HIGH, e.g. 1-5",
                        p.scale
                    ))
                })?;
            TaskKind::Likert {
                min: lo,
                max: hi,
                anchors: p.anchors.clone(),
            }
        }
        _ => TaskKind::Binary {
            criteria: p
                .criteria
                .iter()
                .map(|c| match c.split_once(':') {
                    Some((n, d)) => Criterion {
                        name: n.trim().to_string(),
                        description: d.trim().to_string(),
                    },
                    None => Criterion {
                        name: c.trim().to_string(),
                        description: String::new(),
                    },
                })
                .collect(),
        },
    };
    let guideline = match &p.guideline {
        Some(path) => fs_err::read_to_string(path)?,
        None => String::new(),
    };
    let items = match &p.items {
        Some(path) => {
            let (name, bytes) = read_bytes(path)?;
            Some(read_items(&name, bytes)?)
        }
        None => None,
    };
    let db = open(db_path)?;
    let np = NewProject {
        slug: p.slug.clone(),
        name: p.name.clone().unwrap_or_else(|| p.slug.clone()),
        settings: ProjectSettings {
            kind,
            require_reason: p.require_reason,
        },
        overlap: p.overlap,
        min_alpha: Some(p.min_alpha),
        guideline,
        seed: p.seed,
    };
    let summary = db.with(|c| {
        // The first lead is the project's author; a project made before anyone exists has none.
        let by: i64 = c
            .query_row(
                "SELECT coalesce(min(id), 0) FROM users WHERE role = 'lead'",
                [],
                |r| r.get(0),
            )
            .map_err(gavel_annotate::Error::from)?;
        let project = create_project(c, &np, by)?;
        let summary = match &items {
            Some(items) => Some(import_items(c, &project, items)?),
            None => None,
        };
        if !p.members.is_empty() {
            add_members(c, &project, &p.members)?;
        }
        Ok(summary)
    })?;
    let mut msg = format!("created project {}", p.slug);
    if let Some(s) = summary {
        msg.push_str(&format!(": {} items, {} tasks", s.items, s.tasks));
        if s.without_tasks > 0 {
            msg.push_str(&format!(
                " ({} items had too few responses for a task)",
                s.without_tasks
            ));
        }
    }
    note(global.quiet, &msg);
    Ok(Outcome::Success)
}

fn import(db_path: &Path, i: &ImportArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let db = open(db_path)?;
    let p = db.with(|c| project(c, &i.project))?;
    if let Some(path) = &i.items {
        let (name, bytes) = read_bytes(path)?;
        let items = read_items(&name, bytes)?;
        let s = db.with(|c| import_items(c, &p, &items))?;
        note(
            global.quiet,
            &format!(
                "{} new items, {} tasks ({} already present)",
                s.items, s.tasks, s.already_present
            ),
        );
    }
    if let Some(path) = &i.judgments {
        let (name, bytes) = read_bytes(path)?;
        let judgments: Vec<gavel_core::Judgment> = read_upload(&name, bytes)?;
        let counts = db.with(|c| import_judgments(c, &p, &judgments))?;
        for (judge, n) in counts {
            note(global.quiet, &format!("{judge}: {n} judgments"));
        }
    }
    Ok(Outcome::Success)
}

fn export(db_path: &Path, e: &ExportArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let db = open(db_path)?;
    let filter = Filter {
        round: e.round.clone(),
        criterion: e.criterion.clone(),
        user: None,
    };
    let list = db.with(|c| {
        let p = project(c, &e.project)?;
        labels(c, &p, &filter)
    })?;
    write_labels(&e.out, &list)?;
    note(
        global.quiet,
        &format!("wrote {} labels to {}", list.len(), e.out.display()),
    );
    Ok(Outcome::Success)
}
