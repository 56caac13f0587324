//! Settings (`/settings`): back-office users and API keys (admins), and the shop-wide
//! warehouse settings the API also edits: carrier services (JSON), box types (one at a time)
//! and packing policies (CSV). Each is checked as the API checks it before it is saved.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ordo_domain::catalog::Dimensions;
use ordo_domain::{FieldError, Problem};
use ordo_http::auth::{generate_token, hash_password, hash_token};
use ordo_store::{Permission, Role, StoreError};
use ordo_warehouse::cartonize::BoxType;
use ordo_warehouse::packing::PackingPolicies;
use ordo_warehouse::shipping::CarrierService;
use serde::Deserialize;

use crate::WebState;
use crate::catalog::SettingsForm;
use crate::error::{WebError, WebResult, sentence};
use crate::form::FormData;
use crate::orders::Opt;
use crate::session::{Auth, Posted};
use crate::view::{PageCtx, page};

const MIN_PASSWORD: usize = 8;

struct BoxRow {
    code: String,
    inner: String,
    outer: String,
    max_weight_g: i64,
    tare_g: i64,
    cost_minor: i64,
    features: String,
}

/// A text area (JSON or CSV) after a refusal: the text as typed and one line per error.
#[derive(Default)]
struct TextForm {
    text: Option<String>,
    errors: Vec<String>,
    message: Option<String>,
}

fn empty_form() -> SettingsForm {
    SettingsForm {
        values: vec![],
        checked: vec![],
        errors: vec![],
        message: None,
    }
}

/// What one request changes on the page; the rest shows the saved settings.
struct Shown {
    user: SettingsForm,
    key: SettingsForm,
    new_key: Option<(String, String, &'static str)>,
    carriers: TextForm,
    box_form: Option<SettingsForm>,
    policies: TextForm,
    location: Option<SettingsForm>,
    channel: Option<SettingsForm>,
}

impl Default for Shown {
    fn default() -> Self {
        Shown {
            user: empty_form(),
            key: empty_form(),
            new_key: None,
            carriers: TextForm::default(),
            box_form: None,
            policies: TextForm::default(),
            location: None,
            channel: None,
        }
    }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    ctx: PageCtx,
    can_keys: bool,
    can_edit: bool,
    key_count: i64,
    /// Username, role and whether disabled, by username.
    users: Vec<(String, &'static str, bool)>,
    /// Id, name, role, created.
    keys: Vec<(i64, String, &'static str, String)>,
    user: SettingsForm,
    user_roles: Vec<Opt>,
    key: SettingsForm,
    key_roles: Vec<Opt>,
    /// Name, token and role of a key just created: shown this once.
    new_key: Option<(String, String, &'static str)>,
    carriers_json: String,
    carriers: TextForm,
    boxes: Vec<BoxRow>,
    box_form: SettingsForm,
    /// Input name, label, numeric.
    box_fields: Vec<(&'static str, &'static str, bool)>,
    editing_box: bool,
    policies_csv: String,
    policies: TextForm,
    /// Code, name and kind of every location / channel, by code.
    locations: Vec<(String, String, String)>,
    channels: Vec<(String, String, String)>,
    location_form: SettingsForm,
    location_specs: Vec<FieldSpec>,
    editing_location: bool,
    channel_form: SettingsForm,
    channel_specs: Vec<FieldSpec>,
    editing_channel: bool,
}

/// Which saved records the forms open with (`?box=`, `?location=`, `?channel=`).
#[derive(Default)]
struct Editing<'a> {
    box_code: Option<&'a str>,
    location: Option<&'a str>,
    channel: Option<&'a str>,
}

fn role_opts(roles: &[Role], current: &str) -> Vec<Opt> {
    roles
        .iter()
        .map(|r| Opt {
            value: r.as_str().into(),
            label: crate::view::humanize(r.as_str()),
            selected: r.as_str() == current,
        })
        .collect()
}

fn dims(d: &Dimensions) -> String {
    format!("{} × {} × {} mm", d.length_mm, d.width_mm, d.height_mm)
}

fn box_form_of(b: &BoxType) -> SettingsForm {
    let o = b.outer.as_ref();
    SettingsForm {
        values: vec![
            ("code", b.code.clone()),
            ("length_mm", b.inner.length_mm.to_string()),
            ("width_mm", b.inner.width_mm.to_string()),
            ("height_mm", b.inner.height_mm.to_string()),
            (
                "outer_length_mm",
                o.map(|d| d.length_mm.to_string()).unwrap_or_default(),
            ),
            (
                "outer_width_mm",
                o.map(|d| d.width_mm.to_string()).unwrap_or_default(),
            ),
            (
                "outer_height_mm",
                o.map(|d| d.height_mm.to_string()).unwrap_or_default(),
            ),
            ("max_weight_g", b.max_weight_g.to_string()),
            ("tare_g", b.tare_g.to_string()),
            ("cost_minor", b.cost_minor.to_string()),
            ("features", b.features.join(", ")),
        ],
        checked: vec![],
        errors: vec![],
        message: None,
    }
}

/// Who may open settings: whoever may change any of it.
fn require_settings(auth: &Auth) -> WebResult<()> {
    if auth.allows(Permission::ManageKeys) {
        return Ok(());
    }
    auth.require(Permission::ManageCatalog)
}

async fn render(s: &WebState, auth: &Auth, shown: Shown, editing: Option<&str>) -> WebResult {
    render_editing(
        s,
        auth,
        shown,
        Editing {
            box_code: editing,
            ..Default::default()
        },
    )
    .await
}

async fn render_editing(s: &WebState, auth: &Auth, shown: Shown, ed: Editing<'_>) -> WebResult {
    let editing = ed.box_code;
    require_settings(auth)?;
    let can_keys = auth.allows(Permission::ManageKeys);
    let services = s.store.carrier_services().await?;
    let boxes = s.store.box_types().await?;
    let policies = s.store.packing_policies("").await?;
    let (users, keys) = if can_keys {
        (s.store.list_users().await?, s.store.list_api_keys().await?)
    } else {
        (Vec::new(), Vec::new())
    };
    let key_count = keys.len() as i64;
    let editing_box = editing.and_then(|c| boxes.iter().find(|b| b.code == c));
    let box_form = match shown.box_form {
        Some(f) => f,
        None => editing_box.map(box_form_of).unwrap_or_else(empty_form),
    };
    let all_locations = s.store.list_locations().await?;
    let all_channels = s.store.list_channels().await?;
    let blank = |names: &[&'static str]| SettingsForm {
        values: names
            .iter()
            .map(|n| (*n, if *n == "active" { "1" } else { "" }.to_string()))
            .collect(),
        ..empty_form()
    };
    let location_form = match shown.location {
        Some(f) => f,
        None => ed
            .location
            .and_then(|c| all_locations.iter().find(|l| l.code == c))
            .map(location_form_of)
            .unwrap_or_else(|| blank(&LOCATION_FIELDS)),
    };
    let channel_form = match shown.channel {
        Some(f) => f,
        None => ed
            .channel
            .and_then(|c| all_channels.iter().find(|l| l.code == c))
            .map(channel_form_of)
            .unwrap_or_else(|| blank(&CHANNEL_FIELDS)),
    };
    let saved_location = all_locations
        .iter()
        .any(|l| l.code == location_form.val("code"));
    let saved_channel = all_channels
        .iter()
        .any(|c| c.code == channel_form.val("code"));
    let people: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Integration)
        .collect();
    let p = SettingsPage {
        ctx: PageCtx::new(auth, "settings"),
        can_keys,
        can_edit: auth.allows(Permission::ManageCatalog),
        key_count,
        users: users
            .into_iter()
            .map(|u| (u.username, u.role.as_str(), u.disabled))
            .collect(),
        keys: keys
            .into_iter()
            .map(|k| {
                let created = k
                    .created_at
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute] UTC"
                    ))
                    .unwrap_or_default();
                (k.id, k.name, k.role.as_str(), created)
            })
            .collect(),
        user_roles: role_opts(
            &people,
            match shown.user.val("role") {
                "" => "readonly",
                r => r,
            },
        ),
        user: shown.user,
        key_roles: role_opts(
            &Role::ALL,
            match shown.key.val("role") {
                "" => "integration",
                r => r,
            },
        ),
        key: shown.key,
        new_key: shown.new_key,
        carriers_json: match &shown.carriers.text {
            Some(t) => t.clone(),
            None => serde_json::to_string_pretty(&services)
                .map_err(|e| WebError::Internal(e.to_string()))?,
        },
        carriers: shown.carriers,
        boxes: boxes
            .iter()
            .map(|b| BoxRow {
                code: b.code.clone(),
                inner: dims(&b.inner),
                outer: b.outer.as_ref().map(dims).unwrap_or_else(|| "—".into()),
                max_weight_g: b.max_weight_g,
                tare_g: b.tare_g,
                cost_minor: b.cost_minor,
                features: b.features.join(", "),
            })
            .collect(),
        box_fields: vec![
            ("code", "Code", false),
            ("length_mm", "Inside length (mm)", true),
            ("width_mm", "Inside width (mm)", true),
            ("height_mm", "Inside height (mm)", true),
            ("outer_length_mm", "Outside length (mm, optional)", true),
            ("outer_width_mm", "Outside width (mm, optional)", true),
            ("outer_height_mm", "Outside height (mm, optional)", true),
            ("max_weight_g", "Max weight packed (g)", true),
            ("tare_g", "Tare (g)", true),
            ("cost_minor", "Cost (minor units, e.g. cents)", true),
            (
                "features",
                "Features (comma-separated, e.g. insulated)",
                false,
            ),
        ],
        editing_box: editing_box.is_some() || !box_form.val("code").is_empty(),
        box_form,
        policies_csv: match &shown.policies.text {
            Some(t) => t.clone(),
            None => policies.to_csv(),
        },
        policies: shown.policies,
        locations: all_locations
            .iter()
            .map(|l| (l.code.clone(), l.name.clone(), l.kind.as_str().to_string()))
            .collect(),
        channels: all_channels
            .iter()
            .map(|c| (c.code.clone(), c.name.clone(), c.kind.as_str().to_string()))
            .collect(),
        location_specs: location_fields(&location_form),
        editing_location: saved_location,
        location_form,
        channel_specs: channel_fields(&channel_form),
        editing_channel: saved_channel,
        channel_form,
    };
    page(&p.ctx, &p)
}

fn with_status(r: WebResult, status: StatusCode) -> WebResult {
    let mut r = r?;
    *r.status_mut() = status;
    Ok(r)
}

#[derive(Deserialize)]
pub(crate) struct ShowQuery {
    #[serde(rename = "box")]
    box_code: Option<String>,
    location: Option<String>,
    channel: Option<String>,
}

/// `GET /settings` (`?box=CODE`, `?location=CODE`, `?channel=CODE` open that record in
/// its form).
pub(crate) async fn show(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<ShowQuery>,
) -> WebResult {
    render_editing(
        &s,
        &auth,
        Shown::default(),
        Editing {
            box_code: q.box_code.as_deref(),
            location: q.location.as_deref(),
            channel: q.channel.as_deref(),
        },
    )
    .await
}

fn kept(f: &FormData, names: &[&'static str]) -> SettingsForm {
    SettingsForm {
        values: names.iter().map(|n| (*n, f.raw(n))).collect(),
        checked: vec![],
        errors: vec![],
        message: None,
    }
}

/// Letters, digits and `. _ - @`, 1 to 64 of them.
fn check_username(u: &str) -> Result<(), &'static str> {
    if u.is_empty() || u.chars().count() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !u
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err("may hold only letters, digits and . _ - @");
    }
    Ok(())
}

/// `POST /settings/users/{username}/disable` (every session of theirs ends at once) and
/// `…/enable`. Nobody disables themselves, so an admin cannot lock everyone out by mistake.
pub(crate) async fn user_state(
    State(s): State<WebState>,
    Path((username, action)): Path<(String, String)>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageKeys)?;
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(WebError::NotFound(format!("The action '{action}'"))),
    };
    if disabled && username == p.auth.session.user.username {
        return Ok(p.auth.redirect_with(
            "/settings#users",
            false,
            "You cannot disable your own account.",
        ));
    }
    if !s.store.set_user_disabled(&username, disabled).await? {
        return Err(WebError::NotFound(format!("User {username}")));
    }
    Ok(p.auth.redirect_with(
        "/settings#users",
        true,
        &if disabled {
            format!("{username} is disabled: signed out everywhere, and cannot sign in.")
        } else {
            format!("{username} is enabled and may sign in again.")
        },
    ))
}

/// `POST /settings/api-keys/{id}/revoke`: the key stops working at once on this node.
pub(crate) async fn revoke_key(
    State(s): State<WebState>,
    Path(id): Path<i64>,
    p: Posted,
) -> WebResult {
    p.auth.require(Permission::ManageKeys)?;
    let (ok, text) = if s.store.delete_api_key(id).await? {
        (true, format!("API key #{id} was revoked."))
    } else {
        (false, format!("There is no API key #{id}."))
    };
    Ok(p.auth.redirect_with("/settings#keys", ok, &text))
}

/// `POST /settings/users`: a new back-office user with an initial password (argon2id).
pub(crate) async fn create_user(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageKeys)?;
    let f = &p.form;
    let username = f.get("username").unwrap_or_default();
    let password = f.raw("password");
    let mut errors = Vec::new();
    if let Err(e) = check_username(&username) {
        errors.push(FieldError::new("username", e));
    }
    let role = match f.get("role").as_deref().map(Role::parse) {
        Some(Some(Role::Integration)) => {
            errors.push(FieldError::new(
                "role",
                "integration is a role for API keys, not for people",
            ));
            None
        }
        Some(Some(r)) => Some(r),
        _ => {
            errors.push(FieldError::new("role", "choose a role"));
            None
        }
    };
    let chars = password.chars().count();
    if chars < MIN_PASSWORD {
        errors.push(FieldError::new(
            "password",
            format!("must have at least {MIN_PASSWORD} characters"),
        ));
    } else if chars > 1000 {
        errors.push(FieldError::new("password", "is too long"));
    }
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if let (true, Some(role)) = (errors.is_empty(), role) {
        // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| WebError::Internal(e.to_string()))?
            .map_err(WebError::Internal)?;
        match s.store.create_user(&username, role, &hash).await {
            Ok(u) => {
                return Ok(p.auth.redirect_with(
                    "/settings#users",
                    true,
                    &format!(
                        "User {} created with role {}: they can sign in with the password you chose.",
                        u.username,
                        role.as_str()
                    ),
                ));
            }
            Err(StoreError::Problem(Problem::Conflict { message, .. })) => {
                status = StatusCode::CONFLICT;
                errors.push(FieldError::new("username", message));
            }
            Err(StoreError::Problem(Problem::Invalid(more))) => errors.extend(more),
            Err(e) => return Err(e.into()),
        }
    }
    let mut user = kept(f, &["username", "role"]);
    user.errors = errors;
    user.message = Some("Not created: please correct the fields marked below.".into());
    let shown = Shown {
        user,
        ..Shown::default()
    };
    with_status(render(&s, &p.auth, shown, None).await, status)
}

/// `POST /settings/api-keys`: a new API key; its token is shown on this answer only.
pub(crate) async fn create_key(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageKeys)?;
    let f = &p.form;
    let name = f.get("name").unwrap_or_default();
    let mut errors = Vec::new();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "is required (at most 100 characters)",
        ));
    }
    let role = f.get("role").as_deref().and_then(Role::parse);
    if role.is_none() {
        errors.push(FieldError::new("role", "choose a role"));
    }
    if let (true, Some(role)) = (errors.is_empty(), role) {
        let token = generate_token();
        let key = s
            .store
            .create_api_key(&name, role, &hash_token(&token))
            .await?;
        let shown = Shown {
            new_key: Some((key.name, token, role.as_str())),
            ..Shown::default()
        };
        return render(&s, &p.auth, shown, None).await;
    }
    let mut key = kept(f, &["name", "role"]);
    key.errors = errors;
    key.message = Some("Not created: please correct the fields marked below.".into());
    let shown = Shown {
        key,
        ..Shown::default()
    };
    with_status(
        render(&s, &p.auth, shown, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

/// The checks of `PUT /api/v1/carrier-services`.
fn check_services(services: &[CarrierService]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, svc) in services.iter().enumerate() {
        if !ordo_domain::shipment::is_carrier_code(&svc.carrier) {
            errors.push(FieldError::new(
                format!("[{i}].carrier"),
                "must be a lowercase carrier code",
            ));
        }
        if svc.code.trim().is_empty() {
            errors.push(FieldError::new(format!("[{i}].code"), "is required"));
        }
        if svc.max_weight_g <= 0 {
            errors.push(FieldError::new(
                format!("[{i}].max_weight_g"),
                "must be positive",
            ));
        }
        if svc.rates.is_empty() {
            errors.push(FieldError::new(
                format!("[{i}].rates"),
                "give at least one rate band",
            ));
        }
        if services[..i]
            .iter()
            .any(|o| o.carrier == svc.carrier && o.code == svc.code)
        {
            errors.push(FieldError::new(
                format!("[{i}].code"),
                "is listed twice for this carrier",
            ));
        }
    }
    errors
}

/// `[1].max_weight_g` → `Service 2, max_weight_g: must be positive.`
fn service_error(e: &FieldError) -> String {
    let named = e
        .field
        .strip_prefix('[')
        .and_then(|r| r.split_once("]."))
        .and_then(|(i, f)| i.parse::<usize>().ok().map(|i| (i + 1, f)));
    match named {
        Some((n, f)) => format!("Service {n}, {f}: {}", sentence(&e.message)),
        None => format!("{}: {}", e.field, sentence(&e.message)),
    }
}

/// `POST /settings/carrier-services`: replaces the list from the JSON as edited.
pub(crate) async fn save_carriers(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let text = p.form.raw("services");
    let errors = match serde_json::from_str::<Vec<CarrierService>>(&text) {
        Err(e) => vec![format!(
            "Line {}, column {}: {}",
            e.line(),
            e.column(),
            sentence(e.to_string().split(" at line ").next().unwrap_or_default())
        )],
        Ok(services) => {
            let errors = check_services(&services);
            if errors.is_empty() {
                let n = services.len();
                s.store
                    .put_carrier_services(services, &p.auth.context())
                    .await?;
                return Ok(p.auth.redirect_with(
                    "/settings#carriers",
                    true,
                    &format!(
                        "{n} carrier service{} saved.",
                        if n == 1 { "" } else { "s" }
                    ),
                ));
            }
            errors.iter().map(service_error).collect()
        }
    };
    let shown = Shown {
        carriers: TextForm {
            text: Some(text),
            errors,
            message: Some("Not saved: correct the errors below (nothing was changed).".into()),
        },
        ..Shown::default()
    };
    with_status(
        render(&s, &p.auth, shown, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

fn number(f: &FormData, name: &'static str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match f.get(name)?.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(name, "must be a whole number"));
            None
        }
    }
}

/// `POST /settings/box-types`: adds or changes one box type (by its code).
pub(crate) async fn save_box(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let f = &p.form;
    let mut errors = Vec::new();
    let code = f.get("code").unwrap_or_default();
    if code.is_empty() || code.len() > 32 {
        errors.push(FieldError::new("code", "must be 1 to 32 characters"));
    }
    let required = |name: &'static str, errors: &mut Vec<FieldError>| {
        let v = number(f, name, errors);
        if v.is_none() && f.get(name).is_none() {
            errors.push(FieldError::new(name, "is required"));
        }
        v.unwrap_or(0)
    };
    let inner = Dimensions {
        length_mm: required("length_mm", &mut errors),
        width_mm: required("width_mm", &mut errors),
        height_mm: required("height_mm", &mut errors),
    };
    let max_weight_g = required("max_weight_g", &mut errors);
    let tare_g = number(f, "tare_g", &mut errors).unwrap_or(0);
    let cost_minor = number(f, "cost_minor", &mut errors).unwrap_or(0);
    let outer_names = ["outer_length_mm", "outer_width_mm", "outer_height_mm"];
    let outer_given = outer_names.iter().filter(|n| f.get(n).is_some()).count();
    let outer = match outer_given {
        0 => None,
        3 => {
            let l = number(f, "outer_length_mm", &mut errors);
            let w = number(f, "outer_width_mm", &mut errors);
            let h = number(f, "outer_height_mm", &mut errors);
            match (l, w, h) {
                (Some(l), Some(w), Some(h)) => {
                    for (name, v) in outer_names.iter().zip([l, w, h]) {
                        if v <= 0 {
                            errors.push(FieldError::new(*name, "must be positive"));
                        } else if v < inner_of(&inner, name) {
                            errors.push(FieldError::new(
                                *name,
                                "must not be smaller than the inside",
                            ));
                        }
                    }
                    Some(Dimensions {
                        length_mm: l,
                        width_mm: w,
                        height_mm: h,
                    })
                }
                _ => None,
            }
        }
        _ => {
            errors.push(FieldError::new(
                "outer_length_mm",
                "give all three outside dimensions, or none",
            ));
            None
        }
    };
    // The checks of `PUT /api/v1/box-types/{code}`.
    for (name, v) in [
        ("length_mm", inner.length_mm),
        ("width_mm", inner.width_mm),
        ("height_mm", inner.height_mm),
        ("max_weight_g", max_weight_g),
    ] {
        if v <= 0 && !errors.iter().any(|e| e.field == name) {
            errors.push(FieldError::new(name, "must be positive"));
        }
    }
    for (name, v) in [("tare_g", tare_g), ("cost_minor", cost_minor)] {
        if v < 0 {
            errors.push(FieldError::new(name, "must not be negative"));
        }
    }
    let features: Vec<String> = f
        .raw("features")
        .split([',', ';'])
        .map(|x| x.trim().to_ascii_lowercase())
        .filter(|x| !x.is_empty())
        .collect();
    if errors.is_empty() {
        let b = BoxType {
            code: code.clone(),
            inner,
            outer,
            max_weight_g,
            tare_g,
            cost_minor,
            features,
        };
        s.store.put_box_type(b, &p.auth.context()).await?;
        return Ok(p.auth.redirect_with(
            "/settings#boxes",
            true,
            &format!("Box type {code} saved."),
        ));
    }
    let mut form = kept(
        f,
        &[
            "code",
            "length_mm",
            "width_mm",
            "height_mm",
            "outer_length_mm",
            "outer_width_mm",
            "outer_height_mm",
            "max_weight_g",
            "tare_g",
            "cost_minor",
            "features",
        ],
    );
    form.errors = errors;
    form.message = Some("Not saved: please correct the fields marked below.".into());
    let shown = Shown {
        box_form: Some(form),
        ..Shown::default()
    };
    with_status(
        render(&s, &p.auth, shown, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

fn inner_of(d: &Dimensions, outer_name: &str) -> i64 {
    match outer_name {
        "outer_length_mm" => d.length_mm,
        "outer_width_mm" => d.width_mm,
        _ => d.height_mm,
    }
}

/// `rows[2].padding_mm` (parsing) → `Line 4, padding_mm: …` (the header is line 1);
/// `policies[0].padding_mm` (checking) names the line of the first policy's row.
fn policy_error(e: &FieldError, text: &str) -> String {
    if let Some(col) = e.field.strip_prefix("header.") {
        return format!("Header, {col}: {}", sentence(&e.message));
    }
    let index = |prefix: &str| {
        e.field
            .strip_prefix(prefix)
            .and_then(|r| r.split_once("]."))
            .and_then(|(i, f)| i.parse::<usize>().ok().map(|i| (i, f)))
    };
    let named = index("rows[").map(|(i, f)| (i + 2, f)).or_else(|| {
        index("policies[").and_then(|(i, f)| {
            crate::csv::records(text)
                .get(i + 1)
                .map(|(line, _)| (*line, f))
        })
    });
    match named {
        Some((n, f)) => format!("Line {n}, {f}: {}", sentence(&e.message)),
        None => format!("{}: {}", e.field, sentence(&e.message)),
    }
}

/// `POST /settings/packing-policies`: replaces the shop-wide policies from pasted CSV.
pub(crate) async fn save_policies(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let text = p.form.raw("csv");
    let errors = match PackingPolicies::from_csv(&text) {
        Ok(policies) => {
            let n = policies.policies.len();
            s.store
                .put_packing_policies(None, policies, &p.auth.context())
                .await?;
            return Ok(p.auth.redirect_with(
                "/settings#policies",
                true,
                &format!(
                    "Shop-wide packing policies saved ({n} class{}).",
                    if n == 1 { "" } else { "es" }
                ),
            ));
        }
        Err(Problem::Invalid(errors)) => errors.iter().map(|e| policy_error(e, &text)).collect(),
        Err(other) => vec![crate::error::describe(&other).0],
    };
    let shown = Shown {
        policies: TextForm {
            text: Some(text),
            errors,
            message: Some("Not saved: correct the errors below (nothing was changed).".into()),
        },
        ..Shown::default()
    };
    with_status(
        render(&s, &p.auth, shown, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

/// One input of a record form: `kind` is `text`, `number`, `select` or `checkbox`.
pub(crate) struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub options: Vec<Opt>,
}

fn spec(name: &'static str, label: &'static str, kind: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        label,
        kind,
        options: vec![],
    }
}

fn choose(name: &'static str, label: &'static str, values: &[&str], current: &str) -> FieldSpec {
    FieldSpec {
        name,
        label,
        kind: "select",
        options: values
            .iter()
            .map(|v| Opt {
                value: (*v).to_string(),
                label: crate::view::humanize(v),
                selected: *v == current,
            })
            .collect(),
    }
}

const LOCATION_FIELDS: [&str; 12] = [
    "code",
    "name",
    "kind",
    "line1",
    "postal_code",
    "city",
    "country",
    "latitude",
    "longitude",
    "priority",
    "ships_to",
    "active",
];

const CHANNEL_FIELDS: [&str; 8] = [
    "code",
    "name",
    "kind",
    "currency",
    "locations",
    "buffer",
    "max_listed",
    "active",
];

pub(crate) fn location_fields(form: &SettingsForm) -> Vec<FieldSpec> {
    vec![
        spec("code", "Code (e.g. WH2)", "text"),
        spec("name", "Name", "text"),
        choose(
            "kind",
            "Kind",
            &["warehouse", "store", "3pl", "marketplace"],
            form.val("kind"),
        ),
        spec("line1", "Street and number", "text"),
        spec("postal_code", "Postal code", "text"),
        spec("city", "City", "text"),
        spec("country", "Country (ISO code, e.g. DE)", "text"),
        spec("latitude", "Latitude (optional)", "number"),
        spec("longitude", "Longitude (optional)", "number"),
        spec("priority", "Priority (lower ships first)", "number"),
        spec(
            "ships_to",
            "Ships to (country codes, comma-separated; empty: everywhere)",
            "text",
        ),
        spec("active", "Active: routing may send orders here", "checkbox"),
    ]
}

pub(crate) fn channel_fields(form: &SettingsForm) -> Vec<FieldSpec> {
    let kinds: Vec<&str> = ordo_domain::catalog::ChannelKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    vec![
        spec("code", "Code (e.g. shop)", "text"),
        spec("name", "Name", "text"),
        choose("kind", "Kind", &kinds, form.val("kind")),
        spec("currency", "Currency (ISO code, e.g. EUR)", "text"),
        spec(
            "locations",
            "Sells stock of (location codes, comma-separated; empty: every active location)",
            "text",
        ),
        spec("buffer", "Buffer (units per SKU held back)", "number"),
        spec(
            "max_listed",
            "Most units listed per SKU (optional)",
            "number",
        ),
        spec("active", "Active", "checkbox"),
    ]
}

fn list_text(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn scalar_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => if *b { "1" } else { "" }.to_string(),
        other => other.to_string(),
    }
}

/// The form filled from a saved location (as the API shows it).
fn location_form_of(l: &ordo_domain::catalog::Location) -> SettingsForm {
    let v = serde_json::to_value(l).unwrap_or_default();
    let a = &v["address"];
    SettingsForm {
        values: LOCATION_FIELDS
            .iter()
            .map(|n| {
                let text = match *n {
                    "line1" | "postal_code" | "city" | "country" => scalar_text(&a[*n]),
                    "ships_to" => list_text(&v[*n]),
                    _ => scalar_text(&v[*n]),
                };
                (*n, text)
            })
            .collect(),
        checked: vec![],
        errors: vec![],
        message: None,
    }
}

fn channel_form_of(c: &ordo_domain::catalog::Channel) -> SettingsForm {
    let v = serde_json::to_value(c).unwrap_or_default();
    SettingsForm {
        values: CHANNEL_FIELDS
            .iter()
            .map(|n| {
                let text = match *n {
                    "locations" => list_text(&v[*n]),
                    _ => scalar_text(&v[*n]),
                };
                (*n, text)
            })
            .collect(),
        checked: vec![],
        errors: vec![],
        message: None,
    }
}

/// A typed number into `doc[key]` (empty: absent), or a field error.
fn put_number(
    doc: &mut serde_json::Map<String, serde_json::Value>,
    f: &FormData,
    name: &'static str,
    decimal: bool,
    errors: &mut Vec<FieldError>,
) {
    match f.get(name) {
        None => {
            doc.insert(name.into(), serde_json::Value::Null);
        }
        Some(v) if decimal => match v.parse::<f64>() {
            Ok(n) if n.is_finite() => {
                doc.insert(name.into(), serde_json::json!(n));
            }
            _ => errors.push(FieldError::new(name, "must be a number such as 52.52")),
        },
        Some(v) => match v.parse::<i64>() {
            Ok(n) => {
                doc.insert(name.into(), serde_json::json!(n));
            }
            Err(_) => errors.push(FieldError::new(name, "must be a whole number")),
        },
    }
}

fn comma_list(f: &FormData, name: &str, upper: bool) -> serde_json::Value {
    f.raw(name)
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            if upper {
                x.to_ascii_uppercase()
            } else {
                x.to_string()
            }
        })
        .collect::<Vec<_>>()
        .into()
}

/// A domain field path as the input that holds it (`address.country` → `country`).
fn input_of(field: &str, names: &[&'static str]) -> Option<&'static str> {
    let base = field.split('[').next().unwrap_or(field);
    let base = base.strip_prefix("address.").unwrap_or(base);
    names.iter().copied().find(|n| *n == base)
}

/// Sorts a refusal into errors at their inputs and a message for the rest.
fn refusal_form(
    f: &FormData,
    names: &[&'static str],
    mut errors: Vec<FieldError>,
    problem: Option<Problem>,
) -> (StatusCode, SettingsForm) {
    let mut form = kept(f, names);
    if f.get("active").is_some() {
        form.values.retain(|(n, _)| *n != "active");
        form.values.push(("active", "1".into()));
    }
    let mut loose = Vec::new();
    let status = match problem {
        None => StatusCode::UNPROCESSABLE_ENTITY,
        Some(Problem::Invalid(more)) => {
            for e in more {
                match input_of(&e.field, names) {
                    Some(n) if !errors.iter().any(|x| x.field == n) => {
                        errors.push(FieldError::new(n, e.message));
                    }
                    Some(_) => {}
                    None => loose.push(format!("{}: {}", e.field, e.message)),
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Some(p) => {
            loose.push(crate::error::describe(&p).0);
            StatusCode::CONFLICT
        }
    };
    form.errors = errors;
    form.message = Some(if loose.is_empty() {
        "Not saved: correct the fields marked below.".into()
    } else {
        format!("Not saved: {}", loose.join("; "))
    });
    (status, form)
}

/// `POST /settings/locations`: adds a location, or changes the one with this code. What the
/// form has no input for (routing settings, GS1 prefix) keeps its saved value.
pub(crate) async fn save_location(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let f = &p.form;
    let code = f.get("code").unwrap_or_default();
    let existing = if code.is_empty() {
        None
    } else {
        s.store.get_location(&code).await?
    };
    let mut doc = match existing.as_ref().map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        _ => serde_json::Map::new(),
    };
    let mut errors = Vec::new();
    for n in ["code", "name", "kind"] {
        doc.insert(n.into(), f.get(n).into());
    }
    let mut address = match doc.remove("address") {
        Some(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for n in ["line1", "postal_code", "city"] {
        address.insert(n.into(), f.get(n).into());
    }
    address.insert(
        "country".into(),
        f.get("country").map(|c| c.to_ascii_uppercase()).into(),
    );
    doc.insert("address".into(), address.into());
    put_number(&mut doc, f, "latitude", true, &mut errors);
    put_number(&mut doc, f, "longitude", true, &mut errors);
    put_number(&mut doc, f, "priority", false, &mut errors);
    doc.insert("ships_to".into(), comma_list(f, "ships_to", true));
    doc.insert("active".into(), f.get("active").is_some().into());
    let input: ordo_domain::catalog::LocationInput =
        serde_json::from_value(doc.into()).map_err(|e| WebError::Internal(e.to_string()))?;
    let problem = match input.validate() {
        Ok(l) if errors.is_empty() => match s.store.put_location(l, &p.auth.context()).await {
            Ok(_) => {
                return Ok(p.auth.redirect_with(
                    "/settings#locations",
                    true,
                    &format!(
                        "Location {code} {}.",
                        if existing.is_some() { "saved" } else { "added" }
                    ),
                ));
            }
            Err(StoreError::Problem(pr)) => Some(pr),
            Err(e) => return Err(e.into()),
        },
        Ok(_) => None,
        Err(pr) => Some(pr),
    };
    let (status, form) = refusal_form(f, &LOCATION_FIELDS, errors, problem);
    let shown = Shown {
        location: Some(form),
        ..Shown::default()
    };
    with_status(render(&s, &p.auth, shown, None).await, status)
}

/// `POST /settings/channels`: adds a sales channel, or changes the one with this code. Its
/// split policy and connection keep their saved values.
pub(crate) async fn save_channel(State(s): State<WebState>, p: Posted) -> WebResult {
    p.auth.require(Permission::ManageCatalog)?;
    let f = &p.form;
    let code = f.get("code").unwrap_or_default();
    let existing = if code.is_empty() {
        None
    } else {
        s.store.get_channel(&code).await?
    };
    let mut doc = match existing.as_ref().map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        _ => serde_json::Map::new(),
    };
    let mut errors = Vec::new();
    for n in ["code", "name", "kind"] {
        doc.insert(n.into(), f.get(n).into());
    }
    doc.insert(
        "currency".into(),
        f.get("currency").map(|c| c.to_ascii_uppercase()).into(),
    );
    doc.insert("locations".into(), comma_list(f, "locations", false));
    put_number(&mut doc, f, "buffer", false, &mut errors);
    put_number(&mut doc, f, "max_listed", false, &mut errors);
    doc.insert("active".into(), f.get("active").is_some().into());
    let input: ordo_domain::catalog::ChannelInput =
        serde_json::from_value(doc.into()).map_err(|e| WebError::Internal(e.to_string()))?;
    let problem = match input.validate() {
        Ok(c) if errors.is_empty() => match s.store.put_channel(c, &p.auth.context()).await {
            Ok(_) => {
                return Ok(p.auth.redirect_with(
                    "/settings#channels",
                    true,
                    &format!(
                        "Channel {code} {}.",
                        if existing.is_some() { "saved" } else { "added" }
                    ),
                ));
            }
            Err(StoreError::Problem(pr)) => Some(pr),
            Err(e) => return Err(e.into()),
        },
        Ok(_) => None,
        Err(pr) => Some(pr),
    };
    let (status, form) = refusal_form(f, &CHANNEL_FIELDS, errors, problem);
    let shown = Shown {
        channel: Some(form),
        ..Shown::default()
    };
    with_status(render(&s, &p.auth, shown, None).await, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_service_and_line() {
        let e = FieldError::new("[1].max_weight_g", "must be positive");
        assert_eq!(
            service_error(&e),
            "Service 2, max_weight_g: Must be positive."
        );
        let e = FieldError::new("rows[0].padding_mm", "must be 0 to 1000");
        assert_eq!(
            policy_error(&e, ""),
            "Line 2, padding_mm: Must be 0 to 1000."
        );
        let e = FieldError::new("policies[1].padding_mm", "must be 0 to 1000");
        assert_eq!(
            policy_error(&e, "class,padding_mm\nfragile,1\n\nhazmat,5000\n"),
            "Line 4, padding_mm: Must be 0 to 1000."
        );
        assert!(check_username("ann.lee@shop").is_ok());
        assert!(check_username("ann lee").is_err());
    }
}
