//! Offline tools over a data directory: `flywheel backup`, `restore`, `export` and `import`.
//!
//! They open the data directory themselves, so no server may be running on it: the storage
//! layer's lock (see `DiskStorage::open`) turns them away if one is, and turns a server away
//! while a tool runs.
//!
//! - **backup / restore** copy every storage tree key by key into a fresh store (never over an
//!   existing one), wait until the copy is durable and verify it by counting each tree's keys. A
//!   backup directory is itself a complete data directory plus `flywheel-backup.json`, its
//!   manifest (written last, so an interrupted backup has none and cannot be restored); restore
//!   checks the copy against the manifest's counts.
//! - **export** runs consistent Scan pages through [`Engine::dispatch`], exactly as a client
//!   would, and writes one item per line: `dynamodb-json` is DynamoDB's S3 export format
//!   (`{"Item":{…attribute values…}}`); `json-lines` is plain JSON, mapped as [`plain_value`]
//!   says.
//! - **import** reads DynamoDB's S3 export format (plain or gzip) and writes it with
//!   BatchWriteItem in 25-item batches, a few batches in flight so they share group commits. It
//!   is resumable: see [`ImportProgress`].
//!
//! What they are not: online. A live server backs up tables with CreateBackup and point-in-time
//! recovery (`flywheel-engine`'s `backups.rs`); these tools are for moving whole data
//! directories and table contents in and out while the server is stopped.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use flywheel_engine::{Engine, EngineConfig, RequestContext};
use flywheel_protocol::{ApiError, ErrorKind, Operation};
use flywheel_storage::disk::{DiskOptions, DiskStorage};
use flywheel_storage::{Storage, StorageError, Ticket, WriteBatch};
use flywheel_types::limits::BATCH_WRITE_ITEMS_MAX;
use flywheel_types::Number;
use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The first arguments that select a tool instead of the server.
pub const TOOL_NAMES: [&str; 4] = ["backup", "restore", "export", "import"];

/// The tools, as `flywheel --help` lists them.
pub const TOOLS_HELP: &str = "\
Offline tools (see `flywheel TOOL --help`; no server may be running on the data directory):
  flywheel backup --data-dir SRC DEST_DIR         copy a data directory into a new backup
  flywheel restore BACKUP_DIR --data-dir DEST     copy a backup into a new data directory
  flywheel export TABLE --format dynamodb-json|json-lines [--out FILE]
  flywheel import FILE --table TABLE              load a DynamoDB S3 export (JSON, gzip or not)";

/// The backup's manifest, written last into the backup directory.
const MANIFEST_FILE: &str = "flywheel-backup.json";

/// Copy batches: big enough that commits are cheap, small enough to bound memory.
const COPY_BATCH_KEYS_MAX: usize = 1024;
const COPY_BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Import batches written concurrently. Each BatchWriteItem waits for its group commit; a few in
/// flight share fsyncs instead of queueing behind each other.
const IMPORT_BATCHES_IN_FLIGHT: usize = 4;

/// How often an import rewrites its progress file at most. A kill loses at most this much
/// progress, which the next run writes again (puts are idempotent).
const IMPORT_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// The region the tools address when `--region` is not given.
const DEFAULT_REGION: &str = "us-east-1";

/// Runs a tool if the command line asks for one (`flywheel backup …`), else returns `None` and
/// the caller serves.
pub fn run_if_requested() -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let first = args.get(1)?.to_str()?;
    TOOL_NAMES.contains(&first).then(|| main(args))
}

/// Parses the tool's command line (program name first) and runs it.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = match ToolsCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLYWHEEL_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let name = cli.tool.name();
    let result = match cli.tool {
        Tool::Backup { data_dir, dest_dir } => backup(&data_dir, &dest_dir),
        Tool::Restore { backup_dir, data_dir } => restore(&backup_dir, &data_dir),
        Tool::Export { table, data_dir, region, format, out } => {
            export(&table, &data_dir, &region, format, out.as_deref())
        }
        Tool::Import { file, data_dir, table, region, progress } => {
            let progress = progress.unwrap_or_else(|| default_progress_path(&file));
            import(&file, &data_dir, &table, &region, &progress)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flywheel {name}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Flywheel's offline tools.
#[derive(Parser, Debug)]
#[command(name = "flywheel", version, about)]
struct ToolsCli {
    #[command(subcommand)]
    tool: Tool,
}

#[derive(Subcommand, Debug)]
enum Tool {
    /// Copy a data directory (no server running on it) into a new backup directory.
    Backup {
        /// The data directory to back up (the server's --data-dir).
        #[arg(long, env = "FLYWHEEL_DATA_DIR", default_value = "./flywheel-data")]
        data_dir: PathBuf,
        /// Where to write the backup: a new or empty directory.
        dest_dir: PathBuf,
    },
    /// Copy a backup into a new data directory, ready to serve.
    Restore {
        /// A directory written by `flywheel backup`.
        backup_dir: PathBuf,
        /// The data directory to create: a new or empty directory.
        #[arg(long, env = "FLYWHEEL_DATA_DIR", default_value = "./flywheel-data")]
        data_dir: PathBuf,
    },
    /// Write every item of a table, one per line.
    Export {
        /// The table to export.
        table: String,
        /// The data directory holding the table (the server's --data-dir).
        #[arg(long, env = "FLYWHEEL_DATA_DIR", default_value = "./flywheel-data")]
        data_dir: PathBuf,
        /// The table's region.
        #[arg(long, default_value = DEFAULT_REGION)]
        region: String,
        /// dynamodb-json: DynamoDB's S3 export format; json-lines: plain JSON objects.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Output file (written as FILE.partial, renamed when complete); standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Load a DynamoDB S3 export (`{"Item": {...}}` per line, gzip or not) into an existing
    /// table; re-run after an interruption to continue where it stopped.
    Import {
        /// The export file (.json or .json.gz; gzip is recognised by its first bytes).
        file: PathBuf,
        /// The data directory holding the table (the server's --data-dir).
        #[arg(long, env = "FLYWHEEL_DATA_DIR", default_value = "./flywheel-data")]
        data_dir: PathBuf,
        /// The table to write into; it must exist.
        #[arg(long)]
        table: String,
        /// The table's region.
        #[arg(long, default_value = DEFAULT_REGION)]
        region: String,
        /// Where to record progress [default: FILE.import-progress].
        #[arg(long)]
        progress: Option<PathBuf>,
    },
}

impl Tool {
    fn name(&self) -> &'static str {
        match self {
            Tool::Backup { .. } => "backup",
            Tool::Restore { .. } => "restore",
            Tool::Export { .. } => "export",
            Tool::Import { .. } => "import",
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ExportFormat {
    /// `{"Item":{...}}` per line, attribute values typed as DynamoDB's JSON has them.
    DynamodbJson,
    /// One plain JSON object per line.
    JsonLines,
}

/// Why a tool failed, as a sentence for the terminal.
#[derive(Debug)]
pub struct ToolError(String);

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ToolError {}

impl From<StorageError> for ToolError {
    fn from(e: StorageError) -> ToolError {
        ToolError(e.to_string())
    }
}

impl From<ApiError> for ToolError {
    fn from(e: ApiError) -> ToolError {
        ToolError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, ToolError>;

fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(ToolError(message.into()))
}

/// Adds what was being done to an error.
trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ToolError(format!("{}: {e}", what())))
    }
}

// ---------------------------------------------------------------------------------------------
// Data directories

fn is_empty_dir(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => fail(format!("cannot read {}: {e}", dir.display())),
    }
}

/// Opens an existing store. `DiskStorage::open` would create a missing one; a tool reading a
/// data directory must never invent an empty one instead.
fn open_existing(dir: &Path) -> Result<DiskStorage> {
    if !dir.is_dir() || is_empty_dir(dir)? {
        return fail(format!("no data directory at {}", dir.display()));
    }
    DiskStorage::open(dir, DiskOptions::default()).context(|| format!("cannot open {}", dir.display()))
}

/// Creates a store in a directory that does not exist or is empty.
fn create_fresh(dir: &Path) -> Result<DiskStorage> {
    if !is_empty_dir(dir)? {
        return fail(format!("{} is not empty; choose a new or empty directory", dir.display()));
    }
    DiskStorage::open(dir, DiskOptions::default()).context(|| format!("cannot create {}", dir.display()))
}

/// Writes a small file so that it is complete or absent, even across a crash.
fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_parent(path)
    };
    write().context(|| format!("cannot write {}", path.display()))
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

fn progress_bar(length: Option<u64>, template: &str) -> ProgressBar {
    let bar = match length {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    bar.set_style(ProgressStyle::with_template(template).expect("progress template is valid"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn per_second(count: u64, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64().max(1e-6)
}

// ---------------------------------------------------------------------------------------------
// backup and restore

/// On disk: the backup's manifest, `flywheel-backup.json`. Format version 1.
#[derive(Serialize, Deserialize, Debug)]
struct Manifest {
    format_version: u32,
    created_unix_ms: u64,
    /// The data directory the backup was taken from.
    source: String,
    /// Every tree with its key count and key + value bytes.
    trees: Vec<TreeCount>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct TreeCount {
    name: String,
    keys: u64,
    bytes: u64,
}

fn backup(source_dir: &Path, dest_dir: &Path) -> Result<()> {
    let started = Instant::now();
    let source = open_existing(source_dir)?;
    let dest = create_fresh(dest_dir)?;
    let trees = copy_store(&source, &dest, None)?;
    source.close()?;
    let manifest = Manifest {
        format_version: 1,
        created_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        source: source_dir.display().to_string(),
        trees,
    };
    let text = serde_json::to_vec_pretty(&manifest).context(|| "cannot encode the manifest".to_string())?;
    write_file_durably(&dest_dir.join(MANIFEST_FILE), &text)?;
    report_copy("backed up", source_dir, dest_dir, &manifest.trees, started);
    Ok(())
}

fn restore(backup_dir: &Path, dest_dir: &Path) -> Result<()> {
    let started = Instant::now();
    let manifest_path = backup_dir.join(MANIFEST_FILE);
    let text = match std::fs::read(&manifest_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(format!(
                "{} is not a complete Flywheel backup: it has no {MANIFEST_FILE} (a backup writes it last)",
                backup_dir.display()
            ))
        }
        Err(e) => return fail(format!("cannot read {}: {e}", manifest_path.display())),
    };
    let manifest: Manifest =
        serde_json::from_slice(&text).context(|| format!("{} is corrupt", manifest_path.display()))?;
    if manifest.format_version != 1 {
        return fail(format!(
            "{} has format version {}; this flywheel reads 1",
            manifest_path.display(),
            manifest.format_version
        ));
    }
    let source = open_existing(backup_dir)?;
    let dest = create_fresh(dest_dir)?;
    let trees = copy_store(&source, &dest, Some(&manifest.trees))?;
    source.close()?;
    let mut want = manifest.trees.clone();
    want.sort_by(|a, b| a.name.cmp(&b.name));
    if trees != want {
        return fail(format!(
            "the backup in {} does not match its manifest (it was changed after it was written); {} is incomplete",
            backup_dir.display(),
            dest_dir.display()
        ));
    }
    report_copy("restored", backup_dir, dest_dir, &trees, started);
    Ok(())
}

fn report_copy(done: &str, from: &Path, to: &Path, trees: &[TreeCount], started: Instant) {
    let keys: u64 = trees.iter().map(|t| t.keys).sum();
    let bytes: u64 = trees.iter().map(|t| t.bytes).sum();
    eprintln!(
        "{done} {} into {}: {} trees, {} keys, {} in {:.1} s ({}/s); verified",
        from.display(),
        to.display(),
        trees.len(),
        HumanCount(keys),
        HumanBytes(bytes),
        started.elapsed().as_secs_f64(),
        HumanBytes(per_second(bytes, started) as u64),
    );
}

/// Copies every tree of `source` into the empty `dest`, makes the copy durable, verifies it by
/// counting each tree's keys (and their bytes) in the copy, and closes `dest`. Returns the trees
/// sorted by name.
fn copy_store(source: &DiskStorage, dest: &DiskStorage, expected: Option<&[TreeCount]>) -> Result<Vec<TreeCount>> {
    let mut names = source.tree_names()?;
    names.sort();
    let bar = match expected {
        Some(trees) => progress_bar(
            Some(trees.iter().map(|t| t.keys).sum()),
            "[{elapsed_precise}] {wide_bar} {human_pos}/{human_len} keys ({per_sec}, eta {eta}) {msg}",
        ),
        None => progress_bar(None, "{spinner} [{elapsed_precise}] {human_pos} keys ({per_sec}) {msg}"),
    };
    let started = Instant::now();
    let mut bytes_copied = 0u64;
    let mut last_ticket: Ticket = 0;
    let mut copied = Vec::with_capacity(names.len());
    for name in &names {
        let from = source.open_tree(name)?;
        let to = dest.open_tree(name)?;
        let mut count = TreeCount { name: name.clone(), keys: 0, bytes: 0 };
        let mut batch = WriteBatch::new();
        let mut batch_bytes = 0usize;
        let mut entries = from.range(Bound::Unbounded, Bound::Unbounded, false).peekable();
        while let Some(entry) = entries.next() {
            let (key, value) = entry?;
            let size = key.len() + value.len();
            count.keys += 1;
            count.bytes += size as u64;
            batch_bytes += size;
            batch.put(&to, key, value);
            let last = entries.peek().is_none();
            if last || batch.len() >= COPY_BATCH_KEYS_MAX || batch_bytes >= COPY_BATCH_BYTES_MAX {
                let keys = batch.len() as u64;
                last_ticket = dest.commit(std::mem::take(&mut batch))?;
                bytes_copied += batch_bytes as u64;
                batch_bytes = 0;
                bar.inc(keys);
                bar.set_message(format!(
                    "{}, {}/s; tree {name}",
                    HumanBytes(bytes_copied),
                    HumanBytes(per_second(bytes_copied, started) as u64)
                ));
            }
        }
        copied.push(count);
    }
    dest.durability().wait_blocking(last_ticket)?;
    bar.set_message("verifying the copy");
    let mut copy_names = dest.tree_names()?;
    copy_names.sort();
    if copy_names != names {
        return fail(format!("the copy has trees {copy_names:?}, the source {names:?}"));
    }
    for tree in &copied {
        let (mut keys, mut bytes) = (0u64, 0u64);
        for entry in dest.open_tree(&tree.name)?.range(Bound::Unbounded, Bound::Unbounded, false) {
            let (key, value) = entry?;
            keys += 1;
            bytes += (key.len() + value.len()) as u64;
        }
        if (keys, bytes) != (tree.keys, tree.bytes) {
            return fail(format!(
                "tree {} has {keys} keys ({bytes} bytes) in the copy but {} ({} bytes) in the source",
                tree.name, tree.keys, tree.bytes
            ));
        }
    }
    dest.close()?;
    bar.finish_and_clear();
    Ok(copied)
}

// ---------------------------------------------------------------------------------------------
// The engine, offline

/// An engine over a data directory, with a runtime to drive it.
struct Offline {
    engine: Arc<Engine>,
    runtime: tokio::runtime::Runtime,
    region: String,
}

impl Offline {
    fn open(data_dir: &Path, region: &str) -> Result<Offline> {
        let storage: Arc<dyn Storage> = Arc::new(open_existing(data_dir)?);
        let engine = Engine::open(storage, EngineConfig::default())
            .context(|| format!("cannot open the tables in {}", data_dir.display()))?;
        // Two workers: import's batches in flight run there while this thread reads the file.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context(|| "cannot start the runtime".to_string())?;
        Ok(Offline { engine: Arc::new(engine), runtime, region: region.to_string() })
    }

    /// One operation, as a client would send it.
    fn call(&self, op: Operation, body: &Value) -> std::result::Result<Value, ApiError> {
        self.runtime.block_on(dispatch(&self.engine, &self.region, op, body))
    }

    /// The table's key attribute names and item count; an error if it does not exist.
    fn describe(&self, table: &str) -> Result<(Vec<String>, u64)> {
        let described = match self.call(Operation::DescribeTable, &json!({ "TableName": table })) {
            Ok(d) => d,
            Err(e) if e.kind == ErrorKind::ResourceNotFound => {
                return fail(format!("there is no table {table} in region {}", self.region))
            }
            Err(e) => return Err(e.into()),
        };
        let keys = described["Table"]["KeySchema"]
            .as_array()
            .map(|schema| schema.iter().filter_map(|k| k["AttributeName"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        Ok((keys, described["Table"]["ItemCount"].as_u64().unwrap_or(0)))
    }

    fn close(self) -> Result<()> {
        Ok(self.engine.close()?)
    }
}

async fn dispatch(engine: &Engine, region: &str, op: Operation, body: &Value) -> std::result::Result<Value, ApiError> {
    let ctx = RequestContext::new(region, "localhost");
    let body = serde_json::to_vec(body).map_err(|e| ApiError::serialization(e.to_string()))?;
    let out = engine.dispatch(&ctx, op, &body).await?;
    serde_json::from_slice(&out).map_err(|e| ApiError::serialization(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// export

fn export(table: &str, data_dir: &Path, region: &str, format: ExportFormat, out: Option<&Path>) -> Result<()> {
    let started = Instant::now();
    let offline = Offline::open(data_dir, region)?;
    let (_, item_count) = offline.describe(table)?;
    // A file is written under a temporary name and renamed when complete, so an interrupted
    // export never leaves a file that looks whole.
    let partial = out.map(|path| {
        let mut name = path.file_name().map(OsString::from).unwrap_or_default();
        name.push(".partial");
        path.with_file_name(name)
    });
    let mut writer: Box<dyn Write> = match &partial {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).context(|| format!("cannot create {}", path.display()))?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let bar = progress_bar(
        Some(item_count),
        "[{elapsed_precise}] {wide_bar} {human_pos}/{human_len} items ({per_sec}, eta {eta})",
    );
    let output_name = || out.map_or("standard output".to_string(), |p| p.display().to_string());
    let mut exported = 0u64;
    let mut start_key: Option<Value> = None;
    let mut line = String::new();
    loop {
        let mut request = json!({ "TableName": table, "ConsistentRead": true });
        if let Some(key) = start_key.take() {
            request["ExclusiveStartKey"] = key;
        }
        let page = offline.call(Operation::Scan, &request)?;
        for item in page["Items"].as_array().map(Vec::as_slice).unwrap_or_default() {
            line.clear();
            match format {
                ExportFormat::DynamodbJson => {
                    line.push_str("{\"Item\":");
                    line.push_str(&item.to_string());
                    line.push('}');
                }
                ExportFormat::JsonLines => {
                    let Value::Object(attributes) = item else {
                        return fail(format!("Scan returned an item that is not an object: {item}"));
                    };
                    let plain: Map<String, Value> = attributes
                        .iter()
                        .map(|(name, v)| Ok((name.clone(), plain_value(v)?)))
                        .collect::<Result<_>>()?;
                    line.push_str(&Value::Object(plain).to_string());
                }
            }
            line.push('\n');
            writer.write_all(line.as_bytes()).context(|| format!("cannot write {}", output_name()))?;
            exported += 1;
        }
        bar.set_position(exported);
        match page.get("LastEvaluatedKey") {
            Some(key) if !key.is_null() => start_key = Some(key.clone()),
            _ => break,
        }
    }
    writer.flush().context(|| format!("cannot write {}", output_name()))?;
    drop(writer);
    if let (Some(partial), Some(out)) = (&partial, out) {
        let finish = || -> std::io::Result<()> {
            File::open(partial)?.sync_all()?;
            std::fs::rename(partial, out)?;
            sync_parent(out)
        };
        finish().context(|| format!("cannot write {}", out.display()))?;
    }
    offline.close()?;
    bar.finish_and_clear();
    eprintln!(
        "exported {} items of {table} to {} in {:.1} s ({:.0} items/s)",
        HumanCount(exported),
        output_name(),
        started.elapsed().as_secs_f64(),
        per_second(exported, started)
    );
    Ok(())
}

/// An attribute value (DynamoDB JSON, `{"S": "x"}`) as plain JSON, for `json-lines`:
///
/// | DynamoDB | plain JSON |
/// | --- | --- |
/// | `S` | string |
/// | `N` | number if a double holds exactly its value, else a string with the exact decimal |
/// | `B` | string, base64 |
/// | `BOOL`, `NULL` | `true`/`false`, `null` |
/// | `SS`, `NS`, `BS` | array of the elements, each mapped as above |
/// | `L`, `M` | array, object, elements mapped recursively |
///
/// The mapping loses type information (a set and a list look alike, so do a string and a
/// binary value), so `json-lines` is for other tools to read; `import` reads `dynamodb-json`.
fn plain_value(value: &Value) -> Result<Value> {
    let unexpected = || fail(format!("unexpected attribute value {value}"));
    let Some((tag, inner)) = value.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
        return unexpected();
    };
    let list = |inner: &Value, each: &dyn Fn(&Value) -> Result<Value>| -> Result<Value> {
        match inner.as_array() {
            Some(elements) => elements.iter().map(each).collect::<Result<Vec<_>>>().map(Value::Array),
            None => unexpected(),
        }
    };
    match (tag.as_str(), inner) {
        ("S" | "B", Value::String(_)) | ("BOOL", Value::Bool(_)) => Ok(inner.clone()),
        ("NULL", _) => Ok(Value::Null),
        ("N", Value::String(text)) => Ok(plain_number(text)),
        ("SS" | "BS", _) => list(inner, &|e| Ok(e.clone())),
        ("NS", _) => list(inner, &|e| Ok(e.as_str().map_or_else(|| e.clone(), plain_number))),
        ("L", _) => list(inner, &plain_value),
        ("M", Value::Object(m)) => {
            m.iter().map(|(k, v)| Ok((k.clone(), plain_value(v)?))).collect::<Result<Map<_, _>>>().map(Value::Object)
        }
        _ => unexpected(),
    }
}

/// A DynamoDB number as plain JSON: a JSON number when a double holds exactly the same value,
/// so that a reader parsing it gets the number DynamoDB stored; otherwise (more precision than a
/// double has, or beyond its range) a string with the exact decimal.
fn plain_number(text: &str) -> Value {
    let Ok(number) = Number::parse(text) else { return Value::String(text.to_string()) };
    let exact = number.to_string();
    let double = exact.parse::<f64>().ok().filter(|f| f.is_finite());
    // Rust prints the shortest decimal that reads back as the same double; the double is exact
    // iff that decimal is the DynamoDB number itself.
    if let Some(double) = double.filter(|f| Number::parse(&f.to_string()).is_ok_and(|back| back == number)) {
        if let Some(integer) = number.to_i64() {
            return Value::from(integer);
        }
        if let Some(n) = serde_json::Number::from_f64(double) {
            return Value::Number(n);
        }
    }
    Value::String(exact)
}

// ---------------------------------------------------------------------------------------------
// import

/// On disk: an import's progress, `FILE.import-progress` (or `--progress`). Format version 1.
///
/// Written (atomically: temporary file, fsync, rename) after batches are durable, at most every
/// [`IMPORT_PROGRESS_INTERVAL`]; removed when the import completes. `offset` is the end of the
/// last line such that it and every line before it are written. A re-run continues from there,
/// provided the input's first `offset` bytes are unchanged (their CRC-32 is kept): that is the
/// input's identity that matters, so a file that was only appended to, or fixed after a bad
/// line, resumes correctly. A run killed after writing batches but before recording them
/// writes those lines again on the next run: puts of the same items in the same order, so the
/// table ends up holding exactly the file's items either way.
#[derive(Serialize, Deserialize, Debug)]
struct ImportProgress {
    format_version: u32,
    /// The input as it was named, for messages.
    input: String,
    table: String,
    region: String,
    /// Bytes of the input (after gunzip, for a gzip file) fully imported.
    offset: u64,
    /// CRC-32 of those bytes.
    prefix_crc32: u32,
    /// Lines in those bytes (so error messages keep counting from the file's start).
    line: u64,
    /// Items written from those lines.
    items: u64,
}

/// How far an import got.
#[derive(Clone, Copy, Debug, Default)]
struct Position {
    offset: u64,
    prefix_crc32: u32,
    line: u64,
    items: u64,
}

fn default_progress_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(OsString::from).unwrap_or_default();
    name.push(".import-progress");
    file.with_file_name(name)
}

/// Counts the bytes read from the underlying file, for the progress bar.
struct CountingReader<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A batch being written.
struct InFlight {
    task: tokio::task::JoinHandle<std::result::Result<(), ApiError>>,
    /// Line number and item, kept to find a rejected item's line.
    items: Vec<(u64, Value)>,
    keys: HashSet<String>,
    /// Where the import stands once this batch and every one before it is written.
    end: Position,
}

fn import(file: &Path, data_dir: &Path, table: &str, region: &str, progress_path: &Path) -> Result<()> {
    let started = Instant::now();
    let file_size = std::fs::metadata(file).context(|| format!("cannot read {}", file.display()))?.len();
    let resume = read_progress(progress_path, table, region)?;
    let offline = Offline::open(data_dir, region)?;
    let (key_names, _) = offline
        .describe(table)
        .map_err(|e| ToolError(format!("{e} (import writes into an existing table; create it first)")))?;

    let mut raw = File::open(file).context(|| format!("cannot open {}", file.display()))?;
    let mut magic = [0u8; 2];
    let gzip = raw.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    raw.seek(SeekFrom::Start(0)).context(|| format!("cannot read {}", file.display()))?;
    let raw_read = Arc::new(AtomicU64::new(0));
    let counting = CountingReader { inner: raw, read: raw_read.clone() };
    let mut reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(256 * 1024, flate2::read::MultiGzDecoder::new(counting)))
    } else {
        Box::new(BufReader::with_capacity(256 * 1024, counting))
    };
    let bar = progress_bar(Some(file_size), "[{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})");

    // Skip what an earlier run imported, checking that it is still the same input.
    let mut crc = flate2::Crc::new();
    let mut at = Position::default();
    if let Some(progress) = &resume {
        bar.set_message("checking the part imported before");
        let mut prefix = (&mut reader).take(progress.offset);
        let mut chunk = vec![0u8; 256 * 1024];
        // Counted here: `Crc::amount` is 32 bits and wraps past 4 GiB.
        let mut checked = 0u64;
        loop {
            let n = prefix.read(&mut chunk).context(|| format!("cannot read {}", file.display()))?;
            if n == 0 {
                break;
            }
            crc.update(&chunk[..n]);
            checked += n as u64;
            bar.set_position(raw_read.load(Ordering::Relaxed));
        }
        if checked != progress.offset || crc.sum() != progress.prefix_crc32 {
            return fail(format!(
                "{} changed in its first {} bytes since the import recorded in {} ran; \
                 remove that file to import from the start",
                file.display(),
                progress.offset,
                progress_path.display()
            ));
        }
        at = Position {
            offset: progress.offset,
            prefix_crc32: progress.prefix_crc32,
            line: progress.line,
            items: progress.items,
        };
        eprintln!(
            "resuming the import of {} at line {} ({} items were imported before)",
            file.display(),
            at.line + 1,
            HumanCount(at.items)
        );
    }
    let resumed_items = at.items;

    let mut importer = Importer {
        offline: &offline,
        table,
        file,
        progress_path,
        done: at,
        recorded: None,
        in_flight: VecDeque::new(),
        bar: &bar,
        started,
        resumed_items,
    };
    let runtime_guard = offline.runtime.enter();
    let mut line = Vec::new();
    let mut read = at;
    let mut batch: Vec<(u64, Value)> = Vec::new();
    let mut batch_keys: HashSet<String> = HashSet::new();
    loop {
        line.clear();
        let n = match reader.read_until(b'\n', &mut line) {
            Ok(n) => n,
            Err(e) => {
                importer.finish_in_flight()?;
                let imported = importer.what_was_imported();
                return fail(format!("cannot read {} after line {}: {e}{imported}", file.display(), read.line));
            }
        };
        if n == 0 {
            break;
        }
        let before = read;
        crc.update(&line);
        read.offset += n as u64;
        read.line += 1;
        read.prefix_crc32 = crc.sum();
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let item = match parse_export_line(text) {
            Ok(item) => item,
            Err(e) => {
                importer.finish_in_flight()?;
                return fail(format!("{}: line {}: {e}{}", file.display(), read.line, importer.what_was_imported()));
            }
        };
        let key = key_signature(&item, &key_names);
        // BatchWriteItem refuses two requests for one key, so a repeated key starts a new batch.
        if batch_keys.contains(&key) {
            importer.send(std::mem::take(&mut batch), std::mem::take(&mut batch_keys), before)?;
        }
        batch.push((read.line, item));
        batch_keys.insert(key);
        read.items += 1;
        if batch.len() == BATCH_WRITE_ITEMS_MAX {
            importer.send(std::mem::take(&mut batch), std::mem::take(&mut batch_keys), read)?;
        }
        bar.set_position(raw_read.load(Ordering::Relaxed));
    }
    if !batch.is_empty() {
        importer.send(batch, batch_keys, read)?;
    }
    importer.finish_in_flight()?;
    drop(runtime_guard);
    let imported = importer.done.items;
    offline.close()?;
    match std::fs::remove_file(progress_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return fail(format!("imported, but cannot remove {}: {e}", progress_path.display())),
    }
    bar.finish_and_clear();
    let this_run = imported - resumed_items;
    eprintln!(
        "imported {} items from {} into {table} in {:.1} s ({:.0} items/s){}",
        HumanCount(this_run),
        file.display(),
        started.elapsed().as_secs_f64(),
        per_second(this_run, started),
        if resumed_items > 0 { format!("; {} in all", HumanCount(imported)) } else { String::new() }
    );
    Ok(())
}

/// Reads an existing progress file, if any, and checks it is for this table.
fn read_progress(path: &Path, table: &str, region: &str) -> Result<Option<ImportProgress>> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return fail(format!("cannot read {}: {e}", path.display())),
    };
    let progress: ImportProgress = serde_json::from_slice(&text)
        .context(|| format!("{} is not an import progress file; remove it to import from the start", path.display()))?;
    if progress.format_version != 1 {
        return fail(format!(
            "{} has format version {}; this flywheel reads 1",
            path.display(),
            progress.format_version
        ));
    }
    if progress.table != table || progress.region != region {
        return fail(format!(
            "{} records an import into table {} in {}, not {table} in {region}; remove it to import from the start",
            path.display(),
            progress.table,
            progress.region
        ));
    }
    Ok(Some(progress))
}

/// One line of DynamoDB's S3 export format: `{"Item": {"name": {"S": "…"}, …}}`.
fn parse_export_line(text: &[u8]) -> std::result::Result<Value, String> {
    let mut line: Value = serde_json::from_slice(text).map_err(|e| format!("not valid JSON: {e}"))?;
    match line.get_mut("Item").map(Value::take) {
        Some(item @ Value::Object(_)) => Ok(item),
        _ => Err("expected {\"Item\": {...}}, a line of DynamoDB's S3 export format (DYNAMODB_JSON)".to_string()),
    }
}

/// The item's key, comparable between items (numbers normalised, as DynamoDB compares them).
fn key_signature(item: &Value, key_names: &[String]) -> String {
    let mut signature = String::new();
    for name in key_names {
        match &item[name] {
            Value::Object(m) if m.contains_key("N") => {
                let text = m["N"].as_str().unwrap_or_default();
                signature.push_str(&Number::parse(text).map_or_else(|_| text.to_string(), |n| n.to_string()));
            }
            other => signature.push_str(&other.to_string()),
        }
        signature.push('\0');
    }
    signature
}

/// Writes batches, a few at a time, and records how far the import got.
struct Importer<'a> {
    offline: &'a Offline,
    table: &'a str,
    file: &'a Path,
    progress_path: &'a Path,
    /// Everything up to here is written.
    done: Position,
    /// When the progress file was last written.
    recorded: Option<Instant>,
    in_flight: VecDeque<InFlight>,
    bar: &'a ProgressBar,
    started: Instant,
    resumed_items: u64,
}

impl Importer<'_> {
    fn send(&mut self, items: Vec<(u64, Value)>, keys: HashSet<String>, end: Position) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        // Batches in flight run concurrently, so two that share a key could land in either
        // order: wait for the earlier ones first.
        if self.in_flight.iter().any(|f| !f.keys.is_disjoint(&keys)) {
            self.finish_in_flight()?;
        }
        while self.in_flight.len() >= IMPORT_BATCHES_IN_FLIGHT {
            self.complete_front()?;
        }
        let engine = self.offline.engine.clone();
        let region = self.offline.region.clone();
        let table = self.table.to_string();
        let values: Vec<Value> = items.iter().map(|(_, item)| item.clone()).collect();
        let task = tokio::spawn(async move { write_batch(&engine, &region, &table, values).await });
        self.in_flight.push_back(InFlight { task, items, keys, end });
        Ok(())
    }

    fn finish_in_flight(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.complete_front()?;
        }
        Ok(())
    }

    /// Waits for the oldest batch; on success the import has reached its end.
    fn complete_front(&mut self) -> Result<()> {
        let Some(batch) = self.in_flight.pop_front() else { return Ok(()) };
        let written = match self.offline.runtime.block_on(batch.task) {
            Ok(written) => written,
            Err(e) => Err(ApiError::new(ErrorKind::InternalServerError, format!("the batch's task failed: {e}"))),
        };
        if let Err(e) = written {
            if let Some(failure) = self.find_rejected(&batch.items, e) {
                // Later batches may be written too, but the import has reached only this far.
                for later in self.in_flight.drain(..) {
                    let _ = self.offline.runtime.block_on(later.task);
                }
                let recorded = self.what_was_imported();
                return fail(format!("{}: {failure}{recorded}", self.file.display()));
            }
        }
        self.done = batch.end;
        let this_run = self.done.items - self.resumed_items;
        self.bar.set_message(format!(
            "{} items, {:.0} items/s",
            HumanCount(self.done.items),
            per_second(this_run, self.started)
        ));
        if self.recorded.is_none_or(|t| t.elapsed() >= IMPORT_PROGRESS_INTERVAL) {
            self.record()?;
        }
        Ok(())
    }

    /// After BatchWriteItem refused a batch, puts its items one by one to find the line at
    /// fault. None if each is accepted alone (then the batch is written after all).
    fn find_rejected(&self, items: &[(u64, Value)], batch_error: ApiError) -> Option<String> {
        if !matches!(batch_error.kind, ErrorKind::Validation | ErrorKind::Serialization) {
            let first = items.first().map_or(0, |(line, _)| *line);
            let last = items.last().map_or(0, |(line, _)| *line);
            return Some(format!("writing lines {first}-{last}: {batch_error}"));
        }
        for (line, item) in items {
            let request = json!({ "TableName": self.table, "Item": item });
            if let Err(e) = self.offline.call(Operation::PutItem, &request) {
                return Some(format!("line {line}: {e}"));
            }
        }
        None
    }

    /// Records `done` in the progress file.
    fn record(&mut self) -> Result<()> {
        self.recorded = Some(Instant::now());
        if self.done.offset == 0 {
            return Ok(());
        }
        let progress = ImportProgress {
            format_version: 1,
            input: self.file.display().to_string(),
            table: self.table.to_string(),
            region: self.offline.region.clone(),
            offset: self.done.offset,
            prefix_crc32: self.done.prefix_crc32,
            line: self.done.line,
            items: self.done.items,
        };
        let text = serde_json::to_vec_pretty(&progress).context(|| "cannot encode the import progress".to_string())?;
        write_file_durably(self.progress_path, &text)
    }

    /// For an error message: what is imported and recorded, and how to go on.
    fn what_was_imported(&mut self) -> String {
        if self.done.offset == 0 {
            return String::new();
        }
        match self.record() {
            Ok(()) => format!(
                "\n{} items from lines 1-{} are imported and recorded in {}: \
                 fix the line and run the same command again to continue",
                HumanCount(self.done.items),
                self.done.line,
                self.progress_path.display()
            ),
            Err(e) => format!("\n(and recording the progress failed: {e})"),
        }
    }
}

/// One BatchWriteItem of puts, retrying unprocessed items until all are written.
async fn write_batch(
    engine: &Engine,
    region: &str,
    table: &str,
    items: Vec<Value>,
) -> std::result::Result<(), ApiError> {
    let mut requests: Vec<Value> = items.into_iter().map(|item| json!({ "PutRequest": { "Item": item } })).collect();
    let mut pause = Duration::from_millis(10);
    loop {
        let mut request_items = Map::new();
        request_items.insert(table.to_string(), Value::Array(requests));
        let out =
            dispatch(engine, region, Operation::BatchWriteItem, &json!({ "RequestItems": request_items })).await?;
        requests = match out["UnprocessedItems"].get(table).and_then(Value::as_array) {
            Some(unprocessed) if !unprocessed.is_empty() => unprocessed.clone(),
            _ => return Ok(()),
        };
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_json_numbers_only_when_a_double_holds_them_exactly() {
        let cases = [
            ("5", "5"),
            ("-12.5", "-12.5"),
            ("0.1", "0.1"),
            ("1.50", "1.5"),
            ("1E+20", "1e+20"),
            ("9007199254740992", "9007199254740992"),
            // 2^53 + 1: a double would read it as 2^53.
            ("9007199254740993", "\"9007199254740993\""),
            ("123456789012345678901234567890.12345678", "\"123456789012345678901234567890.12345678\""),
            ("0.30000000000000004", "0.30000000000000004"),
            ("1E+125", "1e+125"),
            ("1E-130", "1e-130"),
        ];
        for (input, want) in cases {
            assert_eq!(plain_number(input).to_string(), want, "input {input}");
        }
    }

    #[test]
    fn attribute_values_map_to_plain_json() {
        let cases = [
            (r#"{"S":"x"}"#, r#""x""#),
            (r#"{"B":"AAE="}"#, r#""AAE=""#),
            (r#"{"BOOL":false}"#, "false"),
            (r#"{"NULL":true}"#, "null"),
            (r#"{"SS":["a","b"]}"#, r#"["a","b"]"#),
            (r#"{"NS":["1","99999999999999999999999"]}"#, r#"[1,"99999999999999999999999"]"#),
            (r#"{"BS":["AA=="]}"#, r#"["AA=="]"#),
            (r#"{"L":[{"N":"2"},{"M":{"k":{"S":"v"}}}]}"#, r#"[2,{"k":"v"}]"#),
            (r#"{"M":{}}"#, "{}"),
        ];
        for (input, want) in cases {
            let value: Value = serde_json::from_str(input).unwrap();
            assert_eq!(plain_value(&value).unwrap().to_string(), want, "input {input}");
        }
        assert!(plain_value(&json!({ "X": 1 })).is_err());
    }

    #[test]
    fn export_lines_are_recognised() {
        assert_eq!(parse_export_line(br#"{"Item":{"pk":{"S":"a"}}}"#).unwrap(), json!({ "pk": { "S": "a" } }));
        assert!(parse_export_line(br#"{"pk":{"S":"a"}}"#).unwrap_err().contains("S3 export format"));
        assert!(parse_export_line(b"{not json").unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn key_signatures_compare_numbers_by_value() {
        let keys = vec!["pk".to_string(), "sk".to_string()];
        let a = json!({ "pk": { "S": "a" }, "sk": { "N": "1.0" }, "x": { "S": "1" } });
        let b = json!({ "pk": { "S": "a" }, "sk": { "N": "1" } });
        let c = json!({ "pk": { "S": "a" }, "sk": { "N": "2" } });
        assert_eq!(key_signature(&a, &keys), key_signature(&b, &keys));
        assert_ne!(key_signature(&a, &keys), key_signature(&c, &keys));
    }
}
