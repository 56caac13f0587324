//! Bin codes and the order a picker walks them.
//!
//! A bin code such as `A-03-02-B` names a place on a shelf: zone `A`, aisle `03`, bay `02`,
//! level `B`. Which segment means what is configuration ([`BinFormat`]), because every
//! warehouse labels its racking differently.
//!
//! The walk order is what turns a pick list from "a list of SKUs" into a route. It is either
//! **explicit** (a sequence number per bin, set by someone who knows the floor, as in
//! Linnworks' bin-rack routing sequence) or **derived** from the code so the picker walks the
//! aisles in an S-shape: zones in order; within a zone, aisles in order; odd aisles with the bays
//! ascending, even aisles with the bays descending (so the picker leaves an aisle at the end
//! where the next one starts); levels ascending within a bay. The serpentine is static: it
//! follows the aisle *number*, so the sequence of a bin never depends on which other bins a
//! list happens to contain and a printed list is read the same way every time. Number aisles
//! consecutively within a zone (or give explicit sequences) for the S-shape to close up.
//!
//! Bins may carry coordinates (metres). Path lengths are then measured as the Manhattan
//! distance between consecutive stops, from a start point (the pack bench or the cart park)
//! and back to it, which is what a picker pushing a cart through a grid of aisles walks far
//! more closely than a straight line would.

use std::cmp::Reverse;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What one segment of a bin code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Zone,
    Aisle,
    Bay,
    Level,
    /// A slot within a level; walked ascending after the level.
    Position,
}

impl Segment {
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Zone => "zone",
            Segment::Aisle => "aisle",
            Segment::Bay => "bay",
            Segment::Level => "level",
            Segment::Position => "position",
        }
    }
}

/// How bin codes are written: the segments in order and the separator between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct BinFormat {
    /// Segment meanings in the order they appear in the code; each at most once.
    pub segments: Vec<Segment>,
    /// Non-empty; `-` by default.
    pub separator: String,
    /// Walk even aisles with the bays descending (S-shape). Off for one-way aisles, where
    /// every aisle is walked the same way.
    pub serpentine: bool,
}

impl Default for BinFormat {
    fn default() -> Self {
        Self {
            segments: vec![Segment::Zone, Segment::Aisle, Segment::Bay, Segment::Level],
            separator: "-".into(),
            serpentine: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinError {
    #[error("the bin format needs at least one segment")]
    NoSegments,
    #[error("the bin format names {0} twice")]
    DuplicateSegment(&'static str),
    #[error("the bin format needs a non-empty separator")]
    EmptySeparator,
    #[error("bin {code:?} has {found} segments; the format expects {expected}")]
    SegmentCount {
        code: String,
        found: usize,
        expected: usize,
    },
    #[error("bin {code:?} has an empty or invalid {segment}")]
    BadSegment { code: String, segment: &'static str },
    #[error("bin {0:?} is listed twice")]
    DuplicateBin(String),
    #[error("bin {0:?} has a coordinate that is not a finite number")]
    BadCoordinate(String),
}

/// A bin code split into its meanings. Segments the format does not have are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BinCode {
    pub code: String,
    pub zone: Option<String>,
    pub aisle: Option<String>,
    pub bay: Option<String>,
    pub level: Option<String>,
    pub position: Option<String>,
}

impl BinFormat {
    pub fn validate(&self) -> Result<(), BinError> {
        if self.segments.is_empty() {
            return Err(BinError::NoSegments);
        }
        if self.separator.is_empty() {
            return Err(BinError::EmptySeparator);
        }
        for (i, s) in self.segments.iter().enumerate() {
            if self.segments[..i].contains(s) {
                return Err(BinError::DuplicateSegment(s.as_str()));
            }
        }
        Ok(())
    }

    /// Splits `code` into its segments. Each segment is 1–16 letters or digits, so a typo
    /// (`A--03`, `A-03 -02`) is refused instead of producing a strange walk position.
    pub fn parse(&self, code: &str) -> Result<BinCode, BinError> {
        let parts: Vec<&str> = code.split(self.separator.as_str()).collect();
        if parts.len() != self.segments.len() {
            return Err(BinError::SegmentCount {
                code: code.into(),
                found: parts.len(),
                expected: self.segments.len(),
            });
        }
        let mut bin = BinCode {
            code: code.into(),
            zone: None,
            aisle: None,
            bay: None,
            level: None,
            position: None,
        };
        for (seg, part) in self.segments.iter().zip(parts) {
            if part.is_empty()
                || part.len() > 16
                || !part.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(BinError::BadSegment {
                    code: code.into(),
                    segment: seg.as_str(),
                });
            }
            let slot = match seg {
                Segment::Zone => &mut bin.zone,
                Segment::Aisle => &mut bin.aisle,
                Segment::Bay => &mut bin.bay,
                Segment::Level => &mut bin.level,
                Segment::Position => &mut bin.position,
            };
            *slot = Some(part.to_string());
        }
        Ok(bin)
    }

    fn derived_key(&self, code: &str) -> Option<DerivedKey> {
        let bin = self.parse(code).ok()?;
        let val = |s: &Option<String>| s.as_deref().map(SegVal::of);
        let descending = self.serpentine
            && bin
                .aisle
                .as_deref()
                .and_then(aisle_number)
                .is_some_and(|n| n % 2 == 0);
        let bay = val(&bin.bay).map(|v| {
            if descending {
                Dir::Down(Reverse(v))
            } else {
                Dir::Up(v)
            }
        });
        Some(DerivedKey {
            zone: val(&bin.zone),
            aisle: val(&bin.aisle),
            bay,
            level: val(&bin.level),
            position: val(&bin.position),
        })
    }
}

/// The number an aisle has for the S-shape: its value when numeric, `A` = 1 … `Z` = 26,
/// `AA` = 27 when alphabetic, nothing when mixed (walked ascending).
fn aisle_number(s: &str) -> Option<u64> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    if s.bytes().all(|b| b.is_ascii_alphabetic()) {
        let mut n: u64 = 0;
        for b in s.bytes() {
            n = n
                .checked_mul(26)?
                .checked_add((b.to_ascii_uppercase() - b'A' + 1) as u64)?;
        }
        return Some(n);
    }
    None
}

/// A segment compared the way people read labels: numbers by value (`2` before `10`, `03`
/// equal to `3`), everything else case-insensitively, numbers before words.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SegVal {
    Num(u64),
    Text(String),
}

impl SegVal {
    fn of(s: &str) -> SegVal {
        match s.parse::<u64>() {
            Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => SegVal::Num(n),
            _ => SegVal::Text(s.to_ascii_uppercase()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    Up(SegVal),
    Down(Reverse<SegVal>),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DerivedKey {
    zone: Option<SegVal>,
    aisle: Option<SegVal>,
    bay: Option<Dir>,
    level: Option<SegVal>,
    position: Option<SegVal>,
}

/// Where a bin falls in the walk. Explicit sequences first, then bins placed by their code,
/// then codes the format cannot read, then lines with no bin at all. The code breaks ties so
/// the order is total and the same on every run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalkKey(KeyKind);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyKind {
    Explicit(u64, String),
    Derived(DerivedKey, String),
    Unknown(String),
    NoBin,
}

/// Why a pick line could not be placed on the walk. Such lines go last, and the picker is
/// told to look for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BinFlag {
    /// The SKU has no bin at this location.
    NoBin,
    /// The bin code does not follow the format and has no explicit sequence.
    UnknownBin,
}

/// A point on the floor plan, in metres.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Point {
    pub x_m: f64,
    pub y_m: f64,
}

impl Point {
    pub fn manhattan(self, other: Point) -> f64 {
        (self.x_m - other.x_m).abs() + (self.y_m - other.y_m).abs()
    }
}

/// One bin of the bin master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BinRecord {
    pub code: String,
    /// Explicit walk sequence; wins over the order derived from the code.
    #[serde(default)]
    pub sequence: Option<u64>,
    /// Where the picker stands to reach the bin.
    #[serde(default)]
    pub position: Option<Point>,
}

/// How a location's bins are named and laid out. Serialisable so it can live with the
/// location's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct LayoutConfig {
    pub format: BinFormat,
    /// The bin master. May be empty: codes then place themselves by the format alone, but
    /// walks have no step count and no metres.
    pub bins: Vec<BinRecord>,
    /// Where every pick walk starts and ends (the origin when absent).
    pub start: Option<Point>,
}

/// How long a walk is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PathLength {
    /// Bins stopped at (consecutive lines at the same bin are one stop).
    pub stops: u32,
    /// Bins of the bin master passed along the walk sequence, from its beginning to the last
    /// stop. Going back is not counted: the sequence says nothing about short cuts.
    pub steps: u64,
    /// Manhattan metres from the start point through every stop and back; `None` when a
    /// stop has no coordinates.
    pub metres: Option<f64>,
}

/// Anything with a bin, so [`Layout::sort_walk_order`] can sort it.
pub trait Binned {
    fn bin(&self) -> Option<&str>;
}

/// A validated [`LayoutConfig`], indexed for walk keys and distances.
#[derive(Debug, Clone)]
pub struct Layout {
    format: BinFormat,
    bins: HashMap<String, BinRecord>,
    /// Walk keys of the bin master, sorted: a bin's rank is its index.
    ranks: Vec<WalkKey>,
    start: Point,
}

impl Layout {
    /// Checks the format, that every bin is listed once, that bins without an explicit
    /// sequence follow the format and that coordinates are finite.
    pub fn new(config: LayoutConfig) -> Result<Layout, BinError> {
        config.format.validate()?;
        let start = config.start.unwrap_or_default();
        if !start.x_m.is_finite() || !start.y_m.is_finite() {
            return Err(BinError::BadCoordinate("start".into()));
        }
        let mut bins = HashMap::with_capacity(config.bins.len());
        for b in config.bins {
            if b.sequence.is_none() {
                config.format.parse(&b.code)?;
            }
            if let Some(p) = b.position
                && (!p.x_m.is_finite() || !p.y_m.is_finite())
            {
                return Err(BinError::BadCoordinate(b.code));
            }
            if bins.contains_key(&b.code) {
                return Err(BinError::DuplicateBin(b.code));
            }
            bins.insert(b.code.clone(), b);
        }
        let mut layout = Layout {
            format: config.format,
            bins,
            ranks: Vec::new(),
            start,
        };
        let mut ranks: Vec<WalkKey> = layout
            .bins
            .keys()
            .map(|c| layout.walk_key(Some(c)))
            .collect();
        ranks.sort();
        layout.ranks = ranks;
        Ok(layout)
    }

    /// A layout with no bin master: bins are placed by their code alone.
    pub fn derived(format: BinFormat) -> Result<Layout, BinError> {
        Layout::new(LayoutConfig {
            format,
            ..Default::default()
        })
    }

    pub fn format(&self) -> &BinFormat {
        &self.format
    }

    pub fn bin(&self, code: &str) -> Option<&BinRecord> {
        self.bins.get(code)
    }

    pub fn start(&self) -> Point {
        self.start
    }

    /// The position of a bin (or of a line without one) in the walk.
    pub fn walk_key(&self, bin: Option<&str>) -> WalkKey {
        let Some(code) = bin else {
            return WalkKey(KeyKind::NoBin);
        };
        if let Some(seq) = self.bins.get(code).and_then(|b| b.sequence) {
            return WalkKey(KeyKind::Explicit(seq, code.into()));
        }
        match self.format.derived_key(code) {
            Some(k) => WalkKey(KeyKind::Derived(k, code.into())),
            None => WalkKey(KeyKind::Unknown(code.into())),
        }
    }

    /// Why a bin cannot be placed on the walk, if it cannot.
    pub fn flag(&self, bin: Option<&str>) -> Option<BinFlag> {
        match self.walk_key(bin).0 {
            KeyKind::NoBin => Some(BinFlag::NoBin),
            KeyKind::Unknown(_) => Some(BinFlag::UnknownBin),
            _ => None,
        }
    }

    /// The zone segment of a bin code, when the format has one and the code follows it.
    pub fn zone(&self, bin: &str) -> Option<String> {
        self.format.parse(bin).ok().and_then(|b| b.zone)
    }

    /// Sorts lines into walk order; lines with no bin or an unreadable one go last (see
    /// [`Layout::flag`]). The sort is stable, so lines at the same bin keep their order.
    pub fn sort_walk_order<T: Binned>(&self, lines: &mut [T]) {
        lines.sort_by_cached_key(|l| self.walk_key(l.bin()));
    }

    /// The rank of a bin in the bin master's walk; a bin that is not in the master counts
    /// as the place it would be inserted at.
    fn rank(&self, bin: &str) -> u64 {
        let key = self.walk_key(Some(bin));
        self.ranks.partition_point(|k| *k < key) as u64
    }

    /// The length of a walk that stops at `bins` in the given order (not re-sorted: measure
    /// any order, e.g. an unsorted one to compare). Bins that cannot be placed are skipped.
    pub fn path_length<'a>(&self, bins: impl IntoIterator<Item = &'a str>) -> PathLength {
        let mut out = PathLength {
            metres: Some(0.0),
            ..Default::default()
        };
        let mut last: Option<&str> = None;
        let mut rank = 0u64;
        let mut here = Some(self.start);
        for bin in bins {
            if last == Some(bin) || self.flag(Some(bin)).is_some() {
                continue;
            }
            last = Some(bin);
            out.stops += 1;
            let r = self.rank(bin);
            out.steps += r.abs_diff(rank);
            rank = r;
            let next = self.bins.get(bin).and_then(|b| b.position);
            out.metres = match (out.metres, here, next) {
                (Some(m), Some(a), Some(b)) => Some(m + a.manhattan(b)),
                _ => None,
            };
            here = next;
        }
        if let (Some(m), Some(a)) = (out.metres, here) {
            out.metres = Some(m + a.manhattan(self.start));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct L(Option<&'static str>);
    impl Binned for L {
        fn bin(&self) -> Option<&str> {
            self.0
        }
    }

    fn layout() -> Layout {
        Layout::derived(BinFormat::default()).unwrap()
    }

    fn sorted(layout: &Layout, bins: &[Option<&'static str>]) -> Vec<Option<&'static str>> {
        let mut lines: Vec<L> = bins.iter().map(|b| L(*b)).collect();
        layout.sort_walk_order(&mut lines);
        lines.into_iter().map(|l| l.0).collect()
    }

    #[test]
    fn parses_the_default_format() {
        let b = BinFormat::default().parse("A-03-02-B").unwrap();
        assert_eq!(b.zone.as_deref(), Some("A"));
        assert_eq!(b.aisle.as_deref(), Some("03"));
        assert_eq!(b.bay.as_deref(), Some("02"));
        assert_eq!(b.level.as_deref(), Some("B"));
        assert_eq!(b.position, None);
    }

    #[test]
    fn refuses_malformed_codes() {
        let f = BinFormat::default();
        assert!(matches!(
            f.parse("A-03-02"),
            Err(BinError::SegmentCount {
                found: 3,
                expected: 4,
                ..
            })
        ));
        assert!(matches!(
            f.parse("A--02-B"),
            Err(BinError::BadSegment {
                segment: "aisle",
                ..
            })
        ));
        assert!(matches!(
            f.parse("A-0 3-02-B"),
            Err(BinError::BadSegment { .. })
        ));
    }

    #[test]
    fn validates_the_format() {
        let mut f = BinFormat::default();
        f.segments.push(Segment::Zone);
        assert_eq!(f.validate(), Err(BinError::DuplicateSegment("zone")));
        let f = BinFormat {
            separator: String::new(),
            ..Default::default()
        };
        assert_eq!(f.validate(), Err(BinError::EmptySeparator));
        let f = BinFormat {
            segments: vec![],
            ..Default::default()
        };
        assert_eq!(f.validate(), Err(BinError::NoSegments));
    }

    #[test]
    fn custom_separator_and_segments() {
        let f = BinFormat {
            segments: vec![Segment::Aisle, Segment::Bay, Segment::Position],
            separator: ".".into(),
            serpentine: true,
        };
        let b = f.parse("2.10.3").unwrap();
        assert_eq!((b.zone, b.aisle.as_deref()), (None, Some("2")));
        let l = Layout::derived(f).unwrap();
        assert_eq!(
            sorted(
                &l,
                &[
                    Some("2.01.1"),
                    Some("1.09.1"),
                    Some("2.10.3"),
                    Some("1.02.1")
                ]
            ),
            [
                Some("1.02.1"),
                Some("1.09.1"),
                Some("2.10.3"),
                Some("2.01.1")
            ]
        );
    }

    #[test]
    fn walks_aisles_in_an_s_shape() {
        let l = layout();
        let got = sorted(
            &l,
            &[
                Some("A-02-01-A"),
                Some("A-01-05-A"),
                Some("B-01-01-A"),
                Some("A-02-09-A"),
                Some("A-01-01-B"),
                Some("A-01-01-A"),
                Some("A-03-02-A"),
                Some("A-03-10-A"),
            ],
        );
        assert_eq!(
            got,
            [
                Some("A-01-01-A"),
                Some("A-01-01-B"), // levels ascending within a bay
                Some("A-01-05-A"), // aisle 1: bays ascending
                Some("A-02-09-A"), // aisle 2: bays descending
                Some("A-02-01-A"),
                Some("A-03-02-A"), // aisle 3: ascending again, 2 before 10
                Some("A-03-10-A"),
                Some("B-01-01-A"), // zones in order
            ]
        );
    }

    #[test]
    fn one_way_aisles_when_serpentine_is_off() {
        let l = Layout::derived(BinFormat {
            serpentine: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            sorted(&l, &[Some("A-02-09-A"), Some("A-02-01-A")]),
            [Some("A-02-01-A"), Some("A-02-09-A")]
        );
    }

    #[test]
    fn alphabetic_aisles_alternate_too() {
        let l = layout();
        assert_eq!(
            sorted(
                &l,
                &[
                    Some("Z-B-01-1"),
                    Some("Z-B-04-1"),
                    Some("Z-A-04-1"),
                    Some("Z-A-01-1")
                ]
            ),
            [
                Some("Z-A-01-1"),
                Some("Z-A-04-1"),
                Some("Z-B-04-1"),
                Some("Z-B-01-1")
            ]
        );
    }

    #[test]
    fn explicit_sequence_wins_and_unplaced_lines_go_last() {
        let l = Layout::new(LayoutConfig {
            bins: vec![
                BinRecord {
                    code: "DOCK".into(),
                    sequence: Some(2),
                    position: None,
                },
                BinRecord {
                    code: "B-01-01-A".into(),
                    sequence: Some(1),
                    position: None,
                },
            ],
            ..Default::default()
        })
        .unwrap();
        let got = sorted(
            &l,
            &[
                None,
                Some("??"),
                Some("A-01-01-A"),
                Some("DOCK"),
                Some("B-01-01-A"),
            ],
        );
        assert_eq!(
            got,
            [
                Some("B-01-01-A"),
                Some("DOCK"),
                Some("A-01-01-A"),
                Some("??"),
                None
            ]
        );
        assert_eq!(l.flag(None), Some(BinFlag::NoBin));
        assert_eq!(l.flag(Some("??")), Some(BinFlag::UnknownBin));
        assert_eq!(l.flag(Some("DOCK")), None);
    }

    #[test]
    fn layout_refuses_bad_bins() {
        let rec = |code: &str| BinRecord {
            code: code.into(),
            sequence: None,
            position: None,
        };
        let cfg = |bins| LayoutConfig {
            bins,
            ..Default::default()
        };
        assert!(matches!(
            Layout::new(cfg(vec![rec("A-01-01-A"), rec("A-01-01-A")])),
            Err(BinError::DuplicateBin(_))
        ));
        assert!(matches!(
            Layout::new(cfg(vec![rec("nope")])),
            Err(BinError::SegmentCount { .. })
        ));
        let mut bad = rec("A-01-01-A");
        bad.position = Some(Point {
            x_m: f64::NAN,
            y_m: 0.0,
        });
        assert!(matches!(
            Layout::new(cfg(vec![bad])),
            Err(BinError::BadCoordinate(_))
        ));
    }

    fn grid() -> Layout {
        // Zone A, aisles 1-2, bays 1-3, one level; aisles 3 m apart, bays 1 m apart.
        let mut bins = Vec::new();
        for aisle in 1..=2 {
            for bay in 1..=3 {
                bins.push(BinRecord {
                    code: format!("A-{aisle:02}-{bay:02}-A"),
                    sequence: None,
                    position: Some(Point {
                        x_m: aisle as f64 * 3.0,
                        y_m: bay as f64,
                    }),
                });
            }
        }
        Layout::new(LayoutConfig {
            bins,
            start: Some(Point { x_m: 0.0, y_m: 0.0 }),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn path_length_in_steps_and_metres() {
        let l = grid();
        // Walk order: A-01-01, A-01-02, A-01-03, A-02-03, A-02-02, A-02-01.
        let p = l.path_length(["A-01-02-A", "A-02-03-A"]);
        assert_eq!(p.stops, 2);
        assert_eq!(p.steps, 1 + 2);
        // (0,0) → (3,2) → (6,3) → (0,0)
        assert_eq!(p.metres, Some(5.0 + 4.0 + 9.0));
        // The same stops in the other order walk back along the sequence.
        let back = l.path_length(["A-02-03-A", "A-01-02-A"]);
        assert_eq!(back.steps, 3 + 2);
        // Repeated bins are one stop; unplaced bins are skipped.
        let p2 = l.path_length(["A-01-02-A", "A-01-02-A", "??", "A-02-03-A"]);
        assert_eq!(p2, p);
        // A bin without coordinates: no metres.
        let p3 = l.path_length(["A-01-02-A", "A-03-01-A"]);
        assert_eq!(p3.metres, None);
        assert_eq!(l.path_length([]).metres, Some(0.0));
    }

    fn code() -> impl Strategy<Value = String> {
        ("[A-C]", 1u32..6, 1u32..12, "[A-D]")
            .prop_map(|(z, a, b, l)| format!("{z}-{a:02}-{b:02}-{l}"))
    }

    proptest! {
        /// Sorting is a permutation, idempotent, and puts bins of one aisle together, with
        /// bays ascending in odd aisles and descending in even ones.
        #[test]
        fn walk_order_is_serpentine(codes in proptest::collection::vec(code(), 0..40)) {
            let l = layout();
            let mut lines: Vec<String> = codes.clone();
            lines.sort_by_cached_key(|c| l.walk_key(Some(c)));
            let mut again = lines.clone();
            again.sort_by_cached_key(|c| l.walk_key(Some(c)));
            prop_assert_eq!(&again, &lines);
            let mut a = codes.clone();
            a.sort();
            let mut b = lines.clone();
            b.sort();
            prop_assert_eq!(a, b);
            let f = BinFormat::default();
            for w in lines.windows(2) {
                let (x, y) = (f.parse(&w[0]).unwrap(), f.parse(&w[1]).unwrap());
                prop_assert!(x.zone <= y.zone);
                if x.zone == y.zone {
                    let (ax, ay): (u32, u32) = (x.aisle.unwrap().parse().unwrap(), y.aisle.unwrap().parse().unwrap());
                    prop_assert!(ax <= ay);
                    if ax == ay {
                        let (bx, by): (u32, u32) = (x.bay.unwrap().parse().unwrap(), y.bay.unwrap().parse().unwrap());
                        if ax % 2 == 1 { prop_assert!(bx <= by) } else { prop_assert!(bx >= by) }
                        if bx == by { prop_assert!(x.level <= y.level) }
                    }
                }
            }
        }

        /// Walking stops in walk order never takes more steps than any other order of the
        /// same stops, and metres obey the triangle inequality bound of going to each stop
        /// and straight back.
        #[test]
        fn walk_order_minimises_steps(idx in proptest::collection::vec(0usize..6, 1..8)) {
            let l = grid();
            let all: Vec<String> = (1..=2).flat_map(|a| (1..=3).map(move |b| format!("A-{a:02}-{b:02}-A"))).collect();
            let stops: Vec<&str> = idx.iter().map(|&i| all[i].as_str()).collect();
            let mut ordered = stops.clone();
            ordered.sort_by_cached_key(|c| l.walk_key(Some(c)));
            let sorted_len = l.path_length(ordered.iter().copied());
            let raw_len = l.path_length(stops.iter().copied());
            prop_assert!(sorted_len.steps <= raw_len.steps);
            let star: f64 = stops.iter().map(|s| 2.0 * l.bin(s).unwrap().position.unwrap().manhattan(l.start())).sum();
            prop_assert!(raw_len.metres.unwrap() <= star + 1e-9);
        }
    }
}
