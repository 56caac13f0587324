//! `ordo demo --live`: an emulated Shopify store and Amazon marketplace keep taking orders;
//! Shopify's arrive by signed webhook, Amazon's by polling, and every change in stock is
//! pushed back to both — the whole connector loop, on one machine, with no accounts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ordo_connectors::secrets::SecretBox;
use ordo_connectors::settings::{ConnectionInput, ConnectorKind};
use ordo_connectors::state::ChannelState;
use ordo_domain::catalog::ChannelInput;
use ordo_emulators::amazon::{AmazonConfig, AmazonEmulator, ItemSpec};
use ordo_emulators::shopify::{LineSpec, ShopifyConfig, ShopifyEmulator};
use ordo_store::{PageRequest, Store, WriteContext};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub const SHOPIFY_CHANNEL: &str = "SHOP-LIVE";
pub const AMAZON_CHANNEL: &str = "AMZ-LIVE";
const SHOPIFY_LOCATION: u64 = 1;

pub struct Live {
    _shopify: ShopifyEmulator,
    _amazon: AmazonEmulator,
    pub banner: Vec<String>,
}

/// Creates the two channels and their connections, and starts the emulators and the
/// shoppers. Orders start flowing once `listen` answers.
pub async fn start(
    store: Arc<dyn Store>,
    secrets: SecretBox,
    listen: SocketAddr,
    seed: u64,
) -> anyhow::Result<Live> {
    let ctx = WriteContext {
        actor: "demo".into(),
        idempotency_key: None,
    };
    let shopify = ShopifyEmulator::start(ShopifyConfig::default()).await;
    let amazon = AmazonEmulator::start(AmazonConfig::default()).await;
    for (code, name, kind, locations) in [
        (
            SHOPIFY_CHANNEL,
            "Shopify (live demo)",
            "shopify",
            vec!["WH-BER".to_string()],
        ),
        (
            AMAZON_CHANNEL,
            "Amazon.com (live demo)",
            "amazon",
            vec!["WH-BER".into(), "WH-MUC".into(), "FBA-LEJ".into()],
        ),
    ] {
        let input = ChannelInput {
            code: Some(code.into()),
            name: Some(name.into()),
            kind: Some(kind.into()),
            currency: Some("USD".into()),
            locations,
            active: Some(true),
            ..Default::default()
        };
        store.put_channel(input.validate()?, &ctx).await?;
    }
    let products = store
        .list_products(&PageRequest {
            limit: Some(24),
            cursor: None,
        })
        .await?
        .items;
    let skus: Vec<String> = products.iter().map(|p| p.sku.clone()).collect();
    shopify.add_location(SHOPIFY_LOCATION, "Berlin warehouse");
    for (i, sku) in skus.iter().enumerate() {
        shopify.add_product(sku);
        amazon.add_listing(sku, &format!("B0LIVE{i:04}"));
    }

    let shop_state = ChannelState::new(store.clone(), secrets.clone(), SHOPIFY_CHANNEL);
    let shop_connection = ConnectionInput {
        base_url: Some(shopify.base_url()),
        locations: [(SHOPIFY_LOCATION.to_string(), "WH-BER".to_string())].into(),
        poll_interval_seconds: Some(60),
        secrets: [
            (
                "access_token".to_string(),
                shopify.config().access_token.clone(),
            ),
            (
                "webhook_secret".to_string(),
                shopify.config().webhook_secret.clone(),
            ),
        ]
        .into(),
        ..Default::default()
    }
    .validate(SHOPIFY_CHANNEL, ConnectorKind::Shopify, None)?;
    shop_state.save_connection(&shop_connection).await?;

    let c = amazon.config().clone();
    let amazon_state = ChannelState::new(store.clone(), secrets, AMAZON_CHANNEL);
    let amazon_connection = ConnectionInput {
        base_url: Some(amazon.base_url()),
        auth_url: Some(amazon.base_url()),
        seller_id: Some(c.seller_id.clone()),
        marketplace_ids: vec![c.marketplace_id.clone()],
        channel_fulfilment_location: Some("FBA-LEJ".into()),
        // Amazon allows one getOrders call a minute on average.
        poll_interval_seconds: Some(60),
        secrets: [
            ("lwa_client_id".to_string(), c.client_id.clone()),
            ("lwa_client_secret".to_string(), c.client_secret.clone()),
            ("refresh_token".to_string(), c.refresh_token.clone()),
        ]
        .into(),
        ..Default::default()
    }
    .validate(AMAZON_CHANNEL, ConnectorKind::Amazon, None)?;
    amazon_state.save_connection(&amazon_connection).await?;
    ordo_connectors::import::ensure_channel_fulfilment_rule(&amazon_state, Some("FBA-LEJ"), &ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let hook = format!("http://{listen}/hooks/shopify/{SHOPIFY_CHANNEL}");
    let (shop, amz) = (shopify.clone(), amazon.clone());
    tokio::spawn(async move {
        let mut rng = SmallRng::seed_from_u64(seed);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut tick = 0u64;
        loop {
            tick += 1;
            let lines: Vec<LineSpec> = (0..rng.random_range(1..=3))
                .map(|_| LineSpec {
                    sku: skus[rng.random_range(0..skus.len())].clone(),
                    quantity: rng.random_range(1..=2),
                    price: format!(
                        "{}.{:02}",
                        rng.random_range(9..60),
                        rng.random_range(0..100)
                    ),
                })
                .collect();
            let order = shop.place_order(&format!("shopper{tick}@example.com"), &lines, "paid");
            if let Some(id) = order["id"].as_u64() {
                shop.send_webhook(&hook, "orders/create", id).await;
            }
            if tick.is_multiple_of(3) {
                let sku = skus[rng.random_range(0..skus.len())].clone();
                let channel = if rng.random_bool(0.2) { "AFN" } else { "MFN" };
                amz.place_order(
                    &[ItemSpec {
                        sku,
                        quantity: 1,
                        unit_price: "24.99".into(),
                    }],
                    "Unshipped",
                    channel,
                );
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(800..2500))).await;
        }
    });
    Ok(Live {
        banner: vec![
            format!(
                "live:    {SHOPIFY_CHANNEL} takes an order every second or two (webhooks, emulated Shopify at {})",
                shopify.base_url()
            ),
            format!(
                "         {AMAZON_CHANNEL} takes one every few seconds (polled each minute, emulated SP-API at {})",
                amazon.base_url()
            ),
            format!(
                "         watch /channels/{SHOPIFY_CHANNEL} and GET /api/v1/channels/{SHOPIFY_CHANNEL}/sync"
            ),
        ],
        _shopify: shopify,
        _amazon: amazon,
    })
}
