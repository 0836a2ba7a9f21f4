//! The items the teacher judged, found by id.
//!
//! A JSONL items file is not loaded: one pass records where each item's line starts, and an
//! item is read (and parsed) from the file when a judgment asks for it. The index costs about
//! 40 bytes per item whatever the size of its responses. Other formats (JSON arrays, CSV,
//! Parquet, stdin) cannot be read at an offset and are loaded whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use gavel_core::{Format, FromRecord, Item, Location, RawRecord, ReadError, RecordReader};
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::error::DatasetError;
use crate::hash::StableHasher;
use crate::jsonl::Batches;

/// Items by id.
pub struct ItemStore {
    inner: Store,
    len: usize,
}

enum Store {
    Indexed {
        file: File,
        name: Arc<str>,
        index: HashMap<u64, Entry>,
    },
    Memory(HashMap<String, Arc<Item>>),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: u64,
    len: u32,
    line: u32,
    record: u32,
}

impl std::fmt::Debug for ItemStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemStore").field("len", &self.len).finish()
    }
}

fn id_hash(id: &str) -> u64 {
    let mut h = StableHasher::new(0x6974_656d); // "item"
    h.field(id);
    h.finish()
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<IdText>,
}

struct IdText(String);

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IdText, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(IdText(s)),
            Value::Number(n) => Ok(IdText(n.to_string())),
            Value::Null => Ok(IdText(String::new())),
            _ => Err(serde::de::Error::custom("expected a string")),
        }
    }
}

impl ItemStore {
    /// Opens an items file: a JSONL file is indexed, anything else loaded.
    pub fn open(path: &Path) -> Result<ItemStore, DatasetError> {
        let format = Format::from_path(path).ok_or_else(|| ReadError::UnknownFormat {
            path: path.to_path_buf(),
        })?;
        if format == Format::Jsonl && path.as_os_str() != "-" {
            ItemStore::index_jsonl(path)
        } else {
            ItemStore::load(path)
        }
    }

    fn load(path: &Path) -> Result<ItemStore, DatasetError> {
        let mut map: HashMap<String, Arc<Item>> = HashMap::new();
        let mut first_line: HashMap<String, String> = HashMap::new();
        for raw in RecordReader::open(path)? {
            let raw = raw?;
            let location = raw.location.clone();
            let item = Item::from_record(raw).map_err(|error| ReadError::Field {
                location: location.clone(),
                error,
            })?;
            if let Some(first) = first_line.get(&item.id) {
                return Err(DatasetError::DuplicateItem {
                    location: location.to_string(),
                    id: item.id,
                    first: first.clone(),
                });
            }
            first_line.insert(item.id.clone(), location.to_string());
            map.insert(item.id.clone(), Arc::new(item));
        }
        let len = map.len();
        Ok(ItemStore {
            inner: Store::Memory(map),
            len,
        })
    }

    fn index_jsonl(path: &Path) -> Result<ItemStore, DatasetError> {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let io = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let mut batches = Batches::new(BufReader::with_capacity(1 << 20, file), 8 << 20);
        let mut index: HashMap<u64, Entry> = HashMap::new();
        let mut ids_seen: HashMap<u64, u32> = HashMap::new();
        let mut record: u32 = 0;
        while let Some(batch) = batches.next_batch().map_err(io)? {
            let first_record = record;
            let ids: Vec<Result<Option<String>, ReadError>> = batch
                .lines()
                .par_iter()
                .map(|l| {
                    serde_json::from_slice::<IdOnly>(batch.bytes(l))
                        .map(|r| r.id.map(|t| t.0).filter(|s| !s.is_empty()))
                        .map_err(|e| ReadError::Syntax {
                            location: Location::new(name.clone(), Some(l.number), l.number),
                            message: format!("invalid JSON: {e}"),
                        })
                })
                .collect();
            for (k, (l, id)) in batch.lines().iter().zip(ids).enumerate() {
                let rec = first_record + k as u32 + 1;
                let id = id?.unwrap_or_else(|| rec.to_string());
                let h = id_hash(&id);
                if let Some(first) = ids_seen.insert(h, l.number as u32) {
                    return Err(DatasetError::DuplicateItem {
                        location: format!("{name}:{}", l.number),
                        id,
                        first: format!("{name}:{first}"),
                    });
                }
                index.insert(
                    h,
                    Entry {
                        offset: l.offset,
                        len: batch.bytes(l).len() as u32,
                        line: l.number as u32,
                        record: rec,
                    },
                );
            }
            record += batch.len() as u32;
        }
        let len = index.len();
        Ok(ItemStore {
            inner: Store::Indexed {
                file: File::open(path).map_err(io)?,
                name,
                index,
            },
            len,
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The item of an id, `None` if the file has none.
    pub fn get(&self, id: &str) -> Result<Option<Arc<Item>>, ReadError> {
        match &self.inner {
            Store::Memory(map) => Ok(map.get(id).cloned()),
            Store::Indexed { file, name, index } => {
                let Some(e) = index.get(&id_hash(id)) else {
                    return Ok(None);
                };
                let mut buf = vec![0u8; e.len as usize];
                read_at(file, &mut buf, e.offset).map_err(|source| ReadError::Io {
                    path: name.to_string().into(),
                    source,
                })?;
                let location =
                    Location::new(name.clone(), Some(u64::from(e.line)), u64::from(e.record));
                let fields = match serde_json::from_slice::<Value>(&buf) {
                    Ok(Value::Object(m)) => m,
                    Ok(_) => {
                        return Err(ReadError::Syntax {
                            location,
                            message: "expected a JSON object".into(),
                        });
                    }
                    Err(err) => {
                        return Err(ReadError::Syntax {
                            location,
                            message: format!("invalid JSON: {err}"),
                        });
                    }
                };
                let raw = RawRecord {
                    location: location.clone(),
                    format: Format::Jsonl,
                    fields,
                };
                let item =
                    Item::from_record(raw).map_err(|error| ReadError::Field { location, error })?;
                // A different id with the same 64-bit hash would be read here: check.
                Ok((item.id == id).then(|| Arc::new(item)))
            }
        }
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_and_loaded_stores_agree() {
        let dir = tempfile::tempdir().unwrap();
        let text = "{\"id\":\"q1\",\"instruction\":\"hi\",\"responses\":{\"x\":\"a\",\"y\":\"b\"}}\n\n\
                    {\"instruction\":\"no id\",\"responses\":{\"x\":\"c\"}}\n\
                    {\"id\":7,\"instruction\":\"num\",\"responses\":{}}\n";
        let jsonl = dir.path().join("items.jsonl");
        std::fs::write(&jsonl, text).unwrap();
        let json = dir.path().join("items.json");
        let arr: Vec<Value> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        std::fs::write(&json, serde_json::to_string(&arr).unwrap()).unwrap();
        for path in [&jsonl, &json] {
            let s = ItemStore::open(path).unwrap();
            assert_eq!(s.len(), 3);
            assert_eq!(
                s.get("q1").unwrap().unwrap().response("y").unwrap().last(),
                "b"
            );
            assert_eq!(s.get("2").unwrap().unwrap().instruction, "no id");
            assert_eq!(s.get("7").unwrap().unwrap().instruction, "num");
            assert!(s.get("nope").unwrap().is_none());
        }
    }

    #[test]
    fn duplicate_ids_and_bad_items_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("items.jsonl");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"instruction\":\"x\"}\n{\"id\":\"a\",\"instruction\":\"y\"}\n",
        )
        .unwrap();
        let e = ItemStore::open(&p).unwrap_err().to_string();
        assert!(e.contains(":2: duplicate item id `a`"), "{e}");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"instruction\":\"x\",\"responses\":{\"m\":3}}\n",
        )
        .unwrap();
        let s = ItemStore::open(&p).unwrap();
        let e = s.get("a").unwrap_err().to_string();
        assert!(e.contains("items.jsonl:1: field `responses.m`"), "{e}");
    }
}
