//! Templates that are plain substitutions, compiled to literal frames with variable slots.
//!
//! Most templates print variables (`{{ name }}`), quote judged text
//! (`{{ quote(name, "label") }}`) and show a part only when a variable is set
//! (`{% if name %}...{% else %}...{% endif %}`). Such a template is compiled once, at load, into
//! literal text and slots, and rendered by string concatenation, which is much cheaper than
//! running the template engine for every prompt (the dataset builder renders millions).
//!
//! The compiled form gives exactly minijinja's bytes under the environment's settings
//! (`trim_blocks`, `lstrip_blocks`, no auto-escaping): the first newline after a block tag is
//! dropped, and spaces and tabs before a block tag that starts its line are dropped. Anything
//! else (filters, loops, expressions, comments, whitespace control, a variable that is not a
//! string where one is printed) is left to minijinja: [`compile`] returns `None` for such a
//! template, [`Frames::render`] `None` for such a context. The tests check the two renderings
//! are equal on every built-in template.

use serde_json::{Map, Value};

/// One part of a compiled template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    /// Literal text.
    Text(String),
    /// `{{ name }}`: the variable's text.
    Var(String),
    /// `{{ quote(name, "label") }}`: the judged text between boundary lines.
    Quote { var: String, label: String },
    /// `{% if name %}then{% else %}otherwise{% endif %}`.
    If {
        var: String,
        then: Vec<Piece>,
        otherwise: Vec<Piece>,
    },
}

/// A compiled template body.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Frames {
    pieces: Vec<Piece>,
    /// The length of the literal text, to size the output.
    literal_len: usize,
}

/// What a body refers to, for [`Frames::render`].
pub(super) struct Context<'a> {
    /// The template's variables.
    pub vars: &'a Map<String, Value>,
    /// The boundary tag (`boundary`).
    pub boundary: &'a str,
    /// The data notice (`data_notice`).
    pub data_notice: &'a str,
}

impl Context<'_> {
    fn get(&self, name: &str) -> Option<Lookup<'_>> {
        match name {
            "boundary" => Some(Lookup::Str(self.boundary)),
            "data_notice" => Some(Lookup::Str(self.data_notice)),
            _ => self.vars.get(name).map(Lookup::Value),
        }
    }
}

enum Lookup<'a> {
    Str(&'a str),
    Value(&'a Value),
}

impl Lookup<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Lookup::Str(s) => Some(s),
            Lookup::Value(Value::String(s)) => Some(s),
            Lookup::Value(_) => None,
        }
    }
}

/// Whether a variable counts as set in `{% if %}`, as minijinja decides it; `None` for values
/// left to minijinja. An absent template variable (`reference` when the item has none) is
/// undefined, which is false under the semi-strict setting; any other absent name might be one
/// of minijinja's globals (`range`), so it is left to minijinja.
fn truthy(name: &str, value: Option<Lookup<'_>>) -> Option<bool> {
    match value {
        None => super::RESERVED.contains(&name).then_some(false),
        Some(Lookup::Str(s)) => Some(!s.is_empty()),
        Some(Lookup::Value(v)) => match v {
            Value::Null => Some(false),
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(!s.is_empty()),
            Value::Array(a) => Some(!a.is_empty()),
            Value::Object(o) => Some(!o.is_empty()),
            Value::Number(_) => None,
        },
    }
}

impl Frames {
    /// The body rendered for a context, or `None` when the context needs minijinja (a printed
    /// variable that is missing or not a string, a condition on a number).
    pub(super) fn render(&self, ctx: &Context<'_>) -> Option<String> {
        // The literal text plus room for the judged texts, so that the buffer rarely grows.
        let mut out = String::with_capacity(self.literal_len + 4096);
        render_into(&self.pieces, ctx, &mut out)?;
        Some(out)
    }
}

fn render_into(pieces: &[Piece], ctx: &Context<'_>, out: &mut String) -> Option<()> {
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => out.push_str(ctx.get(name)?.text()?),
            Piece::Quote { var, label } => {
                let text = ctx.get(var)?;
                let text = text.text()?;
                let tag = ctx.boundary;
                out.reserve(text.len() + 2 * (label.len() + tag.len()) + 16);
                for part in [
                    "<<<",
                    label,
                    " ",
                    tag,
                    ">>>\n",
                    text,
                    "\n<<<end ",
                    label,
                    " ",
                ] {
                    out.push_str(part);
                }
                out.push_str(tag);
                out.push_str(">>>");
            }
            Piece::If {
                var,
                then,
                otherwise,
            } => {
                let branch = if truthy(var, ctx.get(var))? {
                    then
                } else {
                    otherwise
                };
                render_into(branch, ctx, out)?;
            }
        }
    }
    Some(())
}

/// A tag of the template source.
enum Tag {
    Print(Piece),
    If(String),
    Else,
    EndIf,
}

/// Compiles a template body, or `None` when it uses more than plain substitution.
pub(super) fn compile(source: &str) -> Option<Frames> {
    // minijinja drops one trailing newline of the source.
    let source = source.strip_suffix('\n').unwrap_or(source);
    if source.contains('\r') {
        return None;
    }
    // (pieces so far, the condition, whether in the else branch, the then branch)
    let mut stack: Vec<(Vec<Piece>, String, bool, Vec<Piece>)> = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut literal_len = 0;
    let mut rest = source;
    // Whether the previous tag was a block tag (whose following newline is dropped), and
    // whether there was any tag before.
    let mut after_block = false;
    let mut first = true;
    loop {
        let (raw, tail) = match find_tag(rest) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let is_block = tail.starts_with("{%");
        let mut text = raw;
        if is_block {
            // lstrip_blocks: spaces and tabs between the line's start and the block tag.
            let kept = raw.trim_end_matches([' ', '\t']).len();
            if raw[..kept].ends_with('\n') || (kept == 0 && first) {
                text = &raw[..kept];
            }
        }
        if after_block {
            // trim_blocks: the first newline after a block tag.
            text = text.strip_prefix('\n').unwrap_or(text);
        }
        first = false;
        let text = text.to_string();
        if !text.is_empty() {
            literal_len += text.len();
            pieces.push(Piece::Text(text));
        }
        if tail.is_empty() {
            break;
        }
        if tail.starts_with("{#") {
            return None;
        }
        let close = if is_block { "%}" } else { "}}" };
        let end = tail.find(close)?;
        let inner = &tail[2..end];
        rest = &tail[end + 2..];
        if inner.starts_with(['-', '+']) || inner.ends_with(['-', '+']) {
            return None;
        }
        let inner = inner.trim();
        let tag = if is_block {
            parse_block(inner)?
        } else {
            Tag::Print(parse_print(inner)?)
        };
        after_block = is_block;
        match tag {
            Tag::Print(p) => pieces.push(p),
            Tag::If(var) => {
                stack.push((std::mem::take(&mut pieces), var, false, Vec::new()));
            }
            Tag::Else => {
                let top = stack.last_mut()?;
                if top.2 {
                    return None;
                }
                top.2 = true;
                top.3 = std::mem::take(&mut pieces);
            }
            Tag::EndIf => {
                let (outer, var, in_else, then) = stack.pop()?;
                let (then, otherwise) = if in_else {
                    (then, std::mem::take(&mut pieces))
                } else {
                    (std::mem::take(&mut pieces), Vec::new())
                };
                pieces = outer;
                pieces.push(Piece::If {
                    var,
                    then,
                    otherwise,
                });
            }
        }
    }
    if !stack.is_empty() {
        return None;
    }
    Some(Frames {
        pieces,
        literal_len,
    })
}

/// The position of the first `{{`, `{%` or `{#` in a text.
fn find_tag(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(1)).find(|&i| b[i] == b'{' && matches!(b[i + 1], b'{' | b'%' | b'#'))
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(s, "true" | "false" | "none" | "True" | "False" | "None")
}

fn parse_print(inner: &str) -> Option<Piece> {
    if is_ident(inner) {
        return Some(Piece::Var(inner.to_string()));
    }
    let args = inner.strip_prefix("quote(")?.strip_suffix(')')?;
    let (var, label) = args.split_once(',')?;
    let var = var.trim();
    let label = label.trim();
    if !is_ident(var) || label.len() < 2 {
        return None;
    }
    let quote = label.as_bytes()[0];
    if !matches!(quote, b'"' | b'\'') || label.as_bytes()[label.len() - 1] != quote {
        return None;
    }
    let label = &label[1..label.len() - 1];
    if label.contains(['\\', '"', '\'']) {
        return None;
    }
    Some(Piece::Quote {
        var: var.to_string(),
        label: label.to_string(),
    })
}

fn parse_block(inner: &str) -> Option<Tag> {
    match inner {
        "else" => return Some(Tag::Else),
        "endif" => return Some(Tag::EndIf),
        _ => {}
    }
    let var = inner.strip_prefix("if ")?.trim();
    is_ident(var).then(|| Tag::If(var.to_string()))
}
