//! Reading a model directory: `config.json`, the weights (`model.safetensors` or PyTorch's
//! `pytorch_model.bin`) and `tokenizer.json`, with errors that say which file is wrong and how.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::config::EncoderConfig;
use crate::error::{Error, Result};

/// The files of a model directory, found and checked to exist.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The directory.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: PathBuf,
    /// `model.safetensors`, or `pytorch_model.bin` when there is no safetensors file.
    pub weights: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
}

impl ModelFiles {
    /// Finds the files in `dir`, or says which is missing.
    pub fn find(dir: &Path) -> Result<ModelFiles> {
        if !dir.is_dir() {
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                what: "such directory".into(),
                hint: "give a local model directory with config.json, model.safetensors and \
                       tokenizer.json"
                    .into(),
            });
        }
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                what: "config.json".into(),
                hint: "a Hugging Face model directory has one beside the weights".into(),
            });
        }
        let weights = ["model.safetensors", "pytorch_model.bin"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                let sharded = dir.join("model.safetensors.index.json").is_file();
                Error::MissingFile {
                    dir: dir.to_path_buf(),
                    what: "model.safetensors or pytorch_model.bin".into(),
                    hint: if sharded {
                        "sharded checkpoints are not supported; an encoder small enough to \
                         train on a CPU fits in one file"
                            .into()
                    } else {
                        "the weights must be in the same directory as config.json".into()
                    },
                }
            })?;
        let tokenizer = dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            let slow = ["vocab.txt", "vocab.json", "sentencepiece.bpe.model"]
                .iter()
                .any(|f| dir.join(f).is_file());
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                what: "tokenizer.json".into(),
                hint: if slow {
                    "only a slow tokenizer is there; save the fast one with \
                     `AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)` in Python"
                        .into()
                } else {
                    "the fast tokenizer file of the model is needed".into()
                },
            });
        }
        Ok(ModelFiles {
            dir: dir.to_path_buf(),
            config,
            weights,
            tokenizer,
        })
    }

    /// Reads `config.json`.
    pub fn read_config(&self) -> Result<EncoderConfig> {
        EncoderConfig::from_file(&self.config)
    }

    /// Reads every tensor of the weights file as f32 on the CPU, under names without the
    /// task-model prefix (`bert.`, `roberta.`...), and with old LayerNorm names (`gamma`,
    /// `beta`) renamed to `weight` and `bias`.
    pub fn read_tensors(&self) -> Result<HashMap<String, Tensor>> {
        read_tensors(&self.weights)
    }
}

/// Reads a safetensors or PyTorch pickle file (see [`ModelFiles::read_tensors`]).
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let werr = |message: String| Error::Weights {
        path: path.to_path_buf(),
        message,
    };
    let is_bin = path.extension().is_some_and(|e| e == "bin" || e == "pt");
    let raw: Vec<(String, Tensor)> = if is_bin {
        candle_core::pickle::read_all(path)
            .map_err(|e| werr(format!("cannot read PyTorch weights: {e}")))?
    } else {
        candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| werr(format!("cannot read safetensors: {e}")))?
            .into_iter()
            .collect()
    };
    let prefix = detect_prefix(raw.iter().map(|(k, _)| k.as_str()));
    let mut out = HashMap::with_capacity(raw.len());
    for (name, t) in raw {
        let name = name.strip_prefix(prefix.as_str()).unwrap_or(&name);
        let name = if name.contains("LayerNorm.gamma") {
            name.replace("LayerNorm.gamma", "LayerNorm.weight")
        } else if name.contains("LayerNorm.beta") {
            name.replace("LayerNorm.beta", "LayerNorm.bias")
        } else {
            name.to_string()
        };
        let t = match t.dtype() {
            DType::F32 | DType::I64 | DType::U32 | DType::U8 => t,
            DType::F16 | DType::BF16 | DType::F64 => t.to_dtype(DType::F32)?,
            other => {
                return Err(werr(format!(
                    "tensor `{name}` has dtype {other:?}; expected floating point"
                )));
            }
        };
        out.insert(name, t);
    }
    Ok(out)
}

/// The prefix that task models put before the encoder's names (`bert.` in
/// `BertForSequenceClassification`), found from where the word embedding is.
fn detect_prefix<'a>(names: impl Iterator<Item = &'a str>) -> String {
    for n in names {
        if let Some(p) = n.strip_suffix("embeddings.word_embeddings.weight") {
            return p.to_string();
        }
    }
    String::new()
}

/// Takes a tensor by name with the expected shape, or says what is wrong.
pub(crate) fn take(
    tensors: &HashMap<String, Tensor>,
    path: &Path,
    name: &str,
    shape: &[usize],
) -> Result<Tensor> {
    let t = tensors.get(name).ok_or_else(|| Error::Weights {
        path: path.to_path_buf(),
        message: format!(
            "no tensor `{name}`; the weights do not belong to this config (or to a \
             BERT-family encoder)"
        ),
    })?;
    if t.dims() != shape {
        return Err(Error::Weights {
            path: path.to_path_buf(),
            message: format!(
                "tensor `{name}` has shape {:?}, but config.json implies {:?}",
                t.dims(),
                shape
            ),
        });
    }
    if t.dtype() != DType::F32 {
        return Err(Error::Weights {
            path: path.to_path_buf(),
            message: format!("tensor `{name}` is not floating point ({:?})", t.dtype()),
        });
    }
    Ok(t.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_found_from_the_word_embedding() {
        let names = [
            "classifier.weight",
            "bert.embeddings.word_embeddings.weight",
        ];
        assert_eq!(detect_prefix(names.into_iter()), "bert.");
        assert_eq!(
            detect_prefix(["embeddings.word_embeddings.weight"].into_iter()),
            ""
        );
    }
}
