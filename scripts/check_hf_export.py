#!/usr/bin/env python3
"""Loads an `rlhf export` directory with transformers and prints what a user of that ecosystem sees:
greedy continuations of prompts (compare with `rlhf sample RUN --policy NAME --temperature 0`), or a
reward model's scores.

    PYTHON=/path/to/venv/bin/python scripts/check_hf_export.py DIR --prompt "TEXT" [--prompt ...] [--max-new-tokens 64]
    ... DIR --score "PROMPT" "COMPLETION"      # a reward model (AutoModelForSequenceClassification)

Needs: pip install torch transformers. Prints one JSON line per prompt.
"""
import argparse
import json

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--prompt", action="append", default=[])
ap.add_argument("--max-new-tokens", type=int, default=64)
ap.add_argument("--score", nargs=2, action="append", default=[], metavar=("PROMPT", "COMPLETION"))
a = ap.parse_args()

tok = AutoTokenizer.from_pretrained(a.dir)
if a.score:
    model = AutoModelForSequenceClassification.from_pretrained(a.dir).eval()
    for prompt, completion in a.score:
        ids = tok(prompt + completion, return_tensors="pt").input_ids
        ids = torch.cat([ids, torch.tensor([[tok.eos_token_id]])], dim=1)    # the completion ends with EOS
        with torch.no_grad():
            print(json.dumps({"prompt": prompt, "completion": completion, "score": model(ids).logits[0, 0].item()}))
else:
    model = AutoModelForCausalLM.from_pretrained(a.dir).eval()
    for prompt in a.prompt:
        ids = tok(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=a.max_new_tokens, do_sample=False, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        new = out[0, ids.shape[1]:].tolist()
        print(json.dumps({"prompt": prompt, "ids": new, "text": tok.decode(new, skip_special_tokens=True)}))
