//! ActiveCampaign Deep Data: purchases as e-commerce customers and orders of a paysync
//! connection (API-FACTS "ActiveCampaign v3": `/connections`, `/ecomCustomers`, `/ecomOrders`,
//! amounts in cents, `source` 1 = real time (triggers automations), 0 = historical).
//!
//! The reconstructed spec marks both `externalid` and `externalcheckoutid` (and `abandonedDate`)
//! required on orders, while its own descriptions say each is required only without the other
//! (a checkout id and an abandoned date describe abandoned carts). Completed orders send
//! `externalid` only, and `orderProducts` as the array the vendor's example shows (the spec
//! types it as an object).

use std::collections::HashMap;

use reqwest::Method;
use tokio::sync::Mutex;

use super::VENDOR;
use super::wire::*;
use crate::error::DestinationError;
use crate::http::HttpCore;
use crate::op::{Ack, ItemOutcome, Purchase};
use crate::timefmt;

/// The Deep Data connection paysync registers once per account.
#[derive(Debug, Clone)]
pub struct DeepDataConfig {
    /// `service` of the connection, e.g. `paysync`.
    pub service: String,
    /// The connection's id at the source (the Stripe account id).
    pub externalid: String,
    pub name: String,
    pub logo_url: String,
    pub link_url: String,
}

/// Remembered customer ids are dropped past this many, to bound memory.
const MAX_REMEMBERED_CUSTOMERS: usize = 50_000;

pub(super) struct DeepData {
    cfg: DeepDataConfig,
    connection: Mutex<Option<String>>,
    customers: Mutex<HashMap<String, String>>,
}

impl DeepData {
    pub(super) fn new(cfg: DeepDataConfig) -> Self {
        DeepData {
            cfg,
            connection: Mutex::new(None),
            customers: Mutex::new(HashMap::new()),
        }
    }

    async fn connection(&self, http: &HttpCore) -> Result<String, DestinationError> {
        let mut cached = self.connection.lock().await;
        if let Some(id) = &*cached {
            return Ok(id.clone());
        }
        let found: Connections = http
            .get_json(
                "connections",
                &[
                    ("filters[service]", self.cfg.service.clone()),
                    ("filters[externalid]", self.cfg.externalid.clone()),
                ],
            )
            .await?;
        let id = match found.connections.into_iter().next() {
            Some(c) => c.id,
            None => {
                let created: ConnectionEnvelope = http
                    .send_json(
                        Method::POST,
                        "connections",
                        &ConnectionPost {
                            connection: ConnectionBody {
                                service: &self.cfg.service,
                                externalid: &self.cfg.externalid,
                                name: &self.cfg.name,
                                logo_url: &self.cfg.logo_url,
                                link_url: &self.cfg.link_url,
                            },
                        },
                    )
                    .await?
                    .json(VENDOR, "connection")?;
                created.connection.id
            }
        };
        *cached = Some(id.clone());
        Ok(id)
    }

    /// Deletes the person's e-commerce customers in paysync's connection, their orders first
    /// (ActiveCampaign does not say whether deleting a customer deletes its orders).
    pub(super) async fn forget(
        &self,
        http: &HttpCore,
        email: &crate::contact::Email,
    ) -> Result<(), DestinationError> {
        let connection = self.connection(http).await?;
        self.customers
            .lock()
            .await
            .remove(&format!("{connection}:{email}"));
        let found: EcomCustomers = http
            .get_json(
                "ecomCustomers",
                &[
                    ("filters[email]", email.as_str().to_owned()),
                    ("filters[connectionid]", connection.clone()),
                ],
            )
            .await?;
        for customer in found.ecom_customers {
            // A page of the customer's orders at a time (the default page size: the spec has no
            // `limit` here), until none is left.
            loop {
                let orders: EcomOrders = http
                    .get_json(
                        "ecomOrders",
                        &[
                            ("filters[customerid]", customer.id.clone()),
                            ("filters[connectionid]", connection.clone()),
                        ],
                    )
                    .await?;
                if orders.ecom_orders.is_empty() {
                    break;
                }
                for order in orders.ecom_orders {
                    gone_is_fine(http.delete(&format!("ecomOrders/{}", order.id)).await)?;
                }
            }
            gone_is_fine(http.delete(&format!("ecomCustomers/{}", customer.id)).await)?;
        }
        Ok(())
    }

    async fn customer(
        &self,
        http: &HttpCore,
        connection: &str,
        p: &Purchase,
    ) -> Result<String, DestinationError> {
        let key = format!("{connection}:{}", p.email);
        if let Some(id) = self.customers.lock().await.get(&key) {
            return Ok(id.clone());
        }
        let found: EcomCustomers = http
            .get_json(
                "ecomCustomers",
                &[
                    ("filters[email]", p.email.as_str().to_owned()),
                    ("filters[connectionid]", connection.to_owned()),
                ],
            )
            .await?;
        let id = match found.ecom_customers.into_iter().next() {
            Some(c) => c.id,
            None => {
                let created: EcomCustomerEnvelope = http
                    .send_json(
                        Method::POST,
                        "ecomCustomers",
                        &EcomCustomerPost {
                            ecom_customer: EcomCustomerBody {
                                connectionid: connection,
                                externalid: &p.customer_ref,
                                email: p.email.as_str(),
                                accepts_marketing: if p.accepts_marketing { "1" } else { "0" },
                            },
                        },
                    )
                    .await?
                    .json(VENDOR, "e-commerce customer")?;
                created.ecom_customer.id
            }
        };
        let mut customers = self.customers.lock().await;
        if customers.len() >= MAX_REMEMBERED_CUSTOMERS {
            customers.clear();
        }
        customers.insert(key, id.clone());
        Ok(id)
    }

    pub(super) async fn record(&self, http: &HttpCore, p: &Purchase) -> ItemOutcome {
        let result = async {
            let connection = self.connection(http).await?;
            let customer = self.customer(http, &connection, p).await?;
            let numeric = |what: &str, id: &str| {
                id.parse::<i64>().map_err(|_| {
                    DestinationError::permanent(VENDOR, format!("{what} id {id:?} is not numeric"))
                })
            };
            let body = EcomOrderPost {
                ecom_order: EcomOrderBody {
                    externalid: &p.order_ref,
                    source: i64::from(p.realtime),
                    email: p.email.as_str(),
                    order_products: p
                        .items
                        .iter()
                        .map(|i| EcomOrderProduct {
                            externalid: &i.product_ref,
                            name: &i.name,
                            price: i.unit_price_cents,
                            quantity: i.quantity,
                        })
                        .collect(),
                    total_price: p.total_cents,
                    currency: p.currency.to_uppercase(),
                    connectionid: numeric("connection", &connection)?,
                    customerid: numeric("customer", &customer)?,
                    external_created_date: timefmt::rfc3339(p.created_at_ms),
                },
            };
            match http.send_json(Method::POST, "ecomOrders", &body).await {
                Ok(r) => {
                    let id = r
                        .json::<serde_json::Value>(VENDOR, "order")
                        .ok()
                        .and_then(|v| v.pointer("/ecomOrder/id").cloned())
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
                    Ok(ItemOutcome::Ok(Ack {
                        remote_id: id,
                        ..Ack::default()
                    }))
                }
                // The order is already there (a replayed purchase): done.
                Err(e)
                    if e.status == Some(422)
                        && (e.code.as_deref() == Some("duplicate")
                            || e.message.to_ascii_lowercase().contains("already exists")) =>
                {
                    Ok(ItemOutcome::ok())
                }
                Err(e) => Err(e),
            }
        }
        .await;
        result.unwrap_or_else(ItemOutcome::from_error)
    }
}

/// A delete answered 404 found nothing left to delete.
pub(super) fn gone_is_fine<T>(result: Result<T, DestinationError>) -> Result<(), DestinationError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.status == Some(404) => Ok(()),
        Err(e) => Err(e),
    }
}
