//! What a build did: inputs, every filter's drop count, de-biasing, balance and splits. Written
//! into the manifest (`dataset.json`), rendered into the card, and printed by the CLI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::convention::Choice;

/// Why a teacher record (or one of its examples) was left out. The filters run in this order
/// and a record is counted under the first that drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Not a pairwise judgment (pointwise score, binary verdict).
    NotPairwise,
    /// An answer was cut off by the judge's token limit.
    Truncated,
    /// The verdict is missing or is not A, B or tie.
    Unparseable,
    /// The verdicts of the two presentation orders differ.
    PositionInconsistent,
    /// The teacher's samples of one prompt disagree.
    SampleDisagreement,
    /// No rationale, and one is required.
    NoRationale,
    /// The judged item is not in the items file.
    MissingItem,
    /// The item is a multi-turn conversation.
    MultiTurn,
    /// The item has no response of one of the two models.
    MissingResponse,
    /// Several records of the same pair (several teachers or runs) disagree.
    TeacherDisagreement,
    /// Another record of the same pair is used.
    RepeatedPair,
    /// The item is human-labelled: it belongs to the test split.
    HumanTestItem,
    /// The instruction repeats (or nearly repeats) one of the human test set.
    TestLeak,
    /// Another item has the same instruction.
    DuplicateInstruction,
    /// Another item has a near-identical instruction.
    NearDuplicateInstruction,
    /// No template in the mix can carry the verdict (a score template without scores).
    NoTemplate,
    /// The example is longer than the token limits.
    TooLong,
}

impl DropReason {
    /// Every reason, in filter order.
    pub const ALL: [DropReason; 17] = [
        DropReason::NotPairwise,
        DropReason::Truncated,
        DropReason::Unparseable,
        DropReason::PositionInconsistent,
        DropReason::SampleDisagreement,
        DropReason::NoRationale,
        DropReason::MissingItem,
        DropReason::MultiTurn,
        DropReason::MissingResponse,
        DropReason::TeacherDisagreement,
        DropReason::RepeatedPair,
        DropReason::HumanTestItem,
        DropReason::TestLeak,
        DropReason::DuplicateInstruction,
        DropReason::NearDuplicateInstruction,
        DropReason::NoTemplate,
        DropReason::TooLong,
    ];

    /// The reason's name.
    pub fn id(self) -> &'static str {
        match self {
            DropReason::NotPairwise => "not_pairwise",
            DropReason::Truncated => "truncated",
            DropReason::Unparseable => "unparseable",
            DropReason::PositionInconsistent => "position_inconsistent",
            DropReason::SampleDisagreement => "sample_disagreement",
            DropReason::NoRationale => "no_rationale",
            DropReason::MissingItem => "missing_item",
            DropReason::MultiTurn => "multi_turn",
            DropReason::MissingResponse => "missing_response",
            DropReason::TeacherDisagreement => "teacher_disagreement",
            DropReason::RepeatedPair => "repeated_pair",
            DropReason::HumanTestItem => "human_test_item",
            DropReason::TestLeak => "test_leak",
            DropReason::DuplicateInstruction => "duplicate_instruction",
            DropReason::NearDuplicateInstruction => "near_duplicate_instruction",
            DropReason::NoTemplate => "no_template",
            DropReason::TooLong => "too_long",
        }
    }

    /// What it means, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            DropReason::NotPairwise => "not a pairwise judgment",
            DropReason::Truncated => "an answer was cut off by the token limit",
            DropReason::Unparseable => "no verdict, or not A / B / tie",
            DropReason::PositionInconsistent => "the two presentation orders disagree",
            DropReason::SampleDisagreement => "the teacher's samples disagree",
            DropReason::NoRationale => "no rationale",
            DropReason::MissingItem => "item not in the items file",
            DropReason::MultiTurn => "multi-turn item (not supported)",
            DropReason::MissingResponse => "a model's response is missing",
            DropReason::TeacherDisagreement => "records of the same pair disagree",
            DropReason::RepeatedPair => "another record of the same pair is used",
            DropReason::HumanTestItem => "human-labelled item, reserved for test",
            DropReason::TestLeak => "instruction of the human test set",
            DropReason::DuplicateInstruction => "duplicate instruction",
            DropReason::NearDuplicateInstruction => "near-duplicate instruction",
            DropReason::NoTemplate => "no template can carry the verdict",
            DropReason::TooLong => "over the token limits",
        }
    }

    /// Whether the reason drops single examples rather than whole records.
    pub fn is_per_example(self) -> bool {
        matches!(self, DropReason::NoTemplate | DropReason::TooLong)
    }
}

/// Counts of A, B and ties.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCounts {
    /// A.
    #[serde(rename = "A")]
    pub a: u64,
    /// B.
    #[serde(rename = "B")]
    pub b: u64,
    /// Ties.
    pub tie: u64,
}

impl LabelCounts {
    /// Adds one label.
    pub fn add(&mut self, c: Choice) {
        *self.get_mut(c) += 1;
    }

    /// The count of a label.
    pub fn get(&self, c: Choice) -> u64 {
        match c {
            Choice::A => self.a,
            Choice::B => self.b,
            Choice::Tie => self.tie,
        }
    }

    fn get_mut(&mut self, c: Choice) -> &mut u64 {
        match c {
            Choice::A => &mut self.a,
            Choice::B => &mut self.b,
            Choice::Tie => &mut self.tie,
        }
    }

    /// The total.
    pub fn total(&self) -> u64 {
        self.a + self.b + self.tie
    }
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputInfo {
    /// `judgments`, `items` or `human`.
    pub role: String,
    /// The path as given.
    pub path: String,
    /// Records read.
    pub records: u64,
}

/// One filter's count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterCount {
    /// The reason's name.
    pub reason: DropReason,
    /// What it means.
    pub description: String,
    /// The setting that governs it.
    pub setting: String,
    /// Teacher records dropped.
    pub records: u64,
    /// Examples dropped (per-example filters).
    pub examples: u64,
}

/// The human test set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanReport {
    /// Label records read.
    pub labels: u64,
    /// Pairs labelled.
    pub pairs: u64,
    /// Pairs written as test examples.
    pub examples: u64,
    /// Pairs without a majority label.
    pub no_majority: u64,
    /// Labels that are not pairwise choices.
    pub not_pairwise: u64,
    /// Pairs dropped for another reason (missing item or response, multi-turn, too long).
    pub dropped: BTreeMap<String, u64>,
}

/// Swap augmentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwapReport {
    /// The policy.
    pub policy: String,
    /// Examples in the teacher's order.
    pub original_order: u64,
    /// Examples with the responses exchanged.
    pub swapped: u64,
    /// Rationales whose mentions of the responses were rewritten.
    pub rationales_rewritten: u64,
    /// Mentions rewritten.
    pub mentions_rewritten: u64,
}

/// Reference answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceReport {
    /// The share of examples with a reference that is left out.
    pub drop_share: f64,
    /// Examples whose item has a reference.
    pub with_reference: u64,
    /// Shown in the prompt.
    pub shown: u64,
    /// Left out.
    pub dropped: u64,
}

/// One template's use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateUse {
    /// The template.
    pub name: String,
    /// Its output convention.
    pub convention: String,
    /// The share asked for.
    pub share: f64,
    /// Examples rendered with it.
    pub examples: u64,
}

/// One split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitReport {
    /// Examples written.
    pub examples: u64,
    /// Distinct items.
    pub items: u64,
    /// Distinct instructions (normalised).
    pub instructions: u64,
    /// Examples from the teacher.
    pub teacher_examples: u64,
    /// Examples from human labels.
    pub human_examples: u64,
    /// Labels before balancing.
    pub labels_before: LabelCounts,
    /// Labels written.
    pub labels: LabelCounts,
}

/// Token lengths of the examples written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenReport {
    /// How tokens were counted.
    pub counter: String,
    /// Longest prompt.
    pub prompt_max: u64,
    /// Mean prompt.
    pub prompt_mean: f64,
    /// Longest target.
    pub target_max: u64,
    /// Mean target.
    pub target_mean: f64,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Inputs.
    pub inputs: Vec<InputInfo>,
    /// Teacher records read.
    pub teacher_records: u64,
    /// Teacher records that gave at least one example.
    pub teacher_records_kept: u64,
    /// Every filter, in order.
    pub filters: Vec<FilterCount>,
    /// The human test set, when given.
    pub human: Option<HumanReport>,
    /// Swap augmentation.
    pub swap: SwapReport,
    /// Reference answers.
    pub reference: ReferenceReport,
    /// Templates.
    pub templates: Vec<TemplateUse>,
    /// The balancing policy.
    pub balance: String,
    /// Splits by name.
    pub splits: BTreeMap<String, SplitReport>,
    /// Token lengths.
    pub tokens: TokenReport,
    /// Distinct instructions in the deduplication index.
    pub distinct_instructions: u64,
    /// Whether the agreement of several records of one pair was checked (needs a first pass
    /// over the files; not possible on stdin).
    pub teacher_agreement_checked: bool,
}

impl BuildReport {
    /// Total examples written.
    pub fn examples(&self) -> u64 {
        self.splits.values().map(|s| s.examples).sum()
    }

    /// The count of a filter.
    pub fn dropped(&self, reason: DropReason) -> Option<&FilterCount> {
        self.filters.iter().find(|f| f.reason == reason)
    }
}
