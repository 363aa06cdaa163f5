//! A keyring: named ed25519 account keys, one hex file per key (`<dir>/<name>.key`,
//! readable by the owner only).

use crate::{Error, Result};
use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use commonware_math::algebra::Random;
use machina_types::{Address, codec};
use std::path::{Path, PathBuf};

/// The home directory of a node and its keyring, as the CLI finds it: `MACHINA_HOME`, else
/// `~/.machina`. The keyring is its `keys` directory, the genesis its `genesis.json`.
pub fn default_home() -> PathBuf {
    if let Some(home) = std::env::var_os("MACHINA_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from(".machina"), |h| PathBuf::from(h).join(".machina"))
}

/// A directory of named keys.
#[derive(Clone, Debug)]
pub struct Keyring {
    dir: PathBuf,
}

/// A named key.
#[derive(Clone, Debug)]
pub struct NamedKey {
    /// Its name.
    pub name: String,
    /// The private key.
    pub key: PrivateKey,
}

impl NamedKey {
    /// The account address.
    pub fn address(&self) -> Address {
        Address::of(&self.key.public_key())
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Keyring {
    /// The keyring in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        if !valid_name(name) {
            return Err(Error::Key(format!(
                "invalid key name {name:?}: use 1-64 of a-z, 0-9, - and _"
            )));
        }
        Ok(self.dir.join(format!("{name}.key")))
    }

    /// Creates a new random key named `name`.
    pub fn generate(&self, name: &str) -> Result<NamedKey> {
        let key = PrivateKey::random(commonware_utils::sys_rng());
        self.import(name, key)
    }

    /// Stores `key` as `name`; refuses to overwrite an existing key.
    pub fn import(&self, name: &str, key: PrivateKey) -> Result<NamedKey> {
        let path = self.path(name)?;
        if path.exists() {
            return Err(Error::Key(format!("a key named {name:?} already exists")));
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::Key(format!("{}: {e}", self.dir.display())))?;
        std::fs::write(&path, format!("{}\n", codec::hex(&key.encode())))
            .map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(NamedKey { name: name.to_string(), key })
    }

    /// The key named `name`.
    pub fn get(&self, name: &str) -> Result<NamedKey> {
        let path = self.path(name)?;
        let text = std::fs::read_to_string(&path).map_err(|_| {
            Error::Key(format!(
                "no key named {name:?} in {} (see `machina keys list`)",
                self.dir.display()
            ))
        })?;
        let bytes = codec::parse_hex(text.trim())
            .map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
        let key = PrivateKey::decode(bytes)
            .map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
        Ok(NamedKey { name: name.to_string(), key })
    }

    /// Every key, by name.
    pub fn list(&self) -> Result<Vec<NamedKey>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".key").map(str::to_string))
            .filter(|n| valid_name(n))
            .collect();
        names.sort();
        names.iter().map(|n| self.get(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_generated_listed_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::new(dir.path());
        let a = ring.generate("alice").unwrap();
        let b = ring.generate("bob").unwrap();
        assert_ne!(a.address(), b.address());
        assert_eq!(ring.get("alice").unwrap().address(), a.address());
        let names: Vec<_> = ring.list().unwrap().into_iter().map(|k| k.name).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert!(ring.generate("alice").is_err(), "never overwrites");
        assert!(ring.get("../etc").is_err(), "names cannot escape the directory");
    }
}
