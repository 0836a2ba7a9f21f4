//! The settings of a build: every filter, every de-biasing step and every share, resolved from
//! the command line and written into the dataset's manifest and card.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::convention::Choice;
use crate::error::DatasetError;

/// The example layout of the output files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExampleFormat {
    /// `{"messages": [{"role", "content"}...]}`: OpenAI fine-tuning and TRL's SFT format.
    Messages,
    /// `{"instruction", "input", "output", "system"}`: Alpaca (LLaMA-Factory, axolotl).
    Alpaca,
    /// `{"conversations": [{"from", "value"}...]}`: ShareGPT (FastChat, axolotl).
    Sharegpt,
}

impl ExampleFormat {
    /// The format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExampleFormat::Messages => "messages",
            ExampleFormat::Alpaca => "alpaca",
            ExampleFormat::Sharegpt => "sharegpt",
        }
    }

    /// The format of a name.
    pub fn parse(s: &str) -> Option<ExampleFormat> {
        match s {
            "messages" | "chat" | "openai" => Some(ExampleFormat::Messages),
            "alpaca" => Some(ExampleFormat::Alpaca),
            "sharegpt" => Some(ExampleFormat::Sharegpt),
            _ => None,
        }
    }
}

/// The three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training.
    Train,
    /// Validation.
    Validation,
    /// Test.
    Test,
}

impl Split {
    /// Every split, in file order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// `train`, `validation` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    /// The split of a name.
    pub fn parse(s: &str) -> Option<Split> {
        match s {
            "train" => Some(Split::Train),
            "validation" | "valid" | "val" | "dev" => Some(Split::Validation),
            "test" => Some(Split::Test),
            _ => None,
        }
    }

    /// Index in [`Split::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Shares of the teacher's instructions per split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitShares {
    /// Training share.
    pub train: f64,
    /// Validation share.
    pub validation: f64,
    /// Test share.
    pub test: f64,
}

impl SplitShares {
    /// The default without human labels: 90 / 5 / 5.
    pub const DEFAULT: SplitShares = SplitShares {
        train: 0.9,
        validation: 0.05,
        test: 0.05,
    };

    /// The default with human labels, whose items make the test split: 95 / 5 / 0.
    pub const DEFAULT_WITH_HUMAN: SplitShares = SplitShares {
        train: 0.95,
        validation: 0.05,
        test: 0.0,
    };

    /// Parses `train=0.9,validation=0.05,test=0.05` (weights are normalised; missing splits
    /// get 0).
    pub fn parse(s: &str) -> Result<SplitShares, String> {
        let mut shares = [0.0f64; 3];
        for (name, w) in parse_weights(s)? {
            let split = Split::parse(&name)
                .ok_or_else(|| format!("unknown split `{name}` (train, validation, test)"))?;
            shares[split.index()] = w;
        }
        let total: f64 = shares.iter().sum();
        if total <= 0.0 {
            return Err("the split shares add up to zero".into());
        }
        Ok(SplitShares {
            train: shares[0] / total,
            validation: shares[1] / total,
            test: shares[2] / total,
        })
    }

    /// The split of a uniform number in [0, 1).
    pub fn pick(&self, u: f64) -> Split {
        if u < self.train {
            Split::Train
        } else if u < self.train + self.validation || self.test <= 0.0 {
            if self.validation > 0.0 || self.test > 0.0 {
                Split::Validation
            } else {
                Split::Train
            }
        } else {
            Split::Test
        }
    }
}

/// Parses `name=weight,name=weight` (a bare `name` has weight 1).
pub fn parse_weights(s: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, w) = match part.split_once('=') {
            Some((n, w)) => {
                let w: f64 = w
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{part}`: the weight is not a number"))?;
                (n.trim(), w)
            }
            None => (part, 1.0),
        };
        if !(w.is_finite() && w >= 0.0) {
            return Err(format!("`{part}`: weights must be 0 or more"));
        }
        if out.iter().any(|(n, _): &(String, f64)| n == name) {
            return Err(format!("`{name}` is given twice"));
        }
        out.push((name.to_string(), w));
    }
    if out.is_empty() {
        return Err("expected name=weight pairs, e.g. train=0.9,validation=0.1".into());
    }
    Ok(out)
}

/// Swap augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwapPolicy {
    /// Every pair in both orders (twice the examples; A and B exactly balanced).
    Both,
    /// Every pair once, in an order drawn from the seed (A and B balanced in expectation).
    Random,
    /// Every pair in the teacher record's order.
    None,
}

impl SwapPolicy {
    /// The policy's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SwapPolicy::Both => "both",
            SwapPolicy::Random => "random",
            SwapPolicy::None => "none",
        }
    }
}

/// What to do with a record whose two presentation orders disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InconsistentPolicy {
    /// Drop it.
    Drop,
    /// Keep it as a tie, without the rationale (which argues for one side): JudgeLM's rule.
    Tie,
    /// Keep it with the record's label.
    Keep,
}

/// What to do with a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicatePolicy {
    /// Drop the later item's judgments.
    Drop,
    /// Keep them, in the same split as the first item (still leak-free).
    Keep,
    /// Do not look for them.
    Off,
}

/// Label balancing of the training and validation splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BalancePolicy {
    /// No balancing.
    None,
    /// As many examples of each label as of the rarest.
    Equal,
    /// These shares of A, B and tie (as many examples as the shares allow).
    Shares {
        /// Share of A.
        a: f64,
        /// Share of B.
        b: f64,
        /// Share of ties.
        tie: f64,
    },
}

impl BalancePolicy {
    /// Parses `none`, `equal` or `A=0.4,B=0.4,tie=0.2`.
    pub fn parse(s: &str) -> Result<BalancePolicy, String> {
        match s {
            "none" | "off" => return Ok(BalancePolicy::None),
            "equal" => return Ok(BalancePolicy::Equal),
            _ => {}
        }
        let mut shares = [0.0f64; 3];
        for (name, w) in parse_weights(s)? {
            let c = Choice::parse(&name)
                .ok_or_else(|| format!("unknown label `{name}` (A, B, tie)"))?;
            shares[c.code() as usize] = w;
        }
        let total: f64 = shares.iter().sum();
        if total <= 0.0 {
            return Err("the label shares add up to zero".into());
        }
        Ok(BalancePolicy::Shares {
            a: shares[0] / total,
            b: shares[1] / total,
            tie: shares[2] / total,
        })
    }

    /// The target shares of A, B and tie, if balancing.
    pub fn shares(&self) -> Option<[f64; 3]> {
        match self {
            BalancePolicy::None => None,
            BalancePolicy::Equal => Some([1.0 / 3.0; 3]),
            BalancePolicy::Shares { a, b, tie } => Some([*a, *b, *tie]),
        }
    }

    /// A short description for the card.
    pub fn describe(&self) -> String {
        match self {
            BalancePolicy::None => "none".into(),
            BalancePolicy::Equal => "equal (A = B = tie)".into(),
            BalancePolicy::Shares { a, b, tie } => {
                format!(
                    "A {:.0}% / B {:.0}% / tie {:.0}%",
                    a * 100.0,
                    b * 100.0,
                    tie * 100.0
                )
            }
        }
    }
}

/// The filters and their settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterConfig {
    /// Drop records whose answer was cut off by the token limit.
    pub drop_truncated: bool,
    /// Position-inconsistent records.
    pub inconsistent: InconsistentPolicy,
    /// The least share of a record's samples (per order) that must agree with their majority.
    pub min_sample_agreement: f64,
    /// Compare several records of the same pair (several teachers or runs); they must agree as
    /// much as `min_sample_agreement` asks.
    pub teacher_agreement: bool,
    /// Exact duplicate instructions.
    pub duplicates: DuplicatePolicy,
    /// Near-duplicate instructions.
    pub near_duplicates: DuplicatePolicy,
    /// Estimated Jaccard similarity (character 5-grams) from which instructions are near
    /// duplicates.
    pub near_threshold: f64,
    /// Most tokens of prompt and target together.
    pub max_tokens: Option<usize>,
    /// Most tokens of the prompt.
    pub max_prompt_tokens: Option<usize>,
    /// Most tokens of the target.
    pub max_target_tokens: Option<usize>,
    /// Drop records without a rationale.
    pub require_rationale: bool,
}

impl Default for FilterConfig {
    fn default() -> FilterConfig {
        FilterConfig {
            drop_truncated: true,
            inconsistent: InconsistentPolicy::Drop,
            min_sample_agreement: 1.0,
            teacher_agreement: true,
            duplicates: DuplicatePolicy::Drop,
            near_duplicates: DuplicatePolicy::Drop,
            near_threshold: 0.8,
            max_tokens: None,
            max_prompt_tokens: None,
            max_target_tokens: None,
            require_rationale: false,
        }
    }
}

/// Everything a build needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildConfig {
    /// Teacher judgment (or label) files.
    pub judgments: Vec<PathBuf>,
    /// The items they judge.
    pub items: PathBuf,
    /// Human label files: their items make the test split.
    pub human: Vec<PathBuf>,
    /// The output directory.
    pub out: PathBuf,
    /// The example layout.
    pub format: ExampleFormat,
    /// Also write Parquet.
    pub parquet: bool,
    /// The seed of every random choice.
    pub seed: u64,
    /// Split shares of the teacher's instructions.
    pub splits: SplitShares,
    /// Templates and their weights.
    pub templates: Vec<(String, f64)>,
    /// Swap augmentation.
    pub swap: SwapPolicy,
    /// The share of examples whose reference answer is left out of the prompt.
    pub reference_drop: f64,
    /// Label balancing of train and validation.
    pub balance: BalancePolicy,
    /// The filters.
    pub filters: FilterConfig,
    /// A Hugging Face `tokenizer.json` for exact token counts.
    pub tokenizer: Option<PathBuf>,
    /// Where to write every dropped record with its reason.
    pub dropped: Option<PathBuf>,
    /// The command that ran the build, for the card.
    pub command: Vec<String>,
}

impl BuildConfig {
    /// A configuration with the defaults.
    pub fn new(judgments: Vec<PathBuf>, items: PathBuf, out: PathBuf) -> BuildConfig {
        BuildConfig {
            judgments,
            items,
            human: Vec::new(),
            out,
            format: ExampleFormat::Messages,
            parquet: false,
            seed: 0,
            splits: SplitShares::DEFAULT,
            templates: vec![("mt-bench-pair".into(), 1.0)],
            swap: SwapPolicy::Both,
            reference_drop: 0.0,
            balance: BalancePolicy::None,
            filters: FilterConfig::default(),
            tokenizer: None,
            dropped: None,
            command: Vec::new(),
        }
    }

    /// Checks the settings that the types do not.
    pub fn validate(&self) -> Result<(), DatasetError> {
        let bad = |m: String| Err(DatasetError::Config(m));
        if self.judgments.is_empty() && self.human.is_empty() {
            return bad("no input: give --judgments (and --human for a test set)".into());
        }
        if !(0.0..=1.0).contains(&self.reference_drop) {
            return bad(format!(
                "--reference-drop must be between 0 and 1, not {}",
                self.reference_drop
            ));
        }
        let f = &self.filters;
        if !(0.0..=1.0).contains(&f.min_sample_agreement) {
            return bad(format!(
                "--min-sample-agreement must be between 0 and 1, not {}",
                f.min_sample_agreement
            ));
        }
        if !(f.near_threshold > 0.0 && f.near_threshold <= 1.0) {
            return bad(format!(
                "--near-threshold must be in (0, 1], not {}",
                f.near_threshold
            ));
        }
        if self.templates.is_empty() || self.templates.iter().all(|t| t.1 <= 0.0) {
            return bad("--templates needs at least one template with a positive weight".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_shares_parse_and_pick() {
        let s = SplitShares::parse("train=8,validation=1,test=1").unwrap();
        assert!((s.train - 0.8).abs() < 1e-12);
        assert_eq!(s.pick(0.79), Split::Train);
        assert_eq!(s.pick(0.85), Split::Validation);
        assert_eq!(s.pick(0.95), Split::Test);
        let s = SplitShares::parse("train=1").unwrap();
        assert_eq!(s.pick(0.999), Split::Train);
        let s = SplitShares::parse("train=0.95,val=0.05").unwrap();
        assert_eq!(s.pick(0.999), Split::Validation);
        assert!(SplitShares::parse("train=1,bogus=1").is_err());
        assert!(SplitShares::parse("train=0").is_err());
        assert!(SplitShares::parse("train=-1").is_err());
        assert!(SplitShares::parse("train=1,train=2").is_err());
    }

    #[test]
    fn balance_parses() {
        assert_eq!(BalancePolicy::parse("none").unwrap(), BalancePolicy::None);
        assert_eq!(
            BalancePolicy::parse("equal").unwrap().shares(),
            Some([1.0 / 3.0; 3])
        );
        let b = BalancePolicy::parse("A=2,B=2,tie=1").unwrap();
        assert_eq!(b.shares(), Some([0.4, 0.4, 0.2]));
        assert!(BalancePolicy::parse("A=1,C=1").is_err());
    }

    #[test]
    fn validation_catches_bad_settings() {
        let mut c = BuildConfig::new(vec!["j.jsonl".into()], "i.jsonl".into(), "out".into());
        assert!(c.validate().is_ok());
        c.reference_drop = 1.5;
        assert!(c.validate().is_err());
        c.reference_drop = 0.2;
        c.filters.near_threshold = 0.0;
        assert!(c.validate().is_err());
    }
}
