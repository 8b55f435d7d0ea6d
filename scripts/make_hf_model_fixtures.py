#!/usr/bin/env python3
"""Makes the Hugging Face GPT-2 fixtures of the import/export tests, once, with transformers.

    PYTHON=/path/to/venv/bin/python scripts/make_hf_model_fixtures.py   # needs: pip install torch transformers tokenizers

Writes Tests/GPTTests/Fixtures/hf/ (committed; the tests never run Python):
  tiny-gpt2/             save_pretrained of a randomly initialised GPT2LMHeadModel (transformer. prefix,
                         tied head, F32) with n_inner and layer_norm_epsilon other than GPT-2's defaults,
                         and a byte-level BPE tokenizer trained here (the model directory a user downloads)
  tiny-gpt2-bare/        the same weights named without the prefix, with the attn.bias/attn.masked_bias
                         buffers and an explicit lm_head.weight, and the tokenizer as vocab.json +
                         merges.txt, as the hub's original gpt2 files are
  tiny-gpt2-f16/         the weights rounded to F16 (the golden values are those of the rounded model)
  tiny-gpt2-bf16/        the weights rounded to BF16
  tiny-gpt2-sharded/     tiny-gpt2 in shards with model.safetensors.index.json
  tiny-gpt2-classifier/  GPT2ForSequenceClassification with one label and a pad token
  golden.json            sequences, greedy continuations and classifier scores computed by transformers
  golden.safetensors     their logits (F32), "MODEL/SEQUENCE" → (T, vocab)
"""
import json
import os
import random
import shutil
import sys

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel, GPT2TokenizerFast

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "GPTTests", "Fixtures", "hf")


def corpus(n):
    rng = random.Random(7)
    words = ("the of and to in is was for on that with my he she they it this we you but not at have "
             "post summary reddit girlfriend boyfriend job rent landlord roommate money car dog cat "
             "school friend family weekend help advice think feel said told asked month year week "
             "apartment moved broke lost found started stopped wanted needed").split()
    lines = []
    for _ in range(n):
        k = rng.randint(4, 18)
        s = " ".join(rng.choice(words) for _ in range(k))
        s = s[0].upper() + s[1:] + rng.choice([".", "!", "?", "..."])
        if rng.random() < 0.3:
            s += " " + str(rng.randint(0, 3000))
        lines.append(s)
    return lines


def tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(3000), trainer)
    fast = GPT2TokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                             unk_token="<|endoftext|>", add_prefix_space=False)
    return fast


def main():
    torch.manual_seed(0)
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    tok = tokenizer()
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    cfg = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=24, n_layer=2, n_head=3, n_inner=40,
                     layer_norm_epsilon=1e-4, bos_token_id=eos, eos_token_id=eos)
    model = GPT2LMHeadModel(cfg).eval()
    # Larger than the default 0.02 init so that the logits differ clearly between positions.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
            elif "ln_" in n:
                p.copy_(1 + 0.2 * torch.randn_like(p)) if n.endswith("weight") else p.normal_(0, 0.2)
            else:
                p.normal_(0, 0.1)

    def save(m, name, **kw):
        d = os.path.join(ROOT, name)
        m.save_pretrained(d, **kw)
        tok.save_pretrained(d)
        return d

    save(model, "tiny-gpt2")
    save(model, "tiny-gpt2-sharded", max_shard_size="20KB")

    # The hub's original gpt2 layout: bare names, causal-mask buffers, an explicit (equal) lm_head.
    bare = os.path.join(ROOT, "tiny-gpt2-bare")
    os.makedirs(bare)
    sd = {k[len("transformer."):]: v.contiguous() for k, v in model.state_dict().items() if k.startswith("transformer.")}
    T = cfg.n_positions
    for l in range(cfg.n_layer):
        sd[f"h.{l}.attn.bias"] = torch.tril(torch.ones(T, T)).view(1, 1, T, T)
        sd[f"h.{l}.attn.masked_bias"] = torch.tensor(-1e4)
    sd["lm_head.weight"] = model.lm_head.weight.detach().clone()
    save_file(sd, os.path.join(bare, "model.safetensors"), metadata={"format": "pt"})
    conf = cfg.to_dict()
    conf["architectures"] = ["GPT2LMHeadModel"]
    with open(os.path.join(bare, "config.json"), "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)
    tok.backend_tokenizer.model.save(bare)          # vocab.json + merges.txt
    with open(os.path.join(bare, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}, f)

    golden = {"eos": eos, "sequences": [], "models": {}}
    logits = {}
    rng = random.Random(3)
    seqs = [tok.encode("The post said my landlord wanted rent."), tok.encode("Summary: help"),
            [rng.randrange(1, len(tok)) for _ in range(20)]]
    golden["sequences"] = seqs

    def record(name, m):
        m = m.float().eval()
        out = {"greedy": []}
        with torch.no_grad():
            for i, s in enumerate(seqs):
                logits[f"{name}/{i}"] = m(torch.tensor([s])).logits[0].contiguous()
            for s in seqs[:2]:
                g = m.generate(torch.tensor([s]), max_new_tokens=12, do_sample=False, pad_token_id=eos,
                               eos_token_id=None)
                out["greedy"].append(g[0, len(s):].tolist())
        golden["models"][name] = out

    record("tiny-gpt2", model)
    for name, dtype in [("tiny-gpt2-f16", torch.float16), ("tiny-gpt2-bf16", torch.bfloat16)]:
        low = GPT2LMHeadModel(cfg)
        low.load_state_dict(model.state_dict())
        low = low.to(dtype)
        d = save(low, name)
        record(name, GPT2LMHeadModel.from_pretrained(d, dtype=torch.float32))

    # A reward model: the LM body plus a one-label score layer (no bias), with a pad token.
    base = {k: v for k, v in cfg.to_dict().items() if k not in ("id2label", "label2id")}
    ccfg = GPT2Config(**{**base, "num_labels": 1, "pad_token_id": eos})
    clf = GPT2ForSequenceClassification(ccfg).eval()
    clf.transformer.load_state_dict(model.transformer.state_dict())
    with torch.no_grad():
        clf.score.weight.normal_(0, 0.5)
    save(clf, "tiny-gpt2-classifier")
    with torch.no_grad():
        golden["classifier_scores"] = [clf(torch.tensor([s])).logits[0, 0].item() for s in seqs]

    with open(os.path.join(ROOT, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    save_file(logits, os.path.join(ROOT, "golden.safetensors"))
    print("wrote", ROOT, file=sys.stderr)


if __name__ == "__main__":
    main()
