//! The database file as redb reaches it: redb's own file backend, behind a switch that makes its
//! writes fail as a full disk would (`ENOSPC`). The switch is off unless a test turns it on, so
//! that a test can fill the disk and free it again and watch the pipeline fail and heal.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Makes the writes of the databases opened with it fail as on a full disk, while it is on.
/// Cheap to clone: the clones are one switch.
#[derive(Debug, Clone, Default)]
pub struct DiskFaults(Arc<AtomicBool>);

impl DiskFaults {
    /// A switch, off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns the full disk on (every write, resize and sync fails) or off.
    pub fn set_full(&self, full: bool) {
        self.0.store(full, Ordering::SeqCst);
    }

    /// Whether writes fail now.
    pub fn is_full(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// redb's file backend, failing writes while `faults` is on.
#[derive(Debug)]
pub(crate) struct Backend {
    file: FileBackend,
    faults: DiskFaults,
}

impl Backend {
    pub(crate) fn new(file: FileBackend, faults: DiskFaults) -> Self {
        Backend { file, faults }
    }

    fn writable(&self) -> Result<(), std::io::Error> {
        match self.faults.is_full() {
            true => Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device (simulated)")),
            false => Ok(()),
        }
    }
}

impl StorageBackend for Backend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.writable()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.writable()?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.writable()?;
        self.file.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
