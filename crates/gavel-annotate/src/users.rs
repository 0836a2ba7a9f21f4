//! People and sessions: creating users with a personal token (and optionally a password),
//! signing in, and resolving a session cookie or a bearer token to a [`User`].

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::crypto::{hash_password, new_token, random_hex, sha256_hex, verify_password};
use crate::db::now;
use crate::error::Error;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sets up projects, sees everyone's labels, agreement and disagreements, edits guidelines.
    Lead,
    /// Labels the tasks assigned to them and sees only their own labels.
    Annotator,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lead => "lead",
            Role::Annotator => "annotator",
        }
    }

    /// Reads a role name.
    pub fn parse(s: &str) -> Result<Role, Error> {
        match s {
            "lead" => Ok(Role::Lead),
            "annotator" => Ok(Role::Annotator),
            other => Err(Error::bad(format!(
                "unknown role {other:?}; expected lead or annotator"
            ))),
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// The name labels are recorded under.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The CSRF token of the browser session (`None` when signed in with a bearer token).
    #[serde(skip)]
    pub csrf: Option<String>,
}

impl User {
    /// Whether the user is a lead.
    pub fn is_lead(&self) -> bool {
        self.role == Role::Lead
    }

    /// Fails unless the user is a lead.
    pub fn require_lead(&self) -> Result<(), Error> {
        if self.is_lead() {
            Ok(())
        } else {
            Err(Error::lead_only())
        }
    }
}

/// A user as listed for leads (never with secrets).
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether a password is set.
    pub has_password: bool,
}

/// Checks a user name: 1 to 64 characters, letters, digits, `.`, `_`, `-`, `@`.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::bad(
            "a name has 1 to 64 letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

/// Creates a user and returns their id and personal token (shown once; only its hash is kept).
pub fn create_user(
    conn: &Connection,
    name: &str,
    role: Role,
    password: Option<&str>,
    pbkdf2_rounds: u32,
) -> Result<(i64, String), Error> {
    check_name(name)?;
    if name.starts_with("judge:") {
        return Err(Error::bad(
            "names starting with `judge:` are kept for judges",
        ));
    }
    let token = new_token()?;
    let password_hash = match password.filter(|p| !p.is_empty()) {
        Some(p) if p.chars().count() < 8 => {
            return Err(Error::bad("a password needs at least 8 characters"));
        }
        Some(p) => Some(hash_password(p, pbkdf2_rounds)?),
        None => None,
    };
    let taken: bool = conn
        .query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(()))
        .optional()?
        .is_some();
    if taken {
        return Err(Error::Conflict(format!("the name {name:?} is taken")));
    }
    conn.execute(
        "INSERT INTO users (name, role, token_hash, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, role.as_str(), sha256_hex(&token), password_hash, now()],
    )?;
    Ok((conn.last_insert_rowid(), token))
}

/// Replaces a user's token (the old one stops working at once) and ends their sessions.
pub fn reset_token(conn: &Connection, user_id: i64) -> Result<String, Error> {
    let token = new_token()?;
    let n = conn.execute(
        "UPDATE users SET token_hash = ?1 WHERE id = ?2",
        params![sha256_hex(&token), user_id],
    )?;
    if n == 0 {
        return Err(Error::NotFound("user".into()));
    }
    conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
    Ok(token)
}

/// Sets (or, with an empty string, removes) a user's password.
pub fn set_password(
    conn: &Connection,
    user_id: i64,
    password: &str,
    pbkdf2_rounds: u32,
) -> Result<(), Error> {
    let hash = if password.is_empty() {
        None
    } else if password.chars().count() < 8 {
        return Err(Error::bad("a password needs at least 8 characters"));
    } else {
        Some(hash_password(password, pbkdf2_rounds)?)
    };
    conn.execute(
        "UPDATE users SET password_hash = ?1 WHERE id = ?2",
        params![hash, user_id],
    )?;
    Ok(())
}

/// All users, by name.
pub fn list_users(conn: &Connection) -> Result<Vec<UserRow>, Error> {
    let mut stmt =
        conn.prepare("SELECT id, name, role, password_hash IS NOT NULL FROM users ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, role, has_password) = row?;
        out.push(UserRow {
            id,
            name,
            role: Role::parse(&role)?,
            has_password,
        });
    }
    Ok(out)
}

/// The user with this name, if any.
pub fn user_by_name(conn: &Connection, name: &str) -> Result<Option<UserRow>, Error> {
    Ok(list_users(conn)?.into_iter().find(|u| u.name == name))
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// The user a personal token belongs to.
pub fn user_by_token(conn: &Connection, token: &str) -> Result<Option<User>, Error> {
    let row = conn
        .query_row(
            "SELECT id, name, role FROM users WHERE token_hash = ?1",
            [sha256_hex(token.trim())],
            user_row,
        )
        .optional()?;
    row.map(|(id, name, role)| {
        Ok(User {
            id,
            name,
            role: Role::parse(&role)?,
            csrf: None,
        })
    })
    .transpose()
}

/// Checks a name and password.
pub fn user_by_password(
    conn: &Connection,
    name: &str,
    password: &str,
) -> Result<Option<User>, Error> {
    let row: Option<(i64, String, String, Option<String>)> = conn
        .query_row(
            "SELECT id, name, role, password_hash FROM users WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    match row {
        Some((id, name, role, Some(hash))) if verify_password(password, &hash) => Ok(Some(User {
            id,
            name,
            role: Role::parse(&role)?,
            csrf: None,
        })),
        _ => Ok(None),
    }
}

/// Starts a browser session; returns the cookie value (only its hash is stored).
pub fn create_session(
    conn: &Connection,
    user_id: i64,
    lifetime_secs: i64,
) -> Result<String, Error> {
    let id = random_hex(32)?;
    let csrf = random_hex(24)?;
    let t = now();
    conn.execute(
        "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![sha256_hex(&id), user_id, csrf, t, t + lifetime_secs],
    )?;
    // Expired sessions are removed as new ones start.
    conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [t])?;
    Ok(id)
}

/// The user of a live session, with its CSRF token.
pub fn user_by_session(conn: &Connection, session: &str) -> Result<Option<User>, Error> {
    let row: Option<(i64, String, String, String)> = conn
        .query_row(
            "SELECT u.id, u.name, u.role, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = ?1 AND s.expires_at >= ?2",
            params![sha256_hex(session), now()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(id, name, role, csrf)| {
        Ok(User {
            id,
            name,
            role: Role::parse(&role)?,
            csrf: Some(csrf),
        })
    })
    .transpose()
}

/// Ends a session.
pub fn end_session(conn: &Connection, session: &str) -> Result<(), Error> {
    conn.execute(
        "DELETE FROM sessions WHERE id_hash = ?1",
        [sha256_hex(session)],
    )?;
    Ok(())
}
