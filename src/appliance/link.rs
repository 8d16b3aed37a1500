//! The session's appliance, shared between the guest commands that boot and drive it and
//! the filesystems it serves ([`super::remote::RemoteFs`]): one lock, so requests from either
//! never interleave on the control channel.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::fsproto::{FsAnswer, FsOp};
use super::launch::Appliance;
use super::proto::{MountSpec, Request};

/// One of rfish's own mounts in the appliance.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The device as rfish names it (`/dev/rhel/root`).
    pub device: String,
    /// What was mounted (the device as the appliance named it when mounted).
    pub spec: MountSpec,
}

/// What the lock guards.
#[derive(Debug, Default)]
pub struct LinkState {
    /// The running appliance.
    pub app: Option<Appliance>,
    /// rfish's mounts in the appliance, by number (mounted again after a reboot).
    pub attached: BTreeMap<u32, Attached>,
    /// Bumped whenever guest programs ran: remote filesystems drop their caches.
    pub epoch: u64,
    next_id: u32,
}

/// Why a request through the link failed.
#[derive(Debug)]
pub enum LinkError {
    /// The operation failed in the guest kernel: its errno and message.
    Errno(i32, String),
    /// There is no appliance (any more), or it failed.
    Appliance(String),
}

/// A shared handle on the session's appliance.
#[derive(Clone, Default)]
pub struct Link(Arc<Mutex<LinkState>>);

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Link")
    }
}

impl Link {
    /// Lock the state (a poisoned lock is taken over: the state stays consistent, every
    /// change to it being a single assignment).
    pub fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Is an appliance running?
    pub fn is_up(&self) -> bool {
        self.lock().app.is_some()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Mount `spec` for rfish's own use: its number.
    pub fn attach(&self, device: &str, spec: MountSpec) -> Result<u32, String> {
        let mut st = self.lock();
        let id = st.next_id;
        let app = st.app.as_mut().ok_or("the appliance is not running")?;
        app.call(&Request::Attach {
            id,
            spec: spec.clone(),
        })?;
        st.next_id += 1;
        st.attached.insert(
            id,
            Attached {
                device: device.to_string(),
                spec,
            },
        );
        Ok(id)
    }

    /// Unmount rfish's mount `id` (nothing to do when the appliance is gone).
    pub fn detach(&self, id: u32) -> Result<(), String> {
        let mut st = self.lock();
        st.attached.remove(&id);
        match st.app.as_mut() {
            Some(app) => app.call(&Request::Detach { id }),
            None => Ok(()),
        }
    }

    /// Perform a file operation on mount `id`. An appliance that fails is dropped (its
    /// QEMU stopped); the next guest command or mount boots another.
    pub fn fs(&self, id: u32, op: FsOp) -> Result<FsAnswer, LinkError> {
        let mut st = self.lock();
        let Some(app) = st.app.as_mut() else {
            return Err(LinkError::Appliance(
                "the appliance is not running (it stopped or died): mount the filesystem again"
                    .into(),
            ));
        };
        match app.fs(id, op) {
            Ok(Ok(a)) => Ok(a),
            Ok(Err((errno, message))) => Err(LinkError::Errno(errno, message)),
            Err(e) => {
                st.app = None;
                Err(LinkError::Appliance(e))
            }
        }
    }
}
