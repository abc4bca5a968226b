"""Learning-rate sweep of `relora_train`'s defaults (demo preset, 600 steps, warm start 150, restarts
every 150) for each method: prints val loss per (method, lr) and the best lr per method, writes JSON.
Adapters train at 2x the lr (the CLI's default ratio). Usage: python benchmarks/cli_lr_sweep.py [--lrs ...]
(smoke run: --steps 20 --warm-start 5 --reset-every 5 --preset tiny --lrs 8e-3 --out /tmp/sweep.json)"""
import argparse, json, os, tempfile
import torch
from relora.cli import run_cli
from _common import atomic_write_json

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--lrs', type=float, nargs='+', default=[2e-3, 4e-3, 8e-3, 1.6e-2])
p.add_argument('--methods', nargs='+', default=['full', 'lora', 'relora'])
p.add_argument('--steps', type=int, default=600)
p.add_argument('--warm-start', type=int, default=150); p.add_argument('--reset-every', type=int, default=150)
p.add_argument('--preset', default='demo', help="model size: demo (relora_train's default) or tiny (a smoke run)")
p.add_argument('--out', default='benchmarks/results/cli_lr_sweep.json')
a = p.parse_args()
res = {}
with tempfile.TemporaryDirectory() as tmp:
    for m in a.methods:
        for lr in a.lrs:
            argv = ['--method', m, '--lr', str(lr), '--steps', str(a.steps), '--warm-start', str(a.warm_start),
                    '--reset-every', str(a.reset_every), '--preset', a.preset, '--out', os.path.join(tmp, f'{m}-{lr}'),
                    '--no-progress', '--threads', '1']
            if m != 'full': argv += ['--adapter-lr', str(2 * lr)]
            r = run_cli(argv); res[f'{m}@{lr:g}'] = r['val_loss']
            print(f'{m:7s} lr {lr:<8g} val loss {r["val_loss"]:.4f}', flush=True)
best = {m: min(a.lrs, key=lambda lr: res[f'{m}@{lr:g}']) for m in a.methods}
for m, lr in best.items(): print(f'best {m}: lr {lr:g} (val loss {res[f"{m}@{lr:g}"]:.4f})')
atomic_write_json(dict(args=vars(a), val_loss=res, best_lr=best, torch=torch.__version__), a.out)
