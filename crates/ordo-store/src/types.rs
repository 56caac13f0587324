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
    /// Hold, release, cancel.
    ManageOrders,
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
            Role::Integration => matches!(p, Read | CaptureOrders | WriteStock),
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
