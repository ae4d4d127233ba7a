//! The data directory's layout: the database in `db/`, beside the search index (`search/`),
//! fetched import sources (`sources/`), Sprint proofs (`sprint/`), compiled models
//! (`models/`), a validator's consensus write-ahead log (`consensus.wal`), the development key
//! (`dev-neuron.key`) and the development genesis (`genesis.toml`).
//!
//! Directories made before the layout had `db/` hold RocksDB's files at the top; the first
//! command that writes moves them into `db/` once (and says so). Readers use whichever is there.

use std::{
    fs,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};

/// A data directory (naming it touches nothing).
#[derive(Clone, Debug)]
pub(crate) struct DataDir {
    root: PathBuf,
}

/// What moving an old layout did.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) from: PathBuf,
    pub(crate) to: PathBuf,
    pub(crate) files: usize,
}

impl std::fmt::Display for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "moved the database ({} files) from {} into {}", self.files, self.from.display(), self.to.display())
    }
}

/// Whether a file at the top of an old data directory is RocksDB's (its `LOCK` excepted: the
/// move holds it, and RocksDB makes a new one in `db/`).
fn is_database_file(name: &str) -> bool {
    let numbered = |suffix: &str| {
        name.strip_suffix(suffix).is_some_and(|stem| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
    };
    matches!(name, "CURRENT" | "IDENTITY" | "LOG")
        || ["LOG.old.", "MANIFEST-", "OPTIONS-"].iter().any(|prefix| name.starts_with(prefix))
        || [".sst", ".log", ".blob", ".dbtmp"].into_iter().any(numbered)
}

impl DataDir {
    pub(crate) fn new(root: PathBuf) -> Self {
        DataDir { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The database.
    pub(crate) fn db(&self) -> PathBuf {
        self.root.join("db")
    }

    /// The search index.
    pub(crate) fn search(&self) -> PathBuf {
        self.root.join("search")
    }

    /// Fetched import sources.
    pub(crate) fn sources(&self) -> PathBuf {
        self.root.join("sources")
    }

    /// Sprint window proofs.
    pub(crate) fn sprint(&self) -> PathBuf {
        self.root.join("sprint")
    }

    /// Consensus's write-ahead log (a validator's votes and proposals of the height in progress).
    pub(crate) fn consensus_wal(&self) -> PathBuf {
        self.root.join("consensus.wal")
    }

    /// Model files `cybergraph compile` writes (by CID).
    pub(crate) fn models(&self) -> PathBuf {
        self.root.join("models")
    }

    /// Where an old layout's database files pass on their way into `db/`.
    fn moving(&self) -> PathBuf {
        self.root.join("db.moving")
    }

    /// The development neuron's key.
    pub(crate) fn dev_key(&self) -> PathBuf {
        self.root.join("dev-neuron.key")
    }

    /// The development chain's genesis, as written.
    pub(crate) fn genesis(&self) -> PathBuf {
        self.root.join("genesis.toml")
    }

    /// The database to read: `db/`, or the top of a directory in the old layout (never moved
    /// by a reader: a node of an older build may be running on it).
    pub(crate) fn db_for_reading(&self) -> PathBuf {
        let moving = self.moving();
        if !self.db().join("CURRENT").exists() {
            if self.root.join("CURRENT").exists() {
                return self.root.clone();
            }
            // A move cut off after CURRENT: the whole database is there.
            if moving.join("CURRENT").exists() {
                return moving;
            }
        }
        self.db()
    }

    /// The database to write, after moving an old layout's files into `db/` (refused while
    /// another process holds the old database open).
    pub(crate) fn db_for_writing(&self) -> Result<(PathBuf, Option<Migration>)> {
        let (db, moving) = (self.db(), self.moving());
        let old = self.root.join("CURRENT").exists();
        if db.join("CURRENT").exists() {
            if old {
                bail!(
                    "{} holds two databases: {} and the old layout's files beside it",
                    self.root.display(),
                    db.display()
                );
            }
            return Ok((db, None));
        }
        if !old && !moving.exists() {
            return Ok((db, None));
        }
        if fs::read_dir(&db).is_ok_and(|mut entries| entries.next().is_some()) {
            bail!("{} holds files but no database; move them away before the database moves in", db.display());
        }
        let lock = if old { Some(lock_exclusively(&self.root.join("LOCK"))?) } else { None };
        fs::create_dir_all(&moving).with_context(|| format!("creating {}", moving.display()))?;
        let mut names: Vec<String> = fs::read_dir(&self.root)?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| is_database_file(name))
            .collect();
        // CURRENT last: until it moves, the old layout is still the database.
        names.sort_by_key(|name| name == "CURRENT");
        for name in &names {
            fs::rename(self.root.join(name), moving.join(name)).with_context(|| format!("moving {name}"))?;
        }
        fs::File::open(&moving)?.sync_all()?;
        if db.exists() {
            fs::remove_dir(&db).with_context(|| format!("removing the empty {}", db.display()))?;
        }
        fs::rename(&moving, &db).with_context(|| format!("renaming {} to {}", moving.display(), db.display()))?;
        fs::File::open(&self.root)?.sync_all()?;
        // Held until the database is whole in `db/`: a node starting meanwhile finds it locked.
        if lock.is_some() {
            fs::remove_file(self.root.join("LOCK"))?;
        }
        drop(lock);
        Ok((db.clone(), Some(Migration { from: self.root.clone(), to: db, files: names.len() })))
    }
}

/// Holds RocksDB's `LOCK` file the way RocksDB does (an exclusive POSIX record lock), so no
/// node can hold the old database while its files move.
fn lock_exclusively(path: &Path) -> Result<fs::File> {
    let file = fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    // SAFETY: `flock` is a plain C struct; all-zero is a valid value before the fields are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    // SAFETY: the descriptor is open for the call's duration and `lock` is a valid `flock`.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) } != 0 {
        bail!("{} is in use by a running node; stop it before this command moves its database", path.display());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_layout_moves_into_db_once_and_a_new_one_stays() {
        let root = tempfile::tempdir().unwrap();
        let data = DataDir::new(root.path().to_path_buf());
        assert_eq!(data.db_for_writing().unwrap().0, data.db(), "an empty directory gets db/");
        for name in ["CURRENT", "MANIFEST-000005", "000007.sst", "000004.log", "OPTIONS-000009", "LOCK", "IDENTITY"] {
            fs::write(root.path().join(name), name).unwrap();
        }
        fs::create_dir(data.search()).unwrap();
        fs::write(data.dev_key(), "key").unwrap();
        fs::write(root.path().join("node.log"), "an operator's log stays where it is").unwrap();
        assert_eq!(data.db_for_reading(), root.path(), "readers use the old layout in place");
        let (db, moved) = data.db_for_writing().unwrap();
        assert_eq!(moved.unwrap().files, 6, "every database file but LOCK");
        assert_eq!(fs::read_to_string(db.join("MANIFEST-000005")).unwrap(), "MANIFEST-000005");
        assert!(!root.path().join("CURRENT").exists() && !root.path().join("LOCK").exists());
        assert!(data.search().exists() && data.dev_key().exists() && root.path().join("node.log").exists());
        assert!(data.db_for_writing().unwrap().1.is_none(), "once");
        assert_eq!(data.db_for_reading(), data.db());
        fs::write(root.path().join("CURRENT"), "again").unwrap();
        assert!(data.db_for_writing().is_err(), "two databases are refused, not merged");
    }

    #[test]
    fn a_move_cut_off_after_current_is_read_from_where_it_stopped_and_finished() {
        let root = tempfile::tempdir().unwrap();
        let data = DataDir::new(root.path().to_path_buf());
        let moving = root.path().join("db.moving");
        fs::create_dir(&moving).unwrap();
        for name in ["CURRENT", "MANIFEST-000005", "000007.sst"] {
            fs::write(moving.join(name), name).unwrap();
        }
        assert_eq!(data.db_for_reading(), moving);
        let (db, moved) = data.db_for_writing().unwrap();
        assert_eq!((db.join("CURRENT").exists(), moving.exists()), (true, false));
        assert_eq!(moved.unwrap().files, 0, "nothing was left at the top");
    }
}
