use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// API roles. See [`Permission`] for what each may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Warehouse,
    Support,
    Readonly,
    Integration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Read,
    /// Products (including prices), channels, locations.
    ManageCatalog,
    /// Adjustments, moves, counts.
    WriteStock,
    CaptureOrders,
    /// Hold, release, cancel; move, split and merge fulfillment orders.
    ManageOrders,
    /// Submit, accept or reject fulfillment requests (a 3PL or marketplace answering).
    AnswerFulfillment,
    ManageKeys,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Manager,
        Role::Warehouse,
        Role::Support,
        Role::Readonly,
        Role::Integration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Warehouse => "warehouse",
            Role::Support => "support",
            Role::Readonly => "readonly",
            Role::Integration => "integration",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
    /// The permission table (also documented in the API description and ARCHITECTURE.md).
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Manager => !matches!(p, ManageKeys),
            Role::Warehouse => matches!(p, Read | WriteStock),
            Role::Support => matches!(p, Read | ManageOrders | CaptureOrders),
            Role::Readonly => matches!(p, Read),
            Role::Integration => matches!(p, Read | CaptureOrders | WriteStock | AnswerFulfillment),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A back-office user, as shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// Disabled users cannot sign in; their sessions ended when they were disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// A user with what login needs.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
    pub failed_attempts: i64,
    pub locked_until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the cookie value; the value itself is never stored.
    pub token_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Dashboard {
    /// Orders placed since the start of today (not cancelled), per channel and currency.
    pub today: Vec<ChannelDay>,
    pub backordered: i64,
    pub partially_allocated: i64,
    pub on_hold: i64,
    /// SKUs whose total available is at or below 5, lowest first (at most 20).
    pub low_stock: Vec<SkuAvailable>,
    /// Active SKUs with nothing available anywhere.
    pub out_of_stock: i64,
    /// Orders per day and channel over the last `days` days (day as YYYY-MM-DD, UTC).
    pub daily: Vec<ChannelDay>,
    /// Fulfillment orders waiting to be picked (open or on a pick list), packed (picked)
    /// and shipped (packed).
    #[serde(default)]
    pub to_pick: i64,
    #[serde(default)]
    pub to_pack: i64,
    #[serde(default)]
    pub to_ship: i64,
    /// Orders not fully shipped whose promised delivery day is before today (UTC).
    #[serde(default)]
    pub late: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelDay {
    pub day: String,
    pub channel: String,
    pub currency: String,
    pub orders: i64,
    /// Sum of order totals in minor units of `currency`.
    pub revenue_minor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkuAvailable {
    pub sku: String,
    pub available: i64,
}

/// One saved version of the ordered routing rules.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleSet {
    /// 0 before any rules were saved; each save adds one.
    pub version: i64,
    /// The rules, top to bottom, as the routing engine reads them.
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
    pub saved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub saved_at: Option<OffsetDateTime>,
}

impl RuleSet {
    pub fn empty() -> Self {
        RuleSet {
            version: 0,
            rules: serde_json::Value::Array(vec![]),
            saved_by: None,
            saved_at: None,
        }
    }
}

/// One connector state value (see [`crate::Store::sync_get`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEntry {
    pub key: String,
    pub value: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
}

/// What [`crate::Store::stock_changes`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockChanges {
    /// Distinct SKUs, sorted.
    pub skus: Vec<String>,
    /// The highest movement id read (the caller's next `after_movement`); unchanged when
    /// nothing was found.
    pub last_movement: i64,
}
