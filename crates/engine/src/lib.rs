//! The database: tables, partitions and one module per DynamoDB operation.
//!
//! What it owns: the catalog of tables (per region), validation that needs a table's schema,
//! the write path (one writer per partition; condition check and write under it; one atomic
//! storage batch per write; acknowledgement only once durable), and the read path (reads never
//! observe a write that is not yet durable).
//!
//! What it does not know: HTTP, signatures, JSON framing (the protocol crate decodes and encodes
//! the typed model), or how bytes reach disk (the storage trait).

pub mod backfill;
pub mod backups;
pub mod batch;
pub mod capacity;
pub mod catalog;
pub(crate) mod change;
pub mod conditions;
pub mod indexes;
pub mod items;
pub mod maintenance;
pub mod projection;
pub mod query_scan;
pub mod streams;
pub mod tables;
pub mod transactions;
pub mod ttl;
pub mod update_item;

use std::collections::HashMap;
use std::sync::Arc;

use flywheel_protocol::{decode, decode_enveloped, encode, ApiError, ErrorKind, Operation};
use flywheel_storage::{Storage, StorageError, TreeHandle};
use parking_lot::RwLock;

use crate::catalog::{
    decode_stats, index_stats_prefix, stats_prefix, stream_trim_key, Table, TableMeta, TableRef, PARTITIONS_PER_TABLE,
};
use crate::indexes::Index;
use crate::streams::Stream;

/// The catalog tree's name.
const CATALOG_TREE: &str = "catalog";

/// The catalog key [`Engine::check_writable`] deletes: nothing is ever stored under it.
const WRITE_PROBE_KEY: &[u8] = b"probe\0";

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The account id in ARNs.
    pub account_id: String,
    /// Most tables per region.
    pub tables_per_region_max: usize,
    /// How often the TTL sweeper looks for expired items.
    pub ttl_scan_interval: std::time::Duration,
    /// How long stream records stay readable.
    pub stream_retention: std::time::Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            account_id: "000000000000".to_string(),
            tables_per_region_max: flywheel_types::limits::TABLES_PER_REGION_DEFAULT,
            ttl_scan_interval: std::time::Duration::from_secs(600),
            stream_retention: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

/// A table's numbers as of now.
#[derive(Clone, Debug)]
pub struct TableSummary {
    pub region: String,
    pub name: String,
    pub item_count: u64,
    pub size_bytes: u64,
    pub indexes: Vec<IndexSummary>,
    /// Per partition (hash range, in order): commits and reads since start.
    pub partitions: Vec<(u64, u64)>,
    pub stream_view_type: Option<String>,
    pub ttl_attribute: Option<String>,
}

/// A secondary index's numbers as of now.
#[derive(Clone, Debug)]
pub struct IndexSummary {
    pub name: String,
    pub global: bool,
    pub active: bool,
    pub item_count: u64,
    pub size_bytes: u64,
}

/// Who is asking and where: from the request's credential scope and headers.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub region: String,
    /// The `Host` the client used, for DescribeEndpoints.
    pub host: String,
    /// Set by the engine to the existing table the request addressed (the first, for
    /// multi-table requests), so the server can label metrics without parsing the body again
    /// and without one label per name a client merely tried.
    pub table: std::sync::OnceLock<String>,
}

impl RequestContext {
    pub fn new(region: impl Into<String>, host: impl Into<String>) -> RequestContext {
        RequestContext { region: region.into(), host: host.into(), table: std::sync::OnceLock::new() }
    }
}

/// The database engine.
pub struct Engine {
    storage: Arc<dyn Storage>,
    catalog_tree: TreeHandle,
    tables: RwLock<HashMap<(String, String), TableRef>>,
    /// Deleted tables kept only for their still-readable streams, by (region, table id).
    retired: RwLock<HashMap<(String, String), TableRef>>,
    /// Serialises catalog changes (create, update, delete of tables).
    ddl: tokio::sync::Mutex<()>,
    /// TransactWriteItems outcomes by ClientRequestToken.
    idempotency: transactions::IdempotencyCache,
    config: EngineConfig,
    /// Wakes the maintenance task (an index is waiting to be backfilled).
    wake: tokio::sync::Notify,
}

/// The 16 per-partition statistics records under a catalog prefix.
fn read_stats(catalog: &TreeHandle, prefix: &[u8]) -> Result<Vec<(i64, i64)>, StorageError> {
    let mut stats = vec![(0, 0); PARTITIONS_PER_TABLE];
    let mut end = prefix.to_vec();
    *end.last_mut().expect("prefix is not empty") += 1;
    for entry in catalog.range(std::ops::Bound::Included(prefix), std::ops::Bound::Excluded(&end), false) {
        let (k, v) = entry?;
        let index: usize =
            std::str::from_utf8(&k[prefix.len()..]).ok().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
        if let Some(slot) = stats.get_mut(index) {
            *slot = decode_stats(&v);
        }
    }
    Ok(stats)
}

/// Opens a table's trees and restores its statistics, indexes and streams from the catalog.
pub(crate) fn load_table(
    storage: &dyn Storage,
    catalog: &TreeHandle,
    mut meta: TableMeta,
) -> Result<Table, StorageError> {
    // Catalogs written before streams were recorded name an enabled stream by its label alone:
    // it becomes a stream with no records yet (saved with the next change to the table).
    if let (true, Some(spec), Some(label)) = (meta.streams.is_empty(), &meta.stream_specification, &meta.stream_label) {
        if spec.stream_enabled == Some(true) {
            meta.streams.push(streams::StreamMeta {
                tree: format!("stream/{}/{label}", meta.id),
                label: label.clone(),
                view_type: spec.stream_view_type.clone().unwrap_or_default(),
                created: meta.creation_time,
                disabled_at: None,
                ending: None,
            });
        }
    }
    meta.stream_specification = None;
    meta.stream_label = None;
    let items = storage.open_tree(&meta.items_tree)?;
    let stats = read_stats(catalog, &stats_prefix(&meta.id))?;
    let mut indexes = Vec::new();
    for im in &meta.indexes {
        let index = Index::new(im, &|n| meta.attribute_type(n), storage.open_tree(&im.tree)?);
        for (i, (c, s)) in read_stats(catalog, &index_stats_prefix(&meta.id, &im.name))?.into_iter().enumerate() {
            index.stats[i].0.store(c, std::sync::atomic::Ordering::Relaxed);
            index.stats[i].1.store(s, std::sync::atomic::Ordering::Relaxed);
        }
        indexes.push(Arc::new(index));
    }
    let mut streams = Vec::new();
    for sm in &meta.streams {
        let mut trimmed = vec![0u64; PARTITIONS_PER_TABLE];
        for (shard, slot) in trimmed.iter_mut().enumerate() {
            if let Some(v) = catalog.get(&stream_trim_key(&meta.id, &sm.label, shard))? {
                let mut b = [0u8; 8];
                if v.len() == 8 {
                    b.copy_from_slice(&v);
                }
                *slot = u64::from_be_bytes(b);
            }
        }
        let tree = storage.open_tree(&sm.tree)?;
        streams.push(Arc::new(Stream::open(sm.clone(), &meta.arn, tree, &trimmed)?));
    }
    let pitr = match &meta.pitr {
        Some(pm) => Some(Arc::new(backups::PitrLog::open(pm.clone(), storage.open_tree(&pm.tree)?)?)),
        None => None,
    };
    let table = Table::new(meta, items, &stats, indexes, streams);
    *table.pitr.write() = pitr;
    Ok(table)
}

/// The answer to a client whose request met a storage failure: InternalServerError, naming a
/// full disk (so an operator can act) and nothing else; the detail goes to the log.
pub fn storage_error(e: StorageError) -> ApiError {
    tracing::error!(error = %e, "storage failure");
    if e.is_disk_full() {
        // Say why, so an operator can act; nothing about the data is revealed.
        return ApiError::new(ErrorKind::InternalServerError, "Internal server error: the server's disk is full");
    }
    ApiError::internal()
}

impl Engine {
    /// Opens the engine over a store, loading every table in the catalog.
    pub fn open(storage: Arc<dyn Storage>, config: EngineConfig) -> Result<Engine, StorageError> {
        let catalog_tree = storage.open_tree(CATALOG_TREE)?;
        let mut tables = HashMap::new();
        let prefix = b"table\0".to_vec();
        let end = b"table\x01".to_vec();
        let metas: Vec<TableMeta> = catalog_tree
            .range(std::ops::Bound::Included(&prefix), std::ops::Bound::Excluded(&end), false)
            .map(|entry| {
                let (_, v) = entry?;
                serde_json::from_slice::<TableMeta>(&v).map_err(|e| StorageError::Io(format!("corrupt catalog: {e}")))
            })
            .collect::<Result<_, _>>()?;
        for meta in metas {
            if meta.restoring {
                tracing::warn!(table = %meta.name, region = %meta.region, "removing a table whose restore was interrupted");
                backups::discard_partial_restore(storage.as_ref(), &catalog_tree, &meta)?;
                continue;
            }
            let key = (meta.region.clone(), meta.name.clone());
            let table = load_table(storage.as_ref(), &catalog_tree, meta)?;
            tables.insert(key, Arc::new(table));
        }
        let mut retired = HashMap::new();
        let (lo, hi) = (b"retired\0".to_vec(), b"retired\x01".to_vec());
        let metas: Vec<TableMeta> = catalog_tree
            .range(std::ops::Bound::Included(&lo), std::ops::Bound::Excluded(&hi), false)
            .map(|entry| {
                let (_, v) = entry?;
                serde_json::from_slice::<TableMeta>(&v).map_err(|e| StorageError::Io(format!("corrupt catalog: {e}")))
            })
            .collect::<Result<_, _>>()?;
        for meta in metas {
            let key = (meta.region.clone(), meta.id.clone());
            let table = load_table(storage.as_ref(), &catalog_tree, meta)?;
            table.dropped.store(true, std::sync::atomic::Ordering::Release);
            retired.insert(key, Arc::new(table));
        }
        tracing::info!(tables = tables.len(), retired = retired.len(), "catalog loaded");
        Ok(Engine {
            storage,
            catalog_tree,
            tables: RwLock::new(tables),
            retired: RwLock::new(retired),
            ddl: tokio::sync::Mutex::new(()),
            idempotency: transactions::IdempotencyCache::default(),
            config,
            wake: tokio::sync::Notify::new(),
        })
    }

    /// The store underneath.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Finds a table by region and name.
    pub fn find_table(&self, region: &str, name: &str) -> Option<TableRef> {
        self.tables.read().get(&(region.to_string(), name.to_string())).cloned()
    }

    /// Finds a table a request addresses, noting it in the context for metrics.
    pub(crate) fn find_request_table(&self, ctx: &RequestContext, name: &str) -> Option<TableRef> {
        let table = self.find_table(&ctx.region, name);
        if table.is_some() {
            let _ = ctx.table.set(name.to_string());
        }
        table
    }

    /// Executes one operation on a JSON request body and returns the JSON response body.
    pub async fn dispatch(&self, ctx: &RequestContext, op: Operation, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        match op {
            Operation::CreateTable => self.create_table(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::DescribeTable => self.describe_table(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::ListTables => self.list_tables(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::UpdateTable => self.update_table(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::DeleteTable => self.delete_table(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::TagResource => self.tag_resource(ctx, decode(body)?).await.map(|()| b"{}".to_vec()),
            Operation::UntagResource => self.untag_resource(ctx, decode(body)?).await.map(|()| b"{}".to_vec()),
            Operation::ListTagsOfResource => self.list_tags(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::DescribeLimits => Ok(encode(&tables::describe_limits())),
            Operation::DescribeEndpoints => Ok(encode(&tables::describe_endpoints(ctx))),
            Operation::DescribeTimeToLive => self.describe_time_to_live(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::DescribeContinuousBackups => {
                self.describe_continuous_backups(ctx, decode(body)?).map(|r| encode(&r))
            }
            Operation::PutItem => self.put_item(ctx, decode_enveloped(body)?).await.map(|r| encode(&r)),
            Operation::GetItem => self.get_item(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::DeleteItem => self.delete_item(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::Query => self.query(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::Scan => self.scan(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::BatchGetItem => self.batch_get_item(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::BatchWriteItem => self.batch_write_item(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::TransactWriteItems => self.transact_write_items(ctx, decode(body)?, body).await,
            Operation::TransactGetItems => self.transact_get_items(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::UpdateItem => self.update_item(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::UpdateTimeToLive => self.update_time_to_live(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::ListStreams => self.list_streams(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::DescribeStream => self.describe_stream(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::GetShardIterator => self.get_shard_iterator(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::GetRecords => self.get_records(ctx, decode(body)?).await,
            Operation::CreateBackup => self.create_backup(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::DescribeBackup => self.describe_backup(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::DeleteBackup => self.delete_backup(ctx, decode(body)?).await.map(|r| encode(&r)),
            Operation::ListBackups => self.list_backups(ctx, decode(body)?).map(|r| encode(&r)),
            Operation::RestoreTableFromBackup => {
                self.restore_table_from_backup(ctx, decode(body)?).await.map(|r| encode(&r))
            }
            Operation::RestoreTableToPointInTime => {
                self.restore_table_to_point_in_time(ctx, decode(body)?).await.map(|r| encode(&r))
            }
            Operation::UpdateContinuousBackups => {
                self.update_continuous_backups(ctx, decode(body)?).await.map(|r| encode(&r))
            }
            other => Err(ApiError::new(
                ErrorKind::UnknownOperation,
                format!("Flywheel does not implement the {} operation yet", other.name()),
            )),
        }
    }

    /// Every table's current numbers, sorted by region and name.
    pub fn table_summaries(&self) -> Vec<TableSummary> {
        let mut tables: Vec<TableRef> = self.tables.read().values().cloned().collect();
        tables.sort_by_key(|t| {
            let m = t.meta.read();
            (m.region.clone(), m.name.clone())
        });
        tables
            .iter()
            .map(|t| {
                let meta = t.meta.read();
                let relaxed = std::sync::atomic::Ordering::Relaxed;
                TableSummary {
                    region: meta.region.clone(),
                    name: meta.name.clone(),
                    item_count: t.item_count(),
                    size_bytes: t.size_bytes(),
                    indexes: t
                        .indexes
                        .read()
                        .iter()
                        .map(|i| IndexSummary {
                            name: i.name.clone(),
                            global: i.global,
                            active: i.is_active(),
                            item_count: i.item_count(),
                            size_bytes: i.size_bytes(),
                        })
                        .collect(),
                    partitions: t.partitions.iter().map(|p| (p.writes.load(relaxed), p.reads.load(relaxed))).collect(),
                    stream_view_type: t.current_stream().map(|s| s.meta.read().view_type.clone()),
                    ttl_attribute: meta.ttl_attribute.clone(),
                }
            })
            .collect()
    }

    /// Proves the store takes durable writes again: commits a change that alters nothing (a
    /// delete of a catalog key that never exists) and waits until it is durable. After a storage
    /// failure the server serves again only once this passes (and [`Storage::settle`]).
    pub async fn check_writable(&self) -> Result<(), StorageError> {
        let mut batch = flywheel_storage::WriteBatch::new();
        batch.delete(&self.catalog_tree, WRITE_PROBE_KEY.to_vec());
        let ticket = self.storage.commit(batch)?;
        self.storage.durability().wait(ticket).await
    }

    /// Makes everything durable; call before exit.
    pub fn close(&self) -> Result<(), StorageError> {
        self.storage.close()
    }
}
