#!/usr/bin/env python3
"""Checks hearth's qwen3 forward pass against an independent float64 reading of
the published Qwen3 architecture (no reference-implementation files exist for it).

Qwen3 (Hugging Face `Qwen3ForCausalLM`, modeling_qwen3.py) differs from Qwen2 in
three ways that matter here, and this test is built to exercise each:
  1. RMSNorm of each query and key head over head_dim (q_norm / k_norm, weights
     [head_dim]) right after the Q/K projections and before RoPE;
  2. no Q/K/V biases;
  3. head_dim is a hyperparameter (`attention.key_length`), not embd/heads: the
     models below use head_dim 96 with embd 256 and 4 heads (q width 384 != 256).
RoPE is the NEOX form (rotate_half: pairs (i, i + head_dim/2)) over the full head,
attention is grouped-query with scale 1/sqrt(head_dim), the FFN is SwiGLU.

The test writes random-weight qwen3 GGUFs with ../shared/tools/synth_gguf.py
(tied and untied output), runs `hearth logits` on them, and compares with this
float64 forward under the F32 rules of TOLERANCES.md (max 1e-4·σ, RMS 2e-5·σ,
argmax where the margin > 2·tol). A negative control checks that dropping the
Q/K norms moves the logits far outside the tolerance, so the test can fail.

usage: qwen3_reference.py HEARTH_BIN SHARED_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np


def forward_qwen3(kv, T, toks, use_qk_norm=True):
    p = "qwen3."
    E = T["token_embd.weight"]
    d = E.shape[1]
    nh = kv[p + "attention.head_count"]
    nkv = kv.get(p + "attention.head_count_kv", nh)
    hd = kv.get(p + "attention.key_length", d // nh)
    eps = kv[p + "attention.layer_norm_rms_epsilon"]
    base = kv.get(p + "rope.freq_base", 10000.0)
    n = len(toks)
    x = E[toks].copy()
    inv = base ** (-np.arange(0, hd, 2) / hd)
    ang = np.arange(n)[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    def rope(v):  # [n, heads, hd], rotate_half pairing
        a, b = v[..., : hd // 2], v[..., hd // 2:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], -1)

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(kv[p + "block_count"]):
        b = "blk.%d." % i
        h = rms(x, T[b + "attn_norm.weight"])
        q = (h @ T[b + "attn_q.weight"].T).reshape(n, nh, hd)
        k = (h @ T[b + "attn_k.weight"].T).reshape(n, nkv, hd)
        v = (h @ T[b + "attn_v.weight"].T).reshape(n, nkv, hd)
        if use_qk_norm:
            q, k = rms(q, T[b + "attn_q_norm.weight"]), rms(k, T[b + "attn_k_norm.weight"])
        q, k = rope(q), rope(k)
        o = np.empty((n, nh, hd))
        for j in range(nh):
            g = j // (nh // nkv)
            s = q[:, j] @ k[:, g].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(1, keepdims=True))
            o[:, j] = (s / s.sum(1, keepdims=True)) @ v[:, g]
        x = x + o.reshape(n, nh * hd) @ T[b + "attn_output.weight"].T
        h = rms(x, T[b + "ffn_norm.weight"])
        g, u = h @ T[b + "ffn_gate.weight"].T, h @ T[b + "ffn_up.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ T[b + "ffn_down.weight"].T
    return rms(x, T["output_norm.weight"]) @ T.get("output.weight", E).T


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    hearth, shared, work = sys.argv[1:]
    sys.path.insert(0, os.path.join(shared, "reference"))
    from npref import read_gguf  # the shared GGUF reader (dequantizes to float64)

    os.makedirs(work, exist_ok=True)
    prompt = open(os.path.join(shared, "reference", "P1.txt"), encoding="utf-8").read()
    failures = 0
    passed = 0
    for tied in (False, True):
        model = os.path.join(work, "tiny-qwen3%s.gguf" % ("-tied" if tied else ""))
        cmd = [sys.executable, os.path.join(shared, "tools", "synth_gguf.py"), "--arch", "qwen3",
               "--vocab-from", os.path.join(shared, "models", "stories260K.gguf"),
               "--embd", "256", "--layers", "3", "--heads", "4", "--heads-kv", "2",
               "--head-dim", "96", "--ff", "512", "--seed", "11", "--name", "tiny-qwen3", "--out", model]
        if tied:
            cmd.append("--tied")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        out = os.path.join(work, "qwen3.logits.f32")
        r = subprocess.run([hearth, "logits", "-m", model, "-p", prompt, "-o", out, "-t", "2"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL: hearth logits exited %d: %s" % (r.returncode, r.stderr.strip()))
            failures += 1
            continue
        toks = json.loads(r.stdout)
        kv, T = read_gguf(model)
        n_vocab = T["token_embd.weight"].shape[0]
        got = np.fromfile(out, "<f4").reshape(len(toks), n_vocab).astype(np.float64)
        ref = forward_qwen3(kv, T, toks)
        sigma = ref.std(1).mean()
        tol_max, tol_rms = 1e-4 * sigma, 2e-5 * sigma
        dd = np.abs(got - ref)
        mx, rms_ = dd.max(), np.sqrt((dd * dd).mean())
        top2 = np.sort(ref, 1)[:, -2:]
        must = (top2[:, 1] - top2[:, 0]) > 2 * tol_max
        bad = int((got.argmax(1) != ref.argmax(1))[must].sum())
        print("qwen3 %s: max %.3e (tol %.3e) rms %.3e (tol %.3e) argmax bad %d/%d" % (
            "tied" if tied else "untied", mx, tol_max, rms_, tol_rms, bad, int(must.sum())))
        for ok, what in ((mx <= tol_max, "max"), (rms_ <= tol_rms, "rms"), (bad == 0, "argmax")):
            if ok:
                passed += 1
            else:
                failures += 1
                print("FAIL: qwen3 %s: %s outside tolerance" % ("tied" if tied else "untied", what))
        # Negative control: without the Q/K norms the logits must be far away.
        no_norm = forward_qwen3(kv, T, toks, use_qk_norm=False)
        if np.abs(no_norm - got).max() > 100 * tol_max:
            passed += 1
        else:
            failures += 1
            print("FAIL: the Q/K-norm-free forward is within tolerance: test is not sensitive")
    print("%d passed, %d failed" % (passed, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
