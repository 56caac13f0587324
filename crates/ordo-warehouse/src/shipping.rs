//! Carrier services and the choice of one for a shipment.
//!
//! Services are configuration ([`CarrierService`]): transit time, whether the carrier moves
//! and delivers at weekends, size and weight limits, a price table by weight band and
//! destination zone, and the cut-off time at each location it collects from.
//! [`choose_service`] returns the cheapest service that keeps the promise, and for every
//! other service the reasons it was not chosen, so an operator can see why the parcel did
//! not go by the usual carrier.
//!
//! Dates are the location's local calendar: the caller passes `ready_at` in the location's
//! UTC offset. Working days are Monday to Friday (public holidays are not modelled).
//!
//! * A parcel ready after the cut-off (or on a weekend) ships the next working day.
//! * Transit days count the days the carrier moves parcels: Monday to Friday, plus the
//!   weekend for services with weekend delivery. Transit 0 is same-day delivery.
//! * A parcel that may not be in transit over a weekend (perishables) must not spend a whole
//!   Saturday or Sunday between ship and delivery day; when it would, it is held to the next
//!   working day it can ship without, and the promise is checked against that later date.

use std::cmp::Ordering;

use ordo_domain::catalog::Dimensions;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, Time, Weekday};
use utoipa::ToSchema;

use crate::packing::ServiceConstraints;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");
time::serde::format_description!(clock_time, Time, "[hour]:[minute]");

/// How fast a service is, slowest first. The order matters: an order that paid for
/// `express` may go `overnight` but not `standard`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLevel {
    /// Road only; the only level allowed for dangerous goods by default.
    Ground,
    Standard,
    Express,
    Overnight,
}

impl ServiceLevel {
    pub const ALL: [ServiceLevel; 4] = [
        ServiceLevel::Ground,
        ServiceLevel::Standard,
        ServiceLevel::Express,
        ServiceLevel::Overnight,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceLevel::Ground => "ground",
            ServiceLevel::Standard => "standard",
            ServiceLevel::Express => "express",
            ServiceLevel::Overnight => "overnight",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// The price of a parcel up to `max_weight_g` (billed weight) to `zone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateBand {
    pub zone: String,
    pub max_weight_g: i64,
    pub price_minor: i64,
}

/// The latest local time parcels handed over at `location` leave the same day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cutoff {
    pub location: String,
    /// `HH:MM`, local time.
    #[serde(with = "clock_time")]
    #[schema(value_type = String, example = "16:00")]
    pub time: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CarrierService {
    pub carrier: String,
    pub code: String,
    pub name: String,
    pub level: ServiceLevel,
    pub transit_days: u32,
    /// The carrier moves and delivers on Saturdays and Sundays.
    #[serde(default)]
    pub weekend_delivery: bool,
    pub max_weight_g: i64,
    /// Largest parcel, compared side by side after sorting (any orientation).
    #[serde(default)]
    pub max_dimensions: Option<Dimensions>,
    /// Volumetric weight divisor in cm³ per kg (5000 is common); `None` bills actual weight.
    #[serde(default)]
    pub volumetric_divisor: Option<i64>,
    pub rates: Vec<RateBand>,
    /// Locations the service collects from; not offered elsewhere.
    pub cutoffs: Vec<Cutoff>,
}

/// One parcel to ship: gross weight and outside dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Parcel {
    pub weight_g: i64,
    pub dimensions: Dimensions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShipmentRequest {
    pub location: String,
    pub parcels: Vec<Parcel>,
    pub destination_zone: String,
    /// When the parcels are ready, in the location's UTC offset.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ready_at: OffsetDateTime,
    /// Latest delivery day promised to the customer.
    #[serde(default, with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub promised_by: Option<Date>,
    /// From the packing policies of what is inside (see
    /// [`crate::packing::PackingPolicies::rules`]).
    #[serde(default)]
    pub constraints: ServiceConstraints,
    /// The level the customer paid for: the service must be at least as fast.
    #[serde(default)]
    pub order_level: Option<ServiceLevel>,
}

/// What one service would do with the shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    pub carrier: String,
    pub service: String,
    pub level: ServiceLevel,
    pub price_minor: i64,
    /// Billed weight of each parcel.
    pub billed_weight_g: Vec<i64>,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub ship_date: Date,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub delivery_date: Date,
    /// The parcel waits past the first possible ship date so it is not in transit over a
    /// weekend.
    pub held_for_weekend: bool,
}

/// Why a service was not chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Rejection {
    #[error("does not collect at {location}")]
    NotAtLocation { location: String },
    #[error("{} is not allowed for the contents (allowed: {})", .level.as_str(), levels(.allowed))]
    LevelNotAllowed {
        level: ServiceLevel,
        allowed: Vec<ServiceLevel>,
    },
    #[error("{} is slower than the {} the order paid for", .level.as_str(), .required.as_str())]
    BelowOrderLevel {
        level: ServiceLevel,
        required: ServiceLevel,
    },
    #[error("parcel {parcel} weighs {weight_g} g, over the {max_g} g limit")]
    TooHeavy {
        parcel: usize,
        weight_g: i64,
        max_g: i64,
    },
    #[error("parcel {parcel} is larger than the service takes")]
    TooLarge { parcel: usize },
    #[error("no rate for zone {zone} at {billed_weight_g} g (parcel {parcel})")]
    NoRate {
        parcel: usize,
        zone: String,
        billed_weight_g: i64,
    },
    #[error("would arrive {delivery}, after the promised {promised}")]
    LatePromise {
        #[serde(with = "iso_date")]
        #[schema(value_type = String, format = Date)]
        delivery: Date,
        #[serde(with = "iso_date")]
        #[schema(value_type = String, format = Date)]
        promised: Date,
    },
    #[error("cannot ship without a weekend in transit within a week")]
    WeekendTransit,
    #[error("costs {difference_minor} more (minor units) than the chosen service")]
    CostsMore {
        price_minor: i64,
        difference_minor: i64,
    },
    #[error("costs the same as the chosen service but arrives later or ranks after it")]
    Tie,
}

fn levels(l: &[ServiceLevel]) -> String {
    if l.is_empty() {
        return "none".into();
    }
    l.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Alternative {
    pub carrier: String,
    pub service: String,
    /// What the service would have done, when it could carry the parcels at all.
    pub quote: Option<Quote>,
    pub reasons: Vec<Rejection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceChoice {
    pub chosen: Option<Quote>,
    /// Every other service, cheapest usable first, then the unusable ones in
    /// configuration order.
    pub alternatives: Vec<Alternative>,
}

fn is_working_day(d: Date) -> bool {
    !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

fn is_weekend(d: Date) -> bool {
    !is_working_day(d)
}

fn next_working_day(mut d: Date) -> Date {
    loop {
        d += Duration::days(1);
        if is_working_day(d) {
            return d;
        }
    }
}

/// The first day the parcel leaves: today if it is a working day and the parcel is ready
/// by the cut-off, otherwise the next working day.
pub fn ship_date(ready_at: OffsetDateTime, cutoff: Time) -> Date {
    let day = ready_at.date();
    if is_working_day(day) && ready_at.time() <= cutoff {
        day
    } else {
        next_working_day(day)
    }
}

/// The day a parcel shipped on `ship` arrives, counting only days the carrier moves.
pub fn delivery_date(ship: Date, transit_days: u32, weekend_delivery: bool) -> Date {
    let mut d = ship;
    for _ in 0..transit_days {
        loop {
            d += Duration::days(1);
            if weekend_delivery || is_working_day(d) {
                break;
            }
        }
    }
    d
}

/// A whole Saturday or Sunday lies strictly between ship and delivery day.
pub fn crosses_weekend(ship: Date, delivery: Date) -> bool {
    let mut d = ship + Duration::days(1);
    while d < delivery {
        if is_weekend(d) {
            return true;
        }
        d += Duration::days(1);
    }
    false
}

/// The billed weight of a parcel: actual, or volumetric when the service uses it and it is
/// larger (mm³ → cm³ is /1000, kg → g is ×1000, so mm³ / divisor gives grams).
fn billed_weight(p: &Parcel, divisor: Option<i64>) -> i64 {
    let d = &p.dimensions;
    let volumetric = divisor.filter(|v| *v > 0).map_or(0, |v| {
        let mm3 = d.length_mm as i128 * d.width_mm as i128 * d.height_mm as i128;
        ((mm3 + v as i128 - 1) / v as i128) as i64
    });
    p.weight_g.max(volumetric)
}

fn fits_dimensions(d: &Dimensions, max: &Dimensions) -> bool {
    let mut a = [d.length_mm, d.width_mm, d.height_mm];
    let mut b = [max.length_mm, max.width_mm, max.height_mm];
    a.sort_unstable();
    b.sort_unstable();
    a.iter().zip(&b).all(|(x, y)| x <= y)
}

/// Evaluates one service: a quote, and everything that rules it out.
fn evaluate(s: &CarrierService, r: &ShipmentRequest) -> (Option<Quote>, Vec<Rejection>) {
    let mut reasons = Vec::new();
    let cutoff = s.cutoffs.iter().find(|c| c.location == r.location);
    if cutoff.is_none() {
        reasons.push(Rejection::NotAtLocation {
            location: r.location.clone(),
        });
    }
    if !r.constraints.allows(s.level) {
        reasons.push(Rejection::LevelNotAllowed {
            level: s.level,
            allowed: r.constraints.service_levels.clone().unwrap_or_default(),
        });
    }
    if let Some(required) = r.order_level
        && s.level < required
    {
        reasons.push(Rejection::BelowOrderLevel {
            level: s.level,
            required,
        });
    }
    let mut price = 0i64;
    let mut billed = Vec::new();
    let mut priced = true;
    for (i, p) in r.parcels.iter().enumerate() {
        if p.weight_g > s.max_weight_g {
            reasons.push(Rejection::TooHeavy {
                parcel: i,
                weight_g: p.weight_g,
                max_g: s.max_weight_g,
            });
        }
        if let Some(max) = &s.max_dimensions
            && !fits_dimensions(&p.dimensions, max)
        {
            reasons.push(Rejection::TooLarge { parcel: i });
        }
        let w = billed_weight(p, s.volumetric_divisor);
        billed.push(w);
        let band = s
            .rates
            .iter()
            .filter(|b| b.zone == r.destination_zone && b.max_weight_g >= w)
            .min_by_key(|b| (b.max_weight_g, b.price_minor));
        match band {
            Some(b) => price += b.price_minor,
            None => {
                priced = false;
                reasons.push(Rejection::NoRate {
                    parcel: i,
                    zone: r.destination_zone.clone(),
                    billed_weight_g: w,
                });
            }
        }
    }
    let Some(cutoff) = cutoff else {
        return (None, reasons);
    };
    if !priced {
        return (None, reasons);
    }
    let first = ship_date(r.ready_at, cutoff.time);
    let mut ship = first;
    let mut delivery = delivery_date(ship, s.transit_days, s.weekend_delivery);
    if r.constraints.no_weekend_transit {
        let mut tries = 0;
        while crosses_weekend(ship, delivery) && tries < 7 {
            ship = next_working_day(ship);
            delivery = delivery_date(ship, s.transit_days, s.weekend_delivery);
            tries += 1;
        }
        if crosses_weekend(ship, delivery) {
            reasons.push(Rejection::WeekendTransit);
            return (None, reasons);
        }
    }
    if let Some(promised) = r.promised_by
        && delivery > promised
    {
        reasons.push(Rejection::LatePromise { delivery, promised });
    }
    let quote = Quote {
        carrier: s.carrier.clone(),
        service: s.code.clone(),
        level: s.level,
        price_minor: price,
        billed_weight_g: billed,
        ship_date: ship,
        delivery_date: delivery,
        held_for_weekend: ship != first,
    };
    (Some(quote), reasons)
}

fn better(a: &Quote, b: &Quote) -> Ordering {
    a.price_minor
        .cmp(&b.price_minor)
        .then(a.delivery_date.cmp(&b.delivery_date))
        .then(a.carrier.cmp(&b.carrier))
        .then(a.service.cmp(&b.service))
}

/// The cheapest service that can carry every parcel, is allowed for the contents, is at
/// least the level the order paid for, and delivers by the promised day; ties go to the
/// earlier delivery, then carrier and service code. Every other service is listed with
/// the reasons it lost.
pub fn choose_service(services: &[CarrierService], request: &ShipmentRequest) -> ServiceChoice {
    let mut usable: Vec<(usize, Quote)> = Vec::new();
    let mut unusable: Vec<Alternative> = Vec::new();
    for (i, s) in services.iter().enumerate() {
        let (quote, reasons) = evaluate(s, request);
        match quote {
            Some(q) if reasons.is_empty() => usable.push((i, q)),
            quote => unusable.push(Alternative {
                carrier: s.carrier.clone(),
                service: s.code.clone(),
                quote,
                reasons,
            }),
        }
    }
    usable.sort_by(|a, b| better(&a.1, &b.1));
    let mut usable = usable.into_iter();
    let chosen = usable.next().map(|(_, q)| q);
    let mut alternatives: Vec<Alternative> = usable
        .map(|(_, q)| {
            let c = chosen.as_ref().expect("a usable service was chosen");
            let reason = if q.price_minor > c.price_minor {
                Rejection::CostsMore {
                    price_minor: q.price_minor,
                    difference_minor: q.price_minor - c.price_minor,
                }
            } else {
                Rejection::Tie
            };
            Alternative {
                carrier: q.carrier.clone(),
                service: q.service.clone(),
                quote: Some(q),
                reasons: vec![reason],
            }
        })
        .collect();
    alternatives.extend(unusable);
    ServiceChoice {
        chosen,
        alternatives,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, datetime, time};

    fn service(code: &str, level: ServiceLevel, transit: u32, price: i64) -> CarrierService {
        CarrierService {
            carrier: "DHL".into(),
            code: code.into(),
            name: code.to_uppercase(),
            level,
            transit_days: transit,
            weekend_delivery: false,
            max_weight_g: 30_000,
            max_dimensions: Some(Dimensions {
                length_mm: 1200,
                width_mm: 600,
                height_mm: 600,
            }),
            volumetric_divisor: None,
            rates: vec![
                RateBand {
                    zone: "DE".into(),
                    max_weight_g: 2_000,
                    price_minor: price,
                },
                RateBand {
                    zone: "DE".into(),
                    max_weight_g: 10_000,
                    price_minor: price * 2,
                },
            ],
            cutoffs: vec![Cutoff {
                location: "BER".into(),
                time: time!(16:00),
            }],
        }
    }

    fn parcel(weight_g: i64) -> Parcel {
        Parcel {
            weight_g,
            dimensions: Dimensions {
                length_mm: 300,
                width_mm: 200,
                height_mm: 100,
            },
        }
    }

    fn request(ready_at: OffsetDateTime) -> ShipmentRequest {
        ShipmentRequest {
            location: "BER".into(),
            parcels: vec![parcel(1_500)],
            destination_zone: "DE".into(),
            ready_at,
            promised_by: None,
            constraints: ServiceConstraints::default(),
            order_level: None,
        }
    }

    fn services() -> Vec<CarrierService> {
        vec![
            service("ground", ServiceLevel::Ground, 3, 450),
            service("std", ServiceLevel::Standard, 2, 590),
            service("exp", ServiceLevel::Express, 1, 990),
            service("ovn", ServiceLevel::Overnight, 1, 1490),
        ]
    }

    #[test]
    fn calendar_rules() {
        // 2026-01-09 is a Friday.
        assert_eq!(date!(2026 - 01 - 09).weekday(), Weekday::Friday);
        assert_eq!(
            ship_date(datetime!(2026-01-09 15:59 UTC), time!(16:00)),
            date!(2026 - 01 - 09)
        );
        assert_eq!(
            ship_date(datetime!(2026-01-09 16:00 UTC), time!(16:00)),
            date!(2026 - 01 - 09)
        );
        assert_eq!(
            ship_date(datetime!(2026-01-09 16:01 UTC), time!(16:00)),
            date!(2026 - 01 - 12)
        );
        assert_eq!(
            ship_date(datetime!(2026-01-10 09:00 UTC), time!(16:00)),
            date!(2026 - 01 - 12)
        );
        assert_eq!(
            delivery_date(date!(2026 - 01 - 09), 1, false),
            date!(2026 - 01 - 12)
        );
        assert_eq!(
            delivery_date(date!(2026 - 01 - 09), 1, true),
            date!(2026 - 01 - 10)
        );
        assert_eq!(
            delivery_date(date!(2026 - 01 - 08), 2, false),
            date!(2026 - 01 - 12)
        );
        assert_eq!(
            delivery_date(date!(2026 - 01 - 08), 0, false),
            date!(2026 - 01 - 08)
        );
        assert!(crosses_weekend(
            date!(2026 - 01 - 09),
            date!(2026 - 01 - 12)
        ));
        assert!(!crosses_weekend(
            date!(2026 - 01 - 09),
            date!(2026 - 01 - 10)
        ));
        assert!(!crosses_weekend(
            date!(2026 - 01 - 08),
            date!(2026 - 01 - 09)
        ));
        assert!(crosses_weekend(
            date!(2026 - 01 - 09),
            date!(2026 - 01 - 11)
        ));
    }

    #[test]
    fn cheapest_service_that_keeps_the_promise() {
        // Wednesday 10:00, promised Friday: ground (3 days → Monday) is late.
        let mut r = request(datetime!(2026-01-07 10:00 UTC));
        r.promised_by = Some(date!(2026 - 01 - 09));
        let c = choose_service(&services(), &r);
        let q = c.chosen.unwrap();
        assert_eq!(q.service, "std");
        assert_eq!(q.delivery_date, date!(2026 - 01 - 09));
        assert_eq!(q.price_minor, 590);
        let reasons: Vec<(String, String)> = c
            .alternatives
            .iter()
            .map(|a| (a.service.clone(), a.reasons[0].to_string()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "exp".into(),
                    "costs 400 more (minor units) than the chosen service".into()
                ),
                (
                    "ovn".into(),
                    "costs 900 more (minor units) than the chosen service".into()
                ),
                (
                    "ground".into(),
                    "would arrive 2026-01-12, after the promised 2026-01-09".into()
                ),
            ]
        );
    }

    #[test]
    fn after_cutoff_ships_the_next_working_day() {
        let mut r = request(datetime!(2026-01-07 17:00 UTC));
        r.promised_by = Some(date!(2026 - 01 - 09));
        let q = choose_service(&services(), &r).chosen.unwrap();
        assert_eq!(q.service, "exp");
        assert_eq!(q.ship_date, date!(2026 - 01 - 08));
    }

    #[test]
    fn perishable_waits_rather_than_spend_a_weekend_in_a_depot() {
        // Friday morning, express only, no weekend transit: Friday → Monday crosses the
        // weekend, so it ships Monday and arrives Tuesday.
        let mut r = request(datetime!(2026-01-09 09:00 UTC));
        r.constraints = ServiceConstraints {
            service_levels: Some(vec![ServiceLevel::Express, ServiceLevel::Overnight]),
            no_weekend_transit: true,
        };
        let c = choose_service(&services(), &r);
        let q = c.chosen.clone().unwrap();
        assert_eq!(q.service, "exp");
        assert_eq!(q.ship_date, date!(2026 - 01 - 12));
        assert_eq!(q.delivery_date, date!(2026 - 01 - 13));
        assert!(q.held_for_weekend);
        let ground = c
            .alternatives
            .iter()
            .find(|a| a.service == "ground")
            .unwrap();
        assert_eq!(
            ground.reasons[0].to_string(),
            "ground is not allowed for the contents (allowed: express, overnight)"
        );
        // A promise of Monday cannot be kept then.
        r.promised_by = Some(date!(2026 - 01 - 12));
        assert!(choose_service(&services(), &r).chosen.is_none());
        // With Saturday delivery the Friday parcel arrives Saturday and need not wait.
        let mut s = services();
        s[2].weekend_delivery = true;
        r.promised_by = None;
        let q = choose_service(&s, &r).chosen.unwrap();
        assert_eq!(
            (q.ship_date, q.delivery_date),
            (date!(2026 - 01 - 09), date!(2026 - 01 - 10))
        );
        assert!(!q.held_for_weekend);
    }

    #[test]
    fn hazmat_goes_by_ground_even_when_the_order_paid_express() {
        let mut r = request(datetime!(2026-01-07 10:00 UTC));
        r.constraints = ServiceConstraints {
            service_levels: Some(vec![ServiceLevel::Ground]),
            no_weekend_transit: false,
        };
        r.order_level = Some(ServiceLevel::Express);
        let c = choose_service(&services(), &r);
        assert!(c.chosen.is_none());
        let ground = c
            .alternatives
            .iter()
            .find(|a| a.service == "ground")
            .unwrap();
        assert_eq!(
            ground.reasons[0].to_string(),
            "ground is slower than the express the order paid for"
        );
        r.order_level = None;
        assert_eq!(
            choose_service(&services(), &r).chosen.unwrap().service,
            "ground"
        );
    }

    #[test]
    fn weight_size_rate_and_location_limits() {
        let mut r = request(datetime!(2026-01-07 10:00 UTC));
        r.parcels = vec![parcel(1_000), parcel(12_000)];
        let c = choose_service(&services(), &r);
        assert!(c.chosen.is_none());
        assert!(matches!(
            c.alternatives[0].reasons[0],
            Rejection::NoRate {
                parcel: 1,
                billed_weight_g: 12_000,
                ..
            }
        ));
        r.parcels = vec![parcel(31_000)];
        let c = choose_service(&services(), &r);
        assert!(matches!(
            c.alternatives[0].reasons[0],
            Rejection::TooHeavy { parcel: 0, .. }
        ));
        r.parcels = vec![Parcel {
            weight_g: 100,
            dimensions: Dimensions {
                length_mm: 700,
                width_mm: 700,
                height_mm: 100,
            },
        }];
        let c = choose_service(&services(), &r);
        assert!(matches!(
            c.alternatives[0].reasons[0],
            Rejection::TooLarge { parcel: 0 }
        ));
        r.parcels = vec![parcel(100)];
        r.location = "PAR".into();
        let c = choose_service(&services(), &r);
        assert_eq!(
            c.alternatives[0].reasons[0].to_string(),
            "does not collect at PAR"
        );
        // Two parcels are priced separately, by band.
        r.location = "BER".into();
        r.parcels = vec![parcel(1_000), parcel(3_000)];
        assert_eq!(
            choose_service(&services(), &r).chosen.unwrap().price_minor,
            450 * 3
        );
    }

    #[test]
    fn volumetric_weight_bills_light_bulky_parcels() {
        let mut s = services();
        for s in &mut s {
            s.volumetric_divisor = Some(5_000);
        }
        let mut r = request(datetime!(2026-01-07 10:00 UTC));
        // 400 × 300 × 200 mm = 24 000 cm³ → 4.8 kg volumetric.
        r.parcels = vec![Parcel {
            weight_g: 500,
            dimensions: Dimensions {
                length_mm: 400,
                width_mm: 300,
                height_mm: 200,
            },
        }];
        let q = choose_service(&s, &r).chosen.unwrap();
        assert_eq!(q.billed_weight_g, [4_800]);
        assert_eq!(q.price_minor, 900);
    }

    #[test]
    fn services_load_from_json() {
        let json = r#"[{"carrier":"UPS","code":"std","name":"Standard","level":"standard",
            "transit_days":2,"max_weight_g":20000,"rates":[{"zone":"1","max_weight_g":5000,"price_minor":700}],
            "cutoffs":[{"location":"BER","time":"15:30"}]}]"#;
        let s: Vec<CarrierService> = serde_json::from_str(json).unwrap();
        assert_eq!(s[0].cutoffs[0].time, time!(15:30));
        let back: Vec<CarrierService> =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let r: ShipmentRequest = serde_json::from_str(
            r#"{"location":"BER","parcels":[{"weight_g":1,"dimensions":{"length_mm":1,"width_mm":1,"height_mm":1}}],
                "destination_zone":"1","ready_at":"2026-01-07T10:00:00+01:00","promised_by":"2026-01-09"}"#,
        )
        .unwrap();
        let c = choose_service(&s, &r);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["chosen"]["delivery_date"], "2026-01-09");
    }

    fn only_lost_on_price(r: &Rejection) -> bool {
        matches!(r, Rejection::CostsMore { .. } | Rejection::Tie)
    }

    proptest! {
        /// The chosen quote is usable and no usable service is cheaper; alternatives list
        /// every other service once.
        #[test]
        fn chosen_is_the_cheapest_usable(
            minutes in 0i64..(14 * 24 * 60),
            promise_days in prop::option::of(0i64..8),
            weight in 100i64..12_000,
            perishable in prop::bool::ANY,
            level in prop::option::of(0usize..4),
        ) {
            let ready = datetime!(2026-01-05 00:00 UTC) + Duration::minutes(minutes);
            let mut r = request(ready);
            r.parcels = vec![parcel(weight)];
            r.promised_by = promise_days.map(|d| ready.date() + Duration::days(d));
            r.order_level = level.map(|i| ServiceLevel::ALL[i]);
            if perishable {
                r.constraints = ServiceConstraints { service_levels: Some(vec![ServiceLevel::Express, ServiceLevel::Overnight]), no_weekend_transit: true };
            }
            let mut s = services();
            s[3].weekend_delivery = true;
            let c = choose_service(&s, &r);
            prop_assert_eq!(c.alternatives.len() + usize::from(c.chosen.is_some()), s.len());
            if let Some(q) = &c.chosen {
                prop_assert!(q.ship_date >= ready.date());
                prop_assert!(is_working_day(q.ship_date));
                if let Some(p) = r.promised_by { prop_assert!(q.delivery_date <= p); }
                if perishable { prop_assert!(!crosses_weekend(q.ship_date, q.delivery_date)); }
                for a in &c.alternatives {
                    if let Some(aq) = &a.quote && a.reasons.iter().all(only_lost_on_price) {
                        prop_assert!(aq.price_minor >= q.price_minor);
                    }
                }
            } else {
                let none_lost_on_price = c.alternatives.iter().all(|a| !a.reasons.iter().any(only_lost_on_price));
                prop_assert!(none_lost_on_price);
            }
        }
    }
}
