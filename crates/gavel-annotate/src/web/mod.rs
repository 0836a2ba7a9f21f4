//! HTTP: the router, the authentication / CSRF / logging middleware, the extractors for the
//! signed-in user, and how errors become responses (an HTML page or a JSON body).

mod api;
mod pages;
mod templates;

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;
use crate::crypto::same;
use crate::error::Error;
use crate::users::{User, user_by_session, user_by_token};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "gavel_session";

/// One request, as the log callback sees it.
#[derive(Debug, Clone)]
pub struct RequestLog {
    /// `GET`, `POST`...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The response status.
    pub status: u16,
    /// Time to the response, in milliseconds.
    pub millis: f64,
    /// The signed-in user's name, if any.
    pub user: Option<String>,
    /// For internal errors: what went wrong (never shown to the client).
    pub error: Option<String>,
}

/// The user the request was made by (set by the middleware).
#[derive(Debug, Clone)]
struct Auth {
    user: Option<User>,
}

/// An internal error's detail, carried from the handler to the log.
#[derive(Debug, Clone)]
struct ErrorDetail(String);

/// Builds the app. Every page but the sign-in page, and every API route, needs a signed-in
/// user; `GET /healthz` answers 200 when the database is reachable.
pub fn app(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::home))
        .route("/signin", get(pages::signin_page).post(pages::signin))
        .route("/signout", post(pages::signout))
        .route("/users", get(pages::users_page).post(pages::create_user))
        .route("/users/{id}/token", post(pages::reset_token))
        .route("/projects", post(pages::create_project))
        .route("/p/{slug}", get(pages::project_home))
        .route("/p/{slug}/label", get(pages::label_next))
        .route(
            "/p/{slug}/a/{id}",
            get(pages::label_one).post(pages::submit),
        )
        .route("/p/{slug}/a/{id}/skip", post(pages::skip))
        .route("/p/{slug}/history", get(pages::history))
        .route(
            "/p/{slug}/guidelines",
            get(pages::guidelines).post(pages::new_guideline),
        )
        .route("/p/{slug}/examples", post(pages::new_example))
        .route("/p/{slug}/dashboard", get(pages::dashboard))
        .route("/p/{slug}/review", get(pages::review).post(pages::resolve))
        .route("/p/{slug}/setup", get(pages::setup))
        .route("/p/{slug}/members", post(pages::add_members))
        .route("/p/{slug}/settings", post(pages::settings))
        .route("/p/{slug}/calibration", post(pages::calibration))
        .route("/p/{slug}/items", post(pages::import_items))
        .route("/p/{slug}/export.{ext}", get(pages::export));
    let api = Router::new()
        .route("/api/me", get(api::me))
        .route("/api/users", get(api::users).post(api::create_user))
        .route(
            "/api/projects",
            get(api::projects).post(api::create_project),
        )
        .route("/api/projects/{slug}", get(api::project))
        .route("/api/projects/{slug}/items", post(api::import_items))
        .route("/api/projects/{slug}/members", post(api::add_members))
        .route("/api/projects/{slug}/judges", post(api::import_judges))
        .route("/api/projects/{slug}/calibration", post(api::calibration))
        .route("/api/projects/{slug}/next", get(api::next))
        .route(
            "/api/projects/{slug}/assignments/{id}",
            get(api::assignment),
        )
        .route(
            "/api/projects/{slug}/assignments/{id}/label",
            post(api::label),
        )
        .route(
            "/api/projects/{slug}/assignments/{id}/skip",
            post(api::skip),
        )
        .route("/api/projects/{slug}/labels", get(api::labels))
        .route("/api/projects/{slug}/progress", get(api::progress))
        .route(
            "/api/projects/{slug}/guidelines",
            get(api::guidelines).post(api::new_guideline),
        )
        .route("/api/projects/{slug}/examples", post(api::new_example))
        .route("/api/projects/{slug}/agreement", get(api::agreement))
        .route(
            "/api/projects/{slug}/disagreements",
            get(api::disagreements),
        )
        .route("/api/projects/{slug}/resolutions", post(api::resolve));
    Router::new()
        .merge(pages)
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            log_and_harden,
        ))
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(state)
}

async fn healthz(State(st): State<AppState>) -> Response {
    match st
        .db
        .run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
    {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError(Error::NotFound("route".into())).into_response()
    } else {
        PageError(Error::NotFound("page".into())).into_response()
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../static/app.js"),
    )
        .into_response()
}

/// Reads the session cookie.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

/// Whether an `Origin` (or, lacking one, `Referer`) header names this server.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    match origin {
        None => true,
        Some("null") => false,
        Some(o) => {
            let rest = o.split_once("://").map(|(_, r)| r).unwrap_or(o);
            let authority = rest.split('/').next().unwrap_or("");
            authority.eq_ignore_ascii_case(host)
        }
    }
}

/// Resolves the user (bearer token or session cookie) and, for state-changing requests made
/// with a cookie, checks the CSRF token (header `x-csrf-token` or form field `csrf`) and the
/// origin. Requests with a bearer token carry no ambient credential, so they need no CSRF token.
async fn authenticate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers().clone();
    let token = bearer(&headers);
    let cookie = session_cookie(&headers);
    let by_bearer = token.is_some();
    let lookup = st
        .db
        .run(move |c| match (token, cookie) {
            (Some(t), _) => user_by_token(c, &t),
            (None, Some(s)) => user_by_session(c, &s),
            (None, None) => Ok(None),
        })
        .await;
    let user = match lookup {
        Ok(u) => u,
        Err(e) => return ApiError(e).into_response(),
    };
    let is_api = req.uri().path().starts_with("/api/");
    let fail = |e: Error| {
        if is_api {
            ApiError(e).into_response()
        } else {
            PageError(e).into_response()
        }
    };
    let mut req = req;
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) && !by_bearer {
        if !same_origin(&headers) {
            return fail(Error::Csrf);
        }
        if let Some(u) = &user {
            let expected = u.csrf.clone().unwrap_or_default();
            let header_token = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let form = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            let given = match header_token {
                Some(t) => Some(t),
                None if form => {
                    let (parts, body) = req.into_parts();
                    let bytes = match axum::body::to_bytes(body, 64 << 20).await {
                        Ok(b) => b,
                        Err(_) => return fail(Error::bad("the request body is too large")),
                    };
                    let field = form_field(&bytes, "csrf");
                    req = Request::from_parts(parts, Body::from(bytes));
                    field
                }
                None => None,
            };
            if !given.is_some_and(|g| same(&g, &expected)) {
                return fail(Error::Csrf);
            }
        }
    }
    req.extensions_mut().insert(Auth { user });
    next.run(req).await
}

/// One field of a urlencoded form (CSRF tokens are hex, so no decoding is needed).
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Logs each request (method, path, status, time, user; never query strings, headers or
/// bodies) and adds the security headers.
async fn log_and_harden(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if let Some(log) = &st.log {
        let user = res.extensions().get::<LoggedUser>().map(|u| u.0.clone());
        let error = res.extensions().get::<ErrorDetail>().map(|e| e.0.clone());
        log(&RequestLog {
            method,
            path,
            status: res.status().as_u16(),
            millis: start.elapsed().as_secs_f64() * 1000.0,
            user,
            error,
        });
    }
    res
}

/// The user's name, carried to the log.
#[derive(Debug, Clone)]
struct LoggedUser(String);

/// The signed-in user of a page (redirects to the sign-in page otherwise).
pub(crate) struct PageUser(pub User);

/// The signed-in user of an API call (401 otherwise).
pub(crate) struct ApiUser(pub User);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<PageUser, PageError> {
        match parts.extensions.get::<Auth>().and_then(|a| a.user.clone()) {
            Some(u) => Ok(PageUser(u)),
            None => Err(PageError(Error::Unauthorized)),
        }
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<ApiUser, ApiError> {
        match parts.extensions.get::<Auth>().and_then(|a| a.user.clone()) {
            Some(u) => Ok(ApiUser(u)),
            None => Err(ApiError(Error::Unauthorized)),
        }
    }
}

fn attach(mut res: Response, e: &Error, user: Option<&User>) -> Response {
    if matches!(e, Error::Db(_) | Error::Internal(_)) {
        res.extensions_mut().insert(ErrorDetail(e.to_string()));
    }
    if let Some(u) = user {
        res.extensions_mut().insert(LoggedUser(u.name.clone()));
    }
    res
}

/// An error shown as an HTML page (sign-in redirect when not signed in).
#[derive(Debug)]
pub(crate) struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> PageError {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.0, Error::Unauthorized) {
            return Redirect::to("/signin").into_response();
        }
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let html = templates::render(
            "error.html",
            minijinja::context! { status => status.as_u16(), message => self.0.public_message() },
        )
        .unwrap_or_else(|_| "error".to_string());
        let res = (status, axum::response::Html(html)).into_response();
        attach(res, &self.0, None)
    }
}

/// An error as JSON: `{"error": "..."}` with the status.
#[derive(Debug)]
pub(crate) struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let res = (
            status,
            axum::Json(serde_json::json!({ "error": self.0.public_message() })),
        )
            .into_response();
        attach(res, &self.0, None)
    }
}

/// Adds the user's name to a response for the log.
pub(crate) fn for_log(mut res: Response, user: &User) -> Response {
    res.extensions_mut().insert(LoggedUser(user.name.clone()));
    res
}

/// The `Set-Cookie` value that starts (or, with an empty id, ends) a session.
pub(crate) fn session_cookie_header(st: &AppState, id: &str) -> String {
    let max_age = if id.is_empty() {
        0
    } else {
        st.config.session_secs
    };
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if st.config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}
