//! Order CSV imports. (Placeholder API until the parser lands: every file parses to nothing.)

use crate::model::ChannelOrder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFormat {
    Shopify,
    AmazonReport,
    Ordo,
}

impl CsvFormat {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "shopify" => Self::Shopify,
            "amazon" => Self::AmazonReport,
            "ordo" => Self::Ordo,
            _ => return None,
        })
    }
    pub fn detect(_bytes: &[u8]) -> Option<Self> {
        None
    }
}

#[derive(Debug, Clone)]
pub struct RowError {
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub orders: Vec<ChannelOrder>,
    pub errors: Vec<RowError>,
    pub rows: u64,
}

pub fn parse_orders(_bytes: &[u8], _format: CsvFormat, _channel: &str) -> ParsedFile {
    ParsedFile::default()
}
