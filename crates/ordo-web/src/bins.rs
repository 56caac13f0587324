//! A location's bins on its page: how bin codes are read and walked (the layout), the zones
//! in use, the pick bin of each SKU, and a form that assigns pick bins from pasted CSV
//! (`sku,bin` per line) with an error per line.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use ordo_domain::catalog::check_sku;
use ordo_domain::{FieldError, Problem};
use ordo_store::{Permission, SkuBin, StoreError};
use ordo_warehouse::bins::{BinError, BinFormat, BinRecord, Layout, LayoutConfig, Point, Segment};

use crate::WebState;
use crate::error::{WebError, WebResult, sentence};
use crate::form::encode;
use crate::session::{Auth, Posted};

/// Lines one paste may hold.
const MAX_ROWS: usize = 2_000;

pub(crate) struct ZoneRow {
    pub zone: String,
    pub bins: usize,
    pub skus: usize,
}

pub(crate) struct SkuBinRow {
    pub sku: String,
    pub bin: String,
    pub zone: String,
    /// Set when the bin cannot be placed on the walk (the picker is told to look for it).
    pub unplaced: bool,
}

/// The paste form after a refusal: the text as typed and one error per bad line.
#[derive(Default)]
pub(crate) struct BinsForm {
    pub csv: String,
    pub errors: Vec<String>,
    pub message: Option<String>,
}

pub(crate) struct BinsSection {
    /// A layout was saved (otherwise codes are read by the default format).
    pub saved: bool,
    /// `zone-aisle-bay-level`.
    pub format: String,
    pub walk: &'static str,
    pub master: usize,
    pub sequenced: usize,
    pub placed: usize,
    pub start: String,
    pub layout_error: Option<String>,
    pub zones: Vec<ZoneRow>,
    pub assigned: Vec<SkuBinRow>,
    pub can_edit: bool,
    pub form: BinsForm,
    pub layout_form: LayoutForm,
}

/// The layout editor: the values to show and errors keyed by input name (`segments`,
/// `separator`, `start`, `bins`).
pub(crate) struct LayoutForm {
    pub segments: String,
    pub separator: String,
    pub serpentine: bool,
    pub start_x: String,
    pub start_y: String,
    pub bins: String,
    pub errors: Vec<FieldError>,
    pub message: Option<String>,
}

impl LayoutForm {
    pub fn err(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message.as_str())
    }

    /// The bin-master lines that could not be read or were refused.
    pub fn bin_errors(&self) -> Vec<&str> {
        self.errors
            .iter()
            .filter(|e| e.field == "bins")
            .map(|e| e.message.as_str())
            .collect()
    }

    fn of(config: &LayoutConfig) -> Self {
        let f = &config.format;
        let num = |v: f64| format!("{v}");
        let mut bins = String::new();
        if !config.bins.is_empty() {
            bins.push_str("code,sequence,x_m,y_m\n");
        }
        for b in &config.bins {
            let (x, y) = b
                .position
                .map_or((String::new(), String::new()), |p| (num(p.x_m), num(p.y_m)));
            bins.push_str(&format!(
                "{},{},{x},{y}\n",
                crate::csv::cell(&b.code),
                b.sequence.map(|n| n.to_string()).unwrap_or_default()
            ));
        }
        LayoutForm {
            segments: f
                .segments
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            separator: f.separator.clone(),
            serpentine: f.serpentine,
            start_x: config.start.map(|p| num(p.x_m)).unwrap_or_default(),
            start_y: config.start.map(|p| num(p.y_m)).unwrap_or_default(),
            bins,
            errors: vec![],
            message: None,
        }
    }
}

/// The section for `code`, with the paste form as given (empty on a plain visit).
pub(crate) async fn section(
    s: &WebState,
    auth: &Auth,
    code: &str,
    form: BinsForm,
    layout_form: Option<LayoutForm>,
) -> WebResult<BinsSection> {
    let config = s.store.get_layout(code).await?;
    let saved = config.is_some();
    let config = config.unwrap_or_default();
    let layout_form = layout_form.unwrap_or_else(|| LayoutForm::of(&config));
    let layout = ordo_store::layout_of(Some(config.clone()));
    let zone_of = |bin: &str| -> Option<String> { layout.as_ref().ok().and_then(|l| l.zone(bin)) };
    let placed_on_walk =
        |bin: &str| -> bool { layout.as_ref().is_ok_and(|l| l.flag(Some(bin)).is_none()) };
    let assigned_bins = s.store.sku_bins(code).await?;
    let mut zones: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for b in &config.bins {
        zones
            .entry(zone_of(&b.code).unwrap_or_else(|| "—".into()))
            .or_default()
            .0 += 1;
    }
    let mut assigned: Vec<SkuBinRow> = assigned_bins
        .iter()
        .map(|b| {
            let zone = zone_of(&b.bin).unwrap_or_else(|| "—".into());
            zones.entry(zone.clone()).or_default().1 += 1;
            SkuBinRow {
                sku: b.sku.clone(),
                bin: b.bin.clone(),
                unplaced: !placed_on_walk(&b.bin),
                zone,
            }
        })
        .collect();
    assigned.sort_by(|a, b| a.bin.cmp(&b.bin).then(a.sku.cmp(&b.sku)));
    let f = &config.format;
    Ok(BinsSection {
        saved,
        format: f
            .segments
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(&f.separator),
        walk: if f.serpentine {
            "S-shape: odd aisles up, even aisles down"
        } else {
            "one way: every aisle walked the same way"
        },
        master: config.bins.len(),
        sequenced: config.bins.iter().filter(|b| b.sequence.is_some()).count(),
        placed: config.bins.iter().filter(|b| b.position.is_some()).count(),
        start: config.start.map_or_else(
            || "the origin (0, 0)".into(),
            |p| format!("({:.1} m, {:.1} m)", p.x_m, p.y_m),
        ),
        layout_error: layout.err().map(|p| crate::error::describe(&p).0),
        zones: zones
            .into_iter()
            .map(|(zone, (bins, skus))| ZoneRow { zone, bins, skus })
            .collect(),
        assigned,
        can_edit: auth.allows(Permission::WriteStock),
        form,
        layout_form,
    })
}

/// The pasted rows, with the line each came from; every line that cannot be read is named.
fn parse_csv(text: &str) -> (Vec<(usize, SkuBin)>, Vec<String>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let header = first && line.replace(' ', "").eq_ignore_ascii_case("sku,bin");
        first = false;
        if header {
            continue;
        }
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"').trim())
            .collect();
        let (sku, bin) = match cells.as_slice() {
            [sku, bin] => (*sku, *bin),
            [_] => {
                errors.push(format!(
                    "Line {n}: expected sku,bin (a comma and the bin, or an empty bin to remove it)."
                ));
                continue;
            }
            _ => {
                errors.push(format!("Line {n}: expected two values, sku,bin."));
                continue;
            }
        };
        if let Err(e) = check_sku(sku) {
            errors.push(format!("Line {n}: SKU {}.", e));
            continue;
        }
        rows.push((
            n,
            SkuBin {
                sku: sku.to_string(),
                bin: bin.to_string(),
            },
        ));
    }
    (rows, errors)
}

/// Renders the location page with the paste form's refusal.
async fn refused(
    s: &WebState,
    auth: &Auth,
    code: &str,
    status: StatusCode,
    form: BinsForm,
) -> WebResult {
    let mut r = crate::catalog::location_response(s, auth, code, form, None).await?;
    *r.status_mut() = status;
    Ok(r)
}

/// `POST /locations/{code}/sku-bins`: assigns pick bins from pasted CSV. Every bin must be
/// in the bin master or follow the location's format; an empty bin removes the SKU's.
pub(crate) async fn save(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    if s.store.get_location(&code).await?.is_none() {
        return Err(WebError::NotFound(format!("Location {code}")));
    }
    let text = form.raw("csv");
    let (rows, mut errors) = parse_csv(&text);
    let keep = |errors: Vec<String>, message: String| BinsForm {
        csv: text.clone(),
        errors,
        message: Some(message),
    };
    if rows.is_empty() && errors.is_empty() {
        let f = keep(vec![], "Not saved: paste at least one line sku,bin.".into());
        return refused(&s, &auth, &code, StatusCode::UNPROCESSABLE_ENTITY, f).await;
    }
    if rows.len() + errors.len() > MAX_ROWS {
        let f = keep(
            vec![],
            format!("Not saved: at most {MAX_ROWS} lines at once."),
        );
        return refused(&s, &auth, &code, StatusCode::UNPROCESSABLE_ENTITY, f).await;
    }
    let layout = match ordo_store::layout_of(s.store.get_layout(&code).await?) {
        Ok(l) => l,
        Err(p) => {
            let f = keep(
                vec![],
                format!("Not saved: {}", crate::error::describe(&p).0),
            );
            return refused(&s, &auth, &code, StatusCode::CONFLICT, f).await;
        }
    };
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, b) in &rows {
        if let Some(first) = seen.insert(b.sku.as_str(), *n) {
            errors.push(format!(
                "Line {n}: {} is already on line {first}; give each SKU one pick bin.",
                b.sku
            ));
        }
        let bin = b.bin.trim();
        if !bin.is_empty()
            && layout.bin(bin).is_none()
            && let Err(e) = layout.format().parse(bin)
        {
            errors.push(format!(
                "Line {n}: {bin} is not a bin of {code} ({}).",
                e.to_string().trim_end_matches('.')
            ));
        }
    }
    errors.sort_by_key(|e| {
        e.strip_prefix("Line ")
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    });
    if !errors.is_empty() {
        let f = keep(
            errors,
            "Not saved: correct the lines below (nothing was changed).".into(),
        );
        return refused(&s, &auth, &code, StatusCode::UNPROCESSABLE_ENTITY, f).await;
    }
    let removed = rows.iter().filter(|(_, b)| b.bin.trim().is_empty()).count();
    let set = rows.len() - removed;
    let lines: Vec<usize> = rows.iter().map(|(n, _)| *n).collect();
    let bins: Vec<SkuBin> = rows.into_iter().map(|(_, b)| b).collect();
    match s.store.put_sku_bins(&code, bins, &auth.context()).await {
        Ok(()) => {
            let mut text = format!(
                "{code}: {set} pick bin{} saved",
                if set == 1 { "" } else { "s" }
            );
            if removed > 0 {
                text.push_str(&format!(", {removed} removed"));
            }
            text.push('.');
            Ok(auth.redirect_with(&format!("/locations/{}#bins", encode(&code)), true, &text))
        }
        Err(StoreError::Problem(problem)) => {
            let (status, errors) = match problem {
                Problem::Invalid(errs) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    errs.into_iter().map(|e| row_error(&e, &lines)).collect(),
                ),
                Problem::Conflict { message, .. } => {
                    (StatusCode::CONFLICT, vec![sentence(&message)])
                }
                Problem::NotFound(what) => (
                    StatusCode::NOT_FOUND,
                    vec![sentence(&format!("{what} was not found"))],
                ),
            };
            let f = keep(
                errors,
                "Not saved: correct the lines below (nothing was changed).".into(),
            );
            refused(&s, &auth, &code, status, f).await
        }
        Err(e) => Err(e.into()),
    }
}

fn segment(name: &str) -> Option<Segment> {
    Some(match name {
        "zone" => Segment::Zone,
        "aisle" => Segment::Aisle,
        "bay" => Segment::Bay,
        "level" => Segment::Level,
        "position" => Segment::Position,
        _ => return None,
    })
}

fn coordinate(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The bin master as pasted (`code,sequence,x_m,y_m`, header optional), an error per line.
fn parse_bin_master(text: &str, errors: &mut Vec<FieldError>) -> Vec<BinRecord> {
    let mut bins = Vec::new();
    for (i, (n, cells)) in crate::csv::records(text).into_iter().enumerate() {
        if i == 0 && cells[0].eq_ignore_ascii_case("code") {
            continue;
        }
        let mut bad = |m: String| errors.push(FieldError::new("bins", format!("Line {n}: {m}")));
        if cells.len() > 4 {
            bad("expected at most four values, code,sequence,x_m,y_m.".into());
            continue;
        }
        let cell = |i: usize| cells.get(i).map(String::as_str).unwrap_or("");
        if cell(0).is_empty() {
            bad("the bin code is missing.".into());
            continue;
        }
        let sequence = match cell(1) {
            "" => None,
            v => match v.parse::<u64>() {
                Ok(s) => Some(s),
                Err(_) => {
                    bad(format!("sequence {v} is not a whole number of 0 or more."));
                    continue;
                }
            },
        };
        let position = match (cell(2), cell(3)) {
            ("", "") => None,
            (x, y) => match (coordinate(x), coordinate(y)) {
                (Some(x_m), Some(y_m)) => Some(Point { x_m, y_m }),
                _ => {
                    bad("x_m and y_m must both be numbers (metres), or both empty.".into());
                    continue;
                }
            },
        };
        bins.push(BinRecord {
            code: cell(0).to_string(),
            sequence,
            position,
        });
    }
    bins
}

/// Which input a refusal of `Layout::new` is about.
fn layout_field(e: &BinError) -> &'static str {
    match e {
        BinError::NoSegments | BinError::DuplicateSegment(_) => "segments",
        BinError::EmptySeparator => "separator",
        BinError::BadCoordinate(c) if c == "start" => "start",
        _ => "bins",
    }
}

/// `POST /locations/{code}/layout`: replaces the location's bin layout (code format, walk,
/// start point and bin master), checked by `Layout::new` as the API checks it.
pub(crate) async fn save_layout(
    State(s): State<WebState>,
    Path(code): Path<String>,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    if s.store.get_location(&code).await?.is_none() {
        return Err(WebError::NotFound(format!("Location {code}")));
    }
    let mut errors = Vec::new();
    let mut segments = Vec::new();
    for name in form
        .raw("segments")
        .split([',', ' ', ';'])
        .map(|x| x.trim().to_ascii_lowercase())
        .filter(|x| !x.is_empty())
    {
        match segment(&name) {
            Some(seg) => segments.push(seg),
            None => {
                errors.push(FieldError::new(
                    "segments",
                    format!("“{name}” is not a segment: use zone, aisle, bay, level, position"),
                ));
                break;
            }
        }
    }
    let start = match (form.get("start_x"), form.get("start_y")) {
        (None, None) => None,
        (Some(x), Some(y)) => match (coordinate(&x), coordinate(&y)) {
            (Some(x_m), Some(y_m)) => Some(Point { x_m, y_m }),
            _ => {
                errors.push(FieldError::new("start", "must be two numbers (metres)"));
                None
            }
        },
        _ => {
            errors.push(FieldError::new(
                "start",
                "give both coordinates, or neither",
            ));
            None
        }
    };
    let bins_text = form.raw("bins");
    let bins = parse_bin_master(&bins_text, &mut errors);
    let config = LayoutConfig {
        format: BinFormat {
            segments,
            separator: form.get("separator").unwrap_or_default(),
            serpentine: form.get("serpentine").is_some(),
        },
        bins,
        start,
    };
    if errors.is_empty()
        && let Err(e) = Layout::new(config.clone())
    {
        let field = layout_field(&e);
        let text = sentence(&e.to_string());
        errors.push(FieldError::new(field, text));
    }
    if errors.is_empty() {
        let n = config.bins.len();
        s.store.put_layout(&code, config, &auth.context()).await?;
        return Ok(auth.redirect_with(
            &format!("/locations/{}#bins", encode(&code)),
            true,
            &format!(
                "{code}: layout saved ({n} bin{} in the bin master).",
                if n == 1 { "" } else { "s" }
            ),
        ));
    }
    let kept = LayoutForm {
        segments: form.raw("segments"),
        separator: form.raw("separator"),
        serpentine: form.get("serpentine").is_some(),
        start_x: form.raw("start_x"),
        start_y: form.raw("start_y"),
        bins: bins_text,
        errors,
        message: Some(
            "Layout not saved (nothing was changed): correct the fields marked below.".into(),
        ),
    };
    let mut r =
        crate::catalog::location_response(&s, &auth, &code, BinsForm::default(), Some(kept))
            .await?;
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(r)
}

/// `bins[2].sku: unknown SKU 'X'` → `Line 4: unknown SKU 'X'.` (the pasted line).
fn row_error(e: &FieldError, lines: &[usize]) -> String {
    let line = e
        .field
        .strip_prefix("bins[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(i, _)| i.parse::<usize>().ok())
        .and_then(|i| lines.get(i));
    match line {
        Some(n) => format!("Line {n}: {}", sentence(&e.message)),
        None => format!("{}: {}", e.field, sentence(&e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_are_read_with_their_numbers() {
        let (rows, errors) = parse_csv(
            "sku,bin\nMUG-1, A-01-02-A\n\n\"TEA-1\",\"B-02-01-C\"\nLAMP-1\nX,Y,Z\nBAD SKU,A-01-01-A\nOLD-1,\n",
        );
        let got: Vec<(usize, &str, &str)> = rows
            .iter()
            .map(|(n, b)| (*n, b.sku.as_str(), b.bin.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "MUG-1", "A-01-02-A"),
                (4, "TEA-1", "B-02-01-C"),
                (8, "OLD-1", "")
            ]
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("Line 5: expected sku,bin"),
            "{errors:?}"
        );
        assert!(errors[1].starts_with("Line 6: expected two values"));
        assert!(errors[2].starts_with("Line 7: SKU must not contain whitespace"));
    }

    #[test]
    fn store_errors_name_the_pasted_line() {
        let e = FieldError::new("bins[1].sku", "unknown SKU 'NOPE'");
        assert_eq!(row_error(&e, &[2, 5]), "Line 5: Unknown SKU 'NOPE'.");
    }
}
