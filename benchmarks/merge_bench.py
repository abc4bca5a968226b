"""Time to merge, unmerge, restart (ReLoRA), extract and shrink the LoRA adapters of a whole ~100M-parameter GPT.

The model is relora.model.GPT (12 layers, 12 heads, d = 768, vocab 20000, T_max 256: ~100M parameters; --quick: 6
layers, 8 heads, d = 512, vocab 2048: ~20M) with LoRA r = 16 on every q/k/v/o/up/down projection, lora_B random (a
trained-looking adapter, so that every merge adds a non-zero update). Timed, whole model, no grad:

- merge:            relora.adapters.merge_adapters(model)            (W <- W + delta_W on every layer)
- unmerge:          relora.adapters.unmerge_adapters(model)
- merge_and_reinit: relora.relora.merge_and_reinit(model)            (one ReLoRA restart; lora_B is re-randomised after, untimed)
- shrink r16->r8:   relora.merge.shrink_adapters(model, rank=8)      (QR + SVD of each r x r core)
- extract r=16:     relora.merge.extract_lora(base_sd, merged_sd, rank=16) (truncated SVD of W_merged - W_base per layer,
                    from the two state dicts, as `relora-merge extract` would; layers that do not differ are skipped)

Each is also given as a ratio to one forward pass of the adapted model (unmerged, no grad) on a (1, 256) batch, timed
in the same rounds, between the operations (so that the load of the shared machine hits both alike):
ratio = median(op) / median(forward), with min(op) / min(forward) beside it (load only adds time). Absolute seconds
depend on the machine; the ratios travel better. One caveat found while writing this: merge/unmerge allocate a new
weight per layer, and when glibc hands those large blocks fresh from the kernel (its default, adaptive mmap threshold),
page faults about double their time (e.g. MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 halved
merge on the --quick model); the script runs with the default allocator, as a user would, and prints min beside median.

Usage: python benchmarks/merge_bench.py [--quick] [--threads 1] [--repeats 5] [--extract-repeats 3] [--out PATH]
Not part of the tests.
"""
import argparse, gc, importlib.metadata, json, os, platform, statistics, sys, tempfile, time
import torch
from relora.model import GPT, GPTConfig
from relora.adapters import add_adapters, adapted_layers, merge_adapters, unmerge_adapters
from relora.restarts import merge_and_reinit
from relora.merge import extract_lora, shrink_adapters
from _common import atomic_write_json

TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj']
CONFIGS = {'full': dict(vocab_size=20000, block_size=256, n_layer=12, n_head=12, n_embd=768),
           'quick': dict(vocab_size=2048, block_size=256, n_layer=6, n_head=8, n_embd=512)}
OPS = ['merge', 'unmerge', 'merge_and_reinit', 'shrink r16->r8', 'extract r=16']


def randomise_B(model, std=0.02):
    "Give every lora_B a random value (lora_A is random already), so that delta_W != 0."
    with torch.no_grad():
        for l in adapted_layers(model).values(): l.adapter.lora_B.normal_(std=std)


def plain_weights(model):
    "The model's state dict with the adapters left out and '.base_layer' taken out of the keys (the plain model's keys), cloned."
    return {k.replace('.base_layer.', '.'): v.detach().clone() for k, v in model.state_dict().items() if '.adapter.' not in k}


def timed(fn):
    t0 = time.perf_counter(); out = fn(); return time.perf_counter() - t0, out



def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='a ~20M-parameter model (6 layers, d=512)')
    p.add_argument('--threads', type=int, default=1, help='torch.set_num_threads (1: steadier on a shared machine)')
    p.add_argument('--repeats', type=int, default=5, help='rounds of merge/unmerge/merge_and_reinit/shrink')
    p.add_argument('--extract-repeats', type=int, default=3, help='rounds that also run extract_lora (the slow one)')
    p.add_argument('--r', type=int, default=16); p.add_argument('--shrink-rank', type=int, default=8)
    p.add_argument('--tokens', type=int, default=256, help='T of the (1, T) forward batch')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results', 'merge.json'))
    a = p.parse_args(argv)
    if a.repeats < 1 or a.extract_repeats < 1: p.error('--repeats and --extract-repeats must be at least 1')
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    cfg = GPTConfig(**CONFIGS['quick' if a.quick else 'full'])
    model = GPT(cfg).eval()
    n_params = model.num_params()
    add_adapters(model, 'lora', targets=TARGETS, r=a.r)
    randomise_B(model)
    n_layers = len(adapted_layers(model))
    n_adapter = sum(p.numel() for n, p in model.named_parameters() if '.adapter.' in n)
    idx = torch.randint(cfg.vocab_size, (1, a.tokens))
    print(f'GPT {cfg.n_layer} layers, {cfg.n_head} heads, d={cfg.n_embd}, vocab {cfg.vocab_size}: {n_params:,} parameters '
          f'({n_params / 1e6:.1f}M); LoRA r={a.r} on {n_layers} layers ({n_adapter:,} adapter parameters)')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, forward batch (1, {a.tokens}), '
          f'{a.repeats} rounds ({a.extract_repeats} with extract)', flush=True)

    def forward():
        with torch.no_grad(): model(idx)
    with torch.no_grad():   # check once: merged == unmerged (the merge does real, correct work)
        y0 = model(idx)[0]; merge_adapters(model); y1 = model(idx)[0]; unmerge_adapters(model)
    merge_err = float((y1 - y0).abs().max())
    for _ in range(2): forward()   # warm up (first allocations of every operation's temporaries)
    merge_adapters(model); unmerge_adapters(model); shrink_adapters(model, rank=a.shrink_rank); merge_and_reinit(model); randomise_B(model)
    times = {k: [] for k in ['forward'] + OPS}
    base_sd = tuned_sd = extracted = None
    def show(i, n, n0): print(f'  round {i + 1}/{n}: ' + ', '.join(f'{k} {v[-1]:.3f}s' for k, v in times.items() if len(v) > n0[k]), flush=True)
    for i in range(a.repeats):       # the cheap operations first: extract's large temporaries would disturb the allocator
        n0 = {k: len(v) for k, v in times.items()}
        times['forward'].append(timed(forward)[0])
        if base_sd is None: base_sd = plain_weights(model)       # W (first round; merge_and_reinit changes it later)
        times['merge'].append(timed(lambda: merge_adapters(model))[0])
        if tuned_sd is None: tuned_sd = plain_weights(model)     # W + delta_W, the "fine-tuned" weights (first round)
        times['unmerge'].append(timed(lambda: unmerge_adapters(model))[0])
        times['forward'].append(timed(forward)[0])
        t, shrunk = timed(lambda: shrink_adapters(model, rank=a.shrink_rank))
        times['shrink r16->r8'].append(t)
        times['merge_and_reinit'].append(timed(lambda: merge_and_reinit(model))[0])
        randomise_B(model)   # untimed: the next round's merges do work again
        del shrunk; gc.collect(); show(i, a.repeats, n0)
    for i in range(a.extract_repeats):   # then extract, each between two forwards
        n0 = {k: len(v) for k, v in times.items()}
        t, extracted = timed(lambda: extract_lora(base_sd, tuned_sd, rank=a.r))
        times['extract r=16'].append(t)
        times['forward'].append(timed(forward)[0]); show(i, a.extract_repeats, n0)

    fwd_med, fwd_min = statistics.median(times['forward']), min(times['forward'])
    rows = {k: dict(median_s=statistics.median(v), min_s=min(v), ratio=statistics.median(v) / fwd_med,
                    min_ratio=min(v) / fwd_min, n=len(v), times_s=v) for k, v in times.items() if v}
    kept = [r['fro_kept'] for r in extracted['report'] if 'fro_kept' in r]
    print(f"\n{'operation':<18} {'median s':>9} {'min s':>8} {'/ forward':>10} {'(min)':>8} {'n':>3}")
    for k, v in rows.items():
        print(f"{k:<18} {v['median_s']:>9.4f} {v['min_s']:>8.4f} {v['ratio']:>10.2f} {v['min_ratio']:>8.2f} {v['n']:>3}")
    print(f'checks: merged vs unmerged logits max |diff| {merge_err:.2e}; extract found {len(kept)} changed layers, '
          f'fraction of ||delta_W||_F kept at r={a.r}: min {min(kept):.6f}')
    versions = {'torch': torch.__version__, 'python': platform.python_version()}
    try: versions['relora'] = importlib.metadata.version('relora')
    except importlib.metadata.PackageNotFoundError: pass
    atomic_write_json(dict(args=vars(a), config=CONFIGS['quick' if a.quick else 'full'], params=n_params,
                           adapter_params=n_adapter, adapted_layers=n_layers, threads=torch.get_num_threads(),
                           cpus=os.cpu_count(), versions=versions, results=rows, merge_max_abs_diff=merge_err,
                           extract_layers=len(kept), extract_min_fro_kept=min(kept),
                           command=' '.join(['python', 'benchmarks/merge_bench.py'] + (argv if argv is not None else sys.argv[1:]))), a.out)
    print(f'wrote {a.out}')
    return rows


if __name__ == '__main__': main()
