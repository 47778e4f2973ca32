//! Time to live: UpdateTimeToLive, DescribeTimeToLive, and the sweeper that deletes expired items.
//!
//! An item expires when its TTL attribute is a number of epoch seconds at or before now. Items
//! whose attribute is absent or not a number never expire, and — as DynamoDB documents — neither
//! do items whose expiry lies more than five years in the past (the value is then taken to be a
//! mistake, such as milliseconds or a date meant for another field). Expired items stay readable
//! until the sweeper deletes them. The sweeper walks each TTL-enabled table every
//! `ttl_scan_interval`, re-checks each candidate under its partition's writer, and deletes it
//! through the ordinary write path, so indexes follow and the stream gets a REMOVE record whose
//! `userIdentity` names the DynamoDB service.

use std::ops::Bound;
use std::time::{SystemTime, UNIX_EPOCH};

use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{TableNameInput, UpdateTimeToLiveInput};
use flywheel_protocol::ApiError;
use flywheel_types::codec::decode_item;
use flywheel_types::{AttributeValue, Item};
use serde::Serialize;

use crate::catalog::TableRef;
use crate::items::{key_from_item, Mutation};
use crate::streams::Origin;
use crate::{storage_error, Engine, RequestContext};

/// Expiry times further in the past than this are ignored (DynamoDB: five years).
const EXPIRY_PAST_MAX_SECONDS: f64 = 5.0 * 365.0 * 86_400.0;

/// Candidates collected per pass over a table before deleting them.
const SWEEP_CHUNK_ITEMS: usize = 1_000;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveSpecificationOutput {
    enabled: bool,
    attribute_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTimeToLiveOutput {
    time_to_live_specification: TimeToLiveSpecificationOutput,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveDescription {
    time_to_live_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribute_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTimeToLiveOutput {
    time_to_live_description: TimeToLiveDescription,
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// Whether an item has expired at `now` under TTL attribute `attribute`.
pub fn is_expired(item: &Item, attribute: &str, now: f64) -> bool {
    match item.get(attribute) {
        Some(AttributeValue::N(n)) => {
            let Ok(expiry) = n.to_string().parse::<f64>() else { return false };
            expiry <= now && now - expiry <= EXPIRY_PAST_MAX_SECONDS
        }
        _ => false,
    }
}

impl Engine {
    pub async fn update_time_to_live(
        &self,
        ctx: &RequestContext,
        input: UpdateTimeToLiveInput,
    ) -> Result<UpdateTimeToLiveOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.required("timeToLiveSpecification", &input.time_to_live_specification);
        if let Some(spec) = &input.time_to_live_specification {
            c.required("timeToLiveSpecification.attributeName", &spec.attribute_name);
            c.required("timeToLiveSpecification.enabled", &spec.enabled);
            if let Some(name) = &spec.attribute_name {
                c.length("timeToLiveSpecification.attributeName", &format!("'{name}'"), name.len(), 1, 255);
            }
        }
        c.finish()?;
        let spec = input.time_to_live_specification.unwrap_or_default();
        let (enabled, attribute) = (spec.enabled.unwrap_or(false), spec.attribute_name.unwrap_or_default());
        let _ddl = self.ddl.lock().await;
        let name = input.table_name.unwrap_or_default();
        let table = self
            .find_table(&ctx.region, &name)
            .ok_or_else(|| ApiError::not_found(format!("Requested resource not found: Table: {name} not found")))?;
        let mut meta = table.meta.read().clone();
        // While TTL is on, a request naming another attribute — to enable or to disable — is
        // refused as such; only a repeat of the current attribute is "already enabled".
        match (&meta.ttl_attribute, enabled) {
            (Some(current), _) if *current != attribute => {
                return Err(ApiError::validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
                )))
            }
            (Some(_), true) => return Err(ApiError::validation("TimeToLive is already enabled")),
            (None, false) => return Err(ApiError::validation("TimeToLive is already disabled")),
            _ => {}
        }
        meta.ttl_attribute = enabled.then(|| attribute.clone());
        self.replace_meta(&table, meta).await?;
        Ok(UpdateTimeToLiveOutput {
            time_to_live_specification: TimeToLiveSpecificationOutput { enabled, attribute_name: attribute },
        })
    }

    pub fn describe_time_to_live(
        &self,
        ctx: &RequestContext,
        input: TableNameInput,
    ) -> Result<DescribeTimeToLiveOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.finish()?;
        let name = input.table_name.unwrap_or_default();
        let table = self
            .find_table(&ctx.region, &name)
            .ok_or_else(|| ApiError::not_found(format!("Requested resource not found: Table: {name} not found")))?;
        let attribute = table.meta.read().ttl_attribute.clone();
        Ok(DescribeTimeToLiveOutput {
            time_to_live_description: TimeToLiveDescription {
                time_to_live_status: if attribute.is_some() { "ENABLED" } else { "DISABLED" },
                attribute_name: attribute,
            },
        })
    }

    /// One sweep over every TTL-enabled table; returns how many items it deleted.
    pub async fn sweep_expired(&self) -> Result<u64, ApiError> {
        let tables: Vec<TableRef> = self.tables.read().values().cloned().collect();
        let mut deleted = 0;
        for table in tables {
            deleted += self.sweep_table(&table).await?;
        }
        Ok(deleted)
    }

    pub(crate) async fn sweep_table(&self, table: &TableRef) -> Result<u64, ApiError> {
        let mut deleted = 0;
        let mut start: Bound<Vec<u8>> = Bound::Unbounded;
        loop {
            let Some(attribute) = table.meta.read().ttl_attribute.clone() else { return Ok(deleted) };
            if table.dropped.load(std::sync::atomic::Ordering::Acquire) {
                return Ok(deleted);
            }
            let now = now_seconds();
            // Collect a chunk of candidates without holding any writer.
            let mut candidates = Vec::new();
            let mut last = None;
            for entry in table
                .items
                .range(start.as_ref().map(Vec::as_slice), Bound::Unbounded, false)
                .take(SWEEP_CHUNK_ITEMS * 10)
            {
                let (k, v) = entry.map_err(storage_error)?;
                let item = decode_item(&v).map_err(|_| ApiError::internal())?;
                if is_expired(&item, &attribute, now) {
                    candidates.push(item);
                }
                last = Some(k);
                if candidates.len() >= SWEEP_CHUNK_ITEMS {
                    break;
                }
            }
            let Some(last) = last else { return Ok(deleted) };
            for item in candidates {
                let Ok(key) = key_from_item(&table.key, &item) else { continue };
                let attribute = attribute.clone();
                let outcome = self
                    .write_item_as(table, &key, Origin::TimeToLive, |current| {
                        // Re-check under the writer: the item may have been renewed meanwhile.
                        Ok(current.filter(|c| is_expired(c, &attribute, now_seconds())).map(|_| Mutation::Delete))
                    })
                    .await;
                match outcome {
                    Ok(o) if o.old.is_some() && o.new.is_none() => deleted += 1,
                    Ok(_) => {}
                    Err(e) if e.kind == flywheel_protocol::ErrorKind::ResourceNotFound => return Ok(deleted),
                    Err(e) => return Err(e),
                }
            }
            start = Bound::Excluded(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: AttributeValue) -> Item {
        [("exp".to_string(), value)].into_iter().collect()
    }

    #[test]
    fn expiry_rules() {
        let now = 1_800_000_000.0;
        let n = |s: &str| AttributeValue::N(s.parse().unwrap());
        assert!(is_expired(&with(n("1799999999")), "exp", now));
        assert!(is_expired(&with(n("1800000000")), "exp", now));
        assert!(!is_expired(&with(n("1800000001")), "exp", now));
        assert!(is_expired(&with(n("1799999999.5")), "exp", now));
        // More than five years in the past: ignored, as DynamoDB does.
        assert!(!is_expired(&with(n("1000")), "exp", now));
        // Not a number, or absent: never expires.
        assert!(!is_expired(&with(AttributeValue::S("1".into())), "exp", now));
        assert!(!is_expired(&with(AttributeValue::Ns(vec!["1".parse().unwrap()])), "exp", now));
        assert!(!is_expired(&Item::new(), "exp", now));
    }
}
