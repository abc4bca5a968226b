"""Where ReLoRA pays off at CPU scale: a sweep of warm-start length W and cycle length R, then the best setting
checked on text it was not chosen on.

The bundled Shakespeare is cut in two at the end of a play near its middle: the first four plays (Hamlet, King Lear,
Macbeth, Othello) choose the setting, the other four (Romeo and Juliet, Julius Caesar, Richard III, Coriolanus)
check it. Every run is the same small character-level
GPT (2 layers, d = 64) for the same steps and tokens; ReLoRA and LoRA use rank r = 4 (r/d = 1/16, where the rank
bottleneck binds) on every projection, embeddings, norms and head trained full-rank as in the paper. For each
seed, the fraction of the LoRA -> full-rank gap that ReLoRA closes is (LoRA - ReLoRA) / (LoRA - full) in val loss
(the whole validation split).

    python benchmarks/relora_regime.py                      # the sweep and the check, 2 processes
    python benchmarks/relora_regime.py --steps 200 --ws 50 --rs 50 --seeds 1 --out /tmp/regime   # a smoke run

Not a test: it prints tables and writes results.json and gap.png to --out.
"""
import argparse, itertools, json, os, statistics, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
import torch
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from relora.data import TextData, corpus_path
from relora.model import GPT, GPTConfig
from relora.train_config import TrainConfig
from relora.train import ReLoRATrainer
from _common import atomic_write_json

def split_corpus(folder) -> tuple:
    "Write the two halves of the bundled Shakespeare, cut at the end of the play ('THE END') nearest the middle."
    text, end = corpus_path('shakespeare').read_text(encoding='utf-8'), 'THE END\n'
    ends = [i + len(end) for i in range(len(text)) if text.startswith(end, i)]
    cut = min(ends, key=lambda i: abs(i - len(text) // 2))
    paths = (os.path.join(folder, 'tune.txt'), os.path.join(folder, 'check.txt'))
    for p, t in zip(paths, (text[:cut], text[cut:])):
        with open(p, 'w', encoding='utf-8') as f: f.write(t)
    return paths

def run(job) -> dict:
    "One training run; `job` = (corpus, method, W, R, seed, args dict). Returns its settings and val loss."
    path, method, W, R, seed, a = job
    torch.set_num_threads(1)
    data = TextData(path)
    val_batches = (len(data.val) - 1) // a['block_size'] // a['batch_size']          # the whole validation split
    c = TrainConfig(method=method, steps=a['steps'], warm_start=W, reset_every=R or 2, rank=a['rank'], lr=a['lr'],
                    adapter_lr=2 * a['lr'], batch_size=a['batch_size'], block_size=a['block_size'], warmup=50,
                    restart_warmup=a['restart_warmup'], prune_ratio=0.99, eval_batches=val_batches, seed=seed,
                    progress=False)
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=len(data.vocab), block_size=a['block_size'], n_layer=2, n_head=2, n_embd=64))
    t0 = time.perf_counter(); val = ReLoRATrainer(model, data, c).fit()
    return dict(corpus=os.path.basename(path), method=method, W=W, R=R, seed=seed, val_loss=val,
                wall_s=time.perf_counter() - t0)

def gap_table(res, corpus, configs, seeds) -> list:
    "Rows (W, R, cycles, per-seed gap closed, mean, spread) for ReLoRA settings `configs` on `corpus`."
    get = lambda m, W, R, s: next(r['val_loss'] for r in res if r['corpus'] == corpus and r['method'] == m
                                  and r['W'] == W and r['R'] == R and r['seed'] == s)
    rows = []
    for W, R, steps in configs:
        g = [(get('lora', W, None, s) - get('relora', W, R, s)) / (get('lora', W, None, s) - get('full', 0, None, s))
             for s in range(seeds)]
        rows.append(dict(W=W, R=R, cycles=(steps - W) // R, gap=g, mean=statistics.mean(g),
                         spread=max(g) - min(g), beats_lora=all(x > 0 for x in g)))
    return rows

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=6000)
    p.add_argument('--ws', type=int, nargs='+', default=[1500, 3000], help='warm-start lengths W to try')
    p.add_argument('--rs', type=int, nargs='+', default=[750, 1500], help='cycle lengths R to try')
    p.add_argument('--rank', type=int, default=4)
    p.add_argument('--lr', type=float, default=8e-3, help='peak LR (adapters at 2x): the best of every method in '
                   'relora_repro.py --quick')
    p.add_argument('--restart-warmup', type=int, default=50)
    p.add_argument('--batch-size', type=int, default=8); p.add_argument('--block-size', type=int, default=64)
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--procs', type=int, default=2, help='runs in parallel, one thread each')
    p.add_argument('--out', default='benchmarks/results/relora_regime')
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    args = dict(steps=a.steps, rank=a.rank, lr=a.lr, restart_warmup=a.restart_warmup, batch_size=a.batch_size,
                block_size=a.block_size)
    seeds = range(a.seeds)
    configs = [(W, R, a.steps) for W, R in itertools.product(a.ws, a.rs) if W + R < a.steps]
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(a.procs) as ex:
        tune, check = split_corpus(tmp)
        jobs = [(tune, 'full', 0, None, s, args) for s in seeds]
        jobs += [(tune, 'lora', W, None, s, args) for W in a.ws for s in seeds]
        jobs += [(tune, 'relora', W, R, s, args) for W, R, _ in configs for s in seeds]
        res = []
        for r in ex.map(run, jobs):
            res.append(r); print(f"# {r['corpus']} {r['method']:6s} W {r['W']:5d} R {r['R'] or '-':>5} seed {r['seed']}: "
                                 f"val {r['val_loss']:.4f} ({r['wall_s']:.0f} s)", flush=True)
        sweep = gap_table(res, 'tune.txt', configs, a.seeds)
        best = max(sweep, key=lambda r: (r['beats_lora'], r['mean']))
        W, R = best['W'], best['R']
        jobs = [(check, 'full', 0, None, s, args) for s in seeds] + [(check, 'lora', W, None, s, args) for s in seeds]
        jobs += [(check, 'relora', W, R, s, args) for s in seeds]
        for r in ex.map(run, jobs):
            res.append(r); print(f"# {r['corpus']} {r['method']:6s} W {r['W']:5d} R {r['R'] or '-':>5} seed {r['seed']}: "
                                 f"val {r['val_loss']:.4f} ({r['wall_s']:.0f} s)", flush=True)
        held = gap_table(res, 'check.txt', [(W, R, a.steps)], a.seeds)[0]
    fmt = lambda g: ', '.join(f'{x:+.3f}' for x in g)
    print(f'\n{a.steps} steps, r = {a.rank}, d = 64, {a.seeds} seeds; gap closed = (LoRA - ReLoRA) / (LoRA - full)')
    print('| W (warm start) | R (cycle) | cycles | gap closed, each seed | mean | ReLoRA beats LoRA on every seed |')
    print('|---|---|---|---|---|---|')
    for r in sweep: print(f"| {r['W']} | {r['R']} | {r['cycles']} | {fmt(r['gap'])} | {r['mean']:+.3f} | {r['beats_lora']} |")
    print(f"\nchosen W = {W}, R = {R}; on the held-out plays: gap closed {fmt(held['gap'])}, mean {held['mean']:+.3f}, "
          f"beats LoRA on every seed: {held['beats_lora']}")
    vals = {m: statistics.mean(r['val_loss'] for r in res if r['corpus'] == 'check.txt' and r['method'] == m)
            for m in ('full', 'lora', 'relora')}
    print('held-out val loss, mean of seeds: ' + ', '.join(f'{m} {v:.4f}' for m, v in vals.items()))
    fig, ax = plt.subplots(figsize=(5, 3))
    for i, r in enumerate(sweep):
        ax.scatter([i] * len(r['gap']), r['gap'], s=12, color='C0')
        ax.bar(i, r['mean'], color='C0', alpha=0.3)
    ax.scatter([len(sweep)] * len(held['gap']), held['gap'], s=12, color='C1')
    ax.bar(len(sweep), held['mean'], color='C1', alpha=0.3)
    ax.set_xticks(range(len(sweep) + 1), [f"W {r['W']}\nR {r['R']}" for r in sweep] + ['chosen,\nheld out'], fontsize=7)
    ax.axhline(0, color='k', lw=0.5); ax.set_ylabel('fraction of the gap closed'); fig.tight_layout()
    fig.savefig(os.path.join(a.out, 'gap.png'), dpi=100)
    cmd = ' '.join(['python', 'benchmarks/relora_regime.py'] + (argv if argv is not None else sys.argv[1:]))
    atomic_write_json(dict(args=vars(a), runs=res, sweep=sweep, chosen=dict(W=W, R=R), held_out=held,
                           held_out_val=vals, wall_s=time.time() - t0, command=cmd, torch=torch.__version__),
                      os.path.join(a.out, 'results.json'))
    print(f'wrote {a.out}/results.json and gap.png ({time.time() - t0:.0f} s)')

if __name__ == '__main__': main()
