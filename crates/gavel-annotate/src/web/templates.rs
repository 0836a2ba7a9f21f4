//! The page templates (minijinja, compiled into the binary). Every `.html` template
//! autoescapes, so judged text is always shown as text; the only values marked safe are the
//! outputs of [`crate::markdown::render`].

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

use crate::error::Error;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("signin.html", include_str!("../../templates/signin.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("users.html", include_str!("../../templates/users.html")),
    ("label.html", include_str!("../../templates/label.html")),
    ("history.html", include_str!("../../templates/history.html")),
    (
        "guidelines.html",
        include_str!("../../templates/guidelines.html"),
    ),
    (
        "dashboard.html",
        include_str!("../../templates/dashboard.html"),
    ),
    ("review.html", include_str!("../../templates/review.html")),
    ("setup.html", include_str!("../../templates/setup.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.add_filter("num", |v: Option<f64>, digits: Option<usize>| -> String {
            match v {
                Some(x) => format!("{:.*}", digits.unwrap_or(3), x),
                None => "–".to_string(),
            }
        });
        env.add_filter("pct", |v: Option<f64>| -> String {
            match v {
                Some(x) => format!("{:.0}%", x * 100.0),
                None => "–".to_string(),
            }
        });
        for (name, text) in TEMPLATES {
            // The templates are part of the program: a syntax error is caught by the tests.
            if let Err(e) = env.add_template(name, text) {
                panic!("template {name}: {e}");
            }
        }
        env
    })
}

/// Renders a template.
pub fn render<S: Serialize>(name: &str, ctx: S) -> Result<String, Error> {
    env()
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&ctx)))
        .map_err(|e| Error::Internal(format!("template {name}: {e:#}")))
}
