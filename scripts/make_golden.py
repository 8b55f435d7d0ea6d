#!/usr/bin/env python3
"""Golden fixture for the Swift GPT: an independent NumPy (float64) GPT-2 forward and hand-derived
backward on a tiny fixed config, checked against central finite differences before writing.

Writes Tests/GPTTests/Fixtures/golden.json with the parameters (Hugging Face GPT-2 names, Conv1D
(in, out) layout, flattened row-major), the batch, and the expected logits, target log-probs,
scalar-head values, loss and the full gradient of

    loss = mean_r CE(logits_r, target_r) + 0.5 * mean_r v_r        (r over all B*T positions)

with respect to every parameter. Usage: python3 scripts/make_golden.py  (from the package root or anywhere).
"""
import json
import math
import os
import sys

import numpy as np

CONFIG = {"vocab_size": 11, "n_positions": 8, "n_layer": 2, "n_head": 2, "n_embd": 8}
V, NPOS, L, NH, C = (CONFIG[k] for k in ("vocab_size", "n_positions", "n_layer", "n_head", "n_embd"))
HS = C // NH
EPS_LN = 1e-5
VALUE_COEF = 0.5

# Fixed batch: two sequences of 8 tokens; inputs are the first 7, targets the next tokens.
SEQS = np.array([[3, 7, 1, 0, 9, 4, 4, 10],
                 [5, 2, 8, 6, 1, 10, 3, 0]], dtype=np.int64)
TOKENS = SEQS[:, :-1]    # (2,7)
TARGETS = SEQS[:, 1:]    # (2,7)
B, T = TOKENS.shape


def param_specs():
    specs = [("wte.weight", (V, C)), ("wpe.weight", (NPOS, C))]
    for l in range(L):
        p = f"h.{l}."
        specs += [(p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)),
                  (p + "attn.c_attn.weight", (C, 3 * C)), (p + "attn.c_attn.bias", (3 * C,)),
                  (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
                  (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)),
                  (p + "mlp.c_fc.weight", (C, 4 * C)), (p + "mlp.c_fc.bias", (4 * C,)),
                  (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,))]
    specs += [("ln_f.weight", (C,)), ("ln_f.bias", (C,)), ("score.weight", (1, C)), ("score.bias", (1,))]
    return specs


def make_params():
    rng = np.random.RandomState(1234)
    params = {}
    for name, shape in param_specs():
        z = rng.standard_normal(shape)
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            w = 1.0 + 0.1 * z
        elif name.endswith(".bias"):
            w = 0.05 * z
        else:
            w = 0.2 * z
        # Round to float32 so the Swift model (Float32) holds exactly the same parameter values.
        params[name] = w.astype(np.float32).astype(np.float64)
    return params


# ----------------------------------------------------------------------------- layers

def ln_forward(x, w, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)  # biased
    rstd = 1.0 / np.sqrt(var + EPS_LN)
    xhat = (x - mean) * rstd
    return xhat * w + b, (xhat, rstd)


def ln_backward(dy, w, cache):
    xhat, rstd = cache
    dw = (dy * xhat).reshape(-1, dy.shape[-1]).sum(0)
    db = dy.reshape(-1, dy.shape[-1]).sum(0)
    dxhat = dy * w
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    return dx, dw, db


GELU_K = math.sqrt(2.0 / math.pi)


def gelu_forward(x):
    return 0.5 * x * (1.0 + np.tanh(GELU_K * (x + 0.044715 * x ** 3)))


def gelu_backward(dy, x):
    t = np.tanh(GELU_K * (x + 0.044715 * x ** 3))
    dudx = GELU_K * (1.0 + 3 * 0.044715 * x ** 2)
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dudx)


def split_heads(z):  # (B,T,C) -> (B,NH,T,HS)
    return z.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)


def merge_heads(z):  # (B,NH,T,HS) -> (B,T,C)
    return z.transpose(0, 2, 1, 3).reshape(B, T, C)


CAUSAL = np.tril(np.ones((T, T), dtype=bool))


def attn_forward(qkv):
    q, k, v = (split_heads(qkv[..., i * C:(i + 1) * C]) for i in range(3))
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(HS)
    s = np.where(CAUSAL, s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    a = e / e.sum(-1, keepdims=True)
    y = a @ v
    return merge_heads(y), (q, k, v, a)


def attn_backward(dy, cache):
    q, k, v, a = cache
    dyh = split_heads(dy)
    da = dyh @ v.transpose(0, 1, 3, 2)
    dv = a.transpose(0, 1, 3, 2) @ dyh
    ds = a * (da - (da * a).sum(-1, keepdims=True))  # masked entries have a = 0 -> ds = 0
    ds = ds / math.sqrt(HS)
    dq = ds @ k
    dk = ds.transpose(0, 1, 3, 2) @ q
    return np.concatenate([merge_heads(dq), merge_heads(dk), merge_heads(dv)], axis=-1)


# ----------------------------------------------------------------------------- model

def forward(P):
    caches = []
    x = P["wte.weight"][TOKENS] + P["wpe.weight"][np.arange(T)][None]
    for l in range(L):
        p = f"h.{l}."
        h1, c_ln1 = ln_forward(x, P[p + "ln_1.weight"], P[p + "ln_1.bias"])
        qkv = h1 @ P[p + "attn.c_attn.weight"] + P[p + "attn.c_attn.bias"]
        y, c_att = attn_forward(qkv)
        x1 = x + (y @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"])
        h2, c_ln2 = ln_forward(x1, P[p + "ln_2.weight"], P[p + "ln_2.bias"])
        fc = h2 @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"]
        g = gelu_forward(fc)
        x2 = x1 + (g @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"])
        caches.append(dict(h1=h1, c_ln1=c_ln1, y=y, c_att=c_att, h2=h2, c_ln2=c_ln2, fc=fc, g=g))
        x = x2
    hf, c_lnf = ln_forward(x, P["ln_f.weight"], P["ln_f.bias"])
    logits = hf @ P["wte.weight"].T                                   # (B,T,V)
    mx = logits.max(-1, keepdims=True)
    lse = mx + np.log(np.exp(logits - mx).sum(-1, keepdims=True))
    logprobs = logits - lse
    logp = np.take_along_axis(logprobs, TARGETS[..., None], -1)[..., 0]  # (B,T)
    values = hf @ P["score.weight"][0] + P["score.bias"][0]          # (B,T)
    loss = -logp.mean() + VALUE_COEF * values.mean()
    out = dict(logits=logits, logprobs=logprobs, logp=logp, values=values, loss=loss, hf=hf)
    return out, (caches, c_lnf)


def backward(P, out, cache):
    caches, c_lnf = cache
    G = {k: np.zeros_like(v) for k, v in P.items()}
    N = B * T
    hf = out["hf"]
    # d loss / d logits = (softmax - onehot) / N
    dlogits = np.exp(out["logprobs"])
    np.put_along_axis(dlogits, TARGETS[..., None], np.take_along_axis(dlogits, TARGETS[..., None], -1) - 1.0, -1)
    dlogits /= N
    dhf = dlogits @ P["wte.weight"]
    G["wte.weight"] += dlogits.reshape(N, V).T @ hf.reshape(N, C)
    # scalar head
    dv = np.full((B, T), VALUE_COEF / N)
    dhf += dv[..., None] * P["score.weight"][0]
    G["score.weight"][0] += (dv[..., None] * hf).reshape(N, C).sum(0)
    G["score.bias"][0] += dv.sum()
    # ln_f
    dx, G["ln_f.weight"], G["ln_f.bias"] = ln_backward(dhf, P["ln_f.weight"], c_lnf)
    for l in reversed(range(L)):
        p = f"h.{l}."
        c = caches[l]
        # x2 = x1 + g @ Wp + bp
        dmp = dx
        G[p + "mlp.c_proj.weight"] = c["g"].reshape(N, -1).T @ dmp.reshape(N, C)
        G[p + "mlp.c_proj.bias"] = dmp.reshape(N, C).sum(0)
        dg = dmp @ P[p + "mlp.c_proj.weight"].T
        dfc = gelu_backward(dg, c["fc"])
        G[p + "mlp.c_fc.weight"] = c["h2"].reshape(N, C).T @ dfc.reshape(N, -1)
        G[p + "mlp.c_fc.bias"] = dfc.reshape(N, -1).sum(0)
        dh2 = dfc @ P[p + "mlp.c_fc.weight"].T
        dx1_ln, G[p + "ln_2.weight"], G[p + "ln_2.bias"] = ln_backward(dh2, P[p + "ln_2.weight"], c["c_ln2"])
        dx1 = dx + dx1_ln
        # x1 = x + y @ Wo + bo
        G[p + "attn.c_proj.weight"] = c["y"].reshape(N, C).T @ dx1.reshape(N, C)
        G[p + "attn.c_proj.bias"] = dx1.reshape(N, C).sum(0)
        dy = dx1 @ P[p + "attn.c_proj.weight"].T
        dqkv = attn_backward(dy, c["c_att"])
        G[p + "attn.c_attn.weight"] = c["h1"].reshape(N, C).T @ dqkv.reshape(N, 3 * C)
        G[p + "attn.c_attn.bias"] = dqkv.reshape(N, 3 * C).sum(0)
        dh1 = dqkv @ P[p + "attn.c_attn.weight"].T
        dx_ln, G[p + "ln_1.weight"], G[p + "ln_1.bias"] = ln_backward(dh1, P[p + "ln_1.weight"], c["c_ln1"])
        dx = dx1 + dx_ln
    # embeddings
    np.add.at(G["wte.weight"], TOKENS.reshape(-1), dx.reshape(N, C))
    G["wpe.weight"][:T] += dx.sum(0)
    return G


def check_gradients(P, G, h=1e-3):
    """Fourth-order central finite differences on every parameter entry (truncation O(h^4), rounding
    ~1e-13 at h = 1e-3); returns the max relative error and where it occurs."""
    worst = (0.0, None)
    for name, w in P.items():
        flat = w.reshape(-1)
        gflat = G[name].reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            f = {}
            for k in (-2, -1, 1, 2):
                flat[i] = saved + k * h
                f[k] = forward(P)[0]["loss"]
            flat[i] = saved
            num = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)
            rel = abs(num - gflat[i]) / max(abs(num), abs(gflat[i]), 1e-4)
            if rel > worst[0]:
                worst = (rel, f"{name}[{i}] analytic {gflat[i]:.12g} numeric {num:.12g}")
    return worst


def main():
    P = make_params()
    out, cache = forward(P)
    G = backward(P, out, cache)
    assert set(G) == set(P) and all(G[k].shape == P[k].shape for k in P)
    worst, where = check_gradients(P, G)
    print(f"finite-difference check: max relative error {worst:.3e} ({where})")
    assert worst < 1e-6, f"backward disagrees with finite differences: {worst} at {where}"

    def f32(a):  # parameters: exact float32 values (shortest repr)
        vals = [float(str(np.float32(x))) for x in np.asarray(a).reshape(-1)]
        assert all(np.float32(v) == np.float32(x) for v, x in zip(vals, np.asarray(a).reshape(-1)))
        return vals

    def f64(a):  # expected outputs: 12 significant digits is far below the Float32 tolerances
        return [float(f"{x:.12g}") for x in np.asarray(a, dtype=np.float64).reshape(-1)]

    fixture = {
        "config": CONFIG,
        "tokens": [int(t) for t in TOKENS.reshape(-1)],
        "targets": [int(t) for t in TARGETS.reshape(-1)],
        "params": {name: f32(P[name]) for name, _ in param_specs()},
        "logits": f64(out["logits"]),
        "logp": f64(out["logp"]),
        "values": f64(out["values"]),
        "loss": float(f"{out['loss']:.12g}"),
        "grads": {name: f64(G[name]) for name, _ in param_specs()},
    }
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "Tests", "GPTTests", "Fixtures", "golden.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"loss {out['loss']:.10f}; wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
