//! Booking parcels with outside carriers. Ordo's own fleet needs no adapter: the store
//! numbers its parcels. A carrier integration or a label aggregator (EasyPost-like,
//! Shippo-like) plugs in by implementing [`CarrierAdapter`] and registering it under its
//! carrier code; a shipment for that carrier without a tracking number is then booked with it
//! before the stock leaves.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use ordo_domain::shipment::Package;

use crate::error::ApiError;

/// What a carrier needs to book a shipment.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    /// The fulfillment order shipping (`SO-000123-1`), as the shipper's reference.
    pub reference: String,
    pub service: String,
    pub from: ordo_labels::Address,
    pub to: ordo_labels::Address,
    pub parcels: Vec<Package>,
}

/// What the carrier answered.
#[derive(Debug, Clone)]
pub struct Booking {
    pub tracking_number: String,
}

#[async_trait]
pub trait CarrierAdapter: Send + Sync {
    /// The carrier code it books for (`dhl`, `easypost`).
    fn carrier(&self) -> &str;
    /// Books the parcels; an error refuses the shipment and nothing is written.
    async fn book(&self, request: &BookingRequest) -> Result<Booking, ApiError>;
    /// Cancels the label of a booked shipment not yet handed over (aggregators refund
    /// it); an error refuses the void and nothing is written.
    async fn void(&self, tracking_number: &str) -> Result<(), ApiError>;
}

/// The adapters registered at start-up, by carrier code.
#[derive(Default, Clone)]
pub struct Carriers(HashMap<String, Arc<dyn CarrierAdapter>>);

impl Carriers {
    pub fn register(&mut self, adapter: Arc<dyn CarrierAdapter>) {
        self.0.insert(adapter.carrier().to_string(), adapter);
    }

    pub fn get(&self, carrier: &str) -> Option<&Arc<dyn CarrierAdapter>> {
        self.0.get(carrier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A carrier that numbers parcels from the reference, as an integration would.
    struct Numbering;

    #[async_trait]
    impl CarrierAdapter for Numbering {
        fn carrier(&self) -> &str {
            "acme"
        }
        async fn book(&self, request: &BookingRequest) -> Result<Booking, ApiError> {
            if request.parcels.is_empty() {
                return Err(ApiError::field("packages", "nothing to book"));
            }
            Ok(Booking {
                tracking_number: format!("ACME-{}", request.reference),
            })
        }
        async fn void(&self, tracking_number: &str) -> Result<(), ApiError> {
            if tracking_number.starts_with("ACME-") {
                Ok(())
            } else {
                Err(ApiError::field(
                    "tracking_number",
                    format!("{tracking_number} was not booked with acme"),
                ))
            }
        }
    }

    #[tokio::test]
    async fn adapters_are_found_by_carrier_code() {
        let mut carriers = Carriers::default();
        carriers.register(Arc::new(Numbering));
        assert!(carriers.get("dhl").is_none());
        let acme = carriers.get("acme").expect("registered");
        let address = ordo_labels::Address {
            name: "A".into(),
            company: None,
            line1: "x".into(),
            line2: None,
            city: "B".into(),
            region: None,
            postal_code: None,
            country: "DE".into(),
            phone: None,
        };
        let request = BookingRequest {
            reference: "SO-000001-1".into(),
            service: "standard".into(),
            from: address.clone(),
            to: address,
            parcels: vec![Package {
                number: 1,
                weight_g: 500,
                length_mm: None,
                width_mm: None,
                height_mm: None,
            }],
        };
        let booked = acme.book(&request).await.unwrap().tracking_number;
        assert_eq!(booked, "ACME-SO-000001-1");
        acme.void(&booked).await.expect("its own label voids");
        assert!(acme.void("OR000000017DE").await.is_err());
        let empty = BookingRequest {
            parcels: vec![],
            ..request
        };
        assert!(acme.book(&empty).await.is_err());
        // The shipment request lets a booked carrier go without a tracking number.
        let input = ordo_domain::shipment::ShipmentInput {
            fulfillment_order: Some("SO-000001-1".into()),
            carrier: Some("acme".into()),
            service: Some("standard".into()),
            ..Default::default()
        };
        assert!(input.clone().validate().is_err());
        assert!(input.validate_with(|c| carriers.get(c).is_some()).is_ok());
    }
}
