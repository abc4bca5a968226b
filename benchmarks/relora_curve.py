"""Where would ReLoRA close a quarter of the LoRA -> full-rank gap? The fraction closed against the length of the
warm start and against the number of restart cycles, around the setting relora_regime.py chose.

Same model, data and training as benchmarks/relora_regime.py (a character-level GPT, 2 layers, d = 64; LoRA and
ReLoRA at rank r = 4 on every projection, r/d = 1/16; embeddings, norms and head full-rank; cycle R = 1500 steps),
on the plays that study held out (Romeo and Juliet, Julius Caesar, Richard III, Coriolanus). Two sweeps:

- warm start W in --ws, followed by --cycles-fixed cycles of R: the run is W + cycles * R steps long;
- cycles in --cycles after a warm start of --w-fixed: W + cycles * R steps.

Each point trains full-rank, warm-started LoRA and ReLoRA for the same number of steps and tokens (the schedule
is a cosine over that run), on each seed; gap closed = (LoRA - ReLoRA) / (LoRA - full) in val loss (the whole
validation split). A least-squares line through the mean gap of each sweep, against W and against the number of
cycles, says where it would reach --aim if the trend held (a straight-line extrapolation, printed as such).

    python benchmarks/relora_curve.py                      # 47 minutes on a 2-core CPU, shared with other work
    python benchmarks/relora_curve.py --ws 300 600 --cycles 1 2 --r-cycle 300 --seeds 1 --out /tmp/curve  # smoke

Not a test: prints the tables and writes results.json and curve.png to --out.
"""
import argparse, json, os, statistics, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
import torch
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from relora_regime import run, split_corpus
from _common import atomic_write_json

def fit(xs, ys) -> tuple:
    "Least-squares line y = a + b x: (a, b)."
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--ws', type=int, nargs='+', default=[750, 1500, 3000], help='warm starts W')
    p.add_argument('--cycles-fixed', type=int, default=3, help='cycles in the warm-start sweep')
    p.add_argument('--cycles', type=int, nargs='+', default=[2, 3, 6], help='cycle counts (n cycles: n - 1 restarts)')
    p.add_argument('--w-fixed', type=int, default=1500, help='warm start in the cycle sweep')
    p.add_argument('--r-cycle', type=int, default=1500, help='R, steps per cycle')
    p.add_argument('--rank', type=int, default=4)
    p.add_argument('--lr', type=float, default=8e-3)
    p.add_argument('--restart-warmup', type=int, default=50)
    p.add_argument('--batch-size', type=int, default=8); p.add_argument('--block-size', type=int, default=64)
    p.add_argument('--seeds', type=int, default=2)
    p.add_argument('--aim', type=float, default=0.25, help='the fraction of the gap to reach')
    p.add_argument('--procs', type=int, default=2, help='runs in parallel, one thread each')
    p.add_argument('--out', default='benchmarks/results/relora_curve')
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    R = a.r_cycle
    points = {('W', W): (W, W + a.cycles_fixed * R) for W in a.ws}
    points.update({('cycles', n): (a.w_fixed, a.w_fixed + n * R) for n in a.cycles})
    t0, res = time.time(), []
    def args(steps): return dict(steps=steps, rank=a.rank, lr=a.lr, restart_warmup=a.restart_warmup,
                                 batch_size=a.batch_size, block_size=a.block_size)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(a.procs) as ex:
        _, check = split_corpus(tmp)
        runs = set()   # (method, W, steps, seed): a point shared by both sweeps runs once
        for W, steps in points.values():
            for s in range(a.seeds):
                runs |= {('full', 0, steps, s), ('lora', W, steps, s), ('relora', W, steps, s)}
        jobs = [(check, m, W, R if m == 'relora' else None, s, args(steps))
                for m, W, steps, s in sorted(runs, key=lambda j: -j[2])]   # longest first
        for r, j in zip(ex.map(run, jobs), jobs):
            r['steps'] = j[5]['steps']; res.append(r)
            print(f"# {r['method']:6s} W {r['W']:5d} steps {r['steps']:6d} seed {r['seed']}: "
                  f"val {r['val_loss']:.4f} ({r['wall_s']:.0f} s)", flush=True)
            atomic_write_json(dict(args=vars(a), runs=res), os.path.join(a.out, 'results.json'))
    get = lambda m, W, steps, s: next(r['val_loss'] for r in res if r['method'] == m and r['steps'] == steps
                                      and r['seed'] == s and r['W'] == (0 if m == 'full' else W))
    rows = []
    for (sweep, x), (W, steps) in points.items():
        g = [(get('lora', W, steps, s) - get('relora', W, steps, s)) /
             (get('lora', W, steps, s) - get('full', W, steps, s)) for s in range(a.seeds)]
        rows.append(dict(sweep=sweep, x=x, W=W, steps=steps, gap=g, mean=statistics.mean(g),
                         full=statistics.mean(get('full', W, steps, s) for s in range(a.seeds)),
                         lora=statistics.mean(get('lora', W, steps, s) for s in range(a.seeds)),
                         relora=statistics.mean(get('relora', W, steps, s) for s in range(a.seeds))))
    fmt = lambda g: ', '.join(f'{x:+.3f}' for x in g)
    print(f'\nr = {a.rank}, d = 64, R = {R}, {a.seeds} seeds, held-out plays; '
          'gap closed = (LoRA - ReLoRA) / (LoRA - full)')
    print('| sweep | W | cycles | steps | val full / LoRA / ReLoRA (mean) | gap closed, each seed | mean |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        n = (r['steps'] - r['W']) // R
        print(f"| {r['sweep']} | {r['W']} | {n} | {r['steps']} | {r['full']:.4f} / {r['lora']:.4f} / "
              f"{r['relora']:.4f} | {fmt(r['gap'])} | {r['mean']:+.3f} |")
    fits = {}
    for sweep, label in (('W', 'warm start W'), ('cycles', 'cycles')):
        pts = [r for r in rows if r['sweep'] == sweep]
        if len(pts) < 2: continue
        c, b = fit([r['x'] for r in pts], [r['mean'] for r in pts])
        at = (a.aim - c) / b if b > 0 else None
        fits[sweep] = dict(intercept=c, slope=b, reaches_aim_at=at)
        print(f'{label}: gap closed ~ {c:+.3f} {b:+.2e} x {label}; ' +
              (f'a straight line reaches {a.aim:.0%} at {label} ~ {at:.0f}' if at is not None
               else f'no upward trend: this line never reaches {a.aim:.0%}'))
    fig, axs = plt.subplots(1, 2, figsize=(6, 2.8), sharey=True)
    for ax, (sweep, label) in zip(axs, (('W', 'warm start W (steps)'), ('cycles', f'cycles of {R} steps'))):
        pts = [r for r in rows if r['sweep'] == sweep]
        for r in pts: ax.scatter([r['x']] * len(r['gap']), r['gap'], s=12, color='C0')
        ax.plot([r['x'] for r in pts], [r['mean'] for r in pts], color='C0')
        if sweep in fits:
            xs = [min(r['x'] for r in pts), max(r['x'] for r in pts)]
            ax.plot(xs, [fits[sweep]['intercept'] + fits[sweep]['slope'] * x for x in xs], 'C1--', lw=1)
        ax.axhline(a.aim, color='C2', lw=0.8, ls=':'); ax.axhline(0, color='k', lw=0.5)
        ax.set_xlabel(label, fontsize=8)
    axs[0].set_ylabel('fraction of the gap closed', fontsize=8); fig.tight_layout()
    fig.savefig(os.path.join(a.out, 'curve.png'), dpi=100)
    cmd = ' '.join(['python', 'benchmarks/relora_curve.py'] + (argv if argv is not None else sys.argv[1:]))
    atomic_write_json(dict(args=vars(a), runs=res, rows=rows, fits=fits, wall_s=time.time() - t0, command=cmd,
                           torch=torch.__version__), os.path.join(a.out, 'results.json'))
    print(f'wrote {a.out}/results.json and curve.png ({time.time() - t0:.0f} s)')

if __name__ == '__main__': main()
