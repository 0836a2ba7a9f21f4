"""Reference vectors for gavel-train: tiny random-weight encoders and one training step.

Run with the pinned reference environment (transformers, torch, tokenizers, safetensors):

    /work/pyref/venv/bin/python scripts/reference/gen_train.py

It writes crates/gavel-train/tests/vectors/:

- `tiny-bert/` and `tiny-roberta/`: a model directory each (config.json, model.safetensors,
  tokenizer.json) holding a 2-layer encoder with random weights. The weights are drawn wider than
  transformers' initialisation (std 0.2 instead of 0.02, layer-norm gains around 1) so that every
  block changes the output visibly and a mistake anywhere shows in the numbers.
- `<model>/reference.safetensors`: the inputs (token ids, type ids, attention mask) and what
  transformers computes from them in eval mode: the last hidden state, the mean-pooled and the
  first-token vectors.
- `tiny-bert/step.safetensors` + `step.json`: one training step of a pairwise judge on a fixed
  batch, as PyTorch computes it (the head's initial weights are in `init.*`). The judge
  scores each (instruction, response) with a linear head on the mean-pooled encoder output;
  the loss is Davidson's tie model on the score difference d, P(A) : P(B) : P(tie) =
  exp(d/2) : exp(-d/2) : exp(theta), the mean negative log-likelihood over the batch. Then
  the gradients are clipped to a global norm of 1.0 (torch.nn.utils.clip_grad_norm_), and
  torch.optim.AdamW takes two steps (lr 1e-3 then 9e-4: a linear decay over 10 steps without
  warm-up; betas 0.9/0.999, eps 1e-8, weight decay 0.01 except for biases, LayerNorm weights and
  theta, as Hugging Face's Trainer groups them). Recorded: the loss and the gradient norm before
  each step, every gradient of the first step, and every parameter after each step.
- `objectives.json`: the loss and the head gradients of the other objectives (Bradley-Terry with
  ties as half wins, pointwise regression and classification, the 3-way pair classifier) on
  fixed pooled vectors.
- `schedules.json`: learning-rate factors of transformers' get_linear_schedule_with_warmup and
  get_cosine_schedule_with_warmup.
- `tokenizer_cases.json`: (instruction, response) pairs and the ids, type ids that the tiny
  tokenizer gives them through transformers' BertTokenizerFast, for pairs short enough not to
  be truncated.

Everything runs in float32 on the CPU with one thread, so reruns give the same bytes.
"""

import json
import math
import os
import sys

import numpy as np
import safetensors.torch
import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, decoders

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "crates", "gavel-train", "tests", "vectors")

torch.set_num_threads(1)
torch.manual_seed(20261205)

WORDS = """the a an of to and in is it that for on with as was be by this are or from at
which but not have has had you your i we they he she what how why when write list give explain
summarize translate answer question response better good bad yes no cat dog sat mat quick brown
fox jumps over lazy please short long story poem code python function number one two three
true false correct wrong because so very""".split()


def build_vocab():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    digits = [str(d) for d in range(10)]
    punct = list(".,!?;:'\"()-")
    subwords = ["##" + c for c in letters] + ["##s", "##ing", "##ed", "##ly", "##er"]
    vocab = []
    for t in specials + letters + digits + punct + subwords + WORDS:
        if t not in vocab:
            vocab.append(t)
    return vocab


def bert_tokenizer(vocab):
    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True,
                                                handle_chinese_chars=True, strip_accents=None)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def roberta_tokenizer(vocab):
    # The same word pieces with RoBERTa's special tokens and pair layout (<s> A </s></s> B </s>).
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + [t for t in vocab if not t.startswith("[")]
    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="<unk>", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True,
                                                handle_chinese_chars=True, strip_accents=None)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok, vocab


def widen(model):
    """Draws every parameter wider than the default initialisation (see the module doc)."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def save_model(model, tok, cfg, name):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(tensors, os.path.join(d, "model.safetensors"))
    tok.save(os.path.join(d, "tokenizer.json"))
    return d


def config(model_type, vocab_size, pad):
    cfg = {
        "architectures": ["BertModel" if model_type == "bert" else "RobertaModel"],
        "model_type": model_type,
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 48,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 64,
        "type_vocab_size": 2 if model_type == "bert" else 1,
        "layer_norm_eps": 1e-12 if model_type == "bert" else 1e-5,
        "pad_token_id": pad,
        "position_embedding_type": "absolute",
        "initializer_range": 0.02,
    }
    if model_type == "roberta":
        cfg["bos_token_id"] = 0
        cfg["eos_token_id"] = 2
    return cfg


def batch(tok, pairs, pad_id):
    encs = [tok.encode(a, b) for a, b in pairs]
    n = max(len(e.ids) for e in encs)
    ids = torch.full((len(encs), n), pad_id, dtype=torch.long)
    types = torch.zeros((len(encs), n), dtype=torch.long)
    mask = torch.zeros((len(encs), n), dtype=torch.long)
    for i, e in enumerate(encs):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        types[i, : len(e.ids)] = torch.tensor(e.type_ids)
        mask[i, : len(e.ids)] = 1
    return ids, types, mask


def mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


PAIRS = [
    ("Write a short poem about a cat.", "The cat sat on the mat, quick and lazy."),
    ("Explain why the fox jumps.", "Because the dog is lazy, so the fox jumps over it!"),
    ("Translate: one two three", "Un deux trois (zzz unknown words)."),
]


def forward_vectors(model, tok, pad_id, d, with_types):
    model.eval()
    ids, types, mask = batch(tok, PAIRS, pad_id)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask,
                    token_type_ids=types if with_types else None).last_hidden_state
    ref = {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "hidden": out.contiguous(),
        "pooled_mean": mean_pool(out, mask).contiguous(),
        "pooled_first": out[:, 0, :].contiguous(),
    }
    safetensors.torch.save_file(ref, os.path.join(d, "reference.safetensors"))


STEP_PAIRS = [
    # (instruction, response a, response b, label)
    ("Write a poem about a dog.", "A dog sat on the mat.", "Dogs.", "A"),
    ("Give two numbers.", "one", "one two", "B"),
    ("Is the fox quick?", "yes", "yes, the fox is quick", "tie"),
    ("Explain the code.", "The function returns a number because it is python.", "no", "A"),
]


def training_step(model, tok, d):
    model.train()
    # Dropout off: the two frameworks cannot draw the same masks.
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    g = torch.Generator().manual_seed(11)
    head = torch.nn.Linear(32, 1)
    with torch.no_grad():
        head.weight.copy_(0.3 * torch.randn(head.weight.shape, generator=g))
        head.bias.copy_(torch.tensor([0.05]))
    theta = torch.nn.Parameter(torch.tensor(-0.5))
    seqs = []
    for ins, a, b, _ in STEP_PAIRS:
        seqs.append((ins, a))
        seqs.append((ins, b))
    ids, types, mask = batch(tok, seqs, 0)
    labels = torch.tensor([{"A": 0, "B": 1, "tie": 2}[p[3]] for p in STEP_PAIRS])

    params = {("encoder." + k): p for k, p in model.named_parameters()}
    params["head.weight"] = head.weight
    params["head.bias"] = head.bias
    params["head.tie_logit"] = theta
    no_decay = [k for k in params if k.endswith("bias") or "LayerNorm.weight" in k
                or k == "head.tie_logit"]
    decay = [k for k in params if k not in no_decay]
    opt = torch.optim.AdamW(
        [{"params": [params[k] for k in decay], "weight_decay": 0.01},
         {"params": [params[k] for k in no_decay], "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    total = 10
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (total - s) / total))

    out = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "labels": labels}
    for k in ("head.weight", "head.bias", "head.tie_logit"):
        out["init." + k] = params[k].detach().clone().reshape(-1 if k != "head.weight" else (1, 32))
    record = {"steps": []}
    for step in range(2):
        opt.zero_grad()
        hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        s = head(mean_pool(hidden, mask)).squeeze(-1)
        diff = s[0::2] - s[1::2]
        logits = torch.stack([diff / 2, -diff / 2, theta.expand_as(diff)], dim=1)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        if step == 0:
            out["scores"] = s.detach().contiguous()
            for k, p in params.items():
                out["grad." + k] = p.grad.detach().clone().contiguous()
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm=1.0)
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        for k, p in params.items():
            out[f"step{step + 1}." + k] = p.detach().clone().contiguous()
        record["steps"].append({"loss": float(loss.detach()), "grad_norm": float(norm), "lr": lr})
    record["pairs"] = [list(p) for p in STEP_PAIRS]
    record["decay"] = sorted(decay)
    record["no_decay"] = sorted(no_decay)
    safetensors.torch.save_file(out, os.path.join(d, "step.safetensors"))
    with open(os.path.join(d, "step.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")


def objectives():
    g = torch.Generator().manual_seed(5)
    h = 8
    pooled = torch.randn((6, h), generator=g)
    cases = {"pooled": pooled.tolist()}

    def head(n):
        w = torch.nn.Parameter(0.5 * torch.randn((n, h), generator=g))
        b = torch.nn.Parameter(0.1 * torch.randn((n,), generator=g))
        return w, b

    # Bradley-Terry, ties as half a win and half a loss; pairs are rows (0,1), (2,3), (4,5).
    w, b = head(1)
    s = (pooled @ w.T + b).squeeze(-1)
    d = s[0::2] - s[1::2]
    labels = ["A", "tie", "B"]
    terms = []
    for di, lab in zip(d, labels):
        if lab == "A":
            terms.append(-torch.nn.functional.logsigmoid(di))
        elif lab == "B":
            terms.append(-torch.nn.functional.logsigmoid(-di))
        else:
            terms.append(-0.5 * torch.nn.functional.logsigmoid(di)
                         - 0.5 * torch.nn.functional.logsigmoid(-di))
    loss = torch.stack(terms).mean()
    loss.backward()
    cases["bt_half"] = {"weight": w.tolist(), "bias": b.tolist(), "labels": labels,
                        "loss": loss.item(), "grad_weight": w.grad.tolist(),
                        "grad_bias": b.grad.tolist()}

    # Pointwise regression: mean squared error against the targets.
    w, b = head(1)
    y = torch.tensor([1.0, 5.0, 3.0, 4.0, 2.0, 3.5])
    s = (pooled @ w.T + b).squeeze(-1)
    loss = torch.nn.functional.mse_loss(s, y)
    loss.backward()
    cases["regression"] = {"weight": w.tolist(), "bias": b.tolist(), "targets": y.tolist(),
                           "loss": loss.item(), "grad_weight": w.grad.tolist(),
                           "grad_bias": b.grad.tolist()}

    # Pointwise classification over 3 classes: cross-entropy.
    w, b = head(3)
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    loss = torch.nn.functional.cross_entropy(pooled @ w.T + b, y)
    loss.backward()
    cases["classification"] = {"weight": w.tolist(), "bias": b.tolist(), "targets": y.tolist(),
                               "loss": loss.item(), "grad_weight": w.grad.tolist(),
                               "grad_bias": b.grad.tolist()}

    # Davidson ties on the same pooled rows, with theta.
    w, b = head(1)
    theta = torch.nn.Parameter(torch.tensor(0.3))
    s = (pooled @ w.T + b).squeeze(-1)
    d = s[0::2] - s[1::2]
    y = torch.tensor([0, 2, 1])
    logits = torch.stack([d / 2, -d / 2, theta.expand_as(d)], dim=1)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    cases["davidson"] = {"weight": w.tolist(), "bias": b.tolist(), "theta": 0.3,
                         "labels": ["A", "tie", "B"], "loss": loss.item(),
                         "grad_weight": w.grad.tolist(), "grad_bias": b.grad.tolist(),
                         "grad_theta": float(theta.grad)}
    with open(os.path.join(OUT, "objectives.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


def schedules():
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    out = {}
    for kind, fn in [("linear", get_linear_schedule_with_warmup),
                     ("cosine", get_cosine_schedule_with_warmup)]:
        for warmup, total in [(0, 10), (3, 10), (5, 17)]:
            p = torch.nn.Parameter(torch.zeros(1))
            opt = torch.optim.SGD([p], lr=1.0)
            s = fn(opt, warmup, total)
            factors = []
            for _ in range(total + 2):
                factors.append(s.get_last_lr()[0])
                opt.step()
                s.step()
            out[f"{kind}/{warmup}/{total}"] = factors
    with open(os.path.join(OUT, "schedules.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


TOKENIZER_CASES = [
    ("Write a short poem.", "The cat sat."),
    ("Explain: why?", "Because   the fox\tjumps over the LAZY dog!"),
    ("Translate to french: one, two", "un deux (xyzzy)"),
    ("", "only a response"),
    ("Numbers 123 and 4.5", "Caf\u00e9 na\u00efve \u4e2d\u6587 r\u00e9sum\u00e9"),
]


def tokenizer_cases(d):
    fast = transformers.BertTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"))
    cases = []
    for a, b in TOKENIZER_CASES:
        e = fast(a, b)
        cases.append({"instruction": a, "response": b, "ids": e["input_ids"],
                      "type_ids": e["token_type_ids"]})
    with open(os.path.join(OUT, "tokenizer_cases.json"), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    vocab = build_vocab()
    tok = bert_tokenizer(vocab)
    cfg = config("bert", len(vocab), 0)
    model = transformers.BertModel(transformers.BertConfig(**cfg), add_pooling_layer=False)
    widen(model)
    d = save_model(model, tok, cfg, "tiny-bert")
    # The same weights as PyTorch's pickle format, for the `.bin` loader.
    bd = os.path.join(OUT, "tiny-bert-bin")
    os.makedirs(bd, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
               os.path.join(bd, "pytorch_model.bin"))
    for f in ("config.json", "tokenizer.json"):
        with open(os.path.join(d, f), "rb") as src, open(os.path.join(bd, f), "wb") as dst:
            dst.write(src.read())

    forward_vectors(model, tok, 0, d, True)
    training_step(model, tok, d)
    tokenizer_cases(d)

    rtok, rvocab = roberta_tokenizer(vocab)
    rcfg = config("roberta", len(rvocab), 1)
    torch.manual_seed(99)
    rmodel = transformers.RobertaModel(transformers.RobertaConfig(**rcfg), add_pooling_layer=False)
    widen(rmodel)
    rd = save_model(rmodel, rtok, rcfg, "tiny-roberta")
    forward_vectors(rmodel, rtok, 1, rd, False)

    objectives()
    schedules()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"tokenizers {tokenizers.__version__}: vectors written to {os.path.normpath(OUT)}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
