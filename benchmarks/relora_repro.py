"""Reproduce ReLoRA's comparison and ablations (Lialin et al., arXiv:2307.05695) at CPU scale on the bundled Shakespeare.

Every row trains for the same steps on the same tokens (same seeds, same batches):
full-rank; LoRA after the same warm start; ReLoRA; ReLoRA without optimizer reset, without the jagged LR,
without warm start; and ReLoRA with LoHa / LoKr at (about) the trainable parameters of LoRA, if registered.
A small LR sweep (seed 0) picks each method's LR; the table reports the mean over >= 2 seeds.
The step-cost ratio ReLoRA / full-rank is measured by interleaving the two trainers' steps (noise-robust).

    python benchmarks/relora_repro.py --quick           # a reduced run (minutes)
    python benchmarks/relora_repro.py                   # demo preset, longer

Not a test: it prints a table and writes results.json, curves.png and singular_values.png to --out.
"""
import argparse, copy, json, math, os, statistics, sys, time
import torch
from torch import nn
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from relora.adapters import add_adapters, known_kinds
from relora.data import TextData, corpus_path
from relora.model import GPT, GPTConfig
from relora.train_config import TrainConfig
from relora.train import ReLoRATrainer, update_rank, update_singular_values
from _common import atomic_write_json

ROWS = [  # name, method, overrides of TrainConfig
    ('full-rank', 'full', {}),
    ('LoRA + warm start', 'lora', {}),
    ('ReLoRA', 'relora', {}),
    ('ReLoRA, no optimizer reset', 'relora', dict(optimizer_reset='none')),
    ('ReLoRA, no jagged LR', 'relora', dict(jagged=False)),
    ('ReLoRA, no warm start', 'relora', dict(warm_start=0)),
]

def model_config(a, V):
    if a.quick: return GPTConfig(vocab_size=V, block_size=a.block_size, n_layer=2, n_head=2, n_embd=64)
    return GPTConfig.demo(V, block_size=a.block_size)

def trainable_adapter_params(a, V, kind, r, options):
    m = GPT(model_config(a, V))
    add_adapters(m, kind, targets=TrainConfig().targets, r=r, **options)
    return sum(p.numel() for n, p in m.named_parameters() if p.requires_grad and '.adapter.' in n)

def matched_kinds(a, V):
    "(name, adapter, rank, options, params) for LoHa/LoKr at about LoRA's adapter parameters, if those kinds exist."
    target = trainable_adapter_params(a, V, 'lora', a.rank, {})
    out = []
    for kind, grid in (('loha', [dict()]), ('lokr', [dict(factor=f) for f in (-1, 2, 4, 8)])):
        if kind not in known_kinds(): print(f'# {kind}: not a known adapter kind, row skipped'); continue
        best = min(((trainable_adapter_params(a, V, kind, r, o), r, o) for r in range(1, 33) for o in grid),
                   key=lambda t: (abs(t[0] - target), t[1]))
        out.append((f'ReLoRA-{kind} (r={best[1]}{", " + str(best[2]) if best[2] else ""})', kind, best[1], best[2], best[0]))
    return target, out

def run(a, data, method, lr, seed, eval_every, **kw):
    c = TrainConfig(**{**dict(method=method, steps=a.steps, warm_start=a.warm_start, reset_every=a.reset_every, rank=a.rank,
                    lr=lr, adapter_lr=2 * lr, batch_size=a.batch_size, block_size=a.block_size, warmup=a.warmup,
                    restart_warmup=a.restart_warmup, prune_ratio=a.prune_ratio, eval_every=eval_every,
                    eval_batches=a.eval_batches, seed=seed, progress=False), **kw})
    torch.manual_seed(seed)
    tr = ReLoRATrainer(GPT(model_config(a, len(data.vocab))), data, c)
    t0 = time.perf_counter(); val = tr.fit(); wall = time.perf_counter() - t0
    curve = [(l['step'] + 1, l['val_loss']) for l in tr.logs if 'val_loss' in l]
    return tr, dict(val_loss=val, curve=curve, train_loss=[l['loss'] for l in tr.logs], wall_s=wall, resets=tr.resets, skipped=tr.skipped,
                    tokens_per_s=tr.phase_tokens / tr.phase_time,
                    update_rank=update_rank(tr.model, tr.w_warm) if tr.w_warm else {})

def step_cost_ratio(a, data, n):
    "Median seconds per step of the ReLoRA phase over full-rank, steps interleaved so both see the same machine load."
    V = len(data.vocab)
    mk = lambda method: ReLoRATrainer(GPT(model_config(a, V)), data, TrainConfig(method=method, steps=10**6, warm_start=0,
        reset_every=10**5, rank=a.rank, batch_size=a.batch_size, block_size=a.block_size, progress=False))
    full, rel = mk('full'), mk('relora')
    times = {'full': [], 'relora': []}
    for i in range(n + 3):
        for name, tr in (('full', full), ('relora', rel)):
            t0 = time.perf_counter(); tr.train_step(); dt = time.perf_counter() - t0
            if i >= 3: times[name].append(dt)   # the first steps warm up allocators
    f, r = statistics.median(times['full']), statistics.median(times['relora'])
    return dict(full_s=f, relora_s=r, ratio=r / f, n=n)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='small model (d=64, 2 layers), short runs')
    p.add_argument('--seeds', type=int, default=2)
    p.add_argument('--steps', type=int); p.add_argument('--warm-start', type=int); p.add_argument('--reset-every', type=int)
    p.add_argument('--rank', type=int, default=8)
    p.add_argument('--batch-size', type=int); p.add_argument('--block-size', type=int)
    p.add_argument('--lrs', type=float, nargs='*', help='LR sweep per method on seed 0 (adapters at 2x)')
    p.add_argument('--eval-batches', type=int, default=32)
    p.add_argument('--timing-steps', type=int, default=30)
    p.add_argument('--no-kinds', action='store_true', help='skip the LoHa/LoKr rows')
    p.add_argument('--timing-only', action='store_true', help='only measure the ReLoRA / full-rank step cost ratio')
    p.add_argument('--threads', type=int, default=1, help='torch threads (1: robust on a shared, oversubscribed machine)')
    p.add_argument('--out', default='benchmarks/results/relora_repro')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    q = a.quick
    for k, v in dict(steps=(1200, 2000), warm_start=(300, 500), reset_every=(300, 500), batch_size=(8, 16), block_size=(64, 128)).items():
        if getattr(a, k) is None: setattr(a, k, v[0] if q else v[1])
    if a.lrs is None: a.lrs = [1e-3, 2e-3, 4e-3]
    a.warmup, a.restart_warmup, a.prune_ratio = min(50, a.warm_start or 50), min(50, a.reset_every // 4), 0.99
    os.makedirs(a.out, exist_ok=True)
    data = TextData(corpus_path('shakespeare'))
    V = len(data.vocab)
    print(f'# {torch.get_num_threads()} threads; model {model_config(a, V)}')
    print(f'# steps {a.steps}, warm start {a.warm_start}, restarts every {a.reset_every}, batch {a.batch_size}x{a.block_size}, r={a.rank}, seeds {a.seeds}')
    if a.timing_only:
        t = step_cost_ratio(a, data, a.timing_steps)
        print(f"step cost ReLoRA / full-rank: {t['ratio']:.2f} (median of {t['n']} interleaved steps: "
              f"{t['relora_s'] * 1e3:.1f} ms vs {t['full_s'] * 1e3:.1f} ms)")
        return t
    n_eval = max(1, a.steps // 10)
    lora_params, kinds = ([None], []) if a.no_kinds else matched_kinds(a, V)
    rows = [(n, m, dict(kw)) for n, m, kw in ROWS] + [(n, 'relora', dict(adapter=k, rank=r, adapter_options=o)) for n, k, r, o, _ in kinds]
    # 1. LR sweep on seed 0, per method (ablations and kinds use the relora/lora choice)
    best, sweep = {}, {}
    for method in ('full', 'lora', 'relora'):
        for lr in a.lrs:
            _, res = run(a, data, method, lr, 0, 0)
            sweep[f'{method}@{lr:g}'] = res['val_loss']; print(f'# sweep {method:6s} lr {lr:g}: val {res["val_loss"]:.4f}', flush=True)
        best[method] = min(a.lrs, key=lambda lr: sweep[f'{method}@{lr:g}'])
    # 2. every row, every seed, at its method's best LR
    results, trainers = {}, {}
    for name, method, kw in rows:
        rs = []
        for seed in range(a.seeds):
            tr, res = run(a, data, method, best[method], seed, n_eval, **kw)
            rs.append(res)
            if seed == 0 and name in ('LoRA + warm start', 'ReLoRA'): trainers[name] = tr
            print(f'# {name:34s} seed {seed}: val {res["val_loss"]:.4f} resets {res["resets"]} skipped {res["skipped"]}', flush=True)
        vals = [r['val_loss'] for r in rs]
        results[name] = dict(method=method, lr=best[method], overrides=kw, val_loss=statistics.mean(vals), val_losses=vals,
                             val_ppl=math.exp(statistics.mean(vals)), tokens_per_s=statistics.mean(r['tokens_per_s'] for r in rs),
                             runs=rs)
    timing = step_cost_ratio(a, data, a.timing_steps)
    full, lora, rel = (results[k]['val_loss'] for k in ('full-rank', 'LoRA + warm start', 'ReLoRA'))
    gap_closed = (lora - rel) / (lora - full) if lora != full else float('nan')
    # table
    print(f'\n| row | lr | val loss (mean of {a.seeds}) | val ppl | ppl / full | seeds |')
    print('|---|---|---|---|---|---|')
    for name, r in results.items():
        print(f"| {name} | {r['lr']:g} | {r['val_loss']:.4f} | {r['val_ppl']:.3f} | {r['val_ppl'] / math.exp(full):.3f} | "
              + ', '.join(f'{v:.4f}' for v in r['val_losses']) + ' |')
    print(f'\nReLoRA closes {gap_closed:.2f} of the LoRA -> full-rank gap in val loss (the paper: 0.23-0.69 at 60M-1.3B)')
    print(f"step cost ReLoRA / full-rank: {timing['ratio']:.2f} (median of {timing['n']} interleaved steps: "
          f"{timing['relora_s'] * 1e3:.1f} ms vs {timing['full_s'] * 1e3:.1f} ms)")
    if kinds: print('adapter parameters: lora r=%d %d; ' % (a.rank, lora_params) + '; '.join(f'{n}: {pp}' for n, _, _, _, pp in kinds))
    ranks = {k: results[k]['runs'][0]['update_rank'] for k in ('LoRA + warm start', 'ReLoRA')}
    for k, v in ranks.items(): print(f'effective rank of W_final - W_warm, {k}: mean {statistics.mean(v.values()):.1f}, range {min(v.values())}-{max(v.values())}')
    # plots
    fig, ax = plt.subplots(figsize=(5, 3))
    for name, r in results.items():
        steps = [s for s, _ in r['runs'][0]['curve']]
        ax.plot(steps, [statistics.mean(run_['curve'][i][1] for run_ in r['runs']) for i in range(len(steps))], label=name, lw=1)
    ax.set_xlabel('step'); ax.set_ylabel('val loss'); ax.legend(fontsize=5); fig.tight_layout()
    fig.savefig(os.path.join(a.out, 'curves.png'), dpi=120)
    # the training loss of seed 0 (moving average over 25 steps) with the switch and the restarts marked
    fig, ax = plt.subplots(figsize=(5, 3))
    k = 25
    for name in ('full-rank', 'LoRA + warm start', 'ReLoRA'):
        v = torch.tensor(results[name]['runs'][0]['train_loss'])
        ax.plot(range(k, len(v) + 1), v.unfold(0, k, 1).mean(1).numpy(), lw=1, label=name)
    ax.axvline(a.warm_start, color='k', ls=':', lw=0.8, label='adapters added')
    for i, s in enumerate(range(a.warm_start + a.reset_every, a.steps, a.reset_every)):
        ax.axvline(s, color='grey', ls='--', lw=0.6, label='ReLoRA restart' if i == 0 else None)
    ax.set_xlabel('optimizer step'); ax.set_ylabel(f'training loss (mean of {k} steps)')
    lo = min(min(r['runs'][0]['train_loss'][-200:]) for r in results.values())
    ax.set_ylim(lo - 0.05, lo + 0.9); ax.set_xlim(a.warm_start - 100, a.steps); ax.legend(fontsize=7); fig.tight_layout()
    fig.savefig(os.path.join(a.out, 'restarts.png'), dpi=100)
    fig, ax = plt.subplots(figsize=(5, 3))
    layer = 'h.0.attn.q_proj'
    for name, tr in trainers.items():
        s = update_singular_values(tr.model, tr.w_warm)[layer]
        ax.semilogy((s / s[0]).numpy(), 'o-', ms=2, label=name)
    ax.axvline(a.rank - 0.5, color='grey', lw=0.5, ls='--')
    ax.set_xlabel('index'); ax.set_ylabel('sigma_i / sigma_1'); ax.set_title(f'singular values of W_final - W_warm ({layer})', fontsize=8)
    ax.legend(fontsize=7); fig.tight_layout(); fig.savefig(os.path.join(a.out, 'singular_values.png'), dpi=120)
    out = dict(args=vars(a), sweep=sweep, best_lr=best, results=results, gap_closed=gap_closed, step_cost=timing,
               update_rank=ranks, lora_adapter_params=lora_params, kinds=[dict(name=n, kind=k, rank=r, options=o, params=pp) for n, k, r, o, pp in kinds],
               threads=torch.get_num_threads(), command=' '.join(['python', 'benchmarks/relora_repro.py'] + (argv if argv is not None else sys.argv[1:])))
    atomic_write_json(out, os.path.join(a.out, 'results.json'))
    print(f'wrote {a.out}/results.json, curves.png, restarts.png, singular_values.png')

if __name__ == '__main__': main()
