//! On-demand backups and point-in-time recovery.
//!
//! **Backups** (CreateBackup, DescribeBackup, ListBackups, DeleteBackup, RestoreTableFromBackup):
//! a backup is a storage tree holding a copy of the table's items, made while every partition
//! writer of the table is held, so it is one consistent snapshot (transactions included), plus
//! the table's description at that moment in the catalog (`backup\0REGION\0ARN`). Backups outlive
//! their table, as in DynamoDB.
//!
//! **Point-in-time recovery** (UpdateContinuousBackups, DescribeContinuousBackups,
//! RestoreTableToPointInTime): while enabled, every item change also writes an *undo* entry —
//! the item's previous version — to the table's recovery log, in the same atomic batch as the
//! change. Entries are keyed `time (µs, u64) ‖ sequence (u64)`, with time made monotonic per
//! table. To restore to time T, the table is copied as of now (writers held) and then, walking
//! the log backwards from now to T, each key is given the oldest previous version logged after
//! T: exactly its state at T. Entries older than the recovery period are trimmed by the
//! maintenance task. A restore builds the new table's indexes as it writes its items (through
//! the same staging as every write) and is marked `restoring` until it completes, so a crash
//! mid-restore leaves no half table behind.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use flywheel_protocol::constraints::Constraints;
use flywheel_protocol::model::{
    BackupArnInput, CreateBackupInput, KeySchemaElement, ListBackupsInput, RestoreInput, RestoreSummary,
    TableNameInput, UpdateContinuousBackupsInput,
};
use flywheel_protocol::{ApiError, ErrorKind};
use flywheel_storage::{Storage, StorageError, TreeHandle, WriteBatch};
use flywheel_types::codec::{decode_item, encode_item};
use flywheel_types::{item_size_bytes, Item};
use serde::{Deserialize, Serialize};

use crate::catalog::{
    index_stats_key, items_tree_name, stats_key, table_key, tree_name, Table, TableMeta, TableRef, TreeKind,
    PARTITIONS_PER_TABLE,
};
use crate::change::Staging;
use crate::streams::Origin;
use crate::{load_table, storage_error, Engine, RequestContext};

/// DynamoDB's default (and largest) recovery period.
pub const RECOVERY_PERIOD_DAYS_MAX: i64 = 35;

/// Items copied per batch by backups and restores.
const COPY_CHUNK_ITEMS: usize = 512;

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as f64 / 1000.0
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64
}

/// The durable description of a table's recovery log. On disk as JSON in the table's metadata.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PitrMeta {
    pub tree: String,
    /// When recovery was enabled (seconds since the epoch): the earliest restorable time.
    pub enabled_at: f64,
    pub recovery_period_days: i64,
}

/// A live recovery log.
pub struct PitrLog {
    pub meta: PitrMeta,
    /// The recovery period, which UpdateContinuousBackups may change while the log runs.
    period_days: std::sync::atomic::AtomicI64,
    pub tree: TreeHandle,
    seq: AtomicU64,
    /// The last entry time handed out: entry times never go backwards.
    last_micros: AtomicU64,
}

impl PitrLog {
    pub fn open(meta: PitrMeta, tree: TreeHandle) -> Result<PitrLog, StorageError> {
        let (mut seq, mut last) = (0, 0);
        if let Some(entry) = tree.range(Bound::Unbounded, Bound::Unbounded, true).next() {
            let (k, _) = entry?;
            if k.len() == 16 {
                last = u64::from_be_bytes(k[..8].try_into().expect("8 bytes"));
                seq = u64::from_be_bytes(k[8..].try_into().expect("8 bytes")) + 1;
            }
        }
        Ok(PitrLog {
            period_days: std::sync::atomic::AtomicI64::new(meta.recovery_period_days),
            meta,
            tree,
            seq: AtomicU64::new(seq),
            last_micros: AtomicU64::new(last),
        })
    }

    pub fn period_days(&self) -> i64 {
        self.period_days.load(Ordering::Relaxed)
    }

    /// The undo entry of one change: key `time ‖ sequence`, value `len ‖ storage key ‖ old item`.
    pub(crate) fn entry(&self, storage_key: &[u8], old: Option<&Item>) -> (Vec<u8>, Vec<u8>) {
        let now = now_micros();
        let at = self.last_micros.fetch_max(now, Ordering::AcqRel).max(now);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut key = at.to_be_bytes().to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        let mut value = (storage_key.len() as u32).to_be_bytes().to_vec();
        value.extend_from_slice(storage_key);
        match old {
            Some(item) => {
                value.push(1);
                value.extend_from_slice(&encode_item(item));
            }
            None => value.push(0),
        }
        (key, value)
    }
}

/// Decodes an undo entry's value: the storage key and the item's previous version.
fn decode_entry(value: &[u8]) -> Option<(Vec<u8>, Option<Item>)> {
    let len = u32::from_be_bytes(value.get(..4)?.try_into().ok()?) as usize;
    let key = value.get(4..4 + len)?.to_vec();
    match value.get(4 + len)? {
        0 => Some((key, None)),
        1 => Some((key, Some(decode_item(&value[5 + len..]).ok()?))),
        _ => None,
    }
}

/// The durable record of one backup. On disk as JSON under `backup\0REGION\0ARN`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct BackupMeta {
    arn: String,
    name: String,
    region: String,
    tree: String,
    created: f64,
    size_bytes: u64,
    item_count: u64,
    /// The table as it was when backed up.
    table: TableMeta,
}

fn backup_key(region: &str, arn: &str) -> Vec<u8> {
    format!("backup\0{region}\0{arn}").into_bytes()
}

fn backup_prefix(region: &str) -> (Vec<u8>, Vec<u8>) {
    (format!("backup\0{region}\0").into_bytes(), format!("backup\0{region}\x01").into_bytes())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupDetails {
    backup_arn: String,
    backup_name: String,
    backup_size_bytes: u64,
    backup_status: &'static str,
    backup_type: &'static str,
    backup_creation_date_time: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBackupOutput {
    backup_details: BackupDetails,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SourceThroughput {
    read_capacity_units: i64,
    write_capacity_units: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SourceTableDetails {
    table_name: String,
    table_id: String,
    table_arn: String,
    table_size_bytes: u64,
    key_schema: Vec<KeySchemaElement>,
    table_creation_date_time: f64,
    provisioned_throughput: SourceThroughput,
    item_count: u64,
    billing_mode: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupDescription {
    backup_details: BackupDetails,
    source_table_details: SourceTableDetails,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeBackupOutput {
    backup_description: BackupDescription,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupSummary {
    table_name: String,
    table_id: String,
    table_arn: String,
    backup_arn: String,
    backup_name: String,
    backup_creation_date_time: f64,
    backup_status: &'static str,
    backup_type: &'static str,
    backup_size_bytes: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListBackupsOutput {
    backup_summaries: Vec<BackupSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_evaluated_backup_arn: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PointInTimeRecoveryDescription {
    point_in_time_recovery_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    earliest_restorable_date_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_restorable_date_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_period_in_days: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContinuousBackupsDescription {
    continuous_backups_status: &'static str,
    point_in_time_recovery_description: PointInTimeRecoveryDescription,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContinuousBackupsOutput {
    continuous_backups_description: ContinuousBackupsDescription,
}

impl BackupMeta {
    fn details(&self, status: &'static str) -> BackupDetails {
        BackupDetails {
            backup_arn: self.arn.clone(),
            backup_name: self.name.clone(),
            backup_size_bytes: self.size_bytes,
            backup_status: status,
            backup_type: "USER",
            backup_creation_date_time: self.created,
        }
    }

    fn description(&self, status: &'static str) -> BackupDescription {
        let t = &self.table;
        BackupDescription {
            backup_details: self.details(status),
            source_table_details: SourceTableDetails {
                table_name: t.name.clone(),
                table_id: t.id.clone(),
                table_arn: t.arn.clone(),
                table_size_bytes: self.size_bytes,
                key_schema: t.key_schema.clone(),
                table_creation_date_time: t.creation_time,
                provisioned_throughput: SourceThroughput {
                    read_capacity_units: t.read_capacity_units,
                    write_capacity_units: t.write_capacity_units,
                },
                item_count: self.item_count,
                billing_mode: t.billing_mode.clone(),
            },
        }
    }
}

/// Removes what an interrupted restore left: its trees and catalog records.
pub(crate) fn discard_partial_restore(
    storage: &dyn Storage,
    catalog: &TreeHandle,
    meta: &TableMeta,
) -> Result<(), StorageError> {
    let mut batch = WriteBatch::new();
    batch.delete(catalog, table_key(&meta.region, &meta.name));
    for i in 0..PARTITIONS_PER_TABLE {
        batch.delete(catalog, stats_key(&meta.id, i));
        for index in &meta.indexes {
            batch.delete(catalog, index_stats_key(&meta.id, &index.name, i));
        }
    }
    let ticket = storage.commit(batch)?;
    storage.durability().wait_blocking(ticket)?;
    storage.drop_tree(&meta.items_tree)?;
    for index in &meta.indexes {
        storage.drop_tree(&index.tree)?;
    }
    Ok(())
}

fn table_not_found(name: &str) -> ApiError {
    ApiError::new(ErrorKind::TableNotFound, format!("Table not found: {name}"))
}

impl Engine {
    fn save_backup(&self, batch: &mut WriteBatch, backup: &BackupMeta) {
        let json = serde_json::to_vec(backup).expect("backup metadata serialises");
        batch.put(&self.catalog_tree, backup_key(&backup.region, &backup.arn), json);
    }

    fn backups(&self, region: &str) -> Result<Vec<BackupMeta>, ApiError> {
        let (lo, hi) = backup_prefix(region);
        self.catalog_tree
            .range(Bound::Included(&lo), Bound::Excluded(&hi), false)
            .map(|entry| {
                let (_, v) = entry.map_err(storage_error)?;
                serde_json::from_slice::<BackupMeta>(&v).map_err(|e| {
                    tracing::error!(error = %e, "corrupt backup record");
                    ApiError::internal()
                })
            })
            .collect()
    }

    fn get_backup(&self, ctx: &RequestContext, arn: &Option<String>) -> Result<BackupMeta, ApiError> {
        let mut c = Constraints::new();
        c.required("backupArn", arn);
        if let Some(a) = arn {
            c.length("backupArn", &format!("'{a}'"), a.len(), 37, 1024);
        }
        c.finish()?;
        let arn = arn.as_deref().unwrap_or_default();
        let found = self.catalog_tree.get(&backup_key(&ctx.region, arn)).map_err(storage_error)?;
        let found =
            found.ok_or_else(|| ApiError::new(ErrorKind::BackupNotFound, format!("Backup not found: {arn}")))?;
        serde_json::from_slice(&found).map_err(|_| ApiError::internal())
    }

    pub async fn create_backup(
        &self,
        ctx: &RequestContext,
        input: CreateBackupInput,
    ) -> Result<CreateBackupOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.table_name("backupName", &input.backup_name);
        c.finish()?;
        let name = input.table_name.unwrap_or_default();
        let table = self.find_request_table(ctx, &name).ok_or_else(|| table_not_found(&name))?;
        let created = now_seconds();
        let suffix: u32 = rand::random();
        let meta = table.meta.read().clone();
        let arn = format!("{}/backup/{:017}-{suffix:08x}", meta.arn, (created * 1000.0) as u64);
        // Backups are made without the DDL lock, so they take a random serial rather than one
        // from the table's metadata; the ARN carries the same suffix.
        let tree_name = tree_name(TreeKind::Backup, &meta.id, u64::from(suffix));
        let tree = self.storage.open_tree(&tree_name).map_err(storage_error)?;
        // One consistent snapshot: no write to the table while it is copied.
        let guards = lock_all(&table).await;
        let (mut count, mut bytes) = (0u64, 0u64);
        let mut batch = WriteBatch::new();
        for entry in table.items.range(Bound::Unbounded, Bound::Unbounded, false) {
            let (k, v) = entry.map_err(storage_error)?;
            count += 1;
            bytes += decode_item(&v).map(|i| item_size_bytes(&i) as u64).unwrap_or(v.len() as u64);
            batch.put(&tree, k, v);
            if batch.len() >= COPY_CHUNK_ITEMS {
                self.storage.commit(std::mem::take(&mut batch)).map_err(storage_error)?;
            }
        }
        drop(guards);
        let backup = BackupMeta {
            arn,
            name: input.backup_name.unwrap_or_default(),
            region: ctx.region.clone(),
            tree: tree_name,
            created,
            size_bytes: bytes,
            item_count: count,
            table: table.meta.read().clone(),
        };
        self.save_backup(&mut batch, &backup);
        let ticket = self.storage.commit(batch).map_err(storage_error)?;
        self.storage.durability().wait(ticket).await.map_err(storage_error)?;
        tracing::info!(table = %name, backup = %backup.arn, items = count, "backup created");
        Ok(CreateBackupOutput { backup_details: backup.details("AVAILABLE") })
    }

    pub fn describe_backup(
        &self,
        ctx: &RequestContext,
        input: BackupArnInput,
    ) -> Result<DescribeBackupOutput, ApiError> {
        let backup = self.get_backup(ctx, &input.backup_arn)?;
        Ok(DescribeBackupOutput { backup_description: backup.description("AVAILABLE") })
    }

    pub async fn delete_backup(
        &self,
        ctx: &RequestContext,
        input: BackupArnInput,
    ) -> Result<DescribeBackupOutput, ApiError> {
        let _ddl = self.ddl.lock().await;
        let backup = self.get_backup(ctx, &input.backup_arn)?;
        let mut batch = WriteBatch::new();
        batch.delete(&self.catalog_tree, backup_key(&backup.region, &backup.arn));
        let ticket = self.storage.commit(batch).map_err(storage_error)?;
        self.storage.durability().wait(ticket).await.map_err(storage_error)?;
        self.storage.drop_tree(&backup.tree).map_err(storage_error)?;
        Ok(DescribeBackupOutput { backup_description: backup.description("DELETED") })
    }

    pub fn list_backups(&self, ctx: &RequestContext, input: ListBackupsInput) -> Result<ListBackupsOutput, ApiError> {
        let mut c = Constraints::new();
        c.optional_table_name("tableName", &input.table_name);
        c.at_least("limit", input.limit, 1);
        c.at_most("limit", input.limit, 100);
        c.one_of("backupType", &input.backup_type, &["USER", "SYSTEM", "AWS_BACKUP", "ALL"]);
        c.finish()?;
        let mut all: Vec<BackupMeta> = self
            .backups(&ctx.region)?
            .into_iter()
            .filter(|b| input.table_name.as_ref().is_none_or(|t| *t == b.table.name))
            .filter(|b| ctx.may_list(&b.arn))
            .filter(|b| input.time_range_lower_bound.is_none_or(|lo| b.created >= lo))
            .filter(|b| input.time_range_upper_bound.is_none_or(|hi| b.created < hi))
            .filter(|_| !matches!(input.backup_type.as_deref(), Some("SYSTEM") | Some("AWS_BACKUP")))
            .collect();
        all.sort_by(|a, b| a.created.total_cmp(&b.created).then_with(|| a.arn.cmp(&b.arn)));
        let start = match &input.exclusive_start_backup_arn {
            Some(arn) => all.iter().position(|b| &b.arn == arn).map_or(0, |i| i + 1),
            None => 0,
        };
        let limit = input.limit.unwrap_or(100) as usize;
        let page: Vec<&BackupMeta> = all.iter().skip(start).take(limit).collect();
        let more = start + page.len() < all.len();
        Ok(ListBackupsOutput {
            last_evaluated_backup_arn: if more { page.last().map(|b| b.arn.clone()) } else { None },
            backup_summaries: page
                .into_iter()
                .map(|b| BackupSummary {
                    table_name: b.table.name.clone(),
                    table_id: b.table.id.clone(),
                    table_arn: b.table.arn.clone(),
                    backup_arn: b.arn.clone(),
                    backup_name: b.name.clone(),
                    backup_creation_date_time: b.created,
                    backup_status: "AVAILABLE",
                    backup_type: "USER",
                    backup_size_bytes: b.size_bytes,
                })
                .collect(),
        })
    }

    pub async fn restore_table_from_backup(
        &self,
        ctx: &RequestContext,
        input: RestoreInput,
    ) -> Result<crate::tables::TableDescriptionOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("targetTableName", &input.target_table_name);
        c.required("backupArn", &input.backup_arn);
        c.finish()?;
        let backup = self.get_backup(ctx, &input.backup_arn)?;
        let tree = self.storage.open_tree(&backup.tree).map_err(storage_error)?;
        let summary = RestoreSummary {
            source_backup_arn: Some(backup.arn.clone()),
            source_table_arn: Some(backup.table.arn.clone()),
            restore_date_time: backup.created,
            restore_in_progress: false,
        };
        self.restore(ctx, &backup.table, &input, summary, |engine, target| {
            Box::pin(async move { engine.copy_items(&tree, target).await })
        })
        .await
    }

    pub async fn restore_table_to_point_in_time(
        &self,
        ctx: &RequestContext,
        input: RestoreInput,
    ) -> Result<crate::tables::TableDescriptionOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("targetTableName", &input.target_table_name);
        c.optional_table_name("sourceTableName", &input.source_table_name);
        c.finish()?;
        let Some(source_name) = input.source_table_name() else {
            return Err(ApiError::validation("Either SourceTableArn or SourceTableName must be specified"));
        };
        let source = self.find_request_table(ctx, &source_name).ok_or_else(|| table_not_found(&source_name))?;
        let log = source.pitr.read().clone().ok_or_else(|| {
            ApiError::new(
                ErrorKind::PointInTimeRecoveryUnavailable,
                format!("Point in time recovery is not enabled for table '{source_name}'"),
            )
        })?;
        let (earliest, latest) = restorable_window(log.meta.enabled_at, log.period_days());
        let at = match (input.use_latest_restorable_time.unwrap_or(false), input.restore_date_time) {
            (true, Some(_)) => {
                return Err(ApiError::validation(
                    "Only one of RestoreDateTime or UseLatestRestorableTime can be specified",
                ))
            }
            (true, None) => latest,
            (false, Some(t)) => t,
            (false, None) => {
                return Err(ApiError::validation("Either RestoreDateTime or UseLatestRestorableTime must be specified"))
            }
        };
        if at < earliest || at > latest {
            return Err(ApiError::new(
                ErrorKind::InvalidRestoreTime,
                format!("RestoreDateTime {at} is not within the restorable window: {earliest} to {latest}"),
            ));
        }
        let cut = (at * 1_000_000.0) as u64;
        let source_meta = source.meta.read().clone();
        let summary = RestoreSummary {
            source_backup_arn: None,
            source_table_arn: Some(source_meta.arn.clone()),
            restore_date_time: at,
            restore_in_progress: false,
        };
        self.restore(ctx, &source_meta, &input, summary, |engine, target| {
            Box::pin(async move { engine.copy_as_of(&source, &log, cut, target).await })
        })
        .await
    }

    /// Creates the restore target from `from` (with the request's overrides), fills it with
    /// `fill`, and only then makes it visible.
    async fn restore<F>(
        &self,
        ctx: &RequestContext,
        from: &TableMeta,
        input: &RestoreInput,
        summary: RestoreSummary,
        fill: F,
    ) -> Result<crate::tables::TableDescriptionOutput, ApiError>
    where
        F: for<'a> FnOnce(
            &'a Engine,
            &'a TableRef,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ApiError>> + Send + 'a>>,
    {
        let target_name = input.target_table_name.clone().unwrap_or_default();
        let _ddl = self.ddl.lock().await;
        if self.name_taken(&ctx.region, &target_name) {
            return Err(ApiError::new(ErrorKind::TableAlreadyExists, format!("Table already exists: {target_name}")));
        }
        let mut meta = from.clone();
        let id = crate::tables::new_table_id();
        meta.region = ctx.region.clone();
        meta.name = target_name.clone();
        meta.arn = format!("arn:aws:dynamodb:{}:{}:table/{target_name}", ctx.region, self.config.account_id);
        meta.items_tree = items_tree_name(&id);
        meta.id = id;
        meta.creation_time = now_seconds();
        if let Some(mode) = &input.billing_mode_override {
            meta.billing_mode = mode.clone();
        }
        if let Some(pt) = &input.provisioned_throughput_override {
            meta.read_capacity_units = pt.read_capacity_units.unwrap_or(meta.read_capacity_units);
            meta.write_capacity_units = pt.write_capacity_units.unwrap_or(meta.write_capacity_units);
        }
        if let Some(gsis) = &input.global_secondary_index_override {
            let names: Vec<&str> = gsis.iter().filter_map(|g| g.index_name.as_deref()).collect();
            meta.indexes.retain(|i| !i.global || names.contains(&i.name.as_str()));
        }
        if let Some(lsis) = &input.local_secondary_index_override {
            let names: Vec<&str> = lsis.iter().filter_map(|l| l.index_name.as_deref()).collect();
            meta.indexes.retain(|i| i.global || names.contains(&i.name.as_str()));
        }
        for i in 0..meta.indexes.len() {
            meta.indexes[i].tree = meta.allocate_tree(TreeKind::Index);
            meta.indexes[i].active = true;
        }
        // What DynamoDB does not restore: streams, TTL, recovery settings, tags, protection.
        meta.streams = Vec::new();
        meta.ttl_attribute = None;
        meta.expiry = None;
        meta.pitr = None;
        meta.tags = Vec::new();
        meta.deletion_protection = false;
        meta.restore_summary = Some(summary);
        meta.restoring = true;
        self.replace_meta_record(&meta).await?;
        let target = Arc::new(load_table(self.storage.as_ref(), &self.catalog_tree, meta).map_err(storage_error)?);
        if let Err(e) = fill(self, &target).await {
            let meta = target.meta.read().clone();
            if let Err(d) = discard_partial_restore(self.storage.as_ref(), &self.catalog_tree, &meta) {
                tracing::error!(error = %d, "could not discard a failed restore");
            }
            return Err(e);
        }
        let mut meta = target.meta.read().clone();
        meta.restoring = false;
        self.replace_meta(&target, meta).await?;
        self.tables.write().insert((ctx.region.clone(), target_name.clone()), target.clone());
        tracing::info!(table = %target_name, items = target.item_count(), "table restored");
        Ok(crate::tables::TableDescriptionOutput { table_description: crate::tables::describe(&target, "CREATING") })
    }

    async fn replace_meta_record(&self, meta: &TableMeta) -> Result<(), ApiError> {
        let mut batch = WriteBatch::new();
        let json = serde_json::to_vec(meta).expect("table metadata serialises");
        batch.put(&self.catalog_tree, table_key(&meta.region, &meta.name), json);
        let ticket = self.storage.commit(batch).map_err(storage_error)?;
        self.storage.durability().wait(ticket).await.map_err(storage_error)
    }

    /// Writes every item of `source` (a table or backup tree) into the new table `target`.
    async fn copy_items(&self, source: &TreeHandle, target: &TableRef) -> Result<(), ApiError> {
        let mut staging = Staging::for_copy();
        let mut staged = 0;
        for entry in source.range(Bound::Unbounded, Bound::Unbounded, false) {
            let (k, v) = entry.map_err(storage_error)?;
            let item = decode_item(&v).map_err(|_| ApiError::internal())?;
            staging.stage(target, &k, None, Some(&item), Origin::Client)?;
            staged += 1;
            if staged >= COPY_CHUNK_ITEMS {
                self.commit_staging(std::mem::replace(&mut staging, Staging::for_copy())).await?;
                staged = 0;
            }
        }
        self.commit_staging(staging).await
    }

    async fn commit_staging(&self, staging: Staging) -> Result<(), ApiError> {
        if staging.is_empty() {
            return Ok(());
        }
        let (batch, published) = staging.finish(&self.catalog_tree);
        let ticket = self.storage.commit(batch).map_err(storage_error)?;
        published.apply();
        self.storage.durability().wait(ticket).await.map_err(storage_error)
    }

    /// Fills `target` with `source` as it was at `cut` (µs): a copy of now, then every key
    /// changed after `cut` set back to its oldest logged previous version.
    async fn copy_as_of(&self, source: &TableRef, log: &PitrLog, cut: u64, target: &TableRef) -> Result<(), ApiError> {
        let guards = lock_all(source).await;
        self.copy_items(&source.items, target).await?;
        let tail = match log.tree.range(Bound::Unbounded, Bound::Unbounded, true).next() {
            Some(entry) => Some(entry.map_err(storage_error)?.0),
            None => None,
        };
        drop(guards);
        let Some(tail) = tail else { return Ok(()) };
        let mut lower = cut.to_be_bytes().to_vec();
        lower.extend_from_slice(&u64::MAX.to_be_bytes());
        // Newest first: the last write to the map for a key is its oldest undo after the cut.
        let mut undo: BTreeMap<Vec<u8>, Option<Item>> = BTreeMap::new();
        for entry in log.tree.range(Bound::Excluded(&lower), Bound::Included(&tail), true) {
            let (_, v) = entry.map_err(storage_error)?;
            let (key, old) = decode_entry(&v).ok_or_else(ApiError::internal)?;
            undo.insert(key, old);
        }
        let mut staging = Staging::for_copy();
        let mut staged = 0;
        for (key, old) in undo {
            let current = self.read_item(target, &key)?;
            staging.stage(target, &key, current.as_ref(), old.as_ref(), Origin::Client)?;
            staged += 1;
            if staged >= COPY_CHUNK_ITEMS {
                self.commit_staging(std::mem::replace(&mut staging, Staging::for_copy())).await?;
                staged = 0;
            }
        }
        self.commit_staging(staging).await
    }

    pub async fn update_continuous_backups(
        &self,
        ctx: &RequestContext,
        input: UpdateContinuousBackupsInput,
    ) -> Result<ContinuousBackupsOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.required("pointInTimeRecoverySpecification", &input.point_in_time_recovery_specification);
        if let Some(spec) = &input.point_in_time_recovery_specification {
            c.required(
                "pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled",
                &spec.point_in_time_recovery_enabled,
            );
            c.at_least("pointInTimeRecoverySpecification.recoveryPeriodInDays", spec.recovery_period_in_days, 1);
            c.at_most(
                "pointInTimeRecoverySpecification.recoveryPeriodInDays",
                spec.recovery_period_in_days,
                RECOVERY_PERIOD_DAYS_MAX,
            );
        }
        c.finish()?;
        let spec = input.point_in_time_recovery_specification.unwrap_or_default();
        let name = input.table_name.unwrap_or_default();
        let _ddl = self.ddl.lock().await;
        let table = self.find_request_table(ctx, &name).ok_or_else(|| table_not_found(&name))?;
        let mut meta = table.meta.read().clone();
        let enable = spec.point_in_time_recovery_enabled.unwrap_or(false);
        let period = spec.recovery_period_in_days.unwrap_or(RECOVERY_PERIOD_DAYS_MAX);
        match (&mut meta.pitr, enable) {
            (Some(p), true) => p.recovery_period_days = period,
            (None, true) => {
                let pm = PitrMeta {
                    tree: meta.allocate_tree(TreeKind::RecoveryLog),
                    enabled_at: now_seconds(),
                    recovery_period_days: period,
                };
                let tree = self.storage.open_tree(&pm.tree).map_err(storage_error)?;
                meta.pitr = Some(pm.clone());
                self.replace_meta(&table, meta).await?;
                *table.pitr.write() = Some(Arc::new(PitrLog::open(pm, tree).map_err(storage_error)?));
                return Ok(self.continuous_backups(&table));
            }
            (Some(_), false) => {
                // Turning recovery off forgets its history, as in DynamoDB.
                let guards = lock_all(&table).await;
                let old = meta.pitr.take();
                self.replace_meta(&table, meta).await?;
                *table.pitr.write() = None;
                drop(guards);
                if let Some(old) = old {
                    self.storage.drop_tree(&old.tree).map_err(storage_error)?;
                }
                return Ok(self.continuous_backups(&table));
            }
            (None, false) => {}
        }
        self.replace_meta(&table, meta).await?;
        if let Some(log) = table.pitr.read().clone() {
            // Only the period changed; the live log keeps its tree and counters.
            log.period_days.store(period, Ordering::Relaxed);
        }
        Ok(self.continuous_backups(&table))
    }

    fn continuous_backups(&self, table: &Table) -> ContinuousBackupsOutput {
        let meta = table.meta.read();
        let pitr = meta.pitr.as_ref().map(|p| restorable_window(p.enabled_at, p.recovery_period_days));
        ContinuousBackupsOutput {
            continuous_backups_description: ContinuousBackupsDescription {
                continuous_backups_status: "ENABLED",
                point_in_time_recovery_description: PointInTimeRecoveryDescription {
                    point_in_time_recovery_status: if pitr.is_some() { "ENABLED" } else { "DISABLED" },
                    earliest_restorable_date_time: pitr.map(|(e, _)| e),
                    latest_restorable_date_time: pitr.map(|(_, l)| l),
                    recovery_period_in_days: meta.pitr.as_ref().map(|p| p.recovery_period_days),
                },
            },
        }
    }

    pub fn describe_continuous_backups(
        &self,
        ctx: &RequestContext,
        input: TableNameInput,
    ) -> Result<ContinuousBackupsOutput, ApiError> {
        let mut c = Constraints::new();
        c.table_name("tableName", &input.table_name);
        c.finish()?;
        let name = input.table_name.unwrap_or_default();
        let table = self.find_request_table(ctx, &name).ok_or_else(|| table_not_found(&name))?;
        Ok(self.continuous_backups(&table))
    }

    /// Deletes one table's recovery-log entries older than its recovery period.
    pub(crate) async fn trim_recovery_log(&self, table: &TableRef) -> Result<(), ApiError> {
        let Some(log) = table.pitr.read().clone() else { return Ok(()) };
        let cutoff = now_micros().saturating_sub(log.period_days().max(1) as u64 * 86_400 * 1_000_000);
        let mut batch = WriteBatch::new();
        for entry in log.tree.range(Bound::Unbounded, Bound::Excluded(&cutoff.to_be_bytes()), false).take(10_000) {
            batch.delete(&log.tree, entry.map_err(storage_error)?.0);
        }
        if !batch.is_empty() {
            let ticket = self.storage.commit(batch).map_err(storage_error)?;
            self.storage.durability().wait(ticket).await.map_err(storage_error)?;
        }
        Ok(())
    }
}

/// The restorable window of a recovery log: (earliest, latest) in seconds since the epoch.
fn restorable_window(enabled_at: f64, period_days: i64) -> (f64, f64) {
    let now = now_seconds();
    let period_start = now - period_days as f64 * 86_400.0;
    (enabled_at.max(period_start), now)
}

/// Holds every partition writer of a table, in partition order.
pub(crate) async fn lock_all(table: &Table) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
    let mut guards = Vec::with_capacity(PARTITIONS_PER_TABLE);
    for p in &table.partitions {
        guards.push(p.writer.lock().await);
    }
    guards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_entries_round_trip() {
        let storage = flywheel_storage::memory::MemoryStorage::new();
        let tree = storage.open_tree("log").unwrap();
        let log =
            PitrLog::open(PitrMeta { tree: "log".into(), enabled_at: 0.0, recovery_period_days: 35 }, tree).unwrap();
        let item: Item = [("a".to_string(), flywheel_types::AttributeValue::S("x".into()))].into_iter().collect();
        let (k1, v1) = log.entry(b"key-1", Some(&item));
        let (k2, v2) = log.entry(b"key-2", None);
        assert!(k1 < k2, "entries are ordered by time, then sequence");
        assert_eq!(decode_entry(&v1), Some((b"key-1".to_vec(), Some(item))));
        assert_eq!(decode_entry(&v2), Some((b"key-2".to_vec(), None)));
        assert_eq!(decode_entry(&[0, 0, 0, 9, 1]), None);
    }
}
