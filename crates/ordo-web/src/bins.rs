//! A location's bins on its page: how bin codes are read and walked (the layout), the zones
//! in use, the pick bin of each SKU, and a form that assigns pick bins from pasted CSV
//! (`sku,bin` per line) with an error per line.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use ordo_domain::catalog::check_sku;
use ordo_domain::{FieldError, Problem};
use ordo_store::{Permission, SkuBin, StoreError};

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
}

/// The section for `code`, with the paste form as given (empty on a plain visit).
pub(crate) async fn section(
    s: &WebState,
    auth: &Auth,
    code: &str,
    form: BinsForm,
) -> WebResult<BinsSection> {
    let config = s.store.get_layout(code).await?;
    let saved = config.is_some();
    let config = config.unwrap_or_default();
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
    let mut r = crate::catalog::location_response(s, auth, code, form).await?;
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
