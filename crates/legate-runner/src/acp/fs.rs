//! The client's file capability: off unless the agent's config says `fs = true`, and then
//! limited to text files under the task's working directory.

use std::path::{Path, PathBuf};

use agent_client_protocol::Error;
use agent_client_protocol::v1::schema::{
    ReadTextFileRequest, ReadTextFileResponse, WriteTextFileRequest, WriteTextFileResponse,
};

/// Read and write access to one directory tree, or none.
#[derive(Clone)]
pub(crate) struct FileAccess {
    root: PathBuf,
    enabled: bool,
}

impl FileAccess {
    pub fn new(root: PathBuf, enabled: bool) -> Self {
        FileAccess { root, enabled }
    }

    /// The path, if the agent may touch it: absolute, and inside the root once `..` and
    /// symlinks of its directory are resolved.
    fn allowed(&self, path: &Path) -> Result<PathBuf, Error> {
        if !self.enabled {
            return Err(Error::method_not_found().data(serde_json::json!(
                "file access is off for this agent (set fs = true in its config to allow it)"
            )));
        }
        let refuse = |why: &str| Error::invalid_params().data(serde_json::json!(why));
        if !path.is_absolute() {
            return Err(refuse("the path must be absolute"));
        }
        let dir = path
            .parent()
            .ok_or_else(|| refuse("the path has no directory"))?;
        let name = path
            .file_name()
            .ok_or_else(|| refuse("the path names no file"))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| refuse(&format!("{}: {e}", dir.display())))?;
        let root = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        if !dir.starts_with(&root) {
            return Err(refuse("the path is outside the task's working directory"));
        }
        Ok(dir.join(name))
    }

    /// `fs/read_text_file`, honouring `line` (1-based) and `limit`.
    pub fn read(&self, req: &ReadTextFileRequest) -> Result<ReadTextFileResponse, Error> {
        let path = self.allowed(&req.path)?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::invalid_params().data(serde_json::json!(format!("{}: {e}", path.display())))
        })?;
        let skip = req.line.map_or(0, |l| l.saturating_sub(1) as usize);
        let take = req.limit.map_or(usize::MAX, |l| l as usize);
        let content = if skip == 0 && take == usize::MAX {
            text
        } else {
            text.lines()
                .skip(skip)
                .take(take)
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(ReadTextFileResponse::new(content))
    }

    /// `fs/write_text_file`.
    pub fn write(&self, req: &WriteTextFileRequest) -> Result<WriteTextFileResponse, Error> {
        let path = self.allowed(&req.path)?;
        std::fs::write(&path, &req.content).map_err(|e| {
            Error::invalid_params().data(serde_json::json!(format!("{}: {e}", path.display())))
        })?;
        Ok(WriteTextFileResponse::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_off_by_default_and_confined_when_on() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("a.txt"), "one\ntwo\nthree").unwrap();
        let off = FileAccess::new(root.clone(), false);
        assert!(off.allowed(&root.join("a.txt")).is_err());
        let on = FileAccess::new(root.clone(), true);
        assert!(on.allowed(&root.join("a.txt")).is_ok());
        assert!(on.allowed(&root.join("../etc/passwd")).is_err());
        assert!(on.allowed(Path::new("/etc/passwd")).is_err());
        assert!(on.allowed(Path::new("a.txt")).is_err());
    }
}
