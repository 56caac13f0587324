//! Sign-in, sessions and CSRF.
//!
//! The session cookie holds a random token; the store keeps only its SHA-256, so a copy of
//! the database does not let anyone in. Each session has its own CSRF token, which every
//! form carries and every POST must echo.

use std::sync::OnceLock;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use ordo_http::auth::{generate_token, hash_password, hash_token, verify_password};
use ordo_store::{NewSession, Permission, Role, Session, WriteContext};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use crate::error::{WebError, WebResult};
use crate::form::{FormData, decode, encode};
use crate::view::Flash;
use crate::{MAX_FORM_BYTES, WebState};

pub const SESSION_COOKIE: &str = "ordo_session";
pub const SESSION_HOURS: i64 = 12;
pub(crate) const FLASH_COOKIE: &str = "ordo_flash";
/// Ties the sign-in form to the browser that loaded it (there is no session yet).
const LOGIN_COOKIE: &str = "ordo_login";
const MAX_FAILURES: i64 = 5;
const LOCK_MINUTES: i64 = 15;

/// A signed-in user, from a live session.
pub(crate) struct Auth {
    pub session: Session,
    pub token_hash: String,
    pub flash: Option<Flash>,
    pub secure: bool,
}

impl Auth {
    pub fn allows(&self, p: Permission) -> bool {
        self.session.user.role.allows(p)
    }

    pub fn require(&self, p: Permission) -> WebResult<()> {
        if self.allows(p) {
            Ok(())
        } else {
            Err(WebError::Forbidden(format!(
                "Your role ({}) may not do this.",
                self.session.user.role.as_str()
            )))
        }
    }

    /// Revenue is not for the warehouse; its work starts at the pick jobs.
    pub fn sees_dashboard(&self) -> bool {
        self.session.user.role != Role::Warehouse
    }

    pub fn context(&self) -> WriteContext {
        WriteContext {
            actor: format!("user:{}", self.session.user.username),
            idempotency_key: None,
        }
    }

    /// A redirect carrying a one-shot message for the next page.
    pub fn redirect_with(&self, to: &str, ok: bool, text: &str) -> Response {
        let mut r = Redirect::to(to).into_response();
        let text: String = text.chars().take(1500).collect();
        let value = format!(
            "{FLASH_COOKIE}={}{}; Path=/; Max-Age=120; HttpOnly; SameSite=Strict{}",
            if ok { '1' } else { '0' },
            encode(&text),
            if self.secure { "; Secure" } else { "" }
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r
    }
}

/// Where a user lands after signing in: the warehouse starts at its pick jobs.
pub(crate) fn home_for(role: Role) -> &'static str {
    if role == Role::Warehouse {
        "/picking"
    } else {
        "/"
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Behind a TLS-terminating proxy the request arrives as plain HTTP; the proxy says so.
fn is_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

fn secure_attr(secure: bool) -> &'static str {
    if secure { "; Secure" } else { "" }
}

/// Compares in time independent of where the strings differ, so a guess learns nothing.
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Only paths on this site, so a crafted link cannot send a user elsewhere after sign-in.
fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?;
    let ok = n.starts_with('/')
        && !n.starts_with("//")
        && !n.starts_with("/\\")
        && !n.starts_with("/login")
        && !n.starts_with("/logout")
        && !n.starts_with("/events/")
        && !n.chars().any(|c| c.is_control());
    ok.then(|| n.to_string())
}

fn to_login(parts: &Parts) -> Response {
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|_| parts.method == Method::GET);
    match safe_next(target).filter(|n| n != "/") {
        Some(next) => Redirect::to(&format!("/login?next={}", encode(&next))).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

async fn current_session(
    state: &WebState,
    headers: &HeaderMap,
) -> WebResult<Option<(Session, String)>> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = hash_token(token);
    Ok(state
        .store
        .find_session(&hash, OffsetDateTime::now_utc())
        .await?
        .map(|s| (s, hash)))
}

impl FromRequestParts<WebState> for Auth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        match current_session(state, &parts.headers).await {
            Ok(Some((session, token_hash))) => {
                let flash = cookie(&parts.headers, FLASH_COOKIE).and_then(|v| {
                    let (kind, text) = v.split_at_checked(1)?;
                    Some(Flash {
                        ok: kind == "1",
                        text: decode(text),
                    })
                });
                Ok(Auth {
                    session,
                    token_hash,
                    flash: flash.filter(|f| !f.text.is_empty()),
                    secure: is_https(&parts.headers),
                })
            }
            Ok(None) => Err(to_login(parts)),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// A form POST from a signed-in user whose CSRF token matched.
pub(crate) struct Posted {
    pub auth: Auth,
    pub form: FormData,
}

impl FromRequest<WebState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Response> {
        posted(req, state, MAX_FORM_BYTES).await
    }
}

/// Pasted or uploaded CSV may be larger than a form.
pub(crate) const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;

/// A form POST that may carry a file (`multipart/form-data`) up to [`MAX_UPLOAD_BYTES`];
/// otherwise as [`Posted`].
pub(crate) struct Upload(pub Posted);

impl FromRequest<WebState> for Upload {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Response> {
        posted(req, state, MAX_UPLOAD_BYTES).await.map(Upload)
    }
}

async fn posted(req: Request, state: &WebState, limit: usize) -> Result<Posted, Response> {
    let (mut parts, body) = req.into_parts();
    let auth = Auth::from_request_parts(&mut parts, state).await?;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        WebError::Problem(ordo_domain::Problem::invalid("form", "is too large")).into_response()
    })?;
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::form::multipart_boundary)
        .filter(|_| limit > MAX_FORM_BYTES);
    let form = match boundary {
        Some(b) => FormData::parse_multipart(&bytes, &b).ok_or_else(|| {
            WebError::Problem(ordo_domain::Problem::invalid("form", "could not be read"))
                .into_response()
        })?,
        None => FormData::parse(&bytes),
    };
    let matches = form
        .get("csrf")
        .is_some_and(|c| same(&c, &auth.session.csrf_token));
    if !matches {
        return Err(WebError::Csrf.into_response());
    }
    Ok(Posted { auth, form })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    username: String,
    error: Option<String>,
    csrf: String,
    v: &'static str,
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

fn login_response(
    status: StatusCode,
    next: Option<String>,
    username: String,
    error: Option<String>,
    secure: bool,
) -> WebResult {
    let csrf = generate_token();
    let page = LoginPage {
        next: next.unwrap_or_default(),
        username,
        error,
        csrf: csrf.clone(),
        v: crate::view::ASSET_VERSION,
    };
    let mut r = (status, Html(page.render()?)).into_response();
    let cookie = format!(
        "{LOGIN_COOKIE}={csrf}; Path=/login; Max-Age=3600; HttpOnly; SameSite=Strict{}",
        secure_attr(secure)
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| WebError::Internal(e.to_string()))?,
    );
    Ok(r)
}

pub(crate) async fn login_page(
    State(s): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> WebResult {
    let next = safe_next(q.next.as_deref());
    if let Some((session, _)) = current_session(&s, &headers).await? {
        let to = next.unwrap_or_else(|| home_for(session.user.role).to_string());
        return Ok(Redirect::to(&to).into_response());
    }
    login_response(
        StatusCode::OK,
        next,
        String::new(),
        None,
        is_https(&headers),
    )
}

/// A valid PHC string to verify against when the user does not exist, so the answer takes
/// as long as for a real user and does not reveal which usernames exist.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

pub(crate) async fn login(State(s): State<WebState>, headers: HeaderMap, body: Bytes) -> WebResult {
    let form = FormData::parse(&body);
    let next = safe_next(form.get("next").as_deref());
    let username = form.get("username").unwrap_or_default();
    let secure = is_https(&headers);
    let fail = |status: StatusCode, message: &str| {
        login_response(
            status,
            next.clone(),
            username.clone(),
            Some(message.to_string()),
            secure,
        )
    };
    let csrf_ok = match (form.get("csrf"), cookie(&headers, LOGIN_COOKIE)) {
        (Some(f), Some(c)) => same(&f, c),
        _ => false,
    };
    if !csrf_ok {
        return fail(
            StatusCode::FORBIDDEN,
            "This sign-in form expired or came from another site. Please sign in again.",
        );
    }
    let password = form.raw("password");
    if username.is_empty() || password.is_empty() {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your username and password.",
        );
    }
    let now = OffsetDateTime::now_utc();
    let record = s.store.find_user(&username).await?;
    if let Some(r) = &record
        && let Some(until) = r.locked_until
        && until > now
    {
        let minutes = ((until - now).whole_seconds() + 59) / 60;
        return fail(
            StatusCode::UNAUTHORIZED,
            &format!(
                "This account is locked after {MAX_FAILURES} failed sign-ins. \
                 Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
        );
    }
    let phc = record
        .as_ref()
        .map_or_else(|| dummy_hash().to_string(), |r| r.password_hash.clone());
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let Some(record) = record else {
        return fail(StatusCode::UNAUTHORIZED, "Wrong username or password.");
    };
    if !verified {
        let failures = record.failed_attempts + 1;
        // Every fifth consecutive failure locks: after a lock ends, five more are needed.
        let lock = (failures % MAX_FAILURES == 0).then(|| now + Duration::minutes(LOCK_MINUTES));
        s.store.record_login(record.user.id, false, lock).await?;
        return fail(
            StatusCode::UNAUTHORIZED,
            &if lock.is_some() {
                format!(
                    "Wrong username or password. After {MAX_FAILURES} failed sign-ins this \
                     account is locked for {LOCK_MINUTES} minutes."
                )
            } else {
                "Wrong username or password.".to_string()
            },
        );
    }
    // Said only to someone who knows the password, so it reveals nothing to a guesser.
    if record.user.disabled {
        return fail(
            StatusCode::UNAUTHORIZED,
            "This account is disabled. Ask an administrator to enable it.",
        );
    }
    s.store.record_login(record.user.id, true, None).await?;
    let token = generate_token();
    s.store
        .create_session(&NewSession {
            token_hash: hash_token(&token),
            user_id: record.user.id,
            csrf_token: generate_token(),
            expires_at: now + Duration::hours(SESSION_HOURS),
        })
        .await?;
    let to = next.unwrap_or_else(|| home_for(record.user.role).to_string());
    let mut r = Redirect::to(&to).into_response();
    let h = r.headers_mut();
    let session_cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        SESSION_HOURS * 3600,
        secure_attr(secure)
    );
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_str(&session_cookie).map_err(|e| WebError::Internal(e.to_string()))?,
    );
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_static("ordo_login=; Path=/login; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    Ok(r)
}

pub(crate) async fn logout(State(s): State<WebState>, p: Posted) -> WebResult {
    s.store.delete_session(&p.auth.token_hash).await?;
    let mut r = Redirect::to("/login").into_response();
    let clear = format!(
        "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        secure_attr(p.auth.secure)
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&clear).map_err(|e| WebError::Internal(e.to_string()))?,
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/orders?x=1")).as_deref(),
            Some("/orders?x=1")
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/login",
            "orders",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }

    #[test]
    fn reads_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ordo_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
