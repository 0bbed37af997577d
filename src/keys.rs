//! Access keys. The root key comes from `CAIRN_ACCESS_KEY_ID` / `CAIRN_ACCESS_KEY_SECRET`;
//! without them it is generated on first start and kept in `<data-dir>/root-key.json`, readable by
//! the owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Environment variable naming the root access key id.
pub const ENV_KEY_ID: &str = "CAIRN_ACCESS_KEY_ID";
/// Environment variable holding the root access key secret.
pub const ENV_KEY_SECRET: &str = "CAIRN_ACCESS_KEY_SECRET";
/// File name of the generated root key inside the data dir.
pub const ROOT_KEY_FILE: &str = "root-key.json";

/// An access key pair. `Debug` never shows the secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct AccessKey {
    /// Public id (also the Atlas public key / Digest user name).
    pub access_key_id: String,
    /// Secret (also the Atlas private key / Digest password).
    pub access_key_secret: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where the root key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The environment.
    Env,
    /// An existing key file.
    File(PathBuf),
    /// A key file written just now.
    Generated(PathBuf),
}

/// The keys the server accepts.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<AccessKey>,
}

impl KeyRing {
    /// A ring holding `keys`.
    pub fn new(keys: Vec<AccessKey>) -> Self {
        Self { keys }
    }

    /// Secret of `access_key_id`, if known.
    pub fn secret(&self, access_key_id: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|k| k.access_key_id == access_key_id)
            .map(|k| k.access_key_secret.as_str())
    }
}

/// Loads the root key from the environment, the key file, or generates it.
pub fn load_root_key(data_dir: &Path) -> anyhow::Result<(AccessKey, KeySource)> {
    let env = |name| std::env::var(name).ok().filter(|s: &String| !s.is_empty());
    root_key_from(data_dir, env(ENV_KEY_ID), env(ENV_KEY_SECRET))
}

/// [`load_root_key`] with the environment's id and secret given (`None` when unset or empty).
fn root_key_from(
    data_dir: &Path,
    id: Option<String>,
    secret: Option<String>,
) -> anyhow::Result<(AccessKey, KeySource)> {
    let path = data_dir.join(ROOT_KEY_FILE);
    match (id, secret) {
        (Some(access_key_id), Some(access_key_secret)) => {
            if path.exists() {
                tracing::warn!(file = %path.display(),
                    "{ENV_KEY_ID} and {ENV_KEY_SECRET} are set, so the root key in this file is not used");
            }
            return Ok((
                AccessKey {
                    access_key_id,
                    access_key_secret,
                },
                KeySource::Env,
            ));
        }
        (None, None) => {}
        _ => anyhow::bail!("set both {ENV_KEY_ID} and {ENV_KEY_SECRET}, or neither"),
    }
    if path.exists() {
        warn_if_readable_by_others(&path);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let key: AccessKey =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        return Ok((key, KeySource::File(path)));
    }
    let key = AccessKey {
        access_key_id: format!("CAIRN{}", hex::encode_upper(rand::random::<[u8; 8]>())),
        access_key_secret: base64_secret(),
    };
    write_private(&path, serde_json::to_string_pretty(&key)?.as_bytes())?;
    Ok((key, KeySource::Generated(path)))
}

fn base64_secret() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

/// Warns when group or others may read the key file.
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(file = %path.display(), mode = %format!("{mode:o}"),
                "the root key file may be read by other users; run `chmod 600` on it");
        }
    }
}

/// Writes `bytes` to a new file readable and writable by the owner only, durably: through a
/// temporary created anew (a stale one is removed first, so its mode cannot carry over) whose
/// mode is set on the open file, whatever the umask.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = path.with_extension("json.tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing stale {}", tmp.display()))
        }
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let (k1, src1) = root_key_from(dir.path(), None, None).unwrap();
        assert!(matches!(src1, KeySource::Generated(_)));
        let mode = std::fs::metadata(dir.path().join(ROOT_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (k2, src2) = root_key_from(dir.path(), None, None).unwrap();
        assert!(matches!(src2, KeySource::File(_)));
        assert_eq!(k1.access_key_id, k2.access_key_id);
        assert_eq!(k1.access_key_secret, k2.access_key_secret);
        assert!(!format!("{k1:?}").contains(&k1.access_key_secret));
    }

    #[test]
    fn a_stale_readable_temp_file_does_not_make_the_key_readable() {
        // Whatever a crashed earlier start left behind, the key ends up 0600.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ROOT_KEY_FILE);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, b"stale").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_private(&path, b"{}").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert!(!tmp.exists());
    }
}
