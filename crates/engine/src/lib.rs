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
#[cfg(test)]
mod robustness_tests;
pub mod streams;
pub mod tables;
pub mod transactions;
pub mod ttl;
pub mod unwind;
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
    /// How often the TTL sweeper looks for expired items (it reads only the expiry index's
    /// entries due by now, so a short interval is cheap).
    pub ttl_scan_interval: std::time::Duration,
    /// How long stream records stay readable.
    pub stream_retention: std::time::Duration,
    /// Every region shares one table namespace ([`SHARED_REGION`]), like DynamoDB Local's
    /// `-sharedDb`; off by default, where tables are per region as in DynamoDB.
    pub single_region: bool,
}

/// The namespace every request uses in single-region mode: the region SDKs and the AWS CLI most
/// often default to, so the tables a default-mode data directory holds for it stay visible.
pub const SHARED_REGION: &str = "us-east-1";

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            account_id: "000000000000".to_string(),
            tables_per_region_max: flywheel_types::limits::TABLES_PER_REGION_DEFAULT,
            ttl_scan_interval: std::time::Duration::from_secs(1),
            stream_retention: std::time::Duration::from_secs(24 * 3600),
            single_region: false,
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
    /// Items its backfill left out as index key violations (since start-up).
    pub violations: u64,
}

/// A catalog entry that could not be loaded at start-up. It is left untouched on disk, its name
/// stays taken (so nothing overwrites it), and every other table serves.
#[derive(Clone, Debug)]
pub struct QuarantinedTable {
    pub region: String,
    pub name: String,
    /// Why it could not be loaded.
    pub reason: String,
}

/// Failures the engine contained rather than let spread, counted since start-up.
#[derive(Default)]
pub struct Health {
    /// Requests that panicked (each answered InternalServerError).
    pub request_panics: std::sync::atomic::AtomicU64,
    /// Failed or panicked units of background work, by task (`maintenance::Task`).
    pub maintenance_failures: [std::sync::atomic::AtomicU64; maintenance::TASKS.len()],
}

/// A request id in DynamoDB's shape (52 upper-case letters and digits), for
/// `x-amzn-RequestId` and the logs.
pub fn new_request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..52).map(|_| ALPHABET[rand::random::<u8>() as usize % ALPHABET.len()] as char).collect()
}

/// Who is asking and where: from the request's credential scope and headers.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub region: String,
    /// The `Host` the client used, for DescribeEndpoints.
    pub host: String,
    /// This request's id: sent back as `x-amzn-RequestId`, and named in the log when it fails.
    pub request_id: String,
    /// Set by the engine to the existing table the request addressed (the first, for
    /// multi-table requests), so the server can label metrics without parsing the body again
    /// and without one label per name a client merely tried.
    pub table: std::sync::OnceLock<String>,
    /// For a caller whose key has a policy: which entries (by ARN: tables, streams, backups)
    /// ListTables, ListStreams and ListBackups may show. `None` shows everything.
    pub listing_filter: Option<ListingFilter>,
}

impl RequestContext {
    pub fn new(region: impl Into<String>, host: impl Into<String>) -> RequestContext {
        RequestContext {
            region: region.into(),
            host: host.into(),
            request_id: new_request_id(),
            table: std::sync::OnceLock::new(),
            listing_filter: None,
        }
    }

    /// Whether a listing may show the entry with this ARN. Filtering happens before paging, so
    /// pages stay full and `LastEvaluated…` never names a hidden entry.
    pub fn may_list(&self, arn: &str) -> bool {
        self.listing_filter.as_ref().is_none_or(|f| (f.0)(arn))
    }
}

/// A predicate on ARNs that narrows a listing (the server builds it from the caller's policy).
#[derive(Clone)]
pub struct ListingFilter(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for ListingFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListingFilter")
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
    /// Catalog entries that could not be loaded at start-up.
    quarantined: Vec<QuarantinedTable>,
    health: Health,
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
    let expiry = match (&meta.expiry, &meta.ttl_attribute) {
        (Some(em), Some(attribute)) => {
            Some(Arc::new(ttl::ExpiryIndex::new(attribute.clone(), storage.open_tree(&em.tree)?, em.built)))
        }
        _ => None,
    };
    let table = Table::new(meta, items, &stats, indexes, streams);
    *table.pitr.write() = pitr;
    *table.expiry.write() = expiry;
    Ok(table)
}

/// Loads every catalog entry between two keys, each on its own: `Err(reason)` for an entry that
/// cannot be loaded (a store failure reading the catalog itself is returned as such).
#[allow(clippy::type_complexity)]
fn load_entries(
    storage: &dyn Storage,
    catalog: &TreeHandle,
    from: &[u8],
    to: &[u8],
) -> Result<Vec<(Vec<u8>, Result<Table, String>)>, StorageError> {
    let entries: Vec<(Vec<u8>, Vec<u8>)> = catalog
        .range(std::ops::Bound::Included(from), std::ops::Bound::Excluded(to), false)
        .collect::<Result<_, _>>()?;
    let mut loaded = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let result = match serde_json::from_slice::<TableMeta>(&value) {
            Err(e) => Err(format!("unreadable metadata: {e}")),
            Ok(meta) if meta.restoring => {
                tracing::warn!(table = %meta.name, region = %meta.region, "removing a table whose restore was interrupted");
                match backups::discard_partial_restore(storage, catalog, &meta) {
                    Ok(()) => continue,
                    Err(e) => Err(format!("cannot remove an interrupted restore: {e}")),
                }
            }
            Ok(mut meta) => {
                if from == b"table\0" {
                    repair_tree_names(storage, catalog, &mut meta);
                    repair_expiry_index(storage, catalog, &mut meta);
                }
                // A panic here is a bug in loading, not a reason for no table to serve.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load_table(storage, catalog, meta))) {
                    Ok(Ok(table)) => Ok(table),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(payload) => Err(format!("panicked while loading: {}", unwind::panic_message(payload.as_ref()))),
                }
            }
        };
        loaded.push((key, result));
    }
    Ok(loaded)
}

/// The quarantine record of catalog entry `key` (`PREFIX REGION \0 NAME-OR-ID`).
fn quarantine(key: &[u8], prefix: &str, reason: String) -> QuarantinedTable {
    let rest = String::from_utf8_lossy(key.get(prefix.len()..).unwrap_or_default()).into_owned();
    let (region, name) =
        rest.split_once('\0').map(|(r, n)| (r.to_string(), n.to_string())).unwrap_or((String::new(), rest));
    tracing::error!(%region, table = %name, %reason, "catalog entry quarantined: the table does not serve; its data is left untouched");
    QuarantinedTable { region, name, reason }
}

/// Data directories written before tree names were built from ids alone can name an index
/// tree after a long index name, past what storage accepts: CreateTable or UpdateTable failed
/// there after the catalog already recorded the index, and every later start failed on it.
/// Such a tree can never have been created, so nothing is lost by giving the index a fresh
/// id-named tree and rebuilding it from the table by backfill. The repaired record is saved
/// before the table loads; if it cannot be, the table loads repaired in memory all the same.
fn repair_tree_names(storage: &dyn Storage, catalog: &TreeHandle, meta: &mut TableMeta) {
    let mut repaired = false;
    for i in 0..meta.indexes.len() {
        if flywheel_storage::check_tree_name(&meta.indexes[i].tree).is_err() {
            meta.indexes[i].tree = meta.allocate_tree(catalog::TreeKind::Index);
            meta.indexes[i].active = false;
            repaired = true;
            tracing::warn!(table = %meta.name, index = %meta.indexes[i].name, "index had an unusable tree name; rebuilding it");
        }
    }
    if repaired {
        save_repaired(storage, catalog, meta);
    }
}

/// Tables whose TTL was enabled by a version without expiry indexes have none: give such a table
/// an empty one, which the maintenance task's backfill fills from the table before its first
/// sweep finds anything. Saved like `repair_tree_names`; if the save fails the table loads
/// repaired in memory, and the next start names the same tree again (the serial was not saved).
fn repair_expiry_index(storage: &dyn Storage, catalog: &TreeHandle, meta: &mut TableMeta) {
    if meta.ttl_attribute.is_none() || meta.expiry.is_some() {
        return;
    }
    meta.expiry = Some(ttl::ExpiryMeta { tree: meta.allocate_tree(catalog::TreeKind::Expiry), built: false });
    tracing::info!(table = %meta.name, region = %meta.region, "time to live has no expiry index yet; building one");
    save_repaired(storage, catalog, meta);
}

/// Saves a table record repaired at load, durably, before the table serves.
fn save_repaired(storage: &dyn Storage, catalog: &TreeHandle, meta: &TableMeta) {
    let mut batch = flywheel_storage::WriteBatch::new();
    match serde_json::to_vec(meta) {
        Ok(json) => batch.put(catalog, catalog::table_key(&meta.region, &meta.name), json),
        Err(e) => return tracing::error!(error = %e, "cannot save the repaired table metadata"),
    }
    if let Err(e) = storage.commit(batch).and_then(|ticket| storage.durability().wait_blocking(ticket)) {
        tracing::error!(error = %e, "cannot save the repaired table metadata");
    }
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
    /// Opens the engine over a store, loading every table in the catalog. A catalog entry that
    /// cannot be loaded (unreadable, naming trees the store refuses, panicking while loading) is
    /// quarantined: logged, reported by [`Engine::quarantined`], left as it is on disk, and
    /// every other table serves. Only a failure of the store itself fails the open.
    pub fn open(storage: Arc<dyn Storage>, config: EngineConfig) -> Result<Engine, StorageError> {
        let catalog_tree = storage.open_tree(CATALOG_TREE)?;
        let mut tables = HashMap::new();
        let mut quarantined = Vec::new();
        for (key, loaded) in load_entries(storage.as_ref(), &catalog_tree, b"table\0", b"table\x01")? {
            match loaded {
                Ok(table) => {
                    let meta = table.meta.read().clone();
                    tables.insert((meta.region, meta.name), Arc::new(table));
                }
                Err(reason) => quarantined.push(quarantine(&key, "table\0", reason)),
            }
        }
        let mut retired = HashMap::new();
        for (key, loaded) in load_entries(storage.as_ref(), &catalog_tree, b"retired\0", b"retired\x01")? {
            match loaded {
                Ok(table) => {
                    table.dropped.store(true, std::sync::atomic::Ordering::Release);
                    let meta = table.meta.read().clone();
                    retired.insert((meta.region, meta.id), Arc::new(table));
                }
                Err(reason) => quarantined.push(quarantine(&key, "retired\0", reason)),
            }
        }
        tracing::info!(
            tables = tables.len(),
            retired = retired.len(),
            quarantined = quarantined.len(),
            "catalog loaded"
        );
        if config.single_region {
            tracing::info!(
                shared_region = SHARED_REGION,
                "single-region mode: every region shares one table namespace"
            );
            for (region, name) in tables.keys().filter(|(r, _)| r != SHARED_REGION) {
                tracing::warn!(table = %name, %region, shared_region = SHARED_REGION, "single-region mode serves only the shared region's tables; this one, created in another region without --single-region, is not visible");
            }
        }
        Ok(Engine {
            storage,
            catalog_tree,
            tables: RwLock::new(tables),
            retired: RwLock::new(retired),
            ddl: tokio::sync::Mutex::new(()),
            idempotency: transactions::IdempotencyCache::default(),
            config,
            wake: tokio::sync::Notify::new(),
            quarantined,
            health: Health::default(),
        })
    }

    /// Catalog entries that could not be loaded at start-up.
    pub fn quarantined(&self) -> &[QuarantinedTable] {
        &self.quarantined
    }

    /// Failures contained since start-up.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// True if `name` is taken in `region`: by a live table, or by a quarantined entry (which a
    /// new table must not overwrite).
    pub(crate) fn name_taken(&self, region: &str, name: &str) -> bool {
        self.find_table(region, name).is_some() || self.quarantined.iter().any(|q| q.region == region && q.name == name)
    }

    /// The store underneath.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Finds a table by region and name.
    pub fn find_table(&self, region: &str, name: &str) -> Option<TableRef> {
        self.tables.read().get(&(region.to_string(), name.to_string())).cloned()
    }

    /// Finds a table a request addresses, noting it in the context for metrics. A table that
    /// is not there is logged with the regions that do have one of that name: a client whose
    /// region differs from the one it created its tables in is a common surprise.
    pub(crate) fn find_request_table(&self, ctx: &RequestContext, name: &str) -> Option<TableRef> {
        let table = self.find_table(&ctx.region, name);
        match &table {
            Some(_) => {
                let _ = ctx.table.set(name.to_string());
            }
            None => self.log_missing_table(ctx, name),
        }
        table
    }

    /// The hint for a table not found: only in the log, never in the response (DynamoDB's
    /// message names no region).
    fn log_missing_table(&self, ctx: &RequestContext, name: &str) {
        let mut elsewhere: Vec<String> =
            self.tables.read().keys().filter(|(r, n)| n == name && *r != ctx.region).map(|(r, _)| r.clone()).collect();
        elsewhere.sort();
        if elsewhere.is_empty() {
            tracing::debug!(request_id = %ctx.request_id, table = %name, region = %ctx.region, "table not found in any region");
        } else {
            tracing::info!(
                request_id = %ctx.request_id,
                table = %name,
                region = %ctx.region,
                regions_with_table = %elsewhere.join(","),
                "table not found in the request's region, but it exists in other regions (tables are per region; --single-region shares one namespace)"
            );
        }
    }

    /// Executes one operation on a JSON request body and returns the JSON response body. A
    /// panic while serving it is contained: logged with the request id, counted in
    /// [`Health::request_panics`], and answered as InternalServerError; partition writers held
    /// at the time are released as the panic unwinds.
    pub async fn dispatch(&self, ctx: &RequestContext, op: Operation, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        if self.config.single_region && ctx.region != SHARED_REGION {
            // One namespace for every region: the request runs in it, and what it noted for
            // metrics is handed back.
            let shared = RequestContext {
                region: SHARED_REGION.to_string(),
                host: ctx.host.clone(),
                request_id: ctx.request_id.clone(),
                table: std::sync::OnceLock::new(),
                // Listings stay narrowed to what the caller's policy allows (ARNs name the shared
                // region here, as the tables' own ARNs do).
                listing_filter: ctx.listing_filter.clone(),
            };
            let answer = self.dispatch_contained(&shared, op, body).await;
            if let Some(table) = shared.table.into_inner() {
                let _ = ctx.table.set(table);
            }
            return answer;
        }
        self.dispatch_contained(ctx, op, body).await
    }

    async fn dispatch_contained(&self, ctx: &RequestContext, op: Operation, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        match unwind::catch_unwind(self.dispatch_unguarded(ctx, op, body)).await {
            Ok(answer) => answer,
            Err(panic) => {
                self.health.request_panics.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(request_id = %ctx.request_id, operation = op.name(), %panic, "request panicked; answered InternalServerError");
                Err(ApiError::internal())
            }
        }
    }

    async fn dispatch_unguarded(&self, ctx: &RequestContext, op: Operation, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        // The region is part of catalog keys: bound it before anything can be stored under it.
        if ctx.region.len() > flywheel_types::limits::REGION_BYTES_MAX {
            return Err(ApiError::new(ErrorKind::InvalidSignature, "Credential should be scoped to a valid region."));
        }
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
                            violations: i.violations.load(relaxed),
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
