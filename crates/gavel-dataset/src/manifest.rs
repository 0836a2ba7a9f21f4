//! `dataset.json`: what a dataset directory holds and how it was made, for `gavel dataset
//! check`, trainers and people. Version 1.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use gavel_core::AtomicFile;
use serde::{Deserialize, Serialize};

use crate::config::{BuildConfig, ExampleFormat, Split};
use crate::convention::Convention;
use crate::error::DatasetError;
use crate::report::BuildReport;
use crate::template::TemplateMix;

/// The manifest's format version.
pub const VERSION: u32 = 1;

/// One split's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitFiles {
    /// The JSONL file, relative to the directory.
    pub jsonl: String,
    /// The Parquet file, when written.
    pub parquet: Option<String>,
    /// Examples.
    pub examples: u64,
}

/// A template used in the dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateEntry {
    /// The name (the `template` field of examples).
    pub name: String,
    /// Its output convention (how to parse targets).
    pub convention: Convention,
    /// How it names the responses (`Assistant A`, `Response 1`...).
    pub naming: String,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format version (1).
    pub gavel_dataset: u32,
    /// The gavel version that built it.
    pub gavel_version: String,
    /// The example layout.
    pub format: ExampleFormat,
    /// Files per split.
    pub splits: BTreeMap<String, SplitFiles>,
    /// Templates and their conventions.
    pub templates: Vec<TemplateEntry>,
    /// The near-duplicate threshold the build used (`null`: near duplicates not looked for).
    pub near_threshold: Option<f64>,
    /// The settings.
    pub config: BuildConfig,
    /// What the build did.
    pub report: BuildReport,
}

impl Manifest {
    /// The manifest of a finished build.
    pub fn new(config: &BuildConfig, mix: &TemplateMix, report: &BuildReport) -> Manifest {
        let splits = Split::ALL
            .iter()
            .map(|s| {
                let name = s.as_str();
                (
                    name.to_string(),
                    SplitFiles {
                        jsonl: format!("{name}.jsonl"),
                        parquet: config.parquet.then(|| format!("{name}.parquet")),
                        examples: report.splits.get(name).map_or(0, |r| r.examples),
                    },
                )
            })
            .collect();
        Manifest {
            gavel_dataset: VERSION,
            gavel_version: env!("CARGO_PKG_VERSION").to_string(),
            format: config.format,
            splits,
            templates: mix
                .formats()
                .map(|t| TemplateEntry {
                    name: t.name().to_string(),
                    convention: t.convention(),
                    naming: format!("{} / {}", t.naming().name(1), t.naming().name(2)),
                })
                .collect(),
            near_threshold: (config.filters.near_duplicates != crate::config::DuplicatePolicy::Off)
                .then_some(config.filters.near_threshold),
            config: config.clone(),
            report: report.clone(),
        }
    }

    /// Writes the manifest into a directory.
    pub fn write(&self, dir: &Path) -> Result<(), DatasetError> {
        let path = dir.join(crate::build::MANIFEST);
        let mut f = AtomicFile::create(&path)?;
        let text =
            serde_json::to_string_pretty(self).map_err(|e| DatasetError::Config(e.to_string()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .map_err(|e| DatasetError::io(&path, e))?;
        f.commit()?;
        Ok(())
    }

    /// Reads the manifest of a directory.
    pub fn read(dir: &Path) -> Result<Manifest, DatasetError> {
        let path = dir.join(crate::build::MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| DatasetError::NotADataset {
            path: path.clone(),
            message: format!("{e} (not a directory written by `gavel dataset build`?)"),
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| DatasetError::NotADataset {
            path: path.clone(),
            message: format!("not a dataset manifest: {e}"),
        })?;
        if m.gavel_dataset > VERSION {
            return Err(DatasetError::NotADataset {
                path,
                message: format!(
                    "manifest version {} is newer than this gavel reads ({VERSION})",
                    m.gavel_dataset
                ),
            });
        }
        Ok(m)
    }

    /// The convention of a template named in the dataset.
    pub fn convention(&self, template: &str) -> Option<Convention> {
        self.templates
            .iter()
            .find(|t| t.name == template)
            .map(|t| t.convention)
    }
}
